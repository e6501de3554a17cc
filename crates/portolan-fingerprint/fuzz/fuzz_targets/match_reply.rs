//! Hostile replies against every reader of untrusted bytes: the matcher (every probe's rules),
//! HTTP, SSH KEXINIT, SNMP BER, X.509 and the checks' readers (rsync, RFB, X11, NATS). None may
//! panic; all are bounded.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use portolan_fingerprint::ProbeDb;

static DB: OnceLock<Option<ProbeDb>> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Some(db) = DB.get_or_init(|| ProbeDb::embedded().ok()) else {
        return;
    };
    let Some((&sel, reply)) = data.split_first() else {
        return;
    };
    let probe = &db.probes[sel as usize % db.probes.len()].name;
    if let Some(m) = db.match_reply(probe, reply, None) {
        assert!(m.product.as_ref().is_none_or(|p| p.len() <= 200));
        assert!(m.version.as_ref().is_none_or(|p| p.len() <= 200));
    }
    let _ = db.match_reply("null", reply, Some("http"));
    let _ = portolan_fingerprint::http::parse_response(reply);
    let _ = portolan_fingerprint::ssh::parse_ident(reply);
    let _ = portolan_fingerprint::ssh::parse_kexinit(reply);
    let _ = portolan_fingerprint::snmp::parse_response(reply);
    let _ = portolan_fingerprint::tls::parse_cert(reply, 0);
    let _ = portolan_fingerprint::checks::ftp::reply_complete(reply);
    assert!(portolan_fingerprint::checks::rsync::modules(reply).len() <= 8);
    let _ = portolan_fingerprint::checks::rsync::opened(reply);
    let _ = portolan_fingerprint::checks::vnc::version(reply);
    let _ = portolan_fingerprint::checks::vnc::offered(sel & 1 == 1, reply);
    let _ = portolan_fingerprint::checks::x11::accepted(reply);
    let _ = portolan_fingerprint::checks::x11::vendor(reply);
    let _ = portolan_fingerprint::checks::nats::open(reply);
});
