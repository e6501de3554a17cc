//! The registry CSV parser on arbitrary bytes: `portolan registry update` feeds it a download.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(records) = portolan_registry::iana::parse(text) {
            let _ = portolan_registry::iana::validate(&records);
            let packed = portolan_registry::iana::pack(&records);
            assert_eq!(packed.records.len(), records.len());
        }
    }
});
