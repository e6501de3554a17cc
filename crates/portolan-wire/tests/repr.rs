//! Property tests of the `Repr` types: what `emit` writes, `parse` reads back unchanged; the
//! checksums `emit` computes verify; `parse` on arbitrary bytes errors or succeeds, never panics.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on bad fixtures

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use portolan_wire::link::{ethertype, field as eth_field};
use portolan_wire::{
    ip, ipproto, tcp, udp, EthernetFrame, EthernetRepr, IcmpPacket, IcmpRepr, Ipv4Packet, Ipv4Repr,
    Ipv6ExtRepr, Ipv6FragRepr, Ipv6Packet, Ipv6Repr, TcpFlags, TcpPacket, TcpRepr, UdpPacket,
    UdpRepr, WireError,
};
use proptest::prelude::*;

fn v4_repr() -> impl Strategy<Value = Ipv4Repr> {
    (
        any::<[u8; 4]>(),
        any::<[u8; 4]>(),
        any::<u8>(),
        0usize..1500,
        any::<u8>(),
        any::<u16>(),
        any::<u8>(),
        any::<(bool, bool)>(),
        0u16..=0x1fff,
    )
        .prop_map(
            |(s, d, protocol, payload_len, ttl, ident, dscp_ecn, (df, mf), frag_offset)| Ipv4Repr {
                src_addr: s.into(),
                dst_addr: d.into(),
                protocol,
                payload_len,
                ttl,
                ident,
                dscp_ecn,
                dont_frag: df,
                more_frags: mf,
                frag_offset,
            },
        )
}

fn v6_repr() -> impl Strategy<Value = Ipv6Repr> {
    (
        any::<[u8; 16]>(),
        any::<[u8; 16]>(),
        any::<u8>(),
        0usize..1500,
        any::<u8>(),
        any::<u8>(),
        0u32..=0xf_ffff,
    )
        .prop_map(
            |(s, d, next_header, payload_len, hop_limit, traffic_class, flow_label)| Ipv6Repr {
                src_addr: s.into(),
                dst_addr: d.into(),
                next_header,
                payload_len,
                hop_limit,
                traffic_class,
                flow_label,
            },
        )
}

/// A source and destination of one family.
fn addr_pair() -> impl Strategy<Value = (IpAddr, IpAddr)> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<[u8; 4]>()).prop_map(|(s, d)| (IpAddr::from(s), IpAddr::from(d))),
        (any::<[u8; 16]>(), any::<[u8; 16]>())
            .prop_map(|(s, d)| (IpAddr::from(s), IpAddr::from(d))),
    ]
}

// The round trip the `views` fuzz target runs (fuzz/fuzz_targets/views.rs), kept the same here
// so that it is compiled and run by `cargo test` on stable.
const A: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// `parse(emit(repr)) == repr` for the `Repr`s of `b`'s headers.
fn reprs(b: &[u8]) {
    if let Ok(p) = Ipv4Packet::new_checked(b) {
        let r = Ipv4Repr::parse(&p);
        let mut out = vec![0u8; r.buffer_len()];
        // A TSO capture (total length 0) may hold more than an IPv4 packet can say.
        if r.emit(&mut out).is_ok() {
            let q = Ipv4Packet::new_checked(&out[..]).unwrap();
            assert!(q.verify_checksum());
            assert_eq!(Ipv4Repr::parse(&q), r);
        }
    }
    if let Ok(p) = Ipv6Packet::new_checked(b) {
        let r = Ipv6Repr::parse(&p);
        let mut out = vec![0u8; r.buffer_len()];
        if r.emit(&mut out).is_ok() {
            assert_eq!(
                Ipv6Repr::parse(&Ipv6Packet::new_checked(&out[..]).unwrap()),
                r
            );
        }
    }
    if let Ok(r) = TcpPacket::new_checked(b).and_then(|t| TcpRepr::parse(&t)) {
        let mut out = vec![0u8; r.buffer_len()];
        out[r.header_len()..].copy_from_slice(&b[r.header_len()..]);
        r.emit(&mut out, A, A).unwrap();
        let t = TcpPacket::new_checked(&out[..]).unwrap();
        assert!(t.verify_checksum(A, A));
        assert_eq!(TcpRepr::parse(&t).unwrap(), r);
    }
    if let Ok(u) = UdpPacket::new_checked(b) {
        let r = UdpRepr::parse(&u);
        let mut out = vec![0u8; r.buffer_len()];
        r.emit(&mut out, A, A).unwrap();
        let q = UdpPacket::new_checked(&out[..]).unwrap();
        assert!(q.verify_checksum(A, A));
        assert_eq!(UdpRepr::parse(&q), r);
    }
    for v6 in [false, true] {
        if let Ok(i) = IcmpPacket::new_checked(b, v6) {
            let r = IcmpRepr::parse(&i);
            let mut out = vec![0u8; r.buffer_len()];
            r.emit(&mut out, A, A).unwrap();
            assert_eq!(
                IcmpRepr::parse(&IcmpPacket::new_checked(&out[..], v6).unwrap()),
                r
            );
        }
    }
    if let Ok(e) = EthernetFrame::new_checked(b) {
        let _ = EthernetRepr::parse(&e);
    }
}

proptest! {
    #[test]
    fn ethernet_round_trips(src in any::<[u8; 6]>(), dst in any::<[u8; 6]>(), ty in any::<u16>(),
                            payload in proptest::collection::vec(any::<u8>(), 0..64)) {
        // A VLAN TPID would make the next 4 bytes a tag: not an untagged header.
        prop_assume!(!matches!(ty, ethertype::VLAN | ethertype::QINQ | ethertype::QINQ_OLD));
        let r = EthernetRepr { src_addr: src, dst_addr: dst, ethertype: ty };
        let mut buf = vec![0u8; r.buffer_len()];
        r.emit(&mut buf).unwrap();
        buf.extend_from_slice(&payload);
        let f = EthernetFrame::new_checked(&buf[..]).unwrap();
        prop_assert_eq!(EthernetRepr::parse(&f), r);
        prop_assert_eq!(f.payload(), &payload[..]);
        prop_assert_eq!(&buf[eth_field::ETHERTYPE], &ty.to_be_bytes());
    }

    #[test]
    fn ipv4_round_trips_with_a_valid_checksum(r in v4_repr()) {
        let mut buf = vec![0u8; r.buffer_len()];
        r.emit(&mut buf).unwrap();
        let p = Ipv4Packet::new_checked(&buf[..]).unwrap();
        prop_assert!(p.verify_checksum());
        prop_assert_eq!(Ipv4Repr::parse(&p), r);
        // A buffer one byte short is an error, not a panic.
        prop_assert_eq!(r.emit(&mut buf[..r.buffer_len() - 1]),
            Err(WireError::BufferTooSmall(r.buffer_len())));
    }

    #[test]
    fn ipv6_round_trips(r in v6_repr()) {
        let mut buf = vec![0u8; r.buffer_len()];
        r.emit(&mut buf).unwrap();
        let p = Ipv6Packet::new_checked(&buf[..]).unwrap();
        // A zero payload length reads as "up to the capture": the same here.
        prop_assert_eq!(Ipv6Repr::parse(&p), r);
        prop_assert_eq!(&buf[ip::v6_field::SRC_ADDR], &r.src_addr.octets());
    }

    #[test]
    fn ipv6_extension_headers_round_trip(
        next in any::<u8>(), off in 0u16..=0x1fff, m in any::<bool>(), ident in any::<u32>(),
        units in 0usize..4, byte in any::<u8>(),
    ) {
        let f = Ipv6FragRepr { next_header: next, frag_offset: off, more_frags: m, ident };
        let mut buf = [0xffu8; 8];
        f.emit(&mut buf).unwrap();
        prop_assert_eq!(Ipv6FragRepr::parse(&buf).unwrap(), f);
        let data = vec![byte; units * 8 + 6];
        let e = Ipv6ExtRepr { next_header: next, data: &data };
        let mut buf = vec![0u8; e.buffer_len()];
        e.emit(&mut buf).unwrap();
        prop_assert_eq!(Ipv6ExtRepr::parse(&buf).unwrap(), e);
        // The walker reads what was written: this header, then TCP.
        let e = Ipv6ExtRepr { next_header: ipproto::TCP, ..e };
        e.emit(&mut buf).unwrap();
        let ul = ip::upper_layer(ipproto::DSTOPTS, &buf).unwrap();
        prop_assert_eq!((ul.protocol, ul.payload.len()), (ipproto::TCP, 0));
    }

    #[test]
    fn tcp_round_trips_with_a_valid_checksum(
        (src, dst) in addr_pair(), sp in any::<u16>(), dp in any::<u16>(), seq in any::<u32>(),
        ack in any::<u32>(), flags in any::<u8>(), win in any::<u16>(), urg in any::<u16>(),
        opt_words in 0usize..=10, opt_byte in any::<u8>(),
        payload in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let options = vec![opt_byte; opt_words * 4];
        let r = TcpRepr {
            src_port: sp, dst_port: dp, seq_number: seq, ack_number: ack,
            flags: TcpFlags(flags), window_len: win, urgent_at: urg,
            options: &options, payload_len: payload.len(),
        };
        let mut buf = vec![0u8; r.buffer_len()];
        buf[r.header_len()..].copy_from_slice(&payload);
        r.emit(&mut buf, src, dst).unwrap();
        let t = TcpPacket::new_checked(&buf[..]).unwrap();
        prop_assert!(t.verify_checksum(src, dst));
        prop_assert_eq!(TcpRepr::parse(&t).unwrap(), r);
        prop_assert_eq!(t.payload(), &payload[..]);
    }

    #[test]
    fn tcp_options_are_padded_to_words(len in 0usize..=40) {
        let options = vec![1u8; len];
        let r = TcpRepr {
            src_port: 1, dst_port: 2, seq_number: 3, ack_number: 4, flags: TcpFlags(0x02),
            window_len: 5, urgent_at: 0, options: &options, payload_len: 0,
        };
        let (s, d) = (IpAddr::from(Ipv4Addr::LOCALHOST), IpAddr::from(Ipv4Addr::LOCALHOST));
        let mut buf = vec![0xaau8; r.buffer_len()];
        r.emit(&mut buf, s, d).unwrap();
        prop_assert_eq!(r.header_len() % 4, 0);
        let parsed = TcpRepr::parse(&TcpPacket::new_checked(&buf[..]).unwrap()).unwrap();
        prop_assert_eq!(&parsed.options[..len], &options[..]);
        prop_assert!(parsed.options[len..].iter().all(|&b| b == 0));
    }

    #[test]
    fn udp_round_trips_with_a_valid_checksum(
        (src, dst) in addr_pair(), sp in any::<u16>(), dp in any::<u16>(),
        payload in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let r = UdpRepr { src_port: sp, dst_port: dp, payload_len: payload.len() };
        let mut buf = vec![0u8; r.buffer_len()];
        buf[udp::field::PAYLOAD..].copy_from_slice(&payload);
        r.emit(&mut buf, src, dst).unwrap();
        let u = UdpPacket::new_checked(&buf[..]).unwrap();
        prop_assert!(u.verify_checksum(src, dst));
        prop_assert_ne!(u.checksum(), 0);
        prop_assert_eq!(UdpRepr::parse(&u), r);
    }

    #[test]
    fn icmp_round_trips_with_a_valid_checksum(
        (src, dst) in addr_pair(), ty in any::<u8>(), code in any::<u8>(), rest in any::<u32>(),
        data in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let r = IcmpRepr {
            v6: src.is_ipv6(), msg_type: ty, msg_code: code, rest_of_header: rest,
            data_len: data.len(),
        };
        let mut buf = vec![0u8; r.buffer_len()];
        buf[8..].copy_from_slice(&data);
        r.emit(&mut buf, src, dst).unwrap();
        let i = IcmpPacket::new_checked(&buf[..], r.v6).unwrap();
        prop_assert!(i.verify_checksum(src, dst));
        prop_assert_eq!(IcmpRepr::parse(&i), r);
        prop_assert_eq!(i.data(), &data[..]);
    }

    /// Every `Repr` parser on arbitrary bytes: an error or a header, never a panic; the lengths
    /// it reports lie inside the bytes.
    #[test]
    fn reprs_parse_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let b = &bytes[..];
        reprs(b);
        if let Ok(f) = Ipv6FragRepr::parse(b) {
            let mut out = [0u8; 8];
            f.emit(&mut out).unwrap();
            prop_assert_eq!(Ipv6FragRepr::parse(&out).unwrap(), f);
        }
        if let Ok(e) = Ipv6ExtRepr::parse(b) {
            prop_assert!(e.buffer_len() <= b.len());
            let mut out = vec![0u8; e.buffer_len()];
            e.emit(&mut out).unwrap();
            prop_assert_eq!(&out[..], &b[..e.buffer_len()]);
        }
        if let Ok(f) = EthernetFrame::new_checked(b) {
            let _ = EthernetRepr::parse(&f);
        }
        if let Ok(p) = Ipv4Packet::new_checked(b) {
            prop_assert!(Ipv4Repr::parse(&p).payload_len <= b.len());
        }
        if let Ok(p) = Ipv6Packet::new_checked(b) {
            prop_assert!(Ipv6Repr::parse(&p).payload_len <= b.len());
        }
        if let Ok(t) = TcpPacket::new_checked(b) {
            if let Ok(r) = TcpRepr::parse(&t) {
                prop_assert!(r.header_len() + r.payload_len == b.len());
            }
        }
        if let Ok(u) = UdpPacket::new_checked(b) {
            prop_assert!(UdpRepr::parse(&u).buffer_len() <= b.len());
        }
        for v6 in [false, true] {
            if let Ok(i) = IcmpPacket::new_checked(b, v6) {
                prop_assert_eq!(IcmpRepr::parse(&i).buffer_len(), b.len());
            }
        }
    }
}

#[test]
fn emit_refuses_what_the_header_cannot_say() {
    let a = IpAddr::from(Ipv4Addr::LOCALHOST);
    let six = IpAddr::from(Ipv6Addr::LOCALHOST);
    let long = [1u8; 44];
    let t = TcpRepr {
        src_port: 1,
        dst_port: 2,
        seq_number: 0,
        ack_number: 0,
        flags: TcpFlags(0),
        window_len: 0,
        urgent_at: 0,
        options: &long,
        payload_len: 0,
    };
    let mut buf = [0u8; 128];
    assert!(matches!(
        t.emit(&mut buf, a, a),
        Err(WireError::Malformed { .. })
    ));
    let t = TcpRepr { options: &[], ..t };
    assert!(matches!(
        t.emit(&mut buf, a, six),
        Err(WireError::Malformed { .. })
    ));
    assert_eq!(
        t.emit(&mut buf[..19], a, a),
        Err(WireError::BufferTooSmall(20))
    );
    let u = UdpRepr {
        src_port: 1,
        dst_port: 2,
        payload_len: 70_000,
    };
    assert!(u.emit(&mut buf, a, a).is_err());
    let mut v4 = Ipv4Repr {
        src_addr: Ipv4Addr::LOCALHOST,
        dst_addr: Ipv4Addr::LOCALHOST,
        protocol: 6,
        payload_len: 0,
        ttl: 64,
        ident: 0,
        dscp_ecn: 0,
        dont_frag: false,
        more_frags: false,
        frag_offset: 0x2000,
    };
    assert!(v4.emit(&mut buf).is_err());
    v4.frag_offset = 0;
    v4.payload_len = 65_516;
    assert!(v4.emit(&mut buf).is_err());
    // A TCP header whose options were cut by the snap length parses as a view, not as a Repr.
    let mut seg = [0u8; 24];
    seg[tcp::field::DATA_OFFSET] = 6 << 4;
    let p = TcpPacket::new_checked(&seg[..22]).unwrap();
    assert!(TcpRepr::parse(&p).is_err());
    assert!(TcpRepr::parse(&TcpPacket::new_checked(&seg[..]).unwrap()).is_ok());
}
