//! The scan session: validate → plan → engine → sinks → report, behind two library calls.
//!
//! [`prepare`] checks everything a [`ScanRequest`] asks for (targets, ports, timeouts, flags
//! that the chosen engine would ignore, the resume file) before any packet leaves, and returns a
//! [`Prepared`] scan; [`run`] then runs the engine, hands each final port to every
//! [`EventSink`], runs service detection on the open ports (through a [`ServiceDetector`] the
//! caller supplies, so this crate does not link the detector), and finishes every sink with the
//! [`ScanReport`].
//!
//! **Sinks can fail.** A sink that returns an error (or [`Flow::Stop`]) stops the scan as an
//! interruption would: the state is saved and [`run`] returns [`ScanError::Sink`], naming the
//! sink. The other sinks are still finished, so their outputs hold what was found.
//!
//! **Resume.** With `--resume FILE` the session keeps, beside the engine's resume state, a
//! snapshot of what was found (`FILE.results`: the report builder, the service-detection results
//! and the progress they match), replaced atomically at each checkpoint *before* the resume state
//! moves. A resumed scan starts from the snapshot, so its report covers every leg, and open ports
//! whose service detection never finished (a kill during `-sV`) are detected on the next run.
//!
//! **Host discovery.** With [`ScanRequest::discovery`] (the CLI's default for port scans, as
//! nmap's) the session first finds the live hosts ([`crate::discovery`]: raw and stateless with
//! `CAP_NET_RAW`, TCP connects without) and marks them up in the report with their reason; then
//! it scans the ports of those hosts only, or nothing more (`-sn`). This host's own addresses
//! among the targets (loopback, local interfaces) are up without a probe (`localhost-response`);
//! a scan whose targets are all its own walks them exactly as without discovery. With
//! `--resume` the live hosts are saved in the snapshot before the first port probe and a resumed
//! run walks the same ones; `--shard` is refused with discovery (the shards would no longer
//! partition the job).
//!
//! **Stopping.** The caller owns the signal handling and passes a [`Stop`]: its first request
//! stops the engine gracefully (state saved); the second also abandons service detection.

use std::collections::HashMap;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use portolan_registry::{EntryKind, Registry};
use serde::{Deserialize, Serialize};

use crate::connect::{self, ConnectConfig, Job, Status};
use crate::discovery::{self, Discovered, HostDiscovery};
use crate::model::{
    EventSink, Flow, PortEvent, PortKey, PortState, Protocol, Reason, ReportBuilder, ScanReport,
    ScanStart, ScanStats, Service, ServiceMethod, SinkError, Stop,
};
use crate::plan::{Plan, PlanError, Progress, ResumeState, Shard};
use crate::ports::{self, PortSet, RankingSource};
use crate::raw::{self, RawConfig, RawKind, RawStats};
use crate::target::{self, Interval, Resolve, TargetOptions, TargetSet};

/// Which engine runs the scan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineKind {
    /// TCP connect (no privilege).
    Connect,
    /// Raw TCP SYN.
    Syn,
    /// Raw UDP with protocol payloads.
    Udp,
}

impl EngineKind {
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Connect => "connect",
            EngineKind::Syn => "syn",
            EngineKind::Udp => "udp",
        }
    }
    pub fn protocol(self) -> Protocol {
        match self {
            EngineKind::Udp => Protocol::Udp,
            _ => Protocol::Tcp,
        }
    }
}

/// Which ports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortsRequest {
    /// `-p SPEC`.
    Spec(String),
    /// `--top-ports N`.
    Top(usize),
}

/// Everything a scan is asked to do, as the user gave it (nothing checked yet).
#[derive(Clone, Debug)]
pub struct ScanRequest {
    pub engine: EngineKind,
    /// With `Syn`: fail instead of falling back to a connect scan without raw sockets.
    pub no_fallback: bool,
    pub targets: Vec<String>,
    /// Files of targets (`-iL`; `-` is standard input).
    pub input_lists: Vec<String>,
    pub excludes: Vec<String>,
    pub exclude_files: Vec<String>,
    pub resolve: Resolve,
    pub ports: PortsRequest,
    pub seed: Option<u64>,
    pub shard: Option<Shard>,
    pub resume: Option<PathBuf>,
    pub max_rate: Option<f64>,
    pub concurrency: usize,
    pub timeout_ms: u64,
    pub min_timeout_ms: u64,
    pub retries: u32,
    /// List (and stream) every port, whatever its state.
    pub all_ports: bool,
    /// Run service detection on the open ports (needs a [`ServiceDetector`]).
    pub service_detection: bool,
    /// Raw scans only.
    pub interface: Option<String>,
    pub source_ip: Option<IpAddr>,
    pub send_threads: Option<usize>,
    pub send_via: raw::SendVia,
    pub router_mac: Option<[u8; 6]>,
    /// Host discovery: off (every target is scanned, `-Pn`; this library's default), before
    /// the port scan (the CLI's default), or alone (`-sn`).
    pub discovery: HostDiscovery,
    /// Retransmissions of silent host-discovery IP probes; `None`: none (each probe kind is
    /// sent once: any answer proves a host up, so the kinds are each other's redundancy, and a
    /// sparse range is mostly silence that a retry pass would double). ARP / ND ask silent
    /// addresses at least once more.
    pub discovery_retries: Option<u32>,
    /// The command line, for the record.
    pub command_line: String,
}

impl Default for ScanRequest {
    fn default() -> Self {
        ScanRequest {
            engine: EngineKind::Connect,
            no_fallback: false,
            targets: Vec::new(),
            input_lists: Vec::new(),
            excludes: Vec::new(),
            exclude_files: Vec::new(),
            resolve: Resolve::First,
            ports: PortsRequest::Top(1000),
            seed: None,
            shard: None,
            resume: None,
            max_rate: None,
            concurrency: 5000,
            timeout_ms: 1000,
            min_timeout_ms: 100,
            retries: 2,
            all_ports: false,
            service_detection: false,
            interface: None,
            source_ip: None,
            send_threads: None,
            send_via: raw::SendVia::Ip,
            router_mac: None,
            discovery: HostDiscovery::Off,
            discovery_retries: None,
            command_line: String::new(),
        }
    }
}

/// The longest probe timeout accepted (a larger one is a typo, and would hang the scan).
pub const MAX_TIMEOUT_MS: u64 = 10 * 60 * 1000;

/// Why a scan could not run or finish.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Target(#[from] target::TargetError),
    #[error(transparent)]
    Ports(#[from] ports::PortError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Connect(#[from] connect::ConnectError),
    #[error(transparent)]
    Raw(#[from] crate::rawio::RawError),
    #[error("host discovery: {0}")]
    Discovery(#[from] discovery::DiscoveryError),
    #[error("cannot save what the scan found to {path}: {why}")]
    Snapshot { path: String, why: String },
    /// An output failed (the message says which; the cause is in it, not also a `source`).
    #[error("{name}: {error}{}", saved_note(.saved))]
    Sink {
        name: String,
        error: SinkError,
        saved: Option<PathBuf>,
    },
}

impl ScanError {
    /// The I/O error an output failed with, if that is what ended the scan (a closed standard
    /// output is told by its kind).
    pub fn io_error(&self) -> Option<&std::io::Error> {
        match self {
            ScanError::Sink {
                error: SinkError::Io(e),
                ..
            } => Some(e),
            _ => None,
        }
    }
}

fn saved_note(saved: &Option<PathBuf>) -> String {
    match saved {
        Some(p) => format!(
            " (progress saved to {}: fix the output and run the same command to continue)",
            p.display()
        ),
        None => String::new(),
    }
}

/// Progress and messages for a person (a progress bar, stderr). Every method has a no-op
/// default.
pub trait Observer {
    /// About ten times a second while the engine runs.
    fn status(&mut self, _st: &Status) {}
    /// Something the user should know (also sent to the sinks).
    fn notice(&mut self, _msg: &str) {}
    /// An open port was found (before service detection).
    fn open(&mut self, _ev: &PortEvent) {}
    /// The engine is done; service detection (if any) follows.
    fn engine_done(&mut self) {}
}

/// Does nothing.
impl Observer for () {}

/// Service and version detection over open ports, supplied by the caller (the CLI uses
/// `portolan-fingerprint`).
pub trait ServiceDetector {
    /// Identify `open`: the open ports and, of UDP, the open|filtered ones too (nmap's -sV probes
    /// those). For a port that is not open, return a service only if the port answered a probe:
    /// the session then reports it open with reason udp-response. Check `stop.now()` and return
    /// what is done when it is set.
    fn detect(&mut self, open: &[PortEvent], stop: &Stop) -> Vec<(PortKey, Service)>;
}

/// A checked scan, ready to [`run`].
pub struct Prepared {
    req: ScanRequest,
    engine: EngineKind,
    targets: TargetSet,
    ports: PortSet,
    ranking: Option<RankingSource>,
    plan: Plan,
    seed: u64,
    shard: Shard,
    total: u64,
    job_id: String,
    /// Resume state and the snapshot it continues from.
    resumed: Option<ResumeState>,
    snapshot: Option<Snapshot>,
    notices: Vec<String>,
    /// With host discovery: the targets that are this host's own addresses (up without a
    /// probe) and the others (probed).
    own: Option<(Vec<Interval>, Vec<Interval>)>,
}

impl Prepared {
    /// Whether this run continues an earlier one (its outputs should append).
    pub fn is_resumed(&self) -> bool {
        self.resumed.is_some()
    }
    /// The engine that will run (after any fallback).
    pub fn engine(&self) -> EngineKind {
        self.engine
    }
    /// Whether the top-ports ranking came from Portolan's built-in list.
    pub fn builtin_ranking(&self) -> bool {
        matches!(self.ranking, Some(RankingSource::Builtin))
    }
    /// Notices from preparation (a fallback to connect, ...), for the user.
    pub fn notices(&self) -> &[String] {
        &self.notices
    }
    pub fn seed(&self) -> u64 {
        self.seed
    }
}

/// What [`run`] returns.
#[derive(Debug)]
pub struct ScanOutcome {
    pub report: ScanReport,
    /// Raw-engine counters (raw scans only).
    pub raw: Option<RawStats>,
    /// Where progress was saved when the scan was interrupted (`--resume`).
    pub saved: Option<PathBuf>,
    /// What host discovery found, when it ran.
    pub discovery: Option<Discovered>,
}

/// What a resumable scan has found so far, saved beside its resume state.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Snapshot {
    version: u32,
    job: String,
    next: u64,
    done_above: Vec<u64>,
    builder: ReportBuilder,
    /// Service detection's results so far.
    services: Vec<(IpAddr, Protocol, u16, Service)>,
    /// Statistics of the earlier legs.
    stats: ScanStats,
    start: SystemTime,
    /// What host discovery found, once it finished: the port scan walks these hosts, so a
    /// resumed run walks the same ones (and does not discover again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    live: Option<Live>,
}

/// The hosts a port scan after discovery walks (saved with a resumable scan's results).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Live {
    /// The live hosts and this host's own addresses among the targets.
    keep: Vec<Interval>,
    /// The discovery that ran (`Discovered::method`).
    method: String,
    /// Its probes' counts.
    stats: ScanStats,
}

impl Snapshot {
    const VERSION: u32 = 1;
}

fn snapshot_path(resume: &Path) -> PathBuf {
    let mut s = resume.as_os_str().to_owned();
    s.push(".results");
    PathBuf::from(s)
}

fn load_snapshot(resume: &Path, job: &str) -> Result<Option<Snapshot>, ScanError> {
    let path = snapshot_path(resume);
    let bad = |why: String| ScanError::Snapshot {
        path: path.display().to_string(),
        why,
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(bad(format!("cannot read it: {e}"))),
    };
    let snap: Snapshot = serde_json::from_str(&text)
        .map_err(|e| bad(format!("not a portolan results file ({e}): remove it")))?;
    if snap.version != Snapshot::VERSION || snap.job != job {
        return Err(bad(
            "it belongs to a different scan: run the command it was written for, or remove it \
             and the resume file"
                .into(),
        ));
    }
    Ok(Some(snap))
}

fn save_snapshot(resume: &Path, snap: &Snapshot) -> Result<(), ScanError> {
    let path = snapshot_path(resume);
    let bad = |why: String| ScanError::Snapshot {
        path: path.display().to_string(),
        why,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".portolan-")
        .suffix(".tmp")
        .tempfile_in(&dir)
        .map_err(|e| bad(e.to_string()))?;
    serde_json::to_writer(&mut tmp, snap).map_err(|e| bad(e.to_string()))?;
    tmp.flush().map_err(|e| bad(e.to_string()))?;
    tmp.as_file().sync_data().map_err(|e| bad(e.to_string()))?;
    tmp.persist(&path).map_err(|e| bad(e.error.to_string()))?;
    Ok(())
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

fn invalid(msg: impl Into<String>) -> ScanError {
    ScanError::Invalid(msg.into())
}

/// Check the flags against each other and the engine.
fn check_flags(req: &ScanRequest) -> Result<(), ScanError> {
    if let Some(r) = req.max_rate {
        if !(r.is_finite() && r > 0.0) {
            return Err(invalid(format!(
                "--max-rate must be a positive number of attempts per second, not {r}"
            )));
        }
    }
    if req.concurrency == 0 {
        return Err(invalid("--concurrency must be at least 1"));
    }
    if req.timeout_ms == 0 || req.min_timeout_ms == 0 {
        return Err(invalid("--timeout and --min-timeout must be at least 1 ms"));
    }
    for (flag, v) in [
        ("--timeout", req.timeout_ms),
        ("--min-timeout", req.min_timeout_ms),
    ] {
        if v > MAX_TIMEOUT_MS {
            return Err(invalid(format!(
                "{flag} {v} ms is more than {MAX_TIMEOUT_MS} ms (10 minutes): give a probe \
                 timeout in milliseconds (default 1000)"
            )));
        }
    }
    if req.min_timeout_ms > req.timeout_ms {
        return Err(invalid(format!(
            "--min-timeout {} ms is above --timeout {} ms: the floor of the probe timeout must \
             not exceed its ceiling",
            req.min_timeout_ms, req.timeout_ms
        )));
    }
    if req.shard.is_some() && req.seed.is_none() {
        return Err(invalid(
            "--shard needs --seed: every scanner of the job must walk the same order (e.g. --seed 7 on all of them)",
        ));
    }
    let discovery_only = matches!(req.discovery, HostDiscovery::Only(_));
    if req.engine == EngineKind::Connect && !discovery_only {
        if req.router_mac.is_some() || req.send_via == raw::SendVia::Link {
            return Err(invalid(
                "--router-mac and --send-via link choose how raw probes are sent: add --syn or \
                 --udp (the connect scan leaves it to the kernel)",
            ));
        }
        let raw_only = [
            ("--interface", req.interface.is_some()),
            ("--source-ip", req.source_ip.is_some()),
            ("--send-threads", req.send_threads.is_some()),
        ];
        if let Some((flag, _)) = raw_only.iter().find(|(_, set)| *set) {
            return Err(invalid(format!(
                "{flag} applies to raw scans only: add --syn or --udp, or drop {flag} (the \
                 connect scan leaves routing to the kernel)"
            )));
        }
    }
    Ok(())
}

/// Check everything the request asks for, before any packet leaves.
pub fn prepare(req: ScanRequest) -> Result<Prepared, ScanError> {
    check_flags(&req)?;
    let mut notices = Vec::new();
    let engine = if req.engine != EngineKind::Connect && !crate::rawio::can_open_raw() {
        if req.engine == EngineKind::Udp || req.no_fallback {
            return Err(invalid(format!(
                "--{} needs raw sockets, which need root or CAP_NET_RAW: run as root, or grant it \
                 with `setcap cap_net_raw+ep $(command -v portolan)`",
                req.engine.name()
            )));
        }
        notices.push(
            "--syn needs root or CAP_NET_RAW: falling back to a connect scan (--no-fallback \
             makes this an error)"
                .to_string(),
        );
        EngineKind::Connect
    } else {
        req.engine
    };
    let mut specs = req.targets.clone();
    for f in &req.input_lists {
        specs.extend(target::read_list(f)?);
    }
    let mut excludes = req.excludes.clone();
    for f in &req.exclude_files {
        excludes.extend(target::read_list(f)?);
    }
    if specs.is_empty() {
        return Err(invalid(
            "no targets: give addresses, blocks, ranges or hostnames (e.g. portolan scan 192.0.2.0/24 -p 22), or -iL FILE",
        ));
    }
    let targets = TargetSet::parse(
        &specs,
        &excludes,
        TargetOptions {
            resolve: req.resolve,
        },
    )?;
    let (ports, ranking) = match &req.ports {
        PortsRequest::Spec(p) => (PortSet::parse(p)?, None),
        PortsRequest::Top(n) => {
            let (set, src) = ports::top_ports(*n, Some(Path::new(ports::NMAP_SERVICES)))?;
            (set, Some(src))
        }
    };
    // Host discovery probes every target but this host's own addresses; a run that probes
    // none (a scan of loopback) walks the targets as -Pn does, resume and shard included.
    let own = match req.discovery {
        HostDiscovery::Off => None,
        _ => {
            let (addrs, why) = discovery::own_addresses();
            if let Some(why) = why {
                notices.push(format!(
                    "cannot read this host's interface addresses ({why}): only loopback \
                     targets count as this host's own (up without a probe)"
                ));
            }
            Some(targets.split_by(&addrs))
        }
    };
    if let Some((_, probed)) = &own {
        if req.shard.is_some() && !probed.is_empty() {
            return Err(invalid(
                "--shard slices the walk of every target × port, and host discovery makes the \
                 targets whatever answered on each scanner: add -Pn (scan every target, as \
                 masscan does) or drop --shard",
            ));
        }
    }
    let shard = req.shard.unwrap_or_default();
    let total = targets
        .len()
        .checked_mul(ports.len() as u64)
        .ok_or_else(|| invalid("the scan is too large: scan fewer targets or ports at once"))?;
    let mut job_id = job_fingerprint(&targets, &ports, shard);
    if let (Some(probes), Some((_, probed))) = (req.discovery.probes(), &own) {
        if !probed.is_empty() {
            // A scan after discovery walks the live hosts: its progress means nothing to a
            // run without discovery (or with other probes), and the other way round.
            let p: Vec<String> = probes.iter().map(|p| p.to_string()).collect();
            job_id = format!("{job_id}-d{}", p.join(","));
        }
    }
    let (resumed, snapshot) = match &req.resume {
        Some(p) => {
            let r = ResumeState::load(p, &job_id, total, shard)?;
            let s = match &r {
                Some(_) => load_snapshot(p, &job_id)?,
                None => None,
            };
            (r, s)
        }
        None => (None, None),
    };
    if let (Some(r), Some(s)) = (&resumed, req.seed) {
        if r.seed != s {
            return Err(invalid(format!(
                "--seed {s} differs from the seed {} in the resume file: drop --seed or the file",
                r.seed
            )));
        }
    }
    let seed = resumed
        .as_ref()
        .map(|r| r.seed)
        .or(req.seed)
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0)
                ^ ((std::process::id() as u64) << 32)
        });
    let plan = Plan::new(total, seed)?;
    let prepared = Prepared {
        req,
        engine,
        targets,
        ports,
        ranking,
        plan,
        seed,
        shard,
        total,
        job_id,
        resumed,
        snapshot,
        notices,
        own,
    };
    if let Some(p) = &prepared.req.resume {
        // Prove the resume file is writable now, not at the first checkpoint.
        let (next, done_above) = prepared.start_progress_parts();
        prepared.resume_state(next, done_above).save(p)?;
    }
    Ok(prepared)
}

impl Prepared {
    fn resume_state(&self, next: u64, done_above: Vec<u64>) -> ResumeState {
        ResumeState {
            version: ResumeState::VERSION,
            job: self.job_id.clone(),
            seed: self.seed,
            shard: self.shard,
            total: self.total,
            next,
            done_above,
        }
    }
    /// Where the walk starts: the snapshot's progress when there is one (it is saved first, so
    /// it is never behind what it holds), else the resume file's.
    fn start_progress_parts(&self) -> (u64, Vec<u64>) {
        match (&self.snapshot, &self.resumed) {
            (Some(s), _) => (s.next, s.done_above.clone()),
            (None, Some(r)) => (r.next, r.done_above.clone()),
            (None, None) => (0, Vec::new()),
        }
    }
}

/// The IANA service name of `port` for `proto`, as a table guess (nmap's "table" method).
fn table_service(reg: &Registry, port: u16, proto: Protocol) -> Option<Service> {
    reg.by_port(port)
        .find(|e| e.protocol() == Some(proto) && e.kind() == EntryKind::Assigned)
        .map(|e| Service {
            name: e.service().to_string(),
            method: ServiceMethod::Table,
            conf: 3,
            ..Default::default()
        })
}

/// Hands the engine's events to the sinks; remembers the first sink failure and stops the
/// engine on it.
struct Fanout<'s, 'o> {
    sinks: &'s mut [&'o mut dyn EventSink],
    observer: &'s mut dyn Observer,
    builder: ReportBuilder,
    reg: &'static Registry,
    all_ports: bool,
    /// With -sV: open ports wait here for detection before reaching the sinks.
    defer_open: Option<Vec<PortEvent>>,
    failure: Option<(String, SinkError)>,
    stop: Stop,
    /// Resume bookkeeping.
    resume: Option<PathBuf>,
    services: Vec<(IpAddr, Protocol, u16, Service)>,
    prior: ScanStats,
    start: SystemTime,
    job_id: String,
    base_state: ResumeState,
    save_error: Option<ScanError>,
    /// This leg's results so far (for the snapshot).
    leg: ScanStats,
    /// The progress of the last save.
    last: (u64, Vec<u64>),
    /// The hosts the port scan walks after discovery (saved with the snapshot).
    live: Option<Live>,
}

/// Stop the engine for a sink (as a first request: service detection still runs, so that the
/// other outputs are complete).
fn halt(stop: &Stop) {
    stop.graceful_flag().store(true, Ordering::SeqCst);
}

impl Fanout<'_, '_> {
    fn deliver(&mut self, f: impl Fn(&mut dyn EventSink) -> Result<Flow, SinkError>) {
        for s in self.sinks.iter_mut() {
            let r = f(&mut **s);
            match r {
                Ok(Flow::Continue) => {}
                Ok(Flow::Stop) => halt(&self.stop),
                Err(e) => {
                    if self.failure.is_none() {
                        self.failure = Some((s.name(), e));
                    }
                    halt(&self.stop);
                }
            }
        }
    }

    /// Save the snapshot, then the resume state, at `progress` — only once every sink has made
    /// what it got durable, and never after a sink failed (what it missed must be redone).
    fn save(&mut self, next: u64, done_above: Vec<u64>) {
        let Some(path) = self.resume.clone() else {
            return;
        };
        for s in self.sinks.iter_mut() {
            if let Err(e) = s.flush() {
                if self.failure.is_none() {
                    self.failure = Some((s.name(), e));
                }
                halt(&self.stop);
            }
        }
        self.last = (next, done_above.clone());
        if self.failure.is_some() {
            return;
        }
        let snap = Snapshot {
            version: Snapshot::VERSION,
            job: self.job_id.clone(),
            next,
            done_above: done_above.clone(),
            builder: self.builder.clone(),
            services: self.services.clone(),
            stats: {
                let mut t = self.leg.clone();
                add_stats(&mut t, &self.prior);
                t
            },
            start: self.start,
            live: self.live.clone(),
        };
        let mut st = self.base_state.clone();
        st.next = next;
        st.done_above = done_above;
        let r = save_snapshot(&path, &snap).and_then(|_| st.save(&path).map_err(ScanError::from));
        if let Err(e) = r {
            if self.save_error.is_none() {
                self.save_error = Some(e);
            }
        }
    }
}

impl connect::EventSink for Fanout<'_, '_> {
    fn port(&mut self, mut ev: PortEvent) {
        // Named now only where it is shown now (open ports, streams of every port); the ports
        // the report lists get theirs when it is built. Most of a scan's ports are neither.
        if ev.service.is_none() && (ev.state == PortState::Open || self.all_ports) {
            ev.service = table_service(self.reg, ev.port, ev.proto);
        }
        self.leg.completed += 1;
        match ev.state {
            PortState::Open => {
                self.leg.open += 1;
                self.observer.open(&ev);
            }
            PortState::Closed => self.leg.closed += 1,
            _ => self.leg.filtered += 1,
        }
        // With -sV, UDP ports that stayed silent (open|filtered) are probed too, as nmap does:
        // an answer to a service probe proves them open.
        let detect = ev.state == PortState::Open
            || (ev.state == PortState::OpenFiltered && ev.proto == Protocol::Udp);
        if let (Some(d), true) = (self.defer_open.as_mut(), detect) {
            d.push(ev.clone());
        } else {
            let now = SystemTime::now();
            self.deliver(|s| s.port(&ev, now));
        }
        self.builder.add(ev);
    }
    fn status(&mut self, st: &Status) {
        self.observer.status(st);
    }
    fn notice(&mut self, msg: &str) {
        let now = SystemTime::now();
        self.deliver(|s| s.notice(msg, now));
        self.observer.notice(msg);
    }
    fn checkpoint(&mut self, p: &Progress) {
        self.save(p.next(), p.done_above());
    }
}

/// Run a prepared scan: engine, sinks, service detection, report. Every sink is started,
/// given each final port, and finished with the report, also when the scan is interrupted or
/// a sink fails.
pub fn run(
    prep: Prepared,
    sinks: &mut [&mut dyn EventSink],
    detector: Option<&mut dyn ServiceDetector>,
    observer: &mut dyn Observer,
    stop: &Stop,
) -> Result<ScanOutcome, ScanError> {
    let req = &prep.req;
    let positions = prep.shard.positions(prep.total);
    let (next, done_above) = prep.start_progress_parts();
    let progress = if prep.resumed.is_some() {
        Progress::new(next.max(positions.start), &done_above)
    } else {
        Progress::new(positions.start, &[])
    };
    let start = prep
        .snapshot
        .as_ref()
        .map(|s| s.start)
        .unwrap_or_else(SystemTime::now);
    let only = matches!(req.discovery, HostDiscovery::Only(_));
    let meta = ScanStart {
        args: req.command_line.clone(),
        num_ports: if only { 0 } else { prep.ports.len() as u64 },
        ports: if only {
            String::new()
        } else {
            prep.ports.to_spec()
        },
        proto: prep.engine.protocol(),
        resumed_from: prep.resumed.as_ref().map(|r| r.next),
        scan_type: if only {
            "ping".into()
        } else {
            prep.engine.name().into()
        },
        scanner: "portolan".into(),
        seed: prep.seed,
        shard: prep.shard.to_string(),
        targets: prep.targets.len(),
        time: SystemTime::now(),
        version: env!("CARGO_PKG_VERSION").into(),
    };
    let sv = req.service_detection && detector.is_some();
    let (builder, services, prior) = match prep.snapshot.clone() {
        Some(s) => (s.builder, s.services, s.stats),
        None => (
            ReportBuilder::new(prep.targets.len() <= 4096, req.all_ports),
            Vec::new(),
            ScanStats::default(),
        ),
    };
    let mut fan = Fanout {
        sinks,
        observer,
        builder,
        reg: Registry::embedded(),
        all_ports: req.all_ports,
        defer_open: sv.then(Vec::new),
        failure: None,
        stop: stop.clone(),
        resume: req.resume.clone(),
        services,
        prior,
        start,
        job_id: prep.job_id.clone(),
        base_state: prep.resume_state(0, Vec::new()),
        save_error: None,
        leg: ScanStats::default(),
        last: (next, done_above.clone()),
        live: None,
    };
    fan.deliver(|s| s.start(&meta));
    for n in &prep.notices {
        let now = SystemTime::now();
        fan.deliver(|s| s.notice(n, now));
    }
    // Open ports an earlier leg found but never identified: detect them now.
    if sv {
        let known: std::collections::HashSet<(IpAddr, Protocol, u16)> = fan
            .services
            .iter()
            .map(|(a, p, n, _)| (*a, *p, *n))
            .collect();
        let pending: Vec<PortEvent> = fan
            .builder
            .listed()
            .filter(|e| e.state == PortState::Open && !known.contains(&(e.addr, e.proto, e.port)))
            .cloned()
            .collect();
        if let Some(d) = fan.defer_open.as_mut() {
            d.extend(pending);
        }
    }

    // Host discovery, then the ports of the live hosts only (or nothing more with -sn).
    let mut found: Option<Discovered> = None;
    let mut live: Option<(TargetSet, Plan)> = None;
    let mut skip_ports = false;
    let mut live_progress = Progress::new(0, &[]);
    let saved_live = prep.snapshot.as_ref().and_then(|s| s.live.clone());
    if let (Some(l), Some(_), None) = (saved_live, req.discovery.probes(), &fan.failure) {
        // A resumed scan walks the hosts discovery found on its first run (they are up in the
        // saved report already), from where it got to: not one host lost or added.
        let t = prep.targets.restrict(l.keep.clone())?;
        let total = t.len() * prep.ports.len() as u64;
        let plan = Plan::new(total, prep.seed)?;
        let (next, done_above) = prep.start_progress_parts();
        live_progress = Progress::new(next.min(plan.len()), &done_above);
        live = Some((t, plan));
        found = Some(Discovered {
            method: l.method.clone(),
            stats: l.stats.clone(),
            ..Default::default()
        });
        fan.live = Some(l);
    } else if let (Some(probes), None) = (req.discovery.probes(), &fan.failure) {
        let d = discover(&prep, probes, &mut fan, stop)?;
        for h in &d.hosts {
            fan.builder.host_up(h.addr, h.reason, h.rtt, h.ttl);
        }
        let cut = d.stats.interrupted || stop.graceful();
        // (This host's own addresses among the targets are listed up: none listed, none up.)
        if d.hosts.is_empty() && !cut {
            let n = prep.targets.len();
            let msg = format!(
                "0 hosts up of {n} address{} (host discovery: {}): if a host is really up but \
                 blocks ping probes, try -Pn",
                if n == 1 { "" } else { "es" },
                d.method
            );
            let now = SystemTime::now();
            fan.deliver(|s| s.notice(&msg, now));
            fan.observer.notice(&msg);
        }
        if matches!(req.discovery, HostDiscovery::Before(_)) && d.probed > 0 {
            // Only the live hosts (and this host's own addresses) are scanned; with none up
            // there is nothing more to do, nor after an interrupted discovery (a resumed run
            // discovers again).
            let keep: Vec<Interval> = d
                .local
                .iter()
                .copied()
                .chain(d.hosts.iter().map(|h| Interval::single(h.addr)))
                .collect();
            if keep.is_empty() || cut {
                skip_ports = true;
            } else {
                let t = prep.targets.restrict(keep.clone())?;
                let total = t.len() * prep.ports.len() as u64;
                live = Some((t, Plan::new(total, prep.seed)?));
                if req.resume.is_some() {
                    // What discovery found is durable before the first port probe: a resumed
                    // run walks the same hosts.
                    fan.live = Some(Live {
                        keep,
                        method: d.method.clone(),
                        stats: d.stats.clone(),
                    });
                    fan.save(0, Vec::new());
                }
            }
        }
        skip_ports |= only;
        found = Some(d);
    }

    // The engine.
    let job = match &live {
        Some((t, p)) => Job {
            targets: t,
            ports: &prep.ports,
            plan: p,
            positions: 0..p.len(),
            progress: live_progress,
        },
        None => Job {
            targets: &prep.targets,
            ports: &prep.ports,
            plan: &prep.plan,
            positions,
            progress,
        },
    };
    let max_timeout = Duration::from_millis(req.timeout_ms);
    let min_timeout = Duration::from_millis(req.min_timeout_ms);
    let engine_stop = stop.graceful_flag();
    let (stats, raw_stats) = if fan.failure.is_some() || skip_ports {
        (ScanStats::default(), None)
    } else {
        match prep.engine {
            EngineKind::Connect => {
                let cfg = ConnectConfig {
                    max_rate: req.max_rate,
                    max_window: req.concurrency,
                    min_window: 256.min(req.concurrency),
                    initial_window: 1024.min(req.concurrency),
                    max_timeout,
                    min_timeout,
                    retries: req.retries,
                    ..Default::default()
                };
                (connect::run(job, &cfg, &mut fan, engine_stop)?, None)
            }
            EngineKind::Syn | EngineKind::Udp => {
                let rcfg = RawConfig {
                    kind: if prep.engine == EngineKind::Udp {
                        RawKind::Udp
                    } else {
                        RawKind::Syn
                    },
                    max_rate: req.max_rate.unwrap_or(RawConfig::default().max_rate),
                    max_timeout,
                    min_timeout,
                    retries: req.retries,
                    interface: req.interface.clone(),
                    source_ip: req.source_ip,
                    send_threads: req.send_threads,
                    send_via: req.send_via,
                    router_mac: req.router_mac,
                    seed_key: Some((prep.seed, prep.seed.rotate_left(32) ^ 0x706f_7274_6f6c_616e)),
                    ..Default::default()
                };
                let r = raw::run(job, &rcfg, &mut fan, engine_stop)?;
                (r.scan.clone(), Some(r))
            }
        }
    };
    fan.observer.engine_done();

    // Service detection on the open ports (-sV), and on open|filtered UDP ports.
    let mut upgraded = 0u64;
    if let (Some(open), Some(det)) = (fan.defer_open.take(), detector) {
        let found = if open.is_empty() || stop.now() {
            Vec::new()
        } else {
            det.detect(&open, stop)
        };
        let found: HashMap<PortKey, Service> = found.into_iter().collect();
        for (k, s) in &found {
            fan.services.push((k.addr, k.proto, k.port, s.clone()));
        }
        for e in fan.builder.listed_mut() {
            if let Some(s) = found.get(&e.key()) {
                e.service = Some(s.clone());
            }
        }
        let now = SystemTime::now();
        for mut ev in open {
            if let Some(s) = found.get(&ev.key()) {
                ev.service = Some(s.clone());
                if ev.state != PortState::Open && ev.proto == Protocol::Udp {
                    // A silent UDP port answered a service probe: open, reason udp-response.
                    let before = ev.clone();
                    ev.state = PortState::Open;
                    ev.reason = Reason::UdpResponse;
                    if !fan
                        .builder
                        .restate(&before, PortState::Open, Reason::UdpResponse)
                    {
                        fan.builder.add(ev.clone());
                    }
                    fan.leg.open += 1;
                    fan.leg.filtered = fan.leg.filtered.saturating_sub(1);
                    upgraded += 1;
                    fan.observer.open(&ev);
                }
            }
            fan.deliver(|s| s.port(&ev, now));
        }
        // The results are durable before the scan counts as done.
        let (n, d) = fan.last.clone();
        fan.save(n, d);
    }

    // Every port is delivered: a sink writing in the background starts on what it holds now,
    // beside the report and the other outputs (the engine's threads are done).
    fan.deliver(|s| s.ports_done().map(|()| Flow::Continue));

    // The report.
    let services: HashMap<PortKey, Service> = fan
        .services
        .iter()
        .map(|(a, p, n, s)| {
            (
                PortKey {
                    addr: *a,
                    proto: *p,
                    port: *n,
                },
                s.clone(),
            )
        })
        .collect();
    let mut total_stats = stats;
    total_stats.open += upgraded;
    total_stats.filtered = total_stats.filtered.saturating_sub(upgraded);
    add_stats(&mut total_stats, &fan.prior);
    if let Some(d) = &found {
        // Discovery's probes count as probes; its answers are not ports.
        total_stats.planned += d.stats.planned;
        total_stats.completed += d.stats.completed;
        total_stats.sent += d.stats.sent;
        total_stats.retries += d.stats.retries;
        total_stats.interrupted |= d.stats.interrupted;
    }
    total_stats.interrupted = stats_interrupted(&total_stats, stop, fan.failure.is_some());
    let builder = std::mem::replace(&mut fan.builder, ReportBuilder::new(false, false));
    let mut hosts = builder.finish(|ip: IpAddr| prep.targets.hostname(ip).map(str::to_string));
    for h in &mut hosts {
        for p in &mut h.ports {
            if let Some(s) = services.get(&p.key()) {
                p.service = Some(s.clone());
            } else if p.service.is_none() {
                p.service = table_service(fan.reg, p.port, p.proto);
            }
        }
    }
    let report = ScanReport {
        scan_type: if only {
            "ping".into()
        } else {
            prep.engine.name().into()
        },
        proto: prep.engine.protocol(),
        args: req.command_line.clone(),
        ports_spec: if only {
            String::new()
        } else {
            prep.ports.to_spec()
        },
        num_ports: if only { 0 } else { prep.ports.len() as u64 },
        start,
        end: SystemTime::now(),
        hosts,
        targets_total: prep.targets.len(),
        host_discovery: found.as_ref().map(|d| d.method.clone()).unwrap_or_default(),
        stats: total_stats,
    };
    // Finish every sink; the first failure is the error.
    if let Some(f) = portolan_model::finish_all(fan.sinks, &report) {
        fan.failure.get_or_insert(f);
    }
    let saved = match &req.resume {
        Some(p) if report.stats.interrupted || fan.failure.is_some() => Some(p.clone()),
        Some(p) => {
            let _ = std::fs::remove_file(snapshot_path(p));
            let _ = std::fs::remove_file(p);
            None
        }
        None => None,
    };
    if let Some((name, source)) = fan.failure.take() {
        return Err(ScanError::Sink {
            name,
            error: source,
            saved,
        });
    }
    if let Some(e) = fan.save_error.take() {
        return Err(e);
    }
    Ok(ScanOutcome {
        report,
        raw: raw_stats,
        saved,
        discovery: found,
    })
}

/// The raw discovery's congestion window: 2^17 probes in flight (at the 100,000/s floor and a
/// 250 ms first timeout, 25,000 are; memory stays bounded, not proportional to the targets).
const DISCOVERY_WINDOW: usize = 1 << 17;

/// Run host discovery over every target: this host's own addresses are up without a probe
/// (`localhost-response`); the others are probed, raw and stateless when raw sockets open,
/// else by TCP connects to [`discovery::CONNECT_PORTS`] (with a notice). Status goes to the
/// observer, notices to the sinks.
fn discover(
    prep: &Prepared,
    probes: &[discovery::Probe],
    fan: &mut Fanout<'_, '_>,
    stop: &Stop,
) -> Result<Discovered, ScanError> {
    let (local, probed) = prep.own.clone().unwrap_or_default();
    let mut d = if probed.is_empty() {
        Discovered {
            method: "localhost".into(),
            ..Default::default()
        }
    } else {
        let targets = prep.targets.restrict(probed)?;
        probe_hosts(prep, &targets, probes, fan, stop)?
    };
    d.probed = prep.targets.len() - local.iter().map(|iv| iv.size() as u64).sum::<u64>();
    d.hosts.extend(discovery::local_hosts(&local));
    d.hosts.sort_by_key(|h| h.addr);
    d.local = local;
    Ok(d)
}

/// Probe `targets` for host discovery (see [`discover`]).
fn probe_hosts(
    prep: &Prepared,
    targets: &TargetSet,
    probes: &[discovery::Probe],
    fan: &mut Fanout<'_, '_>,
    stop: &Stop,
) -> Result<Discovered, ScanError> {
    let req = &prep.req;
    let max_timeout = Duration::from_millis(req.timeout_ms);
    let min_timeout = Duration::from_millis(req.min_timeout_ms);
    let observer = &mut *fan.observer;
    let mut status = |st: &Status| observer.status(st);
    let d = if crate::rawio::can_open_raw() {
        let cfg = RawConfig {
            max_rate: req.max_rate.unwrap_or(RawConfig::default().max_rate),
            max_timeout,
            min_timeout,
            // Several probe kinds go to every host and any answer will do: each is sent once
            // unless asked (a retry pass would double the work on a silent range).
            retries: req.discovery_retries.unwrap_or(0),
            // Silent probes hold their window slot for a whole timeout: a port scan's window
            // would cap a sparse range at window / timeout (65,536 / 250 ms) below the pace.
            // Discovery sends a few probes per host: the pace (and the per-host windows) bound
            // it, and the window stays large enough not to.
            initial_window: DISCOVERY_WINDOW,
            max_window: DISCOVERY_WINDOW,
            interface: req.interface.clone(),
            source_ip: req.source_ip,
            send_threads: req.send_threads,
            send_via: req.send_via,
            router_mac: req.router_mac,
            seed_key: Some((prep.seed ^ 0x5049_4e47, prep.seed.rotate_left(17))),
            // A raw port scan that follows opens its own sockets (and drops them then).
            drop_privileges: matches!(req.discovery, HostDiscovery::Only(_))
                || prep.engine == EngineKind::Connect,
            ..Default::default()
        };
        discovery::run_raw(
            targets,
            probes,
            &cfg,
            prep.seed,
            &mut status,
            stop.graceful_flag(),
        )?
    } else {
        let cfg = ConnectConfig {
            max_rate: req.max_rate,
            max_window: req.concurrency,
            min_window: 256.min(req.concurrency),
            initial_window: 1024.min(req.concurrency),
            max_timeout,
            min_timeout,
            retries: req.retries,
            ..Default::default()
        };
        let mut d = discovery::run_connect(
            targets,
            &discovery::CONNECT_PORTS,
            &cfg,
            prep.seed,
            &mut status,
            stop.graceful_flag(),
        )?;
        d.notices.insert(
            0,
            "host discovery without root or CAP_NET_RAW: TCP connects to ports 80 and 443 (a handshake or a refusal proves a host up); ICMP and the chosen --discovery probes need raw sockets"
                .into(),
        );
        d
    };
    for n in &d.notices {
        let now = SystemTime::now();
        fan.deliver(|s| s.notice(n, now));
        fan.observer.notice(n);
    }
    Ok(d)
}

/// Add an earlier leg's counts (its `planned` counted this leg too: only what it completed is
/// added to that).
fn add_stats(a: &mut ScanStats, b: &ScanStats) {
    a.planned += b.completed;
    a.completed += b.completed;
    a.sent += b.sent;
    a.retries += b.retries;
    a.open += b.open;
    a.closed += b.closed;
    a.filtered += b.filtered;
}

fn stats_interrupted(s: &ScanStats, stop: &Stop, failed: bool) -> bool {
    s.interrupted || failed || stop.graceful()
}
