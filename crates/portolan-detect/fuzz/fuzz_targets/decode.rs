//! Any frame of any supported link type through the decoders: errors, never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portolan_detect::decode::decode;

const LINKTYPES: [u32; 9] = [0, 1, 12, 101, 108, 113, 228, 229, 276];

fuzz_target!(|data: &[u8]| {
    if let Some((&sel, frame)) = data.split_first() {
        let lt = LINKTYPES[usize::from(sel) % LINKTYPES.len()];
        let _ = decode(lt, 0, frame);
    }
});
