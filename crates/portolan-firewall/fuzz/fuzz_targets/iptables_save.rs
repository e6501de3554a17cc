#![no_main]
//! Any bytes given to the iptables-save reader: an error or findings, never a panic.
use libfuzzer_sys::fuzz_target;
use portolan_registry::Protocol;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = portolan_firewall::iptables_save::audit(
            text,
            "fuzz",
            Some(&[(Protocol::Tcp, 22)]),
        );
    }
});
