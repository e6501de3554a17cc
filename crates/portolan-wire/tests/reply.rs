//! Replies to probes, built by hand, classified by `reply::classify`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on bad fixtures

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use portolan_wire::build::{self, IpFields};
use portolan_wire::cookie::CookieKey;
use portolan_wire::reply::{classify, Protocol, ReplyKind, Verdict};
use portolan_wire::{icmp, ipproto, tcpflags, IcmpRepr, Ipv4Repr, Ipv6Repr, TcpFlags, TcpRepr};
use proptest::prelude::*;

const US: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 1);
const THEM: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 2);

/// An IPv4 header from `src` to `dst` carrying `len` bytes of `proto`.
fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, ttl: u8, len: usize) -> Ipv4Repr {
    Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        protocol: proto,
        payload_len: len,
        ttl,
        ident: 0,
        dscp_ecn: 0,
        dont_frag: false,
        more_frags: false,
        frag_offset: 0,
    }
}

/// A TCP header from `sport` to `dport` with the given ack and flags, no options or payload.
fn tcp(sport: u16, dport: u16, ack: u32, flags: u8) -> TcpRepr<'static> {
    TcpRepr {
        src_port: sport,
        dst_port: dport,
        seq_number: 0,
        ack_number: ack,
        flags: TcpFlags(flags),
        window_len: 0,
        urgent_at: 0,
        options: &[],
        payload_len: 0,
    }
}

/// A TCP segment from THEM:sport to US:dport with the given ack and flags, in IPv4.
fn tcp_reply(sport: u16, dport: u16, ack: u32, flags: u8, ttl: u8) -> Vec<u8> {
    let t = tcp(sport, dport, ack, flags);
    let ip = ipv4(THEM, US, ipproto::TCP, ttl, t.buffer_len());
    let mut b = vec![0u8; ip.buffer_len()];
    ip.emit(&mut b).unwrap();
    t.emit(&mut b[Ipv4Repr::HEADER_LEN..], THEM.into(), US.into())
        .unwrap();
    b
}

/// An ICMP error from `from` quoting `probe` (whole IP packet), type/code given.
fn icmp_error(from: Ipv4Addr, probe: &[u8], typ: u8, code: u8) -> Vec<u8> {
    let msg = IcmpRepr {
        v6: false,
        msg_type: typ,
        msg_code: code,
        rest_of_header: 0,
        data_len: probe.len(),
    };
    let ip = ipv4(from, US, ipproto::ICMP, 64, msg.buffer_len());
    let mut b = vec![0u8; ip.buffer_len()];
    ip.emit(&mut b).unwrap();
    let m = &mut b[Ipv4Repr::HEADER_LEN..];
    m[icmp::field::DATA..].copy_from_slice(probe);
    msg.emit(m, from.into(), US.into()).unwrap();
    b
}

#[test]
fn syn_ack_and_rst_validate() {
    let k = CookieKey::new(7, 9);
    let seq = k.tcp_seq(US.into(), THEM.into(), 40001, 22);
    let v = classify(
        &tcp_reply(
            22,
            40001,
            seq.wrapping_add(1),
            tcpflags::SYN | tcpflags::ACK,
            61,
        ),
        &k,
    );
    let Verdict::Reply(r) = v else {
        panic!("{v:?}")
    };
    assert_eq!(
        (r.target, r.port, r.kind, r.ttl),
        (IpAddr::V4(THEM), 22, ReplyKind::SynAck, 61)
    );
    assert_eq!(r.transport, Protocol::Tcp);
    let v = classify(
        &tcp_reply(
            22,
            40001,
            seq.wrapping_add(1),
            tcpflags::RST | tcpflags::ACK,
            64,
        ),
        &k,
    );
    assert!(matches!(v, Verdict::Reply(r) if r.kind == ReplyKind::Rst));
    // Wrong ack: forged or stale.
    let v = classify(
        &tcp_reply(
            22,
            40001,
            seq.wrapping_add(2),
            tcpflags::SYN | tcpflags::ACK,
            64,
        ),
        &k,
    );
    assert_eq!(v, Verdict::Invalid);
    // A plain ACK is not a reply to a SYN.
    let v = classify(
        &tcp_reply(22, 40001, seq.wrapping_add(1), tcpflags::ACK, 64),
        &k,
    );
    assert_eq!(v, Verdict::Unrelated);
}

#[test]
fn icmp_errors_quote_our_probe() {
    let k = CookieKey::new(1, 2);
    let mut buf = [0u8; 128];
    let sport = k.udp_sport(US.into(), THEM.into(), 161);
    let n = build::udp_v4(&mut buf, US, THEM, sport, 161, b"x", IpFields::default()).unwrap();
    let v = classify(&icmp_error(THEM, &buf[..n], 3, 3), &k);
    let Verdict::Reply(r) = v else {
        panic!("{v:?}")
    };
    assert_eq!(
        (r.port, r.kind, r.transport),
        (161, ReplyKind::PortUnreachable, Protocol::Udp)
    );
    assert_eq!(r.icmp_from, Some(IpAddr::V4(THEM)));
    // Admin-prohibited from a router, for a TCP SYN.
    let seq = k.tcp_seq(US.into(), THEM.into(), 40000, 443);
    let n = build::syn_v4(&mut buf, US, THEM, 40000, 443, seq, IpFields::default()).unwrap();
    let router = Ipv4Addr::new(10, 78, 0, 254);
    let v = classify(&icmp_error(router, &buf[..n], 3, 13), &k);
    let Verdict::Reply(r) = v else {
        panic!("{v:?}")
    };
    assert_eq!(
        (r.target, r.port, r.kind),
        (IpAddr::V4(THEM), 443, ReplyKind::Unreachable { code: 13 })
    );
    // Quoting a SYN with a sequence number we never sent.
    let n = build::syn_v4(&mut buf, US, THEM, 40000, 443, seq ^ 1, IpFields::default()).unwrap();
    assert_eq!(
        classify(&icmp_error(router, &buf[..n], 3, 13), &k),
        Verdict::Invalid
    );
    // ICMP echo reply: unrelated.
    assert_eq!(
        classify(&icmp_error(THEM, &buf[..n], 0, 0), &k),
        Verdict::Unrelated
    );
}

#[test]
fn udp_reply_and_ipv6() {
    let k = CookieKey::new(3, 4);
    let (us6, them6): (Ipv6Addr, Ipv6Addr) =
        ("fd00::1".parse().unwrap(), "fd00::2".parse().unwrap());
    let sport = k.udp_sport(us6.into(), them6.into(), 53);
    // The server's answer: from them6:53 to us6:sport.
    let mut buf = [0u8; 128];
    let n = build::udp_v6(
        &mut buf,
        them6,
        us6,
        53,
        sport,
        b"answer",
        IpFields::default(),
    )
    .unwrap();
    let v = classify(&buf[..n], &k);
    let Verdict::Reply(r) = v else {
        panic!("{v:?}")
    };
    assert_eq!(
        (r.target, r.port, r.kind),
        (IpAddr::V6(them6), 53, ReplyKind::Udp)
    );
    // A reply to a port in our range that we did not use for this target.
    let other = if sport == 65535 { 61000 } else { sport + 1 };
    let n = build::udp_v6(
        &mut buf,
        them6,
        us6,
        53,
        other,
        b"answer",
        IpFields::default(),
    )
    .unwrap();
    assert_eq!(classify(&buf[..n], &k), Verdict::Invalid);
    // A SYN-ACK over IPv6.
    let seq = k.tcp_seq(us6.into(), them6.into(), 41000, 80);
    let t = tcp(
        80,
        41000,
        seq.wrapping_add(1),
        tcpflags::SYN | tcpflags::ACK,
    );
    let ip = Ipv6Repr {
        src_addr: them6,
        dst_addr: us6,
        next_header: ipproto::TCP,
        payload_len: t.buffer_len(),
        hop_limit: 64,
        traffic_class: 0,
        flow_label: 0,
    };
    let n = ip.buffer_len();
    ip.emit(&mut buf).unwrap();
    t.emit(&mut buf[Ipv6Repr::HEADER_LEN..n], them6.into(), us6.into())
        .unwrap();
    assert!(
        matches!(classify(&buf[..n], &k), Verdict::Reply(r) if r.kind == ReplyKind::SynAck && r.port == 80)
    );
}

proptest! {
    #[test]
    fn classify_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let k = CookieKey::new(1, 1);
        let _ = classify(&bytes, &k);
    }

    #[test]
    fn classify_never_panics_on_mutated_replies(idx in 0usize..68, val in any::<u8>(), cut in 0usize..68) {
        let k = CookieKey::new(5, 6);
        let mut buf = [0u8; 128];
        let seq = k.tcp_seq(US.into(), THEM.into(), 40000, 443);
        let n = build::syn_v4(&mut buf, US, THEM, 40000, 443, seq, IpFields::default()).unwrap();
        let mut pkt = icmp_error(THEM, &buf[..n], 3, 3);
        let i = idx % pkt.len();
        pkt[i] = val;
        pkt.truncate(cut.min(pkt.len()));
        let _ = classify(&pkt, &k);
    }

    #[test]
    fn only_the_right_ack_validates(sport in 1024u16.., dport in 1u16.., delta in 2u32..) {
        let k = CookieKey::new(11, 12);
        let seq = k.tcp_seq(US.into(), THEM.into(), sport, dport);
        let ok = classify(&tcp_reply(dport, sport, seq.wrapping_add(1), tcpflags::SYN | tcpflags::ACK, 64), &k);
        prop_assert!(matches!(ok, Verdict::Reply(_)));
        let bad = classify(&tcp_reply(dport, sport, seq.wrapping_add(delta), tcpflags::SYN | tcpflags::ACK, 64), &k);
        prop_assert_eq!(bad, Verdict::Invalid);
    }
}
