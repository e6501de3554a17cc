//! Work queues whose protocol has no authentication at all: a server that answered the
//! identification probe's command has already shown that any client may use it. Nothing more
//! is sent.
//!
//! - beanstalkd (`doc/protocol.txt`): no authentication command exists; a client that gets
//!   `stats` answered may also `put`, `reserve` and `delete` jobs.
//! - Gearman (the administrative and the job protocol): no authentication; a client that gets
//!   `version` answered may submit jobs to the workers and read the queue status.

use crate::checks::finding;
use crate::report::{Confidence, ServiceReport, Severity};

/// (service, identification probe that sent a command, finding id, title, evidence)
const QUEUES: &[(&str, &str, &str, &str, &[u8])] = &[
    (
        "beanstalkd",
        "beanstalkd-stats",
        "beanstalkd-no-auth",
        "beanstalkd work queue answers any client (the protocol has no authentication): jobs can be put, reserved and deleted",
        b"stats -> OK (the command was answered without credentials)",
    ),
    (
        "gearman",
        "gearman-version",
        "gearman-no-auth",
        "Gearman job server answers any client (the protocol has no authentication): jobs can be submitted to its workers",
        b"version -> OK (the command was answered without credentials)",
    ),
    (
        "gearman",
        "memcached-version", // the same text command, sent to unknown ports
        "gearman-no-auth",
        "Gearman job server answers any client (the protocol has no authentication): jobs can be submitted to its workers",
        b"version -> OK (the command was answered without credentials)",
    ),
];

/// Flag a queue server whose command probe was answered (a hard match on that probe's reply,
/// not a name guessed from the port).
pub fn from_report(r: &mut ServiceReport) {
    if r.confidence != Confidence::Matched {
        return;
    }
    let (Some(name), Some(probe)) = (r.name.as_deref(), r.probe.as_deref()) else {
        return;
    };
    if let Some((_, _, id, title, evidence)) = QUEUES.iter().find(|q| q.0 == name && q.1 == probe) {
        let f = finding(id, Severity::High, title, evidence);
        r.findings.push(f);
    }
}

#[cfg(test)]
mod tests {
    use crate::checks::testutil::{fake, opts};
    use crate::engine::detect;

    #[tokio::test]
    async fn beanstalkd_that_answers_stats_is_flagged() {
        // doc/protocol.txt: "OK <bytes>\r\n<data>\r\n", data a YAML dictionary.
        let body = "---\ncurrent-jobs-urgent: 0\nversion: \"1.12\"\n";
        let reply = format!("OK {}\r\n{body}\r\n", body.len());
        let addr = fake(b"", move |req| {
            req.starts_with(b"stats")
                .then(|| reply.clone().into_bytes())
        })
        .await;
        let mut o = opts();
        o.intensity = 9;
        let r = detect(addr, &o).await;
        assert_eq!(r.name.as_deref(), Some("beanstalkd"), "{r:?}");
        assert_eq!(r.findings.len(), 1, "{r:?}");
        assert_eq!(r.findings[0].id, "beanstalkd-no-auth");
    }

    #[test]
    fn a_port_table_guess_is_never_flagged() {
        let mut r = crate::report::ServiceReport::new(
            "127.0.0.1:11300".parse().unwrap(),
            portolan_registry::Protocol::Tcp,
        );
        r.name = Some("beanstalkd".into());
        r.probe = Some("beanstalkd-stats".into());
        r.confidence = crate::report::Confidence::PortTable;
        super::from_report(&mut r);
        assert!(r.findings.is_empty());
        r.confidence = crate::report::Confidence::Matched;
        super::from_report(&mut r);
        assert_eq!(r.findings.len(), 1);
        r.findings.clear();
        r.probe = Some("null".into());
        super::from_report(&mut r);
        assert!(
            r.findings.is_empty(),
            "named by another probe: no command was answered"
        );
    }
}
