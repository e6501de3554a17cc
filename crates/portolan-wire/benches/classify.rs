//! `reply::classify` on the replies a raw scan receives most: a SYN-ACK (open port) and an ICMP
//! port-unreachable quoting a UDP probe (closed port), IPv4 and IPv6 SYN-ACKs, and an unrelated
//! packet (someone else's traffic). One call per received packet in the scanner's hot path.
//!
//! Run: `cargo bench -p portolan-wire --bench classify`
#![allow(clippy::unwrap_used, clippy::expect_used)] // fixtures built here

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use criterion::{criterion_group, criterion_main, Criterion};
use portolan_wire::build::{self, IpFields};
use portolan_wire::cookie::CookieKey;
use portolan_wire::reply::{classify, Verdict};
use portolan_wire::{icmp, ipproto, tcp, tcpflags};
use portolan_wire::{IcmpRepr, Ipv4Repr, Ipv6Repr, TcpFlags, TcpRepr};

const US: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 1);
const THEM: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 2);
const US6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);
const THEM6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);

/// The target's SYN-ACK (from `them:443` to `us:40001`) to our SYN from `us:40001`.
fn syn_ack(k: &CookieKey, us: IpAddr, them: IpAddr) -> Vec<u8> {
    let seq = k.tcp_seq(us, them, 40001, 443);
    let t = TcpRepr {
        src_port: 443,
        dst_port: 40001,
        seq_number: 7,
        ack_number: seq.wrapping_add(1),
        flags: TcpFlags(tcpflags::SYN | tcpflags::ACK),
        window_len: build::SYN_WINDOW,
        urgent_at: 0,
        options: &[2, 4, 5, 0xb4],
        payload_len: 0,
    };
    let mut buf = vec![0u8; 128];
    let hl = match (them, us) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let ip = ipv4(s, d, ipproto::TCP, t.buffer_len());
            ip.emit(&mut buf).unwrap();
            buf.truncate(ip.buffer_len());
            Ipv4Repr::HEADER_LEN
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let ip = Ipv6Repr {
                src_addr: s,
                dst_addr: d,
                next_header: ipproto::TCP,
                payload_len: t.buffer_len(),
                hop_limit: 64,
                traffic_class: 0,
                flow_label: 0,
            };
            ip.emit(&mut buf).unwrap();
            buf.truncate(ip.buffer_len());
            Ipv6Repr::HEADER_LEN
        }
        _ => unreachable!("one family"),
    };
    t.emit(&mut buf[hl..], them, us).unwrap();
    buf
}

fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, len: usize) -> Ipv4Repr {
    Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        protocol: proto,
        payload_len: len,
        ttl: 64,
        ident: 0,
        dscp_ecn: 0,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
    }
}

/// ICMP port unreachable from THEM quoting our UDP probe to port 161.
fn port_unreachable_v4(k: &CookieKey) -> Vec<u8> {
    let mut probe = [0u8; 128];
    let sport = k.udp_sport(US.into(), THEM.into(), 161);
    let n = build::udp_v4(&mut probe, US, THEM, sport, 161, b"x", IpFields::default()).unwrap();
    let msg = IcmpRepr {
        v6: false,
        msg_type: icmp::v4::DEST_UNREACHABLE,
        msg_code: icmp::v4::CODE_PORT_UNREACHABLE,
        rest_of_header: 0,
        data_len: n,
    };
    let ip = ipv4(THEM, US, ipproto::ICMP, msg.buffer_len());
    let mut b = vec![0u8; ip.buffer_len()];
    ip.emit(&mut b).unwrap();
    let m = &mut b[Ipv4Repr::HEADER_LEN..];
    m[icmp::field::DATA..].copy_from_slice(&probe[..n]);
    msg.emit(m, THEM.into(), US.into()).unwrap();
    b
}

fn bench(c: &mut Criterion) {
    let k = CookieKey::new(0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210);
    let cases = [
        ("syn_ack_v4", syn_ack(&k, US.into(), THEM.into())),
        ("syn_ack_v6", syn_ack(&k, US6.into(), THEM6.into())),
        ("icmp_port_unreachable_v4", port_unreachable_v4(&k)),
    ];
    for (name, pkt) in &cases {
        assert!(
            matches!(classify(pkt, &k), Verdict::Reply(_)),
            "{name} must classify as a reply"
        );
        c.bench_function(&format!("classify/{name}"), |b| {
            b.iter(|| classify(black_box(pkt), black_box(&k)))
        });
    }
    // Traffic unrelated to the scan (a plain ACK): rejected early.
    let mut ack = syn_ack(&k, US.into(), THEM.into());
    ack[Ipv4Repr::HEADER_LEN + tcp::field::FLAGS] = tcpflags::ACK;
    assert_eq!(classify(&ack, &k), Verdict::Unrelated);
    c.bench_function("classify/unrelated_ack_v4", |b| {
        b.iter(|| classify(black_box(&ack), black_box(&k)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
