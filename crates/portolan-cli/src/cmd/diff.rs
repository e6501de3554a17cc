//! `portolan diff`: what changed between two stored scans, with ndiff's semantics
//! (`portolan_model::diff`: a port whose state, service or version changed is one change).

use std::process::ExitCode;

use anyhow::{bail, Result};
use portolan_model::{diff, Change, PortDiff, PortEvent, ScanReport};
use portolan_store::when::format_utc;
use portolan_store::ScanInfo;
use serde_json::json;

use crate::cmd::store::{StoreOpts, SCHEMA_VERSION};
use crate::term::{escape, print_out_unless_closed, Style};

const EXAMPLES: &str = "\
Examples:
  portolan diff                          the latest scan against the previous scan of the same targets
  portolan diff 57                       scan 57 against the previous scan of its targets
  portolan diff 41 57 --format json --fail-on-change     for cron and CI: exit 1 on any change
  portolan diff 41 57 --format ndiff     the layout of nmap's ndiff

The previous scan of the same targets: the latest earlier scan with the same targets (as given on
the command line), ports and kind. Closed ports are not stored: a port that closed is reported
as gone. Exit status: 0, 1 with --fail-on-change when something changed, 2 error.";

/// Output formats of `portolan diff`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DiffFormat {
    Table,
    Json,
    /// nmap's ndiff text layout (`-`/`+` lines per host).
    Ndiff,
}

/// `portolan diff`.
#[derive(clap::Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct DiffArgs {
    /// Two scan ids (A, then B); one: that scan against the previous of its targets; none:
    /// the latest scan against the previous of its targets.
    #[arg(value_name = "ID", num_args = 0..=2)]
    pub ids: Vec<i64>,
    /// Exit with status 1 when something changed (0 when nothing did).
    #[arg(long)]
    pub fail_on_change: bool,
    /// The result store: an SQLite file or a postgres:// URL; default: portolan.db in the
    /// user data directory.
    #[arg(long, value_name = "PATH|URL")]
    pub store: Option<String>,
    /// table (default), json or ndiff.
    #[arg(long, value_enum, default_value = "table")]
    pub format: DiffFormat,
    /// The same as --format json.
    #[arg(long)]
    pub json: bool,
}

fn state_svc(e: &PortEvent) -> serde_json::Value {
    let s = e.service.as_ref();
    json!({
        "state": e.state,
        "reason": e.reason,
        "service": s.map(|s| &s.name),
        "product": s.and_then(|s| s.product.as_ref()),
        "version": s.and_then(|s| s.version.as_ref()),
        "extrainfo": s.and_then(|s| s.extrainfo.as_ref()),
    })
}

fn change_json(d: &PortDiff) -> serde_json::Value {
    let (kind, before, after) = match &d.change {
        Change::Added(e) => ("added", None, Some(e)),
        Change::Removed(e) => ("removed", Some(e), None),
        Change::Changed { before, after } => ("changed", Some(&**before), Some(&**after)),
    };
    json!({
        "addr": d.key.addr, "proto": d.key.proto, "port": d.key.port, "change": kind,
        "before": before.map(state_svc), "after": after.map(state_svc),
    })
}

fn svc_text(e: &PortEvent) -> String {
    match &e.service {
        None => String::new(),
        Some(s) => {
            let ver = [
                s.product.as_deref(),
                s.version.as_deref(),
                s.extrainfo.as_deref(),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
            escape(format!("{:<16} {ver}", s.name).trim_end())
        }
    }
}

fn port_text(e: &PortEvent) -> String {
    let pp = format!("{}/{}", e.port, e.proto);
    format!("{pp:<11} {:<14} {}", e.state.as_str(), svc_text(e))
        .trim_end()
        .to_string()
}

fn header(i: &ScanInfo) -> String {
    format!(
        "scan {} ({} UTC, {}, {}): {} -p {}",
        i.id,
        format_utc(i.started_at()),
        i.kind,
        i.status,
        escape(&i.targets),
        escape(&i.ports)
    )
}

fn table(a: &ScanInfo, b: &ScanInfo, changes: &[PortDiff], style: Style) -> String {
    let mut o = format!("- {}\n+ {}\n\n", header(a), header(b));
    if changes.is_empty() {
        o.push_str("no change\n");
        return o;
    }
    let mut host = None;
    for d in changes {
        if host != Some(d.key.addr) {
            host = Some(d.key.addr);
            o.push_str(&style.bold(&format!("{}\n", d.key.addr)));
        }
        match &d.change {
            Change::Added(e) => o.push_str(&style.green(&format!("  + {}\n", port_text(e)))),
            Change::Removed(e) => o.push_str(&style.red(&format!("  - {}\n", port_text(e)))),
            Change::Changed { before, after } => {
                o.push_str(&style.yellow(&format!(
                    "  ~ {}\n      was {}\n",
                    port_text(after),
                    port_text(before)
                )));
            }
        }
    }
    let n = |k: fn(&Change) -> bool| changes.iter().filter(|d| k(&d.change)).count();
    o.push_str(&format!(
        "\n{} change{}: {} new, {} gone, {} changed\n",
        changes.len(),
        if changes.len() == 1 { "" } else { "s" },
        n(|c| matches!(c, Change::Added(_))),
        n(|c| matches!(c, Change::Removed(_))),
        n(|c| matches!(c, Change::Changed { .. })),
    ));
    o
}

/// nmap ndiff's text layout: the two scans' headers, then per host with changes a ` ADDR:`
/// line, the ` PORT STATE SERVICE VERSION` header, and `-`/`+` port lines.
fn ndiff(a: &ScanInfo, b: &ScanInfo, changes: &[PortDiff]) -> String {
    let line = |i: &ScanInfo| {
        format!(
            "Portolan {} scan initiated {} UTC as: {}",
            escape(&i.version),
            format_utc(i.started_at()),
            escape(&i.args)
        )
    };
    let mut o = format!("-{}\n+{}\n", line(a), line(b));
    let mut host = None;
    for d in changes {
        if host != Some(d.key.addr) {
            host = Some(d.key.addr);
            o.push_str(&format!(
                "\n {}:\n PORT        STATE          SERVICE          VERSION\n",
                d.key.addr
            ));
        }
        match &d.change {
            Change::Added(e) => o.push_str(&format!("+{}\n", port_text(e))),
            Change::Removed(e) => o.push_str(&format!("-{}\n", port_text(e))),
            Change::Changed { before, after } => {
                o.push_str(&format!("-{}\n+{}\n", port_text(before), port_text(after)));
            }
        }
    }
    o
}

pub fn run(args: DiffArgs, style: Style) -> Result<ExitCode> {
    let opts = StoreOpts {
        store: args.store.clone(),
        format: crate::cmd::store::OutFormat::Table,
        json: false,
    };
    let mut store = opts.open()?;
    let previous_of = |store: &mut portolan_store::Store, id: i64| -> Result<ScanInfo> {
        match store.previous_scan(id)? {
            Some(p) => Ok(p),
            None => bail!(
                "scan {id} is the first stored scan of its targets: nothing to compare it with; \
                 give two ids (`portolan scans` lists them)"
            ),
        }
    };
    let (a, b) = match args.ids.as_slice() {
        [] => {
            let Some(b) = store.latest_scan()? else {
                bail!("the store holds no scan yet: run `portolan scan` first");
            };
            (previous_of(&mut store, b.id)?, b)
        }
        [b] => {
            let b = store.scan_info(*b)?;
            (previous_of(&mut store, b.id)?, b)
        }
        [a, b, ..] => (store.scan_info(*a)?, store.scan_info(*b)?),
    };
    let (ra, rb): (ScanReport, ScanReport) = (store.scan(a.id)?, store.scan(b.id)?);
    let changes = diff(&ra, &rb);
    let fmt = if args.json {
        DiffFormat::Json
    } else {
        args.format
    };
    let out = match fmt {
        DiffFormat::Json => format!(
            "{}\n",
            json!({
                "schema_version": SCHEMA_VERSION,
                "kind": "diff",
                "a": {"id": a.id, "started": a.started, "status": a.status, "targets": a.targets, "ports": a.ports},
                "b": {"id": b.id, "started": b.started, "status": b.status, "targets": b.targets, "ports": b.ports},
                "changed": !changes.is_empty(),
                "changes": changes.iter().map(change_json).collect::<Vec<_>>(),
            })
        ),
        DiffFormat::Table => table(&a, &b, &changes, style),
        DiffFormat::Ndiff => ndiff(&a, &b, &changes),
    };
    print_out_unless_closed(&out)?;
    Ok(if args.fail_on_change && !changes.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
