//! Stored results (JSON Lines, resume snapshots) are read back: any bytes must deserialise or
//! fail cleanly, and what deserialises must serialise again.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portolan_model::{PortEvent, ReportBuilder};

fuzz_target!(|data: &[u8]| {
    if let Ok(e) = serde_json::from_slice::<PortEvent>(data) {
        let _ = serde_json::to_string(&e).unwrap();
        let mut b = ReportBuilder::new(true, false);
        b.add(e);
        let _ = b.finish(|_| None);
    }
    if let Ok(b) = serde_json::from_slice::<ReportBuilder>(data) {
        let _ = b.finish(|_| None);
    }
});
