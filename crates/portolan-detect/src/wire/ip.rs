//! IPv4 and IPv6 (with extension-header walking).

use std::net::{Ipv4Addr, Ipv6Addr};

use super::{be16, ipproto, WireError};

/// A view of an IPv4 packet.
#[derive(Debug, Clone)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Check version, header length and that the whole header (with options) was captured.
    /// The payload may be shorter than `total_len` says (snap length), never longer.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let b = buffer.as_ref();
        if b.len() < 20 {
            return Err(WireError::Truncated("IPv4"));
        }
        if b[0] >> 4 != 4 {
            return Err(WireError::Malformed {
                layer: "IPv4",
                what: "version is not 4",
            });
        }
        let hl = usize::from(b[0] & 0x0f) * 4;
        if hl < 20 {
            return Err(WireError::Malformed {
                layer: "IPv4",
                what: "header length below 20",
            });
        }
        if b.len() < hl {
            return Err(WireError::Truncated("IPv4 options"));
        }
        let total = usize::from(be16(b, 2));
        if total != 0 && total < hl {
            // total length 0 happens with TSO captures; accept it as "up to the capture".
            return Err(WireError::Malformed {
                layer: "IPv4",
                what: "total length shorter than header",
            });
        }
        Ok(Ipv4Packet { buffer })
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }
    pub fn header_len(&self) -> usize {
        usize::from(self.b()[0] & 0x0f) * 4
    }
    pub fn dscp_ecn(&self) -> u8 {
        self.b()[1]
    }
    pub fn total_len(&self) -> u16 {
        be16(self.b(), 2)
    }
    pub fn ident(&self) -> u16 {
        be16(self.b(), 4)
    }
    pub fn dont_frag(&self) -> bool {
        self.b()[6] & 0x40 != 0
    }
    pub fn more_frags(&self) -> bool {
        self.b()[6] & 0x20 != 0
    }
    /// Fragment offset in bytes.
    pub fn frag_offset(&self) -> u16 {
        (be16(self.b(), 6) & 0x1fff) * 8
    }
    pub fn ttl(&self) -> u8 {
        self.b()[8]
    }
    pub fn protocol(&self) -> u8 {
        self.b()[9]
    }
    pub fn checksum(&self) -> u16 {
        be16(self.b(), 10)
    }
    pub fn src_addr(&self) -> Ipv4Addr {
        let b = self.b();
        Ipv4Addr::new(b[12], b[13], b[14], b[15])
    }
    pub fn dst_addr(&self) -> Ipv4Addr {
        let b = self.b();
        Ipv4Addr::new(b[16], b[17], b[18], b[19])
    }
    pub fn src_bytes(&self) -> [u8; 4] {
        let b = self.b();
        [b[12], b[13], b[14], b[15]]
    }
    pub fn dst_bytes(&self) -> [u8; 4] {
        let b = self.b();
        [b[16], b[17], b[18], b[19]]
    }
    /// The payload: from the end of the header to `total_len`, clamped to what was captured.
    pub fn payload(&self) -> &[u8] {
        let b = self.b();
        let hl = self.header_len();
        let total = usize::from(self.total_len());
        let end = if total == 0 {
            b.len()
        } else {
            total.min(b.len())
        };
        &b[hl..end.max(hl)]
    }
}

/// A view of an IPv6 packet.
#[derive(Debug, Clone)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

/// Where the upper-layer protocol starts after the IPv6 extension headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpperLayer<'a> {
    /// The upper-layer protocol number (TCP 6, UDP 17, ICMPv6 58, ...).
    pub protocol: u8,
    /// Its bytes, clamped to the capture.
    pub payload: &'a [u8],
    /// True when this is a non-first fragment: `payload` is not a header.
    pub later_fragment: bool,
}

/// The most extension headers walked before giving up.
pub const MAX_EXTENSION_HEADERS: usize = 8;

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let b = buffer.as_ref();
        if b.len() < 40 {
            return Err(WireError::Truncated("IPv6"));
        }
        if b[0] >> 4 != 6 {
            return Err(WireError::Malformed {
                layer: "IPv6",
                what: "version is not 6",
            });
        }
        Ok(Ipv6Packet { buffer })
    }
    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }
    pub fn payload_len(&self) -> u16 {
        be16(self.b(), 4)
    }
    pub fn next_header(&self) -> u8 {
        self.b()[6]
    }
    pub fn hop_limit(&self) -> u8 {
        self.b()[7]
    }
    pub fn flow_label(&self) -> u32 {
        super::be32(self.b(), 0) & 0x000f_ffff
    }
    pub fn src_bytes(&self) -> [u8; 16] {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.b()[8..24]);
        a
    }
    pub fn dst_bytes(&self) -> [u8; 16] {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.b()[24..40]);
        a
    }
    pub fn src_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.src_bytes())
    }
    pub fn dst_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.dst_bytes())
    }
    /// Bytes after the fixed header, up to payload length, clamped to the capture.
    pub fn payload(&self) -> &[u8] {
        let b = self.b();
        let pl = usize::from(self.payload_len());
        // Payload length 0 is a jumbogram (or TSO): take what was captured.
        let end = if pl == 0 {
            b.len()
        } else {
            (40 + pl).min(b.len())
        };
        &b[40..end]
    }

    /// Walk hop-by-hop, routing, fragment, destination-options, AH and mobility headers to the
    /// upper-layer protocol.
    pub fn upper_layer(&self) -> Result<UpperLayer<'_>, WireError> {
        let mut next = self.next_header();
        let mut rest = self.payload();
        let mut later_fragment = false;
        for _ in 0..MAX_EXTENSION_HEADERS {
            match next {
                ipproto::HOPOPT | ipproto::ROUTING | ipproto::DSTOPTS | ipproto::MOBILITY => {
                    if rest.len() < 8 {
                        return Err(WireError::Truncated("IPv6 extension header"));
                    }
                    let len = (usize::from(rest[1]) + 1) * 8;
                    if rest.len() < len {
                        return Err(WireError::Truncated("IPv6 extension header"));
                    }
                    next = rest[0];
                    rest = &rest[len..];
                }
                ipproto::FRAGMENT => {
                    if rest.len() < 8 {
                        return Err(WireError::Truncated("IPv6 fragment header"));
                    }
                    let offset = be16(rest, 2) & 0xfff8;
                    later_fragment = offset != 0;
                    next = rest[0];
                    rest = &rest[8..];
                }
                ipproto::AH => {
                    if rest.len() < 8 {
                        return Err(WireError::Truncated("IPv6 authentication header"));
                    }
                    let len = (usize::from(rest[1]) + 2) * 4;
                    if rest.len() < len {
                        return Err(WireError::Truncated("IPv6 authentication header"));
                    }
                    next = rest[0];
                    rest = &rest[len..];
                }
                _ => {
                    return Ok(UpperLayer {
                        protocol: next,
                        payload: rest,
                        later_fragment,
                    })
                }
            }
        }
        Err(WireError::Malformed {
            layer: "IPv6",
            what: "more than 8 extension headers",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn v4(proto: u8, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![
            0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        p.extend_from_slice(payload);
        let tl = p.len() as u16;
        p[2..4].copy_from_slice(&tl.to_be_bytes());
        p
    }

    #[test]
    fn ipv4_fields_and_clamped_payload() {
        let p = v4(6, &[1, 2, 3]);
        let ip = Ipv4Packet::new_checked(&p[..]).unwrap();
        assert_eq!(ip.ident(), 0x1234);
        assert!(ip.dont_frag());
        assert_eq!(ip.src_addr(), Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(ip.payload(), &[1, 2, 3]);
        // snap-length truncated: payload clamps
        let ip = Ipv4Packet::new_checked(&p[..21]).unwrap();
        assert_eq!(ip.payload(), &[1]);
        assert!(Ipv4Packet::new_checked(&p[..19]).is_err());
        let mut bad = p.clone();
        bad[0] = 0x44;
        assert!(Ipv4Packet::new_checked(&bad[..]).is_err());
    }

    #[test]
    fn ipv6_extension_headers() {
        let mut p = vec![0u8; 40];
        p[0] = 0x60;
        p[6] = ipproto::HOPOPT;
        p[7] = 64;
        // hop-by-hop (8 bytes) -> fragment (8 bytes) -> TCP
        let ext = [
            ipproto::FRAGMENT,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            ipproto::TCP,
            0,
            0,
            0,
            0,
            0,
            0,
            1,
        ];
        p.extend_from_slice(&ext);
        p.extend_from_slice(&[0xaa; 4]);
        let pl = (p.len() - 40) as u16;
        p[4..6].copy_from_slice(&pl.to_be_bytes());
        let ip = Ipv6Packet::new_checked(&p[..]).unwrap();
        let ul = ip.upper_layer().unwrap();
        assert_eq!(ul.protocol, ipproto::TCP);
        assert_eq!(ul.payload, &[0xaa; 4]);
        assert!(!ul.later_fragment);
        let ip = Ipv6Packet::new_checked(&p[..45]).unwrap();
        assert!(ip.upper_layer().is_err());
    }
}
