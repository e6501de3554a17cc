//! MQTT: the detection probe is a CONNECT without credentials; a CONNACK with return code 0
//! proves anonymous access. The client disconnects at once and subscribes to nothing.

use crate::checks::finding;
use crate::report::{ServiceReport, Severity};

pub fn from_report(r: &mut ServiceReport) {
    if r.extrainfo.as_deref() == Some("anonymous connection accepted") {
        r.findings.push(finding(
            "mqtt-anonymous",
            Severity::High,
            "MQTT broker accepts clients without credentials",
            b"CONNECT without username -> CONNACK 0 (accepted)",
        ));
    }
}

#[cfg(test)]
mod tests {
    use crate::checks::testutil::{fake, opts};
    use crate::engine::detect;

    #[tokio::test]
    async fn anonymous_broker_is_flagged_and_closed_one_is_not() {
        let open = fake(b"", |req| {
            req.starts_with(&[0x10]).then(|| vec![0x20, 2, 0, 0])
        })
        .await;
        let r = detect(open, &opts()).await;
        assert_eq!(r.name.as_deref(), Some("mqtt"), "{r:?}");
        assert_eq!(r.findings.len(), 1);
        let closed = fake(b"", |req| {
            req.starts_with(&[0x10]).then(|| vec![0x20, 2, 0, 5])
        })
        .await;
        let r = detect(closed, &opts()).await;
        assert_eq!(r.name.as_deref(), Some("mqtt"));
        assert!(r.findings.is_empty());
    }
}
