//! Hostile server bytes against the no-credential checks' parsers (SMB2 and NTLM, DCE/RPC share
//! lists, and the others as they are added): no panic, every list and text bounded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portolan_fingerprint::checks::smb;

fuzz_target!(|data: &[u8]| {
    if let Some(r) = smb::parse_reply(data) {
        let _ = smb::parse_negotiate(&r);
        let _ = smb::parse_session_setup(&r);
        let _ = smb::parse_tree_connect(&r);
        let _ = smb::parse_ioctl(&r);
    }
    if let Some(c) = smb::parse_challenge(data) {
        let _ = c.summary();
    }
    let _ = smb::bind_accepted(data);
    if let Some(shares) = smb::parse_share_enum(data) {
        assert!(shares.len() <= smb::MAX_SHARES);
    }
});
