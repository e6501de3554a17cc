//! Addresses and networks: [`Net`] (an IPv4 or IPv6 prefix, host bits cleared).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An IPv4 or IPv6 network: an address with its host bits cleared and a prefix length
/// (32 or 128 for one address). IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are taken as
/// the IPv4 address they carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Net {
    addr: IpAddr,
    len: u8,
}

/// A string that is not an address or network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not an address or network: {why} (give e.g. 203.0.113.7, 198.51.100.0/24 or 2001:db8::/64)")]
pub struct NetParseError {
    pub input: String,
    pub why: &'static str,
}

fn unmap(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

impl Net {
    /// The network of `len` bits around `addr` (host bits cleared; `len` capped at the family's
    /// width).
    pub fn new(addr: IpAddr, len: u8) -> Net {
        let addr = unmap(addr);
        let len = len.min(Self::width_of(&addr));
        let addr = match addr {
            IpAddr::V4(a) => {
                let m = if len == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(len))
                };
                IpAddr::V4(Ipv4Addr::from(u32::from(a) & m))
            }
            IpAddr::V6(a) => {
                let m = if len == 0 {
                    0
                } else {
                    u128::MAX << (128 - u32::from(len))
                };
                IpAddr::V6(Ipv6Addr::from(u128::from(a) & m))
            }
        };
        Net { addr, len }
    }

    /// One address (/32 or /128).
    pub fn host(addr: IpAddr) -> Net {
        Net::new(addr, 128)
    }

    fn width_of(a: &IpAddr) -> u8 {
        if a.is_ipv4() {
            32
        } else {
            128
        }
    }

    /// The first address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    /// The family's width: 32 or 128.
    pub fn width(&self) -> u8 {
        Self::width_of(&self.addr)
    }

    /// True for one address (/32, /128).
    pub fn is_host(&self) -> bool {
        self.len == self.width()
    }

    pub fn is_ipv4(&self) -> bool {
        self.addr.is_ipv4()
    }

    /// True when `a` lies in this network.
    pub fn contains(&self, a: IpAddr) -> bool {
        let a = unmap(a);
        a.is_ipv4() == self.is_ipv4() && Net::new(a, self.len).addr == self.addr
    }

    /// True when `other` lies wholly inside this network.
    pub fn covers(&self, other: &Net) -> bool {
        other.len >= self.len && self.contains(other.addr)
    }

    /// True when the two networks share an address.
    pub fn overlaps(&self, other: &Net) -> bool {
        self.covers(other) || other.covers(self)
    }
}

impl fmt::Display for Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_host() {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{}/{}", self.addr, self.len)
        }
    }
}

impl FromStr for Net {
    type Err = NetParseError;

    /// `ADDR` or `ADDR/LEN`; host bits of a network must be zero (`10.0.0.1/24` is refused:
    /// say `10.0.0.0/24` or `10.0.0.1`, whichever is meant).
    fn from_str(s: &str) -> Result<Net, NetParseError> {
        let err = |why| NetParseError {
            input: s.to_string(),
            why,
        };
        let (a, len) = match s.split_once('/') {
            Some((a, l)) => {
                if l.is_empty() || !l.bytes().all(|b| b.is_ascii_digit()) || l.len() > 3 {
                    return Err(err("the prefix length is not a number"));
                }
                (
                    a,
                    Some(l.parse::<u8>().map_err(|_| err("bad prefix length"))?),
                )
            }
            None => (s, None),
        };
        let addr: IpAddr = a.trim().parse().map_err(|_| err("not an IP address"))?;
        let native = if addr.is_ipv4() { 32 } else { 128 };
        let len = len.unwrap_or(native);
        if len > native {
            return Err(err(if native == 32 {
                "an IPv4 prefix length is 0 to 32"
            } else {
                "an IPv6 prefix length is 0 to 128"
            }));
        }
        // an IPv4-mapped network keeps its meaning as IPv4
        let (addr4, len4) = match (unmap(addr), addr) {
            (IpAddr::V4(v4), IpAddr::V6(_)) => {
                if len < 96 {
                    return Err(err(
                        "an IPv4-mapped network needs a prefix length of 96 or more",
                    ));
                }
                (IpAddr::V4(v4), len - 96)
            }
            _ => (addr, len),
        };
        let net = Net::new(addr4, len4);
        if net.addr != addr4 {
            return Err(err("host bits are set after the prefix length"));
        }
        Ok(net)
    }
}

impl Serialize for Net {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Net {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Net, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parse_and_print() {
        assert_eq!("10.0.0.7".parse::<Net>().unwrap().to_string(), "10.0.0.7");
        assert_eq!(
            "10.0.0.0/24".parse::<Net>().unwrap().to_string(),
            "10.0.0.0/24"
        );
        assert_eq!(
            "2001:db8::/64".parse::<Net>().unwrap().to_string(),
            "2001:db8::/64"
        );
        assert_eq!(
            "::ffff:10.1.2.3".parse::<Net>().unwrap().to_string(),
            "10.1.2.3"
        );
        assert_eq!(
            "::ffff:10.1.2.0/120".parse::<Net>().unwrap().to_string(),
            "10.1.2.0/24"
        );
        for bad in [
            "",
            "10.0.0.1/24",
            "10.0.0.0/33",
            "1.2.3",
            "x",
            "10.0.0.0/",
            "::/129",
            "1.2.3.4/+1",
        ] {
            let e = bad.parse::<Net>().unwrap_err();
            assert!(
                e.to_string().contains("is not an address or network"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn containment() {
        let n: Net = "198.51.100.0/24".parse().unwrap();
        assert!(n.contains("198.51.100.9".parse().unwrap()));
        assert!(n.contains("::ffff:198.51.100.9".parse().unwrap()));
        assert!(!n.contains("198.51.101.9".parse().unwrap()));
        assert!(!n.contains("2001:db8::1".parse().unwrap()));
        let h: Net = "198.51.100.9".parse().unwrap();
        assert!(n.covers(&h) && !h.covers(&n) && n.overlaps(&h) && h.overlaps(&n));
        let any: Net = "0.0.0.0/0".parse().unwrap();
        assert!(any.contains("1.2.3.4".parse().unwrap()));
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,48}") {
            let _ = s.parse::<Net>();
        }

        #[test]
        fn roundtrip(a in any::<u128>(), len in 0u8..=128, v4 in any::<bool>()) {
            let addr = if v4 { IpAddr::V4(Ipv4Addr::from(a as u32)) } else { IpAddr::V6(Ipv6Addr::from(a)) };
            let n = Net::new(addr, len);
            prop_assert_eq!(n.to_string().parse::<Net>().unwrap(), n);
            prop_assert!(n.contains(n.addr()));
        }
    }
}
