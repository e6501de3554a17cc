//! Fuzz the ZMap CSV reader (with and without a header line): any bytes, no panic, and the
//! records come in order. Run: cargo +nightly fuzz run zmap (in crates/portolan-store).
#![no_main]
use libfuzzer_sys::fuzz_target;
use portolan_store::import::{read, ImportFormat, ReadOptions, Record};

fuzz_target!(|data: &[u8]| {
    let mut n = 0usize;
    let opts = ReadOptions { port: Some(80) };
    let _ = read(ImportFormat::ZmapCsv, data, "fuzz", &opts, &mut |r| {
        assert_eq!(n == 0, matches!(r, Record::Start(_)));
        n += 1;
        Ok(())
    });
});
