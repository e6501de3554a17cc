//! memcached: `stats` answered without SASL proves unauthenticated access (read-only).

use std::net::SocketAddr;

use crate::checks::{ask, finding};
use crate::engine::Options;
use crate::report::{ServiceReport, Severity};

pub async fn check(addr: SocketAddr, opts: &Options, r: &mut ServiceReport) {
    let Some(b) = ask(addr, opts, b"stats\r\n", |b| b.ends_with(b"END\r\n")).await else {
        return;
    };
    if !b.starts_with(b"STAT ") {
        return;
    }
    let text = String::from_utf8_lossy(&b);
    let pick = |k: &str| {
        text.lines().find_map(|l| {
            l.strip_prefix(&format!("STAT {k} "))
                .map(|v| v.trim().to_string())
        })
    };
    if r.version.is_none() {
        r.version = pick("version").filter(|v| v.len() < 40);
    }
    let ev = format!(
        "stats answered: version {}, {} items, {} bytes",
        pick("version").unwrap_or_default(),
        pick("curr_items").unwrap_or_default(),
        pick("bytes").unwrap_or_default()
    );
    r.findings.push(finding(
        "memcached-no-auth",
        Severity::High,
        "memcached answers without authentication",
        ev.as_bytes(),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testutil::{fake, opts};
    use portolan_registry::Protocol;

    #[tokio::test]
    async fn open_memcached_is_flagged() {
        let addr = fake(b"", |req| {
            (req == b"stats\r\n").then(|| {
                b"STAT pid 1\r\nSTAT version 1.6.18\r\nSTAT curr_items 0\r\nSTAT bytes 0\r\nEND\r\n".to_vec()
            })
        })
        .await;
        let mut r = ServiceReport::new(addr, Protocol::Tcp);
        check(addr, &opts(), &mut r).await;
        assert_eq!(r.findings.len(), 1);
        assert_eq!(r.findings[0].id, "memcached-no-auth");
        assert!(r.findings[0].evidence.contains("1.6.18"));
        assert_eq!(r.version.as_deref(), Some("1.6.18"));
    }

    #[tokio::test]
    async fn refusing_memcached_is_not_flagged() {
        let addr = fake(b"", |_| Some(b"CLIENT_ERROR unauthenticated\r\n".to_vec())).await;
        let mut r = ServiceReport::new(addr, Protocol::Tcp);
        check(addr, &opts(), &mut r).await;
        assert!(r.findings.is_empty());
    }
}
