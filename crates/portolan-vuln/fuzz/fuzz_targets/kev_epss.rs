//! Any bytes through the CISA KEV (JSON, CSV) and FIRST EPSS readers and the kind sniffer:
//! errors, never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portolan_vuln::feeds::{parse_epss, parse_kev_csv, parse_kev_json};
use portolan_vuln::import::sniff;

fuzz_target!(|data: &[u8]| {
    let _ = sniff(data);
    let _ = parse_kev_json(data);
    let _ = parse_kev_csv(data);
    let _ = parse_epss(data);
});
