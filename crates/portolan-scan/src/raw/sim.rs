//! A simulated network for the engine's unit tests: no sockets, no root, no namespaces, no
//! waiting. Time is a clock that jumps to the next event; every probe is seen by the network,
//! which answers, drops (deterministically, per probe and direction) or delays it as the test
//! says. The tests check results against what the network really did, so they are exact.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::rc::Rc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use portolan_wire::cookie::CookieKey;
use portolan_wire::reply::{Protocol, Reply, ReplyKind};

use super::engine::Engine;
use super::lanes::Batch;
use super::probe::{ProbeKind, Syn, Udp};
use super::transport::{Clock, Receive, Sent, Transmit};
use super::{RawConfig, RawStats};
use crate::connect::{EventSink, Job, Status};
use crate::model::{PortEvent, PortState, Reason};
use crate::plan::{Plan, Progress};
use crate::ports::PortSet;
use crate::rate::Pacer;
use crate::rawio::RawError;
use crate::target::TargetSet;

/// What the simulated network does.
#[derive(Default)]
struct Rules {
    /// Ports that answer SYN-ACK (or a UDP datagram); the rest answer RST (or port-unreachable)
    /// unless silent.
    open: HashSet<(IpAddr, u16)>,
    /// Hosts that never answer (a filtered host).
    silent: HashSet<IpAddr>,
    /// Percent of probes, and of answers, lost per host (deterministic per probe and try).
    loss: HashMap<IpAddr, u64>,
    /// Round trip of an answer.
    rtt: Duration,
    /// Extra delay of answers to first tries (answers that come after the timeout).
    late_first: Duration,
    /// Probes the kernel takes per send call before its queue is full (0: no limit).
    queue: usize,
    /// Hosts the kernel refuses to send to (EHOSTUNREACH on send).
    refuse: HashSet<IpAddr>,
    /// Hand every other batch to a "send lane" (returned on the next turn).
    lanes: bool,
    /// Time the clock moves on per packet handed to the kernel (zero: a turn takes no time,
    /// so the pace stops it after one burst; real sends take time, and a pace above what
    /// building and sending allow never stops a turn).
    send_cost: Duration,
    /// The fixed pace's burst (0: 64, as `--max-rate` allows at most).
    burst: u32,
}

struct Net {
    now: Instant,
    rules: Rules,
    /// Answers in flight, by arrival time (and a sequence number to keep them apart).
    air: BTreeMap<(Instant, u64), Reply>,
    seq: u64,
    /// Every probe that reached the wire: (host, port, try).
    sent: Vec<(IpAddr, u16, u32)>,
    /// When each went.
    sent_at: Vec<Instant>,
    /// Probes whose answer reached us: (host, port).
    answered: HashSet<(IpAddr, u16)>,
    lane_back: Vec<Batch>,
    flip: bool,
    udp: bool,
}

type Shared = Rc<RefCell<Net>>;

/// A deterministic coin: is this (host, port, try, direction) lost at `pct` percent?
fn lost(addr: IpAddr, port: u16, tries: u32, dir: u64, pct: u64) -> bool {
    let mut h = CookieKey::new(7, dir).tcp_seq(addr, addr, port, tries as u16) as u64;
    h = h.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32;
    h % 100 < pct
}

impl Net {
    fn wire(&mut self, addr: IpAddr, port: u16, tries: u32) {
        self.sent.push((addr, port, tries));
        self.sent_at.push(self.now);
        let r = &self.rules;
        if r.silent.contains(&addr) {
            return;
        }
        let pct = r.loss.get(&addr).copied().unwrap_or(0);
        if lost(addr, port, tries, 1, pct) || lost(addr, port, tries, 2, pct) {
            return;
        }
        let open = r.open.contains(&(addr, port));
        let kind = match (self.udp, open) {
            (false, true) => ReplyKind::SynAck,
            (false, false) => ReplyKind::Rst,
            (true, true) => ReplyKind::Udp,
            (true, false) => ReplyKind::PortUnreachable,
        };
        let mut at = self.now + r.rtt;
        if tries == 1 {
            at += r.late_first;
        }
        self.seq += 1;
        self.answered.insert((addr, port));
        self.air.insert(
            (at, self.seq),
            Reply {
                target: addr,
                port,
                transport: if self.udp {
                    Protocol::Udp
                } else {
                    Protocol::Tcp
                },
                kind,
                ttl: 64,
                icmp_from: (kind == ReplyKind::PortUnreachable).then_some(addr),
            },
        );
    }
}

struct SimTx(Shared);
struct SimRx(Shared);
struct SimClock(Shared);

impl Transmit for SimTx {
    fn source(&mut self, dst: IpAddr) -> Result<IpAddr, RawError> {
        Ok(if dst.is_ipv4() {
            IpAddr::from([10, 0, 0, 254])
        } else {
            IpAddr::from([0xfd00, 0, 0, 0, 0, 0, 0, 254])
        })
    }

    fn send(&mut self, mut batch: Batch) -> Sent {
        let mut net = self.0.borrow_mut();
        net.flip = !net.flip;
        let to_lane = net.rules.lanes && net.flip;
        let cap = match net.rules.queue {
            0 => batch.meta.len(),
            q => q.min(batch.meta.len()),
        };
        let taken = if to_lane { batch.meta.len() } else { cap };
        let cost = net.rules.send_cost * taken as u32;
        net.now += cost;
        for i in 0..taken {
            let m = batch.meta[i];
            if net.rules.refuse.contains(&m.addr) {
                batch
                    .errors
                    .push((i, std::io::Error::from_raw_os_error(libc::EHOSTUNREACH)));
                continue;
            }
            net.wire(m.addr, m.port, m.tries);
        }
        if to_lane {
            net.lane_back.push(batch);
            Sent::Handed
        } else {
            Sent::Here { batch, taken }
        }
    }

    fn returned(&mut self) -> Option<Batch> {
        self.0.borrow_mut().lane_back.pop()
    }

    fn idle(&self) -> bool {
        self.0.borrow().lane_back.is_empty()
    }
}

impl Receive for SimRx {
    fn try_recv(&mut self) -> Option<(Reply, Instant)> {
        let mut net = self.0.borrow_mut();
        let (&(at, seq), _) = net.air.iter().next()?;
        if at > net.now {
            return None;
        }
        net.air.remove(&(at, seq)).map(|r| (r, at))
    }

    fn recv_timeout(&mut self, wait: Duration) -> Option<(Reply, Instant)> {
        let mut net = self.0.borrow_mut();
        let until = net.now + wait;
        match net.air.iter().next().map(|(&k, _)| k) {
            Some((at, seq)) if at <= until => {
                net.now = net.now.max(at);
                net.air.remove(&(at, seq)).map(|r| (r, at))
            }
            _ => {
                // A wait takes a scheduler tick at least, as a real one does.
                net.now = until.max(net.now + Duration::from_micros(100));
                None
            }
        }
    }
}

impl Clock for SimClock {
    fn now(&self) -> Instant {
        self.0.borrow().now
    }
}

#[derive(Default)]
struct Rec {
    ports: Vec<PortEvent>,
    /// For each port event, how many probes had reached the wire when it was reported.
    wire_then: Vec<usize>,
    /// The network, to read that from.
    net: Option<Shared>,
    windows: Vec<usize>,
    notices: Vec<String>,
    checkpoint: Option<u64>,
}

impl EventSink for Rec {
    fn port(&mut self, ev: PortEvent) {
        let wire = self.net.as_ref().map_or(0, |n| n.borrow().sent.len());
        self.wire_then.push(wire);
        self.ports.push(ev);
    }
    fn status(&mut self, st: &Status) {
        self.windows.push(st.window);
    }
    fn notice(&mut self, msg: &str) {
        self.notices.push(msg.to_string());
    }
    fn checkpoint(&mut self, p: &Progress) {
        self.checkpoint = Some(p.next());
    }
}

struct Outcome {
    /// Every report of each port.
    by_port: HashMap<(IpAddr, u16), Vec<(PortState, Reason)>>,
    /// Probes on the wire per port.
    tries: HashMap<(IpAddr, u16), usize>,
    stats: RawStats,
    rec: Rec,
    net: Net,
    /// When the scan ended, from its start (simulated).
    took: Duration,
}

impl Outcome {
    fn state(&self, addr: IpAddr, port: u16) -> (PortState, Reason) {
        let evs = self
            .by_port
            .get(&(addr, port))
            .map_or(&[][..], |v| v.as_slice());
        assert_eq!(evs.len(), 1, "{addr}:{port} reported {} times", evs.len());
        evs[0]
    }
    fn tries(&self, addr: IpAddr, port: u16) -> usize {
        self.tries.get(&(addr, port)).copied().unwrap_or(0)
    }
}

fn ip(last: u8) -> IpAddr {
    IpAddr::from([10, 0, 0, last])
}

fn tuning(initial_window: usize) -> RawConfig {
    RawConfig {
        initial_window,
        min_window: 8,
        max_window: 65_536,
        min_timeout: Duration::from_millis(20),
        max_timeout: Duration::from_millis(500),
        initial_timeout: Duration::from_millis(100),
        checkpoint_every: Duration::from_secs(5),
        ..RawConfig::default()
    }
}

/// Scan `targets` × `ports` through the simulated network.
fn scan(targets: &[&str], ports: &str, rules: Rules, udp: bool, pacer: Option<f64>) -> Outcome {
    let targets = TargetSet::parse(targets, &[] as &[&str], Default::default()).unwrap();
    let ports = PortSet::parse(ports).unwrap();
    let total = targets.len() * ports.len() as u64;
    let plan = Plan::new(total, 11).unwrap();
    let job = Job {
        targets: &targets,
        ports: &ports,
        plan: &plan,
        positions: 0..total,
        progress: Progress::new(0, &[]),
    };
    let t0 = Instant::now();
    let burst = if rules.burst == 0 { 64 } else { rules.burst };
    let net = Rc::new(RefCell::new(Net {
        now: t0,
        rules,
        air: BTreeMap::new(),
        seq: 0,
        sent: Vec::new(),
        sent_at: Vec::new(),
        answered: HashSet::new(),
        lane_back: Vec::new(),
        flip: false,
        udp,
    }));
    let key = CookieKey::new(1, 2);
    let syn = Syn {
        key,
        source_port: 61_234,
        ttl: 64,
        tries: 3,
    };
    let udpk = Udp::new(key, 64, 2, ports.as_slice());
    let kind: &dyn ProbeKind = if udp { &udpk } else { &syn };
    let pacer = match pacer {
        Some(r) => Pacer::fixed(r, burst, t0),
        // What `raw::run` uses without `--max-rate`.
        None => Pacer::proven(crate::rate::PROVEN_FLOOR, crate::rate::PROVEN_CEILING, t0),
    };
    let mut rec = Rec {
        net: Some(net.clone()),
        ..Default::default()
    };
    // The default window for ranges (a /20 fits at once), a smaller one for one host.
    let tuning = tuning(if targets.len() > 2 { 16_384 } else { 256 });
    let mut engine = Engine::new(
        job,
        kind,
        &tuning,
        pacer,
        SimTx(net.clone()),
        SimRx(net.clone()),
        SimClock(net.clone()),
        &mut rec,
    );
    engine.run(&AtomicBool::new(false));
    let stats = engine.close(|_, _, _| {});
    rec.net = None;
    let took = net.borrow().now.duration_since(t0);
    let net = Rc::try_unwrap(net).ok().unwrap().into_inner();
    let mut by_port: HashMap<_, Vec<_>> = HashMap::new();
    for e in &rec.ports {
        by_port
            .entry((e.addr, e.port))
            .or_default()
            .push((e.state, e.reason));
    }
    let mut tries = HashMap::new();
    for &(a, p, _) in &net.sent {
        *tries.entry((a, p)).or_insert(0) += 1;
    }
    Outcome {
        by_port,
        tries,
        stats,
        rec,
        net,
        took,
    }
}

fn open_every(step: u16, addr: IpAddr, n: u16) -> HashSet<(IpAddr, u16)> {
    (1..=n)
        .filter(|p| p % step == 0)
        .map(|p| (addr, p))
        .collect()
}

#[test]
fn a_clean_host_is_scanned_once_per_port() {
    let rules = Rules {
        open: open_every(50, ip(1), 2000),
        rtt: Duration::from_millis(1),
        ..Default::default()
    };
    let o = scan(&["10.0.0.1"], "1-2000", rules, false, None);
    assert_eq!(o.rec.ports.len(), 2000);
    for p in 1..=2000u16 {
        let want = if p % 50 == 0 {
            (PortState::Open, Reason::SynAck)
        } else {
            (PortState::Closed, Reason::Reset)
        };
        assert_eq!(o.state(ip(1), p), want, "port {p}");
    }
    assert_eq!(o.stats.scan.sent, 2000);
    assert_eq!(o.stats.scan.retries, 0);
    assert_eq!((o.stats.scan.open, o.stats.scan.closed), (40, 1960));
    assert_eq!(o.rec.checkpoint, Some(2000), "the walk is done to the end");
}

/// Whether the window reported ever came down from a larger value.
fn came_down(windows: &[usize]) -> bool {
    windows.windows(2).any(|w| w[1] < w[0])
}

#[test]
fn loss_is_retransmitted_and_shrinks_the_window_and_results_match_the_network() {
    let n = 30_000u16;
    let rules = Rules {
        open: open_every(7, ip(1), n),
        loss: [(ip(1), 10)].into(),
        rtt: Duration::from_millis(2),
        ..Default::default()
    };
    let o = scan(&["10.0.0.1"], &format!("1-{n}"), rules, false, None);
    assert!(o.stats.scan.retries > 1000, "{}", o.stats.scan.retries);
    for p in 1..=n {
        let answered = o.net.answered.contains(&(ip(1), p));
        let got = o.state(ip(1), p);
        let want = match (answered, p % 7 == 0) {
            (false, _) => (PortState::Filtered, Reason::NoResponse),
            (true, true) => (PortState::Open, Reason::SynAck),
            (true, false) => (PortState::Closed, Reason::Reset),
        };
        assert_eq!(got, want, "port {p}");
        // A port is tried until answered, 3 times at most.
        let tries = o.tries(ip(1), p);
        assert!((1..=3).contains(&tries), "port {p}: {tries} tries");
        if !answered {
            assert_eq!(tries, 3, "port {p} given up before its last try");
        }
    }
    // 10% loss each way proves loss in every epoch: the window came down.
    assert!(came_down(&o.rec.windows), "{:?}", o.rec.windows);
    // The same scan without loss: the window never comes down.
    let rules = Rules {
        open: open_every(7, ip(1), n),
        rtt: Duration::from_millis(2),
        ..Default::default()
    };
    let clean = scan(&["10.0.0.1"], &format!("1-{n}"), rules, false, None);
    assert!(!came_down(&clean.rec.windows), "{:?}", clean.rec.windows);
    assert_eq!(clean.stats.scan.retries, 0);
}

#[test]
fn a_silent_host_is_filtered_after_every_try_without_shrinking_the_window() {
    let rules = Rules {
        silent: [ip(1)].into(),
        ..Default::default()
    };
    let o = scan(&["10.0.0.1"], "1-500", rules, false, None);
    for p in 1..=500u16 {
        assert_eq!(o.state(ip(1), p), (PortState::Filtered, Reason::NoResponse));
        assert_eq!(o.tries(ip(1), p), 3);
    }
    assert_eq!(o.stats.scan.sent, 1500);
    assert_eq!(o.stats.scan.retries, 1000);
    // Timeouts are filtering, not congestion: the window never went below where it started.
    assert!(
        o.rec.windows.iter().all(|&w| w >= 256),
        "{:?}",
        o.rec.windows
    );
}

#[test]
fn late_answers_are_counted_once_and_never_reported_twice() {
    // Answers to first tries come 300 ms late (after the 100 ms initial timeout): each port is
    // retransmitted, answered by the retransmission, and the late answer is a duplicate.
    let rules = Rules {
        open: open_every(10, ip(1), 300),
        rtt: Duration::from_millis(1),
        late_first: Duration::from_millis(300),
        ..Default::default()
    };
    // At 1,000 probes a second the scan lasts long enough to hear the late answers.
    let o = scan(&["10.0.0.1"], "1-300", rules, false, Some(1000.0));
    for p in 1..=300u16 {
        let want = if p % 10 == 0 {
            PortState::Open
        } else {
            PortState::Closed
        };
        assert_eq!(o.state(ip(1), p).0, want, "port {p}");
    }
    assert!(o.stats.scan.retries >= 300, "{}", o.stats.scan.retries);
    assert!(o.stats.late_replies >= 50, "{}", o.stats.late_replies);
}

#[test]
fn an_answer_that_comes_while_its_retransmission_waits_ends_the_port_once() {
    // Regression (raw_lab's "65,496 closed of 65,495" under load): a retransmission picked when
    // its timer fired but held back by the pace (or a full kernel queue) waits in the deferred
    // queue; the first try's late answer arrives meanwhile and makes the port final. The
    // retransmission must then be dropped: sent anyway, it drew a second answer that was
    // reported, and counted, a second time. At 100 probes a second the retransmissions of the
    // first burst (64 probes) queue behind the pace for 640 ms; the answers to first tries come
    // 150 ms late, while one of them waits.
    let rules = Rules {
        open: open_every(10, ip(1), 200),
        rtt: Duration::from_millis(1),
        late_first: Duration::from_millis(150),
        ..Default::default()
    };
    let o = scan(&["10.0.0.1"], "1-200", rules, false, Some(100.0));
    for p in 1..=200u16 {
        let want = if p % 10 == 0 {
            (PortState::Open, Reason::SynAck)
        } else {
            (PortState::Closed, Reason::Reset)
        };
        assert_eq!(o.state(ip(1), p), want, "port {p}");
    }
    assert_eq!(o.rec.ports.len(), 200);
    assert_eq!(o.stats.scan.completed, 200);
    assert_eq!((o.stats.scan.open, o.stats.scan.closed), (20, 180));
    assert!(
        o.stats.scan.retries > 0,
        "the scenario needs retransmissions"
    );
    // No probe went out for a port once it was reported.
    let mut reported: HashMap<(IpAddr, u16), usize> = HashMap::new();
    for (e, &wire) in o.rec.ports.iter().zip(&o.rec.wire_then) {
        reported.insert((e.addr, e.port), wire);
    }
    for (i, &(a, p, tries)) in o.net.sent.iter().enumerate() {
        let then = reported[&(a, p)];
        assert!(
            i < then,
            "{a}:{p} try {tries} sent after the port was reported"
        );
    }
}

#[test]
fn a_lossy_host_slows_down_alone() {
    // Host 1 loses half its probes; host 2 is clean. Host 1's own window shrinks and its probes
    // wait for it; host 2's results are all there, each from its first try.
    let mut open = open_every(5, ip(1), 1000);
    open.extend(open_every(5, ip(2), 1000));
    let rules = Rules {
        open,
        loss: [(ip(1), 30)].into(),
        rtt: Duration::from_millis(2),
        ..Default::default()
    };
    let o = scan(&["10.0.0.1-2"], "1-1000", rules, false, None);
    assert!(
        o.stats.host_holds > 0,
        "the lossy host's probes waited for its window"
    );
    for p in 1..=1000u16 {
        let want = if p % 5 == 0 {
            PortState::Open
        } else {
            PortState::Closed
        };
        assert_eq!(o.state(ip(2), p).0, want, "clean host, port {p}");
        assert_eq!(o.tries(ip(2), p), 1, "clean host, port {p}");
        let answered = o.net.answered.contains(&(ip(1), p));
        let got = o.state(ip(1), p).0;
        assert_eq!(
            got == PortState::Filtered,
            !answered,
            "lossy host, port {p}"
        );
    }
}

#[test]
fn refused_sends_are_final_and_a_full_queue_only_defers() {
    let rules = Rules {
        open: open_every(3, ip(2), 200),
        refuse: [ip(1)].into(),
        queue: 5,
        lanes: true,
        rtt: Duration::from_millis(1),
        ..Default::default()
    };
    let o = scan(&["10.0.0.1-2"], "1-200", rules, false, None);
    for p in 1..=200u16 {
        assert_eq!(
            o.state(ip(1), p),
            (PortState::Filtered, Reason::HostUnreach)
        );
        let want = if p % 3 == 0 {
            PortState::Open
        } else {
            PortState::Closed
        };
        assert_eq!(o.state(ip(2), p).0, want, "port {p}");
    }
    assert_eq!(o.tries(ip(2), 3), 1);
    assert!(
        o.stats.send_full > 0,
        "the queue of 5 was full at times: {:?}",
        o.stats
    );
    assert!(o.rec.notices.iter().all(|n| n.contains("10.0.0.1")));
}

#[test]
fn send_buffers_are_reused_when_one_turn_sends_many_batches() {
    // A pace far above what sending allows: the whole job (8,192 probes, 128 batches) goes out
    // in one turn, every other batch through a lane. Buffers the lane is done with are taken
    // back within the turn, not allocated anew for each batch (that was 65 MB on a /16 `-sn`).
    let rules = Rules {
        lanes: true,
        send_cost: Duration::from_micros(1),
        // The sim's clock stands still while a batch is built (a real one does not): a burst
        // of the whole job lets the turn go on, as a pace above the send rate does.
        burst: 8192,
        rtt: Duration::from_millis(1),
        ..Default::default()
    };
    let o = scan(&["10.0.0.0/20"], "80,443", rules, false, Some(1e12));
    assert_eq!(o.stats.scan.sent, 8192);
    assert!(
        o.stats.batches <= 2,
        "{} send buffers allocated for 128 batches",
        o.stats.batches
    );
}

#[test]
fn udp_silence_is_open_filtered_and_counted_unconfirmed() {
    let mut rules = Rules {
        open: [(ip(1), 53)].into(),
        rtt: Duration::from_millis(1),
        ..Default::default()
    };
    rules.loss.insert(ip(1), 0);
    let o = scan(&["10.0.0.1"], "50-60", rules, true, None);
    assert_eq!(o.state(ip(1), 53), (PortState::Open, Reason::UdpResponse));
    assert_eq!(o.state(ip(1), 54), (PortState::Closed, Reason::PortUnreach));
    let rules = Rules {
        silent: [ip(1)].into(),
        ..Default::default()
    };
    let o = scan(&["10.0.0.1"], "50-60", rules, true, None);
    assert_eq!(
        o.state(ip(1), 53),
        (PortState::OpenFiltered, Reason::NoResponse)
    );
    assert_eq!(o.tries(ip(1), 53), 2, "UDP: one retransmission");
    assert_eq!(o.stats.udp_unconfirmed, 11);
}

#[test]
fn a_fixed_rate_cap_holds_on_the_simulated_wire() {
    // 2,000 probes at 10,000/s cannot take less than 0.2 s, answers or not.
    let rules = Rules {
        rtt: Duration::from_millis(1),
        ..Default::default()
    };
    let o = scan(&["10.0.0.1"], "1-2000", rules, false, Some(10_000.0));
    assert_eq!(o.rec.ports.len(), 2000);
    assert!(o.took >= Duration::from_millis(190), "{:?}", o.took);
    // Without a cap, the answers prove the path: the same scan is much faster.
    let rules = Rules {
        rtt: Duration::from_millis(1),
        ..Default::default()
    };
    let fast = scan(&["10.0.0.1"], "1-2000", rules, false, None);
    assert!(fast.took < o.took / 4, "{:?} vs {:?}", fast.took, o.took);
}

/// The most probes on the wire within any `span`.
fn peak(at: &[Instant], span: Duration) -> usize {
    let mut best = 0;
    let mut lo = 0;
    for hi in 0..at.len() {
        while at[hi].duration_since(at[lo]) >= span {
            lo += 1;
        }
        best = best.max(hi - lo + 1);
    }
    best
}

#[test]
fn without_a_cap_a_silent_range_stays_at_the_floor() {
    assert!(
        super::RawConfig::default().max_rate.is_infinite(),
        "no fixed cap by default"
    );
    // 4,096 addresses that never answer, one port each, no --max-rate: the whole range fits
    // in the window, and nothing proves more than 100,000 probes a second: within any 10 ms,
    // at most 1,000 probes plus one burst of 64.
    let rules = Rules {
        silent: (0..4096u32)
            .map(|i| IpAddr::from((0x0a01_0000u32 + i).to_be_bytes()))
            .collect(),
        ..Default::default()
    };
    let o = scan(&["10.1.0.0/20"], "443", rules, false, None);
    assert_eq!(o.stats.scan.sent, 3 * 4096);
    let most = peak(&o.net.sent_at, Duration::from_millis(10));
    assert!(most <= 1000 + 64, "{most} probes within 10 ms");
    // The same range answering lifts the pace above the floor.
    let rules = Rules {
        rtt: Duration::from_millis(1),
        ..Default::default()
    };
    let answering = scan(&["10.1.0.0/20"], "443", rules, false, None);
    assert_eq!(answering.stats.scan.sent, 4096);
    let most = peak(&answering.net.sent_at, Duration::from_millis(10));
    assert!(most > 1064, "{most} probes within 10 ms");
}
