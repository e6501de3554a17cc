//! ARP and neighbour-advertisement parsers on arbitrary bytes: errors, never panics; a parsed
//! ARP packet names the addresses that are in the buffer.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portolan_wire::neighbor::{ArpPacket, NeighborAdvert};

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = ArpPacket::parse(data) {
        assert_eq!(&data[14..18], &p.sender_ip.octets());
    }
    if let Ok(Some(na)) = NeighborAdvert::parse(data) {
        assert_eq!(na.hop_limit, 255);
    }
});
