//! Hostile nmap-service-probes files and portolan TOML databases: errors, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(db) = portolan_fingerprint::nmap::parse(&text, "fuzz") {
        for p in &db.probes {
            let _ = db.match_reply(&p.name, data, None);
        }
    }
    let _ = portolan_fingerprint::ProbeDb::from_toml(&text);
    let _ = portolan_fingerprint::escape::decode_escapes(&text);
});
