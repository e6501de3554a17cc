//! X11: send a connection setup with no authorization and read the first byte of the answer.
//! 1 (Success) means any client may open windows, read the screen and log keystrokes (`xhost +`
//! or `-ac`); 0 (Failed) or 2 (Authenticate) means access control is on. The connection is
//! closed at once: no request is sent after the setup.

use std::net::SocketAddr;

use crate::checks::{ask, finding};
use crate::engine::Options;
use crate::report::{ServiceReport, Severity};

/// Connection setup, little-endian, protocol 11.0, empty authorization name and data.
pub const SETUP: [u8; 12] = [b'l', 0, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0];

/// What a setup answer says: Some(true) = accepted, Some(false) = refused, None = not X11.
pub fn accepted(b: &[u8]) -> Option<bool> {
    if b.len() < 8 {
        return None;
    }
    // Bytes 2..4: the server's protocol major version (11), in our byte order.
    let major = u16::from_le_bytes([b[2], b[3]]);
    match (b[0], major) {
        (1, 11) => Some(true),
        (0 | 2, 11) => Some(false),
        (2, _) => Some(false),
        _ => None,
    }
}

/// The vendor string of a successful setup answer.
pub fn vendor(b: &[u8]) -> Option<String> {
    let len = u16::from_le_bytes([*b.get(24)?, *b.get(25)?]) as usize;
    let v = b.get(40..40 + len)?;
    Some(String::from_utf8_lossy(v).into_owned())
}

pub async fn check(addr: SocketAddr, opts: &Options, r: &mut ServiceReport) {
    let Some(b) = ask(addr, opts, &SETUP, |b| b.len() >= 8).await else {
        return;
    };
    if accepted(&b) == Some(true) {
        let ev = match vendor(&b) {
            Some(v) => format!("connection setup without authorization accepted ({v})"),
            None => "connection setup without authorization accepted".into(),
        };
        r.findings.push(finding(
            "x11-open-access",
            Severity::Critical,
            "X server accepts any client (screen capture, keystroke logging)",
            ev.as_bytes(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testutil::{fake, opts};
    use portolan_registry::Protocol;

    fn success() -> Vec<u8> {
        let mut b = vec![1, 0, 11, 0, 0, 0, 0, 0];
        b.resize(40, 0);
        b[24] = 8; // vendor length
        b.extend_from_slice(b"The X.Org");
        b
    }

    #[tokio::test]
    async fn open_server_is_flagged_and_closed_one_is_not() {
        let open = fake(b"", |req| (req == SETUP).then(success)).await;
        let mut r = ServiceReport::new(open, Protocol::Tcp);
        check(open, &opts(), &mut r).await;
        assert_eq!(r.findings.len(), 1);
        assert_eq!(r.findings[0].id, "x11-open-access");
        assert!(r.findings[0].evidence.contains("The X.Or"));

        let reason = b"No protocol specified\n";
        let closed = fake(b"", move |_| {
            let mut b = vec![0, reason.len() as u8, 11, 0, 0, 0, 6, 0];
            b.extend_from_slice(reason);
            Some(b)
        })
        .await;
        let mut r = ServiceReport::new(closed, Protocol::Tcp);
        check(closed, &opts(), &mut r).await;
        assert!(r.findings.is_empty());
    }

    #[test]
    fn other_protocols_are_not_x11() {
        assert_eq!(accepted(b"HTTP/1.1 400 Bad Request\r\n"), None);
        assert_eq!(accepted(&[1, 0, 3, 0, 0, 0, 0, 0]), None);
    }

    proptest::proptest! {
        #[test]
        fn parsers_never_panic(b in proptest::collection::vec(proptest::num::u8::ANY, 0..128)) {
            let _ = accepted(&b);
            let _ = vendor(&b);
        }
    }
}
