#![no_main]
use libfuzzer_sys::fuzz_target;
use portolan_scan::ports::PortSet;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(p) = PortSet::parse(s) {
        assert_eq!(PortSet::parse(&p.to_spec()).ok(), Some(p));
    }
});
