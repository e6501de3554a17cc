//! Hostile server bytes against the no-credential checks' parsers (SMB2 and NTLM, DCE/RPC share
//! lists, SNMP responses, TFTP answers, and the others as they are added): no panic, every list
//! and text bounded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portolan_fingerprint::checks::{git, ldap, nfs, smb, snmp, tftp};
use portolan_fingerprint::{Protocol, ServiceReport};

fuzz_target!(|data: &[u8]| {
    if let Some(a) = tftp::parse(data) {
        let _ = tftp::served(&a);
    }
    if let Some(resp) = portolan_fingerprint::snmp::parse_response(data) {
        assert!(resp.bindings.len() <= 64);
    }
    let mut r = ServiceReport::new(([127, 0, 0, 1], 161).into(), Protocol::Udp);
    snmp::from_reply(data, &mut r);
    tftp::from_reply(data, &mut r);
    assert!(r.findings.len() <= 2);
    let found = ldap::parse_search(data, 2);
    assert!(found.entries.len() <= ldap::MAX_VALUES);
    if let Some((_, _, op, _)) = ldap::parse_message(data) {
        let _ = ldap::result_code(op);
    }
    for xid in [0, 1] {
        if let Some(res) = nfs::results(data, xid) {
            let _ = nfs::parse_getport(res);
            let _ = nfs::parse_exports(res);
        }
    }
    if let Some(list) = nfs::parse_exports(data) {
        assert!(list.len() <= nfs::MAX_EXPORTS);
        for e in &list {
            assert!(e.groups.len() <= nfs::MAX_GROUPS);
            let _ = e.open_to(std::net::IpAddr::from([127, 0, 0, 1]));
        }
    }
    if let Some(git::Answer::Refs(refs)) = git::parse(data) {
        assert!(refs.len() <= git::MAX_REFS);
    }
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
