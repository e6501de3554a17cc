//! Socket enumeration through netlink `NETLINK_SOCK_DIAG` (inet_diag), as `ss` does it.
//!
//! One dump request per (protocol, family): listening TCP sockets (state mask `1 << TCP_LISTEN`)
//! and unconnected UDP sockets (`1 << TCP_CLOSE`). The kernel answers with `inet_diag_msg`
//! records followed by attributes; for IPv6 sockets the `INET_DIAG_SKV6ONLY` attribute says
//! whether IPV6_V6ONLY is set. [`parse_messages`] is a pure function over the received bytes
//! (bounds-checked, never panics: fuzzed and property-tested); [`dump`] does the I/O. The
//! netlink plumbing (socket, receive loop, `nlmsghdr` and attribute walkers) is shared with
//! `portolan-scan` through [`portolan_netlink`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use portolan_netlink::{
    self as nl, attrs, check_done, check_error, messages, Request, NLMSG_DONE, NLMSG_ERROR,
    NLMSG_NOOP, NLM_F_DUMP, NLM_F_MULTI, NLM_F_REQUEST,
};
use portolan_registry::Protocol;

use crate::procnet::wanted_state;
use crate::socket::{Family, Socket};

/// `NETLINK_SOCK_DIAG` from `<linux/netlink.h>`.
pub const NETLINK_SOCK_DIAG: i32 = nl::NETLINK_SOCK_DIAG;
/// `SOCK_DIAG_BY_FAMILY` from `<linux/sock_diag.h>`.
pub const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// `INET_DIAG_SKV6ONLY` attribute type.
pub const INET_DIAG_SKV6ONLY: u16 = 11;

const NLMSG_HDR: usize = nl::NLMSG_HDR;
const REQ_LEN: usize = 56;
/// Size of `struct inet_diag_msg`.
pub const DIAG_MSG_LEN: usize = 72;

/// Errors of the netlink path (the shared crate's). Any of them makes the caller fall back to
/// `/proc/net`.
pub use portolan_netlink::Error as NetlinkError;

fn family_code(f: Family) -> u8 {
    match f {
        Family::Ipv4 => libc::AF_INET as u8,
        Family::Ipv6 => libc::AF_INET6 as u8,
    }
}

fn proto_code(p: Protocol) -> u8 {
    match p {
        Protocol::Udp => libc::IPPROTO_UDP as u8,
        _ => libc::IPPROTO_TCP as u8,
    }
}

/// The bytes of one `SOCK_DIAG_BY_FAMILY` dump request.
pub fn build_request(protocol: Protocol, family: Family, seq: u32) -> Vec<u8> {
    let mut b = Request::new(SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, seq);
    // struct inet_diag_req_v2: family, protocol, idiag_ext (SKV6ONLY comes without asking), pad
    b.push(&[family_code(family), proto_code(protocol), 0, 0]);
    let states: u32 = 1 << wanted_state(protocol);
    b.push(&states.to_ne_bytes());
    b.push(&[0u8; 48]); // struct inet_diag_sockid: match everything
    let b = b.finish();
    debug_assert_eq!(b.len(), NLMSG_HDR + REQ_LEN);
    b
}

/// What one received datagram held.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Batch {
    pub sockets: Vec<Socket>,
    /// `NLMSG_DONE` was seen: the dump is complete.
    pub done: bool,
}

/// Parse the netlink messages of one datagram answering a dump for `protocol`. Messages of
/// other sequence numbers are ignored; an `NLMSG_ERROR` with a non-zero code is an error.
pub fn parse_messages(buf: &[u8], protocol: Protocol, seq: u32) -> Result<Batch, NetlinkError> {
    let mut out = Batch::default();
    for m in messages(buf) {
        let m = m?;
        if m.seq != seq {
            continue;
        }
        match m.kind {
            NLMSG_DONE => {
                // Some kernels put an errno in the DONE payload.
                check_done(m.payload)?;
                out.done = true;
                return Ok(out);
            }
            NLMSG_ERROR => check_error(m.payload)?,
            NLMSG_NOOP => {}
            SOCK_DIAG_BY_FAMILY => {
                if let Some(s) = parse_diag_msg(m.payload, protocol)? {
                    out.sockets.push(s);
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Parse one `inet_diag_msg` and its attributes. `Ok(None)` for a family that is neither
/// AF_INET nor AF_INET6.
pub fn parse_diag_msg(p: &[u8], protocol: Protocol) -> Result<Option<Socket>, NetlinkError> {
    if p.len() < DIAG_MSG_LEN {
        return Err(NetlinkError::Malformed(format!(
            "inet_diag_msg of {} bytes, expected at least {DIAG_MSG_LEN}",
            p.len()
        )));
    }
    let family = match i32::from(p[0]) {
        libc::AF_INET => Family::Ipv4,
        libc::AF_INET6 => Family::Ipv6,
        _ => return Ok(None),
    };
    let port = u16::from_be_bytes([p[4], p[5]]);
    let mut a = [0u8; 16];
    a.copy_from_slice(&p[8..24]);
    let address = match family {
        Family::Ipv4 => IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3])),
        Family::Ipv6 => IpAddr::V6(Ipv6Addr::from(a)),
    };
    let interface = u32::from_ne_bytes([p[40], p[41], p[42], p[43]]);
    let uid = u32::from_ne_bytes([p[64], p[65], p[66], p[67]]);
    let inode = u32::from_ne_bytes([p[68], p[69], p[70], p[71]]);
    let mut v6only = None;
    for a in attrs(&p[DIAG_MSG_LEN..]) {
        let a = a?;
        if a.kind == INET_DIAG_SKV6ONLY {
            if let Some(&v) = a.value.first() {
                v6only = Some(v != 0);
            }
        }
    }
    if family == Family::Ipv4 {
        v6only = None;
    }
    Ok(Some(Socket {
        protocol,
        family,
        address,
        port,
        inode: u64::from(inode),
        uid,
        v6only,
        interface,
    }))
}

/// Encode one `SOCK_DIAG_BY_FAMILY` answer as the kernel would send it (the inverse of
/// [`parse_diag_msg`]): for tests, property tests and fuzz seeds.
pub fn encode_diag_message(seq: u32, s: &Socket) -> Vec<u8> {
    let mut p = vec![0u8; DIAG_MSG_LEN];
    p[0] = family_code(s.family);
    p[1] = wanted_state(s.protocol);
    p[4..6].copy_from_slice(&s.port.to_be_bytes());
    match s.address {
        IpAddr::V4(a) => p[8..12].copy_from_slice(&a.octets()),
        IpAddr::V6(a) => p[8..24].copy_from_slice(&a.octets()),
    }
    p[40..44].copy_from_slice(&s.interface.to_ne_bytes());
    p[64..68].copy_from_slice(&s.uid.to_ne_bytes());
    p[68..72].copy_from_slice(&(s.inode as u32).to_ne_bytes());
    if let Some(v) = s.v6only {
        p.extend_from_slice(&5u16.to_ne_bytes());
        p.extend_from_slice(&INET_DIAG_SKV6ONLY.to_ne_bytes());
        p.extend_from_slice(&[u8::from(v), 0, 0, 0]);
    }
    let mut m = Request::new(SOCK_DIAG_BY_FAMILY, NLM_F_MULTI, seq);
    m.push(&p);
    m.finish()
}

/// Encode `NLMSG_DONE` for `seq` (tests and fuzz seeds).
pub fn encode_done(seq: u32) -> Vec<u8> {
    let mut m = Request::new(NLMSG_DONE, NLM_F_MULTI, seq);
    m.push(&0u32.to_ne_bytes());
    m.finish()
}

/// How long one receive waits for the kernel.
const TIMEOUT: Duration = Duration::from_secs(5);
/// The receive buffer: the kernel fills datagrams of up to a few pages.
const RECV_BUF: usize = 256 * 1024;

/// Dump the listening sockets of one protocol and family from the kernel.
pub fn dump(protocol: Protocol, family: Family) -> Result<Vec<Socket>, NetlinkError> {
    let s = nl::Socket::open(NETLINK_SOCK_DIAG, TIMEOUT)?;
    let seq: u32 =
        0x504c_0000 | u32::from(proto_code(protocol)) << 8 | u32::from(family_code(family));
    let req = build_request(protocol, family, seq);
    // No read limit: a dump of many sockets is many datagrams, and the receive timeout ends a
    // kernel that stops answering.
    s.collect(&req, RECV_BUF, usize::MAX, |got| {
        parse_messages(got, protocol, seq).map(|b| (b.sockets, b.done))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use portolan_netlink::{u16_at, u32_at};

    fn done(seq: u32) -> Vec<u8> {
        encode_done(seq)
    }

    fn diag_message(
        seq: u32,
        fam: u8,
        port: u16,
        addr: [u8; 16],
        inode: u32,
        v6only: Option<u8>,
    ) -> Vec<u8> {
        let family = if i32::from(fam) == libc::AF_INET {
            Family::Ipv4
        } else {
            Family::Ipv6
        };
        let address = if family == Family::Ipv4 {
            IpAddr::V4(Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3]))
        } else {
            IpAddr::V6(Ipv6Addr::from(addr))
        };
        encode_diag_message(
            seq,
            &Socket {
                protocol: Protocol::Tcp,
                family,
                address,
                port,
                inode: u64::from(inode),
                uid: 1000,
                v6only: v6only.map(|v| v != 0),
                interface: 0,
            },
        )
    }

    #[test]
    fn request_layout() {
        let r = build_request(Protocol::Tcp, Family::Ipv6, 7);
        assert_eq!(r.len(), 72);
        assert_eq!(u32_at(&r, 0), Some(72));
        assert_eq!(u16_at(&r, 4), Some(SOCK_DIAG_BY_FAMILY));
        assert_eq!(r[16], libc::AF_INET6 as u8);
        assert_eq!(r[17], libc::IPPROTO_TCP as u8);
        assert_eq!(u32_at(&r, 20), Some(1 << 10));
    }

    #[test]
    fn parses_v4_and_v6_with_v6only() {
        let mut buf = diag_message(9, libc::AF_INET as u8, 6379, [0; 16], 42, None);
        let mut v6 = [0u8; 16];
        v6[15] = 1;
        buf.extend(diag_message(9, libc::AF_INET6 as u8, 80, v6, 43, Some(1)));
        buf.extend(diag_message(
            9,
            libc::AF_INET6 as u8,
            81,
            [0; 16],
            44,
            Some(0),
        ));
        buf.extend(done(9));
        let b = parse_messages(&buf, Protocol::Tcp, 9).unwrap();
        assert!(b.done);
        assert_eq!(b.sockets.len(), 3);
        assert_eq!(b.sockets[0].port, 6379);
        assert_eq!(b.sockets[0].v6only, None);
        assert_eq!(b.sockets[1].address, "::1".parse::<IpAddr>().unwrap());
        assert_eq!(b.sockets[1].v6only, Some(true));
        assert!(b.sockets[2].is_dual_stack());
        assert_eq!(b.sockets[2].inode, 44);
        assert_eq!(b.sockets[2].uid, 1000);
    }

    #[test]
    fn other_sequence_ignored_and_error_reported() {
        let buf = diag_message(1, libc::AF_INET as u8, 1, [0; 16], 1, None);
        let b = parse_messages(&buf, Protocol::Tcp, 2).unwrap();
        assert!(b.sockets.is_empty());
        let mut e = Vec::new();
        e.extend_from_slice(&36u32.to_ne_bytes());
        e.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        e.extend_from_slice(&0u16.to_ne_bytes());
        e.extend_from_slice(&5u32.to_ne_bytes());
        e.extend_from_slice(&0u32.to_ne_bytes());
        e.extend_from_slice(&(-libc::EPERM).to_ne_bytes());
        e.extend_from_slice(&[0u8; 16]);
        assert!(matches!(
            parse_messages(&e, Protocol::Tcp, 5),
            Err(NetlinkError::Kernel(_))
        ));
    }

    #[test]
    fn done_with_i32_min_errno_is_an_error() {
        // Found by the netlink fuzz target: negating i32::MIN overflowed.
        let mut d = done(3);
        d[16..20].copy_from_slice(&i32::MIN.to_ne_bytes());
        assert!(matches!(
            parse_messages(&d, Protocol::Tcp, 3),
            Err(NetlinkError::Kernel(_))
        ));
    }

    #[test]
    fn truncated_is_an_error_not_a_panic() {
        let buf = diag_message(1, libc::AF_INET as u8, 1, [0; 16], 1, None);
        for cut in 17..buf.len() {
            let mut b = buf[..cut].to_vec();
            b[0..4].copy_from_slice(&(cut as u32).to_ne_bytes());
            assert!(parse_messages(&b, Protocol::Tcp, 1).is_err(), "cut {cut}");
        }
    }

    #[test]
    fn live_dump_works_or_errors_cleanly() {
        // Reads this host's sockets (no packets are sent); must not panic.
        match dump(Protocol::Tcp, Family::Ipv4) {
            Ok(v) => assert!(v.iter().all(|s| s.protocol == Protocol::Tcp)),
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }
}
