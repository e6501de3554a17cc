//! The `/proc/net/{tcp,tcp6,udp,udp6}` fallback: a parser of the kernel's text tables.
//!
//! Each line after the header reads
//! `sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...`,
//! addresses as hex words in host byte order and ports as big-endian hex. Only listening TCP
//! sockets (state `0A`) and unconnected UDP sockets (state `07`) are kept. A malformed line is
//! reported with its number and skipped; the other lines still count.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use portolan_registry::Protocol;

use crate::socket::{Family, Socket};

/// TCP_LISTEN in the kernel's state numbering.
pub const TCP_LISTEN: u8 = 0x0A;
/// TCP_CLOSE: what an unconnected UDP socket reports.
pub const TCP_CLOSE: u8 = 0x07;

/// A line of a `/proc/net` table that could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {what}")]
pub struct LineError {
    /// 1-based line number.
    pub line: usize,
    pub what: String,
}

/// The result of parsing one table: the sockets understood, and the lines that were not.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub sockets: Vec<Socket>,
    pub errors: Vec<LineError>,
}

/// The state a socket must be in to be listed for `protocol`.
pub fn wanted_state(protocol: Protocol) -> u8 {
    if protocol == Protocol::Tcp {
        TCP_LISTEN
    } else {
        TCP_CLOSE
    }
}

/// Parse a whole `/proc/net/<proto>[6]` table. Never panics, whatever the bytes.
pub fn parse_table(text: &str, protocol: Protocol, family: Family) -> Parsed {
    let mut out = Parsed::default();
    let want = wanted_state(protocol);
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with("sl") {
            continue;
        }
        match parse_line(t, protocol, family) {
            Ok(Some((state, sock))) if state == want => out.sockets.push(sock),
            Ok(_) => {}
            Err(what) => out.errors.push(LineError { line: i + 1, what }),
        }
    }
    out
}

fn parse_line(
    line: &str,
    protocol: Protocol,
    family: Family,
) -> Result<Option<(u8, Socket)>, String> {
    let f: Vec<&str> = line.split_ascii_whitespace().collect();
    if f.len() < 10 {
        return Err(format!("expected at least 10 fields, found {}", f.len()));
    }
    let (address, port) = parse_endpoint(f[1], family)?;
    let state = u8::from_str_radix(f[3], 16).map_err(|_| format!("bad state {:?}", f[3]))?;
    let uid: u32 = f[7].parse().map_err(|_| format!("bad uid {:?}", f[7]))?;
    let inode: u64 = f[9].parse().map_err(|_| format!("bad inode {:?}", f[9]))?;
    Ok(Some((
        state,
        Socket {
            protocol,
            family,
            address,
            port,
            inode,
            uid,
            v6only: None,
            interface: 0,
        },
    )))
}

/// `0100007F:1F90` → 127.0.0.1:8080 (and the 32-digit IPv6 form).
pub fn parse_endpoint(s: &str, family: Family) -> Result<(IpAddr, u16), String> {
    let (a, p) = s
        .split_once(':')
        .ok_or_else(|| format!("address {s:?} has no ':'"))?;
    if p.len() != 4 {
        return Err(format!("port {p:?} is not 4 hex digits"));
    }
    let port = u16::from_str_radix(p, 16).map_err(|_| format!("bad port {p:?}"))?;
    let word = |h: &str| -> Result<[u8; 4], String> {
        if h.len() != 8 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("bad address word {h:?}"));
        }
        u32::from_str_radix(h, 16)
            .map(u32::to_ne_bytes)
            .map_err(|_| format!("bad address word {h:?}"))
    };
    let addr = match family {
        Family::Ipv4 => {
            if a.len() != 8 {
                return Err(format!("IPv4 address {a:?} is not 8 hex digits"));
            }
            IpAddr::V4(Ipv4Addr::from(word(a)?))
        }
        Family::Ipv6 => {
            if a.len() != 32 || !a.is_ascii() {
                return Err(format!("IPv6 address {a:?} is not 32 hex digits"));
            }
            let mut b = [0u8; 16];
            for i in 0..4 {
                let w = word(&a[i * 8..i * 8 + 8])?;
                b[i * 4..i * 4 + 4].copy_from_slice(&w);
            }
            IpAddr::V6(Ipv6Addr::from(b))
        }
    };
    Ok((addr, port))
}

/// Format an endpoint the way the kernel does (the inverse of [`parse_endpoint`]; for tests and
/// fuzzing).
pub fn format_endpoint(addr: IpAddr, port: u16) -> String {
    let mut s = String::new();
    match addr {
        IpAddr::V4(a) => s.push_str(&format!("{:08X}", u32::from_ne_bytes(a.octets()))),
        IpAddr::V6(a) => {
            let o = a.octets();
            for c in o.chunks_exact(4) {
                let w = [c[0], c[1], c[2], c[3]];
                s.push_str(&format!("{:08X}", u32::from_ne_bytes(w)));
            }
        }
    }
    s.push_str(&format!(":{port:04X}"));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0277 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 23456 1 0000000000000000 100 0 0 10 0
   1: 00000000:18EB 00000000:0000 0A 00000000:00000000 00:00000000 00000000   109        0 34567 1 0000000000000000 100 0 0 10 0
   2: 0100007F:8E2A 0100007F:18EB 01 00000000:00000000 00:00000000 00000000  1000        0 45678 1 0000000000000000 20 4 30 10 -1
";

    #[test]
    fn tcp_listeners_only() {
        let p = parse_table(TCP, Protocol::Tcp, Family::Ipv4);
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        assert_eq!(p.sockets.len(), 2);
        assert_eq!(p.sockets[0].address, "127.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(p.sockets[0].port, 631);
        assert_eq!(p.sockets[1].port, 6379);
        assert_eq!(p.sockets[1].uid, 109);
        assert_eq!(p.sockets[1].inode, 34567);
    }

    #[test]
    fn ipv6_endpoint() {
        let e = format_endpoint("::1".parse().unwrap(), 80);
        assert_eq!(
            parse_endpoint(&e, Family::Ipv6).unwrap().0,
            "::1".parse::<IpAddr>().unwrap()
        );
        let (a, p) = parse_endpoint("00000000000000000000000000000000:0035", Family::Ipv6).unwrap();
        assert!(a.is_unspecified());
        assert_eq!(p, 53);
    }

    #[test]
    fn bad_lines_are_reported_not_fatal() {
        let text =
            format!("{TCP}   3: garbage\n   4: 0100007F:XYZW 00000000:0000 0A 0 0 0 0 0 1\n");
        let p = parse_table(&text, Protocol::Tcp, Family::Ipv4);
        assert_eq!(p.sockets.len(), 2);
        assert_eq!(p.errors.len(), 2);
        assert_eq!(p.errors[0].line, 5);
    }

    #[test]
    fn udp_unconnected() {
        let t = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  100: 3500007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   101        0 1111 2 0000000000000000 0
";
        let p = parse_table(t, Protocol::Udp, Family::Ipv4);
        assert_eq!(p.sockets.len(), 1);
        assert_eq!(
            p.sockets[0].address,
            "127.0.0.53".parse::<IpAddr>().unwrap()
        );
    }
}
