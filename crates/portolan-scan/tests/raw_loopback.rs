//! The raw SYN and UDP engines against loopback listeners (needs root / CAP_NET_RAW), and the
//! per-host windows in a private network namespace (needs root, iproute2, nftables).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on bad fixtures

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, TcpListener, UdpSocket};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use portolan_scan::connect::{EventSink, Job};
use portolan_scan::plan::{Plan, Progress};
use portolan_scan::ports::PortSet;
use portolan_scan::raw::{self, RawConfig, RawKind};
use portolan_scan::target::TargetSet;
use portolan_scan::{PortEvent, PortState, Reason};

#[derive(Default)]
struct Collect(Vec<PortEvent>);
impl EventSink for Collect {
    fn port(&mut self, ev: PortEvent) {
        self.0.push(ev);
    }
}

/// Whether raw sockets can be used; under CI they must be.
fn raw_allowed(test: &str) -> bool {
    if portolan_scan::rawio::can_open_raw() {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: CI=true but raw sockets cannot be opened (need root / CAP_NET_RAW)");
    }
    eprintln!("SKIPPED {test}: raw sockets need root or CAP_NET_RAW");
    false
}

fn closed_ports(n: usize) -> Vec<u16> {
    // Bind and release: the kernel gave us ports nobody listens on now.
    let socks: Vec<_> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    socks
        .iter()
        .map(|s| s.local_addr().unwrap().port())
        .collect()
}

fn scan(kind: RawKind, ports: Vec<u16>) -> (BTreeMap<u16, PortEvent>, raw::RawStats) {
    scan_with(kind, ports, |_| {})
}

fn scan_with(
    kind: RawKind,
    ports: Vec<u16>,
    tune: impl FnOnce(&mut RawConfig),
) -> (BTreeMap<u16, PortEvent>, raw::RawStats) {
    let (events, stats) = scan_targets(&["127.0.0.1"], kind, ports, tune);
    let mut by_port = BTreeMap::new();
    for e in events {
        assert!(by_port.insert(e.port, e).is_none(), "a port reported twice");
    }
    (by_port, stats)
}

/// Scan `targets` × `ports`: every event in the order reported, and the engine's counters.
fn scan_targets(
    targets: &[&str],
    kind: RawKind,
    ports: Vec<u16>,
    tune: impl FnOnce(&mut RawConfig),
) -> (Vec<PortEvent>, raw::RawStats) {
    let targets = TargetSet::parse(targets, &[] as &[&str], Default::default()).unwrap();
    let ports = PortSet::from_ports(ports);
    let plan = Plan::new(targets.len() * ports.len() as u64, 42).unwrap();
    let mut sink = Collect::default();
    let mut cfg = RawConfig {
        kind,
        max_rate: 10_000.0,
        ..Default::default()
    };
    tune(&mut cfg);
    let stats = raw::run(
        Job {
            targets: &targets,
            ports: &ports,
            plan: &plan,
            positions: 0..plan.len(),
            progress: Progress::new(0, &[]),
        },
        &cfg,
        &mut sink,
        Arc::new(AtomicBool::new(false)),
    )
    .unwrap();
    (sink.0, stats)
}

/// `n` loopback listeners and their ports (open while the listeners live).
fn listeners(n: usize) -> (Vec<TcpListener>, Vec<u16>) {
    let ls: Vec<_> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let ports = ls.iter().map(|l| l.local_addr().unwrap().port()).collect();
    (ls, ports)
}

#[test]
fn syn_scan_finds_open_and_closed_on_loopback() {
    if !raw_allowed("syn_scan_finds_open_and_closed_on_loopback") {
        return;
    }
    let (held, open) = listeners(5);
    let closed = closed_ports(5);
    let mut all = open.clone();
    all.extend(&closed);
    let (res, stats) = scan(RawKind::Syn, all.clone());
    assert_eq!(
        res.len(),
        all.len(),
        "every port gets exactly one result: {res:?}"
    );
    for p in &open {
        let e = &res[p];
        assert_eq!(
            (e.state, e.reason),
            (PortState::Open, Reason::SynAck),
            "{p}"
        );
        assert_eq!(e.ttl, Some(64));
        assert!(e.rtt.is_some());
    }
    for p in &closed {
        let e = &res[p];
        assert_eq!(
            (e.state, e.reason),
            (PortState::Closed, Reason::Reset),
            "{p}"
        );
    }
    assert_eq!(stats.scan.open, 5);
    assert_eq!(stats.scan.closed, 5);
    drop(held);
}

#[test]
fn udp_scan_finds_responders_and_closed_ports() {
    if !raw_allowed("udp_scan_finds_responders_and_closed_ports") {
        return;
    }
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let open = sock.local_addr().unwrap().port();
    let echo = std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        sock.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            let _ = sock.send_to(&buf[..n.max(1)], from);
        }
    });
    let closed: Vec<u16> = {
        let s: Vec<_> = (0..3)
            .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        s.iter().map(|s| s.local_addr().unwrap().port()).collect()
    };
    let mut all = vec![open];
    all.extend(&closed);
    let (res, stats) = scan(RawKind::Udp, all.clone());
    assert_eq!(res.len(), all.len());
    assert_eq!(
        (res[&open].state, res[&open].reason),
        (PortState::Open, Reason::UdpResponse)
    );
    for p in &closed {
        let e = &res[p];
        // Closed, unless the kernel's ICMP rate limit swallowed the answer: then not confirmed.
        assert!(
            matches!(
                (e.state, e.reason),
                (PortState::Closed, Reason::PortUnreach)
                    | (PortState::OpenFiltered, Reason::NoResponse)
            ),
            "{p}: {e:?}"
        );
    }
    assert!(closed.iter().any(|p| res[p].state == PortState::Closed));
    assert_eq!(stats.scan.open, 1);
    drop(echo);
}

#[test]
fn syn_scan_with_send_lanes_reports_every_port_once() {
    if !raw_allowed("syn_scan_with_send_lanes_reports_every_port_once") {
        return;
    }
    // Three threads hand batches to the kernel (the engine thread and two lanes): every port
    // still gets exactly one result, and the right one.
    let (held, open) = listeners(5);
    let mut all: Vec<u16> = (20_000..24_000).filter(|p| !open.contains(p)).collect();
    all.extend(&open);
    let (res, stats) = scan_with(RawKind::Syn, all.clone(), |c| {
        c.max_rate = 1_000_000.0;
        c.send_threads = Some(2);
    });
    assert_eq!(res.len(), all.len(), "every port gets exactly one result");
    for p in &open {
        assert_eq!(res[p].state, PortState::Open, "{p}");
    }
    // Other processes may listen in 20000-23999; everything else there is closed.
    let closed = res
        .values()
        .filter(|e| e.state == PortState::Closed)
        .count();
    assert!(
        closed + 5 + 64 >= all.len(),
        "{closed} closed of {}",
        all.len()
    );
    assert_eq!(stats.scan.completed, all.len() as u64);
    assert!(stats.scan.sent >= all.len() as u64);
    drop(held);
}

// Per-host congestion windows, in a private network namespace: the scanning thread moves into
// a fresh one of its own (`unshare(CLONE_NEWNET)`: only a loopback device, no route anywhere,
// gone when the thread ends) and scans two loopback addresses there, while nftables in that
// namespace drops half of one address's answers.

/// Whether this test can make namespaces and raw sockets; under CI it must.
fn netns_allowed(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let tools = ["ip", "nft"].iter().all(|t| {
        Command::new(t)
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if root && tools {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: CI=true but not root or ip/nft missing");
    }
    eprintln!("SKIPPED {test}: needs root, iproute2 and nftables");
    false
}

fn run_in(cmd: &str, args: &[&str], stdin: Option<&str>) {
    use std::io::Write;
    let mut c = Command::new(cmd)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(text) = stdin {
        c.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    }
    drop(c.stdin.take());
    assert!(c.wait().unwrap().success(), "{cmd} {args:?} failed");
}

#[test]
fn a_lossy_host_is_slowed_alone_and_every_port_still_ends_once() {
    if !netns_allowed("a_lossy_host_is_slowed_alone_and_every_port_still_ends_once") {
        return;
    }
    let worker = std::thread::spawn(|| {
        // SAFETY: unshare with a constant flag; it affects this thread only.
        let r = unsafe { libc::unshare(libc::CLONE_NEWNET) };
        assert_eq!(
            r,
            0,
            "unshare(CLONE_NEWNET): {}",
            std::io::Error::last_os_error()
        );
        // Children forked from this thread live in its namespace.
        run_in("ip", &["link", "set", "lo", "up"], None);
        run_in(
            "nft",
            &["-f", "-"],
            Some(
                "table inet lossy {
                   chain output { type filter hook output priority 0; policy accept;
                     ip saddr 127.0.0.2 tcp flags rst numgen random mod 100 < 50 drop
                   }
                 }",
            ),
        );
        scan_targets(
            &["127.0.0.1", "127.0.0.2"],
            RawKind::Syn,
            (1..=1000).collect(),
            |c| {
                c.max_rate = 20_000.0;
                c.initial_window = 64;
                c.min_window = 16;
                c.max_window = 4096;
                c.min_timeout = Duration::from_millis(20);
                c.max_timeout = Duration::from_millis(200);
                c.initial_timeout = Duration::from_millis(50);
                c.retries = 6;
                c.send_threads = Some(0);
            },
        )
    });
    let (events, stats) = worker.join().unwrap();

    // Every probe ends exactly once.
    let mut seen: HashMap<(IpAddr, u16), PortState> = HashMap::new();
    for e in &events {
        assert!(
            seen.insert((e.addr, e.port), e.state).is_none(),
            "{}:{} reported twice",
            e.addr,
            e.port
        );
    }
    assert_eq!(seen.len(), 2000);
    assert_eq!(stats.scan.completed, 2000);
    let clean: IpAddr = "127.0.0.1".parse().unwrap();
    let lossy: IpAddr = "127.0.0.2".parse().unwrap();
    // The clean host answered every probe; on the lossy one 7 tries at 50% loss leave about
    // 1000 / 128 ports silent (filtered); the rest are closed.
    assert!(
        (1..=1000).all(|p| seen[&(clean, p)] == PortState::Closed),
        "the clean host lost nothing"
    );
    let lossy_closed = (1..=1000)
        .filter(|&p| seen[&(lossy, p)] == PortState::Closed)
        .count();
    assert!(lossy_closed > 950, "{lossy_closed} of 1000 closed");
    // Loss on one host shrank that host's window: its probes waited there.
    assert!(
        stats.host_holds > 0,
        "no probe waited for the lossy host's window: {stats:?}"
    );
}

#[test]
fn syn_and_udp_scans_over_ipv6_loopback() {
    if !raw_allowed("syn_and_udp_scans_over_ipv6_loopback") {
        return;
    }
    let Ok(l) = TcpListener::bind("[::1]:0") else {
        eprintln!("SKIPPED: no IPv6 loopback here");
        return;
    };
    let open = l.local_addr().unwrap().port();
    let closed: Vec<u16> = (0..4)
        .map(|_| TcpListener::bind("[::1]:0").unwrap())
        .map(|s| s.local_addr().unwrap().port())
        .collect();
    let mut ports = closed.clone();
    ports.push(open);
    // Two scans from this thread: the first must keep its capabilities for the second.
    let (events, stats) = scan_targets(&["::1"], RawKind::Syn, ports.clone(), |c| {
        c.drop_privileges = false;
    });
    assert_eq!(events.len(), ports.len(), "{events:?}");
    for e in &events {
        let want = if e.port == open {
            (PortState::Open, Reason::SynAck)
        } else {
            (PortState::Closed, Reason::Reset)
        };
        assert_eq!((e.state, e.reason), want, "{e:?}");
        assert_eq!(e.addr, "::1".parse::<IpAddr>().unwrap());
    }
    assert_eq!(stats.scan.open, 1);
    drop(l);

    let u = UdpSocket::bind("[::1]:0").unwrap();
    let uport = u.local_addr().unwrap().port();
    let echo = std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        u.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        while let Ok((n, from)) = u.recv_from(&mut buf) {
            let _ = u.send_to(&buf[..n.max(1)], from);
        }
    });
    let (events, _) = scan_targets(&["::1"], RawKind::Udp, vec![uport], |_| {});
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].state, events[0].reason),
        (PortState::Open, Reason::UdpResponse)
    );
    drop(echo);
}

#[test]
fn capabilities_are_dropped_once_the_sockets_are_open() {
    if !raw_allowed("capabilities_are_dropped_once_the_sockets_are_open") {
        return;
    }
    // In a thread of its own (capabilities are per thread): after a scan with the default
    // configuration, this thread can no longer open a raw socket.
    let after = std::thread::spawn(|| {
        let (events, _) = scan_targets(&["127.0.0.1"], RawKind::Syn, closed_ports(2), |_| {});
        assert_eq!(events.len(), 2);
        portolan_scan::rawio::can_open_raw()
    })
    .join()
    .unwrap();
    assert!(!after, "CAP_NET_RAW still held after the scan");
}
