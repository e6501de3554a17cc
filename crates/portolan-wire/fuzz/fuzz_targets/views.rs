//! Every header view (link layers, IPv4, IPv6 with its extension headers, TCP with its options,
//! UDP, ICMP) on arbitrary bytes: errors, never panics, payloads inside the buffer.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portolan_wire::{
    EthernetFrame, IcmpPacket, Ipv4Packet, Ipv6Packet, NullFrame, Sll2Frame, SllFrame, TcpPacket,
    UdpPacket,
};

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
});
