//! TFTP (RFC 1350): the protocol has no authentication at all — a server that answers a read
//! request serves every file it can reach to anyone who names it.
//!
//! The identification probe (`tftp-rrq`) is itself the check: a read request, octet mode, for a
//! file name that does not exist (`portolan-probe-nonexistent`). A TFTP server answers from a
//! new port of its own (its transfer identifier, RFC 1350 §4), so the request goes out on an
//! unconnected socket and the first datagram from the target's address, whatever its port, is
//! the answer.
//!
//! What counts as open access (`tftp-open`): the server looked the name up for us — it answered
//! `ERROR 1` (file not found; also code 0 with a "not found" / "no such file" message) or, for
//! a server that has such a file, `DATA` block 1 (then one `ERROR` tells it to stop: nothing more
//! is read). An `ERROR 2` (access violation) or any other refusal is a note: the server answers
//! anyone but refused that read.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::UdpSocket;

use crate::checks::finding;
use crate::report::{ServiceReport, Severity};

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

/// Send `request` to `addr` and return the first datagram from its address (any port), and the
/// port it came from, within `wait`.
pub async fn exchange(addr: SocketAddr, request: &[u8], wait: Duration) -> Option<(Vec<u8>, u16)> {
    let bind: SocketAddr = if addr.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = UdpSocket::bind(bind).await.ok()?;
    sock.send_to(request, addr).await.ok()?;
    let mut buf = vec![0u8; 1024];
    let got = tokio::time::timeout(wait, async {
        loop {
            match sock.recv_from(&mut buf).await {
                Ok((n, from)) if from.ip() == addr.ip() => return Some((n, from.port())),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    })
    .await
    .ok()
    .flatten();
    let (n, port) = got?;
    buf.truncate(n);
    if parse(&buf).is_some_and(|a| matches!(a, Answer::Data { .. })) {
        // RFC 1350 §7: an ERROR ends the transfer; the server sends nothing more.
        let stop = b"\x00\x05\x00\x00transfer not wanted\x00";
        let _ = sock.send_to(stop, SocketAddr::new(addr.ip(), port)).await;
    }
    Some((buf, port))
}

/// Flag the server from its answer to the `tftp-rrq` probe.
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

    #[tokio::test]
    async fn the_answer_from_a_new_port_is_taken_and_flagged() {
        // A server that answers from another socket (its transfer identifier), as RFC 1350 says.
        let listen = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = listen.local_addr().unwrap();
        tokio::spawn(async move {
            let mut b = [0u8; 512];
            let (_, from) = listen.recv_from(&mut b).await.unwrap();
            let tid = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            tid.send_to(b"\x00\x05\x00\x01File not found\x00", from)
                .await
                .unwrap();
        });
        let (reply, port) = exchange(
            addr,
            b"\x00\x01portolan-probe-nonexistent\x00octet\x00",
            Duration::from_secs(2),
        )
        .await
        .unwrap();
        assert_ne!(port, addr.port());
        let mut r = ServiceReport::new(addr, portolan_registry::Protocol::Udp);
        from_reply(&reply, &mut r);
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

    proptest::proptest! {
        #[test]
        fn parse_never_panics(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..700)) {
            if let Some(Answer::Error { message, .. }) = parse(&b) {
                proptest::prop_assert!(message.chars().count() <= 120);
            }
        }
    }
}
