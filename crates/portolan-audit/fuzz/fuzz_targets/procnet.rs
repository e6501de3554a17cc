//! Fuzz the /proc/net/{tcp,tcp6,udp,udp6} parser: any bytes, no panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portolan_audit::procnet::parse_table;
use portolan_audit::Family;
use portolan_registry::Protocol;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for fam in [Family::Ipv4, Family::Ipv6] {
        for proto in [Protocol::Tcp, Protocol::Udp] {
            let p = parse_table(&text, proto, fam);
            assert!(p.sockets.iter().all(|s| s.family == fam));
        }
    }
});
