//! NATS: the server's unprompted `INFO {...}` greeting says whether clients must authenticate
//! (`auth_required`) or use TLS (`tls_required`). A server that requires neither lets anyone
//! publish and subscribe. Nothing is sent.

use std::net::SocketAddr;

use crate::checks::finding;
use crate::engine::{connect, read_reply, Options};
use crate::report::{ServiceReport, Severity};

/// From an `INFO` greeting: Some(true) = no authentication required, Some(false) = required
/// (or TLS first, which this check does not go through), None = not a NATS greeting.
pub fn open(greeting: &[u8]) -> Option<bool> {
    let line = greeting.split(|&c| c == b'\n').next()?;
    let json = line.strip_prefix(b"INFO ")?;
    let v: serde_json::Value = serde_json::from_slice(json.trim_ascii()).ok()?;
    v.as_object()?;
    let set = |k: &str| v[k].as_bool().unwrap_or(false);
    Some(!set("auth_required") && !set("tls_required"))
}

pub async fn check(addr: SocketAddr, opts: &Options, r: &mut ServiceReport) {
    let Ok(mut s) = connect(addr, opts.connect_timeout).await else {
        return;
    };
    let (g, _) = read_reply(&mut s, opts.probe_wait, opts.idle_gap, 8192, |b| {
        b.contains(&b'\n')
    })
    .await;
    if open(&g) == Some(true) {
        r.findings.push(finding(
            "nats-no-auth",
            Severity::High,
            "NATS server lets anyone publish and subscribe (no authentication)",
            b"INFO greeting: auth_required absent or false",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testutil::{fake, opts};
    use portolan_registry::Protocol;

    #[tokio::test]
    async fn open_server_is_flagged_and_one_with_auth_is_not() {
        let open = fake(
            b"INFO {\"server_id\":\"x\",\"version\":\"2.9.10\",\"max_payload\":1048576}\r\n",
            |_| None,
        )
        .await;
        let mut r = ServiceReport::new(open, Protocol::Tcp);
        check(open, &opts(), &mut r).await;
        assert_eq!(r.findings.len(), 1);
        assert_eq!(r.findings[0].id, "nats-no-auth");

        let auth = fake(
            b"INFO {\"version\":\"2.9.10\",\"auth_required\":true}\r\n",
            |_| None,
        )
        .await;
        let mut r = ServiceReport::new(auth, Protocol::Tcp);
        check(auth, &opts(), &mut r).await;
        assert!(r.findings.is_empty());
    }

    #[test]
    fn greeting_parsing() {
        assert_eq!(open(b"INFO {\"tls_required\":true}\r\n"), Some(false));
        assert_eq!(open(b"INFO [1]\r\n"), None);
        assert_eq!(open(b"+OK\r\n"), None);
    }

    proptest::proptest! {
        #[test]
        fn parser_never_panics(b in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let _ = open(&b);
        }
    }
}
