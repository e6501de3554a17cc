//! Addresses as integer ranges: a network (`10.20.0.0/24`, `::/0`) or an address is an
//! inclusive range of `u128` within one [`Family`], so that unions, intersections and the
//! partition of the address space are plain integer arithmetic.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IPv4 or IPv6.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    V4,
    V6,
}

impl Family {
    /// The largest address of the family, as an integer.
    pub fn max(self) -> u128 {
        match self {
            Family::V4 => u32::MAX as u128,
            Family::V6 => u128::MAX,
        }
    }

    /// Both families, IPv4 first.
    pub const BOTH: [Family; 2] = [Family::V4, Family::V6];
}

/// An inclusive range of addresses of one family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Range {
    pub family: Family,
    pub lo: u128,
    pub hi: u128,
}

impl Range {
    /// One address.
    pub fn addr(ip: IpAddr) -> Range {
        let (family, v) = split(ip);
        Range {
            family,
            lo: v,
            hi: v,
        }
    }

    /// Does the range hold `ip`?
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (f, v) = split(ip);
        f == self.family && self.lo <= v && v <= self.hi
    }

    /// Does the range cover all of `other`?
    pub fn covers(&self, other: &Range) -> bool {
        self.family == other.family && self.lo <= other.lo && other.hi <= self.hi
    }

    /// Is it the whole family (`0.0.0.0/0`, `::/0`)?
    pub fn is_everything(&self) -> bool {
        self.lo == 0 && self.hi == self.family.max()
    }

    /// The lowest address as an [`IpAddr`].
    pub fn lo_ip(&self) -> IpAddr {
        to_ip(self.family, self.lo)
    }

    /// The highest address as an [`IpAddr`].
    pub fn hi_ip(&self) -> IpAddr {
        to_ip(self.family, self.hi)
    }

    /// The prefix length when the range is exactly one CIDR block.
    pub fn prefix_len(&self) -> Option<u32> {
        let bits = match self.family {
            Family::V4 => 32,
            Family::V6 => 128,
        };
        let size = self.hi.wrapping_sub(self.lo).wrapping_add(1);
        if size == 0 {
            // The whole IPv6 space (2^128 wraps to 0).
            return (self.lo == 0 && self.family == Family::V6).then_some(0);
        }
        if !size.is_power_of_two() || self.lo % size != 0 {
            return None;
        }
        let host_bits = size.trailing_zeros();
        (host_bits <= bits).then_some(bits - host_bits)
    }
}

impl fmt::Display for Range {
    /// `10.0.0.5`, `10.20.0.0/24`, or `10.0.0.1-10.0.0.9` (nftables and ipset syntax).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.lo == self.hi {
            return write!(f, "{}", self.lo_ip());
        }
        match self.prefix_len() {
            Some(p) => write!(f, "{}/{}", self.lo_ip(), p),
            None => write!(f, "{}-{}", self.lo_ip(), self.hi_ip()),
        }
    }
}

fn split(ip: IpAddr) -> (Family, u128) {
    match ip {
        IpAddr::V4(a) => (Family::V4, u32::from(a) as u128),
        IpAddr::V6(a) => (Family::V6, u128::from(a)),
    }
}

fn to_ip(f: Family, v: u128) -> IpAddr {
    match f {
        Family::V4 => IpAddr::V4(Ipv4Addr::from(v as u32)),
        Family::V6 => IpAddr::V6(Ipv6Addr::from(v)),
    }
}

/// Parse `10.20.0.0/24`, `::/0`, `10.0.0.5` or `fd00::1`. The host bits of a block must be
/// zero (`10.20.0.1/24` is refused: it is usually a typo for an address or for `.0/24`).
pub fn parse_net(s: &str) -> Result<Range, String> {
    let s = s.trim();
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let ip: IpAddr = addr.parse().map_err(|_| {
        format!("{s:?} is not an address or network: write 10.20.0.0/24, 10.0.0.5 or fd00::/64")
    })?;
    let (family, v) = split(ip);
    let bits = match family {
        Family::V4 => 32u32,
        Family::V6 => 128,
    };
    let Some(len) = len else {
        return Ok(Range {
            family,
            lo: v,
            hi: v,
        });
    };
    let len: u32 = len
        .parse()
        .ok()
        .filter(|l| *l <= bits)
        .ok_or_else(|| format!("{s:?}: the prefix length must be a number from 0 to {bits}"))?;
    let host_bits = bits - len;
    let mask: u128 = if host_bits == 128 {
        u128::MAX
    } else {
        (1u128 << host_bits) - 1
    };
    if v & mask != 0 {
        let net = to_ip(family, v & !mask);
        return Err(format!(
            "{s:?} has host bits set: write {net}/{len} for the network, or {addr} alone for the address"
        ));
    }
    Ok(Range {
        family,
        lo: v,
        hi: v | mask,
    })
}

/// Sort and merge overlapping or adjacent ranges (per family).
pub fn normalize(mut v: Vec<Range>) -> Vec<Range> {
    v.sort();
    let mut out: Vec<Range> = Vec::with_capacity(v.len());
    for r in v {
        if let Some(last) = out.last_mut() {
            if last.family == r.family && r.lo <= last.hi.saturating_add(1) {
                last.hi = last.hi.max(r.hi);
                continue;
            }
        }
        out.push(r);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let r = parse_net("10.20.0.0/24").unwrap();
        assert_eq!(r.to_string(), "10.20.0.0/24");
        assert_eq!(parse_net("::/0").unwrap().to_string(), "::/0");
        assert_eq!(parse_net("0.0.0.0/0").unwrap().to_string(), "0.0.0.0/0");
        assert_eq!(parse_net("10.0.0.5").unwrap().to_string(), "10.0.0.5");
        let odd = Range {
            family: Family::V4,
            lo: 1,
            hi: 5,
        };
        assert_eq!(odd.to_string(), "0.0.0.1-0.0.0.5");
        assert!(parse_net("10.20.0.1/24")
            .unwrap_err()
            .contains("10.20.0.0/24"));
        assert!(parse_net("10.0.0.0/33").is_err());
        assert!(parse_net("web").is_err());
    }

    #[test]
    fn normalize_merges_adjacent() {
        let a = parse_net("10.0.0.0/25").unwrap();
        let b = parse_net("10.0.0.128/25").unwrap();
        assert_eq!(
            normalize(vec![b, a]),
            vec![parse_net("10.0.0.0/24").unwrap()]
        );
    }
}
