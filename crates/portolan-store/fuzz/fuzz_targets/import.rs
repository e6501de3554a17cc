//! Fuzz the importers (nmap XML, Portolan JSON Lines) into an in-memory store: any bytes, no
//! panic. Run: cargo +nightly fuzz run import (in crates/portolan-store).
#![no_main]
use libfuzzer_sys::fuzz_target;
use portolan_store::import::{import_jsonl, import_nmap_xml};
use portolan_store::Store;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if let Ok(store) = Store::open_path(Path::new(":memory:")) {
        let _ = import_nmap_xml(store, data, "fuzz.xml");
    }
    if let Ok(store) = Store::open_path(Path::new(":memory:")) {
        let _ = import_jsonl(store, data, "fuzz.jsonl");
    }
});
