//! The socket model: what a listening TCP socket or bound UDP socket is, independent of where it
//! was read from (netlink or `/proc/net`).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use portolan_registry::Protocol;
use serde::{Deserialize, Serialize};

/// IP version of a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Ipv4,
    Ipv6,
}

/// Where a socket can be reached from, judged by its bound address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Exposure {
    /// Bound to the wildcard address (`0.0.0.0` or `::`): every interface.
    All,
    /// Bound to one specific, non-loopback address.
    Specific,
    /// Bound to loopback (`127.0.0.0/8`, `::1`): this host only.
    Loopback,
}

impl Exposure {
    /// Judge a bound address.
    pub fn of(addr: IpAddr) -> Exposure {
        let addr = canonical(addr);
        if addr.is_unspecified() {
            Exposure::All
        } else if addr.is_loopback() {
            Exposure::Loopback
        } else {
            Exposure::Specific
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Exposure::All => "all",
            Exposure::Specific => "specific",
            Exposure::Loopback => "loopback",
        }
    }

    /// Words for people.
    pub fn describe(self) -> &'static str {
        match self {
            Exposure::All => "all interfaces",
            Exposure::Specific => "a specific address",
            Exposure::Loopback => "loopback only",
        }
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) as the IPv4 address it stands for.
pub fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// A listening TCP socket or a bound (unconnected) UDP socket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Socket {
    #[serde(with = "crate::serde_util::protocol")]
    pub protocol: Protocol,
    pub family: Family,
    /// The bound local address.
    pub address: IpAddr,
    pub port: u16,
    /// Kernel socket inode (the link between a socket and the processes holding it).
    pub inode: u64,
    /// Owner uid of the socket, as the kernel records it.
    pub uid: u32,
    /// For IPv6 sockets: whether IPV6_V6ONLY is set. `None` when unknown.
    pub v6only: Option<bool>,
    /// Interface index the socket is bound to with SO_BINDTODEVICE (0: none).
    pub interface: u32,
}

impl Socket {
    /// Where it can be reached from.
    pub fn exposure(&self) -> Exposure {
        Exposure::of(self.address)
    }

    /// An IPv6 wildcard socket without IPV6_V6ONLY: it accepts IPv4 (as mapped addresses) and IPv6.
    pub fn is_dual_stack(&self) -> bool {
        self.family == Family::Ipv6 && self.address.is_unspecified() && self.v6only == Some(false)
    }

    /// `tcp 0.0.0.0:6379`, `udp [::]:53`.
    pub fn endpoint(&self) -> String {
        format!("{}", Endpoint::of(self))
    }

    /// The stable key of a socket across runs (protocol, address, port; not inode or pid).
    pub fn key(&self) -> SocketKey {
        SocketKey {
            protocol: self.protocol,
            address: self.address,
            port: self.port,
        }
    }
}

/// A socket's identity across runs: protocol, address and port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SocketKey {
    #[serde(with = "crate::serde_util::protocol")]
    pub protocol: Protocol,
    pub address: IpAddr,
    pub port: u16,
}

impl fmt::Display for SocketKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.address {
            IpAddr::V4(a) => write!(f, "{} {}:{}", self.protocol, a, self.port),
            IpAddr::V6(a) => write!(f, "{} [{}]:{}", self.protocol, a, self.port),
        }
    }
}

struct Endpoint(SocketKey);
impl Endpoint {
    fn of(s: &Socket) -> Endpoint {
        Endpoint(s.key())
    }
}
impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// `a.b.c.d` or `[v6]` — the address part of `addr:port`.
pub fn host_part(addr: IpAddr) -> String {
    match addr {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
    }
}

/// The unspecified address of a family.
pub fn unspecified(f: Family) -> IpAddr {
    match f {
        Family::Ipv4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        Family::Ipv6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposure_of_addresses() {
        assert_eq!(Exposure::of("0.0.0.0".parse().unwrap()), Exposure::All);
        assert_eq!(Exposure::of("::".parse().unwrap()), Exposure::All);
        assert_eq!(
            Exposure::of("127.0.0.53".parse().unwrap()),
            Exposure::Loopback
        );
        assert_eq!(Exposure::of("::1".parse().unwrap()), Exposure::Loopback);
        assert_eq!(
            Exposure::of("::ffff:127.0.0.1".parse().unwrap()),
            Exposure::Loopback
        );
        assert_eq!(
            Exposure::of("10.1.2.3".parse().unwrap()),
            Exposure::Specific
        );
        assert_eq!(Exposure::of("fe80::1".parse().unwrap()), Exposure::Specific);
    }

    #[test]
    fn endpoint_format() {
        let s = Socket {
            protocol: Protocol::Udp,
            family: Family::Ipv6,
            address: "::".parse().unwrap(),
            port: 53,
            inode: 1,
            uid: 0,
            v6only: Some(false),
            interface: 0,
        };
        assert_eq!(s.endpoint(), "udp [::]:53");
        assert!(s.is_dual_stack());
    }
}
