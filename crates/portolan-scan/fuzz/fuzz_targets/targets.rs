#![no_main]
//! Target specs and target files come from users: parsing must never panic, and a parsed set
//! never yields an excluded address.
use libfuzzer_sys::fuzz_target;
use portolan_scan::target::{parse_literal, split_list, TargetOptions, TargetSet};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let specs = split_list(s);
    // Literal parsing only: no DNS lookups from a fuzzer.
    if specs.iter().all(|x| matches!(parse_literal(x), Ok(Some(_)))) && !specs.is_empty() {
        let (t, e) = specs.split_at(specs.len() / 2);
        if let Ok(set) = TargetSet::parse(t, e, TargetOptions::default()) {
            for i in 0..set.len().min(64) {
                if let Some(ip) = set.get(i) {
                    assert!(!set.is_excluded(ip));
                }
            }
        }
    }
});
