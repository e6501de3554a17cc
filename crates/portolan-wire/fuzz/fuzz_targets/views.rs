//! Every header view (link layers, IPv4, IPv6 with its extension headers, TCP with its options,
//! UDP, ICMP) on arbitrary bytes: errors, never panics, payloads inside the buffer. Every `Repr`
//! parsed from them emits a header that parses back to the same `Repr`.
#![no_main]
use std::net::{IpAddr, Ipv4Addr};

use libfuzzer_sys::fuzz_target;
use portolan_wire::{
    EthernetFrame, EthernetRepr, IcmpPacket, IcmpRepr, Ipv4Packet, Ipv4Repr, Ipv6ExtRepr,
    Ipv6FragRepr, Ipv6Packet, Ipv6Repr,
    NullFrame, Sll2Frame, SllFrame, TcpPacket, TcpRepr, UdpPacket, UdpRepr,
};

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
            assert_eq!(Ipv6Repr::parse(&Ipv6Packet::new_checked(&out[..]).unwrap()), r);
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
            assert_eq!(IcmpRepr::parse(&IcmpPacket::new_checked(&out[..], v6).unwrap()), r);
        }
    }
    if let Ok(e) = EthernetFrame::new_checked(b) {
        let _ = EthernetRepr::parse(&e);
    }
    if let Ok(f) = Ipv6FragRepr::parse(b) {
        let mut out = [0u8; 8];
        f.emit(&mut out).unwrap();
        assert_eq!(Ipv6FragRepr::parse(&out).unwrap(), f);
    }
    if let Ok(e) = Ipv6ExtRepr::parse(b) {
        let mut out = vec![0u8; e.buffer_len()];
        e.emit(&mut out).unwrap();
        assert_eq!(&out[..], &b[..e.buffer_len()]);
    }
}

fn l3(b: &[u8]) {
    if let Ok(p) = Ipv4Packet::new_checked(b) {
        let _ = (p.src_addr(), p.dst_addr(), p.verify_checksum(), p.frag_offset());
        assert!(p.payload().len() <= b.len());
        l4(p.protocol(), p.payload());
    }
    if let Ok(p) = Ipv6Packet::new_checked(b) {
        let _ = (p.src_addr(), p.flow_label(), p.payload().len());
        if let Ok(ul) = p.upper_layer() {
            assert!(ul.payload.len() <= b.len());
            l4(ul.protocol, ul.payload);
        }
    }
}

fn l4(proto: u8, b: &[u8]) {
    match proto {
        6 => {
            if let Ok(t) = TcpPacket::new_checked(b) {
                let _ = (t.options().count(), t.payload().len(), t.flags().core());
            }
        }
        17 => {
            if let Ok(u) = UdpPacket::new_checked(b) {
                assert!(u.payload().len() <= b.len());
            }
        }
        1 | 58 => {
            if let Ok(i) = IcmpPacket::new_checked(b, proto == 58) {
                let _ = (i.is_error(), i.is_port_unreachable());
                if i.is_error() {
                    l3(i.data());
                }
            }
        }
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    l3(data);
    if let Ok(e) = EthernetFrame::new_checked(data) {
        let _ = (e.outer_vlan(), e.vlan_count());
        l3(e.payload());
    }
    if let Ok(s) = SllFrame::new_checked(data) {
        let _ = s.protocol();
        l3(s.payload());
    }
    if let Ok(s) = Sll2Frame::new_checked(data) {
        let _ = (s.protocol(), s.ifindex());
        l3(s.payload());
    }
    if let Ok(n) = NullFrame::new_checked(data) {
        let _ = n.ethertype();
        l3(n.payload());
    }
    // Each transport view on the raw bytes too.
    for proto in [6, 17, 1, 58] {
        l4(proto, data);
    }
    reprs(data);
});
