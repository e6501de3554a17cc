//! `portolan scan`: find what is exposed (TCP connect scan).

pub mod output;
mod sv;

use std::ffi::OsString;
use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use portolan_registry::{EntryKind, Protocol, Registry};
use portolan_scan::connect::{self, ConnectConfig, EventSink, Job, Status};
use portolan_scan::model::{ReportBuilder, ScanReport, Service, ServiceMethod};
use portolan_scan::plan::{Plan, Progress, ResumeState, Shard};
use portolan_scan::ports::{self, PortSet, RankingSource};
use portolan_scan::raw::{self, RawConfig, RawKind};
use portolan_scan::rawio;
use portolan_scan::target::{self, Resolve, TargetOptions, TargetSet};
use portolan_scan::{PortEvent, PortState};
use serde_json::json;
use std::collections::HashMap;

use crate::term::{escape, Style};
use output::Format;

const EXAMPLES: &str = "\
Examples:
  portolan scan 192.0.2.0/24 -p 22,80,443,8000-8100
  portolan scan host.example -p- -o xml=out.xml -o jsonl=out.jsonl
  portolan scan 10.0.0.0/16 --top-ports 100 --exclude 10.0.5.0/24 --max-rate 2000
  portolan scan -iL targets.txt --exclude-file keep-out.txt -p ssh,http,https
  portolan scan 10.0.0.0/8 -p 443 --seed 7 --shard 0/3       (run 1/3 and 2/3 elsewhere)
  portolan scan 10.0.0.0/16 -p- --resume scan.resume          (Ctrl-C, then run it again)
  portolan scan 10.0.0.0/16 -p 443 --syn --send-via link      (frames to the gateway's MAC)
  portolan scan 10.0.0.0/16 -p 443 --syn --router-mac 02:00:5e:10:00:01 --interface eth0

Targets: 192.0.2.7, 2001:db8::1, 192.0.2.0/24, 192.0.2.1-192.0.2.50, 192.0.2.1-50, host.example.
Ports: 22 | 1000-2000 | -1024 | 60000- | - (all) | names from the IANA registry (ssh,http).
States: open (syn-ack), closed (conn-refused), filtered (no-response after retries, host-unreach).
Outputs: table (default, stdout), jsonl (docs/schema/scan-jsonl.md), xml (nmap's DTD: ndiff and
nmap parsers read it), grep (nmap's grepable), csv (docs/schema/scan-csv.md).";

/// How hostnames resolve.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ResolveArg {
    /// The first address the resolver gives.
    First,
    /// Every address.
    All,
}

/// How raw probes reach the wire (`--send-via`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SendViaArg {
    /// The IP raw socket: the kernel routes each packet and resolves the next hop (any link).
    Ip,
    /// Ethernet frames (AF_PACKET) to the next hop's MAC from the kernel's neighbour table.
    Link,
}

fn parse_router_mac(s: &str) -> Result<[u8; 6], String> {
    portolan_scan::rawio::parse_mac(s)
}

/// Arguments of `portolan scan`.
#[derive(clap::Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct ScanArgs {
    /// What to scan: addresses, CIDR blocks, ranges, hostnames.
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,

    /// Ports: 22,80,1000-2000, '-' for 1-65535 (-p-), service names (ssh,http).
    #[arg(
        short = 'p',
        long = "ports",
        value_name = "SPEC",
        allow_hyphen_values = true
    )]
    pub ports: Option<String>,

    /// The N most commonly exposed TCP ports (nmap-services frequencies when installed, else
    /// Portolan's own ranking; default when -p is not given: 1000).
    #[arg(long, value_name = "N", conflicts_with = "ports")]
    pub top_ports: Option<usize>,

    /// Read targets from FILE ('-' for stdin); also accepted as -iL FILE.
    #[arg(long = "input-list", value_name = "FILE")]
    pub input_list: Vec<String>,

    /// Never scan these (comma-separated addresses, blocks, ranges, hostnames).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub exclude: Vec<String>,

    /// Never scan the targets listed in FILE.
    #[arg(long, value_name = "FILE")]
    pub exclude_file: Vec<String>,

    /// Scan the first address of a hostname, or all of them.
    #[arg(long, value_enum, default_value = "first")]
    pub resolve: ResolveArg,

    /// Seed of the probe order (the same seed, the same order; shards need one).
    #[arg(long)]
    pub seed: Option<u64>,

    /// Scan only slice i of N of the job (0 <= i < N); the N slices partition it exactly.
    #[arg(long, value_name = "i/N")]
    pub shard: Option<Shard>,

    /// Save progress to FILE (periodically and on Ctrl-C); if FILE exists, continue from it.
    #[arg(long, value_name = "FILE")]
    pub resume: Option<PathBuf>,

    /// Never start more than this many connection attempts per second.
    #[arg(long, value_name = "PPS")]
    pub max_rate: Option<f64>,

    /// Most probes in flight (also kept under the file-descriptor limit).
    #[arg(long, default_value_t = 5000, value_name = "N")]
    pub concurrency: usize,

    /// Probe timeout before RTT is measured, and its ceiling (milliseconds).
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    pub timeout: u64,

    /// Floor of the RTT-derived probe timeout (milliseconds).
    #[arg(long, default_value_t = 100, value_name = "MS")]
    pub min_timeout: u64,

    /// Extra attempts for a probe that got no answer.
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub retries: u32,

    /// Write results as FMT to PATH (table, jsonl, xml, grep, csv; PATH '-' is stdout).
    /// Repeat for several.
    #[arg(short = 'o', long = "output", value_name = "FMT=PATH")]
    pub outputs: Vec<String>,

    /// Format of standard output when no -o writes to it.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,

    /// List every port in every output, whatever its state (no 'not shown: N closed').
    #[arg(long)]
    pub all_ports: bool,

    /// Show only hosts with open ports in the table.
    #[arg(long)]
    pub open: bool,

    /// No progress bar and no notices on stderr.
    #[arg(short, long)]
    pub quiet: bool,

    /// TCP SYN scan with raw packets (also -sS): needs root or CAP_NET_RAW; without it, falls
    /// back to a connect scan and says so (see --no-fallback).
    #[arg(long, conflicts_with = "udp")]
    pub syn: bool,

    /// UDP scan with protocol-correct payloads (also -sU): needs root or CAP_NET_RAW.
    #[arg(long)]
    pub udp: bool,

    /// Service and version detection on open ports (also -sV): service, product, version, CPE,
    /// TLS certificate, SSH and HTTP facts, and unauthenticated access proved by one harmless
    /// request (Redis PING, memcached stats, anonymous FTP, ...). Nothing is written or guessed.
    #[arg(long)]
    pub service_version: bool,

    /// With -sV: also load an nmap-service-probes file you have installed
    /// (e.g. /usr/share/nmap/nmap-service-probes); rules the regex engine cannot compile are
    /// skipped with a note.
    #[arg(long, value_name = "FILE", requires = "service_version")]
    pub probes_file: Option<PathBuf>,

    /// With -sV: highest probe rarity tried on ports no probe lists, 0-9.
    #[arg(long, value_name = "0-9", default_value_t = 7, value_parser = clap::value_parser!(u8).range(0..=9))]
    pub version_intensity: u8,

    /// TCP connect scan (also -sT): the default, needs no privilege.
    #[arg(long, conflicts_with_all = ["syn", "udp"])]
    pub connect: bool,

    /// With --syn: fail instead of falling back to a connect scan when raw sockets are denied.
    #[arg(long)]
    pub no_fallback: bool,

    /// Raw scans: send and receive on this interface only.
    #[arg(long, value_name = "IFACE")]
    pub interface: Option<String>,

    /// Raw scans: source address of the probes (default: the kernel's choice for the route).
    #[arg(long, value_name = "ADDR")]
    pub source_ip: Option<std::net::IpAddr>,

    /// Raw scans: threads that hand packets to the kernel beside the engine thread (default:
    /// one per spare CPU, at most 3, when --max-rate is above 50,000; 0 sends from the engine
    /// thread only). The kernel's per-packet work runs on the sending CPU, so more senders
    /// reach higher rates.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(0..=16))]
    pub send_threads: Option<u8>,

    /// Raw scans: how probes reach the wire. `ip` (default): an IP raw socket, the kernel
    /// routes each packet and finds the next hop's MAC (any link type). `link`: Ethernet frames
    /// (AF_PACKET, past the qdisc) on the route's interface to the next hop's MAC, read from
    /// the kernel's neighbour table (`ip neigh`); nothing is sent to learn a missing entry, so
    /// ping the gateway first or pass --router-mac. One interface and next hop per address
    /// family: targets that route elsewhere are reported filtered. Ethernet-type links only;
    /// on others (loopback, tunnels) the IP socket is used, with a notice.
    ///
    /// Example: portolan scan 10.0.0.0/16 -p 443 --syn --send-via link
    #[arg(long, value_enum, value_name = "HOW", default_value = "ip")]
    pub send_via: SendViaArg,

    /// Raw scans: send Ethernet frames on the route's interface (or --interface) to this MAC,
    /// as masscan's --router-mac does; implies --send-via link and needs no neighbour entry.
    /// A wrong MAC loses every probe (ports come out filtered). Format aa:bb:cc:dd:ee:ff or
    /// aa-bb-cc-dd-ee-ff.
    ///
    /// Example: portolan scan 10.0.0.0/16 -p 443 --syn --router-mac 02:00:5e:10:00:01
    #[arg(long, value_name = "MAC", value_parser = parse_router_mac)]
    pub router_mac: Option<[u8; 6]>,
}

/// Which engine runs the scan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Engine {
    Connect,
    Syn,
    Udp,
}

impl Engine {
    fn name(self) -> &'static str {
        match self {
            Engine::Connect => "connect",
            Engine::Syn => "syn",
            Engine::Udp => "udp",
        }
    }
    fn proto(self) -> Protocol {
        match self {
            Engine::Udp => Protocol::Udp,
            _ => Protocol::Tcp,
        }
    }
}

/// Rewrite nmap-style multi-letter options (`-iL FILE`) into ours before clap sees them.
pub fn nmap_style_args(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    args.into_iter()
        .map(|a| {
            if a == "-iL" {
                OsString::from("--input-list")
            } else if a == "-sS" {
                OsString::from("--syn")
            } else if a == "-sU" {
                OsString::from("--udp")
            } else if a == "-sV" {
                OsString::from("--service-version")
            } else if a == "-sT" {
                OsString::from("--connect")
            } else {
                a
            }
        })
        .collect()
}

enum Dest {
    Stdout,
    File(PathBuf, BufWriter<File>),
}

struct Output {
    format: Format,
    dest: Dest,
}

impl Output {
    fn writer(&mut self) -> Box<dyn Write + '_> {
        match &mut self.dest {
            Dest::Stdout => Box::new(std::io::stdout().lock()),
            Dest::File(_, w) => Box::new(w),
        }
    }
    fn name(&self) -> String {
        match &self.dest {
            Dest::Stdout => "standard output".into(),
            Dest::File(p, _) => p.display().to_string(),
        }
    }
}

fn open_outputs(args: &ScanArgs) -> Result<Vec<Output>> {
    let mut outs = Vec::new();
    let mut stdout_used = false;
    for spec in &args.outputs {
        let Some((fmt, path)) = spec.split_once('=') else {
            bail!("-o {spec:?}: write it as FORMAT=PATH, e.g. -o xml=out.xml (formats: table, jsonl, xml, grep, csv)");
        };
        let format: Format = fmt.parse().map_err(anyhow::Error::msg)?;
        if path.is_empty() {
            bail!("-o {spec:?}: the path is empty");
        }
        let dest = if path == "-" {
            if stdout_used {
                bail!("-o {spec:?}: only one output can go to standard output");
            }
            stdout_used = true;
            Dest::Stdout
        } else {
            let p = PathBuf::from(path);
            let f = File::create(&p).with_context(|| {
                format!(
                    "cannot write output file {path} (check the directory exists and is writable)"
                )
            })?;
            Dest::File(p, BufWriter::new(f))
        };
        outs.push(Output { format, dest });
    }
    if !stdout_used {
        outs.push(Output {
            format: args.format,
            dest: Dest::Stdout,
        });
    }
    Ok(outs)
}

/// A stable fingerprint of the job (targets, ports, shard) for resume files.
fn job_fingerprint(targets: &TargetSet, ports: &PortSet, shard: Shard) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |s: &str| {
        for b in s.bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x100_0000_01b3);
    };
    for iv in targets.intervals() {
        feed(&iv.to_string());
    }
    feed(&ports.to_spec());
    feed(&shard.to_string());
    format!("{h:016x}")
}

/// The IANA service name of `port` for `proto`, as a table guess (nmap's "table" method).
fn table_service(reg: &Registry, port: u16, proto: Protocol) -> Option<Service> {
    let want = proto;
    reg.by_port(port)
        .find(|e| e.protocol() == Some(want) && e.kind() == EntryKind::Assigned)
        .map(|e| Service {
            name: e.service().to_string(),
            method: ServiceMethod::Table,
            conf: 3,
            ..Default::default()
        })
}

struct Sink {
    builder: ReportBuilder,
    streams: Vec<Box<dyn Write>>,
    stream_all: bool,
    bar: Option<ProgressBar>,
    quiet: bool,
    reg: &'static Registry,
    resume: Option<(PathBuf, ResumeState)>,
    errors: Vec<String>,
    /// With -sV, open ports are streamed only after detection: kept here meanwhile.
    defer_open: Option<Vec<PortEvent>>,
}

impl EventSink for Sink {
    fn port(&mut self, mut ev: PortEvent) {
        // Named now only where it is shown now (open ports, streams of every port); the ports
        // the report lists get theirs when it is built. Most of a scan's ports are neither.
        if ev.service.is_none() && (ev.state == PortState::Open || self.stream_all) {
            ev.service = table_service(self.reg, ev.port, ev.proto);
        }
        if ev.state == PortState::Open {
            if let Some(b) = &self.bar {
                b.println(format!(
                    "open {}/{} on {} {}",
                    ev.port,
                    ev.proto,
                    ev.addr,
                    ev.service
                        .as_ref()
                        .map(|s| escape(&s.name))
                        .unwrap_or_default()
                ));
            }
        }
        if let (Some(d), PortState::Open) = (self.defer_open.as_mut(), ev.state) {
            d.push(ev.clone());
        } else if ev.state == PortState::Open || self.stream_all {
            let line = output::jsonl_port(&ev, SystemTime::now());
            for w in &mut self.streams {
                if let Err(e) = writeln!(w, "{line}") {
                    self.errors.push(e.to_string());
                }
            }
        }
        self.builder.add(ev);
    }
    fn status(&mut self, st: &Status) {
        if let Some(b) = &self.bar {
            b.set_length(st.planned);
            b.set_position(st.completed);
            b.set_message(format!(
                "{} open · window {} · timeout {}ms",
                st.open,
                st.window,
                st.timeout.as_millis()
            ));
        }
    }
    fn notice(&mut self, msg: &str) {
        let line = output::jsonl_notice(msg, SystemTime::now());
        for w in &mut self.streams {
            let _ = writeln!(w, "{line}");
        }
        if !self.quiet {
            match &self.bar {
                Some(b) => b.println(format!("portolan: {msg}")),
                None => eprintln!("portolan: {msg}"),
            }
        }
    }
    fn checkpoint(&mut self, p: &Progress) {
        for w in &mut self.streams {
            let _ = w.flush();
        }
        if let Some((path, st)) = &mut self.resume {
            st.next = p.next();
            st.done_above = p.done_above();
            if let Err(e) = st.save(path) {
                self.errors.push(e.to_string());
            }
        }
    }
}

/// Run `portolan scan`.
pub fn run(args: ScanArgs, style: Style) -> Result<ExitCode> {
    let command_line = std::env::args()
        .map(|a| if a.contains(' ') { format!("'{a}'") } else { a })
        .collect::<Vec<_>>()
        .join(" ");

    // 1. Everything the user gave is checked before any packet leaves.
    let engine = if args.udp {
        Engine::Udp
    } else if args.syn {
        Engine::Syn
    } else {
        Engine::Connect
    };
    if engine == Engine::Connect && (args.router_mac.is_some() || args.send_via == SendViaArg::Link)
    {
        bail!(
            "--router-mac and --send-via link choose how raw probes are sent: add --syn or --udp \
             (the connect scan leaves it to the kernel)"
        );
    }
    let engine = if engine != Engine::Connect && !rawio::can_open_raw() {
        if engine == Engine::Udp || args.no_fallback {
            bail!(
                "--{} needs raw sockets, which need root or CAP_NET_RAW: run as root, or grant it with \
                 `setcap cap_net_raw+ep $(command -v portolan)`",
                engine.name()
            );
        }
        eprintln!(
            "portolan: --syn needs root or CAP_NET_RAW: falling back to a connect scan \
             (--no-fallback makes this an error)"
        );
        Engine::Connect
    } else {
        engine
    };
    let mut specs = args.targets.clone();
    for f in &args.input_list {
        specs.extend(target::read_list(f)?);
    }
    let mut excludes = args.exclude.clone();
    for f in &args.exclude_file {
        excludes.extend(target::read_list(f)?);
    }
    if specs.is_empty() {
        bail!("no targets: give addresses, blocks, ranges or hostnames (e.g. portolan scan 192.0.2.0/24 -p 22), or -iL FILE");
    }
    let opts = TargetOptions {
        resolve: match args.resolve {
            ResolveArg::First => Resolve::First,
            ResolveArg::All => Resolve::All,
        },
    };
    let targets = TargetSet::parse(&specs, &excludes, opts)?;
    let (ports, ranking) = match (&args.ports, args.top_ports) {
        (Some(p), _) => (PortSet::parse(p)?, None),
        (None, n) => {
            let (set, src) =
                ports::top_ports(n.unwrap_or(1000), Some(Path::new(ports::NMAP_SERVICES)))?;
            (set, Some(src))
        }
    };
    if let Some(r) = args.max_rate {
        if !(r.is_finite() && r > 0.0) {
            bail!("--max-rate must be a positive number of attempts per second, not {r}");
        }
    }
    if args.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    if args.timeout == 0 || args.min_timeout == 0 {
        bail!("--timeout and --min-timeout must be at least 1 ms");
    }
    let shard = args.shard.unwrap_or_default();
    if args.shard.is_some() && args.seed.is_none() {
        bail!("--shard needs --seed: every scanner of the job must walk the same order (e.g. --seed 7 on all of them)");
    }
    let total = targets
        .len()
        .checked_mul(ports.len() as u64)
        .ok_or_else(|| {
            anyhow::anyhow!("the scan is too large: scan fewer targets or ports at once")
        })?;
    let job_id = job_fingerprint(&targets, &ports, shard);
    let resumed = match &args.resume {
        Some(p) => ResumeState::load(p, &job_id)?,
        None => None,
    };
    if let (Some(r), Some(s)) = (&resumed, args.seed) {
        if r.seed != s {
            bail!(
                "--seed {s} differs from the seed {} in the resume file: drop --seed or the file",
                r.seed
            );
        }
    }
    let seed = resumed
        .as_ref()
        .map(|r| r.seed)
        .or(args.seed)
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0)
                ^ ((std::process::id() as u64) << 32)
        });
    let plan = Plan::new(total, seed)?;
    let mut outs = open_outputs(&args)?;
    if let Some(p) = &args.resume {
        // Prove the resume file is writable now, not at the first checkpoint.
        let probe = ResumeState {
            version: ResumeState::VERSION,
            job: job_id.clone(),
            seed,
            shard,
            total,
            next: resumed.as_ref().map(|r| r.next).unwrap_or(0),
            done_above: resumed
                .as_ref()
                .map(|r| r.done_above.clone())
                .unwrap_or_default(),
        };
        probe.save(p)?;
    }

    // 2. Set up sinks and progress.
    let start = SystemTime::now();
    let positions = shard.positions(total);
    let progress = match &resumed {
        Some(r) => Progress::new(r.next.max(positions.start), &r.done_above),
        None => Progress::new(positions.start, &[]),
    };
    let stream_all = args.all_ports;
    let meta = json!({
        "time": start.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0),
        "scanner": "portolan",
        "version": env!("CARGO_PKG_VERSION"),
        "scan_type": engine.name(),
        "proto": "tcp",
        "args": command_line,
        "targets": targets.len(),
        "ports": ports.to_spec(),
        "num_ports": ports.len(),
        "seed": seed,
        "shard": shard.to_string(),
        "resumed_from": resumed.as_ref().map(|r| r.next),
    });
    let mut streams: Vec<Box<dyn Write>> = Vec::new();
    let mut rest = Vec::new();
    for o in outs.drain(..) {
        if o.format == Format::Jsonl {
            let mut w: Box<dyn Write> = match o.dest {
                Dest::Stdout => Box::new(std::io::stdout()),
                Dest::File(_, f) => Box::new(f),
            };
            writeln!(w, "{}", output::jsonl_start(&meta))?;
            streams.push(w);
        } else {
            rest.push(o);
        }
    }
    let show_bar = !args.quiet && std::io::stderr().is_terminal();
    let bar = show_bar.then(|| {
        let b = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr_with_hz(10));
        b.set_style(
            ProgressStyle::with_template(
                "{spinner} {elapsed_precise} [{bar:30}] {human_pos}/{human_len} {per_sec} · {msg} · ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        b
    });
    if !args.quiet {
        if let Some(RankingSource::Builtin) = &ranking {
            eprintln!(
                "portolan: {} not found: using Portolan's built-in top-ports ranking",
                ports::NMAP_SERVICES
            );
        }
    }
    let mut sink = Sink {
        builder: ReportBuilder::new(targets.len() <= 4096, args.all_ports),
        streams,
        stream_all,
        bar,
        quiet: args.quiet,
        reg: Registry::embedded(),
        resume: args.resume.clone().map(|p| {
            (
                p,
                ResumeState {
                    version: ResumeState::VERSION,
                    job: job_id.clone(),
                    seed,
                    shard,
                    total,
                    next: 0,
                    done_above: Vec::new(),
                },
            )
        }),
        errors: Vec::new(),
        defer_open: args.service_version.then(Vec::new),
    };

    // 3. Scan.
    let cfg = ConnectConfig {
        max_rate: args.max_rate,
        max_window: args.concurrency,
        min_window: 256.min(args.concurrency),
        initial_window: 1024.min(args.concurrency),
        max_timeout: Duration::from_millis(args.timeout.max(args.min_timeout)),
        min_timeout: Duration::from_millis(args.min_timeout),
        retries: args.retries,
        ..Default::default()
    };
    let job = Job {
        targets: &targets,
        ports: &ports,
        plan: &plan,
        positions,
        progress,
    };
    let stats = match engine {
        Engine::Connect => connect::run(job, &cfg, &mut sink, Arc::new(AtomicBool::new(false)))?,
        Engine::Syn | Engine::Udp => {
            let rcfg = RawConfig {
                kind: if engine == Engine::Udp {
                    RawKind::Udp
                } else {
                    RawKind::Syn
                },
                max_rate: args.max_rate.unwrap_or(RawConfig::default().max_rate),
                max_timeout: Duration::from_millis(args.timeout.max(args.min_timeout)),
                min_timeout: Duration::from_millis(args.min_timeout),
                retries: args.retries,
                interface: args.interface.clone(),
                source_ip: args.source_ip,
                send_threads: args.send_threads.map(usize::from),
                send_via: match args.send_via {
                    SendViaArg::Ip => raw::SendVia::Ip,
                    SendViaArg::Link => raw::SendVia::Link,
                },
                router_mac: args.router_mac,
                seed_key: Some((seed, seed.rotate_left(32) ^ 0x706f_7274_6f6c_616e)),
                ..Default::default()
            };
            let r = raw::run(job, &rcfg, &mut sink, Arc::new(AtomicBool::new(false)))?;
            if !args.quiet {
                if r.udp_unconfirmed > 0 {
                    eprintln!(
                        "portolan: {} UDP ports sent no reply and no ICMP port-unreachable (Linux rate-limits \
                         ICMP): reported open|filtered, not confirmed closed",
                        r.udp_unconfirmed
                    );
                }
                if r.host_holds > 0 {
                    eprintln!(
                        "portolan: {} probes waited for their host's own window (a host that lost \
                         probes was slowed down alone)",
                        r.host_holds
                    );
                }
                if r.rx_invalid > 0 {
                    eprintln!(
                        "portolan: ignored {} packets that looked like replies but failed validation",
                        r.rx_invalid
                    );
                }
            }
            r.scan
        }
    };
    if let Some(b) = &sink.bar {
        b.finish_and_clear();
    }

    // 4. Service detection on the open ports (-sV).
    let Sink {
        builder,
        mut streams,
        resume,
        mut errors,
        defer_open,
        quiet,
        ..
    } = sink;
    let mut services: HashMap<(IpAddr, u16, Protocol), Service> = HashMap::new();
    if let Some(open) = defer_open {
        services = sv::detect(&open, &args, quiet)?;
        let now = SystemTime::now();
        for mut ev in open {
            if let Some(s) = services.get(&(ev.addr, ev.port, ev.proto)) {
                ev.service = Some(s.clone());
            }
            let line = output::jsonl_port(&ev, now);
            for w in &mut streams {
                if let Err(e) = writeln!(w, "{line}") {
                    errors.push(e.to_string());
                }
            }
        }
    }

    // 5. Report.
    let end = SystemTime::now();
    let mut hosts = builder.finish(|ip: IpAddr| targets.hostname(ip).map(str::to_string));
    let reg = Registry::embedded();
    for h in &mut hosts {
        for p in &mut h.ports {
            if let Some(s) = services.get(&(p.addr, p.port, p.proto)) {
                p.service = Some(s.clone());
            } else if p.service.is_none() {
                p.service = table_service(reg, p.port, p.proto);
            }
        }
    }
    let report = ScanReport {
        scan_type: engine.name().into(),
        proto: engine.proto(),
        args: command_line,
        ports_spec: ports.to_spec(),
        num_ports: ports.len() as u64,
        start,
        end,
        hosts,
        targets_total: targets.len(),
        stats,
    };
    let mut failures = errors;
    let tail = output::jsonl_finish(&report);
    for w in &mut streams {
        if let Err(e) = w.write_all(tail.as_bytes()).and_then(|_| w.flush()) {
            failures.push(e.to_string());
        }
    }
    for mut o in rest {
        let text = match o.format {
            Format::Table => output::table(&report, style, args.open),
            Format::Xml => output::xml(&report),
            Format::Grep => output::grep(&report),
            Format::Csv => output::csv(&report),
            Format::Jsonl => continue,
        };
        let name = o.name();
        if let Err(e) = output::write_all(&mut o.writer(), &text) {
            failures.push(format!("{name}: {e}"));
        }
    }
    if let Some((path, _)) = &resume {
        if report.stats.interrupted {
            if !args.quiet {
                eprintln!(
                    "portolan: interrupted; progress saved to {} — run the same command to continue",
                    path.display()
                );
            }
        } else {
            let _ = std::fs::remove_file(path);
        }
    }
    if let Some(e) = failures.first() {
        bail!("writing results failed: {e}");
    }
    Ok(if report.stats.interrupted {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    })
}
