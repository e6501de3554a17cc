//! IPv4 (RFC 791) and IPv6 (RFC 8200, with extension-header walking).
//!
//! Payload accessors live on views over borrowed bytes (`Ipv4Packet<&'a [u8]>`, ...) and return
//! slices with the buffer's lifetime, so a caller can drop the view and keep the payload.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::{be16, be32, ipproto, need, WireError};

/// An IPv4 packet.
#[derive(Debug, Clone, Copy)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buf: T,
    /// Header length in bytes.
    hlen: usize,
    /// End of the packet: total length clamped to what was captured (the capture when total
    /// length is 0).
    end: usize,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Check version, header length and that the whole header (with options) was captured.
    /// The payload may be shorter than `total_len` says (snap length), never longer. A total
    /// length of 0 (seen in captures of TSO traffic) is accepted as "up to the capture".
    #[inline]
    pub fn new_checked(buf: T) -> Result<Self, WireError> {
        let b = buf.as_ref();
        need(b, 20, "IPv4")?;
        if b[0] >> 4 != 4 {
            return Err(WireError::Malformed {
                layer: "IPv4",
                what: "version is not 4",
            });
        }
        let hlen = usize::from(b[0] & 0x0f) * 4;
        if hlen < 20 {
            return Err(WireError::Malformed {
                layer: "IPv4",
                what: "header length below 20",
            });
        }
        need(b, hlen, "IPv4 options")?;
        let total = usize::from(be16(b, 2));
        let end = if total == 0 {
            b.len()
        } else if total < hlen {
            return Err(WireError::Malformed {
                layer: "IPv4",
                what: "total length shorter than header",
            });
        } else {
            total.min(b.len())
        };
        Ok(Ipv4Packet { buf, hlen, end })
    }
    #[inline]
    fn b(&self) -> &[u8] {
        self.buf.as_ref()
    }
    pub fn header_len(&self) -> usize {
        self.hlen
    }
    pub fn dscp_ecn(&self) -> u8 {
        self.b()[1]
    }
    #[inline]
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
    /// Fragment offset in 8-byte units; non-zero means this is not the first fragment (its
    /// payload is not a transport header).
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        be16(self.b(), 6) & 0x1fff
    }
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.b()[8]
    }
    #[inline]
    pub fn protocol(&self) -> u8 {
        self.b()[9]
    }
    pub fn checksum(&self) -> u16 {
        be16(self.b(), 10)
    }
    #[inline]
    pub fn src_bytes(&self) -> [u8; 4] {
        let b = self.b();
        [b[12], b[13], b[14], b[15]]
    }
    #[inline]
    pub fn dst_bytes(&self) -> [u8; 4] {
        let b = self.b();
        [b[16], b[17], b[18], b[19]]
    }
    #[inline]
    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.src_bytes())
    }
    #[inline]
    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.dst_bytes())
    }
    /// Whether the header checksum is right.
    pub fn verify_checksum(&self) -> bool {
        crate::checksum::of(&self.b()[..self.hlen]) == 0
    }
    /// Where the payload lies in the buffer: from the end of the header to `total_len`, clamped
    /// to what was captured.
    pub fn payload_range(&self) -> std::ops::Range<usize> {
        self.hlen..self.end
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Ipv4Packet<&'a T> {
    /// The payload (transport header and data) as captured; see [`Self::payload_range`].
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        &<T as AsRef<[u8]>>::as_ref(self.buf)[self.hlen..self.end]
    }
}

/// An IPv6 packet. `new_checked` checks the fixed header only; [`Ipv6Packet::upper_layer`]
/// walks the extension headers.
#[derive(Debug, Clone, Copy)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buf: T,
    /// End of the packet: 40 + payload length clamped to the capture (the capture when the
    /// payload length is 0: a jumbogram, or TSO).
    end: usize,
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
    #[inline]
    pub fn new_checked(buf: T) -> Result<Self, WireError> {
        let b = buf.as_ref();
        need(b, 40, "IPv6")?;
        if b[0] >> 4 != 6 {
            return Err(WireError::Malformed {
                layer: "IPv6",
                what: "version is not 6",
            });
        }
        let pl = usize::from(be16(b, 4));
        let end = if pl == 0 {
            b.len()
        } else {
            (40 + pl).min(b.len())
        };
        Ok(Ipv6Packet { buf, end })
    }
    #[inline]
    fn b(&self) -> &[u8] {
        self.buf.as_ref()
    }
    #[inline]
    pub fn payload_len(&self) -> u16 {
        be16(self.b(), 4)
    }
    /// The first Next Header value (before extension headers).
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.b()[6]
    }
    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.b()[7]
    }
    pub fn flow_label(&self) -> u32 {
        be32(self.b(), 0) & 0x000f_ffff
    }
    #[inline]
    pub fn src_bytes(&self) -> [u8; 16] {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.b()[8..24]);
        a
    }
    #[inline]
    pub fn dst_bytes(&self) -> [u8; 16] {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.b()[24..40]);
        a
    }
    #[inline]
    pub fn src_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.src_bytes())
    }
    #[inline]
    pub fn dst_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.dst_bytes())
    }
    /// Where the bytes after the fixed header lie in the buffer (up to the payload length,
    /// clamped to the capture).
    pub fn payload_range(&self) -> std::ops::Range<usize> {
        40..self.end
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Ipv6Packet<&'a T> {
    /// Bytes after the fixed header (extension headers included); see [`Self::payload_range`].
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        &<T as AsRef<[u8]>>::as_ref(self.buf)[40..self.end]
    }

    /// Walk hop-by-hop, routing, fragment, destination-options, AH and mobility headers to the
    /// upper-layer protocol (see [`upper_layer`]).
    #[inline]
    pub fn upper_layer(&self) -> Result<UpperLayer<'a>, WireError> {
        upper_layer(self.next_header(), self.payload())
    }
}

/// Walk the IPv6 extension headers in `bytes` (what follows the fixed header), starting from
/// `next_header`, to the upper-layer protocol: hop-by-hop, routing, fragment,
/// destination-options, AH and mobility headers. After the fragment header of a non-first
/// fragment, `later_fragment` is set: the upper layer's protocol number is known but its bytes
/// are data, not a header.
#[inline]
pub fn upper_layer(next_header: u8, bytes: &[u8]) -> Result<UpperLayer<'_>, WireError> {
    const EXT: &str = "IPv6 extension";
    let mut next = next_header;
    let mut rest = bytes;
    let mut later_fragment = false;
    for _ in 0..MAX_EXTENSION_HEADERS {
        let len = match next {
            ipproto::HOPOPT | ipproto::ROUTING | ipproto::DSTOPTS | ipproto::MOBILITY => {
                need(rest, 8, EXT)?;
                (usize::from(rest[1]) + 1) * 8
            }
            ipproto::FRAGMENT => {
                need(rest, 8, "IPv6 fragment")?;
                later_fragment = be16(rest, 2) & 0xfff8 != 0;
                8
            }
            ipproto::AH => {
                need(rest, 8, "IPv6 authentication")?;
                (usize::from(rest[1]) + 2) * 4
            }
            _ => {
                return Ok(UpperLayer {
                    protocol: next,
                    payload: rest,
                    later_fragment,
                })
            }
        };
        need(rest, len, EXT)?;
        next = rest[0];
        rest = &rest[len..];
    }
    Err(WireError::Malformed {
        layer: "IPv6",
        what: "more than 8 extension headers",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(proto: u8, payload: &[u8]) -> Vec<u8> {
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
        // total length 0 (TSO capture): up to the capture; below the header: malformed
        let mut tso = p.clone();
        tso[2..4].copy_from_slice(&[0, 0]);
        assert_eq!(
            Ipv4Packet::new_checked(&tso[..]).unwrap().payload(),
            &[1, 2, 3]
        );
        tso[3] = 19;
        assert!(Ipv4Packet::new_checked(&tso[..]).is_err());
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
        // a later fragment: the protocol is known, the payload is data
        p[50] = 0x01; // offset 32 bytes
        let ul = Ipv6Packet::new_checked(&p[..])
            .unwrap()
            .upper_layer()
            .unwrap();
        assert!(ul.later_fragment);
        assert_eq!(ul.protocol, ipproto::TCP);
    }
}
