//! The kernel's routing, neighbour and link tables through `NETLINK_ROUTE` (Linux), as
//! `ip route get`, `ip neigh` and `ip link` read them.
//!
//! - [`route_get`]: `RTM_GETROUTE` for one destination — the output interface, the next hop
//!   (`None` when the destination is on the link itself) and the preferred source address.
//! - [`neighbour`]: the link address of a next hop from the neighbour table (`RTM_GETNEIGH`
//!   dump, IPv4 ARP and IPv6 ND alike), only in a usable state (see [`USABLE_STATES`]). Nothing
//!   is sent to resolve a missing entry.
//! - [`link`]: an interface's link address, MTU and link type (`RTM_GETLINK`).
//! - [`addresses`]: every address of one family with its interface and prefix length
//!   (`RTM_GETADDR` dump, as `ip addr` shows them): the directly connected subnets.
//!
//! The parsers ([`parse_route`], [`parse_neighbours`], [`parse_link`], [`parse_addresses`]) are pure functions over
//! the received bytes, bounds-checked and never panicking (property-tested and fuzzed): the
//! bytes come from the kernel, but are treated as untrusted. The I/O functions open one
//! short-lived socket per question.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use portolan_netlink::{
    self as nl, attrs, check_error, u16_at, u32_at, Request, NETLINK_ROUTE, NLMSG_DONE,
    NLMSG_ERROR, NLM_F_DUMP, NLM_F_REQUEST,
};
const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const RTM_NEWROUTE: u16 = 24;
const RTM_GETROUTE: u16 = 26;
const RTM_NEWNEIGH: u16 = 28;
const RTM_GETNEIGH: u16 = 30;
const RTMSG_LEN: usize = 12;
const NDMSG_LEN: usize = 12;
const IFINFOMSG_LEN: usize = 16;
const IFADDRMSG_LEN: usize = 8;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_PREFSRC: u16 = 7;
const NDA_DST: u16 = 1;
const NDA_LLADDR: u16 = 2;
const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;

/// `ARPHRD_ETHER`: Ethernet and everything that frames like it (veth, bridges, bonds, VLANs).
pub const ARPHRD_ETHER: u16 = 1;
/// `ARPHRD_LOOPBACK`.
pub const ARPHRD_LOOPBACK: u16 = 772;

/// Neighbour states whose link address can be used: REACHABLE, STALE, DELAY, PROBE, NOARP,
/// PERMANENT (not INCOMPLETE or FAILED).
pub const USABLE_STATES: u16 = 0x02 | 0x04 | 0x08 | 0x10 | 0x40 | 0x80;

/// Route types (`rtm_type`) a probe can follow: unicast and local.
const RTN_UNICAST: u8 = 1;
const RTN_LOCAL: u8 = 2;

/// Errors of the netlink route queries: the shared netlink errors, and a route probes cannot
/// follow.
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    #[error(transparent)]
    Netlink(#[from] nl::Error),
    #[error("no usable route to {dst} (route type {kind})")]
    Unroutable { dst: IpAddr, kind: u8 },
}

/// The kernel's route to one destination.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// Output interface index.
    pub ifindex: u32,
    /// Output interface name (empty when the kernel did not say and the index has no name).
    pub ifname: String,
    /// The next hop, `None` when the destination is on the link (or local).
    pub gateway: Option<IpAddr>,
    /// The preferred source address (`src` in `ip route get`).
    pub source: Option<IpAddr>,
    /// Route type (`RTN_*`): 1 unicast, 2 local.
    pub kind: u8,
}

impl Route {
    /// The address whose link address the first hop needs: the gateway, or the destination
    /// itself when it is on the link.
    pub fn next_hop(&self, dst: IpAddr) -> IpAddr {
        self.gateway.unwrap_or(dst)
    }
}

/// One neighbour table entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Neighbour {
    pub ifindex: u32,
    pub ip: IpAddr,
    /// Link address; `None` when the entry has none (e.g. INCOMPLETE).
    pub lladdr: Option<Vec<u8>>,
    /// `NUD_*` bits.
    pub state: u16,
}

/// What the kernel says about one interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub ifindex: u32,
    pub name: String,
    /// `ARPHRD_*`: [`ARPHRD_ETHER`] for Ethernet and veth.
    pub kind: u16,
    /// Link address (6 bytes on Ethernet).
    pub address: Option<Vec<u8>>,
    pub mtu: Option<u32>,
}

impl Link {
    /// The Ethernet address, when this is an Ethernet-type link with one.
    pub fn ether(&self) -> Option<[u8; 6]> {
        if self.kind != ARPHRD_ETHER {
            return None;
        }
        self.address.as_deref().and_then(|a| a.try_into().ok())
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing (pure, never panics)

/// A netlink message: type, sequence number, payload.
type Msg<'a> = (u16, u32, &'a [u8]);

/// Split a datagram into netlink messages. A truncated or out-of-bounds message anywhere in the
/// datagram is an error.
fn messages(buf: &[u8]) -> Result<Vec<Msg<'_>>, NetlinkError> {
    nl::messages(buf)
        .map(|m| {
            m.map(|m| (m.kind, m.seq, m.payload))
                .map_err(NetlinkError::from)
        })
        .collect()
}

fn ip_from(family: u8, v: &[u8]) -> Option<IpAddr> {
    match (i32::from(family), v.len()) {
        (libc::AF_INET, 4) => Some(IpAddr::V4(Ipv4Addr::new(v[0], v[1], v[2], v[3]))),
        (libc::AF_INET6, 16) => {
            let mut a = [0u8; 16];
            a.copy_from_slice(v);
            Some(IpAddr::V6(Ipv6Addr::from(a)))
        }
        _ => None,
    }
}

/// Parse the answer to an `RTM_GETROUTE` request of sequence number `seq`. `Ok(None)` when the
/// datagram holds nothing for that request (read on). The interface name is left empty.
pub fn parse_route(buf: &[u8], seq: u32) -> Result<Option<Route>, NetlinkError> {
    for (typ, mseq, p) in messages(buf)? {
        if mseq != seq {
            continue;
        }
        match typ {
            NLMSG_ERROR => check_error(p)?,
            RTM_NEWROUTE => {
                if p.len() < RTMSG_LEN {
                    return Err(nl::Error::Malformed(format!(
                        "rtmsg of {} bytes, expected {RTMSG_LEN}",
                        p.len()
                    ))
                    .into());
                }
                let family = p[0];
                let kind = p[7];
                let mut r = Route {
                    ifindex: 0,
                    ifname: String::new(),
                    gateway: None,
                    source: None,
                    kind,
                };
                for a in attrs(&p[RTMSG_LEN..]) {
                    let nl::Attr { kind: t, value: v } = a?;
                    match t {
                        RTA_OIF => r.ifindex = u32_at(v, 0).unwrap_or(0),
                        RTA_GATEWAY => r.gateway = ip_from(family, v),
                        RTA_PREFSRC => r.source = ip_from(family, v),
                        _ => {}
                    }
                }
                return Ok(Some(r));
            }
            _ => {}
        }
    }
    Ok(None)
}

/// What one datagram of a dump held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dump<T> {
    pub items: Vec<T>,
    /// `NLMSG_DONE` was seen: the dump is complete.
    pub done: bool,
}

/// One datagram of a dump of sequence number `seq`: every message of type `kind` (at least
/// `min_len` bytes, else it is a malformed `what`) is read by `item`, which may skip it.
fn parse_dump<T>(
    buf: &[u8],
    seq: u32,
    kind: u16,
    min_len: usize,
    what: &str,
    mut item: impl FnMut(&[u8]) -> Result<Option<T>, NetlinkError>,
) -> Result<Dump<T>, NetlinkError> {
    let mut out = Dump {
        items: Vec::new(),
        done: false,
    };
    for (typ, mseq, p) in messages(buf)? {
        if mseq != seq {
            continue;
        }
        match typ {
            NLMSG_DONE => {
                out.done = true;
                return Ok(out);
            }
            NLMSG_ERROR => check_error(p)?,
            t if t == kind => {
                if p.len() < min_len {
                    return Err(nl::Error::Malformed(format!(
                        "{what} of {} bytes, expected {min_len}",
                        p.len()
                    ))
                    .into());
                }
                if let Some(x) = item(p)? {
                    out.items.push(x);
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Parse one datagram of an `RTM_GETNEIGH` dump of sequence number `seq`.
pub fn parse_neighbours(buf: &[u8], seq: u32) -> Result<Dump<Neighbour>, NetlinkError> {
    parse_dump(buf, seq, RTM_NEWNEIGH, NDMSG_LEN, "ndmsg", |p| {
        let family = p[0];
        let ifindex = u32_at(p, 4).unwrap_or(0);
        let state = u16_at(p, 8).unwrap_or(0);
        let (mut ip, mut lladdr) = (None, None);
        for a in attrs(&p[NDMSG_LEN..]) {
            let nl::Attr { kind: t, value: v } = a?;
            match t {
                NDA_DST => ip = ip_from(family, v),
                NDA_LLADDR => lladdr = Some(v.to_vec()),
                _ => {}
            }
        }
        Ok(ip.map(|ip| Neighbour {
            ifindex,
            ip,
            lladdr,
            state,
        }))
    })
}

/// One address of an interface (`ip addr`): the subnet `addr/prefix_len` is on its link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IfAddr {
    pub ifindex: u32,
    /// The local address (`IFA_LOCAL`, else `IFA_ADDRESS`).
    pub addr: IpAddr,
    pub prefix_len: u8,
}

/// Parse one datagram of an `RTM_GETADDR` dump of sequence number `seq`.
pub fn parse_addresses(buf: &[u8], seq: u32) -> Result<Dump<IfAddr>, NetlinkError> {
    parse_dump(buf, seq, RTM_NEWADDR, IFADDRMSG_LEN, "ifaddrmsg", |p| {
        // struct ifaddrmsg: family, prefixlen, flags, scope, index
        let family = p[0];
        let prefix_len = p[1];
        let ifindex = u32_at(p, 4).unwrap_or(0);
        let (mut local, mut address) = (None, None);
        for a in attrs(&p[IFADDRMSG_LEN..]) {
            let nl::Attr { kind: t, value: v } = a?;
            match t {
                IFA_LOCAL => local = ip_from(family, v),
                IFA_ADDRESS => address = ip_from(family, v),
                _ => {}
            }
        }
        Ok(local.or(address).and_then(|addr| {
            let max = if addr.is_ipv4() { 32 } else { 128 };
            (prefix_len <= max).then_some(IfAddr {
                ifindex,
                addr,
                prefix_len,
            })
        }))
    })
}

/// Parse the answer to an `RTM_GETLINK` request of sequence number `seq`. `Ok(None)` when the
/// datagram holds nothing for that request.
pub fn parse_link(buf: &[u8], seq: u32) -> Result<Option<Link>, NetlinkError> {
    for (typ, mseq, p) in messages(buf)? {
        if mseq != seq {
            continue;
        }
        match typ {
            NLMSG_ERROR => check_error(p)?,
            RTM_NEWLINK => {
                if p.len() < IFINFOMSG_LEN {
                    return Err(nl::Error::Malformed(format!(
                        "ifinfomsg of {} bytes, expected {IFINFOMSG_LEN}",
                        p.len()
                    ))
                    .into());
                }
                let mut l = Link {
                    kind: u16_at(p, 2).unwrap_or(0),
                    ifindex: u32_at(p, 4).unwrap_or(0),
                    name: String::new(),
                    address: None,
                    mtu: None,
                };
                for a in attrs(&p[IFINFOMSG_LEN..]) {
                    let nl::Attr { kind: t, value: v } = a?;
                    match t {
                        IFLA_ADDRESS => l.address = Some(v.to_vec()),
                        IFLA_IFNAME => {
                            let v = v.split(|&c| c == 0).next().unwrap_or(&[]);
                            l.name = String::from_utf8_lossy(v).into_owned();
                        }
                        IFLA_MTU => l.mtu = u32_at(v, 0),
                        _ => {}
                    }
                }
                return Ok(Some(l));
            }
            _ => {}
        }
    }
    Ok(None)
}

// ---------------------------------------------------------------------------------------------
// Requests

fn family_of(ip: IpAddr) -> u8 {
    match ip {
        IpAddr::V4(_) => libc::AF_INET as u8,
        IpAddr::V6(_) => libc::AF_INET6 as u8,
    }
}

fn ip_bytes(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// The bytes of an `RTM_GETROUTE` request for `dst` (optionally out of interface `oif`).
pub fn route_request(dst: IpAddr, oif: Option<u32>, seq: u32) -> Vec<u8> {
    let mut b = Request::new(RTM_GETROUTE, NLM_F_REQUEST, seq);
    let dst_len = if dst.is_ipv4() { 32 } else { 128 };
    // struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags
    b.push(&[family_of(dst), dst_len, 0, 0, 0, 0, 0, 0]);
    b.push(&0u32.to_ne_bytes());
    b.attr(RTA_DST, &ip_bytes(dst));
    if let Some(i) = oif {
        b.attr(RTA_OIF, &i.to_ne_bytes());
    }
    b.finish()
}

/// The bytes of an `RTM_GETNEIGH` dump request for one family.
pub fn neighbour_request(v6: bool, seq: u32) -> Vec<u8> {
    let mut b = Request::new(RTM_GETNEIGH, NLM_F_REQUEST | NLM_F_DUMP, seq);
    let family = if v6 { libc::AF_INET6 } else { libc::AF_INET } as u8;
    // struct ndmsg: family, pad, pad, ifindex, state, flags, type
    b.push(&[family, 0, 0, 0]);
    b.push(&[0u8; 8]);
    b.finish()
}

/// The bytes of an `RTM_GETADDR` dump request for one family.
pub fn address_request(v6: bool, seq: u32) -> Vec<u8> {
    let mut b = Request::new(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, seq);
    let family = if v6 { libc::AF_INET6 } else { libc::AF_INET } as u8;
    // struct ifaddrmsg: family, prefixlen, flags, scope, index
    b.push(&[family, 0, 0, 0]);
    b.push(&0u32.to_ne_bytes());
    b.finish()
}

/// The bytes of an `RTM_GETLINK` request for one interface.
pub fn link_request(ifindex: u32, seq: u32) -> Vec<u8> {
    let mut b = Request::new(RTM_GETLINK, NLM_F_REQUEST, seq);
    // struct ifinfomsg: family, pad, type, index, flags, change
    b.push(&[libc::AF_UNSPEC as u8, 0, 0, 0]);
    b.push(&ifindex.to_ne_bytes());
    b.push(&[0u8; 8]);
    b.finish()
}

// ---------------------------------------------------------------------------------------------
// I/O

/// A fresh `NETLINK_ROUTE` socket. The kernel answers at once; a bound keeps a confused kernel
/// from hanging the scan.
fn socket() -> Result<nl::Socket, NetlinkError> {
    Ok(nl::Socket::open(NETLINK_ROUTE, TIMEOUT)?)
}

const TIMEOUT: Duration = Duration::from_secs(2);
const SEQ: u32 = 0x706c_0001;
const RECV_BUF: usize = 64 * 1024;
/// Datagrams read before giving up on an answer that never comes.
const MAX_READS: usize = 4096;

/// The kernel's route to `dst`, as `ip route get DST [oif IFINDEX]` shows it. Unicast and local
/// routes only: an unreachable, blackhole or prohibit route is [`NetlinkError::Unroutable`],
/// and no route at all is the kernel's `ENETUNREACH`.
pub fn route_get(dst: IpAddr, oif: Option<u32>) -> Result<Route, NetlinkError> {
    let req = route_request(dst, oif, SEQ);
    let mut r = socket()?.exchange(&req, RECV_BUF, MAX_READS, |got| parse_route(got, SEQ))?;
    if r.kind != RTN_UNICAST && r.kind != RTN_LOCAL {
        return Err(NetlinkError::Unroutable { dst, kind: r.kind });
    }
    if r.ifname.is_empty() {
        r.ifname = ifname(r.ifindex).unwrap_or_default();
    }
    Ok(r)
}

/// Every neighbour table entry of one family.
pub fn neighbours(v6: bool) -> Result<Vec<Neighbour>, NetlinkError> {
    let req = neighbour_request(v6, SEQ);
    socket()?.collect(&req, RECV_BUF, MAX_READS, |got| {
        parse_neighbours(got, SEQ).map(|d| (d.items, d.done))
    })
}

/// The link address of `ip` on interface `ifindex` from the kernel's neighbour table, when the
/// entry is in a usable state ([`USABLE_STATES`]) and is an Ethernet address. Sends nothing.
pub fn neighbour(ifindex: u32, ip: IpAddr) -> Result<Option<[u8; 6]>, NetlinkError> {
    Ok(pick_neighbour(&neighbours(ip.is_ipv6())?, ifindex, ip))
}

/// The usable Ethernet address of `ip` on `ifindex` among `entries`.
pub fn pick_neighbour(entries: &[Neighbour], ifindex: u32, ip: IpAddr) -> Option<[u8; 6]> {
    entries
        .iter()
        .filter(|n| n.ifindex == ifindex && n.ip == ip && n.state & USABLE_STATES != 0)
        .find_map(|n| n.lladdr.as_deref().and_then(|a| a.try_into().ok()))
}

/// Every address of one family, with its interface and prefix length.
pub fn addresses(v6: bool) -> Result<Vec<IfAddr>, NetlinkError> {
    let req = address_request(v6, SEQ);
    socket()?.collect(&req, RECV_BUF, MAX_READS, |got| {
        parse_addresses(got, SEQ).map(|d| (d.items, d.done))
    })
}

/// What the kernel says about interface `ifindex`.
pub fn link(ifindex: u32) -> Result<Link, NetlinkError> {
    let req = link_request(ifindex, SEQ);
    socket()?.exchange(&req, RECV_BUF, MAX_READS, |got| parse_link(got, SEQ))
}

/// The index of the interface called `name`.
pub fn ifindex(name: &str) -> Option<u32> {
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: c is a valid NUL-terminated string.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (i != 0).then_some(i)
}

/// The name of interface `ifindex`.
pub fn ifname(ifindex: u32) -> Option<String> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: buf has IF_NAMESIZE bytes, as if_indextoname requires.
    let p = unsafe { libc::if_indextoname(ifindex, buf.as_mut_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: on success if_indextoname wrote a NUL-terminated name into buf.
    let s = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
    Some(s.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use portolan_netlink::{push_attr as attr, NLMSG_HDR};
    use proptest::prelude::*;

    fn msg(typ: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut b = Request::new(typ, 0, seq);
        b.push(payload);
        b.finish()
    }

    fn route_reply(seq: u32) -> Vec<u8> {
        let mut p = vec![libc::AF_INET as u8, 32, 0, 0, 254, 0, 0, RTN_UNICAST];
        p.extend_from_slice(&0u32.to_ne_bytes());
        attr(&mut p, RTA_DST, &[10, 77, 1, 2]);
        attr(&mut p, RTA_OIF, &7u32.to_ne_bytes());
        attr(&mut p, RTA_GATEWAY, &[10, 78, 0, 2]);
        attr(&mut p, RTA_PREFSRC, &[10, 78, 0, 1]);
        msg(RTM_NEWROUTE, seq, &p)
    }

    #[test]
    fn route_reply_parses() {
        let r = parse_route(&route_reply(5), 5).unwrap().unwrap();
        assert_eq!(r.ifindex, 7);
        assert_eq!(r.gateway, Some("10.78.0.2".parse().unwrap()));
        assert_eq!(r.source, Some("10.78.0.1".parse().unwrap()));
        assert_eq!(r.kind, RTN_UNICAST);
        assert_eq!(
            r.next_hop("10.77.1.2".parse().unwrap()),
            "10.78.0.2".parse::<IpAddr>().unwrap()
        );
        // Another request's answer is not ours.
        assert_eq!(parse_route(&route_reply(5), 6).unwrap(), None);
    }

    #[test]
    fn kernel_error_is_reported() {
        let mut p = (-libc::ENETUNREACH).to_ne_bytes().to_vec();
        p.extend_from_slice(&[0u8; 16]);
        let e = parse_route(&msg(NLMSG_ERROR, 1, &p), 1).unwrap_err();
        match e {
            NetlinkError::Netlink(nl::Error::Kernel(e)) => {
                assert_eq!(e.raw_os_error(), Some(libc::ENETUNREACH))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn neighbour_dump_parses_and_filters_states() {
        let entry = |ip: [u8; 4], state: u16, mac: &[u8]| {
            let mut p = vec![libc::AF_INET as u8, 0, 0, 0];
            p.extend_from_slice(&3u32.to_ne_bytes());
            p.extend_from_slice(&state.to_ne_bytes());
            p.extend_from_slice(&[0, 1]);
            attr(&mut p, NDA_DST, &ip);
            attr(&mut p, NDA_LLADDR, mac);
            msg(RTM_NEWNEIGH, 9, &p)
        };
        let mut buf = entry([10, 0, 0, 1], 0x80, &[2, 0, 0, 0, 0, 1]);
        buf.extend(entry([10, 0, 0, 2], 0x20, &[2, 0, 0, 0, 0, 2])); // FAILED
        buf.extend(entry([10, 0, 0, 3], 0x04, &[2, 0, 0, 0, 0, 3])); // STALE
        buf.extend(msg(NLMSG_DONE, 9, &[0, 0, 0, 0]));
        let d = parse_neighbours(&buf, 9).unwrap();
        assert!(d.done);
        assert_eq!(d.items.len(), 3);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            pick_neighbour(&d.items, 3, ip("10.0.0.1")),
            Some([2, 0, 0, 0, 0, 1])
        );
        assert_eq!(pick_neighbour(&d.items, 3, ip("10.0.0.2")), None);
        assert_eq!(
            pick_neighbour(&d.items, 3, ip("10.0.0.3")),
            Some([2, 0, 0, 0, 0, 3])
        );
        assert_eq!(pick_neighbour(&d.items, 4, ip("10.0.0.1")), None);
    }

    #[test]
    fn link_reply_parses() {
        let mut p = vec![0, 0];
        p.extend_from_slice(&ARPHRD_ETHER.to_ne_bytes());
        p.extend_from_slice(&4u32.to_ne_bytes());
        p.extend_from_slice(&[0u8; 8]);
        attr(&mut p, IFLA_IFNAME, b"veth0\0");
        attr(&mut p, IFLA_MTU, &1500u32.to_ne_bytes());
        attr(&mut p, IFLA_ADDRESS, &[2, 1, 2, 3, 4, 5]);
        let l = parse_link(&msg(RTM_NEWLINK, 2, &p), 2).unwrap().unwrap();
        assert_eq!(l.name, "veth0");
        assert_eq!(l.ifindex, 4);
        assert_eq!(l.mtu, Some(1500));
        assert_eq!(l.ether(), Some([2, 1, 2, 3, 4, 5]));
    }

    #[test]
    fn address_dump_parses() {
        let entry = |family: i32, plen: u8, idx: u32, local: Option<&[u8]>, addr: &[u8]| {
            let mut p = vec![family as u8, plen, 0, 0];
            p.extend_from_slice(&idx.to_ne_bytes());
            attr(&mut p, IFA_ADDRESS, addr);
            if let Some(l) = local {
                attr(&mut p, IFA_LOCAL, l);
            }
            msg(RTM_NEWADDR, 3, &p)
        };
        // A point-to-point address: IFA_ADDRESS is the peer, IFA_LOCAL ours.
        let mut buf = entry(libc::AF_INET, 24, 5, Some(&[10, 0, 0, 1]), &[10, 0, 0, 9]);
        let v6: [u8; 16] = "fd79::1".parse::<std::net::Ipv6Addr>().unwrap().octets();
        buf.extend(entry(libc::AF_INET6, 64, 6, None, &v6));
        // A prefix longer than the family allows: skipped.
        buf.extend(entry(libc::AF_INET, 33, 5, None, &[10, 0, 0, 2]));
        buf.extend(msg(NLMSG_DONE, 3, &[0, 0, 0, 0]));
        let d = parse_addresses(&buf, 3).unwrap();
        assert!(d.done);
        assert_eq!(
            d.items,
            vec![
                IfAddr {
                    ifindex: 5,
                    addr: "10.0.0.1".parse().unwrap(),
                    prefix_len: 24
                },
                IfAddr {
                    ifindex: 6,
                    addr: "fd79::1".parse().unwrap(),
                    prefix_len: 64
                },
            ]
        );
        assert_eq!(parse_addresses(&buf, 4).unwrap().items, vec![]);
        assert_eq!(address_request(false, 1).len(), NLMSG_HDR + IFADDRMSG_LEN);
        // This machine's loopback address is in the live dump.
        let live = addresses(false).unwrap();
        assert!(live
            .iter()
            .any(|a| a.addr == "127.0.0.1".parse::<IpAddr>().unwrap() && a.prefix_len == 8));
    }

    #[test]
    fn requests_are_well_formed() {
        let r = route_request("10.77.0.1".parse().unwrap(), Some(3), 4);
        assert_eq!(u32_at(&r, 0).unwrap() as usize, r.len());
        assert_eq!(r.len(), NLMSG_HDR + RTMSG_LEN + 8 + 8);
        let n = neighbour_request(true, 1);
        assert_eq!(n.len(), NLMSG_HDR + NDMSG_LEN);
        assert_eq!(link_request(1, 1).len(), NLMSG_HDR + IFINFOMSG_LEN);
    }

    #[test]
    fn truncated_and_lying_lengths_are_errors() {
        let good = route_reply(1);
        for cut in 0..good.len() {
            // Never a panic; a cut message is an error or nothing.
            let _ = parse_route(&good[..cut], 1);
        }
        let mut bad = good.clone();
        bad[0..4].copy_from_slice(&1000u32.to_ne_bytes());
        assert!(parse_route(&bad, 1).is_err());
        let mut bad = good;
        // The first attribute claims 200 bytes.
        bad[NLMSG_HDR + RTMSG_LEN..NLMSG_HDR + RTMSG_LEN + 2]
            .copy_from_slice(&200u16.to_ne_bytes());
        assert!(parse_route(&bad, 1).is_err());
    }

    #[test]
    fn live_loopback_route_and_link() {
        // Asks this machine's kernel (no packet is sent): 127.0.0.1 is local, out of lo.
        let r = route_get("127.0.0.1".parse().unwrap(), None).unwrap();
        assert_eq!(r.kind, RTN_LOCAL);
        assert_eq!(r.ifname, "lo");
        assert_eq!(r.gateway, None);
        assert_eq!(r.source, Some("127.0.0.1".parse().unwrap()));
        let l = link(r.ifindex).unwrap();
        assert_eq!(l.name, "lo");
        assert_eq!(l.kind, ARPHRD_LOOPBACK);
        assert_eq!(l.ether(), None);
        assert!(l.mtu.unwrap() > 1500);
        assert_eq!(ifindex("lo"), Some(r.ifindex));
        // The dump works (whatever it holds) and has no entry for an address nobody has.
        let n = neighbour(r.ifindex, "127.0.0.1".parse().unwrap()).unwrap();
        assert_eq!(n, None);
    }

    proptest! {
        #[test]
        fn parsers_never_panic(buf in proptest::collection::vec(any::<u8>(), 0..512), seq in 0u32..4) {
            let _ = parse_route(&buf, seq);
            let _ = parse_neighbours(&buf, seq);
            let _ = parse_link(&buf, seq);
            let _ = parse_addresses(&buf, seq);
        }

        #[test]
        fn mutated_replies_never_panic(at in 0usize..64, val in any::<u8>(), cut in 0usize..80) {
            let mut b = route_reply(1);
            if at < b.len() { b[at] = val; }
            let cut = cut.min(b.len());
            let _ = parse_route(&b[..cut], 1);
            let _ = parse_route(&b, 1);
            // The same bytes read as other message kinds.
            let _ = parse_neighbours(&b, 1);
            let _ = parse_link(&b, 1);
        }
    }
}
