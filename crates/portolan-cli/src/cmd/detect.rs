//! `portolan detect`: port scans, sweeps and SYN floods, from captures or live traffic.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use portolan_detect::alert::{format_timestamp, Action, Alert};
use portolan_detect::config::{Config, Sensitivity};
use portolan_detect::detect::Detector;
use portolan_detect::source;
use portolan_model::Stop;
use portolan_registry::risk::Severity;

use crate::term::{escape, Style};

const EXAMPLES: &str = "\
Examples:
  portolan detect capture.pcapng                 alerts and a summary on the terminal
  portolan detect capture.pcap.gz --format json  EVE JSON lines (docs/schema/detect-eve.md)
  portolan detect /var/log/pcaps/                every capture of a directory, in rotation order
  tcpdump -i eth0 -w - | portolan detect -       a stream on standard input
  portolan detect -i eth0                        live capture (root or CAP_NET_RAW)
  portolan detect -i eth0 --filter 'not port 22' live, with a BPF filter (compiled by tcpdump)
  portolan detect -i eth0 -o /var/log/eve.json   summary on screen, EVE appended to a log
  portolan detect cap.pcap -o json=a.json -o table=r.txt   whole reports, written on success
  portolan detect cap.pcap --fail-on high        exit 1 on a flood or a distributed scan
  portolan detect cap.pcap --sensitivity high --allow 192.0.2.10/32
  portolan detect --print-config > detect.toml   the defaults, to edit; then --config detect.toml
  portolan detect -i eth0 --new-sources-since 1d alert only on sources no run alerted on in a day
  portolan alerts --since 7d                     the alerts saved in the result store
  portolan detect -i eth0 --block                ban scanners in the kernel at once, for 1h (IPS)
  portolan detect -i eth0 --block --block-for 10m --allow 10.0.0.0/24 --dry-run
  portolan detect -i eth0 --block --block-prefix 24 --block-state /var/lib/portolan/bans.json
  portolan detect -i eth0 --block --tripwire-after 10 --allow 192.0.2.53/32   kernel tripwire at 10
  portolan detect -i eth0 --block --no-tripwire  only the detector's alerts ban
  portolan detect -i eth0 --block --policy policy.yaml   the policy's admin zones are never banned
  portolan detect -i eth0 --block --syn-flood-limit 500  a flooded service: 500 new connections/s

With --block, a kernel tripwire bans an address at its 5th distinct closed port answered (TCP
RST, ICMP port unreachable; open ports are never counted), before any alert: see
docs/detect.md. A forged source address can get that address banned: --allow your gateways,
resolvers and management networks.

Outputs: --format table (default; alias text) or json (alias eve: one EVE JSON object per line,
each with \"schema_version\"). -o FMT=PATH writes that format to PATH through a temporary file
renamed when the run succeeds (an error never truncates an earlier file); repeatable. -o PATH
without FMT= appends EVE lines to PATH as alerts happen: a log, as Suricata's eve.json.

Store: alerts are saved as they come to the result store (SQLite, under $PORTOLAN_DATA_DIR, else
$XDG_DATA_HOME/portolan, else ~/.local/share/portolan); --store PATH|URL chooses another SQLite
file or a PostgreSQL database, --no-store saves nothing. `portolan alerts` lists them.

Severity of alerts: SYN floods and distributed scans are high, port scans and sweeps medium.

Exit status: 0 when the input was read to the end (and, with --fail-on, no alert at or above it),
1 when an alert reached --fail-on, 2 on an error (a truncated or corrupt capture still prints the
alerts found before the error; a capture of which nothing could be decoded is an error).";

/// How alerts are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One readable line per alert, then a summary.
    #[value(alias = "text")]
    Table,
    /// Suricata-EVE-shaped JSON, one alert per line (each with "schema_version").
    #[value(alias = "eve")]
    Json,
}

impl Format {
    fn parse_name(s: &str) -> Option<Format> {
        match s {
            "table" | "text" => Some(Format::Table),
            "json" | "eve" => Some(Format::Json),
            _ => None,
        }
    }
}

/// One `-o` argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutputSpec {
    /// `-o FMT=PATH`: the whole report in this format, renamed into place on success.
    Whole(Format, PathBuf),
    /// `-o PATH`: EVE lines appended as alerts happen (a log).
    AppendEve(PathBuf),
}

impl OutputSpec {
    fn path(&self) -> &std::path::Path {
        match self {
            OutputSpec::Whole(_, p) | OutputSpec::AppendEve(p) => p,
        }
    }
}

fn parse_output(s: &str) -> Result<OutputSpec, String> {
    if let Some((fmt, path)) = s.split_once('=') {
        if let Some(f) = Format::parse_name(fmt) {
            if path.is_empty() {
                return Err(format!("-o {fmt}=: give a file name after ="));
            }
            return Ok(OutputSpec::Whole(f, PathBuf::from(path)));
        }
    }
    if s.is_empty() {
        return Err("-o: give a file name (or FMT=PATH, FMT being table or json)".into());
    }
    Ok(OutputSpec::AppendEve(PathBuf::from(s)))
}

/// The severity of an alert on portolan's scale (what --fail-on compares).
fn alert_severity(a: &Alert) -> Severity {
    match a.severity_name() {
        "high" => Severity::High,
        "low" => Severity::Low,
        _ => Severity::Medium,
    }
}

/// Sensitivity level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Level {
    Low,
    Medium,
    High,
}

/// Arguments of `portolan detect`.
#[derive(clap::Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct DetectArgs {
    /// Captures to read: pcap or pcapng files (gzip-compressed too), directories of rotated
    /// captures (read in natural name order), or - for standard input.
    #[arg(value_name = "CAPTURE")]
    pub inputs: Vec<PathBuf>,

    /// Capture live on this interface (Linux AF_PACKET; "any" for all interfaces).
    #[arg(short = 'i', long, conflicts_with = "inputs")]
    pub interface: Option<String>,

    /// BPF filter for live capture, in tcpdump syntax (compiled with `tcpdump -ddd`), or
    /// @FILE holding `tcpdump -dd`/`-ddd` output.
    #[arg(long, requires = "interface")]
    pub filter: Option<String>,

    /// Stop live capture after this many packets.
    #[arg(long, requires = "interface")]
    pub count: Option<u64>,

    /// Stop live capture after this many seconds.
    #[arg(long, requires = "interface")]
    pub duration: Option<f64>,

    /// Configuration file (TOML); see --print-config for every key and its default.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Sensitivity preset (overrides the file's `sensitivity`, keeps its other keys).
    #[arg(long, value_enum)]
    pub sensitivity: Option<Level>,

    /// Never report this source (address or network, repeatable): your own scanners.
    #[arg(long, value_name = "CIDR")]
    pub allow: Vec<String>,

    /// Output format on standard output: table (alias text) or json (alias eve).
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,

    /// Alias of --format json.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,

    /// FMT=PATH: also write the report in FMT (table, json) to PATH, through a temporary file
    /// renamed on success; repeatable. PATH alone: append EVE JSON lines to PATH as alerts
    /// happen (a log).
    #[arg(short = 'o', long, value_name = "[FMT=]PATH", value_parser = parse_output)]
    pub output: Vec<OutputSpec>,

    /// Exit with status 1 when an alert has this severity or a higher one: info, low, medium,
    /// high, critical (floods and distributed scans are high, scans medium).
    #[arg(long, value_name = "SEVERITY", value_parser = crate::cmd::outfile::parse_severity)]
    pub fail_on: Option<Severity>,

    /// Print the effective configuration as TOML and exit.
    #[arg(long)]
    pub print_config: bool,

    /// Save the alerts to this result store instead of the default one (portolan.db in
    /// $PORTOLAN_DATA_DIR, else $XDG_DATA_HOME/portolan, else ~/.local/share/portolan): an
    /// SQLite file or a postgres:// URL. `portolan alerts` lists what was saved.
    #[arg(long, value_name = "PATH|URL", conflicts_with = "no_store")]
    pub store: Option<String>,

    /// Do not save the alerts to the result store.
    #[arg(long)]
    pub no_store: bool,

    /// Alert only on sources that no run alerted on in this long (an age: 30m, 12h, 7d), by
    /// the alerts kept in the store: a scanner already reported stays quiet. The alerts left
    /// out are counted on standard error.
    #[arg(long, value_name = "AGE", conflicts_with = "no_store")]
    pub new_sources_since: Option<String>,
    /// IPS: --block and its options (crate portolan-block; `portolan block` lists the bans).
    #[command(flatten)]
    pub ips: crate::cmd::block::DetectBlockOpts,
}

/// Largest configuration file read (`--config`).
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// A library error as a message whose outside text (file names) is escaped for the terminal.
fn escaped(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("{}", escape(&e.to_string()))
}

fn load_config(args: &DetectArgs) -> Result<Config> {
    let text = match &args.config {
        Some(p) => Some(
            source::read_text_capped(p, MAX_CONFIG_BYTES)
                .map_err(|e| escaped(format!("--config: {e}")))?,
        ),
        None => None,
    };
    let level = args.sensitivity.map(|level| match level {
        Level::Low => Sensitivity::Low,
        Level::Medium => Sensitivity::Medium,
        Level::High => Sensitivity::High,
    });
    // The file's explicit keys win over the --sensitivity preset they are applied to.
    let mut cfg = Config::from_toml_with(text.as_deref().unwrap_or(""), level).map_err(|e| {
        let file = args.config.as_ref().map(|p| p.display().to_string());
        escaped(format!("{e} (in {})", file.unwrap_or_default()))
    })?;
    for a in &args.allow {
        cfg.allow.push(a.parse()?);
    }
    Ok(cfg)
}

/// Flags that only mean something for live capture are errors with capture files (they would
/// do nothing, silently).
fn check_live_only_flags(args: &DetectArgs) -> Result<()> {
    if args.interface.is_some() {
        return Ok(());
    }
    let given: Vec<&str> = [
        (args.filter.is_some(), "--filter"),
        (args.count.is_some(), "--count"),
        (args.duration.is_some(), "--duration"),
        (args.ips.block, "--block"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, name)| *name)
    .collect();
    if !given.is_empty() {
        bail!(
            "{} {} only to live capture (--interface IF); to filter a capture file, run it \
             through tcpdump first: tcpdump -r FILE -w - 'EXPR' | portolan detect -",
            given.join(", "),
            if given.len() == 1 { "applies" } else { "apply" }
        );
    }
    Ok(())
}

/// A capture error as a message with the file name escaped, each cause said once.
fn capture_error(e: source::CaptureError) -> anyhow::Error {
    match e {
        source::CaptureError::Open { path, source } => {
            escaped(format!("cannot read {}: {source}", path.display()))
        }
        source::CaptureError::InFile { path, source } => {
            escaped(format!("{}: {source}", path.display()))
        }
        e => escaped(e),
    }
}

/// Where one format goes.
struct Sink {
    format: Format,
    style: Style,
    w: Box<dyn Write>,
}

/// A `-o FMT=PATH` output: written to a temporary file, renamed over PATH on success.
struct WholeFile {
    tmp: tempfile::NamedTempFile,
    path: PathBuf,
}

struct Printer {
    /// Standard output first, then one sink per `-o FMT=PATH`.
    sinks: Vec<Sink>,
    whole: Vec<WholeFile>,
    eve_log: Vec<(PathBuf, BufWriter<File>)>,
    alerts: Vec<Alert>,
    worst: Option<Severity>,
    /// The result store the alerts are saved to (`--store`, `--no-store`).
    store: Option<super::records::AlertStore>,
}

/// Alerts kept for the summary (the rest are only counted).
const SUMMARY_KEEP: usize = 10_000;

impl Printer {
    /// Open every output before the first packet: a missing directory, or two outputs on one
    /// path, is an error now, not after the capture was read.
    fn new(format: Format, style: Style, outputs: &[OutputSpec]) -> Result<Printer> {
        let mut seen: Vec<PathBuf> = Vec::new();
        for o in outputs {
            let p = o.path().to_path_buf();
            let dir = match p.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => std::path::Path::new("."),
            };
            let canon = dir
                .canonicalize()
                .ok()
                .and_then(|d| p.file_name().map(|n| d.join(n)))
                .unwrap_or(p.clone());
            if seen.contains(&canon) {
                bail!(
                    "-o {} is given twice: each output needs its own file",
                    escape(&p.display().to_string())
                );
            }
            seen.push(canon);
        }
        let mut sinks = vec![Sink {
            format,
            style,
            w: Box::new(BufWriter::new(std::io::stdout())),
        }];
        let mut whole = Vec::new();
        let mut eve_log = Vec::new();
        for o in outputs {
            match o {
                OutputSpec::Whole(f, path) => {
                    let dir = match path.parent() {
                        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                        _ => PathBuf::from("."),
                    };
                    let mut builder = tempfile::Builder::new();
                    builder.prefix(".portolan-detect-");
                    // the file a plain create would make (0666 less the umask), not 0600
                    #[cfg(unix)]
                    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
                    let tmp = builder.tempfile_in(&dir).map_err(|e| {
                        escaped(format!(
                            "-o {}: cannot create a file in {}: {e}",
                            path.display(),
                            dir.display()
                        ))
                    })?;
                    let w = tmp
                        .reopen()
                        .map_err(|e| escaped(format!("-o {}: {e}", path.display())))?;
                    sinks.push(Sink {
                        format: *f,
                        style: Style { enabled: false },
                        w: Box::new(BufWriter::new(w)),
                    });
                    whole.push(WholeFile {
                        tmp,
                        path: path.clone(),
                    });
                }
                OutputSpec::AppendEve(path) => {
                    let f = std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)
                        .map_err(|e| {
                            escaped(format!(
                                "-o {}: cannot open it to append EVE lines: {e}",
                                path.display()
                            ))
                        })?;
                    eve_log.push((path.clone(), BufWriter::new(f)));
                }
            }
        }
        Ok(Printer {
            sinks,
            whole,
            eve_log,
            alerts: Vec::new(),
            worst: None,
            store: None,
        })
    }

    fn alert(&mut self, a: Alert) -> Result<()> {
        self.alert_action(a, Action::Allowed, None)
    }

    /// An alert with what `--block` did about it (EVE `alert.action`, and who banned in
    /// `portolan.blocked_by`; the table says "blocked" or "blocked (tripwire)").
    fn alert_action(
        &mut self,
        a: Alert,
        action: Action,
        by: Option<crate::cmd::block::BlockedBy>,
    ) -> Result<()> {
        if let Some(store) = self.store.as_mut() {
            if store.leave_out(a.src.to_ip()) {
                return Ok(());
            }
            store.save(&a)?;
        }
        let sev = alert_severity(&a);
        self.worst = self.worst.max(Some(sev));
        let needs_json =
            !self.eve_log.is_empty() || self.sinks.iter().any(|s| s.format == Format::Json);
        let line = if needs_json {
            let mut v = a.to_eve_with(action);
            if let (Some(by), Some(p)) = (by, v.get_mut("portolan").and_then(|p| p.as_object_mut()))
            {
                p.insert("blocked_by".into(), by.name().into());
            }
            serde_json::to_string(&v)?
        } else {
            String::new()
        };
        for (path, f) in &mut self.eve_log {
            writeln!(f, "{line}")
                .and_then(|()| f.flush())
                .map_err(|e| escaped(format!("-o {}: {e}", path.display())))?;
        }
        for sink in &mut self.sinks {
            match sink.format {
                Format::Json => writeln!(sink.w, "{line}")?,
                Format::Table => {
                    let s = sink.style;
                    let tool = a.tool.map(|t| format!(" tool={t}")).unwrap_or_default();
                    let target = match a.dst_port {
                        Some(p) => format!("{}:{p}", a.dst),
                        None => a.dst.to_string(),
                    };
                    let text = format!(
                        "{} {} {} -> {}  {} probes, {} ports, {} hosts{}  [{}]{}",
                        s.dim(&format_timestamp(a.ts_ns)),
                        s.red(&a.signature()),
                        s.bold(&a.src.to_string()),
                        target,
                        a.probes,
                        a.distinct_ports,
                        a.distinct_hosts,
                        tool,
                        serde_json::to_value(a.detector)?
                            .as_str()
                            .unwrap_or_default(),
                        if action == Action::Blocked {
                            let by = match by {
                                Some(crate::cmd::block::BlockedBy::Tripwire) => " (tripwire)",
                                _ => "",
                            };
                            format!("  {}{by}", s.red("blocked"))
                        } else {
                            String::new()
                        }
                    );
                    writeln!(sink.w, "{}", escape(&text))?;
                }
            }
        }
        // the terminal sees alerts as they come
        self.sinks[0].w.flush()?;
        if self.alerts.len() < SUMMARY_KEEP {
            self.alerts.push(a);
        }
        Ok(())
    }

    fn summary(&mut self, det: &Detector, what: &str) -> Result<()> {
        let st = det.stats();
        let alerts = &self.alerts;
        for sink in &mut self.sinks {
            if sink.format == Format::Table {
                write_summary(&mut sink.w, sink.style, &st, alerts, what)?;
            }
        }
        self.sinks[0].w.flush()?;
        Ok(())
    }

    /// Flush every output; rename the `-o FMT=PATH` files into place when `ok`.
    fn finish(mut self, ok: bool) -> Result<()> {
        if let Some(store) = self.store.as_mut() {
            store.finish(ok)?;
        }
        for sink in &mut self.sinks {
            sink.w.flush()?;
        }
        drop(self.sinks);
        if !ok {
            if !self.whole.is_empty() {
                eprintln!("portolan: the -o FMT=PATH files were not written (the run failed); earlier files are untouched");
            }
            return Ok(());
        }
        for wf in self.whole {
            wf.tmp.persist(&wf.path).map_err(|e| {
                escaped(format!(
                    "-o {}: cannot write it: {}",
                    wf.path.display(),
                    e.error
                ))
            })?;
        }
        Ok(())
    }

    /// Exit status for --fail-on.
    fn exit_code(&self, fail_on: Option<Severity>) -> ExitCode {
        match (fail_on, self.worst) {
            (Some(limit), Some(worst)) if worst >= limit => ExitCode::from(1),
            _ => ExitCode::SUCCESS,
        }
    }
}

fn write_summary(
    w: &mut dyn Write,
    s: Style,
    st: &portolan_detect::detect::Stats,
    alerts: &[Alert],
    what: &str,
) -> Result<()> {
    writeln!(w)?;
    writeln!(
        w,
        "{}",
        s.bold(&escape(&format!(
            "Summary of {what}: {} packets ({} IP: {} TCP, {} UDP, {} ICMP; {} not IP, {} malformed), {} alerts",
            st.packets, st.ip_packets, st.tcp, st.udp, st.icmp, st.not_ip, st.malformed, st.alerts
        )))
    )?;
    if st.unsupported_linktype > 0 {
        writeln!(
            w,
            "  ({} packets of link types portolan cannot decode were skipped: nothing was looked for in them)",
            st.unsupported_linktype
        )?;
    }
    let mut by_src: BTreeMap<String, Vec<&Alert>> = BTreeMap::new();
    for a in alerts {
        by_src.entry(a.src.to_string()).or_default().push(a);
    }
    for (src, alerts) in by_src {
        writeln!(w, "  {}", s.bold(&escape(&src)))?;
        for a in alerts {
            let mut ports: Vec<String> = a.ports.iter().map(|p| p.to_string()).collect();
            if a.distinct_ports > a.ports.len() as u64 {
                ports.push("...".into());
            }
            let line = format!(
                "    {:<11} {:<11} -> {:<16} {} probes, ports {}{}  {} .. {}",
                a.technique.name(),
                a.shape.name(),
                a.dst.to_string(),
                a.probes,
                ports.join(","),
                a.tool.map(|t| format!(", tool {t}")).unwrap_or_default(),
                format_timestamp(a.first_seen_ns),
                format_timestamp(a.last_seen_ns),
            );
            writeln!(w, "{}", escape(&line))?;
        }
    }
    if st.flows_evicted > 0 || st.sources_evicted > 0 {
        writeln!(
            w,
            "  (tables full: {} flows and {} sources were forgotten to keep memory fixed; see [limits] in docs/detect.md)",
            st.flows_evicted, st.sources_evicted
        )?;
    }
    if st.allowed_probes > 0 {
        writeln!(
            w,
            "  ({} probes from allow-listed sources ignored)",
            st.allowed_probes
        )?;
    }
    Ok(())
}

/// Packets per (interface, link type) of one input, to say which could not be decoded.
#[derive(Default)]
struct LinkTally {
    counts: BTreeMap<(u32, u32), u64>,
    last: Option<((u32, u32), u64)>,
}

impl LinkTally {
    #[inline]
    fn add(&mut self, interface: u32, linktype: u32) {
        let key = (interface, linktype);
        match &mut self.last {
            Some((k, n)) if *k == key => *n += 1,
            _ => {
                self.settle();
                self.last = Some((key, 1));
            }
        }
    }

    fn settle(&mut self) {
        if let Some((k, n)) = self.last.take() {
            *self.counts.entry(k).or_default() += n;
        }
    }

    /// Warn on standard error about every interface whose link type cannot be decoded;
    /// returns how many packets were skipped so.
    fn warn_undecodable(&mut self, input: &std::path::Path) -> u64 {
        self.settle();
        let mut skipped = 0;
        for (&(iface, lt), &n) in &self.counts {
            if portolan_detect::decode::linktype_supported(lt) {
                continue;
            }
            skipped += n;
            let name = portolan_detect::decode::linktype_name(lt)
                .map(|s| format!(" ({s})"))
                .unwrap_or_default();
            eprintln!(
                "portolan: warning: {}: interface {iface} has link type {lt}{name}, which portolan \
                 cannot decode: its {n} packets were skipped (supported: Ethernet, Linux SLL/SLL2, \
                 raw IP, BSD/OpenBSD loopback)",
                escape(&input.display().to_string())
            );
        }
        self.counts.clear();
        skipped
    }
}

fn drain(det: &mut Detector, out: &mut Printer) -> Result<()> {
    for a in det.take_alerts() {
        out.alert(a)?;
    }
    Ok(())
}

/// The result store this run's alerts go to (none with `--no-store`).
fn open_alert_store(args: &DetectArgs) -> Result<Option<super::records::AlertStore>> {
    let source = match &args.interface {
        Some(i) => format!("live {i}"),
        None => args
            .inputs
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(" "),
    };
    super::records::AlertStore::open(
        args.store.as_deref(),
        args.no_store,
        args.new_sources_since.as_deref(),
        &source,
    )
}

/// Run `portolan detect`.
/// Run `detect`. `stop` is the binary's (`signals::catch` sets it for a live capture): its
/// first request ends the capture, which still prints its summary.
pub fn run(args: DetectArgs, style: Style, stop: &Stop) -> Result<ExitCode> {
    check_live_only_flags(&args)?;
    let cfg = load_config(&args)?;
    if args.print_config {
        print!("{}", cfg.to_toml());
        return Ok(ExitCode::SUCCESS);
    }
    let format = if args.json { Format::Json } else { args.format };
    let mut out = Printer::new(format, style, &args.output)?;
    if args.interface.is_some() || !args.inputs.is_empty() {
        out.store = open_alert_store(&args)?;
    }
    let mut det = Detector::new(cfg);

    if let Some(ifname) = &args.interface {
        let r = run_live(&args, ifname, &mut det, &mut out, stop);
        let code = out.exit_code(args.fail_on);
        out.finish(r.is_ok())?;
        return r.map(|()| code);
    }
    if args.inputs.is_empty() {
        bail!("give a capture file, a directory, - for standard input, or --interface IF for live capture");
    }
    let mut failure = None;
    let mut tally = LinkTally::default();
    'inputs: for input in &args.inputs {
        let mut src = match source::open_path(input) {
            Ok(s) => s,
            Err(e) => {
                failure = Some(capture_error(e.in_file(input)));
                break;
            }
        };
        loop {
            match src.next_packet() {
                Ok(Some(p)) => {
                    tally.add(p.interface, p.linktype);
                    det.process_raw(&p);
                    if det.has_alerts() {
                        drain(&mut det, &mut out)?;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    tally.warn_undecodable(input);
                    failure = Some(capture_error(e.in_file(input)));
                    break 'inputs;
                }
            }
        }
        tally.warn_undecodable(input);
    }
    det.finish();
    drain(&mut det, &mut out)?;
    let what = if args.inputs.len() == 1 {
        args.inputs[0].display().to_string()
    } else {
        format!("{} inputs", args.inputs.len())
    };
    let st = det.stats();
    if failure.is_none() || st.packets > 0 {
        out.summary(&det, &what)?;
    }
    let code = out.exit_code(args.fail_on);
    let undecodable = st.packets > 0 && st.unsupported_linktype == st.packets;
    out.finish(failure.is_none() && !undecodable)?;
    match failure {
        Some(e) if st.packets > 0 => Err(e.context(
            "reading stopped early; the alerts above cover the packets read before the error",
        )),
        Some(e) => Err(e),
        None if st.packets > 0 && st.unsupported_linktype == st.packets => bail!(
            "nothing in {} could be decoded: all {} packets have link types portolan cannot read \
             (see the warnings above); capture on an Ethernet, cooked (tcpdump -i any) or \
             raw-IP interface, or convert the capture (editcap -T ether)",
            escape(&what),
            st.packets
        ),
        None => Ok(code),
    }
}

fn run_live(
    args: &DetectArgs,
    ifname: &str,
    det: &mut Detector,
    out: &mut Printer,
    stop: &Stop,
) -> Result<()> {
    let filter = match &args.filter {
        Some(f) => Some(source::live::compile_filter(f, ifname).map_err(escaped)?),
        None => None,
    };
    // SIGINT and SIGTERM stop the capture (the summary is still printed): the binary's one
    // handler sets the stop's graceful flag, which the capture loop checks at least every
    // 100 ms.
    let stop = stop.graceful_flag();
    let mut ips = crate::cmd::block::DetectBlocker::new(
        &args.ips,
        &crate::cmd::block::detect_allow(det.config()),
    )?;
    // an IPS wants each packet at once, not when a 1 MiB block fills or after 100 ms
    let delay_ms = if ips.is_some() { 1 } else { 100 };
    let mut cap = source::live::LiveCapture::open_with_delay(ifname, filter.as_deref(), delay_ms)
        .map_err(|e| escaped(format!("live capture on {ifname}: {e}")))?;
    eprintln!(
        "portolan: capturing on {} ({}); Ctrl-C to stop",
        escape(ifname),
        match &args.filter {
            Some(f) => format!("filter {}", escape(f)),
            None => "no filter".to_string(),
        }
    );
    if ips.as_ref().is_some_and(|b| b.tripwire_armed()) {
        eprintln!(
            "portolan: kernel tripwire armed: an address this host answers on {} distinct closed ports within a minute is banned in the kernel at once",
            args.ips.tripwire_after
        );
    }
    let deadline = match args.duration {
        Some(d) => Some(
            std::time::Duration::try_from_secs_f64(d)
                .ok()
                .and_then(|d| std::time::Instant::now().checked_add(d))
                .with_context(|| {
                    format!("--duration {d}: give a number of seconds, at least 0 and finite")
                })?,
        ),
        None => None,
    };
    let limits = source::live::LiveLimits {
        count: args.count,
        deadline,
    };
    source::live::watch(&mut cap, det, &stop, limits, |alerts| -> Result<()> {
        let actions = match &mut ips {
            Some(b) => b.act(&alerts)?,
            None => vec![(Action::Allowed, None); alerts.len()],
        };
        for (a, (action, by)) in alerts.into_iter().zip(actions) {
            out.alert_action(a, action, by)?;
        }
        Ok(())
    })?;
    let st = cap.stats();
    out.summary(
        det,
        &format!(
            "{ifname} ({} packets, {} dropped by the kernel)",
            st.0, st.1
        ),
    )?;
    Ok(())
}
