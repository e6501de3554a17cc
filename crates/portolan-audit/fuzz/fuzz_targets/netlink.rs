//! Fuzz the netlink sock_diag answer parser: any bytes, no panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portolan_audit::netlink::parse_messages;
use portolan_registry::Protocol;

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let seq = u32::from_ne_bytes([data[0], data[1], data[2], data[3]]);
    let _ = parse_messages(&data[4..], Protocol::Tcp, seq);
    let _ = parse_messages(&data[4..], Protocol::Udp, seq);
});
