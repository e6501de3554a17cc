//! `reply::classify` on arbitrary bytes: what a hostile network can send to the scanner.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portolan_wire::cookie::CookieKey;

fuzz_target!(|data: &[u8]| {
    let k = CookieKey::new(1, 2);
    let _ = portolan_wire::reply::classify(data, &k);
});
