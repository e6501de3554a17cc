//! The same packets give the same report, byte for byte, on every run: no per-process random
//! key may change a count, an eviction or an alert (issue 12).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use portolan_detect::config::Config;
use portolan_detect::decode::linktype;
use portolan_detect::detect::Detector;
use portolan_detect::source::RawPacket;
use portolan_detect::synth;

/// Every alert in EVE form and the statistics, as one string.
fn report(frames: &[(u64, Vec<u8>)], cfg: &Config) -> String {
    let mut det = Detector::new(cfg.clone());
    let mut out = String::new();
    for (ts, f) in frames {
        det.process_raw(&RawPacket {
            ts_ns: *ts,
            linktype: linktype::ETHERNET,
            interface: 0,
            orig_len: f.len() as u32,
            data: f,
        });
        for a in det.take_alerts() {
            out.push_str(&a.to_eve().to_string());
            out.push('\n');
        }
    }
    det.finish();
    for a in det.take_alerts() {
        out.push_str(&a.to_eve().to_string());
        out.push('\n');
    }
    out.push_str(&format!("{:?}", det.stats()));
    out
}

fn check(cfg: &Config) {
    let frames = synth::busy_frames(12, 1_700_000_000_000_000_000);
    let first = report(&frames, cfg);
    assert!(
        first.contains("\"alert\""),
        "the capture must raise alerts:\n{first}"
    );
    for run in 1..12 {
        let again = report(&frames, cfg);
        assert_eq!(first, again, "run {run} differs from run 0");
    }
}

#[test]
fn same_capture_same_report_with_default_tables() {
    check(&Config::default());
}

#[test]
fn same_capture_same_report_when_tables_evict() {
    let mut cfg = Config::default();
    cfg.limits.max_flows = 64;
    cfg.limits.max_sources = 16;
    cfg.limits.max_services = 16;
    cfg.limits.max_targets = 16;
    let frames = synth::busy_frames(12, 1_700_000_000_000_000_000);
    let r = report(&frames, &cfg);
    assert!(
        !r.contains("flows_evicted: 0,"),
        "the test must make the tables evict: {r}"
    );
    check(&cfg);
}

#[test]
fn distinct_counts_are_exact_below_the_sketch_size() {
    // 20 ports probed: the alert says 20 (not an estimate of 18 or 23) and lists all 20
    let frames = synth::busy_frames(3, 1_700_000_000_000_000_000);
    let mut cfg = Config::default();
    cfg.thresholds.vertical_ports = 20;
    // TRW needs ~50 failures at this alpha: the distinct-count thresholds speak first
    cfg.trw.alpha = 1e-30;
    let mut det = Detector::new(cfg);
    let mut alerts = Vec::new();
    for (ts, f) in &frames {
        det.process_raw(&RawPacket {
            ts_ns: *ts,
            linktype: linktype::ETHERNET,
            interface: 0,
            orig_len: 0,
            data: f,
        });
        alerts.extend(det.take_alerts());
    }
    det.finish();
    alerts.extend(det.take_alerts());
    let vertical: Vec<_> = alerts
        .iter()
        .filter(|a| a.detector == portolan_detect::alert::DetectorKind::Threshold)
        .collect();
    assert!(!vertical.is_empty(), "{alerts:?}");
    for a in vertical {
        use portolan_detect::alert::Shape;
        match a.shape {
            Shape::Vertical => assert_eq!(a.distinct_ports, 20, "{a:?}"),
            Shape::Horizontal => assert!(a.distinct_hosts >= 25, "{a:?}"),
            _ => {}
        }
        if a.distinct_ports <= 32 {
            assert_eq!(a.distinct_ports, a.ports.len() as u64, "{a:?}");
        }
    }
}
