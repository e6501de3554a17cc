//! The raw SYN and UDP scan engine.
//!
//! Threads joined by channels and by the probe cookie, as in masscan and ZMap:
//!
//! - the **receiver** thread reads every IP packet from an `AF_PACKET` socket, validates it with
//!   [`portolan_wire::reply::classify`] (a keyed SipHash of the 4-tuple carried in the SYN's
//!   sequence number or the UDP source port), counts and drops what does not validate, and
//!   passes validated replies on;
//! - the **engine** (the calling thread) walks the plan, builds each probe into a batch buffer
//!   (no allocation per packet), takes it from the pace (the hard `--max-rate` token bucket,
//!   or without it a cap proven by the replies: [`crate::rate::Pacer`]) under the congestion
//!   [`crate::connect::Window`], and keeps only the *unanswered* probes — a table whose size is
//!   bounded by the window, never by the target space — to retransmit them after an RTT-derived
//!   timeout, a bounded number of times;
//! - **send lanes** (at high rates, one per spare CPU): the kernel does each packet's routing,
//!   queueing and, on local and virtual links, the other end's processing and the reply's on
//!   the CPU that called `sendmmsg`, so the engine hands full batches to idle lanes and sends
//!   itself only when every lane is busy. Pacing and bookkeeping stay on the engine thread.
//!
//! The window grows with answers and completions and halves when an answer to a retransmission
//! proves that an earlier probe was lost, so a lossy path slows the scan instead of losing
//! ports; a port that stays silent after every try is `filtered` (TCP) or `open|filtered` (UDP).
//! The scan ends when every probe is answered or has used its tries, not after a fixed wait.
//!
//! UDP and ICMP rate limits: Linux answers closed UDP ports with ICMP port-unreachable at about
//! 1,000 messages a second, so a full-range UDP scan would take a minute per host if it waited
//! for every ICMP. It does not: silent ports are retransmitted at most `udp_retries` times (at
//! the send rate) and then reported `open|filtered` with reason `no-response`; the report counts
//! them as "not confirmed closed".
//!
//! The parts (private modules): `engine` — the shared engine pieces: the plan walk, the global
//! window and the per-host ones (`hosts`), the unanswered probes and their `timers`, the pace,
//! and every sink call — knows nothing of sockets; `probe` holds the probe kinds, one object
//! each (SYN, UDP: how to build one, what a reply to it means, what silence means); `transport`
//! puts send and receive behind traits, with the kernel's side (raw sockets, the send `lanes`,
//! the receiver thread). The engine's loss, retransmission and window behaviour is unit-tested
//! against a simulated network (`sim`: deterministic loss, late answers, refused sends, a full
//! queue), as an ordinary user.

mod engine;
mod hosts;
mod lanes;
mod probe;
#[cfg(test)]
mod sim;
mod timers;
mod transport;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use portolan_wire::cookie::CookieKey;

use crate::connect::{EventSink, Job};
use crate::model::ScanStats;
use crate::netlink;
use crate::rate::{Pacer, TokenBucket};
use crate::rawio::{self, RawError, Receiver, Sender};

use engine::Engine;
use lanes::Lanes;
use probe::ProbeKind;
use transport::{spawn_receiver, KernelTx, RxCounters, SystemClock};

pub use crate::egress::SendVia;

/// Which raw probe to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RawKind {
    Syn,
    Udp,
    /// Host discovery: the probes of [`RawConfig::discovery`], one "port" slot each (1, 2, ...);
    /// see [`crate::discovery`].
    Discovery,
}

/// Tunables of the raw engine.
#[derive(Clone, Debug)]
pub struct RawConfig {
    pub kind: RawKind,
    /// Hard cap on packets per second (first tries and retransmissions alike). Infinite (the
    /// default): no fixed cap; the engine starts at [`crate::rate::PROVEN_FLOOR`] and goes as
    /// fast as the replies prove the path carries ([`Pacer::proven`]), under the windows.
    pub max_rate: f64,
    pub burst: Option<u32>,
    pub initial_window: usize,
    pub min_window: usize,
    pub max_window: usize,
    pub min_timeout: Duration,
    pub max_timeout: Duration,
    /// Probe timeout until the first round trip is measured (capped by `max_timeout`). On a
    /// filtered host few probes are ever answered, so this sets the pace of the first round.
    pub initial_timeout: Duration,
    /// Retransmissions of a silent TCP probe.
    pub retries: u32,
    /// Retransmissions of a silent UDP probe.
    pub udp_retries: u32,
    pub interface: Option<String>,
    pub source_ip: Option<IpAddr>,
    /// Source port of SYN probes (UDP probes take theirs from the cookie).
    pub source_port: u16,
    pub ttl: u8,
    pub seed_key: Option<(u64, u64)>,
    pub checkpoint_every: Duration,
    /// Extra threads that hand batches to the kernel beside the engine thread (`None`: one per
    /// spare CPU, at most 3, when `max_rate` is above 50,000/s). Sending is where the time goes:
    /// the kernel does each probe's routing, queueing and (on a local or virtual link) the
    /// target's and our own processing of the reply on the sending CPU, so sending from several
    /// CPUs spreads that work.
    pub send_threads: Option<usize>,
    /// How probes are handed to the kernel: the IP raw socket (default) or Ethernet frames to
    /// the next hop's MAC from the kernel's neighbour table (see [`crate::egress`]).
    pub send_via: SendVia,
    /// Send Ethernet frames to this MAC on the route's interface (masscan's `--router-mac`):
    /// implies link-layer sending and needs no neighbour entry.
    pub router_mac: Option<[u8; 6]>,
    /// Give up every capability once the sockets are open (default). Linux keeps capabilities
    /// per thread: a second raw scan from the same thread then cannot open its sockets, so a
    /// program that runs several scans from one thread sets this to false (and drops them
    /// itself when it is done).
    pub drop_privileges: bool,
    /// With [`RawKind::Discovery`]: the probes sent to every host.
    pub discovery: Vec<crate::discovery::Probe>,
}

impl Default for RawConfig {
    fn default() -> Self {
        RawConfig {
            kind: RawKind::Syn,
            max_rate: f64::INFINITY,
            burst: None,
            initial_window: 16_384,
            min_window: 64,
            max_window: 65_536,
            min_timeout: Duration::from_millis(100),
            max_timeout: Duration::from_millis(1000),
            initial_timeout: Duration::from_millis(250),
            retries: 2,
            udp_retries: 1,
            interface: None,
            source_ip: None,
            source_port: 61_234,
            ttl: 64,
            seed_key: None,
            checkpoint_every: Duration::from_secs(5),
            send_threads: None,
            send_via: SendVia::Ip,
            router_mac: None,
            drop_privileges: true,
            discovery: Vec::new(),
        }
    }
}

/// What the raw engine saw beyond the port events.
#[derive(Clone, Debug, Default)]
pub struct RawStats {
    pub scan: ScanStats,
    /// Packets read by the receiver.
    pub rx_packets: u64,
    /// Packets that looked like replies but failed the cookie check (ignored).
    pub rx_invalid: u64,
    /// Validated replies for probes already final (duplicates, late answers).
    pub late_replies: u64,
    /// UDP ports reported open|filtered that no ICMP confirmed closed.
    pub udp_unconfirmed: u64,
    /// Times the kernel's send queue was full.
    pub send_full: u64,
    /// Probes that waited for room in their host's own window (a host that lost probes).
    pub host_holds: u64,
    /// Send buffers (64 packets each) the engine allocated: a handful for any scan, since
    /// buffers come back from the send lanes and are reused.
    pub batches: u64,
}

/// Run a raw scan. Needs `CAP_NET_RAW`; on [`RawError::Permission`] the caller may fall back to a
/// connect scan.
pub fn run(
    job: Job<'_>,
    cfg: &RawConfig,
    sink: &mut dyn EventSink,
    stop: Arc<AtomicBool>,
) -> Result<RawStats, RawError> {
    // How each family in use leaves (IP raw socket or Ethernet frames), from the kernel's tables.
    let egress = crate::egress::plan(
        cfg.send_via,
        cfg.router_mac,
        cfg.interface.as_deref(),
        job.targets,
    )?;
    for n in &egress.notices {
        sink.notice(n);
    }
    let sender = Sender::open_via(egress.v4.as_ref(), egress.v6.as_ref())?;
    let nlanes = cfg.send_threads.unwrap_or_else(|| {
        if cfg.max_rate > 50_000.0 {
            std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .saturating_sub(1)
                .min(3)
        } else {
            0
        }
    });
    let mut lane_senders = Vec::with_capacity(nlanes);
    for _ in 0..nlanes {
        lane_senders.push(Sender::open_via(egress.v4.as_ref(), egress.v6.as_ref())?);
    }
    let receiver = Receiver::open(cfg.interface.as_deref(), Duration::from_millis(20))?;
    if cfg.drop_privileges && !rawio::drop_privileges() {
        sink.notice("could not drop capabilities after opening the raw sockets");
    }
    let key = match cfg.seed_key {
        Some((a, b)) => CookieKey::new(a, b),
        None => CookieKey::random(),
    };

    let counters = Arc::new(RxCounters::default());
    let rx_stop = Arc::new(AtomicBool::new(false));
    let (rx, rx_thread) = spawn_receiver(receiver, key, counters.clone(), rx_stop.clone())?;
    let lanes = Lanes::spawn(lane_senders, &rx_stop)?;
    let tx = KernelTx {
        sender,
        lanes,
        egress: &egress,
        source_ip: cfg.source_ip,
        oif: cfg.interface.as_deref().and_then(netlink::ifindex),
        cache: HashMap::new(),
    };

    let syn;
    let udp;
    let disc;
    let kind: &dyn ProbeKind = match cfg.kind {
        RawKind::Syn => {
            syn = probe::Syn {
                key,
                source_port: cfg.source_port,
                ttl: cfg.ttl,
                tries: 1 + cfg.retries,
            };
            &syn
        }
        RawKind::Udp => {
            udp = probe::Udp::new(key, cfg.ttl, 1 + cfg.udp_retries, job.ports.as_slice());
            &udp
        }
        RawKind::Discovery => {
            disc = probe::Discovery {
                key,
                probes: cfg.discovery.clone(),
                source_port: cfg.source_port,
                ttl: cfg.ttl,
                tries: 1 + cfg.retries,
            };
            &disc
        }
    };
    let origin = Instant::now();
    let pacer = if cfg.max_rate.is_finite() {
        Pacer::fixed(
            cfg.max_rate,
            cfg.burst
                .unwrap_or_else(|| TokenBucket::default_burst(cfg.max_rate)),
            origin,
        )
    } else {
        Pacer::proven(
            crate::rate::PROVEN_FLOOR,
            crate::rate::PROVEN_CEILING,
            origin,
        )
    };

    let mut engine = Engine::new(job, kind, cfg, pacer, tx, rx, SystemClock, sink);
    engine.run(&stop);
    let stats = engine.close(|tx, stats, sink| {
        rx_stop.store(true, Ordering::SeqCst);
        tx.lanes.join();
        let _ = rx_thread.join();
        stats.rx_packets = counters.packets.load(Ordering::Relaxed);
        stats.rx_invalid = counters.invalid.load(Ordering::Relaxed);
        let dropped = counters.dropped.load(Ordering::Relaxed);
        if dropped > 0 {
            sink.notice(&format!(
                "{dropped} validated replies were dropped because the engine fell behind"
            ));
        }
    });
    Ok(stats)
}
