//! `portolan audits` and `portolan alerts`: the `local` audits and `detect` alerts the result
//! store kept (crate `portolan-store`), and the store that `local` and `detect` write to.

use std::net::IpAddr;
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::{Context, Result};
use portolan_store::when::{format_utc, parse_when};
use portolan_store::AlertFilter;
use serde_json::json;

use super::store::{open_for_write, OutFormat, StoreOpts, SCHEMA_VERSION};
use crate::term::{escape, print_out, Style};

/// The command line, for the record.
pub fn command_line() -> String {
    std::env::args().collect::<Vec<_>>().join(" ")
}

fn doc(kind: &str, body: serde_json::Value) -> String {
    let mut v = json!({"schema_version": SCHEMA_VERSION, "kind": kind});
    if let (Some(o), serde_json::Value::Object(b)) = (v.as_object_mut(), body) {
        o.extend(b);
    }
    format!("{v}\n")
}

fn utc(secs: f64) -> String {
    format_utc(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs_f64(secs.max(0.0)))
}

const AUDITS_EXAMPLES: &str = "\
Examples:
  portolan audits                      every stored `portolan local` audit
  portolan audits --host web1          the audits of one host
  portolan audits --show 12 --format json   one audit's whole report (as local --format json)
  portolan local --baseline-from-store --fail-on medium   what changed since the last audit

`portolan local` saves every audit to the store (--no-store to opt out, --store PATH|URL).";

/// Arguments of `portolan audits`.
#[derive(clap::Args, Debug)]
#[command(after_help = AUDITS_EXAMPLES)]
pub struct AuditsArgs {
    #[command(flatten)]
    pub opts: StoreOpts,
    /// Only the audits of this host (the name `portolan local` reported).
    #[arg(long)]
    pub host: Option<String>,
    /// Print this audit's whole report (JSON) instead of the list.
    #[arg(long, value_name = "ID")]
    pub show: Option<i64>,
}

pub fn run_audits(args: AuditsArgs, style: Style) -> Result<ExitCode> {
    let mut store = args.opts.open()?;
    if let Some(id) = args.show {
        let report = store.audit_report(id)?;
        // Stored as `portolan local --format json` printed it.
        let v: serde_json::Value = serde_json::from_str(&report)
            .with_context(|| format!("audit {id} in the store does not read back"))?;
        print_out(&(serde_json::to_string_pretty(&v)? + "\n"))?;
        return Ok(ExitCode::SUCCESS);
    }
    let audits = store.audits(args.host.as_deref())?;
    let out = match args.opts.format() {
        OutFormat::Json => doc("audits", json!({ "audits": audits })),
        OutFormat::Table => {
            let mut o = style
                .bold("   ID  STARTED (UTC)        HOST              SOCKETS  FINDINGS  WORST\n");
            if audits.is_empty() {
                o.push_str("(no audits stored yet: `portolan local` saves one)\n");
            }
            for a in &audits {
                o.push_str(&format!(
                    "{:>5}  {:<19}  {:<16}  {:>7}  {:>8}  {}\n",
                    a.id,
                    utc(a.started),
                    escape(&a.host),
                    a.sockets,
                    a.findings,
                    a.worst.as_deref().map(escape).unwrap_or_else(|| "-".into())
                ));
            }
            o
        }
    };
    print_out(&out)?;
    Ok(ExitCode::SUCCESS)
}

const ALERTS_EXAMPLES: &str = "\
Examples:
  portolan alerts                      every stored `portolan detect` alert
  portolan alerts --runs               the detect runs (captures read, live captures)
  portolan alerts --src 198.51.100.7 --since 7d
  portolan alerts --run 4 --format json
  portolan detect -i eth0 --new-sources-since 1d   alert only on sources not alerted on in a day

`portolan detect` saves its alerts to the store as they come (--no-store to opt out,
--store PATH|URL).";

/// Arguments of `portolan alerts`.
#[derive(clap::Args, Debug)]
#[command(after_help = ALERTS_EXAMPLES)]
pub struct AlertsArgs {
    #[command(flatten)]
    pub opts: StoreOpts,
    /// List the detect runs instead of their alerts.
    #[arg(long)]
    pub runs: bool,
    /// Only the alerts of this run.
    #[arg(long, value_name = "ID")]
    pub run: Option<i64>,
    /// Only the alerts on this source address.
    #[arg(long, value_name = "ADDR")]
    pub src: Option<IpAddr>,
    /// Only alerts raised at or after: an age (30m, 7d) or a date (2026-11-01).
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Only alerts raised at or before.
    #[arg(long, value_name = "WHEN")]
    pub until: Option<String>,
}

pub fn run_alerts(args: AlertsArgs, style: Style) -> Result<ExitCode> {
    let now = SystemTime::now();
    let since = args
        .since
        .as_deref()
        .map(|s| parse_when(s, now))
        .transpose()?;
    let until = args
        .until
        .as_deref()
        .map(|s| parse_when(s, now))
        .transpose()?;
    let mut store = args.opts.open()?;
    let json_out = args.opts.format() == OutFormat::Json;
    if args.runs {
        let runs = store.detect_runs()?;
        let out = if json_out {
            doc("detect_runs", json!({ "runs": runs }))
        } else {
            let mut o = style.bold("   ID  STARTED (UTC)        STATUS      ALERTS  SOURCE\n");
            if runs.is_empty() {
                o.push_str("(no detect runs stored yet: `portolan detect` saves them)\n");
            }
            for r in &runs {
                o.push_str(&format!(
                    "{:>5}  {:<19}  {:<10}  {:>6}  {}\n",
                    r.id,
                    utc(r.started),
                    escape(&r.status),
                    r.alerts,
                    escape(&r.source)
                ));
            }
            o
        };
        print_out(&out)?;
        return Ok(ExitCode::SUCCESS);
    }
    let alerts = store.alerts(&AlertFilter {
        run: args.run,
        src: args.src,
        since,
        until,
    })?;
    let out = if json_out {
        let list: Vec<serde_json::Value> = alerts
            .iter()
            .map(|a| {
                json!({
                    "run": a.run_id, "seq": a.seq, "ts": a.ts, "signature": a.signature,
                    "severity": a.severity, "src": a.src, "dst": a.dst, "dst_port": a.dst_port,
                    "eve": serde_json::from_str::<serde_json::Value>(&a.eve)
                        .unwrap_or(serde_json::Value::Null),
                })
            })
            .collect();
        doc("alerts", json!({ "alerts": list }))
    } else {
        let mut o =
            style.bold("  RUN  TIME (UTC)           SEVERITY  SOURCE -> TARGET  SIGNATURE\n");
        if alerts.is_empty() {
            o.push_str("(no alerts stored match)\n");
        }
        for a in &alerts {
            let target = match a.dst_port {
                Some(p) => format!("{}:{p}", a.dst),
                None => a.dst.clone(),
            };
            o.push_str(&format!(
                "{:>5}  {:<19}  {:<8}  {} -> {}  {}\n",
                a.run_id,
                utc(a.ts),
                escape(&a.severity),
                escape(&a.src),
                escape(&target),
                escape(&a.signature)
            ));
        }
        o
    };
    print_out(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// Where `portolan detect` keeps its alerts, and which sources it leaves out
/// (`--new-sources-since`).
pub struct AlertStore {
    writer: Option<portolan_store::AlertWriter>,
    /// Sources alerted on in the store within `--new-sources-since` (before this run).
    known: std::collections::HashSet<IpAddr>,
    since: Option<String>,
    /// Alerts left out because their source was known.
    left_out: u64,
    location: String,
}

impl AlertStore {
    /// The store `--store`/`--no-store` name, with the run's row written; `None` when nothing
    /// is stored (and `--new-sources-since` was not given: it needs a store).
    pub fn open(
        spec: Option<&str>,
        no_store: bool,
        new_sources_since: Option<&str>,
        source: &str,
    ) -> Result<Option<AlertStore>> {
        let now = SystemTime::now();
        let since = new_sources_since
            .map(|s| {
                portolan_store::when::parse_age(s)
                    .map(|age| now.checked_sub(age).unwrap_or(SystemTime::UNIX_EPOCH))
            })
            .transpose()?;
        let Some(mut store) = open_for_write(spec, no_store, "these alerts are")? else {
            if new_sources_since.is_some() {
                anyhow::bail!(
                    "--new-sources-since needs the result store (the alerts of earlier runs): \
                     pass --store PATH|URL, or set PORTOLAN_DATA_DIR to a writable directory"
                );
            }
            return Ok(None);
        };
        let known = match since {
            Some(t) => store
                .alerted_sources(t)?
                .into_iter()
                .map(|(a, _)| a)
                .collect(),
            None => Default::default(),
        };
        let location = store.location().to_string();
        let writer = store.alert_writer(source, &command_line(), env!("CARGO_PKG_VERSION"), now)?;
        Ok(Some(AlertStore {
            writer: Some(writer),
            known,
            since: new_sources_since.map(str::to_string),
            left_out: 0,
            location,
        }))
    }

    /// Whether an alert on `src` is left out: its source was alerted on within
    /// `--new-sources-since` by an earlier run.
    pub fn leave_out(&mut self, src: IpAddr) -> bool {
        let known = self.known.contains(&src);
        self.left_out += u64::from(known);
        known
    }

    /// Store one alert (with its batch).
    pub fn save(&mut self, a: &portolan_detect::alert::Alert) -> Result<()> {
        let Some(w) = self.writer.as_mut() else {
            return Ok(());
        };
        w.push(portolan_store::NewAlert {
            time: SystemTime::UNIX_EPOCH + std::time::Duration::from_nanos(a.ts_ns),
            signature: a.signature(),
            severity: a.severity_name().to_string(),
            src: a.src.to_ip(),
            dst: a.dst.to_ip(),
            dst_port: a.dst_port,
            eve: serde_json::to_string(&a.to_eve())?,
        })?;
        Ok(())
    }

    /// Commit what is in hand and close the run (`done`, or `failed`); say what was left out.
    pub fn finish(&mut self, ok: bool) -> Result<()> {
        if self.left_out > 0 {
            eprintln!(
                "portolan: {} alerts on sources already alerted on in the last {} were left out \
                 (--new-sources-since; `portolan alerts --since {}` lists them)",
                self.left_out,
                escape(self.since.as_deref().unwrap_or_default()),
                escape(self.since.as_deref().unwrap_or_default()),
            );
        }
        if let Some(w) = self.writer.take() {
            w.finish(ok, SystemTime::now()).with_context(|| {
                format!("cannot save the alerts to the store {}", self.location)
            })?;
        }
        Ok(())
    }
}
