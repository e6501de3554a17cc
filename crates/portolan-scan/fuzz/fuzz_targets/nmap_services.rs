#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    if let Some(r) = portolan_scan::ports::rank_nmap_services(&s) {
        assert!(r.iter().all(|&p| p != 0));
    }
});
