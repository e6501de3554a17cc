//! Open HTTP proxy: ask the proxy to `CONNECT` to a lab-only address the caller gave. Runs only
//! when a target is given; the proxy is never asked to reach anything else.

use std::net::SocketAddr;

use crate::checks::{ask, finding};
use crate::engine::Options;
use crate::report::{ServiceReport, Severity};

pub async fn check(addr: SocketAddr, target: SocketAddr, opts: &Options, r: &mut ServiceReport) {
    let req =
        format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nUser-Agent: portolan\r\n\r\n");
    let Some(b) = ask(addr, opts, req.as_bytes(), |b| {
        b.windows(4).any(|w| w == b"\r\n\r\n")
    })
    .await
    else {
        return;
    };
    let status = crate::http::parse_response(&b).map(|i| i.status);
    if status == Some(200) {
        let line = b.split(|&c| c == b'\n').next().unwrap_or(&[]);
        let ev = format!(
            "CONNECT {target} -> {}",
            String::from_utf8_lossy(line).trim()
        );
        r.findings.push(finding(
            "http-open-proxy",
            Severity::High,
            "HTTP proxy relays connections for anyone",
            ev.as_bytes(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testutil::{fake, opts};
    use portolan_registry::Protocol;

    #[tokio::test]
    async fn open_proxy_is_flagged_and_closed_one_is_not() {
        let target: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let open = fake(b"", |req| {
            req.starts_with(b"CONNECT 127.0.0.1:9 ")
                .then(|| b"HTTP/1.1 200 Connection established\r\n\r\n".to_vec())
        })
        .await;
        let mut r = ServiceReport::new(open, Protocol::Tcp);
        check(open, target, &opts(), &mut r).await;
        assert_eq!(r.findings.len(), 1);
        assert_eq!(r.findings[0].id, "http-open-proxy");

        let closed = fake(b"", |_| {
            Some(b"HTTP/1.1 403 Forbidden\r\nServer: squid/5.7\r\n\r\n".to_vec())
        })
        .await;
        let mut r = ServiceReport::new(closed, Protocol::Tcp);
        check(closed, target, &opts(), &mut r).await;
        assert!(r.findings.is_empty());
    }
}
