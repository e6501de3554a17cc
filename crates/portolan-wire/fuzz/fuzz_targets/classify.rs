//! Every reply parser on arbitrary bytes: what a hostile network can send to the scanner.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portolan_wire::cookie::CookieKey;
use portolan_wire::{IcmpPacket, Ipv4Packet, Ipv6Packet, TcpPacket, UdpPacket};

fuzz_target!(|data: &[u8]| {
    let k = CookieKey::new(1, 2);
    let _ = portolan_wire::reply::classify(data, &k);
    if let Ok(p) = Ipv4Packet::new_checked(data) {
        let _ = (p.src(), p.dst(), p.verify_checksum(), p.payload().len());
    }
    if let Ok(p) = Ipv6Packet::new_checked(data) {
        let _ = (p.src(), p.upper_protocol(), p.payload().len());
    }
    if let Ok(t) = TcpPacket::new_checked(data) {
        let _ = (t.options().len(), t.payload().len(), t.flags());
    }
    if let Ok(u) = UdpPacket::new_checked(data) {
        let _ = u.payload().len();
    }
    for v6 in [false, true] {
        if let Ok(i) = IcmpPacket::new_checked(data, v6) {
            let _ = (i.is_port_unreachable(), i.quoted().len());
        }
    }
});
