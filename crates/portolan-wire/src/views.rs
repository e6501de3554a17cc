//! Zero-copy views over packet bytes. `new_checked` validates the lengths a view relies on, so
//! no accessor can index out of bounds afterwards.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::{ipproto, WireError};

fn need(buf: &[u8], n: usize) -> Result<(), WireError> {
    if buf.len() < n {
        Err(WireError::Truncated {
            need: n,
            have: buf.len(),
        })
    } else {
        Ok(())
    }
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// An IPv4 packet (RFC 791).
#[derive(Debug, Clone, Copy)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buf: T,
    /// Header length in bytes.
    hlen: usize,
    /// End of the packet: total length, clamped to what was captured.
    end: usize,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Check version, header length and total length. A packet captured shorter than its total
    /// length (snap length) is accepted; its payload is what was captured.
    pub fn new_checked(buf: T) -> Result<Self, WireError> {
        let b = buf.as_ref();
        need(b, 20)?;
        if b[0] >> 4 != 4 {
            return Err(WireError::Malformed("not IPv4"));
        }
        let hlen = usize::from(b[0] & 0x0f) * 4;
        if hlen < 20 {
            return Err(WireError::Malformed("IPv4 header length below 20"));
        }
        need(b, hlen)?;
        let total = usize::from(be16(b, 2));
        if total < hlen {
            return Err(WireError::Malformed(
                "IPv4 total length below header length",
            ));
        }
        let end = total.min(b.len());
        Ok(Ipv4Packet { buf, hlen, end })
    }
    fn b(&self) -> &[u8] {
        self.buf.as_ref()
    }
    pub fn header_len(&self) -> usize {
        self.hlen
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
    /// Fragment offset in 8-byte units; non-zero means this is not the first fragment.
    pub fn frag_offset(&self) -> u16 {
        be16(self.b(), 6) & 0x1fff
    }
    pub fn more_frags(&self) -> bool {
        self.b()[6] & 0x20 != 0
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
    pub fn src(&self) -> Ipv4Addr {
        let b = self.b();
        Ipv4Addr::new(b[12], b[13], b[14], b[15])
    }
    pub fn dst(&self) -> Ipv4Addr {
        let b = self.b();
        Ipv4Addr::new(b[16], b[17], b[18], b[19])
    }
    /// Whether the header checksum is right.
    pub fn verify_checksum(&self) -> bool {
        crate::checksum::of(&self.b()[..self.hlen]) == 0
    }
    /// The payload (transport header and data) as captured.
    pub fn payload(&self) -> &[u8] {
        &self.b()[self.payload_range()]
    }
    /// Where the payload lies in the buffer.
    pub fn payload_range(&self) -> std::ops::Range<usize> {
        self.hlen..self.end
    }
}

/// An IPv6 packet (RFC 8200), with the extension-header chain walked to the upper layer.
#[derive(Debug, Clone, Copy)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buf: T,
    /// Upper-layer protocol after the extension headers.
    upper: u8,
    /// Offset of the upper-layer header.
    upper_at: usize,
    end: usize,
    fragmented: bool,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    pub fn new_checked(buf: T) -> Result<Self, WireError> {
        let b = buf.as_ref();
        need(b, 40)?;
        if b[0] >> 4 != 6 {
            return Err(WireError::Malformed("not IPv6"));
        }
        let end = (40 + usize::from(be16(b, 4))).min(b.len());
        let mut next = b[6];
        let mut at = 40;
        let mut fragmented = false;
        // Walk at most a handful of extension headers: hop-by-hop, routing, fragment,
        // destination options.
        for _ in 0..8 {
            match next {
                0 | 43 | 60 => {
                    need(&b[..end], at + 8)?;
                    let len = (usize::from(b[at + 1]) + 1) * 8;
                    next = b[at];
                    at += len;
                }
                44 => {
                    need(&b[..end], at + 8)?;
                    fragmented = true;
                    let off = be16(b, at + 2) >> 3;
                    next = b[at];
                    at += 8;
                    if off != 0 {
                        // Not the first fragment: no upper-layer header here.
                        next = 59;
                        break;
                    }
                }
                _ => break,
            }
        }
        if at > end {
            return Err(WireError::Truncated {
                need: at,
                have: end,
            });
        }
        Ok(Ipv6Packet {
            buf,
            upper: next,
            upper_at: at,
            end,
            fragmented,
        })
    }
    fn b(&self) -> &[u8] {
        self.buf.as_ref()
    }
    pub fn hop_limit(&self) -> u8 {
        self.b()[7]
    }
    /// The first Next Header value (before extension headers).
    pub fn next_header(&self) -> u8 {
        self.b()[6]
    }
    /// The upper-layer protocol (59 = none) after extension headers.
    pub fn upper_protocol(&self) -> u8 {
        self.upper
    }
    pub fn is_fragment(&self) -> bool {
        self.fragmented
    }
    pub fn src(&self) -> Ipv6Addr {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.b()[8..24]);
        Ipv6Addr::from(a)
    }
    pub fn dst(&self) -> Ipv6Addr {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.b()[24..40]);
        Ipv6Addr::from(a)
    }
    /// Upper-layer bytes as captured.
    pub fn payload(&self) -> &[u8] {
        &self.b()[self.payload_range()]
    }
    /// Where the upper-layer bytes lie in the buffer.
    pub fn payload_range(&self) -> std::ops::Range<usize> {
        self.upper_at..self.end
    }
}

/// A TCP segment (RFC 9293).
#[derive(Debug, Clone, Copy)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buf: T,
    hlen: usize,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Needs the fixed 20-byte header; options and payload may be cut by the snap length.
    pub fn new_checked(buf: T) -> Result<Self, WireError> {
        let b = buf.as_ref();
        need(b, 20)?;
        let hlen = usize::from(b[12] >> 4) * 4;
        if hlen < 20 {
            return Err(WireError::Malformed("TCP data offset below 20"));
        }
        Ok(TcpPacket { buf, hlen })
    }
    /// The first 8 bytes of a TCP header, as quoted by ICMP errors: ports and sequence number.
    /// Returns `(src_port, dst_port, seq)`.
    pub fn quoted(b: &[u8]) -> Result<(u16, u16, u32), WireError> {
        need(b, 8)?;
        Ok((be16(b, 0), be16(b, 2), be32(b, 4)))
    }
    fn b(&self) -> &[u8] {
        self.buf.as_ref()
    }
    pub fn src_port(&self) -> u16 {
        be16(self.b(), 0)
    }
    pub fn dst_port(&self) -> u16 {
        be16(self.b(), 2)
    }
    pub fn seq(&self) -> u32 {
        be32(self.b(), 4)
    }
    pub fn ack(&self) -> u32 {
        be32(self.b(), 8)
    }
    pub fn header_len(&self) -> usize {
        self.hlen
    }
    /// The 8 flag bits (CWR..FIN).
    pub fn flags(&self) -> u8 {
        self.b()[13]
    }
    pub fn window(&self) -> u16 {
        be16(self.b(), 14)
    }
    pub fn urgent(&self) -> u16 {
        be16(self.b(), 18)
    }
    /// Option bytes as captured (may be shorter than the header says).
    pub fn options(&self) -> &[u8] {
        let b = self.b();
        &b[20..self.hlen.min(b.len())]
    }
    /// Payload bytes as captured.
    pub fn payload(&self) -> &[u8] {
        let b = self.b();
        &b[self.hlen.min(b.len())..]
    }
}

/// A UDP datagram (RFC 768).
#[derive(Debug, Clone, Copy)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buf: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    pub fn new_checked(buf: T) -> Result<Self, WireError> {
        need(buf.as_ref(), 8)?;
        Ok(UdpPacket { buf })
    }
    fn b(&self) -> &[u8] {
        self.buf.as_ref()
    }
    pub fn src_port(&self) -> u16 {
        be16(self.b(), 0)
    }
    pub fn dst_port(&self) -> u16 {
        be16(self.b(), 2)
    }
    pub fn len(&self) -> u16 {
        be16(self.b(), 4)
    }
    pub fn is_empty(&self) -> bool {
        self.len() <= 8
    }
    pub fn payload(&self) -> &[u8] {
        let b = self.b();
        let end = usize::from(self.len()).clamp(8, b.len());
        &b[8..end]
    }
}

/// An ICMP (v4, RFC 792) or ICMPv6 (RFC 4443) message.
#[derive(Debug, Clone, Copy)]
pub struct IcmpPacket<T: AsRef<[u8]>> {
    buf: T,
    v6: bool,
}

impl<T: AsRef<[u8]>> IcmpPacket<T> {
    pub fn new_checked(buf: T, v6: bool) -> Result<Self, WireError> {
        need(buf.as_ref(), 8)?;
        Ok(IcmpPacket { buf, v6 })
    }
    fn b(&self) -> &[u8] {
        self.buf.as_ref()
    }
    pub fn is_v6(&self) -> bool {
        self.v6
    }
    pub fn msg_type(&self) -> u8 {
        self.b()[0]
    }
    pub fn code(&self) -> u8 {
        self.b()[1]
    }
    /// Whether this is a destination-unreachable error (ICMP type 3 / ICMPv6 type 1).
    pub fn is_unreachable(&self) -> bool {
        if self.v6 {
            self.msg_type() == 1
        } else {
            self.msg_type() == 3
        }
    }
    /// Whether the code means "port unreachable" (the UDP port is closed).
    pub fn is_port_unreachable(&self) -> bool {
        self.is_unreachable()
            && if self.v6 {
                self.code() == 4
            } else {
                self.code() == 3
            }
    }
    /// The offending packet quoted by an error message (IP header onwards).
    pub fn quoted(&self) -> &[u8] {
        &self.b()[8..]
    }
    /// Protocol number of the ICMP flavour.
    pub fn ip_protocol(&self) -> u8 {
        if self.v6 {
            ipproto::ICMPV6
        } else {
            ipproto::ICMP
        }
    }
}
