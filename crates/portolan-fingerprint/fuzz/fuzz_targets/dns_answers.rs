//! Hostile DNS answers against the CHAOS TXT reader (`id.server`, `hostname.bind`): no panic,
//! no loop on compression pointers, texts printable and capped. Also the unrecognised-service
//! fingerprint, which must stay printable ASCII whatever the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portolan_fingerprint::{dns, escape};

fuzz_target!(|data: &[u8]| {
    let id = data
        .get(..2)
        .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
    if let Some(texts) = dns::parse_txt_answers(data, id) {
        for t in texts {
            assert!(t.len() <= 120);
            assert!(t.bytes().all(|c| (0x20..0x7f).contains(&c)));
        }
    }
    if let Some(inner) = dns::strip_tcp_length(data) {
        let _ = dns::parse_txt_answers(inner, id);
    }
    let f = escape::fingerprint_text(data, 160);
    assert!(f.bytes().all(|c| (0x20..0x7f).contains(&c)));
});
