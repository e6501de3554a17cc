//! NFS exports readable without authentication, asked as `showmount -e` does.
//!
//! On an identified portmapper (rpcbind) — or on NFS, through the portmapper on port 111 of
//! the same host, or on MOUNT itself when a rule named it — over TCP with `AUTH_NULL` (RFC 5531 §9, record marking
//! §11): `PMAPPROC_GETPORT` for the MOUNT program 100005 version 3 over TCP (RFC 1833 §3.2), then
//! on that port `MOUNTPROC3_EXPORT` (RFC 1813 Appendix I §5.2.5), which lists each export and
//! the clients (groups) allowed to mount it. Nothing is mounted.
//!
//! An export is open when its group list is empty or holds `*`, `0.0.0.0/0` or `::/0` (anyone),
//! or an address or network that contains the scanner's own address (this scanner may mount
//! it): `nfs-exports-open`. Other exports are listed in a note. Host names, netgroups (`@name`)
//! and wildcard names are not resolved: they never make an export open.
//!
//! The parsers are bounded and fuzzed (`fuzz/fuzz_targets/nocred.rs`).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::checks::finding;
use crate::engine::{connect, Options};
use crate::report::{ServiceReport, Severity};

/// Exports read, at most.
pub const MAX_EXPORTS: usize = 256;
/// Groups read per export, at most.
pub const MAX_GROUPS: usize = 64;
/// Longest path or group name (RFC 1813: MNTPATHLEN 1024, MNTNAMLEN 255).
const MAX_NAME: usize = 1024;
/// Largest RPC reply read.
pub const MAX_REPLY: usize = 256 * 1024;

const PMAP_PROG: u32 = 100_000;
const MOUNT_PROG: u32 = 100_005;

/// One export: its path and the clients allowed to mount it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    pub dir: String,
    pub groups: Vec<String>,
}

/// An RPC call over TCP (one record, last fragment), credentials and verifier `AUTH_NULL`.
pub fn call(xid: u32, prog: u32, vers: u32, proc_: u32, args: &[u32]) -> Vec<u8> {
    let mut words = vec![xid, 0, 2, prog, vers, proc_, 0, 0, 0, 0];
    words.extend_from_slice(args);
    let mut v = Vec::with_capacity(4 + words.len() * 4);
    v.extend((0x8000_0000u32 | (words.len() as u32 * 4)).to_be_bytes());
    for w in words {
        v.extend(w.to_be_bytes());
    }
    v
}

/// A bounded XDR reader (RFC 4506).
struct Xdr<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Xdr<'a> {
    fn u32(&mut self) -> Option<u32> {
        let v = u32::from_be_bytes(self.b.get(self.pos..self.pos + 4)?.try_into().ok()?);
        self.pos += 4;
        Some(v)
    }
    fn opaque(&mut self, max: usize) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        if n > max {
            return None;
        }
        let v = self.b.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n.div_ceil(4) * 4;
        Some(v)
    }
    fn string(&mut self) -> Option<String> {
        let b = self.opaque(MAX_NAME)?;
        Some(
            String::from_utf8_lossy(b)
                .chars()
                .filter(|c| !c.is_control())
                .collect(),
        )
    }
}

/// The results of an accepted, successful reply to `xid` (record marks removed): `None` for
/// anything else (a denied call, an error, another xid).
pub fn results(reply: &[u8], xid: u32) -> Option<&[u8]> {
    let mut x = Xdr { b: reply, pos: 0 };
    if x.u32()? != xid || x.u32()? != 1 || x.u32()? != 0 {
        return None;
    }
    let _flavor = x.u32()?;
    x.opaque(400)?; // verifier body
    if x.u32()? != 0 {
        return None; // accept_stat != SUCCESS
    }
    reply.get(x.pos..)
}

/// The port from a GETPORT reply's results (0: not registered).
pub fn parse_getport(results: &[u8]) -> Option<u16> {
    let p = u32::from_be_bytes(results.get(..4)?.try_into().ok()?);
    u16::try_from(p).ok()
}

/// The export list from an EXPORT reply's results.
pub fn parse_exports(results: &[u8]) -> Option<Vec<Export>> {
    let mut x = Xdr { b: results, pos: 0 };
    let mut out = Vec::new();
    while x.u32()? == 1 {
        if out.len() >= MAX_EXPORTS {
            break;
        }
        let dir = x.string()?;
        let mut groups = Vec::new();
        while x.u32()? == 1 {
            let g = x.string()?;
            if groups.len() < MAX_GROUPS {
                groups.push(g);
            } else if groups.len() >= MAX_GROUPS * 4 {
                return None;
            }
        }
        out.push(Export { dir, groups });
    }
    Some(out)
}

/// Whether `group` (an `exports(5)` client: `*`, an address, `addr/prefix` or
/// `addr/netmask`) admits `me`.
pub fn admits(group: &str, me: IpAddr) -> bool {
    let g = group.trim();
    if g == "*" || g == "(everyone)" || g == "(anyone)" {
        return true;
    }
    let (addr, mask) = g.split_once('/').unwrap_or((g, ""));
    let Ok(net) = addr.parse::<IpAddr>() else {
        return false;
    };
    let bits = match (net, me) {
        (IpAddr::V4(_), IpAddr::V4(_)) => 32u32,
        (IpAddr::V6(_), IpAddr::V6(_)) => 128,
        _ => return false,
    };
    let prefix = if mask.is_empty() {
        bits
    } else if let Ok(p) = mask.parse::<u32>() {
        p
    } else if let Ok(IpAddr::V4(m)) = mask.parse::<IpAddr>() {
        u32::from(m).leading_ones()
    } else {
        return false;
    };
    if prefix > bits {
        return false;
    }
    let to_u128 = |a: IpAddr| match a {
        IpAddr::V4(a) => u128::from(u32::from(a)) << 96,
        IpAddr::V6(a) => u128::from(a),
    };
    let keep = if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - prefix)
    };
    to_u128(net) & keep == to_u128(me) & keep
}

impl Export {
    /// Open to this scanner: no group (anyone), or one that admits `me`.
    pub fn open_to(&self, me: IpAddr) -> bool {
        self.groups.is_empty() || self.groups.iter().any(|g| admits(g, me))
    }
    fn describe(&self) -> String {
        if self.groups.is_empty() {
            format!("{} (everyone)", self.dir)
        } else {
            format!("{} ({})", self.dir, self.groups.join(" "))
        }
    }
}

/// Send one call, read one record (all its fragments, at most [`MAX_REPLY`] bytes).
async fn rpc(s: &mut TcpStream, req: &[u8], wait: Duration) -> Option<Vec<u8>> {
    tokio::time::timeout(wait, async {
        s.write_all(req).await.ok()?;
        let mut out = Vec::new();
        loop {
            let mut h = [0u8; 4];
            s.read_exact(&mut h).await.ok()?;
            let mark = u32::from_be_bytes(h);
            let len = (mark & 0x7fff_ffff) as usize;
            if out.len() + len > MAX_REPLY {
                return None;
            }
            let start = out.len();
            out.resize(start + len, 0);
            s.read_exact(&mut out[start..]).await.ok()?;
            if mark & 0x8000_0000 != 0 {
                return Some(out);
            }
        }
    })
    .await
    .ok()
    .flatten()
}

/// The exports of the MOUNT service registered with the portmapper at `addr`, and the address
/// this scanner reached it from.
async fn exports(addr: SocketAddr, opts: &Options) -> Option<(Vec<Export>, IpAddr, u16)> {
    let wait = opts.probe_wait;
    let mut s = connect(addr, opts.connect_timeout).await.ok()?;
    let xid = 0x706f_7201;
    let req = call(xid, PMAP_PROG, 2, 3, &[MOUNT_PROG, 3, 6, 0]);
    let reply = rpc(&mut s, &req, wait).await?;
    let port = parse_getport(results(&reply, xid)?)?;
    if port == 0 {
        return None;
    }
    drop(s);
    exports_at(SocketAddr::new(addr.ip(), port), opts).await
}

/// The exports a MOUNT v3 server at `mountd` lists.
async fn exports_at(mountd: SocketAddr, opts: &Options) -> Option<(Vec<Export>, IpAddr, u16)> {
    let mut s = connect(mountd, opts.connect_timeout).await.ok()?;
    let me = s.local_addr().ok()?.ip();
    let xid = 0x706f_7202;
    let reply = rpc(&mut s, &call(xid, MOUNT_PROG, 3, 5, &[]), opts.probe_wait).await?;
    Some((parse_exports(results(&reply, xid)?)?, me, mountd.port()))
}

/// Where the check starts, by the service identified on the port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The port is the portmapper: ask it where MOUNT is.
    Portmapper,
    /// The port is NFS: ask the host's portmapper on port 111.
    Nfs,
    /// The port is MOUNT itself.
    Mountd,
}

pub async fn check(addr: SocketAddr, via: Via, opts: &Options, r: &mut ServiceReport) {
    let budget = opts.connect_timeout * 2 + opts.probe_wait * 2;
    let found = match via {
        Via::Portmapper => tokio::time::timeout(budget, exports(addr, opts)).await,
        Via::Nfs => {
            let pmap = SocketAddr::new(addr.ip(), 111);
            tokio::time::timeout(budget, exports(pmap, opts)).await
        }
        Via::Mountd => tokio::time::timeout(budget, exports_at(addr, opts)).await,
    };
    let Ok(Some((list, me, port))) = found else {
        return;
    };
    report(&list, me, port, r);
}

fn report(list: &[Export], me: IpAddr, port: u16, r: &mut ServiceReport) {
    if list.is_empty() {
        r.notes
            .push(format!("NFS: mountd (port {port}) lists no exports"));
        return;
    }
    let (open, other): (Vec<&Export>, Vec<&Export>) = list.iter().partition(|e| e.open_to(me));
    if !other.is_empty() {
        let l: Vec<String> = other.iter().take(16).map(|e| e.describe()).collect();
        r.notes.push(format!(
            "NFS exports listed without authentication (mountd port {port}), not open to {me}: {}",
            l.join(", ")
        ));
    }
    if !open.is_empty() {
        let l: Vec<String> = open.iter().take(16).map(|e| e.describe()).collect();
        let ev = format!("MOUNTPROC3_EXPORT (mountd port {port}): {}", l.join(", "));
        r.findings.push(finding(
            "nfs-exports-open",
            Severity::High,
            "NFS exports mountable by anyone (or by this scanner's network) without authentication",
            ev.as_bytes(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    fn xdr_string(v: &mut Vec<u8>, s: &str) {
        v.extend((s.len() as u32).to_be_bytes());
        v.extend(s.as_bytes());
        while v.len() % 4 != 0 {
            v.push(0);
        }
    }

    /// An accepted, successful reply with `body` as results, record-marked.
    fn reply(xid: u32, body: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        for w in [xid, 1, 0, 0, 0, 0] {
            v.extend(w.to_be_bytes());
        }
        v.extend_from_slice(body);
        let mut out = (0x8000_0000u32 | v.len() as u32).to_be_bytes().to_vec();
        out.extend(v);
        out
    }

    fn export_list(list: &[(&str, &[&str])]) -> Vec<u8> {
        let mut v = Vec::new();
        for (dir, groups) in list {
            v.extend(1u32.to_be_bytes());
            xdr_string(&mut v, dir);
            for g in *groups {
                v.extend(1u32.to_be_bytes());
                xdr_string(&mut v, g);
            }
            v.extend(0u32.to_be_bytes());
        }
        v.extend(0u32.to_be_bytes());
        v
    }

    #[test]
    fn calls_are_record_marked_auth_null() {
        let c = call(7, PMAP_PROG, 2, 3, &[MOUNT_PROG, 3, 6, 0]);
        assert_eq!(c.len(), 4 + 14 * 4);
        assert_eq!(&c[..4], &(0x8000_0000u32 | 56).to_be_bytes());
        assert_eq!(&c[4..8], &7u32.to_be_bytes());
    }

    #[test]
    fn export_lists_are_read_and_judged() {
        let body = export_list(&[
            ("/srv/pub", &[]),
            ("/srv/lan", &["10.1.0.0/16"]),
            ("/srv/star", &["*"]),
            ("/home", &["192.168.1.5", "@admins", "*.example.com"]),
            ("/srv/mask", &["127.0.0.0/255.0.0.0"]),
        ]);
        let r = reply(9, &body);
        let list = parse_exports(results(&r[4..], 9).unwrap()).unwrap();
        assert_eq!(list.len(), 5);
        let me: IpAddr = "10.1.2.3".parse().unwrap();
        let open: Vec<&str> = list
            .iter()
            .filter(|e| e.open_to(me))
            .map(|e| e.dir.as_str())
            .collect();
        assert_eq!(open, ["/srv/pub", "/srv/lan", "/srv/star"]);
        assert!(list[4].open_to("127.0.0.1".parse().unwrap()));
        assert!(!list[3].open_to("192.168.1.6".parse().unwrap()));
        assert!(results(&r[4..], 8).is_none(), "another xid");
        for n in 0..body.len() {
            let _ = parse_exports(&body[..n]);
        }
    }

    #[test]
    fn admits_reads_exports_forms() {
        let me: IpAddr = "192.0.2.10".parse().unwrap();
        assert!(admits("*", me));
        assert!(admits("0.0.0.0/0", me));
        assert!(admits("192.0.2.0/24", me));
        assert!(admits("192.0.2.10", me));
        assert!(!admits("192.0.2.11", me));
        assert!(!admits("192.0.3.0/24", me));
        assert!(!admits("192.0.2.0/33", me));
        assert!(!admits("::/0", me));
        assert!(admits("::/0", "2001:db8::1".parse().unwrap()));
        assert!(!admits("host.example", me));
        assert!(!admits("@netgroup", me));
    }

    /// A portmapper whose GETPORT answers `mountd`'s port, and a mountd that lists exports.
    async fn fake_nfs(list: Vec<u8>) -> (SocketAddr, SocketAddr) {
        let mountd = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let maddr = mountd.local_addr().unwrap();
        let mport = maddr.port();
        let pmap = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = pmap.local_addr().unwrap();
        async fn serve(l: TcpListener, answer: impl Fn(u32, u32, u32) -> Vec<u8> + Send + 'static) {
            while let Ok((mut s, _)) = l.accept().await {
                let mut b = vec![0u8; 512];
                let Ok(n) = s.read(&mut b).await else {
                    continue;
                };
                let w = |i: usize| u32::from_be_bytes(b[4 + i * 4..8 + i * 4].try_into().unwrap());
                if n < 44 {
                    continue;
                }
                let _ = s.write_all(&answer(w(0), w(3), w(5))).await;
            }
        }
        tokio::spawn(serve(pmap, move |xid, prog, proc_| {
            assert_eq!((prog, proc_), (PMAP_PROG, 3));
            reply(xid, &u32::from(mport).to_be_bytes())
        }));
        tokio::spawn(serve(mountd, move |xid, prog, proc_| {
            assert_eq!((prog, proc_), (MOUNT_PROG, 5));
            reply(xid, &list)
        }));
        (addr, maddr)
    }

    #[tokio::test]
    async fn an_export_open_to_everyone_is_flagged_and_a_restricted_one_noted() {
        let (addr, _) = fake_nfs(export_list(&[
            ("/srv/pub", &["*"]),
            ("/srv/lan", &["10.9.0.0/16"]),
        ]))
        .await;
        let mut r = ServiceReport::new(addr, portolan_registry::Protocol::Tcp);
        check(
            addr,
            Via::Portmapper,
            &crate::checks::testutil::opts(),
            &mut r,
        )
        .await;
        assert_eq!(r.findings.len(), 1, "{r:?}");
        assert_eq!(r.findings[0].id, "nfs-exports-open");
        assert!(r.findings[0].evidence.contains("/srv/pub (*)"), "{r:?}");
        assert!(
            r.notes.iter().any(|n| n.contains("/srv/lan (10.9.0.0/16)")),
            "{r:?}"
        );
    }

    #[tokio::test]
    async fn restricted_exports_are_not_flagged() {
        let (addr, mountd) = fake_nfs(export_list(&[("/srv/lan", &["10.9.0.0/16"])])).await;
        let mut r = ServiceReport::new(addr, portolan_registry::Protocol::Tcp);
        check(
            addr,
            Via::Portmapper,
            &crate::checks::testutil::opts(),
            &mut r,
        )
        .await;
        assert!(r.findings.is_empty(), "{r:?}");
        assert_eq!(r.notes.len(), 1, "{r:?}");
        // Asked on MOUNT itself: the same list.
        let mut m = ServiceReport::new(mountd, portolan_registry::Protocol::Tcp);
        check(
            mountd,
            Via::Mountd,
            &crate::checks::testutil::opts(),
            &mut m,
        )
        .await;
        assert_eq!(m.notes, r.notes);
    }

    proptest::proptest! {
        #[test]
        fn parsers_never_panic(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600), xid in 0u32..3) {
            if let Some(res) = results(&b, xid) {
                let _ = parse_getport(res);
                if let Some(l) = parse_exports(res) {
                    proptest::prop_assert!(l.len() <= MAX_EXPORTS);
                    for e in l {
                        proptest::prop_assert!(e.groups.len() <= MAX_GROUPS);
                    }
                }
            }
            if let Some(l) = parse_exports(&b) {
                proptest::prop_assert!(l.len() <= MAX_EXPORTS);
            }
        }
    }
}
