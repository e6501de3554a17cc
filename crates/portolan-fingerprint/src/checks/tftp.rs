//! TFTP (RFC 1350): the protocol has no authentication at all — a server that answers a read
//! request serves every file it can reach to anyone who names it.
//!
//! The exchange is a read request ([`RRQ`]), octet mode, for a file name that does not exist
//! (`portolan-probe-nonexistent`) — the same request as the `tftp-rrq` identification probe.
//! The check runs on every port identified as TFTP, whichever probe identified it (a server
//! that answers another probe's datagram with `ERROR 4`, illegal TFTP operation, from the port
//! it listens on; a user's database): when the `tftp-rrq` probe was answered during
//! identification its reply is read, otherwise the check sends the read request itself (twice
//! at most, each bounded by the probe wait). A TFTP server answers from a new port of its own
//! (its transfer identifier, RFC 1350 §4), so the request goes out on an unconnected socket and
//! the first datagram from the target's address, whatever its port, is the answer.
//!
//! What counts as open access (`tftp-open`): the server looked the name up for us — it answered
//! `ERROR 1` (file not found; also code 0 with a "not found" / "no such file" message) or, for
//! a server that has such a file, `DATA` block 1 (nothing more is read or acknowledged: the server
//! retransmits the block a few times and gives up). An `ERROR 2` (access violation) or any other refusal is a note: the server answers
//! anyone but refused that read.

use std::net::SocketAddr;

use crate::checks::{finding, udp_exchange};
use crate::engine::Options;
use crate::report::{ServiceReport, Severity};

/// The detection probe whose request is this check's exchange.
pub const EXCHANGE: &str = "tftp-rrq";

/// RFC 1350 §5 RRQ (opcode 1): file name, 0, mode "octet", 0.
pub const RRQ: &[u8] = b"\x00\x01portolan-probe-nonexistent\x00octet\x00";

/// Run the check on a TFTP server: read `earlier` (the `tftp-rrq` probe's reply, when it was
/// answered during identification), else send the read request.
pub async fn check(
    addr: SocketAddr,
    opts: &Options,
    r: &mut ServiceReport,
    earlier: Option<&[u8]>,
) {
    if let Some(reply) = udp_exchange(addr, opts, earlier, RRQ.to_vec(), true, |_| true).await {
        from_reply(&reply, r);
    }
}

/// A TFTP answer (RFC 1350 §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// DATA: block number and data length.
    Data { block: u16, len: usize },
    /// ERROR: code and message.
    Error { code: u16, message: String },
}

/// Read a TFTP DATA or ERROR packet.
pub fn parse(b: &[u8]) -> Option<Answer> {
    let op = u16::from_be_bytes([*b.first()?, *b.get(1)?]);
    let n = u16::from_be_bytes([*b.get(2)?, *b.get(3)?]);
    match op {
        3 if b.len() <= 4 + 512 => Some(Answer::Data {
            block: n,
            len: b.len() - 4,
        }),
        5 if n <= 8 => {
            let msg = &b[4..];
            let msg = msg.split(|&c| c == 0).next().unwrap_or(msg);
            let text: String = String::from_utf8_lossy(&msg[..msg.len().min(120)])
                .chars()
                .filter(|c| !c.is_control())
                .collect();
            Some(Answer::Error {
                code: n,
                message: text,
            })
        }
        _ => None,
    }
}

/// Whether the server served the read (the name was looked up for an unauthenticated client).
pub fn served(a: &Answer) -> bool {
    match a {
        Answer::Data { block, .. } => *block == 1,
        Answer::Error { code: 1, .. } => true,
        Answer::Error { code: 0, message } => {
            let m = message.to_ascii_lowercase();
            m.contains("not found") || m.contains("no such file")
        }
        Answer::Error { .. } => false,
    }
}

/// Flag the server from its answer to the read request.
pub fn from_reply(reply: &[u8], r: &mut ServiceReport) {
    let Some(a) = parse(reply) else { return };
    let said = match &a {
        Answer::Data { block, len } => format!("DATA block {block} ({len} bytes)"),
        Answer::Error { code, message } => format!("ERROR {code} {message}"),
    };
    if served(&a) {
        let ev = format!("RRQ portolan-probe-nonexistent (octet) without credentials -> {said}");
        r.findings.push(finding(
            "tftp-open",
            Severity::Medium,
            "TFTP server answers read requests from anyone (TFTP has no authentication: every file it serves can be read)",
            ev.as_bytes(),
        ));
    } else {
        r.notes.push(format!(
            "TFTP: the server answers anyone, but refused the read ({said})"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;
    use tokio::net::UdpSocket;

    #[test]
    fn answers_are_read_and_judged() {
        let nf = parse(b"\x00\x05\x00\x01File not found\x00").unwrap();
        assert_eq!(
            nf,
            Answer::Error {
                code: 1,
                message: "File not found".into()
            }
        );
        assert!(served(&nf));
        assert!(served(&parse(b"\x00\x03\x00\x01hello").unwrap()));
        assert!(!served(
            &parse(b"\x00\x05\x00\x02Permission denied\x00").unwrap()
        ));
        assert!(served(&parse(b"\x00\x05\x00\x00No such file\x00").unwrap()));
        assert!(!served(
            &parse(b"\x00\x05\x00\x00Only octet mode\x00").unwrap()
        ));
        assert_eq!(parse(b"\x00\x05\x00\x09x\x00"), None);
        assert_eq!(parse(b"\x00\x01x"), None);
        assert_eq!(
            parse(
                &[0, 3, 0, 1]
                    .iter()
                    .copied()
                    .chain([0u8; 600])
                    .collect::<Vec<_>>()
            ),
            None
        );
        for b in [&b"\x00"[..], b"\x00\x05", b"\x00\x05\x00"] {
            assert_eq!(parse(b), None);
        }
    }

    #[test]
    fn a_served_read_is_flagged_and_a_refusal_only_noted() {
        // The answer comes from a port of the server's own (RFC 1350 §4); the engine takes it
        // from any port of the target (the probe's reply_from_any_port) and hands it here.
        let addr: SocketAddr = ([127, 0, 0, 1], 6969).into();
        let reply = b"\x00\x05\x00\x01File not found\x00";
        let mut r = ServiceReport::new(addr, portolan_registry::Protocol::Udp);
        from_reply(reply, &mut r);
        assert_eq!(r.findings.len(), 1, "{r:?}");
        assert_eq!(r.findings[0].id, "tftp-open");
        assert!(r.findings[0].evidence.contains("ERROR 1 File not found"));
        let mut r = ServiceReport::new(addr, portolan_registry::Protocol::Udp);
        from_reply(b"\x00\x05\x00\x02Access violation\x00", &mut r);
        assert!(r.findings.is_empty());
        assert_eq!(r.notes.len(), 1);
    }

    /// Regression (issue 19): a TFTP server off port 69 was never identified — the read
    /// request was not sent to other ports, and the answer, which comes from the server's own
    /// port, never reached the connected socket.
    #[tokio::test]
    async fn detection_finds_tftp_off_port_69_and_flags_it() {
        let listen = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = listen.local_addr().unwrap();
        tokio::spawn(async move {
            let mut b = [0u8; 512];
            while let Ok((n, from)) = listen.recv_from(&mut b).await {
                // Only read requests are answered (RFC 1350 opcode 1); anything else is ignored.
                if n > 2 && b[..2] == [0, 1] {
                    let tid = UdpSocket::bind("127.0.0.1:0").await.unwrap();
                    let _ = tid
                        .send_to(b"\x00\x05\x00\x01File not found\x00", from)
                        .await;
                }
            }
        });
        let mut o = crate::checks::testutil::opts();
        o.probe_wait = Duration::from_millis(200);
        let r = crate::engine::detect_target(&crate::engine::Target::udp(addr), &o).await;
        assert_eq!(r.name.as_deref(), Some("tftp"), "{r:?}");
        assert_eq!(r.state, "open", "{r:?}");
        assert_eq!(r.findings.len(), 1, "{r:?}");
        assert_eq!(r.findings[0].id, "tftp-open");
    }

    /// A TFTP server on 127.0.0.1 that answers a read request from a new port of its own
    /// (RFC 1350 §4) with ERROR 1, and any other datagram from its listening port with ERROR 4
    /// (illegal TFTP operation, RFC 1350 §5); it counts the read requests.
    async fn tftp_server() -> (SocketAddr, Arc<AtomicUsize>) {
        let listen = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = listen.local_addr().unwrap();
        let reads = Arc::new(AtomicUsize::new(0));
        let count = reads.clone();
        tokio::spawn(async move {
            let mut b = [0u8; 1500];
            while let Ok((n, from)) = listen.recv_from(&mut b).await {
                if n > 2 && b[..2] == [0, 1] {
                    count.fetch_add(1, Ordering::SeqCst);
                    let tid = UdpSocket::bind("127.0.0.1:0").await.unwrap();
                    let _ = tid
                        .send_to(b"\x00\x05\x00\x01File not found\x00", from)
                        .await;
                } else {
                    let _ = listen
                        .send_to(b"\x00\x05\x00\x04Illegal TFTP operation\x00", from)
                        .await;
                }
            }
        });
        (addr, reads)
    }

    /// Intensity 6: an unknown UDP port gets DNS, SNMP, NTP and SIP probes, not the read
    /// request (rarity 7).
    fn below_the_read_probe() -> crate::engine::Options {
        let mut o = crate::checks::testutil::opts();
        o.probe_wait = Duration::from_millis(200);
        o.intensity = 6;
        o
    }

    /// Regression: the read check ran only on the `tftp-rrq` probe's answer; a server named by
    /// its error to another probe was never asked.
    #[tokio::test]
    async fn a_server_identified_by_its_error_to_another_probe_is_still_checked() {
        let (addr, reads) = tftp_server().await;
        let r = crate::engine::detect_target(
            &crate::engine::Target::udp(addr),
            &below_the_read_probe(),
        )
        .await;
        assert_eq!(r.name.as_deref(), Some("tftp"), "{r:?}");
        assert_ne!(r.probe.as_deref(), Some(EXCHANGE), "{r:?}");
        assert_eq!(reads.load(Ordering::SeqCst), 1, "{r:?}");
        assert_eq!(r.findings.len(), 1, "{r:?}");
        assert_eq!(r.findings[0].id, "tftp-open");
        assert!(r.findings[0].evidence.contains("ERROR 1"), "{r:?}");
    }

    #[tokio::test]
    async fn no_read_request_without_checks() {
        let (addr, reads) = tftp_server().await;
        let mut o = below_the_read_probe();
        o.checks = false;
        let r = crate::engine::detect_target(&crate::engine::Target::udp(addr), &o).await;
        assert_eq!(r.name.as_deref(), Some("tftp"), "{r:?}");
        assert!(r.findings.is_empty(), "{r:?}");
        assert_eq!(reads.load(Ordering::SeqCst), 0, "{r:?}");
    }

    #[test]
    fn the_read_request_is_the_probe_s() {
        let db = crate::ProbeDb::embedded().unwrap();
        assert_eq!(db.probe(EXCHANGE).unwrap().payload, RRQ);
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..700)) {
            if let Some(Answer::Error { message, .. }) = parse(&b) {
                proptest::prop_assert!(message.chars().count() <= 120);
            }
        }
    }
}
