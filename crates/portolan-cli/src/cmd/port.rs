//! `portolan port`: what a port is.

use std::process::ExitCode;

use anyhow::{bail, Result};
use portolan_registry::{ephemeral, risk, Category, Entry, EntryKind, Protocol, Registry, Source};
use serde::Serialize;

use super::outfile;
use crate::term::{escape, Style};

const EXAMPLES: &str = "\
Examples:
  portolan port 6379            registration, category, ephemeral ranges and risks of 6379
  portolan port ssh             every port the ssh service name is registered on
  portolan port 53/udp          only the udp registration of 53
  portolan port 8000-8100       a range, one row a port
  portolan port 22 80 443       several at once
  portolan port 6379 --format json        machine-readable (schema: docs/schema/port.md)
  portolan port 1-1023 -o json=system-ports.json   also write a file (see docs/output.md)";

/// What `portolan port` can print.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Text for people (the default).
    Table,
    /// One JSON document (schema: docs/schema/port.md).
    Json,
}

impl outfile::Formats for Format {
    const JSON: Self = Format::Json;
}

/// Arguments of `portolan port`.
#[derive(clap::Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct PortArgs {
    /// Ports to explain: a number (6379), a range (8000-8100), a service name (ssh), each
    /// optionally with a protocol (53/udp, ssh/tcp).
    #[arg(
        required = true,
        allow_negative_numbers = true,
        value_name = "PORT|RANGE|NAME[/PROTO]"
    )]
    pub queries: Vec<String>,

    #[command(flatten)]
    pub out: outfile::OutputArgs<Format>,
}

/// What the user asked for, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    Range {
        lo: u16,
        hi: u16,
        proto: Option<Protocol>,
    },
    Name {
        name: String,
        proto: Option<Protocol>,
    },
}

fn parse_port_number(s: &str, whole: &str) -> Result<u16> {
    if s.starts_with('-') || s.starts_with('+') {
        bail!("{whole:?} is not a port: ports are whole numbers from 0 to 65535");
    }
    match s.parse::<u64>() {
        Ok(n) if n <= 65535 => Ok(n as u16),
        Ok(n) => bail!("port {n} is out of range: ports are whole numbers from 0 to 65535"),
        Err(_) => bail!("{whole:?} is not a port: ports are whole numbers from 0 to 65535"),
    }
}

/// Parse one query: `22`, `22/tcp`, `8000-8100`, `8000-8100/udp`, `ssh`, `ssh/tcp`.
pub fn parse_query(q: &str) -> Result<Query> {
    let q = q.trim();
    if q.is_empty() {
        bail!("an empty query: give a port (22), a range (8000-8100) or a service name (ssh)");
    }
    let (body, proto) = match q.rsplit_once('/') {
        Some((b, p)) => (b, Some(p.parse::<Protocol>()?)),
        None => (q, None),
    };
    let looks_numeric = body
        .chars()
        .all(|c| c.is_ascii_digit() || c == '-' || c == '+');
    if looks_numeric {
        if let Some(rest) = body.strip_prefix('-') {
            if !rest.is_empty() {
                bail!("{q:?} is not a port: ports are whole numbers from 0 to 65535 (negative numbers are not ports)");
            }
        }
        let (lo, hi) = match body.split_once('-') {
            Some((a, b)) if !a.is_empty() => (parse_port_number(a, q)?, parse_port_number(b, q)?),
            _ => {
                let p = parse_port_number(body, q)?;
                (p, p)
            }
        };
        if lo > hi {
            bail!("range {body} runs backwards: write it low-high, e.g. {hi}-{lo}");
        }
        return Ok(Query::Range { lo, hi, proto });
    }
    Ok(Query::Name {
        name: body.to_string(),
        proto,
    })
}

#[derive(Serialize)]
struct Registration {
    protocol: Option<Protocol>,
    service: String,
    kind: EntryKind,
    description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    alias_of: Option<String>,
    port_lo: u16,
    port_hi: u16,
    reference: String,
    rfcs: Vec<u32>,
    assignee: String,
    registration_date: String,
    modification_date: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    notes: String,
}

impl Registration {
    fn from(e: &Entry<'_>) -> Registration {
        let (lo, hi) = e.ports().unwrap_or((0, 0));
        Registration {
            protocol: e.protocol(),
            service: e.service().to_string(),
            kind: e.kind(),
            description: e.description().to_string(),
            alias_of: e.alias_of().map(str::to_string),
            port_lo: lo,
            port_hi: hi,
            reference: e.reference().to_string(),
            rfcs: e.rfcs(),
            assignee: e.assignee().to_string(),
            registration_date: e.registration_date().to_string(),
            modification_date: e.modification_date().to_string(),
            notes: e.notes().to_string(),
        }
    }
}

#[derive(Serialize)]
struct SystemRange {
    system: &'static str,
    lo: u16,
    hi: u16,
    contains: bool,
    source: &'static str,
}

#[derive(Serialize)]
struct Ephemeral {
    /// This machine's range, when it could be read.
    local_range: Option<(u16, u16)>,
    /// Whether the port is in this machine's range (`null` when unknown).
    in_local_range: Option<bool>,
    systems: Vec<SystemRange>,
}

#[derive(Serialize)]
struct RiskOut {
    id: &'static str,
    name: &'static str,
    severity: risk::Severity,
    category: &'static str,
    ports: Vec<String>,
    why: &'static str,
    remediation: &'static str,
    sources: &'static [&'static str],
}

#[derive(Serialize)]
struct PortInfo {
    port: u16,
    category: Category,
    category_range: (u16, u16),
    registrations: Vec<Registration>,
    ephemeral: Ephemeral,
    risks: Vec<RiskOut>,
}

#[derive(Serialize)]
struct QueryOut {
    query: String,
    protocol: Option<Protocol>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service: Option<String>,
    ports: Vec<PortInfo>,
    /// Registrations of the name that have no port (DNS-SD / SRV service names).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    registered_without_port: Vec<Registration>,
}

#[derive(Serialize)]
struct Output {
    schema_version: u32,
    schema: &'static str,
    registry: String,
    results: Vec<QueryOut>,
}

fn port_info(
    reg: &Registry,
    port: u16,
    proto: Option<Protocol>,
    local: Option<(u16, u16)>,
) -> PortInfo {
    let registrations = reg
        .by_port(port)
        .filter(|e| proto.is_none() || e.protocol().is_none() || e.protocol() == proto)
        .map(|e| Registration::from(&e))
        .collect();
    let risks = Protocol::ALL
        .iter()
        .filter(|p| proto.is_none() || proto == Some(**p))
        .flat_map(|&p| risk::for_port(port, p))
        .fold(Vec::<&risk::Risk>::new(), |mut v, r| {
            if !v.iter().any(|x| x.id == r.id) {
                v.push(r);
            }
            v
        })
        .into_iter()
        .map(|r| RiskOut {
            id: r.id,
            name: r.name,
            severity: r.severity,
            category: r.category,
            ports: r.ports.iter().map(|p| p.to_string()).collect(),
            why: r.why,
            remediation: r.remediation,
            sources: r.sources,
        })
        .collect();
    let cat = Category::of(port);
    PortInfo {
        port,
        category: cat,
        category_range: cat.range(),
        registrations,
        ephemeral: Ephemeral {
            local_range: local,
            in_local_range: local.map(|(lo, hi)| lo <= port && port <= hi),
            systems: ephemeral::DEFAULTS
                .iter()
                .map(|r| SystemRange {
                    system: r.system,
                    lo: r.lo,
                    hi: r.hi,
                    contains: r.contains(port),
                    source: r.source,
                })
                .collect(),
        },
        risks,
    }
}

fn resolve(reg: &Registry, raw: &str, local: Option<(u16, u16)>) -> Result<QueryOut> {
    match parse_query(raw)? {
        Query::Range { lo, hi, proto } => Ok(QueryOut {
            query: raw.to_string(),
            protocol: proto,
            service: None,
            ports: (lo..=hi).map(|p| port_info(reg, p, proto, local)).collect(),
            registered_without_port: Vec::new(),
        }),
        Query::Name { name, proto } => {
            let entries: Vec<_> = reg
                .by_name(&name)
                .filter(|e| proto.is_none() || e.protocol() == proto)
                .collect();
            if entries.is_empty() {
                let near = reg.suggest(&name, 6);
                let known = reg.by_name(&name).next().is_some();
                if known {
                    bail!(
                        "service {name:?} is not registered for {}; try `portolan port {name}`",
                        proto.map_or("that protocol", Protocol::as_str)
                    );
                }
                if near.is_empty() {
                    bail!("no service named {name:?} in the IANA registry; give a port number or a registered service name");
                }
                bail!(
                    "no service named {name:?} in the IANA registry; closest names: {}",
                    near.join(", ")
                );
            }
            let mut ports: Vec<u16> = Vec::new();
            let mut name_only = Vec::new();
            for e in &entries {
                match e.ports() {
                    Some((lo, hi)) => ports.extend(lo..=hi),
                    None => name_only.push(Registration::from(e)),
                }
            }
            ports.sort_unstable();
            ports.dedup();
            let mut infos: Vec<PortInfo> = ports
                .into_iter()
                .map(|p| port_info(reg, p, proto, local))
                .collect();
            for i in &mut infos {
                i.registrations
                    .sort_by_key(|r| !r.service.eq_ignore_ascii_case(&name));
            }
            Ok(QueryOut {
                query: raw.to_string(),
                protocol: proto,
                service: Some(name),
                ports: infos,
                registered_without_port: name_only,
            })
        }
    }
}

/// Load the user's refreshed registry when there is one, else the embedded one.
pub fn load_registry() -> Result<std::borrow::Cow<'static, Registry>> {
    match Registry::load_user() {
        Ok(Some(r)) => Ok(std::borrow::Cow::Owned(r)),
        Ok(None) => Ok(std::borrow::Cow::Borrowed(Registry::embedded())),
        Err(e) => {
            eprintln!(
                "portolan: warning: ignoring the refreshed registry ({}); using the built-in copy. \
                 Run `portolan registry update` to replace it.",
                escape(&e.to_string())
            );
            Ok(std::borrow::Cow::Borrowed(Registry::embedded()))
        }
    }
}

fn source_name(reg: &Registry) -> String {
    match reg.source() {
        Source::Embedded => "built-in".to_string(),
        Source::File(p) => p.display().to_string(),
    }
}

/// Run `portolan port`.
pub fn run(args: PortArgs, style: Style) -> Result<ExitCode> {
    // Parse every query before printing anything, so a typo fails fast and cleanly.
    for q in &args.queries {
        parse_query(q)?;
    }
    let outputs = args.out.prepare()?;
    let reg = load_registry()?;
    let local = ephemeral::local_range();
    let mut results = Vec::new();
    for q in &args.queries {
        results.push(resolve(&reg, q, local)?);
    }
    let out = Output {
        schema_version: outfile::SCHEMA_VERSION,
        schema: "portolan.port/1",
        registry: source_name(&reg),
        results,
    };
    let render = |format: Format, style: Style| -> Result<String> {
        Ok(match format {
            Format::Json => serde_json::to_string_pretty(&out)? + "\n",
            Format::Table => {
                let mut s = String::new();
                for r in &out.results {
                    render_query(&mut s, r, style);
                }
                s
            }
        })
    };
    for o in outputs {
        let text = render(o.format, Style { enabled: false })?;
        o.commit(text.as_bytes())?;
    }
    let format = args.out.stdout_format();
    crate::term::print_out(&render(format, style)?)?;
    Ok(ExitCode::SUCCESS)
}

fn proto_label(p: Option<Protocol>) -> &'static str {
    p.map_or("any", Protocol::as_str)
}

fn reg_line(r: &Registration) -> String {
    let name = if r.service.is_empty() {
        match r.kind {
            EntryKind::Unassigned => "(unassigned)".to_string(),
            EntryKind::Reserved => "(reserved)".to_string(),
            _ => format!("({})", r.description.to_lowercase()),
        }
    } else {
        r.service.clone()
    };
    let mut line = format!("{:<5} {:<18}", proto_label(r.protocol), escape(&name));
    if !r.service.is_empty() {
        line.push(' ');
        line.push_str(&escape(&r.description));
    }
    if r.port_lo != r.port_hi {
        line.push_str(&format!("  [range {}-{}]", r.port_lo, r.port_hi));
    }
    if let Some(a) = &r.alias_of {
        line.push_str(&format!("  (alias of {})", escape(a)));
    }
    if !r.reference.is_empty() {
        line.push_str(&format!("  ref {}", escape(&r.reference)));
    }
    line
}

fn render_query(s: &mut String, q: &QueryOut, st: Style) {
    use std::fmt::Write;
    if let Some(name) = &q.service {
        let _ = writeln!(
            s,
            "{} is registered on {} port{}",
            st.bold(&escape(name)),
            q.ports.len(),
            if q.ports.len() == 1 { "" } else { "s" }
        );
        for r in &q.registered_without_port {
            let _ = writeln!(
                s,
                "  {} registered without a port (a DNS-SD/SRV service name): {}",
                escape(&r.service),
                escape(&r.description)
            );
        }
        let _ = writeln!(s);
    }
    if q.service.is_none() && q.ports.len() > 1 {
        render_table(s, q, st);
        return;
    }
    for p in &q.ports {
        render_port(s, p, q.protocol, st);
    }
}

fn severity_styled(sev: risk::Severity, st: Style) -> String {
    let label = sev.as_str().to_uppercase();
    match sev {
        risk::Severity::Critical | risk::Severity::High => st.red(&label),
        risk::Severity::Medium => st.yellow(&label),
        _ => st.cyan(&label),
    }
}

fn render_port(s: &mut String, p: &PortInfo, proto: Option<Protocol>, st: Style) {
    use std::fmt::Write;
    let title = match proto {
        Some(pr) => format!("Port {}/{}", p.port, pr),
        None => format!("Port {}", p.port),
    };
    let _ = writeln!(s, "{}  {}", st.bold(&title), p.category.describe());
    let _ = writeln!(s, "\n  {}", st.bold("IANA registry"));
    let protos: Vec<Protocol> = match proto {
        Some(pr) => vec![pr],
        None => Protocol::ALL.to_vec(),
    };
    for pr in protos {
        let regs: Vec<&Registration> = p
            .registrations
            .iter()
            .filter(|r| r.protocol == Some(pr))
            .collect();
        if regs.is_empty() {
            let fallback = p.registrations.iter().find(|r| r.protocol.is_none());
            let what = match fallback.map(|r| r.kind) {
                Some(EntryKind::Reserved) => "(reserved)",
                Some(EntryKind::Unassigned) => "(unassigned)",
                _ => "(not registered)",
            };
            let _ = writeln!(s, "    {:<5} {}", pr.as_str(), st.dim(what));
        }
        for r in regs {
            let _ = writeln!(s, "    {}", reg_line(r));
        }
    }
    let _ = writeln!(s, "\n  {}", st.bold("Ephemeral ranges"));
    match (p.ephemeral.local_range, p.ephemeral.in_local_range) {
        (Some((lo, hi)), Some(inside)) => {
            let verdict = if inside {
                st.yellow("inside")
            } else {
                "outside".to_string()
            };
            let _ = writeln!(s, "    this machine   {lo}-{hi}: {verdict}");
        }
        _ => {
            let _ = writeln!(
                s,
                "    this machine   unknown ({} not readable)",
                ephemeral::LINUX_PROC_PATH
            );
        }
    }
    for r in &p.ephemeral.systems {
        let verdict = if r.contains {
            st.yellow("inside")
        } else {
            "outside".to_string()
        };
        let _ = writeln!(
            s,
            "    {:<46} {:>5}-{:<5} {}",
            r.system, r.lo, r.hi, verdict
        );
    }
    let _ = writeln!(s, "\n  {}", st.bold("Known risks when exposed"));
    if p.risks.is_empty() {
        let _ = writeln!(s, "    none in Portolan's risk knowledge");
    }
    for r in &p.risks {
        let _ = writeln!(
            s,
            "    {} {} ({}; {})",
            severity_styled(r.severity, st),
            st.bold(r.name),
            r.ports.join(", "),
            r.category
        );
        let _ = writeln!(s, "      why: {}", r.why);
        let _ = writeln!(s, "      fix: {}", r.remediation);
        for src in r.sources {
            let _ = writeln!(s, "      see: {src}");
        }
    }
    let _ = writeln!(s);
}

fn render_table(s: &mut String, q: &QueryOut, st: Style) {
    use std::fmt::Write;
    let local = q.ports.first().and_then(|p| p.ephemeral.local_range);
    let _ = writeln!(
        s,
        "{}",
        st.bold(&format!(
            "{:<6} {:<8} {:<22} {:<22} {:<9} RISK",
            "PORT", "CATEGORY", "TCP", "UDP", "EPHEMERAL"
        ))
    );
    let _ = local;
    for p in &q.ports {
        let name_for = |pr: Protocol| -> String {
            let names: Vec<&str> = p
                .registrations
                .iter()
                .filter(|r| r.protocol == Some(pr) && !r.service.is_empty())
                .map(|r| r.service.as_str())
                .collect();
            if names.is_empty() {
                "-".to_string()
            } else {
                escape(&names.join(","))
            }
        };
        let eph = match p.ephemeral.in_local_range {
            Some(true) => "local",
            Some(false) => {
                if p.ephemeral.systems.iter().any(|r| r.contains) {
                    "other-os"
                } else {
                    "no"
                }
            }
            None => "?",
        };
        let risk = p
            .risks
            .iter()
            .map(|r| format!("{}:{}", r.severity, r.id))
            .collect::<Vec<_>>()
            .join(",");
        let _ = writeln!(
            s,
            "{:<6} {:<8} {:<22} {:<22} {:<9} {}",
            p.port,
            p.category.as_str(),
            name_for(Protocol::Tcp),
            name_for(Protocol::Udp),
            eph,
            risk
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_forms() {
        assert_eq!(
            parse_query("22").ok(),
            Some(Query::Range {
                lo: 22,
                hi: 22,
                proto: None
            })
        );
        assert_eq!(
            parse_query("53/udp").ok(),
            Some(Query::Range {
                lo: 53,
                hi: 53,
                proto: Some(Protocol::Udp)
            })
        );
        assert_eq!(
            parse_query("8000-8100").ok(),
            Some(Query::Range {
                lo: 8000,
                hi: 8100,
                proto: None
            })
        );
        assert_eq!(
            parse_query("ssh").ok(),
            Some(Query::Name {
                name: "ssh".into(),
                proto: None
            })
        );
        assert!(parse_query("70000").is_err());
        assert!(parse_query("-1").is_err());
        assert!(parse_query("100-10").is_err());
        assert!(parse_query("22/xyz").is_err());
        assert!(parse_query("").is_err());
    }
}
