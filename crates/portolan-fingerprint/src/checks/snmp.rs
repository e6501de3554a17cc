//! SNMP (RFC 3416, community-based v2c of RFC 1901): whether the default community `public`
//! may read. The exchange is one v2c GetRequest with community `public` for sysDescr.0 and
//! UCD-SNMP-MIB versionTag.0 ([`crate::snmp::get_request_public`]) — the same request as the
//! `snmp-public` detection probe. The check runs on every port identified as SNMP, whichever
//! probe identified it (SNMPv3 discovery, a user's database, nmap's probes): when the
//! `snmp-public` probe was answered during identification its reply is read; otherwise the
//! check sends the request itself (twice at most, each bounded by the probe wait), and only a
//! response that repeats its request-id (RFC 3416 §4.2.1) counts. An answer with community
//! `public` and error-status 0 proves the community is readable; an agent that does not accept
//! the community discards the request without answering (RFC 1157 §4.1, RFC 3584 §4), which
//! flags nothing. Read-only: nothing is set.

use std::net::SocketAddr;

use crate::checks::{finding, udp_exchange};
use crate::engine::Options;
use crate::report::{ServiceReport, Severity};
use crate::snmp::{get_request_public, parse_response};

/// The detection probe whose request is this check's exchange.
pub const EXCHANGE: &str = "snmp-public";

/// Run the check on an SNMP agent: read `earlier` (the `snmp-public` probe's reply, when it
/// was answered during identification), else send the GetRequest.
pub async fn check(
    addr: SocketAddr,
    opts: &Options,
    r: &mut ServiceReport,
    earlier: Option<&[u8]>,
) {
    let id = request_id();
    let ours = |b: &[u8]| parse_response(b).is_some_and(|resp| resp.request_id == i64::from(id));
    if let Some(reply) =
        udp_exchange(addr, opts, earlier, get_request_public(id), false, ours).await
    {
        from_reply(&reply, r);
    }
}

/// A request-id for one exchange: positive, not predictable from outside.
fn request_id() -> i32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x736e_6d70);
    (h.finish() & 0x7fff_ffff) as i32
}

/// What the agent says about itself to community `public` (UCD versionTag, sysDescr): the
/// protocol reader's part, which runs with or without the checks.
pub fn describe(reply: &[u8], r: &mut ServiceReport) {
    let Some(resp) = parse_response(reply) else {
        return;
    };
    if resp.community != b"public" || resp.error_status != 0 {
        return;
    }
    let get = |oid: &str| {
        resp.bindings
            .iter()
            .find(|(o, _)| o == oid)
            .map(|(_, v)| v.clone())
    };
    if let Some(v) = get(VERSION_TAG).filter(|v| v.len() < 40 && !v.starts_with('<')) {
        r.version = Some(v);
    }
    let descr = get(SYS_DESCR).unwrap_or_default();
    if r.extrainfo.is_none() || r.extrainfo.as_deref() == Some("community public") {
        r.extrainfo = Some(format!(
            "community public; {}",
            descr.chars().take(80).collect::<String>()
        ));
    }
}

const SYS_DESCR: &str = "1.3.6.1.2.1.1.1.0";
const VERSION_TAG: &str = "1.3.6.1.4.1.2021.100.2.0";

/// Read a response to the `public` GetRequest into the report, and flag a readable community.
pub fn from_reply(reply: &[u8], r: &mut ServiceReport) {
    let Some(resp) = parse_response(reply) else {
        return;
    };
    if resp.community != b"public" || resp.error_status != 0 {
        return;
    }
    describe(reply, r);
    let descr = resp
        .bindings
        .iter()
        .find(|(o, _)| o == SYS_DESCR)
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let ev = format!("GetRequest public -> sysDescr {descr:?}");
    r.findings.push(finding(
        "snmp-public",
        Severity::Medium,
        "SNMP answers the default community \"public\"",
        ev.as_bytes(),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{detect_target, Target};
    use crate::snmp::tests::{enc, sample_response, sample_response_to};
    use crate::snmp::tlv;
    use portolan_registry::Protocol;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn public_answer_is_flagged() {
        let mut r = ServiceReport::new("127.0.0.1:161".parse().unwrap(), Protocol::Udp);
        from_reply(&sample_response("Linux lab", "5.9.3"), &mut r);
        assert_eq!(r.findings.len(), 1);
        assert_eq!(r.findings[0].id, "snmp-public");
        assert_eq!(r.version.as_deref(), Some("5.9.3"));
        let mut r2 = ServiceReport::new("127.0.0.1:161".parse().unwrap(), Protocol::Udp);
        from_reply(b"\x30\x00", &mut r2);
        assert!(r2.findings.is_empty());
    }

    /// What a test agent does with community-based requests.
    #[derive(Clone, Copy, PartialEq)]
    enum V2c {
        /// Answer a v2c GetRequest with community public, echoing its request-id.
        Answer,
        /// Answer it, but always with the `snmp-public` probe's request-id ("port").
        WrongId,
    }

    /// The request-id content octets of a v1/v2c GetRequest with community public (RFC 3416
    /// §3: message SEQUENCE, version, community, GetRequest-PDU [0]).
    fn public_get_request_id(b: &[u8]) -> Option<Vec<u8>> {
        let (msg, _) = tlv(b)?;
        let (ver, rest) = tlv(msg.value)?;
        let (comm, rest) = tlv(rest)?;
        let (pdu, _) = tlv(rest)?;
        if msg.tag != 0x30 || ver.tag != 2 || comm.value != b"public" || pdu.tag != 0xa0 {
            return None;
        }
        Some(tlv(pdu.value)?.0.value.to_vec())
    }

    /// An SNMPv3 Report (RFC 3412 §6, RFC 3414 §4) to a discovery request: the agent's engine
    /// ID in the USM parameters and the scoped PDU, usmStatsUnknownEngineIDs.0 = 1.
    fn v3_report() -> Vec<u8> {
        let engine = b"\x80\x00\x1f\x88\x80portolan";
        let header = enc(
            0x30,
            &[
                enc(2, b"port"),
                enc(2, &[0, 0xff, 0xe3]),
                enc(4, &[0]),
                enc(2, &[3]),
            ]
            .concat(),
        );
        let usm = enc(
            0x30,
            &[
                enc(4, engine),
                enc(2, &[1]),
                enc(2, &[1]),
                enc(4, b""),
                enc(4, b""),
                enc(4, b""),
            ]
            .concat(),
        );
        let vb = enc(
            0x30,
            &[enc(6, &[0x2b, 6, 1, 6, 3, 15, 1, 1, 4, 0]), enc(0x41, &[1])].concat(),
        );
        let pdu = enc(
            0xa8,
            &[enc(2, b"port"), enc(2, &[0]), enc(2, &[0]), enc(0x30, &vb)].concat(),
        );
        let scoped = enc(0x30, &[enc(4, engine), enc(4, b""), pdu].concat());
        enc(0x30, &[enc(2, &[3]), header, enc(4, &usm), scoped].concat())
    }

    /// A test agent on 127.0.0.1 that answers SNMPv3 discovery with a Report and v2c
    /// GetRequests with community public as `v2c` says; it counts those GetRequests.
    async fn agent(v2c: V2c) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
        let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = sock.local_addr().unwrap();
        let gets = Arc::new(AtomicUsize::new(0));
        let count = gets.clone();
        tokio::spawn(async move {
            let mut b = [0u8; 1500];
            while let Ok((n, from)) = sock.recv_from(&mut b).await {
                let req = &b[..n];
                let reply = if req.get(2..5) == Some(&[2, 1, 3][..]) {
                    v3_report()
                } else if let Some(id) = public_get_request_id(req) {
                    count.fetch_add(1, Ordering::SeqCst);
                    match v2c {
                        V2c::Answer => sample_response_to(&id, "Linux lab", "5.9.3"),
                        V2c::WrongId => sample_response("Linux lab", "5.9.3"),
                    }
                } else {
                    continue;
                };
                let _ = sock.send_to(&reply, from).await;
            }
        });
        (addr, gets)
    }

    /// Options whose database has no `snmp-public` probe (a user's `--db`, nmap's probes):
    /// SNMP is identified by SNMPv3 discovery, sent at intensity 8 to any port.
    fn without_public_probe() -> Options {
        let mut db = crate::ProbeDb::embedded().unwrap();
        db.probes
            .retain(|p| p.transport != Protocol::Udp || p.name == "snmpv3-discovery");
        let mut o = Options::with_db(Arc::new(db));
        o.probe_wait = Duration::from_millis(300);
        o.idle_gap = Duration::from_millis(100);
        o.intensity = 8;
        o
    }

    #[tokio::test]
    async fn udp_agent_is_detected_end_to_end() {
        let (addr, gets) = agent(V2c::Answer).await;
        let mut o = crate::checks::testutil::opts();
        o.probe_wait = Duration::from_millis(300);
        let r = detect_target(&Target::udp(addr), &o).await;
        assert_eq!(r.name.as_deref(), Some("snmp"), "{r:?}");
        assert_eq!(r.product.as_deref(), Some("Net-SNMP"));
        assert_eq!(r.version.as_deref(), Some("5.9.3"));
        assert_eq!(r.findings.len(), 1);
        // The probe's answer is the check's: the GetRequest was not sent again.
        assert_eq!(gets.load(Ordering::SeqCst), 1, "{r:?}");
    }

    /// Regression: the community check ran only when the `snmp-public` probe identified the
    /// agent; an agent identified by another probe was never asked.
    #[tokio::test]
    async fn an_agent_identified_by_another_probe_is_still_checked() {
        let (addr, gets) = agent(V2c::Answer).await;
        let r = detect_target(&Target::udp(addr), &without_public_probe()).await;
        assert_eq!(r.name.as_deref(), Some("snmp"), "{r:?}");
        assert_eq!(r.probe.as_deref(), Some("snmpv3-discovery"), "{r:?}");
        assert_eq!(gets.load(Ordering::SeqCst), 1, "{r:?}");
        assert_eq!(r.findings.len(), 1, "{r:?}");
        assert_eq!(r.findings[0].id, "snmp-public");
        assert!(r.findings[0].evidence.contains("Linux lab"), "{r:?}");
        assert_eq!(r.version.as_deref(), Some("5.9.3"));
        assert_eq!(
            r.extrainfo.as_deref(),
            Some("community public; Linux lab"),
            "{r:?}"
        );
    }

    #[tokio::test]
    async fn no_check_traffic_without_checks() {
        let (addr, gets) = agent(V2c::Answer).await;
        let mut o = without_public_probe();
        o.checks = false;
        let r = detect_target(&Target::udp(addr), &o).await;
        assert_eq!(r.name.as_deref(), Some("snmp"), "{r:?}");
        assert!(r.findings.is_empty(), "{r:?}");
        assert_eq!(gets.load(Ordering::SeqCst), 0, "{r:?}");
    }

    #[tokio::test]
    async fn a_response_to_another_request_is_not_taken_for_ours() {
        let (addr, gets) = agent(V2c::WrongId).await;
        let r = detect_target(&Target::udp(addr), &without_public_probe()).await;
        assert_eq!(r.name.as_deref(), Some("snmp"), "{r:?}");
        assert!(gets.load(Ordering::SeqCst) >= 1, "{r:?}");
        assert!(r.findings.is_empty(), "{r:?}");
    }

    #[test]
    fn the_v3_report_is_snmp_by_the_rules() {
        let db = crate::ProbeDb::embedded().unwrap();
        let m = db
            .match_reply("snmpv3-discovery", &v3_report(), None)
            .unwrap();
        assert_eq!(m.service, "snmp");
        assert!(m.soft, "the public probe may still name the product");
        assert!(db
            .match_reply("snmpv3-discovery", &sample_response("x", "1"), None)
            .is_none());
    }
}
