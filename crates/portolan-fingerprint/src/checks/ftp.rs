//! FTP: log in as `anonymous` (RFC 1635) and log out again. No command that lists, reads or
//! writes files is sent.

use std::net::SocketAddr;

use tokio::io::AsyncWriteExt;

use crate::checks::finding;
use crate::engine::{connect, read_reply, Options};
use crate::report::{ServiceReport, Severity};

/// Whether a (possibly multi-line) FTP reply is complete: its last line is `NNN text`.
pub fn reply_complete(b: &[u8]) -> bool {
    if !b.ends_with(b"\n") {
        return false;
    }
    let text = String::from_utf8_lossy(b);
    text.lines().last().is_some_and(|l| {
        l.len() >= 4 && l.as_bytes()[..3].iter().all(u8::is_ascii_digit) && l.as_bytes()[3] == b' '
    })
}

/// The reply code of the last line.
pub fn code(b: &[u8]) -> Option<u16> {
    let text = String::from_utf8_lossy(b);
    text.lines().last()?.get(..3)?.parse().ok()
}

async fn read(s: &mut tokio::net::TcpStream, opts: &Options) -> Vec<u8> {
    read_reply(s, opts.probe_wait, opts.idle_gap, 4096, reply_complete)
        .await
        .0
}

pub async fn check(addr: SocketAddr, opts: &Options, r: &mut ServiceReport) {
    let Ok(mut s) = connect(addr, opts.connect_timeout).await else {
        return;
    };
    let greet = read(&mut s, opts).await;
    if code(&greet) != Some(220) {
        return;
    }
    if s.write_all(b"USER anonymous\r\n").await.is_err() {
        return;
    }
    let user = read(&mut s, opts).await;
    let last = match code(&user) {
        Some(331) => {
            if s.write_all(b"PASS portolan@example.invalid\r\n")
                .await
                .is_err()
            {
                return;
            }
            read(&mut s, opts).await
        }
        _ => user,
    };
    if code(&last) == Some(230) {
        r.findings.push(finding(
            "ftp-anonymous",
            Severity::Medium,
            "FTP allows anonymous login",
            &last,
        ));
    }
    let _ = s.write_all(b"QUIT\r\n").await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testutil::{fake, opts};
    use portolan_registry::Protocol;

    fn ftp(anon: bool) -> impl Fn(&[u8]) -> Option<Vec<u8>> {
        move |req| {
            let out: &[u8] = if req.starts_with(b"USER anonymous") {
                b"331 Please specify the password.\r\n"
            } else if req.starts_with(b"PASS") && anon {
                b"230-Welcome\r\n230 Login successful.\r\n"
            } else if req.starts_with(b"PASS") {
                b"530 Login incorrect.\r\n"
            } else if req.starts_with(b"QUIT") {
                return None;
            } else {
                b"500 Unknown command.\r\n"
            };
            Some(out.to_vec())
        }
    }

    #[tokio::test]
    async fn anonymous_ftp_is_flagged() {
        let addr = fake(b"220 (vsFTPd 3.0.3)\r\n", ftp(true)).await;
        let mut r = ServiceReport::new(addr, Protocol::Tcp);
        check(addr, &opts(), &mut r).await;
        assert_eq!(r.findings.len(), 1);
        assert_eq!(r.findings[0].id, "ftp-anonymous");
        assert!(r.findings[0].evidence.contains("230 Login successful"));
    }

    #[tokio::test]
    async fn ftp_refusing_anonymous_is_not_flagged() {
        let addr = fake(b"220-hello\r\n220 ready\r\n", ftp(false)).await;
        let mut r = ServiceReport::new(addr, Protocol::Tcp);
        check(addr, &opts(), &mut r).await;
        assert!(r.findings.is_empty());
    }

    #[test]
    fn multi_line_replies() {
        assert!(!reply_complete(b"230-a\r\n"));
        assert!(reply_complete(b"230-a\r\n230 b\r\n"));
        assert_eq!(code(b"230-a\r\n230 b\r\n"), Some(230));
        assert_eq!(code(b"\xff"), None);
    }
}
