//! `reply::classify` on the replies a raw scan receives most: a SYN-ACK (open port) and an ICMP
//! port-unreachable quoting a UDP probe (closed port), IPv4 and IPv6 SYN-ACKs, and an unrelated
//! packet (someone else's traffic). One call per received packet in the scanner's hot path.
//!
//! Run: `cargo bench -p portolan-wire --bench classify`
#![allow(clippy::unwrap_used, clippy::expect_used)] // fixtures built here

use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};

use criterion::{criterion_group, criterion_main, Criterion};
use portolan_wire::build::{self, IpFields};
use portolan_wire::cookie::CookieKey;
use portolan_wire::reply::{classify, Verdict};
use portolan_wire::{ipproto, tcpflags};

const US: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 1);
const THEM: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 2);

/// The target's SYN-ACK to our SYN from US:40001 to THEM:443 (a SYN built from THEM to US with
/// the ack and flags of a SYN-ACK).
fn syn_ack_v4(k: &CookieKey) -> Vec<u8> {
    let seq = k.tcp_seq(US.into(), THEM.into(), 40001, 443);
    let mut buf = [0u8; 64];
    let n = build::syn_v4(&mut buf, THEM, US, 443, 40001, 7, IpFields::default()).unwrap();
    let t = &mut buf[20..n];
    t[8..12].copy_from_slice(&seq.wrapping_add(1).to_be_bytes());
    t[13] = tcpflags::SYN | tcpflags::ACK;
    buf[..n].to_vec()
}

fn syn_ack_v6(k: &CookieKey) -> Vec<u8> {
    let (us, them): (Ipv6Addr, Ipv6Addr) = ("fd00::1".parse().unwrap(), "fd00::2".parse().unwrap());
    let seq = k.tcp_seq(us.into(), them.into(), 40001, 443);
    let mut buf = [0u8; 96];
    let n = build::syn_v6(&mut buf, them, us, 443, 40001, 7, IpFields::default()).unwrap();
    let t = &mut buf[40..n];
    t[8..12].copy_from_slice(&seq.wrapping_add(1).to_be_bytes());
    t[13] = tcpflags::SYN | tcpflags::ACK;
    buf[..n].to_vec()
}

/// ICMP port unreachable from THEM quoting our UDP probe to port 161.
fn port_unreachable_v4(k: &CookieKey) -> Vec<u8> {
    let mut probe = [0u8; 128];
    let sport = k.udp_sport(US.into(), THEM.into(), 161);
    let n = build::udp_v4(&mut probe, US, THEM, sport, 161, b"x", IpFields::default()).unwrap();
    let mut b = vec![0u8; 28];
    b[0] = 0x45;
    b[2..4].copy_from_slice(&((28 + n) as u16).to_be_bytes());
    b[8] = 64;
    b[9] = ipproto::ICMP;
    b[12..16].copy_from_slice(&THEM.octets());
    b[16..20].copy_from_slice(&US.octets());
    b[20] = 3;
    b[21] = 3;
    b.extend_from_slice(&probe[..n]);
    b
}

fn bench(c: &mut Criterion) {
    let k = CookieKey::new(0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210);
    let cases = [
        ("syn_ack_v4", syn_ack_v4(&k)),
        ("syn_ack_v6", syn_ack_v6(&k)),
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
    let mut ack = syn_ack_v4(&k);
    ack[33] = tcpflags::ACK;
    assert_eq!(classify(&ack, &k), Verdict::Unrelated);
    c.bench_function("classify/unrelated_ack_v4", |b| {
        b.iter(|| classify(black_box(&ack), black_box(&k)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
