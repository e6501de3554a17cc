//! What the store costs a scan, without the scan: `N` one-port hosts (default 32768, a /17 with
//! every address answering, in a scan's random order) written through the sink `portolan scan`
//! uses, into the store `STORE` (an SQLite path or a postgres:// URL). Prints the time the
//! "scan" spent handing ports over, the time its end waited for the writer, and the total.
//!
//!   cargo run --release -p portolan-store --example write_scan -- STORE [N] [REPEAT]
#![allow(clippy::unwrap_used, clippy::expect_used)] // a measuring tool: failing loudly is fine

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use portolan_model::{
    EventSink, PortEvent, PortState, Protocol, Reason, ReportBuilder, ScanReport, ScanStart,
    ScanStats,
};
use portolan_store::{Store, Targets};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let spec = args.get(1).expect("usage: write_scan STORE [N] [REPEAT]");
    let n: u32 = args.get(2).map_or(32768, |s| s.parse().unwrap());
    let repeat: u32 = args.get(3).map_or(1, |s| s.parse().unwrap());
    for _ in 0..repeat {
        one(spec, n);
    }
}

fn one(spec: &str, n: u32) {
    let t0 = Instant::now();
    let store = Store::open(Some(spec)).unwrap();
    let mut sink = store.sink(Targets("10.77.0.0/17".into()));
    if let Ok(b) = std::env::var("BATCH") {
        // Another batch size (rows), as a test of what it costs.
        sink = sink.with_batch(
            b.parse().unwrap(),
            portolan_store::StoreSink::BATCH_INTERVAL,
        );
    }
    let mut sink = sink.open_ports_while_running().in_background();
    let start = ScanStart {
        args: "portolan scan 10.77.0.0/17 -p 80 --syn".into(),
        num_ports: 1,
        ports: "80".into(),
        proto: Protocol::Tcp,
        resumed_from: None,
        scan_type: "syn".into(),
        scanner: "portolan".into(),
        seed: 7,
        shard: "0/1".into(),
        targets: u64::from(n),
        time: SystemTime::now(),
        version: "0.1.0".into(),
    };
    sink.start(&start).unwrap();
    let opened = t0.elapsed();
    let mut b = ReportBuilder::new(false, false);
    let t1 = Instant::now();
    // A permutation of the block (an odd multiplier mod a power of two), as a scan's order.
    let bits = 32 - (n.max(2) - 1).leading_zeros();
    let mask = (1u64 << bits) - 1;
    let mut sent = 0;
    let mut i = 0u64;
    while sent < n {
        let x = (i.wrapping_mul(2_654_435_761) + 12345) & mask;
        i += 1;
        if x >= u64::from(n) {
            continue;
        }
        sent += 1;
        let addr = IpAddr::V4(Ipv4Addr::from(
            u32::from(Ipv4Addr::new(10, 77, 0, 0)) + x as u32,
        ));
        let ev = PortEvent {
            addr,
            port: 80,
            proto: Protocol::Tcp,
            state: PortState::Open,
            reason: Reason::SynAck,
            rtt: Some(Duration::from_micros(150 + x % 100)),
            ttl: Some(64),
            service: None,
        };
        sink.port(&ev, SystemTime::now()).unwrap();
        b.add(ev);
    }
    let streamed = t1.elapsed();
    let t2 = Instant::now();
    let report = ScanReport {
        scan_type: "syn".into(),
        proto: Protocol::Tcp,
        args: start.args.clone(),
        ports_spec: "80".into(),
        num_ports: 1,
        start: start.time,
        end: SystemTime::now(),
        hosts: b.finish(|_| None),
        targets_total: u64::from(n),
        host_discovery: String::new(),
        stats: ScanStats {
            planned: u64::from(n),
            completed: u64::from(n),
            open: u64::from(n),
            ..Default::default()
        },
    };
    let built = t2.elapsed();
    let t3 = Instant::now();
    sink.finish(&report).unwrap();
    drop(sink);
    let finished = t3.elapsed();
    let _ = UNIX_EPOCH;
    println!(
        "{n} ports: open {:.3}s, handing over {:.3}s, report {:.3}s, finish (waiting for the writer) {:.3}s, total {:.3}s",
        opened.as_secs_f64(),
        streamed.as_secs_f64(),
        built.as_secs_f64(),
        finished.as_secs_f64(),
        t0.elapsed().as_secs_f64()
    );
}
