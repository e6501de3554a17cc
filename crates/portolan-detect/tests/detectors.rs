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
            interface: 0,
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
    /// A SYN scan from `src` (source port 40000) that `dst` answers with RSTs, port by port.
    fn syn_rst_scan(&mut self, src: [u8; 4], dst: [u8; 4], ports: impl IntoIterator<Item = u16>) {
        for port in ports {
            self.tcp4(src, dst, syn(40000, port));
            self.tcp4(dst, src, rst(port, 40000));
        }
    }
    /// A normal conversation of `client` (from `sport`) with `VICTIM`'s open `port`: a Linux
    /// SYN, then [`CONVERSATION`].
    fn converse(&mut self, client: [u8; 4], sport: u16, port: u16) {
        self.tcp4(client, VICTIM, linux_syn(sport, port));
        for (from_client, flags, payload_len) in CONVERSATION {
            let (src, dst, sp, dp) = if from_client {
                (client, VICTIM, sport, port)
            } else {
                (VICTIM, client, port, sport)
            };
            self.tcp4(
                src,
                dst,
                Tcp {
                    payload_len,
                    ..seg(sp, dp, flags)
                },
            );
        }
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
        window: 0,
        ..seg(sport, dport, 0x14)
    }
}
/// A segment with these ports and flags, the defaults for everything else.
fn seg(sport: u16, dport: u16, flags: u8) -> Tcp<'static> {
    Tcp {
        sport,
        dport,
        flags,
        ..Tcp::default()
    }
}
/// A scanner's bare probe with these flags, from source port 40000 with window 1024.
fn probe(dport: u16, flags: u8) -> Tcp<'static> {
    Tcp {
        window: 1024,
        ..seg(40000, dport, flags)
    }
}
/// A SYN with Linux's options, as a connect() sends it.
fn linux_syn(sport: u16, dport: u16) -> Tcp<'static> {
    Tcp {
        sport,
        dport,
        options: &LINUX_SYN_OPTIONS,
        ..Tcp::default()
    }
}

#[test]
fn trw_flags_a_vertical_syn_scan_after_four_failures() {
    let mut f = Feed::new(Config::default());
    f.syn_rst_scan(ATTACKER, VICTIM, 1..=50);
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
fn completed_connections_are_no_scan_but_half_open_ones_are() {
    // Completed connections to an open service on 40 hosts: no scanning evidence (issue 12;
    // TRW and Zeek's scan policy count failed first contacts only).
    // SYN, SYN-ACK, then the client's `third` segment, to 443 on each host.
    let sweep = |third: u8| {
        let mut f = Feed::new(Config::default());
        for h in 1..=40u8 {
            let dst = [10, 9, 0, h];
            let s = linux_syn(50000 + u16::from(h), 443);
            f.tcp4(ATTACKER, dst, s);
            f.tcp4(dst, ATTACKER, seg(443, s.sport, 0x12));
            f.tcp4(ATTACKER, dst, seg(s.sport, 443, third));
        }
        f.finish()
    };
    let alerts = sweep(0x10); // ACK
    assert!(alerts.is_empty(), "{alerts:#?}");
    // The same sweep, each accepted connection reset by the client (a SYN scanner's kernel):
    // failed first contacts, a horizontal scan.
    let alerts = sweep(0x04); // RST
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let a = &alerts[0];
    assert_eq!(
        (a.technique, a.shape),
        (Technique::TcpSyn, Shape::Horizontal)
    );
    assert_eq!(a.dst_port, Some(443));
}

/// A monitoring system polling 40 services of one host every minute for ten minutes: complete
/// handshakes, a request, an answer, FIN. Not a scan, whatever the thresholds (issue 12).
#[test]
fn monitoring_client_polling_many_open_services_is_no_scan() {
    for cfg in [
        Config::default(),
        Config::preset(portolan_detect::config::Sensitivity::High),
    ] {
        let mut f = Feed::new(cfg);
        let monitor = [10, 1, 1, 5];
        let mut sport = 32768u16;
        for _minute in 0..10 {
            for port in 8000..8040u16 {
                sport = sport.wrapping_add(1).max(32768);
                f.converse(monitor, sport, port);
            }
            f.ts += 60_000_000_000;
        }
        let alerts = f.finish();
        assert!(alerts.is_empty(), "{alerts:#?}");
    }
}

/// What follows a client's SYN in a normal conversation: (sent by the client?, flags, payload
/// length).
const CONVERSATION: [(bool, u8, usize); 5] = [
    (false, 0x12, 0),  // SYN-ACK
    (true, 0x10, 0),   // ACK
    (true, 0x18, 100), // PSH-ACK with data
    (false, 0x11, 0),  // server FIN-ACK
    (true, 0x11, 0),   // client FIN-ACK
];

#[test]
fn benign_clients_raise_nothing() {
    let mut f = Feed::new(Config::default());
    for i in 0..300u16 {
        let client = [10, 1, (i % 7) as u8, 1];
        let port = [80u16, 443, 22][usize::from(i % 3)];
        let sport = 30000 + i;
        f.converse(client, sport, port);
    }
    // two failed attempts
    for port in [81u16, 82] {
        f.tcp4([10, 1, 0, 1], VICTIM, linux_syn(999, port));
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
            f.tcp4(ATTACKER, VICTIM, probe(port, flags));
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
        f.tcp4(ATTACKER, VICTIM, probe(port, 0x10));
        f.tcp4(VICTIM, ATTACKER, seg(port, 40000, 0x04));
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
        f.syn_rst_scan(src, VICTIM, (0..2u16).map(|k| 1000 + s * 2 + k));
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
    f.syn_rst_scan(ATTACKER, VICTIM, 1..=50);
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
        f.tcp4(src, VICTIM, linux_syn((i % 60000) as u16, 80));
    }
    let st = f.det.stats();
    assert!(st.flows_evicted > 190_000, "{st:?}");
    assert!(st.sources_evicted > 60_000, "{st:?}");
}

#[test]
fn sensitivity_changes_how_soon() {
    let probes_at = |s| {
        let mut f = Feed::new(Config::preset(s));
        f.syn_rst_scan(ATTACKER, VICTIM, 1..=60);
        f.finish()[0].probes
    };
    use portolan_detect::config::Sensitivity::*;
    assert_eq!(probes_at(High), 3);
    assert_eq!(probes_at(Medium), 4);
    assert_eq!(probes_at(Low), 5);
}

/// The UDP tool traits, from the scanners' sources: masscan's template leaves with TTL 255,
/// nmap's empty datagrams with a TTL below 64, ZMap's with identification 54321.
#[test]
fn udp_probes_name_their_tool() {
    use portolan_detect::decode::{PacketInfo, Transport};
    use portolan_detect::detect::{udp_tool, Tool};
    let p = |ttl: u8, ip_id: u16, v6: bool| PacketInfo {
        ts_ns: 0,
        src: if v6 {
            Addr::from("2001:db8::1".parse::<std::net::IpAddr>().unwrap())
        } else {
            Addr::v4(ATTACKER)
        },
        dst: if v6 {
            Addr::from("2001:db8::2".parse::<std::net::IpAddr>().unwrap())
        } else {
            Addr::v4(VICTIM)
        },
        ttl,
        ip_id,
        transport: Transport::Udp {
            sport: 40000,
            dport: 7,
            len: 8,
        },
    };
    // masscan: TTL 255 minus a few hops, empty or with its per-port payload
    assert_eq!(udp_tool(&p(249, 0x9a3c, false), 8), Some(Tool::Masscan));
    assert_eq!(udp_tool(&p(255, 0x0102, false), 48), Some(Tool::Masscan));
    // nmap -sU: an empty datagram, TTL at most 64
    assert_eq!(udp_tool(&p(47, 0x1d2e, false), 8), Some(Tool::Nmap));
    assert_eq!(udp_tool(&p(64, 0x1d2e, true), 8), Some(Tool::Nmap));
    // ZMap
    assert_eq!(udp_tool(&p(250, 54321, false), 8), Some(Tool::Zmap));
    // an ordinary client's datagram (a payload) or a TTL 128 host: no tool
    assert_eq!(udp_tool(&p(64, 0x1d2e, false), 40), None);
    assert_eq!(udp_tool(&p(120, 0x1d2e, false), 8), None);
}
