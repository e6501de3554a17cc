//! Safe exposure checks: each proves unauthenticated access with harmless read-only requests
//! (most with one; SMB, LDAP and NFS with a short exchange) — no credentials, no writes, no
//! password guessing, nothing that changes the target's state.
//!
//! | module | request | finding |
//! |---|---|---|
//! | [`redis`] | `PING`, then `INFO server` | `redis-no-auth` |
//! | [`memcached`] | `stats` | `memcached-no-auth` |
//! | [`ftp`] | `USER anonymous` / `PASS` / `QUIT` | `ftp-anonymous` |
//! | [`http_proxy`] | `CONNECT <lab target>`, then `GET http://<lab target>/` compared with the target's own answer | `http-open-proxy` (only with a target) |
//! | [`socks5`] | greeting offering "no authentication" (+ CONNECT to a lab target) | `socks5-no-auth`, `socks5-open-proxy` |
//! | [`elasticsearch`] | `GET /` | `elasticsearch-no-auth` |
//! | [`docker`] | `GET /version` | `docker-api-no-auth` |
//! | [`snmp`] (UDP) | v2c GetRequest, community `public` (the `snmp-public` probe's reply when it was answered) | `snmp-public` |
//! | [`mqtt`] | MQTT CONNECT without credentials (the detection probe) | `mqtt-anonymous` |
//! | [`rsync`] | module list, then each module asked for without credentials | `rsync-no-auth` |
//! | [`vnc`] | RFB version exchange, security types read (none chosen) | `vnc-no-auth` |
//! | [`x11`] | X11 connection setup without authorization | `x11-open-access` |
//! | [`nats`] | none: the server's `INFO` greeting (`auth_required`) | `nats-no-auth` |
//! | [`smb`] | SMB2 NEGOTIATE, anonymous NTLM SESSION_SETUP, TREE_CONNECT `IPC$`, srvsvc `NetrShareEnum`, TREE_CONNECT per disk share | `smb-null-session`, `smb-anonymous-share` |
//! | [`git`] | `git-upload-pack /` (a ref advertisement or the daemon's `ERR`) | `git-daemon-no-auth` |
//! | [`nfs`] | portmapper `GETPORT` for MOUNT v3, then `MOUNTPROC3_EXPORT` (`showmount -e`) | `nfs-exports-open` |
//! | [`ldap`] | anonymous simple bind, root DSE search, one-level search of each naming context | `ldap-anonymous-read` |
//! | [`tftp`] (UDP) | an RRQ for a file that does not exist, answered from the server's own port (the `tftp-rrq` probe's reply when it was answered) | `tftp-open` |
//! | [`nocred`] | none: the identification probe's command (`stats`, `version`) was answered by a work queue whose protocol has no authentication (beanstalkd, Gearman) | `beanstalkd-no-auth`, `gearman-no-auth` |
//!
//! A check runs when the service is named, whichever probe named it, or when the greeting gives
//! the protocol away (`@RSYNCD:`, `RFB `, `INFO {`) though no rule named it; the X11 check (the
//! server says nothing first) runs on an unnamed port in X11's range 6000-6063. Over UDP, too,
//! the check is chosen by the identified service ([`run_udp`]); a detection probe's reply is
//! reused only when that probe's request is the check's own exchange, else the check sends it.
//! Each check verifies the protocol itself before it flags anything.

pub mod docker;
pub mod elasticsearch;
pub mod ftp;
pub mod git;
pub mod http_proxy;
pub mod ldap;
pub mod memcached;
pub mod mqtt;
pub mod nats;
pub mod nfs;
pub mod nocred;
pub mod redis;
pub mod rsync;
pub mod smb;
pub mod snmp;
pub mod socks5;
pub mod tftp;
pub mod vnc;
pub mod x11;

use std::net::SocketAddr;
use tokio::io::AsyncWriteExt;

use crate::engine::{connect, read_reply, Options, Target};
use crate::report::{ExposureFinding, ServiceReport, Severity};

/// Longest evidence kept.
const EVIDENCE_CAP: usize = 160;

/// Run the checks that fit the identified service.
pub async fn run(t: &Target, opts: &Options, r: &mut ServiceReport) {
    if r.tunnel.is_some() {
        return;
    }
    let addr = t.addr;
    match which(r) {
        Some("redis") => redis::check(addr, opts, r).await,
        Some("memcached") => memcached::check(addr, opts, r).await,
        Some("ftp") => ftp::check(addr, opts, r).await,
        Some("http-proxy") => {
            if let Some(target) = opts.proxy_target {
                http_proxy::check(addr, target, opts, r).await
            } else {
                r.notes
                    .push("open-proxy check not run: no lab target given (--proxy-target)".into())
            }
        }
        // Many open proxies answer a plain request like a web server: with a lab target given,
        // every HTTP port is asked to forward one request to it.
        Some("http") => {
            if let Some(target) = opts.proxy_target {
                http_proxy::check(addr, target, opts, r).await
            }
        }
        Some("socks5") => socks5::check(addr, opts.proxy_target, opts, r).await,
        Some("elasticsearch") => elasticsearch::check(addr, opts, r).await,
        Some("docker") => docker::check(addr, opts, r).await,
        Some("mqtt") => mqtt::from_report(r),
        Some("rsync") => rsync::check(addr, opts, r).await,
        Some("vnc") => vnc::check(addr, opts, r).await,
        Some("x11") => x11::check(addr, opts, r).await,
        Some("nats") => nats::check(addr, opts, r).await,
        Some("beanstalkd") | Some("gearman") => nocred::from_report(r),
        Some("microsoft-ds") => smb::check(addr, opts, r).await,
        Some("git") => git::check(addr, opts, r).await,
        Some("rpcbind") => nfs::check(addr, nfs::Via::Portmapper, opts, r).await,
        Some("nfs") => nfs::check(addr, nfs::Via::Nfs, opts, r).await,
        Some("mountd") => nfs::check(addr, nfs::Via::Mountd, opts, r).await,
        Some("ldap") => ldap::check(addr, opts, r).await,
        _ => {}
    }
}

/// The detection probes whose requests are UDP checks' exchanges: their replies are kept
/// during identification for [`run_udp`].
pub const UDP_EXCHANGES: &[&str] = &[snmp::EXCHANGE, tftp::EXCHANGE];

/// Run the UDP checks that fit the identified service. `answered`: the replies to the probes
/// of [`UDP_EXCHANGES`] that came during identification (reused instead of asking again).
pub async fn run_udp(
    t: &Target,
    opts: &Options,
    r: &mut ServiceReport,
    answered: &[(String, Vec<u8>)],
) {
    let earlier = |probe: &str| {
        answered
            .iter()
            .find(|(p, _)| p == probe)
            .map(|(_, b)| b.as_slice())
    };
    match which_udp(r) {
        Some("snmp") => snmp::check(t.addr, opts, r, earlier(snmp::EXCHANGE)).await,
        Some("tftp") => tftp::check(t.addr, opts, r, earlier(tftp::EXCHANGE)).await,
        _ => {}
    }
}

/// A UDP check's exchange: the reply the identifying probe already got (`earlier`), else the
/// reply to `request` sent now, kept when `ours` accepts it (its request id, say). `any_port`
/// as [`crate::engine::udp_probe`]'s.
async fn udp_exchange<'a>(
    addr: SocketAddr,
    opts: &Options,
    earlier: Option<&'a [u8]>,
    request: Vec<u8>,
    any_port: bool,
    ours: impl Fn(&[u8]) -> bool,
) -> Option<std::borrow::Cow<'a, [u8]>> {
    if let Some(reply) = earlier {
        return Some(reply.into());
    }
    let max = opts.max_reply.clamp(512, 65_535);
    match crate::engine::udp_probe(addr, request, opts.probe_wait, max, any_port).await {
        crate::engine::UdpOutcome::Reply(reply) if ours(&reply) => Some(reply.into()),
        _ => None,
    }
}

/// Which UDP check fits: by the service's name only.
fn which_udp(r: &ServiceReport) -> Option<&'static str> {
    match r.name.as_deref()?.to_ascii_lowercase().as_str() {
        "snmp" => Some("snmp"),
        "tftp" => Some("tftp"),
        _ => None,
    }
}

/// Which check fits: by the service's name, else by what the greeting gives away, else (X11,
/// whose server says nothing first) by the port.
fn which(r: &ServiceReport) -> Option<&'static str> {
    const NAMED: &[&str] = &[
        "redis",
        "memcached",
        "ftp",
        "http-proxy",
        "http",
        "socks5",
        "elasticsearch",
        "docker",
        "mqtt",
        "rsync",
        "vnc",
        "nats",
        "beanstalkd",
        "gearman",
        "microsoft-ds",
        "git",
        "rpcbind",
        "nfs",
        "mountd",
        "ldap",
    ];
    if let Some(n) = r.name.as_deref() {
        let n = n.to_ascii_lowercase();
        if n == "x11" {
            return Some("x11");
        }
        if n == "smb" || n == "smb2" {
            return Some("microsoft-ds");
        }
        if n == "sunrpc" || n == "portmap" || n == "portmapper" {
            return Some("rpcbind");
        }
        return NAMED.iter().find(|k| **k == n).copied();
    }
    let banner = r.banner.as_deref().unwrap_or("");
    if banner.starts_with("@RSYNCD:") {
        Some("rsync")
    } else if banner.starts_with("RFB 0") {
        Some("vnc")
    } else if banner.starts_with("INFO {") {
        Some("nats")
    } else if r.transport == portolan_registry::Protocol::Tcp
        && (6000..=6063).contains(&r.addr.port())
        && banner.is_empty()
    {
        Some("x11")
    } else {
        None
    }
}

/// Make a finding, capping the evidence.
pub fn finding(id: &str, severity: Severity, title: &str, evidence: &[u8]) -> ExposureFinding {
    let ev = String::from_utf8_lossy(&evidence[..evidence.len().min(EVIDENCE_CAP)]);
    let ev: String = ev.split_whitespace().collect::<Vec<_>>().join(" ");
    ExposureFinding {
        id: id.into(),
        severity,
        title: title.into(),
        evidence: ev,
    }
}

/// One request, one reply, on a fresh connection.
pub async fn ask(
    addr: SocketAddr,
    opts: &Options,
    req: &[u8],
    done: impl FnMut(&[u8]) -> bool,
) -> Option<Vec<u8>> {
    let mut s = connect(addr, opts.connect_timeout).await.ok()?;
    s.write_all(req).await.ok()?;
    let (b, _) = read_reply(&mut s, opts.probe_wait, opts.idle_gap, opts.max_reply, done).await;
    (!b.is_empty()).then_some(b)
}

/// An HTTP/1.0 GET with a Host header.
pub fn http_get(addr: SocketAddr, path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nUser-Agent: portolan\r\nAccept: */*\r\n\r\n")
        .into_bytes()
}

/// Split an HTTP response into status and body.
pub fn http_status_body(b: &[u8]) -> Option<(u16, &[u8])> {
    let info = crate::http::parse_response(b)?;
    let body = b
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(&[][..], |i| &b[i + 4..]);
    Some((info.status, body))
}

#[cfg(test)]
pub(crate) mod testutil {
    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use crate::engine::Options;

    /// A fake server that answers each request (one read) with `answer(request)`; `None`
    /// closes the connection.
    pub async fn fake<F>(greeting: &'static [u8], answer: F) -> SocketAddr
    where
        F: Fn(&[u8]) -> Option<Vec<u8>> + Send + Sync + 'static,
    {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let answer = Arc::new(answer);
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let answer = answer.clone();
                tokio::spawn(async move {
                    if !greeting.is_empty() && s.write_all(greeting).await.is_err() {
                        return;
                    }
                    let mut b = vec![0u8; 4096];
                    loop {
                        let n = match s.read(&mut b).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        match answer(&b[..n]) {
                            Some(out) => {
                                if s.write_all(&out).await.is_err() {
                                    return;
                                }
                            }
                            None => return,
                        }
                    }
                });
            }
        });
        addr
    }

    pub fn opts() -> Options {
        let mut o = Options::new().unwrap();
        o.probe_wait = Duration::from_millis(500);
        o.banner_wait = Duration::from_millis(300);
        o.idle_gap = Duration::from_millis(100);
        o
    }
}
