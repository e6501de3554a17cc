//! Host-discovery probes (ICMP echo and timestamp, ICMPv6 echo, TCP ACK) and their replies,
//! built by hand, classified by `reply::classify` against the probe cookie.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on bad fixtures

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use portolan_wire::build::{self, IpFields};
use portolan_wire::cookie::CookieKey;
use portolan_wire::reply::{classify, ReplyKind, Verdict};
use portolan_wire::{
    icmp, ipproto, tcpflags, IcmpPacket, IcmpRepr, Ipv4Packet, Ipv4Repr, Ipv6Packet, Ipv6Repr,
    TcpFlags, TcpPacket, TcpRepr,
};
use proptest::prelude::*;

const US: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 1);
const THEM: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 2);

fn v4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, len: usize) -> Ipv4Repr {
    Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        protocol: proto,
        payload_len: len,
        ttl: 61,
        ident: 0,
        dscp_ecn: 0,
        dont_frag: false,
        more_frags: false,
        frag_offset: 0,
    }
}

/// An ICMPv4 query reply from THEM to US: type, identifier/sequence word, data length.
fn icmp_reply_v4(msg_type: u8, rest: u32, data_len: usize) -> Vec<u8> {
    let m = IcmpRepr {
        v6: false,
        msg_type,
        msg_code: 0,
        rest_of_header: rest,
        data_len,
    };
    let ip = v4(THEM, US, ipproto::ICMP, m.buffer_len());
    let mut b = vec![0u8; ip.buffer_len()];
    ip.emit(&mut b).unwrap();
    m.emit(&mut b[Ipv4Repr::HEADER_LEN..], THEM.into(), US.into())
        .unwrap();
    b
}

fn cookie_word(k: &CookieKey, src: IpAddr, dst: IpAddr, req: u8) -> u32 {
    let (id, seq) = k.icmp_id_seq(src, dst, req);
    (u32::from(id) << 16) | u32::from(seq)
}

#[test]
fn echo_request_is_well_formed_and_its_reply_validates() {
    let k = CookieKey::new(3, 4);
    let (id, seq) = k.icmp_id_seq(US.into(), THEM.into(), icmp::v4::ECHO_REQUEST);
    let mut buf = [0u8; 64];
    let n = build::icmp_echo(
        &mut buf,
        US.into(),
        THEM.into(),
        id,
        seq,
        IpFields::default(),
    )
    .unwrap();
    assert_eq!(n, build::ECHO_V4_LEN);
    let ip = Ipv4Packet::new_checked(&buf[..n]).unwrap();
    assert!(ip.verify_checksum());
    assert_eq!(ip.protocol(), ipproto::ICMP);
    let m = IcmpPacket::new_checked(ip.payload(), false).unwrap();
    assert_eq!(m.msg_type(), icmp::v4::ECHO_REQUEST);
    assert!(m.verify_checksum(US.into(), THEM.into()));
    assert_eq!(m.rest_of_header(), (u32::from(id) << 16) | u32::from(seq));
    // Our own request is not a reply.
    assert_eq!(classify(&buf[..n], &k), Verdict::Unrelated);

    let good = icmp_reply_v4(
        icmp::v4::ECHO_REPLY,
        cookie_word(&k, US.into(), THEM.into(), icmp::v4::ECHO_REQUEST),
        0,
    );
    match classify(&good, &k) {
        Verdict::Reply(r) => {
            assert_eq!(r.kind, ReplyKind::EchoReply);
            assert_eq!(r.target, IpAddr::V4(THEM));
            assert_eq!((r.port, r.ttl, r.icmp_from), (0, 61, None));
        }
        v => panic!("echo reply not validated: {v:?}"),
    }
    // A reply with another cookie (someone else's ping, or a forgery) is not ours.
    let forged = icmp_reply_v4(icmp::v4::ECHO_REPLY, 0x1234_5678, 0);
    assert_eq!(classify(&forged, &k), Verdict::Unrelated);
    // The echo cookie does not validate a timestamp reply: each query has its own.
    let crossed = icmp_reply_v4(
        icmp::v4::TIMESTAMP_REPLY,
        cookie_word(&k, US.into(), THEM.into(), icmp::v4::ECHO_REQUEST),
        12,
    );
    assert_eq!(classify(&crossed, &k), Verdict::Unrelated);
}

#[test]
fn timestamp_request_and_reply() {
    let k = CookieKey::new(5, 6);
    let (id, seq) = k.icmp_id_seq(US.into(), THEM.into(), icmp::v4::TIMESTAMP);
    let mut buf = [0u8; 64];
    let n = build::icmp_timestamp(
        &mut buf,
        US.into(),
        THEM.into(),
        id,
        seq,
        IpFields::default(),
    )
    .unwrap();
    assert_eq!(n, build::TIMESTAMP_V4_LEN);
    let ip = Ipv4Packet::new_checked(&buf[..n]).unwrap();
    let m = IcmpPacket::new_checked(ip.payload(), false).unwrap();
    assert_eq!(m.msg_type(), icmp::v4::TIMESTAMP);
    assert_eq!(m.data().len(), 12);
    assert!(m.verify_checksum(US.into(), THEM.into()));
    let good = icmp_reply_v4(
        icmp::v4::TIMESTAMP_REPLY,
        cookie_word(&k, US.into(), THEM.into(), icmp::v4::TIMESTAMP),
        12,
    );
    assert!(
        matches!(classify(&good, &k), Verdict::Reply(r) if r.kind == ReplyKind::TimestampReply)
    );
    // No timestamp in ICMPv6.
    let six = IpAddr::V6(Ipv6Addr::LOCALHOST);
    assert!(build::icmp_timestamp(&mut buf, six, six, 1, 2, IpFields::default()).is_err());
}

#[test]
fn icmpv6_echo_and_reply() {
    let k = CookieKey::new(7, 8);
    let us: Ipv6Addr = "fd00:78::1".parse().unwrap();
    let them: Ipv6Addr = "fd00:78::2".parse().unwrap();
    let (id, seq) = k.icmp_id_seq(us.into(), them.into(), icmp::v6::ECHO_REQUEST);
    let mut buf = [0u8; 96];
    let n = build::icmp_echo(
        &mut buf,
        us.into(),
        them.into(),
        id,
        seq,
        IpFields::default(),
    )
    .unwrap();
    let ip = Ipv6Packet::new_checked(&buf[..n]).unwrap();
    assert_eq!(ip.next_header(), ipproto::ICMPV6);
    let m = IcmpPacket::new_checked(ip.payload(), true).unwrap();
    assert_eq!(m.msg_type(), icmp::v6::ECHO_REQUEST);
    assert!(m.verify_checksum(us.into(), them.into()));

    let reply = IcmpRepr {
        v6: true,
        msg_type: icmp::v6::ECHO_REPLY,
        msg_code: 0,
        rest_of_header: cookie_word(&k, us.into(), them.into(), icmp::v6::ECHO_REQUEST),
        data_len: 0,
    };
    let ip6 = Ipv6Repr {
        src_addr: them,
        dst_addr: us,
        next_header: ipproto::ICMPV6,
        payload_len: reply.buffer_len(),
        hop_limit: 64,
        traffic_class: 0,
        flow_label: 0,
    };
    let mut b = vec![0u8; Ipv6Repr::HEADER_LEN + reply.buffer_len()];
    ip6.emit(&mut b).unwrap();
    reply
        .emit(&mut b[Ipv6Repr::HEADER_LEN..], them.into(), us.into())
        .unwrap();
    match classify(&b, &k) {
        Verdict::Reply(r) => {
            assert_eq!(r.kind, ReplyKind::EchoReply);
            assert_eq!((r.target, r.ttl), (IpAddr::V6(them), 64));
        }
        v => panic!("ICMPv6 echo reply not validated: {v:?}"),
    }
}

/// A TCP segment from THEM:sport to US:dport with the given sequence, ack and flags.
fn tcp_seg(sport: u16, dport: u16, seq: u32, ack: u32, flags: u8) -> Vec<u8> {
    let t = TcpRepr {
        src_port: sport,
        dst_port: dport,
        seq_number: seq,
        ack_number: ack,
        flags: TcpFlags(flags),
        window_len: 0,
        urgent_at: 0,
        options: &[],
        payload_len: 0,
    };
    let ip = v4(THEM, US, ipproto::TCP, t.buffer_len());
    let mut b = vec![0u8; ip.buffer_len()];
    ip.emit(&mut b).unwrap();
    t.emit(&mut b[Ipv4Repr::HEADER_LEN..], THEM.into(), US.into())
        .unwrap();
    b
}

#[test]
fn ack_ping_and_its_reset() {
    let k = CookieKey::new(9, 10);
    let cookie = k.tcp_seq(US.into(), THEM.into(), 61_235, 80);
    let mut buf = [0u8; 64];
    let n = build::tcp_ack(
        &mut buf,
        US.into(),
        THEM.into(),
        61_235,
        80,
        cookie,
        IpFields::default(),
    )
    .unwrap();
    let ip = Ipv4Packet::new_checked(&buf[..n]).unwrap();
    let t = TcpPacket::new_checked(ip.payload()).unwrap();
    assert_eq!(t.flags().bits(), tcpflags::ACK);
    assert_eq!((t.dst_port(), t.ack_number()), (80, cookie));
    assert!(t.verify_checksum(US.into(), THEM.into()));
    // RFC 793: the RST answering an ACK takes its sequence number from the ACK field.
    let rst = tcp_seg(80, 61_235, cookie, 0, tcpflags::RST);
    match classify(&rst, &k) {
        Verdict::Reply(r) => {
            assert_eq!((r.kind, r.port), (ReplyKind::AckReset, 80));
        }
        v => panic!("RST to the ACK ping not validated: {v:?}"),
    }
    let stray = tcp_seg(80, 61_235, cookie ^ 1, 0, tcpflags::RST);
    assert_eq!(classify(&stray, &k), Verdict::Invalid);
}

proptest! {
    #[test]
    fn only_the_right_echo_cookie_validates(word in any::<u32>(), ts in any::<bool>()) {
        let k = CookieKey::new(13, 14);
        let (req, rep) = if ts {
            (icmp::v4::TIMESTAMP, icmp::v4::TIMESTAMP_REPLY)
        } else {
            (icmp::v4::ECHO_REQUEST, icmp::v4::ECHO_REPLY)
        };
        let right = cookie_word(&k, US.into(), THEM.into(), req);
        let v = classify(&icmp_reply_v4(rep, word, if ts { 12 } else { 0 }), &k);
        if word == right {
            prop_assert!(matches!(v, Verdict::Reply(_)));
        } else {
            prop_assert_eq!(v, Verdict::Unrelated);
        }
    }

    #[test]
    fn only_the_right_reset_seq_validates(sport in 1024u16.., dport in 1u16.., delta in 1u32..) {
        let k = CookieKey::new(15, 16);
        let cookie = k.tcp_seq(US.into(), THEM.into(), sport, dport);
        let ok = classify(&tcp_seg(dport, sport, cookie, 0, tcpflags::RST), &k);
        prop_assert!(matches!(ok, Verdict::Reply(r) if r.kind == ReplyKind::AckReset));
        let bad = classify(&tcp_seg(dport, sport, cookie.wrapping_add(delta), 0, tcpflags::RST), &k);
        prop_assert_eq!(bad, Verdict::Invalid);
    }
}
