//! Open HTTP proxy: ask the proxy to reach a lab-only address the caller gave (`--proxy-target`),
//! first with `CONNECT`, then with a plain forwarded request (`GET http://<target>/`), which is
//! what most open proxies relay (many refuse CONNECT to ports other than 443). The forwarded
//! request counts as relayed only if its answer is the target's own: the same status and the same
//! `Server` header (and title) as a direct `GET /` to the target. A proxy that asks for
//! credentials (407) or refuses (403, 5xx) is not flagged; neither is a reverse proxy or a web
//! server, whose answer is its own, not the target's. Runs only when a target is given; the proxy
//! is never asked to reach anything else.

use std::net::SocketAddr;

use tokio::io::AsyncWriteExt;

use crate::checks::{ask, finding, http_get};
use crate::engine::{connect, read_reply, Options};
use crate::report::{HttpInfo, ServiceReport, Severity};

fn head_done(b: &[u8]) -> bool {
    b.windows(4).any(|w| w == b"\r\n\r\n")
}

/// Whether `via` (the proxy's answer to the forwarded request) is the target's own answer
/// `direct`.
pub fn relayed(via: &HttpInfo, direct: &HttpInfo) -> bool {
    if matches!(via.status, 407 | 403) || via.status >= 500 {
        return false;
    }
    via.status == direct.status && via.server == direct.server && via.title == direct.title
}

pub async fn check(addr: SocketAddr, target: SocketAddr, opts: &Options, r: &mut ServiceReport) {
    if addr == target {
        return;
    }
    let full = |b: &[u8]| head_done(b) && b.windows(7).any(|w| w.eq_ignore_ascii_case(b"</html>"));
    // The target's own answer, to recognise it when it comes back through the proxy.
    let direct = ask(target, opts, &http_get(target, "/"), full)
        .await
        .and_then(|b| crate::http::parse_response(&b));
    if let Some(ev) = connect_tunnel(addr, target, direct.as_ref(), opts).await {
        r.findings.push(finding(
            "http-open-proxy",
            Severity::High,
            "HTTP proxy relays connections for anyone",
            ev.as_bytes(),
        ));
        return;
    }
    let Some(direct) = direct else {
        r.notes.push(format!(
            "open-proxy check: the lab target {target} did not answer HTTP; only CONNECT was tried"
        ));
        return;
    };
    let fwd = format!(
        "GET http://{target}/ HTTP/1.0\r\nHost: {target}\r\nUser-Agent: portolan\r\nAccept: */*\r\n\r\n"
    );
    let Some(via_b) = ask(addr, opts, fwd.as_bytes(), full).await else {
        return;
    };
    let Some(via) = crate::http::parse_response(&via_b) else {
        return;
    };
    if relayed(&via, &direct) {
        let ev = format!(
            "GET http://{target}/ -> {} {} (the target's own answer)",
            via.status,
            via.server.as_deref().unwrap_or("")
        );
        r.findings.push(finding(
            "http-open-proxy",
            Severity::High,
            "HTTP proxy relays requests for anyone",
            ev.as_bytes(),
        ));
    }
}

/// `CONNECT target`; on 200, a `GET /` through the tunnel must bring the target's own answer
/// (when the target speaks HTTP), or the 200 must be a bare tunnel reply with no body (when it
/// does not): a web server that answers every method with its page is not a proxy.
async fn connect_tunnel(
    addr: SocketAddr,
    target: SocketAddr,
    direct: Option<&HttpInfo>,
    opts: &Options,
) -> Option<String> {
    let mut s = connect(addr, opts.connect_timeout).await.ok()?;
    let req =
        format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nUser-Agent: portolan\r\n\r\n");
    s.write_all(req.as_bytes()).await.ok()?;
    let (b, _) = read_reply(&mut s, opts.probe_wait, opts.idle_gap, 4096, head_done).await;
    if crate::http::parse_response(&b).map(|i| i.status) != Some(200) {
        return None;
    }
    let line = b.split(|&c| c == b'\n').next().unwrap_or(&[]);
    let ev = format!(
        "CONNECT {target} -> {}",
        String::from_utf8_lossy(line).trim()
    );
    let head_end = b.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    match direct {
        None => (b.len() == head_end).then_some(ev),
        Some(direct) => {
            s.write_all(&http_get(target, "/")).await.ok()?;
            let full =
                |b: &[u8]| head_done(b) && b.windows(7).any(|w| w.eq_ignore_ascii_case(b"</html>"));
            let (t, _) =
                read_reply(&mut s, opts.probe_wait, opts.idle_gap, opts.max_reply, full).await;
            let via = crate::http::parse_response(&t)?;
            relayed(&via, direct).then(|| {
                format!(
                    "{ev}; GET / through it -> {} (the target's own answer)",
                    via.status
                )
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testutil::{fake, opts};
    use portolan_registry::Protocol;

    const PAGE: &[u8] =
        b"HTTP/1.0 200 OK\r\nServer: lab/1.0\r\n\r\n<html><title>lab</title></html>";

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

    /// A proxy that refuses CONNECT (to a port other than 443, as tinyproxy does) but forwards
    /// plain requests: the old check sent nothing through it.
    #[tokio::test]
    async fn proxy_forwarding_get_is_flagged() {
        let target = fake(b"", |req| req.starts_with(b"GET / ").then(|| PAGE.to_vec())).await;
        let proxy = fake(b"", move |req| {
            let t = String::from_utf8_lossy(req);
            if t.starts_with(&format!("GET http://{target}/ ")) {
                Some(PAGE.to_vec())
            } else {
                Some(b"HTTP/1.0 403 Access violation\r\nServer: tinyproxy/1.11.1\r\n\r\n".to_vec())
            }
        })
        .await;
        let mut r = ServiceReport::new(proxy, Protocol::Tcp);
        check(proxy, target, &opts(), &mut r).await;
        assert_eq!(r.findings.len(), 1, "{:?}", r.notes);
        assert!(
            r.findings[0].evidence.contains("GET http://"),
            "{:?}",
            r.findings
        );
    }

    #[tokio::test]
    async fn proxy_asking_for_credentials_and_plain_web_server_are_not_flagged() {
        let target = fake(b"", |_| Some(PAGE.to_vec())).await;
        let auth = fake(b"", |_| {
            Some(b"HTTP/1.0 407 Proxy Authentication Required\r\nServer: tinyproxy/1.11.1\r\nProxy-Authenticate: Basic realm=\"x\"\r\n\r\n<html></html>".to_vec())
        })
        .await;
        let mut r = ServiceReport::new(auth, Protocol::Tcp);
        check(auth, target, &opts(), &mut r).await;
        assert!(r.findings.is_empty(), "{:?}", r.findings);

        // A web server answers an absolute URI with its own page, not the target's.
        let web = fake(b"", |_| {
            Some(
                b"HTTP/1.0 200 OK\r\nServer: other/2\r\n\r\n<html><title>me</title></html>"
                    .to_vec(),
            )
        })
        .await;
        let mut r = ServiceReport::new(web, Protocol::Tcp);
        check(web, target, &opts(), &mut r).await;
        assert!(r.findings.is_empty(), "{:?}", r.findings);

        // The target itself is never checked as a proxy of itself.
        let mut r = ServiceReport::new(target, Protocol::Tcp);
        check(target, target, &opts(), &mut r).await;
        assert!(r.findings.is_empty());
    }
}
