//! Version ordering and CPE parsing on any text: never panics, and the order stays
//! antisymmetric.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portolan_vuln::cpe::CpeName;
use portolan_vuln::Version;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (a, b) = text.split_at(text.char_indices().nth(text.chars().count() / 2).map_or(0, |(i, _)| i));
    let (va, vb) = (Version::parse(a), Version::parse(b));
    assert_eq!(va.cmp(&vb), vb.cmp(&va).reverse());
    let _ = va.same_scheme(&vb);
    if let Some(c) = CpeName::parse(&text) {
        let _ = c.full_version();
    }
});
