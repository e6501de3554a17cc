//! The Internet checksum (RFC 1071) and the TCP/UDP pseudo-headers (RFC 793, RFC 8200 §8.1).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::WireError;

/// Add `data` to a running one's-complement sum (not yet folded).
pub fn add(mut sum: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum = sum.wrapping_add(u32::from(u16::from_be_bytes([c[0], c[1]])));
        // Fold early so the sum never overflows on large inputs.
        if sum > 0xffff_0000 {
            sum = (sum & 0xffff) + (sum >> 16);
        }
    }
    if let [last] = chunks.remainder() {
        sum = sum.wrapping_add(u32::from(*last) << 8);
    }
    sum
}

/// Fold a running sum and complement it.
pub fn finish(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Checksum of a byte slice (IPv4 header, ICMP message).
pub fn of(data: &[u8]) -> u16 {
    finish(add(0, data))
}

/// Running sum of the IPv4 pseudo-header for a transport segment of `len` bytes.
pub fn pseudo_v4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, len: u16) -> u32 {
    let mut s = add(0, &src.octets());
    s = add(s, &dst.octets());
    s = add(s, &[0, proto]);
    add(s, &len.to_be_bytes())
}

/// Running sum of the IPv6 pseudo-header for an upper-layer packet of `len` bytes.
pub fn pseudo_v6(src: Ipv6Addr, dst: Ipv6Addr, proto: u8, len: u32) -> u32 {
    let mut s = add(0, &src.octets());
    s = add(s, &dst.octets());
    s = add(s, &len.to_be_bytes());
    add(s, &[0, 0, 0, proto])
}

/// Running sum of the pseudo-header of a `len`-byte `proto` segment from `src` to `dst`, IPv4 or
/// IPv6 by the addresses; an error when they are of different families.
#[inline]
pub fn pseudo(src: IpAddr, dst: IpAddr, proto: u8, len: usize) -> Result<u32, WireError> {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => Ok(pseudo_v4(s, d, proto, len as u16)),
        (IpAddr::V6(s), IpAddr::V6(d)) => Ok(pseudo_v6(s, d, proto, len as u32)),
        _ => Err(WireError::Malformed {
            layer: "pseudo-header",
            what: "source and destination of different address families",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3 example bytes: sum 0xddf2, checksum !0xddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(of(&data), !0xddf2);
    }

    #[test]
    fn a_valid_header_sums_to_zero() {
        // A real IPv4 header with its checksum in place.
        let h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(of(&h), 0);
    }

    #[test]
    fn odd_length() {
        assert_eq!(of(&[0xff]), !0xff00);
    }
}
