//! The detection engine: connect, listen for a banner, send probes in order of likelihood,
//! detect TLS and probe inside it, then read protocol details and run the safe checks.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use portolan_registry::Protocol;

use crate::db::{Match, Probe, ProbeDb, ProbeKind};
use crate::report::{capped_text, Confidence, ServiceReport, BANNER_CAP, FINGERPRINT_CAP};
use crate::tls::{self, Attempt};

/// Tuning of detection. `Options::default()` suits a LAN or loopback; raise the waits for
/// slow links.
#[derive(Debug, Clone)]
pub struct Options {
    pub db: Arc<ProbeDb>,
    /// Longest wait for a TCP connection.
    pub connect_timeout: Duration,
    /// How long to listen for a banner before sending anything, on a port where no probe is
    /// known to be likely.
    pub banner_wait: Duration,
    /// The same where a probe lists the port (HTTP on 80, ...): a banner that comes later is
    /// still read, as the start of the reply to that probe.
    pub banner_wait_likely: Duration,
    /// Longest wait for the reply to a probe whose database entry gives no `wait_ms`.
    pub probe_wait: Duration,
    /// Once a reply has started, it is complete when nothing more arrives for this long.
    pub idle_gap: Duration,
    /// Largest reply read per probe, in bytes; the rest is not read.
    pub max_reply: usize,
    /// Highest probe rarity tried on a port no probe lists (1-9).
    pub intensity: u8,
    /// Ports detected at once by [`detect_many`].
    pub concurrency: usize,
    /// Run the safe exposure checks (unauthenticated access).
    pub checks: bool,
    /// A lab-only address the open-proxy checks may ask a proxy to reach. `None`: the proxy
    /// checks do not run.
    pub proxy_target: Option<SocketAddr>,
    /// Read the SSH server's KEXINIT (algorithms) after identifying SSH.
    pub ssh_algorithms: bool,
    /// Ask SMTP, IMAP, POP3, FTP and PostgreSQL servers to start TLS and record what it shows.
    pub starttls: bool,
}

impl Options {
    /// Defaults with the built-in database.
    pub fn new() -> Result<Options, crate::db::DbError> {
        Ok(Options::with_db(Arc::new(ProbeDb::embedded()?)))
    }

    /// Defaults with a given database.
    pub fn with_db(db: Arc<ProbeDb>) -> Options {
        Options {
            db,
            connect_timeout: Duration::from_secs(3),
            banner_wait: Duration::from_millis(1500),
            banner_wait_likely: Duration::from_millis(200),
            probe_wait: Duration::from_millis(1500),
            idle_gap: Duration::from_millis(250),
            max_reply: 16 * 1024,
            intensity: 7,
            concurrency: 64,
            checks: true,
            proxy_target: None,
            ssh_algorithms: true,
            starttls: true,
        }
    }
}

/// One thing to identify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub addr: SocketAddr,
    pub transport: Protocol,
    /// Name to send as TLS SNI (when the user gave a host name).
    pub sni: Option<String>,
}

impl Target {
    pub fn tcp(addr: SocketAddr) -> Target {
        Target {
            addr,
            transport: Protocol::Tcp,
            sni: None,
        }
    }
    pub fn udp(addr: SocketAddr) -> Target {
        Target {
            addr,
            transport: Protocol::Udp,
            sni: None,
        }
    }
}

/// Why reading stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    Closed,
    Idle,
    Deadline,
    Cap,
    Matched,
    Error,
}

/// Read a reply: until the peer closes, is idle for `idle` after sending something, `wait`
/// has passed since the start, `cap` bytes have come, or `done` says the reply is enough.
/// Slow-drip and never-ending replies are bounded by `wait` and `cap`.
pub async fn read_reply<S: AsyncRead + Unpin>(
    s: &mut S,
    wait: Duration,
    idle: Duration,
    cap: usize,
    mut done: impl FnMut(&[u8]) -> bool,
) -> (Vec<u8>, Stop) {
    let deadline = Instant::now() + wait;
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 4096.min(cap.max(1))];
    loop {
        let now = Instant::now();
        if now >= deadline {
            return (buf, Stop::Deadline);
        }
        let left = deadline - now;
        let limit = if buf.is_empty() { left } else { left.min(idle) };
        match tokio::time::timeout(limit, s.read(&mut chunk)).await {
            Ok(Ok(0)) => return (buf, Stop::Closed),
            Ok(Ok(n)) => {
                let take = n.min(cap - buf.len());
                buf.extend_from_slice(&chunk[..take]);
                if buf.len() >= cap {
                    return (buf, Stop::Cap);
                }
                if done(&buf) {
                    return (buf, Stop::Matched);
                }
            }
            Ok(Err(_)) => return (buf, Stop::Error),
            Err(_) => {
                return (
                    buf,
                    if limit < left {
                        Stop::Idle
                    } else {
                        Stop::Deadline
                    },
                )
            }
        }
    }
}

/// Connect with a timeout.
pub async fn connect(addr: SocketAddr, timeout: Duration) -> std::io::Result<TcpStream> {
    match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Ok(r) => {
            let s = r?;
            let _ = s.set_nodelay(true);
            Ok(s)
        }
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "connection timed out",
        )),
    }
}

/// Identify the service on one TCP port.
pub async fn detect(addr: SocketAddr, opts: &Options) -> ServiceReport {
    detect_target(&Target::tcp(addr), opts).await
}

/// Identify many targets, at most `opts.concurrency` at once; reports come back in the order
/// of `targets`.
pub async fn detect_many(targets: Vec<Target>, opts: &Options) -> Vec<ServiceReport> {
    let sem = Arc::new(Semaphore::new(opts.concurrency.max(1)));
    let mut set = tokio::task::JoinSet::new();
    let n = targets.len();
    let mut ids = std::collections::HashMap::new();
    for (i, t) in targets.into_iter().enumerate() {
        let sem = sem.clone();
        let opts = opts.clone();
        let task_target = t.clone();
        let h = set.spawn(async move {
            let _permit = sem.acquire_owned().await;
            (i, detect_target(&task_target, &opts).await)
        });
        ids.insert(h.id(), (i, t));
    }
    let mut out: Vec<Option<ServiceReport>> = vec![None; n];
    while let Some(r) = set.join_next_with_id().await {
        match r {
            Ok((_, (i, rep))) => out[i] = Some(rep),
            Err(e) => {
                // A failed task still yields a report, so nothing else is lost or misplaced.
                if let Some((i, t)) = ids.get(&e.id()) {
                    let mut rep = ServiceReport::new(t.addr, t.transport);
                    rep.state = "error".into();
                    rep.notes.push(format!("detection failed: {e}"));
                    out[*i] = Some(rep);
                }
            }
        }
    }
    out.into_iter().flatten().collect()
}

/// Identify targets as they come, at most `opts.concurrency` at once, sending each report on
/// the returned channel as soon as it is ready (completion order). Tasks are started only
/// when a slot is free, so a long iterator costs no memory up front — what a scanner feeding
/// open ports wants.
pub fn detect_stream<I>(targets: I, opts: &Options) -> tokio::sync::mpsc::Receiver<ServiceReport>
where
    I: IntoIterator<Item = Target> + Send + 'static,
    I::IntoIter: Send,
{
    let (tx, rx) = tokio::sync::mpsc::channel(opts.concurrency.max(1));
    let opts = opts.clone();
    tokio::spawn(async move {
        let sem = Arc::new(Semaphore::new(opts.concurrency.max(1)));
        for t in targets {
            let Ok(permit) = sem.clone().acquire_owned().await else {
                return;
            };
            let tx = tx.clone();
            let opts = opts.clone();
            tokio::spawn(async move {
                let r = detect_target(&t, &opts).await;
                drop(permit);
                let _ = tx.send(r).await;
            });
        }
    });
    rx
}

/// Identify one target.
pub async fn detect_target(t: &Target, opts: &Options) -> ServiceReport {
    let mut r = match t.transport {
        Protocol::Tcp => detect_tcp(t, opts).await,
        Protocol::Udp => detect_udp(t, opts).await,
        other @ (Protocol::Sctp | Protocol::Dccp) => {
            let mut r = ServiceReport::new(t.addr, other);
            r.state = "error".into();
            r.notes.push(format!(
                "service detection over {other} is not supported (only tcp and udp)"
            ));
            return r;
        }
    };
    // The port table names only a port that said nothing: one that answered something no
    // rule knows is `unknown`, with what it said as the fingerprint.
    if r.name.is_none()
        && r.fingerprint.is_none()
        && (r.state == "open" || r.state == "open|filtered")
    {
        port_table_guess(&mut r);
    }
    r
}

fn port_table_guess(r: &mut ServiceReport) {
    let proto = r.transport;
    let reg = portolan_registry::Registry::embedded();
    if let Some(e) = reg
        .by_port(r.addr.port())
        .find(|e| e.protocol() == Some(proto) && !e.service().is_empty())
    {
        r.name = Some(e.service().to_string());
        r.confidence = Confidence::PortTable;
    }
}

fn apply(r: &mut ServiceReport, m: &Match, probe: &str) {
    // A soft match never overrides what a hard one found.
    if m.soft && r.confidence == Confidence::Matched {
        return;
    }
    r.name = Some(m.service.clone());
    r.confidence = if m.soft {
        Confidence::Soft
    } else {
        Confidence::Matched
    };
    r.product = m.product.clone().or(r.product.take());
    r.version = m.version.clone().or(r.version.take());
    r.extrainfo = m.info.clone().or(r.extrainfo.take());
    r.hostname = m.hostname.clone().or(r.hostname.take());
    if !m.cpe.is_empty() {
        r.cpe = m.cpe.clone();
    }
    r.probe = Some(probe.to_string());
}

/// Replies kept for the protocol readers and checks.
#[derive(Default)]
struct Seen {
    http: Option<Vec<u8>>,
    first: Option<String>,
    /// The first non-empty reply and the probe that drew it (for the fingerprint).
    first_raw: Option<(String, Vec<u8>)>,
}

impl Seen {
    /// The unrecognised-service fingerprint: `probe:"escaped bytes"`.
    fn fingerprint(&self) -> Option<String> {
        self.first_raw.as_ref().map(|(probe, b)| {
            format!(
                "{probe}:\"{}\"",
                crate::escape::fingerprint_text(b, FINGERPRINT_CAP)
            )
        })
    }
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    payload: &[u8],
    wait: Duration,
    opts: &Options,
    db: &ProbeDb,
    probe: &str,
) -> Vec<u8> {
    if !payload.is_empty() && s.write_all(payload).await.is_err() {
        return Vec::new();
    }
    let _ = s.flush().await;
    let (buf, _) = read_reply(s, wait, opts.idle_gap, opts.max_reply, |b| {
        // Stop early on a hard match, except HTTP: read to the close for the title.
        !b.starts_with(b"HTTP/") && db.match_reply(probe, b, None).is_some_and(|m| !m.soft)
    })
    .await;
    buf
}

fn probe_wait(p: &Probe, opts: &Options) -> Duration {
    if p.wait_ms > 0 {
        Duration::from_millis(p.wait_ms)
    } else {
        opts.probe_wait
    }
}

/// Try one reply against the rules; true when the service is identified for good.
fn consider(
    r: &mut ServiceReport,
    seen: &mut Seen,
    db: &ProbeDb,
    probe: &str,
    reply: &[u8],
) -> bool {
    if reply.is_empty() {
        return false;
    }
    // The banner is what the service said unprompted, else the reply that identified it,
    // else the first reply of all.
    if probe == "null" && r.banner.is_none() {
        r.banner = Some(capped_text(reply, BANNER_CAP));
    }
    if seen.first.is_none() {
        seen.first = Some(capped_text(reply, BANNER_CAP));
        let keep = reply.len().min(FINGERPRINT_CAP + 1);
        seen.first_raw = Some((probe.to_string(), reply[..keep].to_vec()));
    }
    if reply.starts_with(b"HTTP/") && seen.http.is_none() {
        seen.http = Some(reply.to_vec());
    }
    let only = (r.confidence == Confidence::Soft)
        .then(|| r.name.clone())
        .flatten();
    match db.match_reply(probe, reply, only.as_deref()) {
        Some(m) => {
            apply(r, &m, probe);
            if r.banner.is_none() {
                r.banner = Some(capped_text(reply, BANNER_CAP));
            }
            !m.soft
        }
        None => false,
    }
}

async fn detect_tcp(t: &Target, opts: &Options) -> ServiceReport {
    let addr = t.addr;
    let db = opts.db.clone();
    let mut r = ServiceReport::new(addr, Protocol::Tcp);
    let mut seen = Seen::default();
    let port = addr.port();

    let mut first = match connect(addr, opts.connect_timeout).await {
        Ok(s) => s,
        Err(e) => {
            r.state = match e.kind() {
                std::io::ErrorKind::ConnectionRefused => "closed".into(),
                std::io::ErrorKind::TimedOut => "filtered".into(),
                _ => "error".into(),
            };
            r.notes.push(format!("connect: {e}"));
            return r;
        }
    };

    let plan = db.plan(port, Protocol::Tcp, false, opts.intensity);
    let likely = plan.first().is_some_and(|p| p.likely_on(port, false));
    let null_wait = if likely {
        opts.banner_wait_likely
    } else {
        opts.banner_wait
    };
    let (banner, _) = read_reply(&mut first, null_wait, opts.idle_gap, opts.max_reply, |b| {
        db.match_reply("null", b, None).is_some_and(|m| !m.soft)
    })
    .await;
    drop(first);
    let mut done = consider(&mut r, &mut seen, &db, "null", &banner);
    let spoke_first = !banner.is_empty();

    if !done {
        for p in &plan {
            // A service that spoke first and is not TLS-wrapped needs no TLS attempt.
            if p.kind == ProbeKind::Tls {
                if spoke_first && !tls::looks_like_tls(&banner) {
                    continue;
                }
                let Ok(tcp) = connect(addr, opts.connect_timeout).await else {
                    break;
                };
                match tls::attempt(tcp, addr, t.sni.as_deref(), probe_wait(p, opts)).await {
                    Attempt::Tls(stream, info) => {
                        r.tunnel = Some("ssl".into());
                        r.tls = Some(info);
                        detect_in_tls(t, opts, &mut r, &mut seen, *stream).await;
                        if r.name.is_none() {
                            r.name = Some("ssl".into());
                            r.confidence = Confidence::Soft;
                            r.tunnel = None;
                        }
                        done = true;
                    }
                    Attempt::NotTls(bytes) => {
                        done = consider(&mut r, &mut seen, &db, &p.name, &bytes);
                    }
                    Attempt::TlsFailed(info) => {
                        r.notes.push(
                            info.error
                                .clone()
                                .unwrap_or_else(|| "TLS handshake failed".into()),
                        );
                        r.tunnel = Some("ssl".into());
                        r.tls = Some(info);
                        if r.name.is_none() {
                            r.name = Some("ssl".into());
                            r.confidence = Confidence::Soft;
                            r.tunnel = None;
                        }
                        done = true;
                    }
                }
            } else {
                let Ok(mut s) = connect(addr, opts.connect_timeout).await else {
                    r.notes
                        .push(format!("port closed while probing ({})", p.name));
                    break;
                };
                let reply =
                    exchange(&mut s, &p.payload, probe_wait(p, opts), opts, &db, &p.name).await;
                done = consider(&mut r, &mut seen, &db, &p.name, &reply);
            }
            if done {
                break;
            }
        }
    }
    finish(t, opts, &mut r, &seen).await;
    r
}

/// Identify what runs inside a TLS tunnel; `first` is the handshake's stream.
async fn detect_in_tls<S: AsyncRead + AsyncWrite + Unpin>(
    t: &Target,
    opts: &Options,
    r: &mut ServiceReport,
    seen: &mut Seen,
    mut first: S,
) {
    let db = opts.db.clone();
    let port = t.addr.port();
    let plan = db.plan(port, Protocol::Tcp, true, opts.intensity);
    let likely = plan.first().is_some_and(|p| p.likely_on(port, true));
    let wait = if likely {
        opts.banner_wait_likely
    } else {
        opts.banner_wait
    };
    let (banner, _) = read_reply(&mut first, wait, opts.idle_gap, opts.max_reply, |b| {
        db.match_reply("null", b, None).is_some_and(|m| !m.soft)
    })
    .await;
    drop(first);
    if consider(r, seen, &db, "null", &banner) {
        return;
    }
    for p in plan {
        let Ok(tcp) = connect(t.addr, opts.connect_timeout).await else {
            return;
        };
        let Attempt::Tls(mut s, _) =
            tls::attempt(tcp, t.addr, t.sni.as_deref(), opts.probe_wait).await
        else {
            return;
        };
        let reply = exchange(&mut *s, &p.payload, probe_wait(p, opts), opts, &db, &p.name).await;
        if consider(r, seen, &db, &p.name, &reply) {
            return;
        }
    }
}

/// Protocol readers and safe checks, once the service is named.
async fn finish(t: &Target, opts: &Options, r: &mut ServiceReport, seen: &Seen) {
    if r.banner.is_none() {
        r.banner = seen.first.clone();
    }
    if r.name.is_none() {
        r.fingerprint = seen.fingerprint();
    }
    if let Some(h) = &seen.http {
        r.http = crate::http::parse_response(h);
    }
    if r.name.as_deref() == Some("ssh") {
        let from_banner = r
            .banner
            .as_deref()
            .and_then(|b| crate::ssh::parse_ident(b.as_bytes()));
        r.ssh = if opts.ssh_algorithms && r.tunnel.is_none() {
            crate::ssh::fetch(t.addr, opts.probe_wait + opts.connect_timeout)
                .await
                .or(from_banner)
        } else {
            from_banner
        };
    }
    if r.name.as_deref() == Some("domain") && r.tunnel.is_none() {
        add_dns_identity(t, opts, r).await;
    }
    if opts.starttls && r.tunnel.is_none() && r.tls.is_none() {
        if let Some(name) = r.name.clone().filter(|n| crate::starttls::supports(n)) {
            r.tls = crate::starttls::probe(t.addr, &name, t.sni.as_deref(), opts).await;
        }
    }
    if opts.checks {
        crate::checks::run(t, opts, r).await;
    }
    r.notes.extend(hygiene_notes(r));
}

/// Ask a DNS server which instance answered (`id.server`, RFC 4892; `hostname.bind`, BIND)
/// over the target's transport, and add what it says to the extra info.
async fn add_dns_identity(t: &Target, opts: &Options, r: &mut ServiceReport) {
    let mut said: Vec<String> = Vec::new();
    for (id, name) in [(0x6964u16, "id.server"), (0x686eu16, "hostname.bind")] {
        let Some(q) = crate::dns::chaos_txt_query(id, name) else {
            continue;
        };
        let reply = match t.transport {
            Protocol::Udp => udp_exchange(t.addr, &q, opts.probe_wait).await,
            _ => {
                let Ok(mut s) = connect(t.addr, opts.connect_timeout).await else {
                    return;
                };
                if s.write_all(&crate::dns::with_tcp_length(&q)).await.is_err() {
                    return;
                }
                let (b, _) = read_reply(&mut s, opts.probe_wait, opts.idle_gap, 4096, |b| {
                    crate::dns::strip_tcp_length(b).is_some()
                })
                .await;
                crate::dns::strip_tcp_length(&b).map(<[u8]>::to_vec)
            }
        };
        let texts = reply
            .and_then(|b| crate::dns::parse_txt_answers(&b, id))
            .unwrap_or_default();
        if let Some(text) = texts.into_iter().next() {
            if !said.iter().any(|s| s.ends_with(&format!(": {text}"))) {
                said.push(format!("{name}: {text}"));
            }
        }
    }
    if said.is_empty() {
        return;
    }
    let mut parts: Vec<String> = r.extrainfo.take().into_iter().collect();
    parts.extend(said);
    r.extrainfo = Some(parts.join("; "));
}

/// One UDP request and its reply, or `None` after `wait`.
async fn udp_exchange(addr: SocketAddr, payload: &[u8], wait: Duration) -> Option<Vec<u8>> {
    let bind: SocketAddr = if addr.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = UdpSocket::bind(bind).await.ok()?;
    sock.connect(addr).await.ok()?;
    sock.send(payload).await.ok()?;
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(wait, sock.recv(&mut buf))
        .await
        .ok()?
        .ok()?;
    buf.truncate(n);
    Some(buf)
}

/// Weak SSH algorithms (RFC 9142 and RFC 8758 deprecate SHA-1 key exchange, DSA and CBC/RC4
/// ciphers; MD5 and 96-bit MACs are obsolete).
pub fn weak_ssh_algorithms(s: &crate::report::SshInfo) -> Vec<String> {
    let weak_kex = |a: &str| a.contains("sha1") || a == "diffie-hellman-group1-sha256";
    let weak_key = |a: &str| a == "ssh-dss" || a.starts_with("ssh-dss");
    let weak_cipher = |a: &str| a.ends_with("-cbc") || a.starts_with("arcfour") || a == "none";
    let weak_mac = |a: &str| a.contains("md5") || a.contains("-96") || a == "none";
    s.kex
        .iter()
        .filter(|a| weak_kex(a))
        .chain(s.host_key.iter().filter(|a| weak_key(a)))
        .chain(s.ciphers.iter().filter(|a| weak_cipher(a)))
        .chain(s.macs.iter().filter(|a| weak_mac(a)))
        .cloned()
        .collect()
}

/// Notes on TLS and SSH hygiene (not exposure findings): self-signed or expiring certificates,
/// weak SSH algorithms.
pub fn hygiene_notes(r: &ServiceReport) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(c) = r.tls.as_ref().and_then(|t| t.cert.as_ref()) {
        if c.expired {
            v.push(format!("TLS certificate expired on {}", c.not_after));
        } else if c.days_left < 30 {
            v.push(format!("TLS certificate expires in {} days", c.days_left));
        }
        if c.self_signed {
            v.push("TLS certificate is self-signed".into());
        }
    }
    if let Some(s) = &r.ssh {
        let weak = weak_ssh_algorithms(s);
        if !weak.is_empty() {
            v.push(format!(
                "SSH server offers weak algorithms: {}",
                weak.join(", ")
            ));
        }
    }
    v
}

/// What one UDP probe got.
pub(crate) enum UdpOutcome {
    Reply(Vec<u8>),
    /// ICMP port unreachable: the port is closed.
    Refused,
    /// No answer to either datagram (or the socket failed).
    Silent,
    /// The local socket could not be set up.
    Error(String),
}

/// Send one UDP probe from a socket of its own (so its answer cannot be mistaken for another
/// probe's), twice: UDP may drop the first datagram. `any_port`: the answer may come from
/// another port of the same address (TFTP); the socket is then not connected, and an ICMP
/// port unreachable is not seen (the other probes see it).
pub(crate) async fn udp_probe(
    addr: SocketAddr,
    payload: Vec<u8>,
    wait: Duration,
    max: usize,
    any_port: bool,
) -> UdpOutcome {
    let bind: SocketAddr = if addr.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = match UdpSocket::bind(bind).await {
        Ok(s) => s,
        Err(e) => return UdpOutcome::Error(format!("udp socket: {e}")),
    };
    let mut buf = vec![0u8; max];
    if any_port {
        for _ in 0..2 {
            if sock.send_to(&payload, addr).await.is_err() {
                break;
            }
            let deadline = Instant::now() + wait;
            loop {
                match tokio::time::timeout_at(deadline, sock.recv_from(&mut buf)).await {
                    Ok(Ok((n, from))) if from.ip() == addr.ip() => {
                        buf.truncate(n);
                        return UdpOutcome::Reply(buf);
                    }
                    // Someone else's datagram: not an answer; keep waiting.
                    Ok(Ok(_)) => continue,
                    Ok(Err(_)) | Err(_) => break,
                }
            }
        }
        return UdpOutcome::Silent;
    }
    if let Err(e) = sock.connect(addr).await {
        return UdpOutcome::Error(format!("udp connect: {e}"));
    }
    for _ in 0..2 {
        if sock.send(&payload).await.is_err() {
            break;
        }
        match tokio::time::timeout(wait, sock.recv(&mut buf)).await {
            Ok(Ok(n)) => {
                buf.truncate(n);
                return UdpOutcome::Reply(buf);
            }
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                return UdpOutcome::Refused;
            }
            Ok(Err(_)) | Err(_) => {}
        }
    }
    UdpOutcome::Silent
}

/// UDP probes in flight to one port at once (one socket each).
pub const UDP_PROBES_AT_ONCE: usize = 8;

/// UDP: the probes of the port's plan are sent at once (up to [`UDP_PROBES_AT_ONCE`]), each
/// from its own socket, and the answers are read as they come: a silent port costs one
/// probe's two waits whatever the number of protocols tried (up to the cap), and an answer
/// that identifies the service ends the wait for the others.
async fn detect_udp(t: &Target, opts: &Options) -> ServiceReport {
    let addr = t.addr;
    let db = opts.db.clone();
    let mut r = ServiceReport::new(addr, Protocol::Udp);
    let plan = db.plan(addr.port(), Protocol::Udp, false, opts.intensity);
    let max = opts.max_reply.clamp(512, 65_535);
    let mut set = tokio::task::JoinSet::new();
    let mut pending = plan.into_iter();
    let mut answered = false;
    let mut seen = Seen::default();
    let mut errors = Vec::new();
    // Replies to the probes whose requests are also checks' exchanges (reused by the checks).
    let mut exchanges: Vec<(String, Vec<u8>)> = Vec::new();
    loop {
        // At most UDP_PROBES_AT_ONCE sockets per port (with --concurrency ports at once, the
        // descriptors stay bounded even at --intensity 9, where a port gets every UDP probe).
        while set.len() < UDP_PROBES_AT_ONCE {
            let Some(p) = pending.next() else {
                break;
            };
            let (name, payload, wait) = (p.name.clone(), p.payload.clone(), probe_wait(p, opts));
            let any_port = p.reply_from_any_port;
            set.spawn(async move { (name, udp_probe(addr, payload, wait, max, any_port).await) });
        }
        let Some(done) = set.join_next().await else {
            break;
        };
        let Ok((probe, outcome)) = done else {
            continue;
        };
        match outcome {
            UdpOutcome::Reply(reply) => {
                answered = true;
                let done = consider(&mut r, &mut seen, &db, &probe, &reply);
                if crate::checks::UDP_EXCHANGES.contains(&probe.as_str()) {
                    exchanges.push((probe, reply));
                }
                if done {
                    break;
                }
            }
            UdpOutcome::Refused => {
                r.state = "closed".into();
                r.notes.push("ICMP port unreachable".into());
                return r;
            }
            UdpOutcome::Silent => {}
            UdpOutcome::Error(e) => errors.push(e),
        }
    }
    set.abort_all();
    if !answered && !errors.is_empty() {
        r.state = "error".into();
        errors.dedup();
        r.notes.extend(errors);
        return r;
    }
    if !answered {
        r.state = "open|filtered".into();
        r.notes
            .push("no UDP service probe was answered (the port may still be open)".into());
    } else if r.name.as_deref() == Some("domain") {
        add_dns_identity(t, opts, &mut r).await;
    } else if r.name.is_none() {
        r.fingerprint = seen.fingerprint();
        if r.banner.is_none() {
            r.banner = seen.first.clone();
        }
    } else if r.name.as_deref() == Some("snmp") {
        // What the agent told community public about itself (sysDescr, versionTag).
        if let Some((_, reply)) = exchanges
            .iter()
            .find(|(p, _)| p == crate::checks::snmp::EXCHANGE)
        {
            crate::checks::snmp::describe(reply, &mut r);
        }
    }
    // The checks are chosen by the identified service, whichever probe identified it (as over
    // TCP); a check whose exchange was one of the probes reuses that reply.
    if answered && opts.checks {
        crate::checks::run_udp(t, opts, &mut r, &exchanges).await;
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A one-shot fake server: accepts connections forever, on each runs `f`.
    async fn serve<F, Fut>(f: F) -> SocketAddr
    where
        F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let f = Arc::new(f);
        tokio::spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                let f = f.clone();
                tokio::spawn(async move { f(s).await });
            }
        });
        addr
    }

    fn fast() -> Options {
        let mut o = Options::new().unwrap();
        o.banner_wait = Duration::from_millis(300);
        o.probe_wait = Duration::from_millis(300);
        o.idle_gap = Duration::from_millis(100);
        o
    }

    #[tokio::test]
    async fn a_target_over_sctp_or_dccp_is_an_error_that_says_why() {
        for proto in [Protocol::Sctp, Protocol::Dccp] {
            let t = Target {
                addr: "127.0.0.1:9".parse().unwrap(),
                transport: proto,
                sni: None,
            };
            let r = detect_target(&t, &fast()).await;
            assert_eq!(r.state, "error");
            assert_eq!(r.transport, proto);
            assert!(r.name.is_none(), "no port-table guess for an error");
            assert!(
                r.notes
                    .iter()
                    .any(|n| n.contains(proto.as_str()) && n.contains("not supported")),
                "{:?}",
                r.notes
            );
        }
    }

    #[tokio::test]
    async fn banner_service_is_named_from_the_null_probe() {
        let addr = serve(|mut s| async move {
            let _ = s
                .write_all(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n")
                .await;
            tokio::time::sleep(Duration::from_millis(500)).await;
        })
        .await;
        let mut o = fast();
        o.ssh_algorithms = false;
        let r = detect(addr, &o).await;
        assert_eq!(r.name.as_deref(), Some("ssh"));
        assert_eq!(r.product.as_deref(), Some("OpenSSH"));
        assert_eq!(r.version.as_deref(), Some("9.2p1"));
        assert_eq!(r.probe.as_deref(), Some("null"));
        assert_eq!(r.ssh.unwrap().comments.as_deref(), Some("Debian-2+deb12u3"));
    }

    #[tokio::test]
    async fn silent_http_is_found_by_a_probe() {
        let addr = serve(|mut s| async move {
            let mut b = [0u8; 1024];
            let n = s.read(&mut b).await.unwrap_or(0);
            if b[..n].starts_with(b"GET / ") {
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nContent-Length: 30\r\n\r\n<title>lab page</title>")
                    .await;
            }
        })
        .await;
        let r = detect(addr, &fast()).await;
        assert_eq!(r.name.as_deref(), Some("http"), "{r:?}");
        assert_eq!(r.product.as_deref(), Some("nginx"));
        assert_eq!(r.version.as_deref(), Some("1.22.1"));
        assert_eq!(r.http.as_ref().unwrap().title.as_deref(), Some("lab page"));
        assert!(r.tunnel.is_none());
    }

    #[tokio::test]
    async fn closed_port_is_closed() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let r = detect(addr, &fast()).await;
        assert_eq!(r.state, "closed");
        assert!(r.name.is_none());
    }

    #[tokio::test]
    async fn never_ending_reply_is_capped() {
        let addr = serve(|mut s| async move {
            let junk = vec![0xAAu8; 8192];
            for _ in 0..10_000 {
                if s.write_all(&junk).await.is_err() {
                    return;
                }
            }
        })
        .await;
        let mut o = fast();
        o.max_reply = 10_000;
        let mut s = TcpStream::connect(addr).await.unwrap();
        let (b, stop) = read_reply(
            &mut s,
            Duration::from_secs(5),
            o.idle_gap,
            o.max_reply,
            |_| false,
        )
        .await;
        assert_eq!(b.len(), 10_000);
        assert_eq!(stop, Stop::Cap);
        let r = detect(addr, &o).await;
        assert!(r.banner.unwrap().len() <= BANNER_CAP * 3);
    }

    #[tokio::test]
    async fn slow_drip_is_cut_by_the_deadline() {
        let addr = serve(|mut s| async move {
            for _ in 0..1000 {
                if s.write_all(b"x").await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        let (b, stop) = read_reply(
            &mut s,
            Duration::from_millis(300),
            Duration::from_millis(100),
            1 << 20,
            |_| false,
        )
        .await;
        assert_eq!(stop, Stop::Deadline);
        assert!(b.len() < 100, "{}", b.len());
    }

    #[tokio::test]
    async fn detect_many_keeps_order_and_bounds_concurrency() {
        let a = serve(|mut s| async move {
            let _ = s.write_all(b"220 (vsFTPd 3.0.3)\r\n").await;
            tokio::time::sleep(Duration::from_millis(300)).await;
        })
        .await;
        let b = serve(|mut s| async move {
            let _ = s.write_all(b"+OK Dovecot (Debian) ready.\r\n").await;
            tokio::time::sleep(Duration::from_millis(300)).await;
        })
        .await;
        let mut o = fast();
        o.checks = false;
        o.concurrency = 1;
        let rs = detect_many(vec![Target::tcp(a), Target::tcp(b), Target::tcp(a)], &o).await;
        let names: Vec<_> = rs
            .iter()
            .map(|r| r.name.clone().unwrap_or_default())
            .collect();
        assert_eq!(names, vec!["ftp", "pop3", "ftp"]);
        assert_eq!(rs[0].version.as_deref(), Some("3.0.3"));
    }

    #[tokio::test]
    async fn tls_service_is_unwrapped_and_probed_inside() {
        let acceptor = crate::tls::test_acceptor("lab.test");
        let addr = serve(move |s| {
            let acceptor = acceptor.clone();
            async move {
                let Ok(mut t) = acceptor.accept(s).await else {
                    return;
                };
                let mut b = [0u8; 1024];
                let n = t.read(&mut b).await.unwrap_or(0);
                if b[..n].starts_with(b"GET ") {
                    let _ = t
                        .write_all(b"HTTP/1.1 200 OK\r\nServer: lighttpd/1.4.69\r\n\r\n")
                        .await;
                    let _ = t.shutdown().await;
                }
            }
        })
        .await;
        let r = detect(addr, &fast()).await;
        assert_eq!(r.tunnel.as_deref(), Some("ssl"), "{r:?}");
        assert_eq!(r.display_name(), "ssl/http");
        assert_eq!(r.product.as_deref(), Some("lighttpd"));
        let tls = r.tls.unwrap();
        assert_eq!(tls.protocol.as_deref(), Some("TLSv1.3"));
        let cert = tls.cert.unwrap();
        assert!(cert.self_signed);
        assert_eq!(cert.sans, vec!["DNS:lab.test"]);
    }

    #[test]
    fn hygiene() {
        let mut r = ServiceReport::new("127.0.0.1:22".parse().unwrap(), Protocol::Tcp);
        assert!(hygiene_notes(&r).is_empty());
        r.ssh = Some(crate::report::SshInfo {
            kex: vec![
                "curve25519-sha256".into(),
                "diffie-hellman-group14-sha1".into(),
            ],
            host_key: vec!["ssh-ed25519".into(), "ssh-dss".into()],
            ciphers: vec!["aes128-ctr".into(), "aes128-cbc".into()],
            macs: vec!["hmac-sha2-256".into(), "hmac-md5-96".into()],
            ..Default::default()
        });
        r.tls = Some(crate::report::TlsInfo {
            cert: Some(crate::report::CertInfo {
                self_signed: true,
                days_left: 3,
                ..Default::default()
            }),
            ..Default::default()
        });
        let n = hygiene_notes(&r);
        assert_eq!(n.len(), 3, "{n:?}");
        assert!(
            n[2].contains("diffie-hellman-group14-sha1, ssh-dss, aes128-cbc, hmac-md5-96"),
            "{n:?}"
        );
    }

    #[tokio::test]
    async fn detect_stream_reports_every_target() {
        let a = serve(|mut s| async move {
            let _ = s.write_all(b"220 (vsFTPd 3.0.3)\r\n").await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        })
        .await;
        let mut o = fast();
        o.checks = false;
        o.concurrency = 2;
        let mut rx = detect_stream(vec![Target::tcp(a); 5], &o);
        let mut n = 0;
        while let Some(r) = rx.recv().await {
            assert_eq!(r.name.as_deref(), Some("ftp"));
            n += 1;
        }
        assert_eq!(n, 5);
    }

    #[tokio::test]
    async fn tls_only_server_refusing_our_versions_is_reported_as_ssl() {
        // Answers any ClientHello with a fatal protocol_version alert, as a TLS 1.0-only
        // server does.
        let addr = serve(|mut s| async move {
            let mut b = [0u8; 2048];
            let n = s.read(&mut b).await.unwrap_or(0);
            if n > 0 && b[0] == 0x16 {
                let _ = s.write_all(b"\x15\x03\x01\x00\x02\x02\x46").await;
            }
        })
        .await;
        let r = detect(addr, &fast()).await;
        assert_eq!(r.name.as_deref(), Some("ssl"), "{r:?}");
        assert!(r.tls.unwrap().error.is_some());
    }

    #[tokio::test]
    async fn soft_match_then_a_probe_finds_the_product() {
        let db = ProbeDb::from_toml(
            r#"
[[probe]]
name = "null"
rarity = 0
[[probe]]
name = "hello"
payload = 'HELLO\r\n'
rarity = 1
[[match]]
service = "toy"
soft = true
pattern = '^TOY '
[[match]]
probes = ["hello"]
service = "toy"
pattern = '^TOY ready\r\nHI toyd/(\d+)'
product = "toyd"
version = "$1"
"#,
        )
        .unwrap();
        let addr = serve(|mut s| async move {
            let _ = s.write_all(b"TOY ready\r\n").await;
            let mut b = [0u8; 64];
            let n = s.read(&mut b).await.unwrap_or(0);
            if b[..n].starts_with(b"HELLO") {
                let _ = s.write_all(b"HI toyd/7\r\n").await;
            }
        })
        .await;
        let mut o = Options::with_db(Arc::new(db));
        o.banner_wait = Duration::from_millis(300);
        o.probe_wait = Duration::from_millis(300);
        o.idle_gap = Duration::from_millis(100);
        let r = detect(addr, &o).await;
        assert_eq!(r.confidence, Confidence::Matched, "{r:?}");
        assert_eq!(r.product.as_deref(), Some("toyd"));
        assert_eq!(r.version.as_deref(), Some("7"));
        assert_eq!(r.probe.as_deref(), Some("hello"));
    }

    /// A DNS server's answer to a CHAOS TXT query `q` (RFC 1035 §4.1): BIND's defaults for
    /// version.bind and hostname.bind, RFC 4892's id.server.
    fn chaos_answer(q: &[u8]) -> Vec<u8> {
        let text: &[u8] = if q.windows(7).any(|w| w == b"version") {
            b"9.18.28-1~deb12u2-Debian"
        } else {
            b"ns1.lab"
        };
        let mut m = q.to_vec();
        m[2] = 0x84;
        m[3] = 0x00;
        m[7] = 1;
        m.extend_from_slice(&[0xc0, 0x0c, 0x00, 0x10, 0x00, 0x03, 0, 0, 0, 0]);
        m.extend_from_slice(&((text.len() + 1) as u16).to_be_bytes());
        m.push(text.len() as u8);
        m.extend_from_slice(text);
        m
    }

    #[tokio::test]
    async fn dns_over_udp_and_tcp_gives_version_and_instance() {
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let uaddr = udp.local_addr().unwrap();
        tokio::spawn(async move {
            let mut b = [0u8; 512];
            while let Ok((n, from)) = udp.recv_from(&mut b).await {
                let _ = udp.send_to(&chaos_answer(&b[..n]), from).await;
            }
        });
        let taddr = serve(|mut s| async move {
            let mut b = [0u8; 512];
            let n = s.read(&mut b).await.unwrap_or(0);
            if n > 2 {
                let a = chaos_answer(&b[2..n]);
                let _ = s.write_all(&crate::dns::with_tcp_length(&a)).await;
            }
        })
        .await;
        let mut o = fast();
        o.checks = false;
        for t in [Target::udp(uaddr), Target::tcp(taddr)] {
            let r = detect_target(&t, &o).await;
            assert_eq!(r.name.as_deref(), Some("domain"), "{r:?}");
            assert_eq!(r.product.as_deref(), Some("ISC BIND"), "{r:?}");
            assert_eq!(r.version.as_deref(), Some("9.18.28"));
            assert_eq!(
                r.extrainfo.as_deref(),
                Some("1~deb12u2-Debian; id.server: ns1.lab"),
                "{t:?}"
            );
        }
    }

    #[tokio::test]
    async fn an_unrecognised_udp_answer_is_unknown_with_a_fingerprint() {
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = udp.local_addr().unwrap();
        tokio::spawn(async move {
            let mut b = [0u8; 512];
            while let Ok((_, from)) = udp.recv_from(&mut b).await {
                let _ = udp.send_to(b"\x7fHELLO", from).await;
            }
        });
        let r = detect_target(&Target::udp(addr), &fast()).await;
        assert_eq!(r.state, "open", "it answered: {r:?}");
        assert!(r.name.is_none(), "{r:?}");
        assert!(
            r.fingerprint
                .as_deref()
                .is_some_and(|f| f.ends_with(r#":"\x7fHELLO""#)),
            "{r:?}"
        );
    }

    #[tokio::test]
    async fn an_irc_greeting_names_the_service_and_registering_reads_the_version() {
        // RFC 2812: a NOTICE on connect; after NICK/USER, 004 RPL_MYINFO names the daemon.
        let addr = serve(|mut s| async move {
            let _ = s
                .write_all(b":irc.lab NOTICE * :*** Looking up your hostname...\r\n")
                .await;
            let mut b = [0u8; 256];
            let n = s.read(&mut b).await.unwrap_or(0);
            if b[..n].starts_with(b"NICK ") {
                let _ = s
                    .write_all(b":irc.lab 001 portolan :Welcome\r\n:irc.lab 004 portolan irc.lab ngircd-26.1 abc def\r\n")
                    .await;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        })
        .await;
        let mut o = fast();
        o.checks = false;
        o.intensity = 6;
        let r = detect(addr, &o).await;
        assert_eq!(r.name.as_deref(), Some("irc"), "{r:?}");
        assert_eq!(r.product.as_deref(), Some("ngIRCd"), "{r:?}");
        assert_eq!(r.version.as_deref(), Some("26.1"));
        assert_eq!(r.confidence, Confidence::Matched);
    }

    #[tokio::test]
    async fn a_text_admin_protocol_on_an_unlisted_port_is_named_by_its_version_command() {
        // gearman.org/protocol, "Administrative Protocol": text lines; "version" answers
        // "OK <version>", an unknown command "ERR <code> <text>". gearmand drops the "\r"
        // before "\n". Here on a port no probe lists.
        let addr = serve(|mut s| async move {
            let mut b = [0u8; 512];
            while let Ok(n) = s.read(&mut b).await {
                if n == 0 {
                    return;
                }
                let line = String::from_utf8_lossy(&b[..n]).to_string();
                let reply: &[u8] = if line.trim_end() == "version" {
                    b"OK 1.1.20\n"
                } else {
                    b"ERR UNKNOWN_COMMAND Unknown+server+command\n"
                };
                if s.write_all(reply).await.is_err() {
                    return;
                }
            }
        })
        .await;
        let r = detect(addr, &fast()).await;
        assert_eq!(r.name.as_deref(), Some("gearman"), "{r:?}");
        assert_eq!(r.version.as_deref(), Some("1.1.20"), "{r:?}");
        assert_eq!(r.confidence, Confidence::Matched);
        assert!(
            r.findings.iter().any(|f| f.id == "gearman-no-auth"),
            "a job server that answered is open to any client: {r:?}"
        );
    }

    #[tokio::test]
    async fn sip_over_udp_on_an_unlisted_port_is_named() {
        // RFC 3261 §8.2.6 / §11: a 200 OK to OPTIONS, with the Via, From, To, Call-ID and CSeq
        // of the request; Kamailio's default server_header (core cookbook, "server_header").
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = udp.local_addr().unwrap();
        tokio::spawn(async move {
            let mut b = [0u8; 2048];
            while let Ok((n, from)) = udp.recv_from(&mut b).await {
                if !b[..n].starts_with(b"OPTIONS sip:") {
                    continue; // a SIP proxy drops what is not SIP
                }
                let reply = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP portolan.invalid;rport=40000;branch=z9hG4bK-portolan;received=127.0.0.1\r\nFrom: <sip:portolan@portolan.invalid>;tag=portolan\r\nTo: <sip:portolan@portolan.invalid>;tag=a6a1c5f60faecf035a1ae5b6e96e979a-2a61\r\nCall-ID: portolan-options@portolan.invalid\r\nCSeq: 1 OPTIONS\r\nAllow: INVITE, ACK, BYE, CANCEL, OPTIONS\r\nServer: kamailio (5.6.3 (x86_64/linux))\r\nContent-Length: 0\r\n\r\n";
                let _ = udp.send_to(reply, from).await;
            }
        });
        let mut o = fast();
        o.checks = false;
        let r = detect_target(&Target::udp(addr), &o).await;
        assert_eq!(r.state, "open", "{r:?}");
        assert_eq!(r.name.as_deref(), Some("sip"), "{r:?}");
        assert_eq!(r.product.as_deref(), Some("kamailio"), "{r:?}");
        assert_eq!(r.version.as_deref(), Some("5.6.3"), "{r:?}");
    }

    #[tokio::test]
    async fn a_udp_ports_probes_go_out_together_before_any_retry() {
        // A silent port: every probe of the plan is sent before any is sent again, so the
        // wait does not grow with the number of protocols tried.
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = udp.local_addr().unwrap();
        let got = Arc::new(std::sync::Mutex::new(Vec::<Vec<u8>>::new()));
        let log = got.clone();
        tokio::spawn(async move {
            let mut b = [0u8; 2048];
            while let Ok((n, _)) = udp.recv_from(&mut b).await {
                log.lock().unwrap().push(b[..n].to_vec());
            }
        });
        let mut o = fast();
        o.checks = false;
        let r = detect_target(&Target::udp(addr), &o).await;
        assert_eq!(r.state, "open|filtered", "{r:?}");
        let plan = o.db.plan(addr.port(), Protocol::Udp, false, o.intensity);
        assert!(plan.len() >= 4, "{}", plan.len());
        let got = got.lock().unwrap().clone();
        assert_eq!(got.len(), 2 * plan.len(), "each probe twice");
        let first: std::collections::HashSet<&Vec<u8>> = got[..plan.len()].iter().collect();
        assert_eq!(
            first.len(),
            plan.len(),
            "a retry came before every probe was sent once"
        );
    }

    #[tokio::test]
    async fn every_udp_probe_goes_out_at_intensity_9_a_bounded_number_at_once() {
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = udp.local_addr().unwrap();
        let got = Arc::new(std::sync::Mutex::new(Vec::<Vec<u8>>::new()));
        let log = got.clone();
        tokio::spawn(async move {
            let mut b = [0u8; 2048];
            while let Ok((n, _)) = udp.recv_from(&mut b).await {
                log.lock().unwrap().push(b[..n].to_vec());
            }
        });
        let mut o = fast();
        o.checks = false;
        o.intensity = 9;
        let r = detect_target(&Target::udp(addr), &o).await;
        assert_eq!(r.state, "open|filtered", "{r:?}");
        let plan = o.db.plan(addr.port(), Protocol::Udp, false, 9);
        assert!(plan.len() > UDP_PROBES_AT_ONCE, "{}", plan.len());
        let got = got.lock().unwrap().clone();
        let distinct: std::collections::HashSet<&Vec<u8>> = got.iter().collect();
        let payloads: std::collections::HashSet<&Vec<u8>> =
            plan.iter().map(|p| &p.payload).collect();
        assert_eq!(distinct, payloads, "every probe of the plan was sent");
        // Before any probe is sent again, exactly the first round went out: no more at once.
        let mut before_retry = std::collections::HashSet::new();
        for d in &got {
            if !before_retry.insert(d) {
                break;
            }
        }
        assert_eq!(
            before_retry.len(),
            UDP_PROBES_AT_ONCE,
            "probes in flight at once"
        );
    }

    #[tokio::test]
    async fn a_tftp_answer_from_a_new_port_is_read() {
        // RFC 1350 §4: the server answers from a transfer identifier (port) of its own; a
        // read request for a missing file gets ERROR (opcode 5) code 1 "File not found".
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = udp.local_addr().unwrap();
        tokio::spawn(async move {
            let mut b = [0u8; 2048];
            while let Ok((n, from)) = udp.recv_from(&mut b).await {
                if b[..n].starts_with(b"\x00\x01") {
                    let tid = UdpSocket::bind("127.0.0.1:0").await.unwrap();
                    let _ = tid
                        .send_to(b"\x00\x05\x00\x01File not found\x00", from)
                        .await;
                }
            }
        });
        let mut o = fast();
        o.checks = false;
        let r = detect_target(&Target::udp(addr), &o).await;
        assert_eq!(r.state, "open", "{r:?}");
        assert_eq!(r.name.as_deref(), Some("tftp"), "{r:?}");
    }

    #[tokio::test]
    async fn closed_udp_port_is_closed() {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = s.local_addr().unwrap();
        drop(s);
        let r = detect_target(&Target::udp(addr), &fast()).await;
        assert_eq!(r.state, "closed", "{r:?}");
    }

    /// Bind a loopback port the IANA registry names for TCP (so a table guess would have a
    /// name to take), trying a few in case one is busy.
    async fn registered_listener() -> Option<(TcpListener, String)> {
        let reg = portolan_registry::Registry::embedded();
        for port in [
            2121u16, 8008, 8880, 9418, 3689, 4369, 5222, 6000, 8009, 9100,
        ] {
            let Some(name) = reg
                .by_port(port)
                .find(|e| e.protocol() == Some(Protocol::Tcp) && !e.service().is_empty())
                .map(|e| e.service().to_string())
            else {
                continue;
            };
            if let Ok(l) = TcpListener::bind(("127.0.0.1", port)).await {
                return Some((l, name));
            }
        }
        None
    }

    #[tokio::test]
    async fn an_unrecognised_banner_is_unknown_with_a_fingerprint_not_the_port_table_name() {
        let Some((l, table_name)) = registered_listener().await else {
            eprintln!("SKIPPED: every candidate registered port is busy");
            return;
        };
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let _ = s.write_all(b"MYSTERY-PROTO 0.1 ready\r\n\x1b[2J").await;
                    tokio::time::sleep(Duration::from_millis(400)).await;
                });
            }
        });
        let mut o = fast();
        o.intensity = 1;
        let r = detect(addr, &o).await;
        assert_eq!(r.state, "open");
        assert!(r.name.is_none(), "took {:?} (table: {table_name})", r.name);
        assert_eq!(r.display_name(), "unknown");
        assert_eq!(r.confidence, Confidence::Unknown);
        assert_eq!(
            r.fingerprint.as_deref(),
            Some(r#"null:"MYSTERY-PROTO 0.1 ready\r\n\x1b[2J""#)
        );
    }

    #[tokio::test]
    async fn a_silent_service_on_a_registered_port_is_a_marked_guess() {
        let Some((l, table_name)) = registered_listener().await else {
            eprintln!("SKIPPED: every candidate registered port is busy");
            return;
        };
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let mut b = [0u8; 64];
                    while s.read(&mut b).await.unwrap_or(0) > 0 {}
                });
            }
        });
        let mut o = fast();
        o.intensity = 1;
        o.checks = false;
        let r = detect(addr, &o).await;
        assert_eq!(r.name.as_deref(), Some(table_name.as_str()));
        assert_eq!(r.confidence, Confidence::PortTable);
        assert_eq!(r.display_name(), format!("{table_name}?"));
        assert!(r.fingerprint.is_none());
    }

    #[tokio::test]
    async fn unknown_silent_service_falls_back_to_the_port_table() {
        let addr = serve(|mut s| async move {
            let mut b = [0u8; 64];
            while s.read(&mut b).await.unwrap_or(0) > 0 {}
        })
        .await;
        let mut o = fast();
        o.intensity = 1;
        let r = detect(addr, &o).await;
        assert_eq!(r.state, "open");
        assert_ne!(r.confidence, Confidence::Matched);
    }
}
