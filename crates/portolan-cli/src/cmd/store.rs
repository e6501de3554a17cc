//! `portolan scans`, `portolan history`, `portolan hosts`, `portolan ports`: what the result
//! store kept (crate `portolan-store`).

use std::net::IpAddr;
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::{bail, Context, Result};
use portolan_model::{PortEvent, Protocol, Service};
use portolan_store::when::{format_utc, parse_age, parse_when};
use portolan_store::{Filter, ScanInfo, Store};
use serde_json::json;

use crate::cmd::outfile::{self, OutputSpec, Pending};
use crate::term::{escape, print_out, Style};

/// The JSON documents' schema version (docs/store.md).
pub const SCHEMA_VERSION: u32 = 1;

/// Output formats of the store commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OutFormat {
    /// For people.
    Table,
    /// One JSON document (`schema_version` 1).
    Json,
}

/// Which store to read, and how to print.
#[derive(clap::Args, Debug, Clone)]
pub struct StoreOpts {
    /// The result store: an SQLite file or a postgres:// URL (TLS as libpq:
    /// ?sslmode=verify-full&sslrootcert=CA.pem, &sslcert=CRT&sslkey=KEY for a client
    /// certificate, &sslpassword=PASSPHRASE for an encrypted key); default: portolan.db in
    /// $PORTOLAN_DATA_DIR, else $XDG_DATA_HOME/portolan, else ~/.local/share/portolan.
    #[arg(long, value_name = "PATH|URL", global = true)]
    pub store: Option<String>,
    /// What to print on standard output.
    #[arg(long, value_enum, default_value = "table", global = true)]
    pub format: OutFormat,
    /// Same as --format json.
    #[arg(long, global = true, conflicts_with = "format")]
    pub json: bool,
    /// Also write FMT (one of the --format values) to PATH; repeatable. Each file is written
    /// to a temporary file beside PATH and renamed over PATH only once complete. A PATH alone
    /// is written as json.
    #[arg(short = 'o', long = "output", value_name = "FMT=PATH", global = true,
          value_parser = outfile::parse_spec::<OutFormat>)]
    pub output: Vec<OutputSpec<OutFormat>>,
}

impl outfile::Formats for OutFormat {
    const JSON: Self = OutFormat::Json;
}

/// Write `render`'s text for each `-o` file (prepared before the work, without colour), then
/// print it on standard output in `stdout`'s format.
fn emit(
    outputs: Vec<Pending<OutFormat>>,
    stdout: OutFormat,
    style: Style,
    render: impl Fn(OutFormat, Style) -> String,
) -> Result<()> {
    for o in outputs {
        let text = render(o.format, Style { enabled: false });
        o.commit(text.as_bytes())?;
    }
    print_out(&render(stdout, style))?;
    Ok(())
}

impl StoreOpts {
    pub fn format(&self) -> OutFormat {
        if self.json {
            OutFormat::Json
        } else {
            self.format
        }
    }
    /// The temporary files of every `-o`, created before any work.
    pub fn prepare(&self) -> Result<Vec<Pending<OutFormat>>> {
        outfile::prepare(&self.output)
    }
    /// Open the store; the default one must already exist (reading creates nothing).
    pub fn open(&self) -> Result<Store> {
        open_existing(self.store.as_deref())
    }
}

/// The store a command reads: `spec` (`--store PATH|URL`), else the default store, which must
/// already exist (reading creates nothing).
pub fn open_existing(spec: Option<&str>) -> Result<Store> {
    if spec.is_none() {
        let path = portolan_store::default_path().context(
            "no data directory for the result store: set PORTOLAN_DATA_DIR or HOME, or pass \
             --store PATH",
        )?;
        if !path.exists() {
            anyhow::bail!(
                "no result store at {} yet: run `portolan scan` first (it saves every scan \
                 there), or pass --store PATH",
                path.display()
            );
        }
    }
    Ok(Store::open(spec)?)
}

/// The store a command that writes (`scan`, `local`, `detect`) saves to: `--store SPEC` (an
/// error if it cannot be opened), none with `--no-store`, else the default store — which, when
/// it cannot be created (no data directory, read-only home), is skipped with a note rather than
/// failing the command. A store this user may only read is the same: an error with
/// `--store`, skipped with a note otherwise (SQLite opens such a file for reading when opening
/// needs no write, and only the first write would fail). `what` completes the note: "this scan
/// is", "these alerts are".
pub fn open_for_write(spec: Option<&str>, no_store: bool, what: &str) -> Result<Option<Store>> {
    if no_store {
        return Ok(None);
    }
    let read_only =
        |s: &Store| format!("store {} is read-only for this user", escape(s.location()));
    match spec {
        Some(spec) => {
            let s = Store::open(Some(spec))?;
            if s.is_read_only() {
                bail!(
                    "{}: pass --store with a file this user may write, or --no-store",
                    read_only(&s)
                );
            }
            Ok(Some(s))
        }
        None => {
            let why = match Store::open_default() {
                Ok(s) if !s.is_read_only() => return Ok(Some(s)),
                Ok(s) => read_only(&s),
                Err(e) => escape(&e.to_string()),
            };
            eprintln!(
                "portolan: note: {what} not saved to the result store: {why} (--no-store \
                 silences this)"
            );
            Ok(None)
        }
    }
}

const SCANS_EXAMPLES: &str = "\
Examples:
  portolan scans                          every stored scan
  portolan scans show 12                  one scan: its hosts and ports
  portolan scans delete 12
  portolan scans prune --older-than 30d   forget scans, local audits and detect alerts older than 30 days
  portolan scans --store /srv/portolan/nightly.db --format json
  portolan scans --store postgres://scanner@db.internal/portolan";

/// `portolan scans`.
#[derive(clap::Args, Debug)]
#[command(after_help = SCANS_EXAMPLES)]
pub struct ScansArgs {
    #[command(subcommand)]
    pub cmd: Option<ScansCmd>,
    #[command(flatten)]
    pub opts: StoreOpts,
}

#[derive(clap::Subcommand, Debug)]
pub enum ScansCmd {
    /// List every stored scan (the default).
    List,
    /// One scan: its record, hosts and stored ports.
    Show { id: i64 },
    /// Delete one scan and everything stored with it.
    Delete { id: i64 },
    /// Delete every scan started longer ago than AGE, and the `local` audits and `detect`
    /// alerts stored before then.
    Prune {
        /// An age: 30d, 12h, 2w.
        #[arg(long, value_name = "AGE")]
        older_than: String,
    },
}

fn scan_json(s: &ScanInfo) -> serde_json::Value {
    json!({
        "id": s.id, "kind": s.kind, "proto": s.proto, "status": s.status, "args": s.args,
        "targets": s.targets, "targets_count": s.targets_count, "ports": s.ports,
        "num_ports": s.num_ports, "seed": s.seed, "shard": s.shard, "scanner": s.scanner,
        "version": s.version, "started": s.started, "ended": s.ended, "stats": s.stats,
        "ports_stored": s.ports_stored, "hosts_stored": s.hosts_stored,
        "discovery": s.discovery,
    })
}

fn doc(kind: &str, body: serde_json::Value) -> String {
    let mut v = json!({"schema_version": SCHEMA_VERSION, "kind": kind});
    if let (Some(o), serde_json::Value::Object(b)) = (v.as_object_mut(), body) {
        o.extend(b);
    }
    format!("{v}\n")
}

fn svc_cols(s: Option<&Service>) -> (String, String) {
    match s {
        None => (String::new(), String::new()),
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
            (escape(&s.name), escape(&ver))
        }
    }
}

fn port_line(p: &PortEvent) -> String {
    let (svc, ver) = svc_cols(p.service.as_ref());
    let pp = format!("{}/{}", p.port, p.proto);
    format!("  {pp:<11} {:<14} {svc:<16} {ver}", p.state.as_str())
        .trim_end()
        .to_string()
        + "\n"
}

fn scan_line(s: &ScanInfo) -> String {
    format!(
        "{:>5}  {}  {:<11} {:<7} {:>6}  {}  -p {}\n",
        s.id,
        format_utc(s.started_at()),
        s.status,
        s.kind,
        s.ports_stored,
        escape(&s.targets),
        escape(&s.ports)
    )
}

pub fn run_scans(args: ScansArgs, style: Style) -> Result<ExitCode> {
    let outputs = args.opts.prepare()?;
    let mut store = args.opts.open()?;
    match args.cmd.unwrap_or(ScansCmd::List) {
        ScansCmd::List => {
            let scans = store.scans()?;
            let render = |fmt: OutFormat, style: Style| match fmt {
                OutFormat::Json => doc(
                    "scans",
                    json!({"scans": scans.iter().map(scan_json).collect::<Vec<_>>()}),
                ),
                OutFormat::Table => {
                    let mut o = style.bold(
                        "   ID  STARTED (UTC)        STATUS      KIND    STORED  TARGETS  PORTS\n",
                    );
                    if scans.is_empty() {
                        o.push_str("(no scans stored yet)\n");
                    }
                    for s in &scans {
                        o.push_str(&scan_line(s));
                    }
                    o
                }
            };
            emit(outputs, args.opts.format(), style, render)?;
        }
        ScansCmd::Show { id } => {
            let info = store.scan_info(id)?;
            let report = store.scan(id)?;
            let render = |fmt: OutFormat, style: Style| match fmt {
                OutFormat::Json => doc(
                    "scan",
                    json!({"scan": scan_json(&info), "hosts": report.hosts}),
                ),
                OutFormat::Table => {
                    let mut o = format!(
                        "scan {} ({}, {}): {}\n  started {} UTC{}\n  targets {} ({} addresses), ports {}\n  \
                         seed {}, shard {}, {}/{} probes, {} open, {} closed, {} filtered\n",
                        info.id,
                        info.kind,
                        info.status,
                        escape(&info.args),
                        format_utc(info.started_at()),
                        info.ended
                            .map(|e| format!(", ended {} UTC", format_utc(portolan_store_time(e))))
                            .unwrap_or_default(),
                        escape(&info.targets),
                        info.targets_count,
                        escape(&info.ports),
                        info.seed,
                        info.shard,
                        info.stats.completed,
                        info.stats.planned,
                        info.stats.open,
                        info.stats.closed,
                        info.stats.filtered
                    );
                    if let Some(d) = &info.discovery {
                        o.push_str(&format!("  host discovery: {}\n", escape(d)));
                    }
                    for h in &report.hosts {
                        o.push('\n');
                        let name = h
                            .hostname
                            .as_deref()
                            .map(|n| format!(" ({})", escape(n)))
                            .unwrap_or_default();
                        o.push_str(&style.bold(&format!("{}{name}\n", h.addr)));
                        for p in &h.ports {
                            o.push_str(&port_line(p));
                        }
                        for x in &h.extra {
                            o.push_str(&format!("  not shown: {} {}\n", x.count, x.state));
                        }
                    }
                    o
                }
            };
            emit(outputs, args.opts.format(), style, render)?;
        }
        ScansCmd::Delete { id } => {
            if !store.delete_scan(id)? {
                return Err(portolan_store::StoreError::NoScan(id).into());
            }
            let render = |fmt: OutFormat, _: Style| match fmt {
                OutFormat::Json => doc("deleted", json!({"deleted": [id]})),
                OutFormat::Table => format!("deleted scan {id}\n"),
            };
            emit(outputs, args.opts.format(), style, render)?;
        }
        ScansCmd::Prune { older_than } => {
            let age = parse_age(&older_than)?;
            let before = SystemTime::now()
                .checked_sub(age)
                .unwrap_or(SystemTime::UNIX_EPOCH);
            let p = store.prune_all(before)?;
            let n = p.scans;
            let plural = |n: u64| if n == 1 { "" } else { "s" };
            let render = |fmt: OutFormat, _: Style| match fmt {
                OutFormat::Json => doc(
                    "pruned",
                    json!({"pruned": n, "audits": p.audits, "alerts": p.alerts,
                        "before": portolan_model_secs(before)}),
                ),
                OutFormat::Table => format!(
                    "deleted {n} scan{}, {} audit{} and {} alert{} from before {} UTC\n",
                    plural(n),
                    p.audits,
                    plural(p.audits),
                    p.alerts,
                    plural(p.alerts),
                    format_utc(before)
                ),
            };
            emit(outputs, args.opts.format(), style, render)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn portolan_store_time(secs: f64) -> SystemTime {
    SystemTime::UNIX_EPOCH + std::time::Duration::try_from_secs_f64(secs).unwrap_or_default()
}

fn portolan_model_secs(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

const HISTORY_EXAMPLES: &str = "\
Examples:
  portolan history 10.0.0.5               every stored scan of that host, port by port
  portolan history 10.0.0.5 --format json
  portolan history 10.0.0.5 -o json=host.json   the table on screen, the JSON in a file";

/// `portolan history ADDR`.
#[derive(clap::Args, Debug)]
#[command(after_help = HISTORY_EXAMPLES)]
pub struct HistoryArgs {
    /// The host's address.
    pub addr: IpAddr,
    #[command(flatten)]
    pub opts: StoreOpts,
}

pub fn run_history(args: HistoryArgs, style: Style) -> Result<ExitCode> {
    let outputs = args.opts.prepare()?;
    let mut store = args.opts.open()?;
    let h = store.history(args.addr)?;
    let render = |fmt: OutFormat, style: Style| match fmt {
        OutFormat::Json => doc(
            "history",
            json!({
                "addr": args.addr,
                "scans": h.iter().map(|x| json!({"scan": scan_json(&x.scan), "ports": x.ports}))
                    .collect::<Vec<_>>(),
            }),
        ),
        OutFormat::Table => {
            let mut o = String::new();
            if h.is_empty() {
                o.push_str(&format!("{}: in no stored scan\n", args.addr));
            }
            let mut prev: Option<&Vec<PortEvent>> = None;
            for x in &h {
                o.push_str(&style.bold(&format!(
                    "scan {} — {} UTC — {} {}\n",
                    x.scan.id,
                    format_utc(x.scan.started_at()),
                    x.scan.kind,
                    x.scan.status
                )));
                if x.ports.is_empty() {
                    o.push_str("  nothing but closed ports (or not reached)\n");
                }
                for p in &x.ports {
                    let mark = match prev {
                        Some(pv) => match pv.iter().find(|q| q.key() == p.key()) {
                            None => "+",
                            Some(q) if q.state != p.state || q.service != p.service => "~",
                            Some(_) => " ",
                        },
                        None => " ",
                    };
                    o.push_str(&format!("{mark}{}", &port_line(p)[1..]));
                }
                if let Some(pv) = prev {
                    for q in pv
                        .iter()
                        .filter(|q| !x.ports.iter().any(|p| p.key() == q.key()))
                    {
                        let pp = format!("{}/{}", q.port, q.proto);
                        o.push_str(&format!("- {pp:<11} {:<14} (was {})\n", "gone", q.state));
                    }
                }
                prev = Some(&x.ports);
            }
            o
        }
    };
    emit(outputs, args.opts.format(), style, render)?;
    Ok(ExitCode::SUCCESS)
}

const QUERY_EXAMPLES: &str = "\
Examples:
  portolan hosts --service redis --since 7d     hosts where redis was seen this week
  portolan hosts 10.0.0.0/24 --port 22
  portolan ports --product openssh --format json
  portolan hosts --service redis -o json=redis.json -o table=redis.txt
  portolan ports 10.0.0.5 --state open --since 2026-11-01 --until 2026-11-15";

/// Filters of `portolan hosts` and `portolan ports`.
#[derive(clap::Args, Debug)]
#[command(after_help = QUERY_EXAMPLES)]
pub struct QueryArgs {
    /// An address or a network (192.0.2.7, 192.0.2.0/24, 2001:db8::/64).
    #[arg(value_name = "ADDR|CIDR")]
    pub net: Option<String>,
    /// A port number.
    #[arg(long)]
    pub port: Option<u16>,
    /// tcp or udp.
    #[arg(long)]
    pub proto: Option<Protocol>,
    /// A service name (redis, ssh, http), exactly.
    #[arg(long)]
    pub service: Option<String>,
    /// A product, as a case-insensitive substring (openssh, nginx).
    #[arg(long)]
    pub product: Option<String>,
    /// A state: open, filtered, unfiltered, open|filtered, closed|filtered.
    #[arg(long)]
    pub state: Option<String>,
    /// Scans started since: an age (7d, 12h) or a UTC date (2026-11-01, 2026-11-01T08:00:00Z).
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Scans started until (same forms as --since).
    #[arg(long, value_name = "WHEN")]
    pub until: Option<String>,
    #[command(flatten)]
    pub opts: StoreOpts,
}

impl QueryArgs {
    fn filter(&self) -> Result<Filter> {
        let now = SystemTime::now();
        Ok(Filter {
            net: self.net.as_deref().map(str::parse).transpose()?,
            port: self.port,
            proto: self.proto,
            service: self.service.clone(),
            product: self.product.clone(),
            state: self
                .state
                .as_deref()
                .map(portolan_store::state_from_str)
                .transpose()?,
            since: self
                .since
                .as_deref()
                .map(|s| parse_when(s, now))
                .transpose()?,
            until: self
                .until
                .as_deref()
                .map(|s| parse_when(s, now))
                .transpose()?,
        })
    }
}

pub fn run_hosts(args: QueryArgs, style: Style) -> Result<ExitCode> {
    let outputs = args.opts.prepare()?;
    let mut store = args.opts.open()?;
    let hosts = store.hosts(&args.filter()?)?;
    let render = |fmt: OutFormat, style: Style| match fmt {
        OutFormat::Json => doc("hosts", json!({"hosts": hosts})),
        OutFormat::Table => {
            let mut o = style.bold(&format!(
                "{:<40} {:<20} {:<20} {:>5}  OPEN PORTS (latest scan)\n",
                "ADDRESS", "FIRST SEEN (UTC)", "LAST SEEN (UTC)", "SCAN"
            ));
            if hosts.is_empty() {
                o.push_str("(no host matches)\n");
            }
            for h in &hosts {
                let open = h
                    .open_ports
                    .iter()
                    .map(|(pr, p)| format!("{p}/{pr}"))
                    .collect::<Vec<_>>()
                    .join(",");
                let other = if h.other_ports > 0 {
                    format!(" (+{} not open)", h.other_ports)
                } else {
                    String::new()
                };
                o.push_str(&format!(
                    "{:<40} {:<20} {:<20} {:>5}  {open}{other}\n",
                    h.addr.to_string(),
                    format_utc(portolan_store_time(h.first_seen)),
                    format_utc(portolan_store_time(h.last_seen)),
                    h.last_scan
                ));
            }
            o
        }
    };
    emit(outputs, args.opts.format(), style, render)?;
    Ok(ExitCode::SUCCESS)
}

pub fn run_ports(args: QueryArgs, style: Style) -> Result<ExitCode> {
    let outputs = args.opts.prepare()?;
    let mut store = args.opts.open()?;
    let ports = store.ports(&args.filter()?)?;
    let render = |fmt: OutFormat, style: Style| match fmt {
        OutFormat::Json => doc("ports", json!({"ports": ports})),
        OutFormat::Table => {
            let mut o = style.bold(&format!(
                "{:<40} {:<11} {:<14} {:<16} {:<20} {:>5} {:>5}  VERSION\n",
                "ADDRESS", "PORT", "STATE", "SERVICE", "LAST SEEN (UTC)", "SCANS", "LAST"
            ));
            if ports.is_empty() {
                o.push_str("(no port matches)\n");
            }
            for p in &ports {
                let (svc, ver) = svc_cols(p.service.as_ref());
                o.push_str(
                    format!(
                        "{:<40} {:<11} {:<14} {svc:<16} {:<20} {:>5} {:>5}  {ver}",
                        p.addr.to_string(),
                        format!("{}/{}", p.port, p.proto),
                        p.state.as_str(),
                        format_utc(portolan_store_time(p.last_seen)),
                        p.scans,
                        p.last_scan
                    )
                    .trim_end(),
                );
                o.push('\n');
            }
            o
        }
    };
    emit(outputs, args.opts.format(), style, render)?;
    Ok(ExitCode::SUCCESS)
}

const IMPORT_EXAMPLES: &str = "\
Examples:
  portolan import nmap.xml                 nmap -oX output (with -sV services, CPEs, scripts)
  portolan import scan.jsonl               portolan scan -o jsonl=scan.jsonl
  portolan import masscan.json masscan.lst masscan -oJ and -oL output
  portolan import zmap.csv                 ZMap output written with -f saddr,sport,...
  portolan import --port 443 zmap.txt      ZMap's default output (addresses only): give the port
  portolan import a.xml b.xml --store postgres://scanner@db.internal/portolan

Each file becomes one stored scan; files stream (a file of any size is never read whole). The
format is recognised from the content: < is nmap XML; [ or an object whose first key is \"ip\"
masscan JSON; another object Portolan JSON Lines; #masscan or open/closed lines masscan's list;
a saddr header or IP addresses ZMap's CSV. Closed ports are counted, not stored. masscan and
ZMap files carry no command line: their stored targets are the tool and the file's name.";

/// `portolan import`.
#[derive(clap::Args, Debug)]
#[command(after_help = IMPORT_EXAMPLES)]
pub struct ImportArgs {
    /// Files to import (nmap XML, Portolan JSON Lines, masscan JSON or list, ZMap CSV).
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<std::path::PathBuf>,
    /// The port a ZMap file was scanned on, when its fields do not include sport (ZMap's
    /// default output lists the responding addresses only).
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
    /// The result store (created if needed): an SQLite file or a postgres:// URL; default:
    /// portolan.db in the user data directory.
    #[arg(long, value_name = "PATH|URL")]
    pub store: Option<String>,
    /// What to print on standard output.
    #[arg(long, value_enum, default_value = "table")]
    pub format: OutFormat,
    /// Same as --format json.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Also write FMT (one of the --format values) to PATH; repeatable. Each file is written
    /// to a temporary file beside PATH and renamed over PATH only once complete. A PATH alone
    /// is written as json.
    #[arg(short = 'o', long = "output", value_name = "FMT=PATH",
          value_parser = outfile::parse_spec::<OutFormat>)]
    pub output: Vec<OutputSpec<OutFormat>>,
}

/// A results file opened for reading, its format recognised from its first bytes. `shown` is
/// its name as messages show it.
pub fn open_results(
    f: &std::path::Path,
    shown: &str,
) -> Result<(
    portolan_store::import::ImportFormat,
    std::io::BufReader<std::fs::File>,
)> {
    use portolan_store::import::ImportFormat;
    use std::io::BufRead;
    let file =
        std::fs::File::open(f).with_context(|| format!("cannot open {shown}: check the path"))?;
    let mut r = std::io::BufReader::with_capacity(1 << 16, file);
    let head = r
        .fill_buf()
        .with_context(|| format!("cannot read {shown}"))?;
    let fmt = ImportFormat::sniff(head).with_context(|| {
        format!(
            "{shown}: not a format portolan imports or compares (nmap XML from nmap -oX, Portolan \
             JSON Lines from portolan scan -o jsonl=FILE, masscan -oJ or -oL, ZMap CSV)"
        )
    })?;
    Ok((fmt, r))
}

pub fn run_import(args: ImportArgs) -> Result<ExitCode> {
    use portolan_store::import::{import, ReadOptions};
    let mut done = Vec::new();
    let mut text = String::new();
    let opts = ReadOptions { port: args.port };
    let outputs = outfile::prepare(&args.output)?;
    for f in &args.files {
        let shown = escape(&f.display().to_string());
        let (fmt, r) = open_results(f, &shown)?;
        let store = Store::open(args.store.as_deref())?;
        let got = import(store, fmt, r, &shown, &opts)?;
        text.push_str(&format!(
            "imported {shown} ({}): scan {}, {} host{}, {} port{} stored ({} open)\n",
            fmt.describe(),
            got.scan_id,
            got.hosts,
            if got.hosts == 1 { "" } else { "s" },
            got.ports,
            if got.ports == 1 { "" } else { "s" },
            got.open
        ));
        done.push(json!({"file": f.display().to_string(), "format": fmt.describe(), "scan": got}));
    }
    let render = |fmt: OutFormat, _: Style| match fmt {
        OutFormat::Json => doc("import", json!({ "imported": done })),
        OutFormat::Table => text.clone(),
    };
    let stdout = if args.json {
        OutFormat::Json
    } else {
        args.format
    };
    emit(outputs, stdout, Style { enabled: false }, render)?;
    Ok(ExitCode::SUCCESS)
}
