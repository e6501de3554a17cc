//! Any bytes through the NVD CVE API 2.0 reader, and every record it accepts through the
//! matcher's configuration evaluation: errors, never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portolan_vuln::cpe::CpeName;
use portolan_vuln::matcher::evaluate;
use portolan_vuln::nvd::parse_records;
use portolan_vuln::Version;

fuzz_target!(|data: &[u8]| {
    if let Ok(records) = parse_records(data) {
        let Some(detected) = CpeName::parse("cpe:2.3:a:openbsd:openssh:9.2:p1:*:*:*:*:*:*") else {
            return;
        };
        let names = vec![("openbsd".to_string(), "openssh".to_string())];
        let version = Version::parse("9.2p1");
        for r in &records {
            let _ = r.vulnerable_products();
            let _ = r.max_score();
            let _ = evaluate(r, &names, &detected, &version);
        }
    }
});
