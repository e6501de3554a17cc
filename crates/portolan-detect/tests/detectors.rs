//! The detectors on synthetic traffic built packet by packet (IPv4 and IPv6), through the same
//! path a capture takes (Ethernet frames → decode → detector).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use portolan_detect::alert::{Alert, DetectorKind, Shape, Technique};
use portolan_detect::config::Config;
use portolan_detect::decode::{linktype, Addr};
use portolan_detect::detect::Detector;
use portolan_detect::source::RawPacket;
use portolan_detect::synth::{self, Tcp, LINUX_SYN_OPTIONS};

struct Feed {
    det: Detector,
    ts: u64,
    buf: Vec<u8>,
    alerts: Vec<Alert>,
}

impl Feed {
    fn new(cfg: Config) -> Feed {
        Feed {
            det: Detector::new(cfg),
            ts: 1_700_000_000_000_000_000,
            buf: Vec::new(),
            alerts: Vec::new(),
        }
    }
    fn push(&mut self) {
        self.ts += 1_000_000; // 1 ms apart
        let raw = RawPacket {
            ts_ns: self.ts,
            linktype: linktype::ETHERNET,
            orig_len: self.buf.len() as u32,
            data: &self.buf,
        };
        self.det.process_raw(&raw);
        self.buf.clear();
        self.alerts.extend(self.det.take_alerts());
    }
    fn tcp4(&mut self, src: [u8; 4], dst: [u8; 4], t: Tcp<'_>) {
        synth::tcp4(&mut self.buf, src, dst, 7, 64, &t);
        self.push();
    }
    fn finish(mut self) -> Vec<Alert> {
        self.det.finish();
        self.alerts.extend(self.det.take_alerts());
        self.alerts
    }
}

const ATTACKER: [u8; 4] = [198, 51, 100, 7];
const VICTIM: [u8; 4] = [192, 0, 2, 10];

fn syn(sport: u16, dport: u16) -> Tcp<'static> {
    Tcp {
        sport,
        dport,
        flags: 0x02,
        window: 1024,
        options: &[2, 4, 5, 0xb4],
        ..Tcp::default()
    }
}
fn rst(sport: u16, dport: u16) -> Tcp<'static> {
    Tcp {
        sport,
        dport,
        flags: 0x14,
        window: 0,
        ..Tcp::default()
    }
}

#[test]
fn trw_flags_a_vertical_syn_scan_after_four_failures() {
    let mut f = Feed::new(Config::default());
    for port in 1..=50u16 {
        f.tcp4(ATTACKER, VICTIM, syn(40000, port));
        f.tcp4(VICTIM, ATTACKER, rst(port, 40000));
    }
    let alerts = f.finish();
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let a = &alerts[0];
    assert_eq!(
        (a.technique, a.shape, a.detector),
        (Technique::TcpSyn, Shape::Vertical, DetectorKind::Trw)
    );
    assert_eq!(a.probes, 4);
    assert_eq!(a.tool, Some("nmap"));
    assert_eq!(a.src, Addr::v4(ATTACKER));
    assert_eq!(a.ports, vec![1, 2, 3, 4]);
}

#[test]
fn ipv6_scans_are_seen_too() {
    let mut f = Feed::new(Config::default());
    let a6 = [
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x66,
    ];
    let v6 = [
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
    ];
    for port in 1..=10u16 {
        synth::tcp6(&mut f.buf, a6, v6, &syn(40000, port));
        f.push();
        synth::tcp6(&mut f.buf, v6, a6, &rst(port, 40000));
        f.push();
    }
    let alerts = f.finish();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].src.to_string(), "2001:db8::66");
    assert_eq!(alerts[0].technique, Technique::TcpSyn);
}

#[test]
fn unanswered_syns_fail_at_timeout_or_end_of_capture() {
    let mut f = Feed::new(Config::default());
    for port in [22u16, 80, 443, 8080, 3389] {
        f.tcp4(ATTACKER, VICTIM, syn(40000, port));
    }
    assert!(f.alerts.is_empty(), "nothing is known before the timeout");
    let alerts = f.finish();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].detector, DetectorKind::Trw);
}

#[test]
fn horizontal_sweep_of_open_port_by_threshold() {
    // A connect() sweep whose every attempt succeeds: TRW stays quiet, the host count does not.
    let mut f = Feed::new(Config::default());
    for h in 1..=40u8 {
        let dst = [10, 9, 0, h];
        let s = Tcp {
            sport: 50000 + u16::from(h),
            dport: 443,
            options: &LINUX_SYN_OPTIONS,
            ..Tcp::default()
        };
        f.tcp4(ATTACKER, dst, s);
        f.tcp4(
            dst,
            ATTACKER,
            Tcp {
                sport: 443,
                dport: s.sport,
                flags: 0x12,
                ..Tcp::default()
            },
        );
        f.tcp4(
            ATTACKER,
            dst,
            Tcp {
                sport: s.sport,
                dport: 443,
                flags: 0x10,
                ..Tcp::default()
            },
        );
    }
    let alerts = f.finish();
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let a = &alerts[0];
    assert_eq!(
        (a.technique, a.shape, a.detector),
        (
            Technique::TcpConnect,
            Shape::Horizontal,
            DetectorKind::Threshold
        )
    );
    assert_eq!(a.dst_port, Some(443));
    assert!(a.distinct_hosts >= 20);
}

#[test]
fn benign_clients_raise_nothing() {
    let mut f = Feed::new(Config::default());
    for i in 0..300u16 {
        let client = [10, 1, (i % 7) as u8, 1];
        let port = [80u16, 443, 22][usize::from(i % 3)];
        let sport = 30000 + i;
        f.tcp4(
            client,
            VICTIM,
            Tcp {
                sport,
                dport: port,
                options: &LINUX_SYN_OPTIONS,
                ..Tcp::default()
            },
        );
        f.tcp4(
            VICTIM,
            client,
            Tcp {
                sport: port,
                dport: sport,
                flags: 0x12,
                ..Tcp::default()
            },
        );
        f.tcp4(
            client,
            VICTIM,
            Tcp {
                sport,
                dport: port,
                flags: 0x10,
                ..Tcp::default()
            },
        );
        f.tcp4(
            client,
            VICTIM,
            Tcp {
                sport,
                dport: port,
                flags: 0x18,
                payload_len: 100,
                ..Tcp::default()
            },
        );
        f.tcp4(
            VICTIM,
            client,
            Tcp {
                sport: port,
                dport: sport,
                flags: 0x11,
                ..Tcp::default()
            },
        );
        f.tcp4(
            client,
            VICTIM,
            Tcp {
                sport,
                dport: port,
                flags: 0x11,
                ..Tcp::default()
            },
        );
    }
    // two failed attempts
    for port in [81u16, 82] {
        f.tcp4(
            [10, 1, 0, 1],
            VICTIM,
            Tcp {
                sport: 999,
                dport: port,
                options: &LINUX_SYN_OPTIONS,
                ..Tcp::default()
            },
        );
        f.tcp4(VICTIM, [10, 1, 0, 1], rst(port, 999));
    }
    assert!(f.finish().is_empty());
}

#[test]
fn stealth_patterns_are_named() {
    for (flags, tech) in [
        (0x00u8, Technique::TcpNull),
        (0x01, Technique::TcpFin),
        (0x29, Technique::TcpXmas),
    ] {
        let mut f = Feed::new(Config::default());
        for port in 1..=10u16 {
            f.tcp4(
                ATTACKER,
                VICTIM,
                Tcp {
                    sport: 40000,
                    dport: port,
                    flags,
                    window: 1024,
                    ..Tcp::default()
                },
            );
        }
        let alerts = f.finish();
        assert_eq!(alerts.len(), 1, "{tech:?}: {alerts:#?}");
        assert_eq!(
            (alerts[0].technique, alerts[0].detector),
            (tech, DetectorKind::Flags)
        );
        assert_eq!(alerts[0].probes, 5);
    }
    // ACK probes count when the target answers RST
    let mut f = Feed::new(Config::default());
    for port in 1..=10u16 {
        f.tcp4(
            ATTACKER,
            VICTIM,
            Tcp {
                sport: 40000,
                dport: port,
                flags: 0x10,
                window: 1024,
                ..Tcp::default()
            },
        );
        f.tcp4(
            VICTIM,
            ATTACKER,
            Tcp {
                sport: port,
                dport: 40000,
                flags: 0x04,
                ..Tcp::default()
            },
        );
    }
    let alerts = f.finish();
    assert_eq!(alerts[0].technique, Technique::TcpAck);
}

#[test]
fn udp_scan_through_port_unreachables() {
    let mut f = Feed::new(Config::default());
    for port in 1..=10u16 {
        synth::udp4(&mut f.buf, ATTACKER, VICTIM, 45000, port, 0);
        f.push();
        synth::icmp4_port_unreachable(&mut f.buf, VICTIM, ATTACKER, 45000, port);
        f.push();
    }
    let alerts = f.finish();
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        (alerts[0].technique, alerts[0].tool),
        (Technique::Udp, Some("nmap"))
    );
    assert_eq!(alerts[0].probes, 4);
}

#[test]
fn spoofed_syn_flood_is_one_alert() {
    let mut f = Feed::new(Config::default());
    for i in 0..2000u32 {
        let src = (0x0b00_0000 | i).to_be_bytes();
        f.tcp4(
            src,
            VICTIM,
            Tcp {
                sport: 1000 + (i % 50000) as u16,
                dport: 80,
                window: 512,
                ..Tcp::default()
            },
        );
    }
    let alerts = f.finish();
    let floods: Vec<_> = alerts
        .iter()
        .filter(|a| a.technique == Technique::SynFlood)
        .collect();
    assert_eq!(floods.len(), 1, "{alerts:#?}");
    assert_eq!(floods[0].dst_port, Some(80));
    assert_eq!(floods[0].half_open, Some(500));
    assert!(floods[0].distinct_sources.unwrap() > 300);
    assert!(
        alerts.iter().all(|a| a.technique == Technique::SynFlood),
        "{alerts:#?}"
    );
}

#[test]
fn distributed_scan_of_one_target() {
    // 40 sources, 2 ports each: no source is a scanner on its own.
    let mut cfg = Config::default();
    cfg.trw.alpha = 0.0001; // keep TRW out of it: two failures per source never reach η1
    let mut f = Feed::new(cfg);
    for s in 0..40u16 {
        let src = [203, 0, 113, s as u8 + 1];
        for k in 0..2u16 {
            let port = 1000 + s * 2 + k;
            f.tcp4(src, VICTIM, syn(40000, port));
            f.tcp4(VICTIM, src, rst(port, 40000));
        }
    }
    let alerts = f.finish();
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(
        (alerts[0].shape, alerts[0].detector),
        (Shape::Distributed, DetectorKind::Distributed)
    );
    assert_eq!(alerts[0].dst, Addr::v4(VICTIM));
}

#[test]
fn allow_list_silences_a_known_scanner() {
    let mut cfg = Config::default();
    cfg.allow.push("198.51.100.0/24".parse().unwrap());
    let mut f = Feed::new(cfg);
    for port in 1..=50u16 {
        f.tcp4(ATTACKER, VICTIM, syn(40000, port));
        f.tcp4(VICTIM, ATTACKER, rst(port, 40000));
    }
    assert!(f.finish().is_empty());
}

#[test]
fn memory_is_bounded_on_an_endless_stream() {
    let mut cfg = Config::default();
    cfg.limits.max_flows = 1024;
    cfg.limits.max_sources = 256;
    let mut f = Feed::new(cfg);
    for i in 0..200_000u32 {
        let src = (0x0a00_0000 | (i % 65_536)).to_be_bytes();
        f.tcp4(
            src,
            VICTIM,
            Tcp {
                sport: (i % 60000) as u16,
                dport: 80,
                options: &LINUX_SYN_OPTIONS,
                ..Tcp::default()
            },
        );
    }
    let st = f.det.stats();
    assert!(st.flows_evicted > 190_000, "{st:?}");
    assert!(st.sources_evicted > 60_000, "{st:?}");
}

#[test]
fn sensitivity_changes_how_soon() {
    let probes_at = |s| {
        let mut f = Feed::new(Config::preset(s));
        for port in 1..=60u16 {
            f.tcp4(ATTACKER, VICTIM, syn(40000, port));
            f.tcp4(VICTIM, ATTACKER, rst(port, 40000));
        }
        f.finish()[0].probes
    };
    use portolan_detect::config::Sensitivity::*;
    assert_eq!(probes_at(High), 3);
    assert_eq!(probes_at(Medium), 4);
    assert_eq!(probes_at(Low), 5);
}
