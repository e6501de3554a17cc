//! Fuzz the NETLINK_ROUTE answer parsers (route, neighbour dump, link, address dump): any bytes, no panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portolan_scan::netlink::{parse_addresses, parse_link, parse_neighbours, parse_route};

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let seq = u32::from_ne_bytes([data[0], data[1], data[2], data[3]]);
    let _ = parse_route(&data[4..], seq);
    let _ = parse_neighbours(&data[4..], seq);
    let _ = parse_link(&data[4..], seq);
    let _ = parse_addresses(&data[4..], seq);
});
