//! SNMP: the detection probe is a v2c GetRequest with community `public`; an answer with
//! error-status 0 proves the community is readable. Read-only.

use crate::checks::finding;
use crate::report::{ServiceReport, Severity};
use crate::snmp::parse_response;

const SYS_DESCR: &str = "1.3.6.1.2.1.1.1.0";
const VERSION_TAG: &str = "1.3.6.1.4.1.2021.100.2.0";

/// Read the reply to the `snmp-public` probe into the report.
pub fn from_reply(reply: &[u8], r: &mut ServiceReport) {
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
    use portolan_registry::Protocol;

    #[test]
    fn public_answer_is_flagged() {
        let mut r = ServiceReport::new("127.0.0.1:161".parse().unwrap(), Protocol::Udp);
        from_reply(
            &crate::snmp::tests::sample_response("Linux lab", "5.9.3"),
            &mut r,
        );
        assert_eq!(r.findings.len(), 1);
        assert_eq!(r.findings[0].id, "snmp-public");
        assert_eq!(r.version.as_deref(), Some("5.9.3"));
        let mut r2 = ServiceReport::new("127.0.0.1:161".parse().unwrap(), Protocol::Udp);
        from_reply(b"\x30\x00", &mut r2);
        assert!(r2.findings.is_empty());
    }

    #[tokio::test]
    async fn udp_agent_is_detected_end_to_end() {
        let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = sock.local_addr().unwrap();
        tokio::spawn(async move {
            let mut b = [0u8; 1500];
            while let Ok((n, from)) = sock.recv_from(&mut b).await {
                if b[..n].windows(6).any(|w| w == b"public") {
                    let _ = sock
                        .send_to(
                            &crate::snmp::tests::sample_response("Linux lab", "5.9.3"),
                            from,
                        )
                        .await;
                }
            }
        });
        let mut o = crate::checks::testutil::opts();
        o.probe_wait = std::time::Duration::from_millis(300);
        let r = detect_target(&Target::udp(addr), &o).await;
        assert_eq!(r.name.as_deref(), Some("snmp"), "{r:?}");
        assert_eq!(r.product.as_deref(), Some("Net-SNMP"));
        assert_eq!(r.version.as_deref(), Some("5.9.3"));
        assert_eq!(r.findings.len(), 1);
    }
}
