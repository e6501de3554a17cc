//! CPE names come from probe files and stored reports: parsing any text must not panic, and
//! whatever parses must serialise back to itself.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portolan_model::Cpe;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(c) = Cpe::parse(s) {
        assert_eq!(c.as_str(), s);
        let _ = (c.part(), c.vendor(), c.product(), c.version());
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<Cpe>(&json).unwrap(), c);
    }
});
