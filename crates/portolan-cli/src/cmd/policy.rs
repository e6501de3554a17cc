//! `portolan policy`: lint a port policy, and check scans and this host's sockets against it
//! (crate `portolan-policy`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use portolan_model::{PortEvent, PortState};
use portolan_policy::check::{Observed, Scope, Vantage};
use portolan_policy::{Finding, Policy};
use portolan_registry::risk::Severity;
use portolan_registry::Protocol;

use super::outfile;
use crate::term::{escape, Style};

const EXAMPLES: &str = "\
Examples:
  portolan policy lint policy.yaml                  shadowed and overlapping rules, any-any, empty zones
  portolan policy lint policy.yaml --fail-on medium exit 1 when a finding is medium or worse (CI)
  portolan policy lint policy.yaml --format json    machine-readable findings
  portolan policy lint policy.yaml -o sarif=lint.sarif   SARIF 2.1.0 for code-scanning dashboards
  portolan policy check policy.yaml --scan latest --from office   the newest stored scan: open but not allowed, allowed but never open
  portolan policy check policy.yaml --scan 12 --store /srv/portolan/nightly.db   stored scan 12 of another store
  portolan policy check policy.yaml --scan scan.jsonl --from 198.51.100.7   a scan file (portolan scan -o jsonl=scan.jsonl)
  portolan policy check policy.yaml --local --host web1 --fail-on high  this host's listening sockets
  portolan policy check policy.yaml --scan latest --format sarif > check.sarif
  portolan firewall generate policy.yaml --gateway --nft   rules generated from the policy

The policy format (YAML) is described in docs/policy.md.";

/// `portolan policy ...`
#[derive(clap::Subcommand, Debug)]
pub enum PolicyCmd {
    /// Check a policy for mistakes: unknown names (with line and column), shadowed and
    /// overlapping rules, any-any rules, rules allowing every port, empty zones, hosts outside
    /// their zone.
    #[command(after_help = EXAMPLES)]
    Lint(LintArgs),
    /// Check what is open against the policy: ports open that no rule allows (violations,
    /// high) and services a rule allows to a host that were never seen open (stale, low).
    /// From a scan (`portolan scan --format json` output) or this host's listening sockets.
    #[command(after_help = EXAMPLES)]
    Check(CheckArgs),
}

/// Arguments of `portolan policy check`.
#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// The policy file (YAML; see docs/policy.md).
    #[arg(value_name = "POLICY")]
    pub policy: PathBuf,

    /// The scan to check: `latest` (the newest scan of the result store), a stored scan's ID
    /// (as `portolan scans` lists them), or a file of JSON Lines written by `portolan scan
    /// --format json` or `-o jsonl=FILE`. A file named like an ID or `latest` is read when
    /// it exists (write `./12` to be sure).
    #[arg(
        long,
        value_name = "latest|ID|FILE",
        required_unless_present = "local",
        conflicts_with = "local"
    )]
    pub scan: Option<String>,

    /// With --scan latest|ID: the result store (an SQLite file or a postgres:// URL);
    /// default: the store `portolan scan` saves to (portolan.db in $PORTOLAN_DATA_DIR, else
    /// $XDG_DATA_HOME/portolan, else ~/.local/share/portolan).
    #[arg(long, value_name = "PATH|URL", requires = "scan")]
    pub store: Option<String>,

    /// Where the scan ran from: a zone or host of the policy, or an address. Without it, a
    /// port is allowed when any rule allows it from anywhere.
    #[arg(long, value_name = "ZONE|HOST|ADDR", requires = "scan")]
    pub from: Option<String>,

    /// Check this host's listening TCP and bound UDP sockets (loopback-only ones excluded).
    #[arg(long, requires = "host")]
    pub local: bool,

    /// With --local: which host of the policy this machine is.
    #[arg(long, value_name = "NAME")]
    pub host: Option<String>,

    #[command(flatten)]
    pub out: outfile::OutputArgs<Format>,

    /// Exit with status 1 when a finding has this severity or a higher one (violations are
    /// high, stale rules low).
    #[arg(long, value_name = "SEVERITY", value_parser = crate::cmd::outfile::parse_severity)]
    pub fail_on: Option<Severity>,
}

/// What `policy lint` and `policy check` can print.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Text for people (the default).
    Table,
    /// One JSON document (see docs/policy.md).
    Json,
    /// SARIF 2.1.0, for code-scanning dashboards (see docs/policy.md).
    Sarif,
}

impl outfile::Formats for Format {
    const JSON: Self = Format::Json;
}

/// Arguments of `portolan policy lint`.
#[derive(clap::Args, Debug)]
pub struct LintArgs {
    /// The policy file (YAML; see docs/policy.md).
    #[arg(value_name = "POLICY")]
    pub policy: PathBuf,

    #[command(flatten)]
    pub out: outfile::OutputArgs<Format>,

    /// Exit with status 1 when a finding has this severity or a higher one: info, low,
    /// medium, high, critical.
    #[arg(long, value_name = "SEVERITY", value_parser = crate::cmd::outfile::parse_severity)]
    pub fail_on: Option<Severity>,
}

pub fn run(cmd: PolicyCmd, style: Style) -> Result<ExitCode> {
    match cmd {
        PolicyCmd::Lint(a) => lint(a, style),
        PolicyCmd::Check(a) => check(a, style),
    }
}

/// Load a policy with the registry in use (the refreshed one when there is one).
pub fn load(path: &Path) -> Result<Policy> {
    let reg = super::port::load_registry()?;
    Ok(Policy::from_file(path, &reg)?)
}

fn lint(args: LintArgs, style: Style) -> Result<ExitCode> {
    let format = args.out.stdout_format();
    let outputs = args.out.prepare()?;
    let policy = load(&args.policy)?;
    let findings = portolan_policy::lint(&policy);
    let render = |f: Format, style: Style| -> Result<String> {
        Ok(match f {
            Format::Json => {
                let v = outfile::with_schema_version(serde_json::json!({
                    "policy": args.policy.display().to_string(),
                    "rules": policy.rules.len(),
                    "findings": findings,
                }));
                serde_json::to_string_pretty(&v)? + "\n"
            }
            Format::Table => table(&args.policy, &policy, &findings, style),
            Format::Sarif => {
                let uri = args.policy.display().to_string();
                let items: Vec<sarif::Item> = findings
                    .iter()
                    .map(|f| sarif::Item {
                        code: f.code.to_string(),
                        severity: f.severity,
                        message: f.message.clone(),
                        fix: f.fix.clone(),
                        location: sarif::Location::Logical {
                            name: match f.rule {
                                Some(r) => format!("{uri}#rule{r}"),
                                None => uri.clone(),
                            },
                            kind: "member",
                        },
                    })
                    .collect();
                let v = sarif::log(
                    "portolan policy lint",
                    sarif::LINT_RULES,
                    &items,
                    serde_json::json!({ "policy": uri, "rules": policy.rules.len() }),
                );
                serde_json::to_string_pretty(&v)? + "\n"
            }
        })
    };
    for o in outputs {
        let text = render(o.format, Style { enabled: false })?;
        o.commit(text.as_bytes())?;
    }
    crate::term::print_out_unless_closed(&render(format, style)?)?;
    Ok(fail_on(args.fail_on, findings.iter().map(|f| f.severity)))
}

/// Exit 1 when a severity reaches `limit`.
pub fn fail_on(limit: Option<Severity>, found: impl Iterator<Item = Severity>) -> ExitCode {
    match (limit, found.max()) {
        (Some(limit), Some(worst)) if worst >= limit => ExitCode::from(1),
        _ => ExitCode::SUCCESS,
    }
}

fn table(path: &Path, p: &Policy, findings: &[Finding], style: Style) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}  {} zones, {} hosts, {} rules, default deny",
        style.bold(&escape(&path.display().to_string())),
        p.zones.len(),
        p.hosts.len(),
        p.rules.len()
    );
    if findings.is_empty() {
        let _ = writeln!(out, "  {}", style.green("no findings"));
        return out;
    }
    for f in findings {
        let rule = f.rule.map_or(String::new(), |r| format!("rule {r}  "));
        let _ = writeln!(
            out,
            "  {} {:<18} {}{}",
            sev_styled(style, f.severity),
            f.code,
            rule,
            escape(&f.message)
        );
        let _ = writeln!(out, "  {:<8} {:<18} fix: {}", "", "", escape(&f.fix));
    }
    out
}

fn sev_styled(style: Style, s: Severity) -> String {
    let t = format!("{:<8}", s.as_str().to_uppercase());
    match s {
        Severity::Critical | Severity::High => style.red(&t),
        Severity::Medium => style.yellow(&t),
        Severity::Low | Severity::Info => style.cyan(&t),
    }
}

/// The most bytes of a scan file `policy check` reads.
const SCAN_LIMIT: portolan_registry::input::Limit = portolan_registry::input::Limit {
    what: "a scan (JSON Lines)",
    max_bytes: 1024 * portolan_registry::input::MIB,
    hint: "check the scan in parts, or scan with --open",
};

/// Read a `portolan scan` JSON Lines file: the open ports, and what the scan covered.
pub fn read_scan(path: &Path) -> Result<(Vec<Observed>, Scope)> {
    let text = portolan_registry::input::read_bounded_string(path, SCAN_LIMIT)?;
    let mut open = Vec::new();
    let mut scope = Scope::default();
    let mut starts = 0;
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |what: &str| {
            anyhow::anyhow!(
                "{} line {}: {what}; give a file written by `portolan scan --format json` or -o jsonl=FILE",
                path.display(),
                i + 1
            )
        };
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| bad(&format!("not JSON ({e})")))?;
        match v.get("type").and_then(|t| t.as_str()) {
            Some("start") => {
                starts += 1;
                #[derive(serde::Deserialize)]
                struct Start {
                    proto: Protocol,
                    ports: String,
                }
                let s: Start = serde_json::from_value(v)
                    .map_err(|e| bad(&format!("a start record without proto and ports ({e})")))?;
                add_ports(&mut scope, s.proto, &s.ports).map_err(|e| bad(&e))?;
            }
            Some("port") => {
                let e: PortEvent = serde_json::from_value(v)
                    .map_err(|e| bad(&format!("a port record that does not parse ({e})")))?;
                if !scope.hosts.contains(&e.addr) {
                    scope.hosts.push(e.addr);
                }
                if e.state == PortState::Open {
                    open.push(Observed {
                        addr: e.addr,
                        proto: e.proto,
                        port: e.port,
                    });
                }
            }
            Some("host") => {
                if let Some(a) = v
                    .get("addr")
                    .and_then(|a| a.as_str())
                    .and_then(|a| a.parse().ok())
                {
                    if !scope.hosts.contains(&a) {
                        scope.hosts.push(a);
                    }
                }
            }
            _ => {}
        }
    }
    if starts == 0 {
        anyhow::bail!(
            "{} has no scan start record: give a file written by `portolan scan --format json` or -o jsonl=FILE",
            path.display()
        );
    }
    Ok((open, scope))
}

/// Add the ports of a scan's port set (`1-1024,8080`) to what `scope` covers.
fn add_ports(scope: &mut Scope, proto: Protocol, spec: &str) -> std::result::Result<(), String> {
    let set = portolan_scan::ports::PortSet::parse(spec)
        .map_err(|e| format!("its port set {spec:?} does not parse ({e})"))?;
    for &p in set.as_slice() {
        match scope.ports.last_mut() {
            Some((pr, _, hi)) if *pr == proto && hi.checked_add(1) == Some(p) => *hi = p,
            _ => scope.ports.push((proto, p, p)),
        }
    }
    Ok(())
}

/// Where `--scan` points: the store (`latest`, an ID) or a file.
#[derive(Debug, PartialEq, Eq)]
enum ScanSource {
    Latest,
    Id(i64),
    File(PathBuf),
}

impl ScanSource {
    /// `latest` and numbers name stored scans, unless a file of that name exists.
    fn parse(s: &str) -> ScanSource {
        if Path::new(s).exists() {
            return ScanSource::File(PathBuf::from(s));
        }
        if s == "latest" {
            return ScanSource::Latest;
        }
        match s.parse::<i64>() {
            Ok(id) if id > 0 => ScanSource::Id(id),
            _ => ScanSource::File(PathBuf::from(s)),
        }
    }
}

/// A stored scan (`latest` or by ID) as observations: its open ports, and its hosts and port
/// set as the scope. Also says which scan it was.
fn read_stored_scan(
    store: Option<&str>,
    which: &ScanSource,
) -> Result<(Vec<Observed>, Scope, String)> {
    let mut st = crate::cmd::store::open_existing(store)?;
    let id = match which {
        ScanSource::Id(id) => Some(*id),
        _ => None,
    };
    let info = match st.scan_or_latest(id) {
        Err(portolan_store::StoreError::Empty(_)) => anyhow::bail!(
            "the result store {} holds no scan yet: run `portolan scan` first, or give a scan file",
            escape(st.location())
        ),
        r => r?,
    };
    let report = st.scan(info.id)?;
    let mut scope = Scope::default();
    add_ports(&mut scope, report.proto, &report.ports_spec).map_err(|e| {
        anyhow::anyhow!(
            "stored scan {}: {e}; the store may be damaged (portolan scans show {})",
            info.id,
            info.id
        )
    })?;
    let mut open = Vec::new();
    for h in &report.hosts {
        scope.hosts.push(h.addr);
        open.extend(h.open_ports().map(|e| Observed {
            addr: e.addr,
            proto: e.proto,
            port: e.port,
        }));
    }
    let status = if info.status == "done" {
        String::new()
    } else {
        format!(", {}", info.status)
    };
    let source = format!(
        "stored scan {} ({} {}, {}{status}) in {}",
        info.id,
        info.kind,
        info.targets,
        portolan_store::when::format_utc(info.started_at()),
        st.location()
    );
    Ok((open, scope, source))
}

/// This host's listening sockets as observations at `addr` (loopback-only sockets excluded).
fn local_sockets(addr: std::net::IpAddr) -> Result<(Vec<Observed>, Scope)> {
    let listing = portolan_audit::list_sockets(&portolan_audit::Options::default())?;
    let mut open = Vec::new();
    for s in &listing.sockets {
        let at = match portolan_audit::Exposure::of(s.address) {
            portolan_audit::Exposure::Loopback => continue,
            portolan_audit::Exposure::All => addr,
            portolan_audit::Exposure::Specific => s.address,
        };
        open.push(Observed {
            addr: at,
            proto: s.protocol,
            port: s.port,
        });
    }
    let scope = Scope {
        hosts: vec![addr],
        ports: vec![(Protocol::Tcp, 1, u16::MAX), (Protocol::Udp, 1, u16::MAX)],
    };
    Ok((open, scope))
}

fn check(args: CheckArgs, style: Style) -> Result<ExitCode> {
    let format = args.out.stdout_format();
    let outputs = args.out.prepare()?;
    let policy = load(&args.policy)?;
    let (open, scope, vantage, source) = if args.local {
        let name = args.host.clone().unwrap_or_default();
        let Some(h) = policy.host(&name) else {
            let known: Vec<&str> = policy.hosts.keys().map(|k| k.as_str()).collect();
            anyhow::bail!(
                "--host {:?} is not a host of the policy (it has: {}); name the host this machine is",
                escape(&name),
                if known.is_empty() { "none".to_string() } else { known.join(", ") }
            );
        };
        let (o, s) = local_sockets(h.address)?;
        (
            o,
            s,
            Vantage::Anywhere,
            format!("local sockets of {name} ({})", h.address),
        )
    } else {
        let which = ScanSource::parse(args.scan.as_deref().unwrap_or_default());
        let (o, s, source) = match &which {
            ScanSource::File(path) => {
                if args.store.is_some() {
                    anyhow::bail!(
                        "--store is for --scan latest or --scan ID; {} is a file: drop --store, or name a stored scan",
                        escape(&path.display().to_string())
                    );
                }
                let (o, s) = read_scan(path)?;
                (o, s, format!("scan {}", path.display()))
            }
            _ => read_stored_scan(args.store.as_deref(), &which)?,
        };
        let v = match &args.from {
            Some(f) => Vantage::parse(&policy, f).map_err(|e| anyhow::anyhow!(e))?,
            None => Vantage::Anywhere,
        };
        (o, s, v, source)
    };
    let findings = portolan_policy::check::check(&policy, &open, &scope, &vantage);
    let violations = findings.iter().filter(|f| f.code == "violation").count();
    let stale = findings.len() - violations;
    let render = |f: Format, style: Style| -> Result<String> {
        Ok(match f {
            Format::Json => {
                let v = outfile::with_schema_version(serde_json::json!({
                    "policy": args.policy.display().to_string(),
                    "source": source,
                    "open": open.len(),
                    "violations": violations,
                    "stale": stale,
                    "findings": findings,
                }));
                serde_json::to_string_pretty(&v)? + "\n"
            }
            Format::Sarif => {
                let items: Vec<sarif::Item> = findings
                    .iter()
                    .map(|f| sarif::Item {
                        code: f.code.to_string(),
                        severity: f.severity,
                        message: f.message.clone(),
                        fix: f.fix.clone(),
                        location: sarif::Location::Logical {
                            name: match f.addr {
                                std::net::IpAddr::V6(a) => format!("[{a}]:{}/{}", f.port, f.proto),
                                a => format!("{a}:{}/{}", f.port, f.proto),
                            },
                            kind: "resource",
                        },
                    })
                    .collect();
                let v = sarif::log(
                    "portolan policy check",
                    sarif::CHECK_RULES,
                    &items,
                    serde_json::json!({
                        "policy": args.policy.display().to_string(),
                        "source": source,
                        "open": open.len(),
                    }),
                );
                serde_json::to_string_pretty(&v)? + "\n"
            }
            Format::Table => {
                let mut out = String::new();
                let _ = writeln!(
                    out,
                    "{}  against {}: {} open, {} violations, {} stale",
                    style.bold(&escape(&args.policy.display().to_string())),
                    escape(&source),
                    open.len(),
                    violations,
                    stale
                );
                if findings.is_empty() {
                    let _ = writeln!(
                        out,
                        "  {}",
                        style.green(
                            "everything open is allowed, and everything allowed was seen open"
                        )
                    );
                }
                for f in &findings {
                    let _ = writeln!(
                        out,
                        "  {} {:<10} {}",
                        sev_styled(style, f.severity),
                        f.code,
                        escape(&f.message)
                    );
                    let _ = writeln!(out, "  {:<8} {:<10} fix: {}", "", "", escape(&f.fix));
                }
                out
            }
        })
    };
    for o in outputs {
        let text = render(o.format, Style { enabled: false })?;
        o.commit(text.as_bytes())?;
    }
    crate::term::print_out_unless_closed(&render(format, style)?)?;
    Ok(fail_on(args.fail_on, findings.iter().map(|f| f.severity)))
}

/// SARIF 2.1.0 for `policy lint`, `policy check` and `firewall audit`, in the house style of
/// `portolan local`'s (crate `portolan-audit`, module `sarif`, whose level and
/// security-severity mappings and schema URI it reuses): one run, the command's rule set in
/// `tool.driver.rules`, one result per finding with a stable `partialFingerprints` entry.
pub mod sarif {
    use portolan_audit::sarif::{level, security_severity, SCHEMA_URI};
    use portolan_registry::risk::Severity;
    use serde_json::{json, Value};

    /// One rule of a command's rule set: (code, severity, what it means, what to do).
    pub type RuleDef = (&'static str, Severity, &'static str, &'static str);

    /// Where a finding is.
    pub enum Location {
        /// A line of a file (an iptables-save file).
        Line { uri: String, line: usize },
        /// Something that is not a file position: a policy rule, an address, a ruleset rule.
        Logical { name: String, kind: &'static str },
    }

    /// One finding as a SARIF result.
    pub struct Item {
        pub code: String,
        pub severity: Severity,
        pub message: String,
        pub fix: String,
        pub location: Location,
    }

    /// The SARIF log of `command` (e.g. `portolan policy lint`) over `items`.
    pub fn log(command: &str, rules: &[RuleDef], items: &[Item], properties: Value) -> Value {
        let driver_rules: Vec<Value> = rules
            .iter()
            .map(|(id, sev, what, fix)| {
                json!({
                    "id": id,
                    "name": id.split('-').map(|w| {
                        let mut c = w.chars();
                        c.next().map_or(String::new(), |f| f.to_uppercase().collect::<String>() + c.as_str())
                    }).collect::<String>(),
                    "shortDescription": { "text": what },
                    "help": { "text": fix },
                    "defaultConfiguration": { "level": level(*sev) },
                    "properties": {
                        "tags": ["security", "network", "firewall"],
                        "security-severity": security_severity(*sev),
                    },
                })
            })
            .collect();
        let results: Vec<Value> = items
            .iter()
            .map(|it| {
                let (location, where_) = match &it.location {
                    Location::Line { uri, line } => (
                        json!({ "physicalLocation": {
                            "artifactLocation": { "uri": uri },
                            "region": { "startLine": line },
                        }}),
                        format!("{uri}:{line}"),
                    ),
                    Location::Logical { name, kind } => (
                        json!({ "logicalLocations": [{
                            "name": name,
                            "fullyQualifiedName": name,
                            "kind": kind,
                        }]}),
                        name.clone(),
                    ),
                };
                let mut r = json!({
                    "ruleId": it.code,
                    "level": level(it.severity),
                    "message": { "text": it.message },
                    "locations": [location],
                    "partialFingerprints": {
                        "portolanFinding/v1": format!("{}|{where_}", it.code),
                    },
                    "properties": {
                        "severity": it.severity.as_str(),
                        "security-severity": security_severity(it.severity),
                        "remediation": it.fix,
                    },
                });
                if let (Some(i), Some(o)) = (
                    rules.iter().position(|(id, ..)| *id == it.code),
                    r.as_object_mut(),
                ) {
                    o.insert("ruleIndex".into(), json!(i));
                }
                r
            })
            .collect();
        json!({
            "$schema": SCHEMA_URI,
            "version": "2.1.0",
            "runs": [{
                "tool": {
                    "driver": {
                        "name": "portolan",
                        "fullName": command,
                        "version": env!("CARGO_PKG_VERSION"),
                        "semanticVersion": env!("CARGO_PKG_VERSION"),
                        "informationUri": "https://example.invalid/portolan",
                        "rules": driver_rules,
                    }
                },
                "invocations": [{ "executionSuccessful": true }],
                "results": results,
                "properties": properties,
            }]
        })
    }

    /// The rule set of `policy lint` (crate `portolan-policy`, module `lint`).
    pub const LINT_RULES: &[RuleDef] = &[
        (
            "any-any",
            Severity::High,
            "a rule from any address to any address",
            "name the zones or hosts that need the service",
        ),
        (
            "all-ports",
            Severity::Medium,
            "a service covering every port of a protocol",
            "list the services that are needed",
        ),
        (
            "shadowed",
            Severity::Medium,
            "a rule that never matches first: earlier rules allow all of it",
            "remove the rule or move it above the rules that shadow it",
        ),
        (
            "overlap",
            Severity::Low,
            "two rules match some of the same flows and differ in log or rate",
            "narrow one of them, or order them as intended",
        ),
        (
            "no-flows",
            Severity::Medium,
            "a rule whose source and destination share no address family, or are empty",
            "give both sides addresses of one family, or remove the rule",
        ),
        (
            "empty-zone",
            Severity::Medium,
            "a zone with no networks and no hosts",
            "add networks or hosts to the zone, or remove it",
        ),
        (
            "host-outside-zone",
            Severity::High,
            "a host whose address is outside its zone's networks",
            "correct the address or the zone",
        ),
        (
            "unused",
            Severity::Info,
            "a zone that no rule names",
            "nothing, if intended; otherwise add rules for it",
        ),
    ];

    /// The rule set of `policy check`.
    pub const CHECK_RULES: &[RuleDef] = &[
        (
            "violation",
            Severity::High,
            "a port seen open that no policy rule allows",
            "stop the service or bind it to loopback, block the port, or add a rule",
        ),
        (
            "stale",
            Severity::Low,
            "a service a rule allows to a host that was never seen open",
            "remove the service from the rule, or start it",
        ),
    ];

    /// The rule set of `firewall audit`.
    pub const AUDIT_RULES: &[RuleDef] = &[
        (
            "default-accept",
            Severity::High,
            "the input or forward hook accepts what no rule drops",
            "drop by default and accept what is needed (portolan firewall generate)",
        ),
        (
            "any-any",
            Severity::High,
            "an accept without any match in an input or forward chain",
            "delete the rule or restrict it",
        ),
        (
            "shadowed",
            Severity::Medium,
            "a rule an earlier rule always decides first",
            "delete the rule or move it above the rule that shadows it",
        ),
        (
            "redundant",
            Severity::Low,
            "a rule an earlier rule with the same verdict always decides first",
            "delete the rule",
        ),
        (
            "port-not-listening",
            Severity::Low,
            "a port accepted with nothing listening on it",
            "remove the port from the rule, or start the service",
        ),
        (
            "drift-extra",
            Severity::High,
            "the ruleset accepts flows the policy does not allow",
            "delete or narrow the rule, or add a policy rule; regenerate",
        ),
        (
            "drift-missing",
            Severity::Medium,
            "the ruleset drops flows the policy allows",
            "apply the rules generated from the policy, or update the policy",
        ),
    ];
}
