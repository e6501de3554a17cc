//! `portolan local`: what this host exposes, and how to harden it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use portolan_audit::report::SCHEMA;
use portolan_audit::{sarif, Options, Report, Rules, SourceChoice};
use portolan_registry::risk::Severity;

use super::outfile;
use crate::term::{escape, Style};

const EXAMPLES: &str = "\
Examples:
  portolan local                          every listening socket, its process, and findings
  portolan local --tcp                    TCP listeners only
  portolan local --format json            machine-readable (schema: docs/schema/local.md)
  portolan local -o json=local.json -o sarif=local.sarif   files too (see docs/output.md)
  portolan local --format sarif > local.sarif     for code-scanning dashboards
  portolan local --fail-on high           exit 1 when a finding is high or critical (CI)
  portolan local --save-baseline base.json        remember today's state
  portolan local --baseline base.json --fail-on medium   only what changed since then
  portolan local --baseline-from-store --fail-on medium  only what changed since the last
                                          audit of this host saved in the result store
  portolan audits                         the audits saved in the result store
  sudo ip netns exec lab portolan local   inside a network namespace

Store: every audit is saved to the result store (SQLite, under $PORTOLAN_DATA_DIR, else
$XDG_DATA_HOME/portolan, else ~/.local/share/portolan), whole, keyed by the host's name:
`portolan audits` lists them. --store PATH|URL chooses another SQLite file or a PostgreSQL
database, --no-store saves nothing.

Exit status: 0 no finding at or above --fail-on, 1 some, 2 error.";

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Text for people (the default).
    Table,
    /// One JSON document (schema: docs/schema/local.md).
    Json,
    /// SARIF 2.1.0, for code-scanning dashboards.
    Sarif,
}

impl outfile::Formats for Format {
    const JSON: Self = Format::Json;
}

/// Where sockets are read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Source {
    /// Netlink sock_diag, falling back to /proc/net where it fails.
    Auto,
    /// Netlink sock_diag only.
    Netlink,
    /// /proc/net/{tcp,tcp6,udp,udp6} only.
    Proc,
}

/// Arguments of `portolan local`.
#[derive(clap::Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct LocalArgs {
    #[command(flatten)]
    pub out: outfile::OutputArgs<Format>,

    /// Exit with status 1 when a finding (a new one, with --baseline) has this severity or
    /// a higher one: info, low, medium, high, critical.
    #[arg(long, value_name = "SEVERITY", value_parser = crate::cmd::outfile::parse_severity)]
    pub fail_on: Option<Severity>,

    /// Report only what changed since this saved report (from --save-baseline or --json).
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,

    /// Save the full report (before any --baseline comparison) to FILE as JSON.
    #[arg(long, value_name = "FILE")]
    pub save_baseline: Option<PathBuf>,

    /// Where to read sockets from.
    #[arg(long, value_enum, default_value = "auto")]
    pub source: Source,

    /// Report only what changed since the last audit of this host (by its name) saved in the
    /// result store; this audit is then saved too. The first time, everything is new.
    #[arg(long, conflicts_with_all = ["baseline", "no_store"])]
    pub baseline_from_store: bool,

    /// Save this audit to this result store instead of the default one (portolan.db in
    /// $PORTOLAN_DATA_DIR, else $XDG_DATA_HOME/portolan, else ~/.local/share/portolan): an
    /// SQLite file or a postgres:// URL.
    #[arg(long, value_name = "PATH|URL", conflicts_with = "no_store")]
    pub store: Option<String>,

    /// Do not save this audit to the result store.
    #[arg(long)]
    pub no_store: bool,

    /// TCP listeners only.
    #[arg(long)]
    pub tcp: bool,

    /// Bound UDP sockets only.
    #[arg(long)]
    pub udp: bool,
}

/// The most bytes of a baseline read (a report of 10,000 sockets is about 10 MiB).
const BASELINE_LIMIT: portolan_registry::input::Limit = portolan_registry::input::Limit {
    what: "a `portolan local` baseline",
    max_bytes: 64 * portolan_registry::input::MIB,
    hint: "give a file written by --save-baseline",
};

fn load_baseline(path: &Path) -> Result<Report> {
    let text = portolan_registry::input::read_bounded_string(path, BASELINE_LIMIT)
        .with_context(|| format!("cannot read baseline {}", path.display()))?;
    let r = Report::from_json(&text).with_context(|| {
        format!(
            "{} is not a `portolan local` report (schema {SCHEMA}); save one with --save-baseline {}",
            path.display(),
            path.display()
        )
    })?;
    if r.schema != SCHEMA {
        bail!(
            "{} has schema {:?}, this portolan reads {SCHEMA}; save a new one with --save-baseline",
            path.display(),
            r.schema
        );
    }
    Ok(r)
}

/// The JSON document of a report: the report with `schema_version`.
fn json(report: &Report) -> Result<String> {
    let v = outfile::with_schema_version(serde_json::to_value(report)?);
    Ok(serde_json::to_string_pretty(&v)? + "\n")
}

fn save(path: &Path, report: &Report) -> Result<()> {
    outfile::write_file(path, json(report)?.as_bytes())
        .with_context(|| format!("cannot save the baseline {}", path.display()))
}

pub fn run(args: LocalArgs, style: Style) -> Result<ExitCode> {
    let format = args.out.stdout_format();
    // Read the baseline and create the outputs first: a bad file is an error before any work.
    let baseline = args.baseline.as_deref().map(load_baseline).transpose()?;
    let outputs = args.out.prepare()?;
    let opts = Options {
        source: match args.source {
            Source::Auto => SourceChoice::Auto,
            Source::Netlink => SourceChoice::Netlink,
            Source::Proc => SourceChoice::Proc,
        },
        tcp: args.tcp || !args.udp,
        udp: args.udp || !args.tcp,
        ..Options::default()
    };
    let rules = Rules::builtin()?;
    let mut store = open_store(&args)?;
    let mut report = portolan_audit::audit_with(&opts, &rules)?;
    if let Some(path) = &args.save_baseline {
        save(path, &report)?;
    }
    // The last stored audit of this host is read before this one is saved.
    let stored_base = match store.as_mut() {
        Some(s) if args.baseline_from_store => Some(stored_baseline(s, &report)?),
        _ => None,
    };
    if let Some(s) = store.as_mut() {
        save_to_store(s, &report)?;
    }
    if let (Some(base), Some(path)) = (&baseline, &args.baseline) {
        report.diff_against(base, &path.display().to_string());
    }
    if let Some((base, name)) = &stored_base {
        report.diff_against(base, name);
    }
    let render = |format: Format, style: Style| -> Result<String> {
        Ok(match format {
            Format::Json => json(&report)?,
            Format::Sarif => {
                serde_json::to_string_pretty(&sarif::to_sarif(
                    &report,
                    &rules,
                    env!("CARGO_PKG_VERSION"),
                ))? + "\n"
            }
            Format::Table => {
                let mut out = String::new();
                render_table(&report, style, &mut out);
                out
            }
        })
    };
    for o in outputs {
        let text = render(o.format, Style { enabled: false })?;
        o.commit(text.as_bytes())?;
    }
    crate::term::print_out_unless_closed(&render(format, style)?)?;
    let failed = match (args.fail_on, report.worst()) {
        (Some(limit), Some(worst)) => worst >= limit,
        _ => false,
    };
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The store this audit is saved to (none with `--no-store`); `--baseline-from-store` needs
/// one.
fn open_store(args: &LocalArgs) -> Result<Option<portolan_store::Store>> {
    let store =
        super::store::open_for_write(args.store.as_deref(), args.no_store, "this audit is")?;
    if store.is_none() && args.baseline_from_store {
        bail!(
            "--baseline-from-store needs the result store: pass --store PATH|URL, or set \
             PORTOLAN_DATA_DIR to a writable directory"
        );
    }
    Ok(store)
}

/// The last stored audit of this report's host, and how to name it; an empty one (everything
/// is new) when there is none.
fn stored_baseline(store: &mut portolan_store::Store, now: &Report) -> Result<(Report, String)> {
    match store.latest_audit(&now.host)? {
        Some((info, text)) => {
            let what = format!("audit {} in the store {}", info.id, store.location());
            let r = Report::from_json(&text).with_context(|| {
                format!("{what} does not read back as a `portolan local` report")
            })?;
            if r.schema != SCHEMA {
                bail!(
                    "{what} has schema {:?}, this portolan reads {SCHEMA}: compare with a newer \
                     audit (`portolan audits --host {}`), or with a file (--baseline)",
                    r.schema,
                    escape(&now.host)
                );
            }
            Ok((r, what))
        }
        None => {
            eprintln!(
                "portolan: note: no earlier audit of {} in the store {}: everything is new",
                escape(&now.host),
                store.location()
            );
            let mut empty = now.clone();
            empty.sockets.clear();
            empty.findings.clear();
            Ok((
                empty,
                format!("the store {} (no earlier audit)", store.location()),
            ))
        }
    }
}

/// Save the whole report (before any baseline comparison) to the store.
fn save_to_store(store: &mut portolan_store::Store, report: &Report) -> Result<()> {
    let text = json(report)?;
    let args = super::records::command_line();
    store
        .save_audit(&portolan_store::NewAudit {
            host: &report.host,
            time: std::time::SystemTime::now(),
            version: env!("CARGO_PKG_VERSION"),
            args: &args,
            sockets: report.sockets.len() as u64,
            findings: report.findings.len() as u64,
            worst: report.worst().map(|s| s.as_str()),
            report: &text,
        })
        .with_context(|| format!("cannot save this audit to the store {}", store.location()))?;
    Ok(())
}

fn sev_styled(style: Style, s: Severity) -> String {
    let t = format!("{:<8}", s.as_str().to_uppercase());
    match s {
        Severity::Critical | Severity::High => style.red(&t),
        Severity::Medium => style.yellow(&t),
        Severity::Low | Severity::Info => style.cyan(&t),
    }
}

fn pad(s: &str, w: usize) -> String {
    let n = s.chars().count();
    if n >= w {
        format!("{s} ")
    } else {
        format!("{s}{} ", " ".repeat(w - n))
    }
}

/// The table: one row per socket, then the findings, then notes.
pub fn render_table(r: &Report, style: Style, out: &mut String) {
    use std::fmt::Write;
    let rows: Vec<[String; 7]> = r
        .sockets
        .iter()
        .map(|e| {
            let s = &e.socket;
            // As ss prints it: 0.0.0.0%eth0:80 for a socket bound to a device.
            let dev = e
                .interface_name
                .as_ref()
                .map(|n| format!("%{}", escape(n)))
                .unwrap_or_default();
            let addr = format!(
                "{}{dev}:{}",
                portolan_audit::socket::host_part(s.address),
                s.port
            );
            let exposure = if e.dual_stack {
                "all (v4+v6)".to_string()
            } else {
                e.exposure.as_str().to_string()
            };
            let procs = if e.processes.is_empty() {
                "-".to_string()
            } else {
                e.processes
                    .iter()
                    .map(|p| format!("{}[{}]", escape(&p.name), p.pid))
                    .collect::<Vec<_>>()
                    .join(",")
            };
            let mut users: Vec<String> = e
                .processes
                .iter()
                .map(|p| {
                    p.user
                        .clone()
                        .or_else(|| p.uid.map(|u| u.to_string()))
                        .unwrap_or_else(|| "?".into())
                })
                .collect();
            users.dedup();
            let user = if users.is_empty() {
                format!("uid:{}", s.uid)
            } else {
                users.join(",")
            };
            let mut units: Vec<String> =
                e.processes.iter().filter_map(|p| p.unit.clone()).collect();
            units.dedup();
            [
                s.protocol.to_string(),
                addr,
                exposure,
                e.service.as_deref().map_or_else(|| "-".into(), escape),
                procs,
                escape(&user),
                if units.is_empty() {
                    "-".into()
                } else {
                    escape(&units.join(","))
                },
            ]
        })
        .collect();
    let heads = [
        "PROTO",
        "ADDRESS:PORT",
        "EXPOSURE",
        "SERVICE",
        "PROCESS",
        "USER",
        "UNIT",
    ];
    let mut w = heads.map(str::len);
    for row in &rows {
        for (i, c) in row.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    if let Some(b) = &r.baseline {
        let _ = writeln!(
            out,
            "{}",
            style.bold(&format!("Changes since baseline {}", escape(&b.file)))
        );
        let _ = writeln!(out, "New sockets: {}", rows.len());
    }
    if !rows.is_empty() {
        let mut line = String::new();
        for (i, h) in heads.iter().enumerate() {
            line.push_str(&pad(h, if i + 1 == heads.len() { 0 } else { w[i] + 1 }));
        }
        let _ = writeln!(out, "{}", style.bold(line.trim_end()));
        for row in &rows {
            let mut line = String::new();
            for (i, c) in row.iter().enumerate() {
                line.push_str(&pad(c, if i + 1 == row.len() { 0 } else { w[i] + 1 }));
            }
            let _ = writeln!(out, "{}", line.trim_end());
        }
    }
    if let Some(b) = &r.baseline {
        let _ = writeln!(out, "Removed sockets: {}", b.removed_sockets.len());
        for k in &b.removed_sockets {
            let _ = writeln!(out, "  {}", escape(&k.to_string()));
        }
    }
    let c = &r.summary.findings;
    let total = r.findings.len();
    let _ = writeln!(out);
    let head = if r.baseline.is_some() {
        format!("New findings: {total}")
    } else {
        format!("Findings: {total}")
    };
    let _ = writeln!(
        out,
        "{}",
        style.bold(&format!(
            "{head} ({} critical, {} high, {} medium, {} low, {} info)",
            c.critical, c.high, c.medium, c.low, c.info
        ))
    );
    for f in &r.findings {
        let _ = writeln!(
            out,
            "  {} {}  {}",
            sev_styled(style, f.severity),
            style.bold(&escape(&f.rule)),
            escape(&f.endpoint)
        );
        let _ = writeln!(out, "           {}", escape(&f.title));
        let _ = writeln!(
            out,
            "           {} {}",
            style.dim("why:"),
            escape(&f.evidence)
        );
        let _ = writeln!(
            out,
            "           {} {}",
            style.dim("fix:"),
            escape(&f.remediation)
        );
        for s in &f.sources {
            let _ = writeln!(out, "           {} {}", style.dim("see:"), escape(s));
        }
    }
    if let Some(b) = &r.baseline {
        let _ = writeln!(out, "Resolved findings: {}", b.resolved_findings.len());
        for f in &b.resolved_findings {
            let _ = writeln!(
                out,
                "  {} {}  {}",
                sev_styled(style, f.severity),
                escape(&f.rule),
                escape(&f.endpoint)
            );
        }
    }
    let _ = writeln!(
        out,
        "\n{} sockets, read via {}{}",
        r.summary.sockets,
        r.source,
        r.ephemeral_range
            .map(|(lo, hi)| format!("; ephemeral range {lo}-{hi}"))
            .unwrap_or_default()
    );
    for n in &r.notes {
        let _ = writeln!(out, "{} {}", style.yellow("note:"), escape(n));
    }
}
