//! Fuzz the masscan readers (`-oJ` with its stray commas, `-oL`): any bytes, no panic, and
//! the records come in order (a start first, an end last). Run: cargo +nightly fuzz run
//! masscan (in crates/portolan-store).
#![no_main]
use libfuzzer_sys::fuzz_target;
use portolan_store::import::{read, ImportFormat, ReadOptions, Record};

fuzz_target!(|data: &[u8]| {
    for fmt in [ImportFormat::MasscanJson, ImportFormat::MasscanList] {
        let mut n = 0usize;
        let _ = read(fmt, data, "fuzz", &ReadOptions::default(), &mut |r| {
            assert_eq!(n == 0, matches!(r, Record::Start(_)));
            n += 1;
            Ok(())
        });
    }
});
