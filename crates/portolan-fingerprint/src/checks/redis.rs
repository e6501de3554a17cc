//! Redis: `PING` answered with `+PONG` without `AUTH` proves unauthenticated access; `INFO
//! server` then gives the version. Both are read-only commands.

use std::net::SocketAddr;

use crate::checks::{ask, finding};
use crate::engine::Options;
use crate::report::{ServiceReport, Severity};

/// Read `redis_version:` from an INFO reply.
pub fn version_from_info(b: &[u8]) -> Option<String> {
    let s = String::from_utf8_lossy(b);
    let v = s
        .lines()
        .find_map(|l| l.strip_prefix("redis_version:"))?
        .trim();
    (!v.is_empty() && v.len() < 40 && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '.'))
        .then(|| v.to_string())
}

/// Whether a RESP bulk string reply (`$N\r\n...`) is complete.
fn bulk_complete(b: &[u8]) -> bool {
    let Some(nl) = b.windows(2).position(|w| w == b"\r\n") else {
        return false;
    };
    if !b.starts_with(b"$") {
        return true; // an error or simple string: one line
    }
    let n: usize = std::str::from_utf8(&b[1..nl])
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    b.len() >= nl + 2 + n
}

pub async fn check(addr: SocketAddr, opts: &Options, r: &mut ServiceReport) {
    let Some(pong) = ask(addr, opts, b"*1\r\n$4\r\nPING\r\n", |b| {
        b.ends_with(b"\r\n")
    })
    .await
    else {
        return;
    };
    if !pong.starts_with(b"+PONG") {
        return;
    }
    r.findings.push(finding(
        "redis-no-auth",
        Severity::Critical,
        "Redis answers commands without authentication",
        b"PING -> +PONG without AUTH",
    ));
    if let Some(info) = ask(
        addr,
        opts,
        b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n",
        bulk_complete,
    )
    .await
    {
        if let Some(v) = version_from_info(&info) {
            r.cpe = vec![format!("cpe:/a:redis:redis:{v}")];
            r.version = Some(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testutil::{fake, opts};
    use portolan_registry::Protocol;

    fn fake_redis(password: bool) -> impl Fn(&[u8]) -> Option<Vec<u8>> {
        move |req| {
            if password {
                return Some(b"-NOAUTH Authentication required.\r\n".to_vec());
            }
            if req.windows(4).any(|w| w == b"PING") {
                Some(b"+PONG\r\n".to_vec())
            } else if req.windows(4).any(|w| w == b"INFO") {
                let body = "# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n";
                Some(format!("${}\r\n{body}\r\n", body.len()).into_bytes())
            } else {
                Some(b"-ERR unknown command\r\n".to_vec())
            }
        }
    }

    #[tokio::test]
    async fn open_redis_is_flagged_with_its_version() {
        let addr = fake(b"", fake_redis(false)).await;
        let mut r = ServiceReport::new(addr, Protocol::Tcp);
        check(addr, &opts(), &mut r).await;
        assert_eq!(r.findings.len(), 1);
        assert_eq!(r.findings[0].id, "redis-no-auth");
        assert_eq!(r.version.as_deref(), Some("7.0.15"));
    }

    #[tokio::test]
    async fn redis_with_a_password_is_not_flagged() {
        let addr = fake(b"", fake_redis(true)).await;
        let mut r = ServiceReport::new(addr, Protocol::Tcp);
        check(addr, &opts(), &mut r).await;
        assert!(r.findings.is_empty());
        assert!(r.version.is_none());
    }

    #[test]
    fn info_parsing() {
        assert_eq!(
            version_from_info(b"$10\r\nredis_version:6.2.1\r\n").as_deref(),
            Some("6.2.1")
        );
        assert_eq!(version_from_info(b"redis_version:\x1b[31m\r\n"), None);
        assert!(bulk_complete(b"$3\r\nabc"));
        assert!(!bulk_complete(b"$30\r\nabc"));
    }
}
