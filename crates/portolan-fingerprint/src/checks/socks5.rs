//! SOCKS5 (RFC 1928): a greeting offering only "no authentication". A server that accepts it
//! is flagged; with a lab target, a CONNECT to it proves an open proxy.

use std::net::{IpAddr, SocketAddr};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::checks::finding;
use crate::engine::{connect, Options};
use crate::report::{ServiceReport, Severity};

/// The CONNECT request for `target`.
pub fn connect_request(target: SocketAddr) -> Vec<u8> {
    let mut v = vec![5, 1, 0];
    match target.ip() {
        IpAddr::V4(a) => {
            v.push(1);
            v.extend_from_slice(&a.octets());
        }
        IpAddr::V6(a) => {
            v.push(4);
            v.extend_from_slice(&a.octets());
        }
    }
    v.extend_from_slice(&target.port().to_be_bytes());
    v
}

pub async fn check(
    addr: SocketAddr,
    target: Option<SocketAddr>,
    opts: &Options,
    r: &mut ServiceReport,
) {
    let Ok(mut s) = connect(addr, opts.connect_timeout).await else {
        return;
    };
    let mut reply = [0u8; 2];
    let ok = async {
        s.write_all(&[5, 1, 0]).await.ok()?;
        s.read_exact(&mut reply).await.ok()?;
        Some(())
    };
    if tokio::time::timeout(opts.probe_wait, ok)
        .await
        .ok()
        .flatten()
        .is_none()
        || reply != [5, 0]
    {
        return;
    }
    r.findings.push(finding(
        "socks5-no-auth",
        Severity::High,
        "SOCKS5 proxy accepts clients without authentication",
        b"greeting [05 01 00] -> [05 00]",
    ));
    let Some(target) = target else {
        return;
    };
    let mut rep = [0u8; 2];
    let ok = async {
        s.write_all(&connect_request(target)).await.ok()?;
        s.read_exact(&mut rep).await.ok()?;
        Some(())
    };
    if tokio::time::timeout(opts.probe_wait, ok)
        .await
        .ok()
        .flatten()
        .is_some()
        && rep == [5, 0]
    {
        let ev = format!("CONNECT {target} -> succeeded");
        r.findings.push(finding(
            "socks5-open-proxy",
            Severity::High,
            "SOCKS5 proxy relays connections for anyone",
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
    async fn no_auth_socks_is_flagged() {
        let addr = fake(b"", |req| match req {
            [5, 1, 0] => Some(vec![5, 0]),
            [5, 1, 0, 1, ..] => Some(vec![5, 0, 0, 1, 0, 0, 0, 0, 0, 0]),
            _ => None,
        })
        .await;
        let mut r = ServiceReport::new(addr, Protocol::Tcp);
        check(addr, Some("127.0.0.1:9".parse().unwrap()), &opts(), &mut r).await;
        let ids: Vec<_> = r.findings.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, vec!["socks5-no-auth", "socks5-open-proxy"]);
    }

    #[tokio::test]
    async fn socks_demanding_a_password_is_not_flagged() {
        let addr = fake(b"", |_| Some(vec![5, 0xff])).await;
        let mut r = ServiceReport::new(addr, Protocol::Tcp);
        check(addr, None, &opts(), &mut r).await;
        assert!(r.findings.is_empty());
    }

    #[test]
    fn request_bytes() {
        assert_eq!(
            connect_request("10.0.0.1:80".parse().unwrap()),
            vec![5, 1, 0, 1, 10, 0, 0, 1, 0, 80]
        );
    }
}
