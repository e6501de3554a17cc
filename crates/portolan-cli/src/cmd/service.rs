//! `portolan service`: identify what listens on given ports (service, product, version, TLS,
//! SSH, HTTP) and flag unauthenticated access proved by harmless read-only requests.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use portolan_fingerprint::{Options, ProbeDb, Protocol, ServiceReport, Severity, Target};

use portolan_model::Stop;

use super::outfile;
use crate::term::{escape, Style};

const EXAMPLES: &str = "\
Examples:
  portolan service 127.0.0.1:22                 what listens on 22 (SSH? which version?)
  portolan service 127.0.0.1:2222 127.0.0.1:8443 127.0.0.1:7000
                                                several ports at once, any port numbers
  portolan service localhost:161/udp            a UDP service (SNMP, DNS)
  portolan service 10.9.0.2:3128 --proxy-target 10.9.0.3:80
                                                also test for an open proxy, towards a
                                                lab-only address you name
  portolan service 127.0.0.1:6379 --format json JSON Lines (schema: docs/schema/service.md)
  portolan service 127.0.0.1:6379 -o json=svc.jsonl --fail-on high
                                                also a file; exit 1 on a high exposure
  portolan service 10.0.0.5:445 10.0.0.5:389 10.0.0.5:69/udp
                                                SMB null session and anonymous shares,
                                                anonymous LDAP read, TFTP answering anyone
  portolan service 127.0.0.1:80 --probes-file /usr/share/nmap/nmap-service-probes
                                                add the rules of your installed nmap

Only ports you name are contacted. Checks for unauthenticated access send read-only requests
without credentials (Redis PING, memcached stats, FTP USER anonymous, an anonymous SMB session
and its share list, NFS exports, an anonymous LDAP bind and search, git upload-pack, ...; the
list: docs/fingerprint.md); nothing is written and no password is guessed.

Exit status: 0 no exposure at or above --fail-on (or no --fail-on), 1 some, 2 error.";

/// What `portolan service` can print.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Text for people (the default).
    Table,
    /// JSON Lines, one report a line (schema: docs/schema/service.md).
    Json,
}

impl outfile::Formats for Format {
    const JSON: Self = Format::Json;
}

/// Arguments of `portolan service`.
#[derive(clap::Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct ServiceArgs {
    /// Ports to identify: HOST:PORT, optionally /udp (default /tcp). IPv6 as [::1]:22.
    #[arg(required = true, value_name = "HOST:PORT[/udp]")]
    pub targets: Vec<String>,

    #[command(flatten)]
    pub out: outfile::OutputArgs<Format>,

    /// Exit with status 1 when an exposure has this severity or a higher one: info, low,
    /// medium, high, critical.
    #[arg(long, value_name = "SEVERITY", value_parser = crate::cmd::outfile::parse_severity)]
    pub fail_on: Option<Severity>,

    /// Also load an nmap-service-probes file (e.g. /usr/share/nmap/nmap-service-probes);
    /// its rules are tried after portolan's own. Rules the regex engine cannot compile are
    /// skipped with a note.
    #[arg(long, value_name = "FILE")]
    pub probes_file: Option<PathBuf>,

    /// Use this portolan probe database (TOML, see docs/probes.md) instead of the built-in one.
    #[arg(long, value_name = "FILE")]
    pub db: Option<PathBuf>,

    /// Highest probe rarity tried on ports no probe lists (1-9; higher is slower, finds more).
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u8).range(1..=9))]
    pub intensity: u8,

    /// Longest wait for a reply to one probe, in milliseconds.
    #[arg(long, default_value_t = 1500, value_name = "MS")]
    pub probe_wait: u64,

    /// How long to listen for a banner before probing, in milliseconds.
    #[arg(long, default_value_t = 1500, value_name = "MS")]
    pub banner_wait: u64,

    /// Ports identified at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,

    /// Skip the unauthenticated-access checks.
    #[arg(long)]
    pub no_checks: bool,

    /// A lab-only HOST:PORT the open-proxy checks ask a proxy to reach (HTTP CONNECT or a
    /// forwarded GET, compared with the target's own answer; SOCKS5), on every HTTP, HTTP-proxy
    /// and SOCKS port. Without it, proxies are not asked to connect anywhere.
    #[arg(long, value_name = "ADDR:PORT")]
    pub proxy_target: Option<SocketAddr>,
}

/// Parse `HOST:PORT[/udp|/tcp]` into targets (a name may resolve to several addresses; the
/// first is used).
pub fn parse_target(s: &str) -> Result<Target> {
    let (body, transport) = match s.rsplit_once('/') {
        Some((b, "udp")) => (b, Protocol::Udp),
        Some((b, "tcp")) => (b, Protocol::Tcp),
        Some((_, p)) => bail!("{s:?}: unknown protocol {p:?} (use /tcp or /udp)"),
        None => (s, Protocol::Tcp),
    };
    let Some((host, port)) = body.rsplit_once(':') else {
        bail!("{s:?} has no port: write HOST:PORT, e.g. 127.0.0.1:22 or [::1]:22");
    };
    let port: u16 = match port.parse() {
        Ok(p) if p > 0 => p,
        _ => bail!("{s:?}: {port:?} is not a port (1-65535)"),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        bail!("{s:?} has no host: write HOST:PORT, e.g. 127.0.0.1:22");
    }
    let addr = match host.parse::<IpAddr>() {
        Ok(ip) => SocketAddr::new(ip, port),
        Err(_) => (host, port)
            .to_socket_addrs()
            .with_context(|| format!("cannot resolve {host:?}"))?
            .next()
            .with_context(|| format!("{host:?} resolves to no address"))?,
    };
    let sni = host.parse::<IpAddr>().is_err().then(|| host.to_string());
    Ok(Target {
        addr,
        transport,
        sni,
    })
}

/// The probe database: `db` (a TOML probe file) or the built-in one, plus the rules of an
/// nmap-service-probes file the user has installed; with the notes on rules it skipped.
pub fn load_probe_db(
    db: Option<&std::path::Path>,
    probes_file: Option<&std::path::Path>,
) -> Result<(ProbeDb, Vec<String>)> {
    let mut db = match db {
        Some(p) => {
            let text = portolan_registry::input::read_bounded_string(
                p,
                portolan_fingerprint::db::PROBE_FILE_LIMIT,
            )
            .with_context(|| format!("cannot read the probe database {}", p.display()))?;
            ProbeDb::from_toml(&text)
                .with_context(|| format!("{} is not a valid probe database", p.display()))?
        }
        None => ProbeDb::embedded().context("the built-in probe database is broken")?,
    };
    if let Some(p) = probes_file {
        // The database's error names the file; the context says what it should be.
        let extra = ProbeDb::from_nmap_file(p).context(
            "cannot load --probes-file (give an nmap-service-probes file, e.g. \
             /usr/share/nmap/nmap-service-probes)",
        )?;
        db.merge(extra);
    }
    let notes = std::mem::take(&mut db.notes);
    Ok((db, notes))
}

fn build_options(args: &ServiceArgs) -> Result<(Options, Vec<String>)> {
    let (db, notes) = load_probe_db(args.db.as_deref(), args.probes_file.as_deref())?;
    let mut o = Options::with_db(Arc::new(db));
    o.intensity = args.intensity;
    o.probe_wait = Duration::from_millis(args.probe_wait.max(1));
    o.banner_wait = Duration::from_millis(args.banner_wait.max(1));
    o.concurrency = args.concurrency.max(1);
    o.checks = !args.no_checks;
    o.proxy_target = args.proxy_target;
    Ok((o, notes))
}

/// The JSON line for one report: the report plus `schema_version`.
pub fn json_line(r: &ServiceReport) -> Result<String> {
    let v = outfile::with_schema_version(serde_json::to_value(r)?);
    Ok(serde_json::to_string(&v)?)
}

fn severity(style: Style, s: Severity) -> String {
    match s {
        Severity::Critical => style.red("CRITICAL"),
        Severity::High => style.red("HIGH"),
        Severity::Medium => style.yellow("MEDIUM"),
        Severity::Low => style.dim("LOW"),
        Severity::Info => style.dim("INFO"),
    }
}

/// The table (text) form of one report.
pub fn render_text(r: &ServiceReport, style: Style, out: &mut String) {
    use std::fmt::Write;
    let proto = r.transport.as_str();
    let _ = writeln!(
        out,
        "{}  {}  {}  {}",
        style.bold(&format!("{}/{proto}", r.addr)),
        r.state,
        style.cyan(&escape(&r.display_name())),
        escape(&r.version_line())
    );
    if let Some(t) = &r.tls {
        let mut line = format!(
            "tls{}: {} {}",
            if t.starttls { " (STARTTLS)" } else { "" },
            t.protocol.as_deref().unwrap_or("?"),
            t.cipher.as_deref().unwrap_or("")
        );
        if let Some(c) = &t.cert {
            line.push_str(&format!(
                "; cert subject \"{}\" issuer \"{}\"{}; SANs {}; valid until {} ({} days{})",
                c.subject,
                c.issuer,
                if c.self_signed { " (self-signed)" } else { "" },
                if c.sans.is_empty() {
                    "none".to_string()
                } else {
                    c.sans.join(", ")
                },
                c.not_after,
                c.days_left,
                if c.expired { ", EXPIRED" } else { "" }
            ));
        }
        if let Some(e) = &t.error {
            line.push_str(&format!("; {e}"));
        }
        let _ = writeln!(out, "    {}", escape(&line));
    }
    if let Some(s) = &r.ssh {
        let mut line = format!("ssh: protocol {} software {}", s.protocol, s.software);
        if !s.kex.is_empty() {
            line.push_str(&format!("; kex {}", s.kex.join(",")));
        }
        if !s.host_key.is_empty() {
            line.push_str(&format!("; host keys {}", s.host_key.join(",")));
        }
        let _ = writeln!(out, "    {}", escape(&line));
    }
    if let Some(h) = &r.http {
        let mut line = format!("http: {}", h.status);
        if let Some(s) = &h.server {
            line.push_str(&format!(" server \"{s}\""));
        }
        if let Some(t) = &h.title {
            line.push_str(&format!(" title \"{t}\""));
        }
        if let Some(a) = &h.auth {
            line.push_str(&format!(" auth {a}"));
        }
        let _ = writeln!(out, "    {}", escape(&line));
    }
    if !r.cpe.is_empty() {
        let _ = writeln!(
            out,
            "    {}",
            style.dim(&escape(&format!("cpe: {}", r.cpe.join(" "))))
        );
    }
    if let Some(fp) = &r.fingerprint {
        // Printable ASCII already; escaped all the same, as all network text is.
        let _ = writeln!(out, "    unrecognised answer: {}", escape(fp));
    } else if r.confidence != portolan_fingerprint::Confidence::Matched {
        if let Some(b) = &r.banner {
            let b: String = b.chars().take(120).collect();
            let _ = writeln!(out, "    banner: \"{}\"", escape(&b));
        }
    }
    for f in &r.findings {
        let _ = writeln!(
            out,
            "    ! {} {}: {} ({})",
            severity(style, f.severity),
            f.id,
            escape(&f.title),
            escape(&f.evidence)
        );
    }
    for n in &r.notes {
        let _ = writeln!(out, "    {}", style.dim(&format!("note: {}", escape(n))));
    }
}

/// Identify `targets`, in their order, until done or until `stop` asks to stop at once (a
/// second Ctrl-C / SIGTERM): then the reports finished so far are returned, with `true`.
pub fn detect_until_stopped(
    targets: Vec<Target>,
    opts: &Options,
    stop: &Stop,
) -> Result<(Vec<ServiceReport>, bool)> {
    let order: std::collections::HashMap<(std::net::SocketAddr, Protocol), usize> = targets
        .iter()
        .enumerate()
        .map(|(i, t)| ((t.addr, t.transport), i))
        .collect();
    let n = targets.len();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime for service detection")?;
    let (mut reports, stopped) = rt.block_on(async {
        let mut rx = portolan_fingerprint::detect_stream(targets, opts);
        let mut got = Vec::with_capacity(n);
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(50));
        loop {
            tokio::select! {
                r = rx.recv() => match r {
                    Some(r) => got.push(r),
                    None => return (got, false),
                },
                _ = tick.tick() => if stop.now() { return (got, true) },
            }
        }
    });
    // Abandon whatever is still running.
    rt.shutdown_background();
    reports.sort_by_key(|r| {
        order
            .get(&(r.addr, r.transport))
            .copied()
            .unwrap_or(usize::MAX)
    });
    Ok((reports, stopped))
}

pub fn run(args: ServiceArgs, style: Style, stop: &Stop) -> Result<ExitCode> {
    let targets = args
        .targets
        .iter()
        .map(|t| parse_target(t))
        .collect::<Result<Vec<_>>>()?;
    let outputs = args.out.prepare()?;
    let (opts, notes) = build_options(&args)?;
    for n in &notes {
        eprintln!("portolan: note: {}", escape(n));
    }
    let (reports, stopped) = detect_until_stopped(targets, &opts, stop)?;
    let render = |format: Format, style: Style| -> Result<String> {
        let mut out = String::new();
        for r in &reports {
            match format {
                Format::Json => {
                    out.push_str(&json_line(r)?);
                    out.push('\n');
                }
                Format::Table => render_text(r, style, &mut out),
            }
        }
        Ok(out)
    };
    for o in outputs {
        let text = render(o.format, Style { enabled: false })?;
        o.commit(text.as_bytes())?;
    }
    let format = args.out.stdout_format();
    crate::term::print_out_unless_closed(&render(format, style)?)?;
    if stopped || stop.graceful() {
        eprintln!(
            "portolan: interrupted: {} of {} target(s) identified",
            reports.len(),
            args.targets.len()
        );
        return Ok(ExitCode::from(130));
    }
    let failed = args.fail_on.is_some_and(|limit| {
        reports
            .iter()
            .flat_map(|r| &r.findings)
            .any(|f| f.severity >= limit)
    });
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        let t = parse_target("127.0.0.1:22").unwrap();
        assert_eq!(t.addr, "127.0.0.1:22".parse().unwrap());
        assert_eq!(t.transport, Protocol::Tcp);
        assert!(t.sni.is_none());
        let t = parse_target("[::1]:161/udp").unwrap();
        assert_eq!(t.addr, "[::1]:161".parse().unwrap());
        assert_eq!(t.transport, Protocol::Udp);
        let t = parse_target("localhost:443").unwrap();
        assert_eq!(t.sni.as_deref(), Some("localhost"));
        for bad in [
            "127.0.0.1",
            "127.0.0.1:0",
            "127.0.0.1:70000",
            ":22",
            "1.2.3.4:22/sctp",
        ] {
            assert!(parse_target(bad).is_err(), "{bad}");
        }
    }
}
