//! Per-host congestion windows of the raw engine, in a private network namespace.
//!
//! The scanning thread moves into a fresh network namespace of its own (`unshare(CLONE_NEWNET)`:
//! only a loopback device, no route anywhere, gone when the thread ends) and scans two loopback
//! addresses there; nftables in that namespace drops half of one address's answers. Needs root.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on bad fixtures

use std::collections::HashMap;
use std::net::IpAddr;
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use portolan_scan::connect::{EventSink, Job};
use portolan_scan::plan::{Plan, Progress};
use portolan_scan::ports::PortSet;
use portolan_scan::raw::{self, RawConfig, RawKind};
use portolan_scan::target::TargetSet;
use portolan_scan::{PortEvent, PortState};

#[derive(Default)]
struct Collect(Vec<PortEvent>);
impl EventSink for Collect {
    fn port(&mut self, ev: PortEvent) {
        self.0.push(ev);
    }
}

/// Whether this test can make namespaces and raw sockets; under CI it must.
fn allowed(test: &str) -> bool {
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
    if !allowed("a_lossy_host_is_slowed_alone_and_every_port_still_ends_once") {
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
        let targets = TargetSet::parse(
            &["127.0.0.1", "127.0.0.2"],
            &[] as &[&str],
            Default::default(),
        )
        .unwrap();
        let ports = PortSet::from_ports((1..=1000).collect());
        let plan = Plan::new(targets.len() * ports.len() as u64, 7).unwrap();
        let cfg = RawConfig {
            kind: RawKind::Syn,
            max_rate: 20_000.0,
            initial_window: 64,
            min_window: 16,
            max_window: 4096,
            min_timeout: Duration::from_millis(20),
            max_timeout: Duration::from_millis(200),
            initial_timeout: Duration::from_millis(50),
            retries: 6,
            send_threads: Some(0),
            handle_signals: false,
            ..Default::default()
        };
        let mut sink = Collect::default();
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
