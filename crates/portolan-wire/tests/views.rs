//! Property tests of the header views on arbitrary bytes and on packets the builders write.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on bad fixtures

use std::net::Ipv4Addr;

use portolan_wire::build::{self, IpFields};
use portolan_wire::ip::{v4_field, v6_field};
use portolan_wire::link::linktype;
use portolan_wire::{
    ipproto, EthernetFrame, IcmpPacket, Ipv4Packet, Ipv6Packet, NullFrame, Sll2Frame, SllFrame,
    TcpPacket, UdpPacket,
};
use proptest::prelude::*;

/// Every view over `b`: accessors never panic and every payload lies inside `b`.
fn all_views(b: &[u8]) {
    let inside = |p: &[u8]| assert!(p.len() <= b.len());
    if let Ok(e) = EthernetFrame::new_checked(b) {
        assert!(e.vlan_count() <= portolan_wire::link::MAX_VLAN_TAGS);
        let _ = (e.ethertype(), e.outer_vlan(), e.src_addr(), e.dst_addr());
        inside(e.payload());
    }
    if let Ok(s) = SllFrame::new_checked(b) {
        let _ = (s.protocol(), s.hatype(), s.packet_type());
        assert_eq!(s.payload().len(), b.len() - 16);
    }
    if let Ok(s) = Sll2Frame::new_checked(b) {
        let _ = (s.protocol(), s.ifindex(), s.hatype(), s.packet_type());
        assert_eq!(s.payload().len(), b.len() - 20);
    }
    if let Ok(n) = NullFrame::new_checked(b) {
        let _ = n.ethertype();
        inside(n.payload());
    }
    if let Ok(p) = Ipv4Packet::new_checked(b) {
        let _ = (
            p.src_addr(),
            p.dst_addr(),
            p.verify_checksum(),
            p.frag_offset(),
        );
        assert!(p.header_len() >= 20);
        assert_eq!(p.payload().len(), p.payload_range().len());
    }
    if let Ok(p) = Ipv6Packet::new_checked(b) {
        let _ = (p.src_addr(), p.dst_addr(), p.flow_label());
        if let Ok(ul) = p.upper_layer() {
            assert!(ul.payload.len() <= p.payload().len());
        }
    }
    if let Ok(t) = TcpPacket::new_checked(b) {
        assert!(t.options().count() <= 40);
        inside(t.option_bytes());
        inside(t.payload());
        let _ = (
            t.flags().core(),
            t.seq_number(),
            t.ack_number(),
            t.window_len(),
        );
    }
    if let Ok(u) = UdpPacket::new_checked(b) {
        assert!(u.payload().len() <= b.len() - 8);
    }
    for v6 in [false, true] {
        if let Ok(i) = IcmpPacket::new_checked(b, v6) {
            let _ = (i.is_error(), i.is_port_unreachable(), i.ip_protocol());
            assert_eq!(i.data().len(), b.len() - 8);
        }
    }
    let _ = linktype::supported(u32::from(b.first().copied().unwrap_or(0)));
}

proptest! {
    #[test]
    fn views_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        all_views(&bytes);
    }

    /// An IPv4 header with random fields in front of random bytes: the views still hold.
    #[test]
    fn views_on_ip_like_bytes(
        hl in 5u8..16, total in any::<u16>(), proto in any::<u8>(),
        rest in proptest::collection::vec(any::<u8>(), 0..120),
    ) {
        // The first 10 bytes of a header (up to the protocol), then the random rest.
        let mut b = vec![0u8; v4_field::PROTOCOL + 1];
        b[v4_field::VER_IHL] = 0x40 | hl;
        b[v4_field::LENGTH].copy_from_slice(&total.to_be_bytes());
        b[v4_field::TTL] = 64;
        b[v4_field::PROTOCOL] = proto;
        b.extend_from_slice(&rest);
        all_views(&b);
        // The first 8 bytes of a fixed IPv6 header, then the random rest.
        let mut v6 = vec![0u8; v6_field::HOP_LIMIT + 1];
        v6[v6_field::VER_TC_FLOW.start] = 0x60;
        v6[v6_field::LENGTH].copy_from_slice(&total.to_be_bytes());
        v6[v6_field::NXT_HDR] = proto;
        v6[v6_field::HOP_LIMIT] = 64;
        v6.extend_from_slice(&rest);
        all_views(&v6);
    }

    /// What the builders write, the views read back.
    #[test]
    fn built_probes_read_back(
        src in any::<u32>(), dst in any::<u32>(), sport in any::<u16>(), dport in any::<u16>(),
        seq in any::<u32>(), payload in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let (s, d) = (Ipv4Addr::from(src), Ipv4Addr::from(dst));
        let mut buf = [0u8; 256];
        let n = build::syn_v4(&mut buf, s, d, sport, dport, seq, IpFields::default()).unwrap();
        let ip = Ipv4Packet::new_checked(&buf[..n]).unwrap();
        prop_assert!(ip.verify_checksum());
        prop_assert_eq!((ip.src_addr(), ip.dst_addr(), ip.protocol()), (s, d, ipproto::TCP));
        let t = TcpPacket::new_checked(ip.payload()).unwrap();
        prop_assert_eq!((t.src_port(), t.dst_port(), t.seq_number()), (sport, dport, seq));
        let n = build::udp_v6(&mut buf, s.to_ipv6_mapped(), d.to_ipv6_mapped(), sport, dport,
            &payload, IpFields::default()).unwrap();
        let ip = Ipv6Packet::new_checked(&buf[..n]).unwrap();
        let ul = ip.upper_layer().unwrap();
        prop_assert_eq!(ul.protocol, ipproto::UDP);
        let u = UdpPacket::new_checked(ul.payload).unwrap();
        prop_assert_eq!((u.src_port(), u.dst_port(), u.payload()), (sport, dport, &payload[..]));
    }
}
