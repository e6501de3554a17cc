//! The raw SYN and UDP scan engine.
//!
//! Threads joined by channels and by the probe cookie, as in masscan and ZMap:
//!
//! - the **receiver** thread reads every IP packet from an `AF_PACKET` socket, validates it with
//!   [`portolan_wire::reply::classify`] (a keyed SipHash of the 4-tuple carried in the SYN's
//!   sequence number or the UDP source port), counts and drops what does not validate, and
//!   passes validated replies on;
//! - the **engine** (the calling thread) walks the plan, builds each probe into a batch buffer
//!   (no allocation per packet), takes it from the hard `--max-rate` token bucket under the
//!   congestion [`Window`], and keeps only the *unanswered* probes — a table whose size is
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

use std::cmp::{Ordering as CmpOrdering, Reverse};
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use portolan_wire::build::{self, IpFields};
use portolan_wire::cookie::CookieKey;
use portolan_wire::payloads;
use portolan_wire::reply::{classify, Reply, ReplyKind, Verdict};

use crate::connect::{EventSink, Job, Status, Window};
use crate::model::{PortEvent, PortState, Proto, Reason, ScanStats};
use crate::netlink;
use crate::rate::TokenBucket;
use crate::rawio::{self, RawError, Receiver, Sender};

pub use crate::egress::SendVia;

/// Which raw probe to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RawKind {
    Syn,
    Udp,
}

/// Tunables of the raw engine.
#[derive(Clone, Debug)]
pub struct RawConfig {
    pub kind: RawKind,
    /// Hard cap on packets per second (first tries and retransmissions alike).
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
}

impl Default for RawConfig {
    fn default() -> Self {
        RawConfig {
            kind: RawKind::Syn,
            max_rate: 100_000.0,
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
        }
    }
}

/// Counters the receiver keeps.
#[derive(Debug, Default)]
struct RxCounters {
    packets: AtomicU64,
    invalid: AtomicU64,
    dropped: AtomicU64,
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
}

struct InFlight {
    pos: u64,
    sent: Instant,
    tries: u32,
}

/// Run a raw scan. Needs `CAP_NET_RAW`; on [`RawError::Permission`] the caller may fall back to a
/// connect scan.
pub fn run(
    job: Job<'_>,
    cfg: &RawConfig,
    sink: &mut dyn EventSink,
    stop: Arc<AtomicBool>,
) -> Result<RawStats, RawError> {
    let nports = job.ports.len() as u64;
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

    // Source addresses, one per family, from the kernel's routing (or --source-ip).
    let mut src_cache: HashMap<bool, IpAddr> = HashMap::new();
    let oif = cfg.interface.as_deref().and_then(netlink::ifindex);
    let mut source_of = |dst: IpAddr| -> Result<IpAddr, RawError> {
        if egress.is_off_path(dst) {
            return Err(RawError::OffPath(dst));
        }
        if let Some(s) = cfg.source_ip {
            if s.is_ipv4() == dst.is_ipv4() {
                return Ok(s);
            }
        }
        // Loopback destinations are answered from loopback; others share one source per family
        // unless they route differently (the lab and most scans have one egress).
        if dst.is_loopback() {
            return Ok(dst);
        }
        if let Some(s) = src_cache.get(&dst.is_ipv4()) {
            return Ok(*s);
        }
        // The route's preferred source (`ip route get`), else the connected-UDP-socket trick.
        let s = match netlink::route_get(dst, oif).ok().and_then(|r| r.source) {
            Some(s) => s,
            None => rawio::source_for(dst)?,
        };
        src_cache.insert(dst.is_ipv4(), s);
        Ok(s)
    };

    // Receiver thread.
    let (tx, rx) = mpsc::sync_channel::<(Reply, Instant)>(1 << 16);
    let counters = Arc::new(RxCounters::default());
    let rx_stop = Arc::new(AtomicBool::new(false));
    let rx_thread = {
        let counters = counters.clone();
        let rx_stop = rx_stop.clone();
        std::thread::Builder::new()
            .name("portolan-rx".into())
            .spawn(move || {
                const SLOTS: usize = 64;
                const SLOT: usize = 2048;
                let mut bufs = vec![0u8; SLOTS * SLOT];
                let mut lens = [0usize; SLOTS];
                // Poll without blocking while packets come, so the kernel never has to wake this
                // thread per packet (a wake-up costs the sending CPU more than the packet
                // itself); after a quiet spell, block again.
                let mut idle = 0u32;
                while !rx_stop.load(Ordering::Relaxed) {
                    let got = receiver
                        .recv_batch(&mut bufs, &mut lens, idle > 2000)
                        .unwrap_or(0);
                    if got == 0 {
                        idle = idle.saturating_add(1);
                        if idle <= 2000 {
                            std::thread::sleep(Duration::from_micros(50));
                        }
                        continue;
                    }
                    idle = 0;
                    let at = Instant::now();
                    for (i, &n) in lens[..got].iter().enumerate() {
                        if n == 0 {
                            continue;
                        }
                        counters.packets.fetch_add(1, Ordering::Relaxed);
                        match classify(&bufs[i * SLOT..i * SLOT + n], &key) {
                            Verdict::Reply(r) => {
                                if tx.try_send((r, at)).is_err() {
                                    counters.dropped.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                            Verdict::Invalid => {
                                counters.invalid.fetch_add(1, Ordering::Relaxed);
                            }
                            Verdict::Unrelated => {}
                        }
                    }
                }
            })
            .map_err(RawError::Socket)?
    };
    let mut lanes = Lanes::spawn(lane_senders, &rx_stop)?;

    let proto = match cfg.kind {
        RawKind::Syn => Proto::Tcp,
        RawKind::Udp => Proto::Udp,
    };
    let max_tries = 1 + match cfg.kind {
        RawKind::Syn => cfg.retries,
        RawKind::Udp => cfg.udp_retries,
    };
    let mut win = Window::new(
        cfg.initial_window,
        cfg.min_window,
        cfg.max_window,
        cfg.min_timeout,
        cfg.max_timeout,
    );
    let origin = Instant::now();
    let mut bucket = TokenBucket::new(
        cfg.max_rate,
        cfg.burst
            .unwrap_or_else(|| TokenBucket::default_burst(cfg.max_rate)),
        origin,
    );
    // UDP payloads, built once per port.
    let mut udp_payloads: HashMap<u16, Vec<Vec<u8>>> = HashMap::new();
    if cfg.kind == RawKind::Udp {
        for &p in job.ports.as_slice() {
            let v: Vec<Vec<u8>> = payloads::for_port(p).into_iter().map(|x| x.bytes).collect();
            if !v.is_empty() {
                udp_payloads.insert(p, v);
            }
        }
    }

    let (mut cursor, planned) = job.remaining();
    let mut progress = job.progress;
    let end = job.positions.end;
    let mut stats = RawStats {
        scan: ScanStats {
            planned,
            ..Default::default()
        },
        ..Default::default()
    };
    let mut inflight: HashMap<(IpAddr, u16), InFlight> =
        HashMap::with_capacity(cfg.initial_window * 2);
    // (deadline, addr, port, tries), earliest first; stale entries are skipped.
    let mut timers = Timers::default();
    let mut hosts = Hosts::new(cfg);
    let mut retry: VecDeque<(IpAddr, u16)> = VecDeque::new();
    let mut cur = Batch::new();
    let mut pool: Vec<Batch> = Vec::new();
    // What the last batch given to a lane held (the lane owns the batch meanwhile).
    let mut handed: Vec<Meta> = Vec::with_capacity(BATCH);
    // Probes picked but not yet taken by the kernel: (pos, addr, port, tries).
    let mut deferred: VecDeque<(u64, IpAddr, u16, u32)> = VecDeque::new();
    let mut last_status = Instant::now();
    let mut last_checkpoint = Instant::now();
    // A reply taken while waiting, handled at the top of the next turn.
    let mut pending: Option<(Reply, Instant)> = None;

    let finish = |pos: u64,
                  addr: IpAddr,
                  port: u16,
                  state: PortState,
                  reason: Reason,
                  rtt: Option<Duration>,
                  ttl: Option<u8>,
                  progress: &mut crate::plan::Progress,
                  stats: &mut RawStats,
                  hosts: &mut Hosts,
                  sink: &mut dyn EventSink| {
        hosts.release(addr);
        progress.done(pos);
        stats.scan.completed += 1;
        match state {
            PortState::Open => stats.scan.open += 1,
            PortState::Closed => stats.scan.closed += 1,
            _ => stats.scan.filtered += 1,
        }
        sink.port(PortEvent {
            addr,
            port,
            proto,
            state,
            reason,
            rtt,
            ttl,
            service: None,
        });
    };

    // A probe that could not be sent (no route, refused by the kernel) is final: reported once,
    // as no answer from the host.
    // `$why`: the notice, or None when it was given once for all (off-path targets).
    macro_rules! give_up {
        ($pos:expr, $addr:expr, $port:expr, $why:expr) => {{
            let (pos, addr, port): (u64, IpAddr, u16) = ($pos, $addr, $port);
            if !progress.is_done(pos) {
                let why: Option<String> = $why;
                if let Some(why) = why {
                    sink.notice(&why);
                }
                inflight.remove(&(addr, port));
                finish(
                    pos,
                    addr,
                    port,
                    unsent_state(cfg.kind),
                    Reason::HostUnreach,
                    None,
                    None,
                    &mut progress,
                    &mut stats,
                    &mut hosts,
                    sink,
                );
            }
        }};
    }
    // A batch is back (sent here or by a lane): report what the kernel refused, reuse the buffer.
    macro_rules! reclaim {
        ($b:expr) => {{
            let mut b: Batch = $b;
            for (i, e) in b.errors.drain(..) {
                let m = b.meta[i];
                give_up!(
                    m.pos,
                    m.addr,
                    m.port,
                    Some(format!("sending to {} failed: {e}", m.addr))
                );
            }
            b.clear();
            pool.push(b);
        }};
    }

    loop {
        if stop.load(Ordering::SeqCst) {
            stats.scan.interrupted = true;
            break;
        }
        let now = Instant::now();

        // 0. Batches the send lanes are done with: failed packets are final, buffers reused.
        while let Some(b) = lanes.returned() {
            reclaim!(b);
        }

        // 1. Replies.
        let replies = pending
            .take()
            .into_iter()
            .chain(std::iter::from_fn(|| rx.try_recv().ok()));
        for (r, at) in replies {
            let Some(f) = inflight.remove(&(r.target, r.port)) else {
                stats.late_replies += 1;
                continue;
            };
            let rtt = at.saturating_duration_since(f.sent);
            let (state, reason) = match (cfg.kind, r.kind) {
                (RawKind::Syn, ReplyKind::SynAck) => (PortState::Open, Reason::SynAck),
                (RawKind::Syn, ReplyKind::Rst) => (PortState::Closed, Reason::Reset),
                (RawKind::Udp, ReplyKind::Udp) => (PortState::Open, Reason::UdpResponse),
                (RawKind::Udp, ReplyKind::PortUnreachable) => {
                    (PortState::Closed, Reason::PortUnreach)
                }
                (_, ReplyKind::Unreachable { code }) => (
                    PortState::Filtered,
                    if matches!(code, 9 | 10 | 13) {
                        Reason::AdminProhibited
                    } else {
                        Reason::HostUnreach
                    },
                ),
                // A TCP answer to a UDP probe or the reverse cannot validate; be safe.
                _ => {
                    inflight.insert((r.target, r.port), f);
                    continue;
                }
            };
            // Loss proven on a host whose own window is already the smaller one is that host's
            // problem (a rate limit, its path): it slows that host only. Loss elsewhere slows
            // the whole scan.
            let mut global_loss = f.tries > 1;
            if let Some(h) = hosts.window(r.target) {
                if r.icmp_from.is_none() {
                    h.rtt_sample(rtt);
                }
                h.completed(f.tries > 1);
                global_loss &= h.size() >= win.size();
            }
            if r.icmp_from.is_none() {
                win.rtt_sample(rtt);
            }
            win.completed(global_loss);
            finish(
                f.pos,
                r.target,
                r.port,
                state,
                reason,
                Some(rtt),
                Some(r.ttl),
                &mut progress,
                &mut stats,
                &mut hosts,
                sink,
            );
        }

        // 2. Timeouts: retransmit or give up.
        while let Some(Timer {
            at: deadline,
            addr,
            port,
            tries,
        }) = timers.peek()
        {
            if deadline > now {
                break;
            }
            timers.pop();
            let Some(f) = inflight.get(&(addr, port)) else {
                continue;
            };
            if f.tries != tries {
                continue;
            }
            if f.tries < max_tries {
                retry.push_back((addr, port));
            } else if let Some(f) = inflight.remove(&(addr, port)) {
                win.completed(false);
                if let Some(h) = hosts.window(addr) {
                    h.completed(false);
                }
                let (state, reason) = match cfg.kind {
                    RawKind::Syn => (PortState::Filtered, Reason::NoResponse),
                    RawKind::Udp => {
                        stats.udp_unconfirmed += 1;
                        (PortState::OpenFiltered, Reason::NoResponse)
                    }
                };
                finish(
                    f.pos,
                    addr,
                    port,
                    state,
                    reason,
                    None,
                    None,
                    &mut progress,
                    &mut stats,
                    &mut hosts,
                    sink,
                );
            }
        }

        // 3. Send while the window and the rate cap allow: deferred and retransmissions first,
        //    in batches of up to BATCH packets per system call.
        let mut wake: Option<Instant> = None;
        let mut sent_any = false;
        // Hand the probes built so far to a free send lane, or to the kernel from here.
        macro_rules! flush_batch {
            () => {{
                let fresh = pool.pop().unwrap_or_else(Batch::new);
                let b = std::mem::replace(&mut cur, fresh);
                let timeout = if win.has_rtt() {
                    win.timeout()
                } else {
                    cfg.initial_timeout.min(win.timeout())
                };
                handed.clear();
                handed.extend_from_slice(&b.meta);
                match lanes.offer(b) {
                    Ok(()) => {
                        record_sent(
                            &handed,
                            Instant::now(),
                            timeout,
                            &hosts,
                            &mut inflight,
                            &mut timers,
                            &mut stats,
                        );
                        true
                    }
                    Err(mut b) => {
                        let any = flush(
                            &sender,
                            &mut b,
                            &mut inflight,
                            &mut timers,
                            &mut deferred,
                            timeout,
                            &hosts,
                            &mut stats,
                        );
                        reclaim!(b);
                        any
                    }
                }
            }};
        }
        loop {
            let next = if let Some(d) = deferred.pop_front() {
                Some(d)
            } else if let Some((addr, port)) = retry.pop_front() {
                match inflight.get(&(addr, port)) {
                    Some(f) => Some((f.pos, addr, port, f.tries + 1)),
                    None => continue,
                }
            } else if inflight.len() + cur.meta.len() >= win.size() {
                None
            } else if let Some(h) = hosts.next_ready() {
                // A probe held back for its host's window, now that the host has room.
                Some(h)
            } else {
                while cursor < end && progress.is_done(cursor) {
                    cursor += 1;
                }
                if cursor >= end || hosts.held >= HELD_CAP {
                    None
                } else {
                    let pos = cursor;
                    cursor += 1;
                    let idx = job.plan.index_at(pos);
                    match (
                        job.targets.get(idx / nports),
                        job.ports.get((idx % nports) as usize),
                    ) {
                        (Some(addr), Some(port))
                            if !job.targets.is_excluded(addr)
                                && !inflight.contains_key(&(addr, port)) =>
                        {
                            if hosts.reserve(addr) {
                                Some((pos, addr, port, 1))
                            } else {
                                hosts.hold(addr, pos, port);
                                continue;
                            }
                        }
                        _ => {
                            progress.done(pos);
                            continue;
                        }
                    }
                }
            };
            let Some((pos, addr, port, tries)) = next else {
                break;
            };
            if let Err(when) = bucket.try_take(Instant::now()) {
                wake = Some(when);
                deferred.push_front((pos, addr, port, tries));
                break;
            }
            if !cur.meta.is_empty() && (cur.meta.len() == BATCH || cur.v6 != addr.is_ipv6()) {
                sent_any |= flush_batch!();
            }
            let src = match source_of(addr) {
                Ok(s) => s,
                Err(e) => {
                    // Off-path targets were announced once, before the scan.
                    let why = (!matches!(e, RawError::OffPath(_)))
                        .then(|| format!("{e}; {addr} skipped"));
                    give_up!(pos, addr, port, why);
                    continue;
                }
            };
            let payload_idx = (tries - 1) as usize;
            let nb = cur.meta.len();
            let slot = &mut cur.arena[nb * SLOT..(nb + 1) * SLOT];
            let Some(len) =
                build_probe(slot, cfg, &key, src, addr, port, payload_idx, &udp_payloads)
            else {
                // No probe for this family pair (cannot happen with a routed source): drop it.
                inflight.remove(&(addr, port));
                hosts.release(addr);
                progress.done(pos);
                continue;
            };
            cur.v6 = addr.is_ipv6();
            cur.meta.push(Meta {
                pos,
                addr,
                port,
                tries,
                len,
            });
        }
        if !cur.meta.is_empty() {
            sent_any |= flush_batch!();
        }
        if !deferred.is_empty() && wake.is_none() {
            // The kernel's queue was full: give it a moment.
            wake = Some(Instant::now() + Duration::from_micros(200));
        }

        if inflight.is_empty()
            && hosts.held == 0
            && retry.is_empty()
            && deferred.is_empty()
            && cursor >= end
            && lanes.idle()
        {
            break;
        }

        if last_status.elapsed() >= Duration::from_millis(100) {
            last_status = Instant::now();
            sink.status(&Status {
                planned: stats.scan.planned,
                completed: stats.scan.completed,
                sent: stats.scan.sent,
                open: stats.scan.open,
                in_flight: inflight.len(),
                window: win.size(),
                timeout: win.timeout(),
            });
        }
        if last_checkpoint.elapsed() >= cfg.checkpoint_every {
            last_checkpoint = Instant::now();
            sink.checkpoint(&progress);
        }

        if !sent_any {
            // Nothing could be sent: wait for a reply, a timer or the rate cap.
            let mut until = Instant::now() + Duration::from_millis(5);
            if let Some(w) = wake {
                until = until.min(w);
            }
            if let Some(t) = timers.peek() {
                until = until.min(t.at);
            }
            let wait = until.saturating_duration_since(Instant::now());
            if let Ok(first) = rx.recv_timeout(wait) {
                pending = Some(first);
            }
        }
    }

    rx_stop.store(true, Ordering::SeqCst);
    stats.host_holds = hosts.holds;
    lanes.join();
    let _ = rx_thread.join();
    stats.rx_packets = counters.packets.load(Ordering::Relaxed);
    stats.rx_invalid = counters.invalid.load(Ordering::Relaxed);
    let dropped = counters.dropped.load(Ordering::Relaxed);
    if dropped > 0 {
        sink.notice(&format!(
            "{dropped} validated replies were dropped because the engine fell behind"
        ));
    }
    sink.status(&Status {
        planned: stats.scan.planned,
        completed: stats.scan.completed,
        sent: stats.scan.sent,
        open: stats.scan.open,
        in_flight: 0,
        window: win.size(),
        timeout: win.timeout(),
    });
    sink.checkpoint(&progress);
    Ok(stats)
}

/// Packets per `sendmmsg` call, and the room for each.
const BATCH: usize = 64;
const SLOT: usize = 1536;

/// A probe's retransmission deadline (ordered by the deadline alone).
#[derive(Clone, Copy, Debug)]
struct Timer {
    at: Instant,
    addr: IpAddr,
    port: u16,
    tries: u32,
}

impl PartialEq for Timer {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}
impl Eq for Timer {}
impl PartialOrd for Timer {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl Ord for Timer {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        self.at.cmp(&other.at)
    }
}

/// Retransmission timers, earliest first. Deadlines mostly come in order (one timeout per host,
/// changing slowly), so those go to a queue in O(1); the few that would land before the queue's
/// last one (a host with a shorter timeout) go to a heap.
#[derive(Default)]
struct Timers {
    fifo: VecDeque<Timer>,
    heap: BinaryHeap<Reverse<Timer>>,
}

impl Timers {
    fn push(&mut self, t: Timer) {
        if self.fifo.back().is_none_or(|b| b.at <= t.at) {
            self.fifo.push_back(t);
        } else {
            self.heap.push(Reverse(t));
        }
    }

    fn peek(&self) -> Option<Timer> {
        match (self.fifo.front(), self.heap.peek()) {
            (Some(a), Some(Reverse(b))) => Some(if a.at <= b.at { *a } else { *b }),
            (Some(a), None) => Some(*a),
            (None, Some(Reverse(b))) => Some(*b),
            (None, None) => None,
        }
    }

    fn pop(&mut self) -> Option<Timer> {
        let from_fifo = match (self.fifo.front(), self.heap.peek()) {
            (Some(a), Some(Reverse(b))) => a.at <= b.at,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if from_fifo {
            self.fifo.pop_front()
        } else {
            self.heap.pop().map(|Reverse(t)| t)
        }
    }
}

/// Most probes held back for their hosts' windows; beyond it the plan is not read further until
/// some are sent. One host's whole port range fits (16 bytes a probe).
const HELD_CAP: usize = 65_536;

/// Per-host congestion state, as nmap keeps beside its global one: each host with probes in
/// flight has its own window and round-trip estimate, so a host that drops probes (a rate
/// limit, a congested path) slows down alone while the others go on under the global window,
/// and each host's retransmission timeout follows its own round trip. A probe whose host's window
/// is full waits in that host's queue, not in the plan. A host is forgotten when it has nothing
/// in flight or waiting: memory is bounded by the global window plus [`HELD_CAP`].
struct Hosts {
    map: HashMap<IpAddr, Host>,
    /// Hosts with waiting probes that may have room again.
    ready: VecDeque<IpAddr>,
    /// Probes waiting in all hosts' queues.
    held: usize,
    /// Probes that had to wait, over the scan.
    holds: u64,
    initial: usize,
    min: usize,
    max: usize,
    min_timeout: Duration,
    max_timeout: Duration,
}

struct Host {
    /// Probes picked for this host and not yet final (in a batch, deferred or in flight).
    active: usize,
    /// Probes waiting for room in this host's window: (plan position, port).
    waiting: VecDeque<(u64, u16)>,
    queued: bool,
    win: Window,
}

impl Hosts {
    fn new(cfg: &RawConfig) -> Hosts {
        Hosts {
            map: HashMap::new(),
            ready: VecDeque::new(),
            held: 0,
            holds: 0,
            initial: cfg.initial_window,
            min: cfg.min_window,
            max: cfg.max_window,
            min_timeout: cfg.min_timeout,
            max_timeout: cfg.max_timeout,
        }
    }

    fn entry(&mut self, addr: IpAddr) -> &mut Host {
        let (initial, min, max, lo, hi) = (
            self.initial,
            self.min,
            self.max,
            self.min_timeout,
            self.max_timeout,
        );
        self.map.entry(addr).or_insert_with(|| Host {
            active: 0,
            waiting: VecDeque::new(),
            queued: false,
            win: Window::new(initial, min, max, lo, hi),
        })
    }

    /// Take a slot in `addr`'s window for a new probe; false when the window is full.
    fn reserve(&mut self, addr: IpAddr) -> bool {
        let h = self.entry(addr);
        if h.active >= h.win.size().max(1) {
            return false;
        }
        h.active += 1;
        true
    }

    /// Keep a probe until `addr` has room.
    fn hold(&mut self, addr: IpAddr, pos: u64, port: u16) {
        self.entry(addr).waiting.push_back((pos, port));
        self.held += 1;
        self.holds += 1;
    }

    /// A probe to `addr` is final (or was never sent): free its slot.
    fn release(&mut self, addr: IpAddr) {
        let Some(h) = self.map.get_mut(&addr) else {
            return;
        };
        h.active = h.active.saturating_sub(1);
        if !h.waiting.is_empty() {
            if !h.queued {
                h.queued = true;
                self.ready.push_back(addr);
            }
        } else if h.active == 0 {
            self.map.remove(&addr);
        }
    }

    /// A waiting probe whose host has room now, with its slot taken: (pos, addr, port, try 1).
    fn next_ready(&mut self) -> Option<(u64, IpAddr, u16, u32)> {
        while let Some(addr) = self.ready.pop_front() {
            let Some(h) = self.map.get_mut(&addr) else {
                continue;
            };
            h.queued = false;
            if h.active >= h.win.size().max(1) {
                continue; // queued again by its next release
            }
            let Some((pos, port)) = h.waiting.pop_front() else {
                continue;
            };
            h.active += 1;
            self.held -= 1;
            if !h.waiting.is_empty() {
                h.queued = true;
                self.ready.push_back(addr);
            }
            return Some((pos, addr, port, 1));
        }
        None
    }

    fn window(&mut self, addr: IpAddr) -> Option<&mut Window> {
        self.map.get_mut(&addr).map(|h| &mut h.win)
    }

    /// `addr`'s own retransmission timeout, once a round trip to it was measured.
    fn timeout(&self, addr: IpAddr) -> Option<Duration> {
        self.map
            .get(&addr)
            .filter(|h| h.win.has_rtt())
            .map(|h| h.win.timeout())
    }
}

/// One probe in a batch: plan position, target, try number and packet length.
#[derive(Clone, Copy, Debug)]
struct Meta {
    pos: u64,
    addr: IpAddr,
    port: u16,
    tries: u32,
    len: usize,
}

/// Up to [`BATCH`] probes of one family, built in place, and what sending them went like.
struct Batch {
    v6: bool,
    arena: Vec<u8>,
    meta: Vec<Meta>,
    /// Packets the kernel refused for good (index into `meta`, error).
    errors: Vec<(usize, std::io::Error)>,
}

impl Batch {
    fn new() -> Batch {
        Batch {
            v6: false,
            arena: vec![0u8; BATCH * SLOT],
            meta: Vec::with_capacity(BATCH),
            errors: Vec::new(),
        }
    }

    fn clear(&mut self) {
        self.meta.clear();
        self.errors.clear();
    }

    /// Send the packets from `from` on with as few `sendmmsg` calls as the kernel allows.
    /// Returns the index of the first packet it did not take (queue full); packets it refused
    /// for good are recorded in `errors` and skipped.
    fn push(&mut self, sender: &Sender, from: usize) -> usize {
        // A fixed array: no allocation on the send path.
        let mut slots: [(IpAddr, &[u8]); BATCH] = [(IpAddr::from([0u8, 0, 0, 0]), &[]); BATCH];
        let n = self.meta.len().min(BATCH);
        for (i, m) in self.meta.iter().enumerate().take(n) {
            slots[i] = (m.addr, &self.arena[i * SLOT..i * SLOT + m.len]);
        }
        let mut done = from;
        while done < n {
            match sender.send_batch(self.v6, &slots[done..n]) {
                Ok(0) => break,
                Ok(k) => done += k,
                Err(e) => {
                    self.errors.push((done, e));
                    done += 1;
                }
            }
        }
        done
    }
}

/// What a probe that could not be sent is reported as.
fn unsent_state(kind: RawKind) -> PortState {
    match kind {
        RawKind::Udp => PortState::OpenFiltered,
        RawKind::Syn => PortState::Filtered,
    }
}

/// Record the probes of a batch as sent at `t` (in flight, with a retransmission timer).
#[allow(clippy::too_many_arguments)]
fn record_sent(
    meta: &[Meta],
    t: Instant,
    timeout: Duration,
    hosts: &Hosts,
    inflight: &mut HashMap<(IpAddr, u16), InFlight>,
    timers: &mut Timers,
    stats: &mut RawStats,
) {
    for m in meta {
        stats.scan.sent += 1;
        if m.tries > 1 {
            stats.scan.retries += 1;
        }
        inflight.insert(
            (m.addr, m.port),
            InFlight {
                pos: m.pos,
                sent: t,
                tries: m.tries,
            },
        );
        let timeout = hosts.timeout(m.addr).unwrap_or(timeout);
        timers.push(Timer {
            at: t + timeout,
            addr: m.addr,
            port: m.port,
            tries: m.tries,
        });
    }
}

/// Threads that hand batches to the kernel from other CPUs. Each has its own sockets and a
/// queue of at most [`LANE_DEPTH`] batches; the engine thread offers each batch to the least
/// busy lane and sends it itself when every lane is full, so it never waits for a lane.
struct Lanes {
    jobs: Vec<mpsc::SyncSender<Batch>>,
    busy: Vec<usize>,
    done: mpsc::Receiver<(usize, Batch)>,
    /// Batches back from the lanes, not yet looked at by the engine.
    back: Vec<Batch>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

const LANE_DEPTH: usize = 2;

impl Lanes {
    fn spawn(senders: Vec<Sender>, stop: &Arc<AtomicBool>) -> Result<Lanes, RawError> {
        let (done_tx, done) = mpsc::channel();
        let mut lanes = Lanes {
            jobs: Vec::new(),
            busy: Vec::new(),
            done,
            back: Vec::new(),
            threads: Vec::new(),
        };
        for (i, sender) in senders.into_iter().enumerate() {
            let (tx, rx) = mpsc::sync_channel::<Batch>(LANE_DEPTH);
            let done_tx = done_tx.clone();
            let stop = stop.clone();
            let t = std::thread::Builder::new()
                .name(format!("portolan-tx{}", i + 1))
                .spawn(move || {
                    while let Ok(mut b) = rx.recv() {
                        let mut at = 0;
                        loop {
                            at = b.push(&sender, at);
                            if at >= b.meta.len() || stop.load(Ordering::Relaxed) {
                                break;
                            }
                            // The kernel's queue is full: let it drain.
                            std::thread::sleep(Duration::from_micros(20));
                        }
                        if done_tx.send((i, b)).is_err() {
                            break;
                        }
                    }
                })
                .map_err(RawError::Socket)?;
            lanes.jobs.push(tx);
            lanes.busy.push(0);
            lanes.threads.push(t);
        }
        Ok(lanes)
    }

    /// Give a batch to the least busy lane with room; hands it back when there is none.
    fn offer(&mut self, b: Batch) -> Result<(), Batch> {
        // Note what the lanes finished since the last look; the engine handles it next turn.
        while let Ok((i, done)) = self.done.try_recv() {
            self.busy[i] = self.busy[i].saturating_sub(1);
            self.back.push(done);
        }
        let Some(i) = (0..self.busy.len())
            .filter(|&i| self.busy[i] < LANE_DEPTH)
            .min_by_key(|&i| self.busy[i])
        else {
            return Err(b);
        };
        match self.jobs[i].try_send(b) {
            Ok(()) => {
                self.busy[i] += 1;
                Ok(())
            }
            Err(mpsc::TrySendError::Full(b)) => Err(b),
            Err(mpsc::TrySendError::Disconnected(b)) => {
                // The lane is gone: never offer it work again.
                self.busy[i] = usize::MAX;
                Err(b)
            }
        }
    }

    /// A batch a lane has finished with, if any.
    fn returned(&mut self) -> Option<Batch> {
        if let Some(b) = self.back.pop() {
            return Some(b);
        }
        let (i, b) = self.done.try_recv().ok()?;
        self.busy[i] = self.busy[i].saturating_sub(1);
        Some(b)
    }

    /// Whether no batch is out with a lane.
    fn idle(&self) -> bool {
        self.busy.iter().all(|&b| b == 0 || b == usize::MAX)
    }

    /// Stop the lanes (after they send what they hold) and wait for them.
    fn join(self) {
        drop(self.jobs);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// Hand a batch to the kernel from this thread and record what it took; what it did not take
/// is deferred. Packets it refused for good stay in `b.errors` (with their probes) for the
/// caller to report. Returns whether anything was sent.
#[allow(clippy::too_many_arguments)]
fn flush(
    sender: &Sender,
    b: &mut Batch,
    inflight: &mut HashMap<(IpAddr, u16), InFlight>,
    timers: &mut Timers,
    deferred: &mut VecDeque<(u64, IpAddr, u16, u32)>,
    timeout: Duration,
    hosts: &Hosts,
    stats: &mut RawStats,
) -> bool {
    let done = b.push(sender, 0);
    for m in &b.meta[done..] {
        stats.send_full += 1;
        deferred.push_back((m.pos, m.addr, m.port, m.tries));
    }
    let t = Instant::now();
    let mut any = false;
    for (i, m) in b.meta[..done].iter().enumerate() {
        if b.errors.iter().any(|(j, _)| *j == i) {
            continue;
        }
        any = true;
        record_sent(
            std::slice::from_ref(m),
            t,
            timeout,
            hosts,
            inflight,
            timers,
            stats,
        );
    }
    any
}

#[allow(clippy::too_many_arguments)]
fn build_probe(
    buf: &mut [u8],
    cfg: &RawConfig,
    key: &CookieKey,
    src: IpAddr,
    dst: IpAddr,
    port: u16,
    payload_idx: usize,
    udp_payloads: &HashMap<u16, Vec<Vec<u8>>>,
) -> Option<usize> {
    // One keyed hash per probe: the cookie (SYN sequence number or UDP source port); the IPv4
    // identification is taken from it too, so it varies per probe as a real stack's does.
    match cfg.kind {
        RawKind::Syn => {
            let seq = key.tcp_seq(src, dst, cfg.source_port, port);
            let f = IpFields {
                ttl: cfg.ttl,
                ident: (seq >> 16) as u16,
            };
            build::syn(buf, src, dst, cfg.source_port, port, seq, f).ok()
        }
        RawKind::Udp => {
            let sport = key.udp_sport(src, dst, port);
            let f = IpFields {
                ttl: cfg.ttl,
                ident: sport.rotate_left(8) ^ port,
            };
            let payload: &[u8] = udp_payloads
                .get(&port)
                .and_then(|v| v.get(payload_idx % v.len().max(1)))
                .map_or(&[], |p| p.as_slice());
            build::udp(buf, src, dst, sport, port, payload, f).ok()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(initial: usize) -> Hosts {
        Hosts::new(&RawConfig {
            initial_window: initial,
            min_window: 1,
            max_window: 1024,
            ..Default::default()
        })
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn a_full_host_holds_its_probes_while_others_go_on() {
        let mut h = hosts(2);
        assert!(h.reserve(ip(1)));
        assert!(h.reserve(ip(1)));
        assert!(!h.reserve(ip(1)), "window of 2 is full");
        h.hold(ip(1), 7, 80);
        h.hold(ip(1), 9, 81);
        // Another host is not affected.
        assert!(h.reserve(ip(2)));
        assert_eq!(h.next_ready(), None, "nothing released yet");
        // One probe of host 1 ends: exactly one waiting probe may go, in plan order.
        h.release(ip(1));
        assert_eq!(h.next_ready(), Some((7, ip(1), 80, 1)));
        assert_eq!(h.next_ready(), None, "window full again");
        h.release(ip(1));
        assert_eq!(h.next_ready(), Some((9, ip(1), 81, 1)));
        assert_eq!((h.held, h.holds), (0, 2));
    }

    #[test]
    fn hosts_are_forgotten_when_idle() {
        let mut h = hosts(4);
        for i in 0..100 {
            assert!(h.reserve(ip(i)));
        }
        assert_eq!(h.map.len(), 100);
        for i in 0..100 {
            h.release(ip(i));
        }
        assert!(h.map.is_empty(), "memory is bounded by what is in flight");
        // Releasing an unknown host is harmless.
        h.release(ip(200));
        assert!(h.map.is_empty());
    }

    #[test]
    fn a_shrunk_window_holds_back_and_timeouts_follow_the_host() {
        let mut h = hosts(64);
        for _ in 0..64 {
            assert!(h.reserve(ip(1)));
        }
        assert_eq!(h.timeout(ip(1)), None, "no round trip measured yet");
        let w = h.window(ip(1)).unwrap();
        w.rtt_sample(Duration::from_millis(300));
        // Every answer of an epoch came after a retry: the host's window halves.
        for _ in 0..64 {
            w.completed(true);
        }
        assert_eq!(w.size(), 32);
        assert!(h.timeout(ip(1)).unwrap() >= Duration::from_millis(300));
        // 64 active, window 32: new probes wait until 33 have ended.
        assert!(!h.reserve(ip(1)));
        h.hold(ip(1), 1, 1);
        for _ in 0..32 {
            h.release(ip(1));
            assert_eq!(h.next_ready(), None);
        }
        h.release(ip(1));
        assert_eq!(h.next_ready(), Some((1, ip(1), 1, 1)));
    }

    #[test]
    fn timers_pop_in_deadline_order_even_out_of_push_order() {
        let t0 = Instant::now();
        let mut t = Timers::default();
        for (ms, port) in [(10u64, 1u16), (20, 2), (5, 3), (30, 4), (15, 5), (30, 6)] {
            t.push(Timer {
                at: t0 + Duration::from_millis(ms),
                addr: ip(1),
                port,
                tries: 1,
            });
        }
        let mut order = Vec::new();
        while let Some(x) = t.pop() {
            if let Some(next) = t.peek() {
                assert!(next.at >= x.at, "popped out of order");
            }
            order.push(x.port);
        }
        assert_eq!(&order[..4], &[3, 1, 5, 2]);
        let mut last: Vec<u16> = order[4..].to_vec();
        last.sort_unstable();
        assert_eq!(last, vec![4, 6]);
    }
}
