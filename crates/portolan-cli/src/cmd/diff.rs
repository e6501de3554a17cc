//! `portolan diff`: what changed between two scans — stored scans, results files of any
//! format `portolan import` reads, or one of each — with ndiff's semantics
//! (`portolan_model::diff`: a port whose state, service or version changed is one change; a
//! host that came up, went down, appeared or vanished is one host change).
//!
//! A file is read record by record (`portolan_store::import::read`) into an index of its
//! listed ports and hosts: memory follows the number of ports listed, never the file's size.

use std::collections::hash_map::RandomState;
use std::collections::BTreeMap;
use std::io::BufRead;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use portolan_model::diff::{diff_hosts, diff_ports, host_index, port_index, HostDiff};
use portolan_model::{Change, PortDiff, PortEvent, PortKey, PortState, Service};
use portolan_store::import::same_hosts::{
    identical_hosts, index_hosts, HostIndex, Omit, OmitHosts,
};
use portolan_store::import::{read, ImportFormat, ReadOptions, Record};
use portolan_store::when::format_utc;
use portolan_store::{ScanInfo, Store};

use crate::cmd::outfile::{self, OutputSpec};
use crate::cmd::store::{open_results, StoreOpts, SCHEMA_VERSION};
use crate::term::{escape, print_out_unless_closed, Style};

const EXAMPLES: &str = "\
Each of OLD and NEW is a stored scan or a results file:
  57             the stored scan with that id (`portolan scans` lists them)
  latest         the latest stored scan
  FILE           nmap XML (-oX), Portolan JSON Lines, masscan -oJ or -oL, ZMap CSV: the format
                 is recognised from the content (a file named like a number: write ./57)

Examples:
  portolan diff                          the latest scan against the previous scan of the same targets
  portolan diff 57                       scan 57 against the previous scan of its targets
  portolan diff 41 57 --format json --fail-on-change     for cron and CI: exit 1 on any change
  portolan diff monday.xml tuesday.xml   two nmap XML files (no store is opened)
  portolan diff old.xml 57               a file against a stored scan
  portolan diff 57 scan.jsonl            a stored scan against a file
  portolan diff latest masscan.json      the latest stored scan against masscan's output
  portolan diff a.xml b.xml --format ndiff            the text layout of nmap's ndiff
  portolan diff a.xml b.xml --format xml -o json=diff.json   ndiff -xml's layout; JSON to a file

What changes: a port listed in one scan only, or listed in both with another state, service
name, product, version or extra info (one change per port, as ndiff counts); a host that is up
in one scan and down or absent in the other. Closed ports are not stored, so a port that closed
is reported as gone (closed ports listed in a file are read the same way). The previous scan of
the same targets: the latest earlier scan with the same targets (as given on the command line),
ports and kind. Files stream: memory follows the ports listed, not the file's size.
Exit status: 0, 1 with --fail-on-change when something changed, 2 error.";

/// Output formats of `portolan diff`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DiffFormat {
    Table,
    Json,
    /// nmap's ndiff text layout (`-`/`+` lines per host).
    Ndiff,
    /// nmap's `ndiff --xml` layout (`<nmapdiff><scandiff><hostdiff>...`).
    Xml,
}

/// `portolan diff`.
#[derive(clap::Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct DiffArgs {
    /// OLD then NEW: each a scan id, `latest`, or a results file. One: that stored scan
    /// against the previous of its targets; none: the latest scan against the previous of its
    /// targets.
    #[arg(value_name = "OLD NEW", num_args = 0..=2)]
    pub operands: Vec<String>,
    /// Exit with status 1 when something changed (0 when nothing did).
    #[arg(long)]
    pub fail_on_change: bool,
    /// The result store: an SQLite file or a postgres:// URL; default: portolan.db in the
    /// user data directory. Not opened when both operands are files.
    #[arg(long, value_name = "PATH|URL")]
    pub store: Option<String>,
    /// The port a ZMap file was scanned on, when its fields do not include sport.
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
    /// table (default), json, ndiff or xml.
    #[arg(long, value_enum, default_value = "table")]
    pub format: DiffFormat,
    /// The same as --format json.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Also write FMT (table, json, ndiff or xml) to PATH, replacing it only once complete;
    /// repeatable. A PATH alone is written as json.
    #[arg(short = 'o', long = "output", value_name = "FMT=PATH", value_parser = outfile::parse_spec::<DiffFormat>)]
    pub output: Vec<OutputSpec<DiffFormat>>,
}

/// One operand.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Operand {
    Id(i64),
    Latest,
    File(PathBuf),
}

fn operand(s: &str) -> Operand {
    if s == "latest" {
        Operand::Latest
    } else if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        match s.parse() {
            Ok(id) => Operand::Id(id),
            Err(_) => Operand::File(PathBuf::from(s)),
        }
    } else {
        Operand::File(PathBuf::from(s))
    }
}

/// What a side of the diff is, for headers.
struct Source {
    id: Option<i64>,
    file: Option<String>,
    format: Option<&'static str>,
    started: f64,
    status: String,
    kind: String,
    targets: String,
    ports: String,
    args: String,
    version: String,
    scanner: String,
}

/// One side: its ports (not closed) and hosts.
struct Side {
    src: Source,
    ports: BTreeMap<PortKey, PortEvent>,
    hosts: BTreeMap<IpAddr, bool>,
}

impl Source {
    fn stored(i: &ScanInfo) -> Source {
        Source {
            id: Some(i.id),
            file: None,
            format: None,
            started: i.started,
            status: i.status.clone(),
            kind: i.kind.clone(),
            targets: i.targets.clone(),
            ports: i.ports.clone(),
            args: i.args.clone(),
            version: i.version.clone(),
            scanner: i.scanner.clone(),
        }
    }
}

fn stored_side(store: &mut Store, i: &ScanInfo) -> Result<Side> {
    let r = store.scan(i.id)?;
    Ok(Side {
        src: Source::stored(i),
        ports: port_index(&r),
        hosts: host_index(&r),
    })
}

/// What ndiff compares of a service, and nothing more (no CPEs, scripts, exposures): the
/// index of a big file stays small.
fn slim(mut ev: PortEvent) -> PortEvent {
    ev.service = ev.service.map(|s| Service {
        name: s.name,
        product: s.product,
        version: s.version,
        extrainfo: s.extrainfo,
        tunnel: s.tunnel,
        ..Default::default()
    });
    ev
}

fn file_side(path: &Path, opts: &ReadOptions) -> Result<Side> {
    let shown = escape(&path.display().to_string());
    let (fmt, r) = open_results(path, &shown)?;
    read_side(path, fmt, r, opts)
}

/// The side of a results file of format `fmt`, read from `r`.
fn read_side(path: &Path, fmt: ImportFormat, r: impl BufRead, opts: &ReadOptions) -> Result<Side> {
    let shown = escape(&path.display().to_string());
    let mut side = Side {
        src: Source {
            id: None,
            file: Some(path.display().to_string()),
            format: Some(fmt.describe()),
            started: 0.0,
            status: "done".into(),
            kind: String::new(),
            targets: String::new(),
            ports: String::new(),
            args: String::new(),
            version: String::new(),
            scanner: String::new(),
        },
        ports: BTreeMap::new(),
        hosts: BTreeMap::new(),
    };
    let add = |side: &mut Side, ev: PortEvent| {
        if ev.state.proves_host_up() {
            side.hosts.insert(ev.addr, true);
        }
        if ev.state != PortState::Closed {
            side.ports.insert(ev.key(), slim(ev));
        }
    };
    read(fmt, r, &shown, opts, &mut |rec| {
        match rec {
            Record::Start(s) => {
                let src = &mut side.src;
                src.started = s
                    .time
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64());
                src.kind = s.scan_type;
                src.targets = s.args.clone();
                src.args = s.args;
                src.ports = s.ports;
                src.version = s.version;
                src.scanner = s.scanner;
            }
            Record::Host(h) => {
                side.hosts.insert(h.addr, h.up);
                for ev in h.ports {
                    add(&mut side, ev);
                }
            }
            Record::Port(ev, _) => add(&mut side, ev),
            Record::End { stats, .. } => {
                if stats.interrupted {
                    side.src.status = "interrupted".into();
                }
            }
        }
        Ok(())
    })
    .with_context(|| format!("cannot compare {shown}"))?;
    Ok(side)
}

/// `fa` and `fb` run on two threads; both results.
fn both<A: Send, B: Send>(
    fa: impl FnOnce() -> Result<A> + Send,
    fb: impl FnOnce() -> Result<B> + Send,
) -> Result<(A, B)> {
    std::thread::scope(|sc| {
        let other = sc.spawn(fb);
        let a = fa();
        let b = other
            .join()
            .map_err(|_| anyhow::anyhow!("internal error: the reader of a file panicked"))?;
        Ok((a?, b?))
    })
}

/// What tells that a file was not rewritten between two reads of it.
fn stamp(path: &Path) -> Option<(u64, std::time::SystemTime)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.len(), m.modified().ok()?))
}

/// Two nmap XML files (regular files: each is read twice), the fast way
/// (`portolan_store::import::same_hosts`): a first pass hashes every `<host>` element of each
/// file, the second parses only the hosts that are not the same in both. `None` when they are
/// not two such files, or not plain enough (then they are read whole).
fn two_nmap_files(x: &Path, y: &Path, opts: &ReadOptions) -> Result<Option<(Side, Side)>> {
    let plain = |p: &Path| -> Result<bool> {
        if !std::fs::metadata(p).is_ok_and(|m| m.is_file()) {
            return Ok(false);
        }
        let shown = escape(&p.display().to_string());
        Ok(open_results(p, &shown)?.0 == ImportFormat::NmapXml)
    };
    if !(plain(x)? && plain(y)?) {
        return Ok(None);
    }
    let (sx, sy) = (stamp(x), stamp(y));
    let hasher = RandomState::new();
    let index = |p: &Path| -> Result<Option<HostIndex>> {
        let shown = escape(&p.display().to_string());
        let f = std::fs::File::open(p).with_context(|| format!("cannot open {shown}"))?;
        index_hosts(f, &hasher).with_context(|| format!("cannot read {shown}"))
    };
    let (ix, iy) = both(|| index(x), || index(y))?;
    let (Some(ix), Some(iy)) = (ix, iy) else {
        return Ok(None);
    };
    let (ox, oy) = identical_hosts(&ix, &iy);
    let side = |p: &Path, omit: Omit| -> Result<Side> {
        let shown = escape(&p.display().to_string());
        let f = std::fs::File::open(p).with_context(|| format!("cannot open {shown}"))?;
        let r = std::io::BufReader::with_capacity(1 << 16, OmitHosts::new(f, omit));
        read_side(p, ImportFormat::NmapXml, r, opts)
    };
    let sides = both(|| side(x, ox), || side(y, oy))?;
    for (p, before) in [(x, sx), (y, sy)] {
        if stamp(p) != before || before.is_none() {
            bail!(
                "{} changed while it was read: compare it again once it is written",
                escape(&p.display().to_string())
            );
        }
    }
    Ok(Some(sides))
}

/// The JSON document, serialized straight from the diff (no `serde_json::Value` tree: a
/// diff of thousands of changes is written in a few milliseconds). Fields are in the order
/// of their names: the layout `serde_json::Value` gave, byte for byte.
#[derive(serde::Serialize)]
struct DiffJson<'a> {
    a: SourceJson<'a>,
    b: SourceJson<'a>,
    changed: bool,
    changes: Vec<ChangeJson<'a>>,
    hosts: Vec<HostJson>,
    kind: &'static str,
    schema_version: u32,
}

#[derive(serde::Serialize)]
struct SourceJson<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    format: Option<&'static str>,
    id: Option<i64>,
    ports: &'a str,
    scanner: &'a str,
    started: f64,
    status: &'a str,
    targets: &'a str,
}

#[derive(serde::Serialize)]
struct ChangeJson<'a> {
    addr: IpAddr,
    after: Option<StateJson<'a>>,
    before: Option<StateJson<'a>>,
    change: &'static str,
    port: u16,
    proto: portolan_model::Protocol,
}

#[derive(serde::Serialize)]
struct StateJson<'a> {
    extrainfo: Option<&'a str>,
    product: Option<&'a str>,
    reason: portolan_model::Reason,
    service: Option<&'a str>,
    state: PortState,
    version: Option<&'a str>,
}

#[derive(serde::Serialize)]
struct HostJson {
    addr: IpAddr,
    after: Option<&'static str>,
    before: Option<&'static str>,
}

fn up_str(s: Option<bool>) -> Option<&'static str> {
    s.map(|up| if up { "up" } else { "down" })
}

fn state_svc(e: &PortEvent) -> StateJson<'_> {
    let s = e.service.as_ref();
    StateJson {
        extrainfo: s.and_then(|s| s.extrainfo.as_deref()),
        product: s.and_then(|s| s.product.as_deref()),
        reason: e.reason,
        service: s.map(|s| s.name.as_str()),
        state: e.state,
        version: s.and_then(|s| s.version.as_deref()),
    }
}

fn change_json(d: &PortDiff) -> ChangeJson<'_> {
    let (kind, before, after) = match &d.change {
        Change::Added(e) => ("added", None, Some(e)),
        Change::Removed(e) => ("removed", Some(e), None),
        Change::Changed { before, after } => ("changed", Some(&**before), Some(&**after)),
    };
    ChangeJson {
        addr: d.key.addr,
        after: after.map(state_svc),
        before: before.map(state_svc),
        change: kind,
        port: d.key.port,
        proto: d.key.proto,
    }
}

fn source_json(s: &Source) -> SourceJson<'_> {
    let (file, format) = match (&s.file, s.format) {
        (Some(f), Some(fmt)) => (Some(f.as_str()), Some(fmt)),
        _ => (None, None),
    };
    SourceJson {
        file,
        format,
        id: s.id,
        ports: &s.ports,
        scanner: &s.scanner,
        started: s.started,
        status: &s.status,
        targets: &s.targets,
    }
}

fn json_doc(
    a: &Source,
    b: &Source,
    hosts: &[HostDiff],
    changes: &[PortDiff],
) -> serde_json::Result<String> {
    let doc = DiffJson {
        a: source_json(a),
        b: source_json(b),
        changed: !changes.is_empty() || !hosts.is_empty(),
        changes: changes.iter().map(change_json).collect(),
        hosts: hosts
            .iter()
            .map(|h| HostJson {
                addr: h.addr,
                after: up_str(h.after),
                before: up_str(h.before),
            })
            .collect(),
        kind: "diff",
        schema_version: SCHEMA_VERSION,
    };
    let mut out = serde_json::to_string(&doc)?;
    out.push('\n');
    Ok(out)
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

fn started(s: &Source) -> String {
    format_utc(std::time::UNIX_EPOCH + std::time::Duration::from_secs_f64(s.started.max(0.0)))
}

fn header(s: &Source) -> String {
    match (&s.file, s.id) {
        (Some(f), _) => format!(
            "file {} ({}, {}, {} UTC, {}): {}",
            escape(f),
            s.format.unwrap_or(""),
            escape(&s.scanner),
            started(s),
            s.status,
            escape(&s.args)
        ),
        (None, id) => format!(
            "scan {} ({} UTC, {}, {}): {} -p {}",
            id.unwrap_or(0),
            started(s),
            escape(&s.kind),
            s.status,
            escape(&s.targets),
            escape(&s.ports)
        ),
    }
}

/// The changes of one host: its status change (if any) and its port changes, in address
/// order.
struct HostChanges<'a> {
    addr: IpAddr,
    status: Option<&'a HostDiff>,
    ports: &'a [PortDiff],
}

fn by_host<'a>(hosts: &'a [HostDiff], ports: &'a [PortDiff]) -> Vec<HostChanges<'a>> {
    let mut out: Vec<HostChanges<'a>> = Vec::new();
    let (mut hi, mut pi) = (0usize, 0usize);
    while hi < hosts.len() || pi < ports.len() {
        let addr = match (hosts.get(hi), ports.get(pi)) {
            (Some(h), Some(p)) => h.addr.min(p.key.addr),
            (Some(h), None) => h.addr,
            (None, Some(p)) => p.key.addr,
            (None, None) => break,
        };
        let status = hosts.get(hi).filter(|h| h.addr == addr);
        if status.is_some() {
            hi += 1;
        }
        let from = pi;
        while ports.get(pi).is_some_and(|p| p.key.addr == addr) {
            pi += 1;
        }
        out.push(HostChanges {
            addr,
            status,
            ports: &ports[from..pi],
        });
    }
    out
}

fn host_status_text(h: &HostDiff) -> String {
    let st = |s: Option<bool>| match s {
        None => "not listed",
        Some(true) => "up",
        Some(false) => "down",
    };
    format!("host {} (was {})", st(h.after), st(h.before))
}

fn table(a: &Source, b: &Source, hosts: &[HostDiff], changes: &[PortDiff], style: Style) -> String {
    let mut o = format!("- {}\n+ {}\n\n", header(a), header(b));
    if changes.is_empty() && hosts.is_empty() {
        o.push_str("no change\n");
        return o;
    }
    for hc in by_host(hosts, changes) {
        let status = hc
            .status
            .map(|h| format!("  {}", host_status_text(h)))
            .unwrap_or_default();
        o.push_str(&style.bold(&format!("{}{status}\n", hc.addr)));
        for d in hc.ports {
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
    }
    let n = |k: fn(&Change) -> bool| changes.iter().filter(|d| k(&d.change)).count();
    o.push_str(&format!(
        "\n{} change{}: {} new, {} gone, {} changed",
        changes.len(),
        if changes.len() == 1 { "" } else { "s" },
        n(|c| matches!(c, Change::Added(_))),
        n(|c| matches!(c, Change::Removed(_))),
        n(|c| matches!(c, Change::Changed { .. })),
    ));
    if !hosts.is_empty() {
        o.push_str(&format!(
            "; {} host{} changed status",
            hosts.len(),
            if hosts.len() == 1 { "" } else { "s" }
        ));
    }
    o.push('\n');
    o
}

/// nmap ndiff's text layout: the two scans' headers, then per host with changes a ` ADDR:`
/// line (`-ADDR:`/`+ADDR:` for a host in one scan only), `-Host is up.`/`+Host is down.`
/// lines for a status change, the ` PORT STATE SERVICE VERSION` header, and `-`/`+` port
/// lines.
fn ndiff(a: &Source, b: &Source, hosts: &[HostDiff], changes: &[PortDiff]) -> String {
    let line = |s: &Source| {
        let tool = match s.scanner.as_str() {
            "" | "portolan" => "Portolan".to_string(),
            "nmap" => "Nmap".to_string(),
            t => escape(t),
        };
        let version = if s.version.is_empty() {
            String::new()
        } else {
            format!(" {}", escape(&s.version))
        };
        format!(
            "{tool}{version} scan initiated {} UTC as: {}",
            started(s),
            escape(&s.args)
        )
    };
    let mut o = format!("-{}\n+{}\n", line(a), line(b));
    for hc in by_host(hosts, changes) {
        let (mark, before, after) = match hc.status {
            Some(h) if h.before.is_none() => ("+", None, h.after),
            Some(h) if h.after.is_none() => ("-", h.before, None),
            Some(h) => (" ", h.before, h.after),
            None => (" ", None, None),
        };
        o.push_str(&format!("\n{mark}{}:\n", hc.addr));
        let up = |s: bool| if s { "up" } else { "down" };
        if let Some(s) = before {
            o.push_str(&format!("-Host is {}.\n", up(s)));
        }
        if let Some(s) = after {
            o.push_str(&format!("+Host is {}.\n", up(s)));
        }
        if hc.ports.is_empty() {
            continue;
        }
        o.push_str(&format!(
            "{mark}PORT        STATE          SERVICE          VERSION\n"
        ));
        for d in hc.ports {
            match &d.change {
                Change::Added(e) => o.push_str(&format!("+{}\n", port_text(e))),
                Change::Removed(e) => o.push_str(&format!("-{}\n", port_text(e))),
                Change::Changed { before, after } => {
                    o.push_str(&format!("-{}\n+{}\n", port_text(before), port_text(after)));
                }
            }
        }
    }
    o
}

/// XML attribute text.
fn xa(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => o.push(c),
        }
    }
    o
}

fn service_xml(e: &PortEvent) -> String {
    let Some(s) = &e.service else {
        return String::new();
    };
    let mut o = format!("<service name=\"{}\"", xa(&s.name));
    for (k, v) in [
        ("product", &s.product),
        ("version", &s.version),
        ("extrainfo", &s.extrainfo),
        ("tunnel", &s.tunnel),
    ] {
        if let Some(v) = v {
            o.push_str(&format!(" {k}=\"{}\"", xa(v)));
        }
    }
    o.push_str("/>");
    o
}

fn port_xml(key: &PortKey, e: Option<&PortEvent>) -> String {
    let state = e
        .map(|e| format!("<state state=\"{}\"/>", e.state.as_str()))
        .unwrap_or_default();
    format!(
        "<port portid=\"{}\" protocol=\"{}\">{state}{}</port>",
        key.port,
        key.proto,
        e.map(service_xml).unwrap_or_default()
    )
}

fn addr_xml(a: IpAddr) -> String {
    let t = if a.is_ipv4() { "ipv4" } else { "ipv6" };
    format!("<address addr=\"{a}\" addrtype=\"{t}\"/>")
}

fn status_xml(up: bool) -> String {
    format!("<status state=\"{}\"/>", if up { "up" } else { "down" })
}

/// nmap's `ndiff --xml` layout: `<portdiff>` per changed port (`<a>`/`<b>` around what
/// differs), a host listed in one scan only in `<a>` or `<b>` whole.
fn xml(a: &Source, b: &Source, hosts: &[HostDiff], changes: &[PortDiff]) -> String {
    let run = |s: &Source| {
        format!(
            "<nmaprun scanner=\"{}\" args=\"{}\" start=\"{}\" version=\"{}\"/>",
            xa(&s.scanner),
            xa(&s.args),
            s.started as u64,
            xa(&s.version)
        )
    };
    let mut o = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<nmapdiff version=\"1\">\n<scandiff>\n",
    );
    o.push_str(&format!("<a>{}</a><b>{}</b>\n", run(a), run(b)));
    for hc in by_host(hosts, changes) {
        o.push_str("<hostdiff>");
        let whole = |side: &str, up: bool, pick: fn(&Change) -> Option<&PortEvent>| {
            let mut s = format!(
                "<{side}><host>{}{}<ports>",
                status_xml(up),
                addr_xml(hc.addr)
            );
            for d in hc.ports {
                if let Some(e) = pick(&d.change) {
                    s.push_str(&port_xml(&d.key, Some(e)));
                }
            }
            s.push_str(&format!("</ports></host></{side}>"));
            s
        };
        match hc.status {
            Some(HostDiff {
                before: None,
                after: Some(up),
                ..
            }) => o.push_str(&whole("b", *up, |c| match c {
                Change::Added(e) => Some(e),
                Change::Changed { after, .. } => Some(after),
                Change::Removed(_) => None,
            })),
            Some(HostDiff {
                before: Some(up),
                after: None,
                ..
            }) => o.push_str(&whole("a", *up, |c| match c {
                Change::Removed(e) => Some(e),
                Change::Changed { before, .. } => Some(before),
                Change::Added(_) => None,
            })),
            status => {
                o.push_str("<host>");
                if let Some(HostDiff {
                    before: Some(x),
                    after: Some(y),
                    ..
                }) = status
                {
                    o.push_str(&format!(
                        "<a>{}</a><b>{}</b>",
                        status_xml(*x),
                        status_xml(*y)
                    ));
                }
                o.push_str(&addr_xml(hc.addr));
                if !hc.ports.is_empty() {
                    o.push_str("<ports>");
                    for d in hc.ports {
                        o.push_str("<portdiff>");
                        match &d.change {
                            Change::Changed { before, after } if before.state == after.state => {
                                o.push_str(&format!(
                                    "<port portid=\"{}\" protocol=\"{}\"><state state=\"{}\"/><a>{}</a><b>{}</b></port>",
                                    d.key.port,
                                    d.key.proto,
                                    after.state.as_str(),
                                    service_xml(before),
                                    service_xml(after)
                                ));
                            }
                            c => {
                                let (x, y) = match c {
                                    Change::Added(e) => (None, Some(e)),
                                    Change::Removed(e) => (Some(e), None),
                                    Change::Changed { before, after } => {
                                        (Some(&**before), Some(&**after))
                                    }
                                };
                                o.push_str(&format!(
                                    "<a>{}</a><b>{}</b>",
                                    port_xml(&d.key, x),
                                    port_xml(&d.key, y)
                                ));
                            }
                        }
                        o.push_str("</portdiff>");
                    }
                    o.push_str("</ports>");
                }
                o.push_str("</host>");
            }
        }
        o.push_str("</hostdiff>\n");
    }
    o.push_str("</scandiff>\n</nmapdiff>\n");
    o
}

fn render(
    fmt: DiffFormat,
    a: &Source,
    b: &Source,
    hosts: &[HostDiff],
    changes: &[PortDiff],
    style: Style,
) -> Result<String> {
    Ok(match fmt {
        DiffFormat::Json => json_doc(a, b, hosts, changes)
            .context("internal error: the diff could not be written as JSON")?,
        DiffFormat::Table => table(a, b, hosts, changes, style),
        DiffFormat::Ndiff => ndiff(a, b, hosts, changes),
        DiffFormat::Xml => xml(a, b, hosts, changes),
    })
}

pub fn run(args: DiffArgs, style: Style) -> Result<ExitCode> {
    let ops: Vec<Operand> = args.operands.iter().map(|s| operand(s)).collect();
    if let [Operand::File(f)] = ops.as_slice() {
        let f = escape(&f.display().to_string());
        bail!(
            "one file alone: give what to compare {f} with, e.g. `portolan diff latest {f}` or \
             `portolan diff old.xml {f}`"
        );
    }
    let outputs = outfile::prepare(&args.output)?;
    let opts = ReadOptions { port: args.port };
    let needs_store = ops.len() < 2 || ops.iter().any(|o| !matches!(o, Operand::File(_)));
    let mut store = if needs_store {
        let o = StoreOpts {
            store: args.store.clone(),
            format: crate::cmd::store::OutFormat::Table,
            json: false,
            output: Vec::new(),
        };
        let opened = o.open();
        let numbered_file = ops.iter().find_map(|op| match op {
            Operand::Id(id) if Path::new(&id.to_string()).exists() => Some(*id),
            _ => None,
        });
        Some(match (opened, numbered_file) {
            (Ok(s), _) => s,
            (Err(e), Some(id)) => {
                return Err(e.context(format!(
                    "{id} is read as a scan id; to compare the file of that name, write ./{id}"
                )))
            }
            (Err(e), None) => return Err(e),
        })
    } else {
        None
    };
    let previous_of = |store: &mut Store, id: i64| -> Result<ScanInfo> {
        match store.previous_scan(id)? {
            Some(p) => Ok(p),
            None => bail!(
                "scan {id} is the first stored scan of its targets: nothing to compare it with; \
                 give two ids (`portolan scans` lists them) or a file"
            ),
        }
    };
    let latest = |store: &mut Store| -> Result<ScanInfo> { Ok(store.scan_or_latest(None)?) };
    let stored = |store: &mut Store, id: i64| -> Result<ScanInfo> {
        store.scan_info(id).with_context(|| {
            if Path::new(&id.to_string()).exists() {
                format!("{id} is read as a scan id; to compare the file of that name, write ./{id}")
            } else {
                "`portolan scans` lists the stored scans".to_string()
            }
        })
    };
    let (a, b) = match (ops.as_slice(), store.as_mut()) {
        ([], Some(s)) => {
            let b = latest(s)?;
            let a = previous_of(s, b.id)?;
            (stored_side(s, &a)?, stored_side(s, &b)?)
        }
        ([one], Some(s)) => {
            let b = match one {
                Operand::Latest => latest(s)?,
                Operand::Id(id) => stored(s, *id)?,
                Operand::File(_) => unreachable_file()?,
            };
            let a = previous_of(s, b.id)?;
            (stored_side(s, &a)?, stored_side(s, &b)?)
        }
        ([Operand::File(x), Operand::File(y)], _) => match two_nmap_files(x, y, &opts)? {
            Some(sides) => sides,
            // Two files: each read on its own thread (they share nothing).
            None => both(|| file_side(x, &opts), || file_side(y, &opts))?,
        },
        ([x, y, ..], mut s) => {
            let mut side = |o: &Operand| -> Result<Side> {
                match (o, s.as_deref_mut()) {
                    (Operand::File(f), _) => file_side(f, &opts),
                    (Operand::Latest, Some(s)) => {
                        let i = latest(s)?;
                        stored_side(s, &i)
                    }
                    (Operand::Id(id), Some(s)) => {
                        let i = stored(s, *id)?;
                        stored_side(s, &i)
                    }
                    (_, None) => unreachable_file(),
                }
            };
            (side(x)?, side(y)?)
        }
        (_, None) => unreachable_file()?,
    };
    let changes = diff_ports(a.ports, b.ports);
    let hosts = diff_hosts(&a.hosts, &b.hosts);
    let fmt = if args.json {
        DiffFormat::Json
    } else {
        args.format
    };
    for p in outputs {
        let text = render(
            p.format,
            &a.src,
            &b.src,
            &hosts,
            &changes,
            Style { enabled: false },
        )?;
        p.commit(text.as_bytes())?;
    }
    print_out_unless_closed(&render(fmt, &a.src, &b.src, &hosts, &changes, style)?)?;
    Ok(
        if args.fail_on_change && (!changes.is_empty() || !hosts.is_empty()) {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        },
    )
}

/// The store is opened whenever an operand is not a file: a side that needs it has it.
fn unreachable_file<T>() -> Result<T> {
    bail!("internal error: a stored scan was asked for without a store")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSON layout before it was serialized straight from the diff: a `serde_json::Value`
    /// tree (keys in name order). The new writer must give the same bytes.
    fn json_as_value(a: &Source, b: &Source, hosts: &[HostDiff], changes: &[PortDiff]) -> String {
        use serde_json::json;
        let up = |s: Option<bool>| match s {
            None => serde_json::Value::Null,
            Some(true) => json!("up"),
            Some(false) => json!("down"),
        };
        let st = |e: &PortEvent| {
            let s = e.service.as_ref();
            json!({
                "state": e.state, "reason": e.reason, "service": s.map(|s| &s.name),
                "product": s.and_then(|s| s.product.as_ref()),
                "version": s.and_then(|s| s.version.as_ref()),
                "extrainfo": s.and_then(|s| s.extrainfo.as_ref()),
            })
        };
        let src = |s: &Source| {
            let mut v = json!({
                "id": s.id, "started": s.started, "status": s.status, "targets": s.targets,
                "ports": s.ports, "scanner": s.scanner,
            });
            if let (Some(f), Some(fmt)) = (&s.file, s.format) {
                v["file"] = json!(f);
                v["format"] = json!(fmt);
            }
            v
        };
        let ch = |d: &PortDiff| {
            let (kind, before, after) = match &d.change {
                Change::Added(e) => ("added", None, Some(e)),
                Change::Removed(e) => ("removed", Some(e), None),
                Change::Changed { before, after } => ("changed", Some(&**before), Some(&**after)),
            };
            json!({
                "addr": d.key.addr, "proto": d.key.proto, "port": d.key.port, "change": kind,
                "before": before.map(st), "after": after.map(st),
            })
        };
        format!(
            "{}\n",
            json!({
                "schema_version": SCHEMA_VERSION, "kind": "diff", "a": src(a), "b": src(b),
                "changed": !changes.is_empty() || !hosts.is_empty(),
                "changes": changes.iter().map(ch).collect::<Vec<_>>(),
                "hosts": hosts.iter().map(|h| json!({
                    "addr": h.addr, "before": up(h.before), "after": up(h.after),
                })).collect::<Vec<_>>(),
            })
        )
    }

    #[test]
    fn json_is_the_layout_it_always_was() {
        let src = |id: Option<i64>, file: Option<&str>, started: f64| Source {
            id,
            file: file.map(str::to_string),
            format: file.map(|_| "nmap XML"),
            started,
            status: "done".into(),
            kind: "syn".into(),
            targets: "nmap -sV \"10.0.0.0/8\" \u{1b}[2J".into(),
            ports: "1-1000".into(),
            args: "nmap".into(),
            version: "7.93".into(),
            scanner: "nmap".into(),
        };
        let ev = |addr: &str, port: u16, state: PortState, svc: Option<Service>| PortEvent {
            addr: addr.parse().unwrap(),
            port,
            proto: portolan_model::Protocol::Tcp,
            state,
            reason: portolan_model::Reason::SynAck,
            rtt: None,
            ttl: None,
            service: svc,
        };
        let ssh = |v: &str| Service {
            name: "ssh".into(),
            product: Some("OpenSSH".into()),
            version: Some(v.into()),
            extrainfo: Some("protocol \"2.0\"".into()),
            ..Default::default()
        };
        let changes = [
            PortDiff {
                key: ev("10.0.0.1", 80, PortState::Open, None).key(),
                change: Change::Removed(ev("10.0.0.1", 80, PortState::Open, None)),
            },
            PortDiff {
                key: ev("10.0.0.2", 22, PortState::Open, None).key(),
                change: Change::Changed {
                    before: Box::new(ev("10.0.0.2", 22, PortState::Open, Some(ssh("9.2p1")))),
                    after: Box::new(ev("10.0.0.2", 22, PortState::Filtered, Some(ssh("9.6p1")))),
                },
            },
            PortDiff {
                key: ev("::1", 9200, PortState::Open, None).key(),
                change: Change::Added(ev(
                    "::1",
                    9200,
                    PortState::Open,
                    Some(Service {
                        name: "http".into(),
                        ..Default::default()
                    }),
                )),
            },
        ];
        let hosts = [
            HostDiff {
                addr: "10.0.0.3".parse().unwrap(),
                before: Some(true),
                after: None,
            },
            HostDiff {
                addr: "10.0.0.4".parse().unwrap(),
                before: Some(false),
                after: Some(true),
            },
            HostDiff {
                addr: "10.0.0.5".parse().unwrap(),
                before: None,
                after: Some(false),
            },
        ];
        for (a, b) in [
            (
                src(None, Some("a.xml"), 1795900000.0),
                src(None, Some("b \"x\".xml"), 0.5),
            ),
            (src(Some(41), None, 1.0), src(Some(57), None, f64::NAN)),
        ] {
            for (h, c) in [(&hosts[..], &changes[..]), (&[][..], &[][..])] {
                assert_eq!(json_doc(&a, &b, h, c).unwrap(), json_as_value(&a, &b, h, c));
            }
        }
    }

    #[test]
    fn operands() {
        assert_eq!(operand("57"), Operand::Id(57));
        assert_eq!(operand("latest"), Operand::Latest);
        assert_eq!(operand("./57"), Operand::File(PathBuf::from("./57")));
        assert_eq!(operand("a.xml"), Operand::File(PathBuf::from("a.xml")));
        assert_eq!(
            operand("99999999999999999999999"),
            Operand::File(PathBuf::from("99999999999999999999999"))
        );
    }
}
