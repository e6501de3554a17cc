//! Everything portolan-block reads from outside: addresses and networks, durations (the
//! user's), nft's JSON listing, and restore files. None may panic; what parses prints back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portolan_block::{nft, parse_duration, Net};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(n) = text.parse::<Net>() {
        assert_eq!(n.to_string().parse::<Net>().ok(), Some(n));
    }
    let _ = parse_duration(&text);
    let _ = nft::parse_listing(&text);
    let dir = std::env::temp_dir().join(format!("portolan-block-fuzz-{}", std::process::id()));
    if std::fs::create_dir_all(&dir).is_ok() {
        let p = dir.join("bans.json");
        if std::fs::write(&p, data).is_ok() {
            let _ = portolan_block::state::StateFile::new(&p).load();
        }
    }
});
