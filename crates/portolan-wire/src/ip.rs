//! IPv4 (RFC 791) and IPv6 (RFC 8200, with extension-header walking): the fields of each header
//! ([`v4_field`], [`v6_field`], [`ext_field`]), the views ([`Ipv4Packet`], [`Ipv6Packet`]) and the
//! [`Ipv4Repr`] / [`Ipv6Repr`] that parse and emit a header.
//!
//! Payload accessors live on views over borrowed bytes (`Ipv4Packet<&'a [u8]>`, ...) and return
//! slices with the buffer's lifetime, so a caller can drop the view and keep the payload.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::{checksum, get16, get32, ipproto, need, put16, put32, room, WireError};

/// Where each field of the IPv4 header lies (RFC 791 §3.1).
pub mod v4_field {
    use crate::Field;

    /// Version (high nibble) and header length in 32-bit words (low nibble).
    pub const VER_IHL: usize = 0;
    /// DSCP (high 6 bits) and ECN (low 2 bits).
    pub const DSCP_ECN: usize = 1;
    /// Total length: header and payload.
    pub const LENGTH: Field = 2..4;
    pub const IDENT: Field = 4..6;
    /// Flags (reserved, DF, MF: the top 3 bits) and fragment offset in 8-byte units.
    pub const FLG_OFF: Field = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Field = 10..12;
    pub const SRC_ADDR: Field = 12..16;
    pub const DST_ADDR: Field = 16..20;
    /// Where options start: the length of a header without options.
    pub const OPTIONS: usize = 20;

    /// "Don't fragment" in `FLG_OFF`.
    pub const FLAG_DF: u16 = 0x4000;
    /// "More fragments" in `FLG_OFF`.
    pub const FLAG_MF: u16 = 0x2000;
    /// The fragment offset bits of `FLG_OFF`.
    pub const FRAG_OFFSET_MASK: u16 = 0x1fff;
}

/// Where each field of the fixed IPv6 header lies (RFC 8200 §3).
pub mod v6_field {
    use crate::Field;

    /// Version (4 bits), traffic class (8 bits), flow label (20 bits).
    pub const VER_TC_FLOW: Field = 0..4;
    pub const LENGTH: Field = 4..6;
    pub const NXT_HDR: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC_ADDR: Field = 8..24;
    pub const DST_ADDR: Field = 24..40;
    /// Where the payload (the first extension header or the upper layer) starts.
    pub const PAYLOAD: usize = 40;
}

/// Where the fields of an IPv6 extension header lie (RFC 8200 §4), from its first byte.
pub mod ext_field {
    use crate::Field;

    /// Next Header: the type of what follows.
    pub const NXT_HDR: usize = 0;
    /// Header length: in 8-byte units not counting the first 8 (hop-by-hop, routing,
    /// destination options, mobility); in 4-byte units not counting the first 8 (AH).
    pub const LENGTH: usize = 1;
    /// The shortest extension header.
    pub const MIN_LEN: usize = 8;
    /// Fragment header: offset in 8-byte units (high 13 bits) and the M flag (low bit).
    pub const FRAG_OFFSET: Field = 2..4;
    /// Fragment header: identification.
    pub const FRAG_IDENT: Field = 4..8;
    /// The fragment offset bits of `FRAG_OFFSET`.
    pub const FRAG_OFFSET_MASK: u16 = 0xfff8;
}

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
        need(b, v4_field::OPTIONS, "IPv4")?;
        if b[v4_field::VER_IHL] >> 4 != 4 {
            return Err(WireError::Malformed {
                layer: "IPv4",
                what: "version is not 4",
            });
        }
        let hlen = usize::from(b[v4_field::VER_IHL] & 0x0f) * 4;
        if hlen < v4_field::OPTIONS {
            return Err(WireError::Malformed {
                layer: "IPv4",
                what: "header length below 20",
            });
        }
        need(b, hlen, "IPv4 options")?;
        let total = usize::from(get16(b, v4_field::LENGTH));
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
        self.b()[v4_field::DSCP_ECN]
    }
    #[inline]
    pub fn total_len(&self) -> u16 {
        get16(self.b(), v4_field::LENGTH)
    }
    pub fn ident(&self) -> u16 {
        get16(self.b(), v4_field::IDENT)
    }
    pub fn dont_frag(&self) -> bool {
        get16(self.b(), v4_field::FLG_OFF) & v4_field::FLAG_DF != 0
    }
    pub fn more_frags(&self) -> bool {
        get16(self.b(), v4_field::FLG_OFF) & v4_field::FLAG_MF != 0
    }
    /// Fragment offset in 8-byte units; non-zero means this is not the first fragment (its
    /// payload is not a transport header).
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        get16(self.b(), v4_field::FLG_OFF) & v4_field::FRAG_OFFSET_MASK
    }
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.b()[v4_field::TTL]
    }
    #[inline]
    pub fn protocol(&self) -> u8 {
        self.b()[v4_field::PROTOCOL]
    }
    pub fn checksum(&self) -> u16 {
        get16(self.b(), v4_field::CHECKSUM)
    }
    #[inline]
    pub fn src_bytes(&self) -> [u8; 4] {
        let mut a = [0u8; 4];
        a.copy_from_slice(&self.b()[v4_field::SRC_ADDR]);
        a
    }
    #[inline]
    pub fn dst_bytes(&self) -> [u8; 4] {
        let mut a = [0u8; 4];
        a.copy_from_slice(&self.b()[v4_field::DST_ADDR]);
        a
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
        need(b, v6_field::PAYLOAD, "IPv6")?;
        if b[v6_field::VER_TC_FLOW.start] >> 4 != 6 {
            return Err(WireError::Malformed {
                layer: "IPv6",
                what: "version is not 6",
            });
        }
        let pl = usize::from(get16(b, v6_field::LENGTH));
        let end = if pl == 0 {
            b.len()
        } else {
            (v6_field::PAYLOAD + pl).min(b.len())
        };
        Ok(Ipv6Packet { buf, end })
    }
    #[inline]
    fn b(&self) -> &[u8] {
        self.buf.as_ref()
    }
    #[inline]
    pub fn payload_len(&self) -> u16 {
        get16(self.b(), v6_field::LENGTH)
    }
    /// The first Next Header value (before extension headers).
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.b()[v6_field::NXT_HDR]
    }
    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.b()[v6_field::HOP_LIMIT]
    }
    pub fn flow_label(&self) -> u32 {
        get32(self.b(), v6_field::VER_TC_FLOW) & 0x000f_ffff
    }
    /// Traffic class (DSCP and ECN).
    pub fn traffic_class(&self) -> u8 {
        (get32(self.b(), v6_field::VER_TC_FLOW) >> 20) as u8
    }
    #[inline]
    pub fn src_bytes(&self) -> [u8; 16] {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.b()[v6_field::SRC_ADDR]);
        a
    }
    #[inline]
    pub fn dst_bytes(&self) -> [u8; 16] {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.b()[v6_field::DST_ADDR]);
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
        v6_field::PAYLOAD..self.end
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Ipv6Packet<&'a T> {
    /// Bytes after the fixed header (extension headers included); see [`Self::payload_range`].
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        &<T as AsRef<[u8]>>::as_ref(self.buf)[v6_field::PAYLOAD..self.end]
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
                need(rest, ext_field::MIN_LEN, EXT)?;
                (usize::from(rest[ext_field::LENGTH]) + 1) * 8
            }
            ipproto::FRAGMENT => {
                need(rest, ext_field::MIN_LEN, "IPv6 fragment")?;
                later_fragment =
                    get16(rest, ext_field::FRAG_OFFSET) & ext_field::FRAG_OFFSET_MASK != 0;
                ext_field::MIN_LEN
            }
            ipproto::AH => {
                need(rest, ext_field::MIN_LEN, "IPv6 authentication")?;
                (usize::from(rest[ext_field::LENGTH]) + 2) * 4
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
        next = rest[ext_field::NXT_HDR];
        rest = &rest[len..];
    }
    Err(WireError::Malformed {
        layer: "IPv6",
        what: "more than 8 extension headers",
    })
}

/// An IPv4 header without options as plain fields: what [`Ipv4Repr::parse`] reads and
/// [`Ipv4Repr::emit`] writes, header checksum included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Repr {
    pub src_addr: Ipv4Addr,
    pub dst_addr: Ipv4Addr,
    /// The protocol of the payload ([`crate::ipproto`]).
    pub protocol: u8,
    /// Length of the payload after the header.
    pub payload_len: usize,
    pub ttl: u8,
    pub ident: u16,
    pub dscp_ecn: u8,
    pub dont_frag: bool,
    pub more_frags: bool,
    /// Fragment offset in 8-byte units (13 bits).
    pub frag_offset: u16,
}

impl Ipv4Repr {
    /// Read the header of `packet` (options are skipped, not kept); the payload length is what
    /// was captured, up to the total length.
    pub fn parse<B: AsRef<[u8]> + ?Sized>(packet: &Ipv4Packet<&B>) -> Ipv4Repr {
        Ipv4Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            protocol: packet.protocol(),
            payload_len: packet.payload().len(),
            ttl: packet.ttl(),
            ident: packet.ident(),
            dscp_ecn: packet.dscp_ecn(),
            dont_frag: packet.dont_frag(),
            more_frags: packet.more_frags(),
            frag_offset: packet.frag_offset(),
        }
    }

    /// Length of the header `emit` writes (no options).
    pub const HEADER_LEN: usize = v4_field::OPTIONS;

    /// Length of the packet: header and payload.
    #[inline]
    pub fn buffer_len(&self) -> usize {
        Self::HEADER_LEN + self.payload_len
    }

    /// Write the 20-byte header, checksum included, into the start of `buf`, which holds
    /// [`Self::buffer_len`] bytes (the payload may be written before or after).
    #[inline]
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), WireError> {
        let Ok(total) = u16::try_from(self.buffer_len()) else {
            return Err(WireError::Malformed {
                layer: "IPv4",
                what: "packet longer than 65535 bytes",
            });
        };
        if self.frag_offset > v4_field::FRAG_OFFSET_MASK {
            return Err(WireError::Malformed {
                layer: "IPv4",
                what: "fragment offset wider than 13 bits",
            });
        }
        room(buf.len(), self.buffer_len())?;
        let b = &mut buf[..Self::HEADER_LEN];
        b[v4_field::VER_IHL] = 0x40 | (Self::HEADER_LEN / 4) as u8;
        b[v4_field::DSCP_ECN] = self.dscp_ecn;
        put16(b, v4_field::LENGTH, total);
        put16(b, v4_field::IDENT, self.ident);
        let flags = if self.dont_frag { v4_field::FLAG_DF } else { 0 }
            | if self.more_frags {
                v4_field::FLAG_MF
            } else {
                0
            };
        put16(b, v4_field::FLG_OFF, flags | self.frag_offset);
        b[v4_field::TTL] = self.ttl;
        b[v4_field::PROTOCOL] = self.protocol;
        put16(b, v4_field::CHECKSUM, 0);
        b[v4_field::SRC_ADDR].copy_from_slice(&self.src_addr.octets());
        b[v4_field::DST_ADDR].copy_from_slice(&self.dst_addr.octets());
        let c = checksum::of(b);
        put16(b, v4_field::CHECKSUM, c);
        Ok(())
    }
}

/// The fixed IPv6 header as plain fields: what [`Ipv6Repr::parse`] reads and [`Ipv6Repr::emit`]
/// writes (IPv6 has no header checksum).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Repr {
    pub src_addr: Ipv6Addr,
    pub dst_addr: Ipv6Addr,
    /// The first Next Header (an extension header or the upper-layer protocol).
    pub next_header: u8,
    /// Length of everything after the fixed header (extension headers included).
    pub payload_len: usize,
    pub hop_limit: u8,
    pub traffic_class: u8,
    /// Flow label (20 bits).
    pub flow_label: u32,
}

impl Ipv6Repr {
    /// Read the fixed header of `packet`; the payload length is what was captured, up to the
    /// payload length field.
    pub fn parse<B: AsRef<[u8]> + ?Sized>(packet: &Ipv6Packet<&B>) -> Ipv6Repr {
        Ipv6Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            next_header: packet.next_header(),
            payload_len: packet.payload().len(),
            hop_limit: packet.hop_limit(),
            traffic_class: packet.traffic_class(),
            flow_label: packet.flow_label(),
        }
    }

    /// Length of the fixed header.
    pub const HEADER_LEN: usize = v6_field::PAYLOAD;

    /// Length of the packet: fixed header and payload.
    #[inline]
    pub fn buffer_len(&self) -> usize {
        Self::HEADER_LEN + self.payload_len
    }

    /// Write the 40-byte fixed header into the start of `buf`, which holds
    /// [`Self::buffer_len`] bytes (the payload may be written before or after).
    #[inline]
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), WireError> {
        let Ok(plen) = u16::try_from(self.payload_len) else {
            return Err(WireError::Malformed {
                layer: "IPv6",
                what: "payload longer than 65535 bytes (jumbograms are not built)",
            });
        };
        if self.flow_label > 0x000f_ffff {
            return Err(WireError::Malformed {
                layer: "IPv6",
                what: "flow label wider than 20 bits",
            });
        }
        room(buf.len(), self.buffer_len())?;
        let b = &mut buf[..Self::HEADER_LEN];
        let vtf = (6u32 << 28) | (u32::from(self.traffic_class) << 20) | self.flow_label;
        put32(b, v6_field::VER_TC_FLOW, vtf);
        put16(b, v6_field::LENGTH, plen);
        b[v6_field::NXT_HDR] = self.next_header;
        b[v6_field::HOP_LIMIT] = self.hop_limit;
        b[v6_field::SRC_ADDR].copy_from_slice(&self.src_addr.octets());
        b[v6_field::DST_ADDR].copy_from_slice(&self.dst_addr.octets());
        Ok(())
    }
}

/// An IPv6 fragment header (RFC 8200 §4.5) as plain fields: what [`Ipv6FragRepr::parse`] reads
/// and [`Ipv6FragRepr::emit`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6FragRepr {
    /// What follows the fragment header (in the first fragment).
    pub next_header: u8,
    /// Offset of this fragment's data in 8-byte units (13 bits).
    pub frag_offset: u16,
    /// The M flag: more fragments follow.
    pub more_frags: bool,
    pub ident: u32,
}

impl Ipv6FragRepr {
    /// Length of a fragment header.
    pub const HEADER_LEN: usize = ext_field::MIN_LEN;

    /// Read a fragment header from the start of `b`.
    pub fn parse(b: &[u8]) -> Result<Ipv6FragRepr, WireError> {
        need(b, Self::HEADER_LEN, "IPv6 fragment")?;
        let off = get16(b, ext_field::FRAG_OFFSET);
        Ok(Ipv6FragRepr {
            next_header: b[ext_field::NXT_HDR],
            frag_offset: off >> 3,
            more_frags: off & 1 != 0,
            ident: get32(b, ext_field::FRAG_IDENT),
        })
    }

    /// Length of the header.
    pub fn buffer_len(&self) -> usize {
        Self::HEADER_LEN
    }

    /// Write the 8-byte header into the start of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), WireError> {
        if self.frag_offset > 0x1fff {
            return Err(WireError::Malformed {
                layer: "IPv6 fragment",
                what: "fragment offset wider than 13 bits",
            });
        }
        room(buf.len(), Self::HEADER_LEN)?;
        let b = &mut buf[..Self::HEADER_LEN];
        b[ext_field::NXT_HDR] = self.next_header;
        b[ext_field::LENGTH] = 0; // reserved in a fragment header
        put16(
            b,
            ext_field::FRAG_OFFSET,
            (self.frag_offset << 3) | u16::from(self.more_frags),
        );
        put32(b, ext_field::FRAG_IDENT, self.ident);
        Ok(())
    }
}

/// An IPv6 hop-by-hop, routing, destination-options or mobility header (the ones whose length
/// counts 8-byte units after the first 8) as plain fields: what [`Ipv6ExtRepr::parse`] reads and
/// [`Ipv6ExtRepr::emit`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6ExtRepr<'a> {
    pub next_header: u8,
    /// The bytes after the next-header and length bytes (options, routing data); `emit` pads
    /// them with zeros (Pad1 options) to a multiple of 8 bytes with the first two.
    pub data: &'a [u8],
}

impl<'a> Ipv6ExtRepr<'a> {
    /// Read the header at the start of `b`.
    pub fn parse(b: &'a [u8]) -> Result<Ipv6ExtRepr<'a>, WireError> {
        need(b, ext_field::MIN_LEN, "IPv6 extension")?;
        let len = (usize::from(b[ext_field::LENGTH]) + 1) * 8;
        need(b, len, "IPv6 extension")?;
        Ok(Ipv6ExtRepr {
            next_header: b[ext_field::NXT_HDR],
            data: &b[ext_field::LENGTH + 1..len],
        })
    }

    /// Length of the header: the two first bytes and the data, padded to 8-byte units.
    pub fn buffer_len(&self) -> usize {
        (ext_field::LENGTH + 1 + self.data.len()).div_ceil(8) * 8
    }

    /// Write the header into the start of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), WireError> {
        let len = self.buffer_len();
        let Ok(units) = u8::try_from(len / 8 - 1) else {
            return Err(WireError::Malformed {
                layer: "IPv6 extension",
                what: "header longer than 2048 bytes",
            });
        };
        room(buf.len(), len)?;
        let b = &mut buf[..len];
        b[ext_field::NXT_HDR] = self.next_header;
        b[ext_field::LENGTH] = units;
        let data = ext_field::LENGTH + 1..ext_field::LENGTH + 1 + self.data.len();
        b[data.end..].fill(0);
        b[data].copy_from_slice(self.data);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(proto: u8, payload: &[u8]) -> Vec<u8> {
        let r = Ipv4Repr {
            src_addr: Ipv4Addr::new(10, 0, 0, 1),
            dst_addr: Ipv4Addr::new(10, 0, 0, 2),
            protocol: proto,
            payload_len: payload.len(),
            ttl: 64,
            ident: 0x1234,
            dscp_ecn: 0,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
        };
        let mut p = vec![0u8; r.buffer_len()];
        r.emit(&mut p).unwrap();
        p[Ipv4Repr::HEADER_LEN..].copy_from_slice(payload);
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
        bad[v4_field::VER_IHL] = 0x44;
        assert!(Ipv4Packet::new_checked(&bad[..]).is_err());
        // total length 0 (TSO capture): up to the capture; below the header: malformed
        let mut tso = p.clone();
        tso[v4_field::LENGTH].copy_from_slice(&[0, 0]);
        assert_eq!(
            Ipv4Packet::new_checked(&tso[..]).unwrap().payload(),
            &[1, 2, 3]
        );
        tso[v4_field::LENGTH.end - 1] = 19;
        assert!(Ipv4Packet::new_checked(&tso[..]).is_err());
    }

    #[test]
    fn ipv6_extension_headers() {
        // hop-by-hop (8 bytes) -> fragment (8 bytes) -> TCP
        let mut ext = [0u8; 16];
        let hbh = Ipv6ExtRepr {
            next_header: ipproto::FRAGMENT,
            data: &[],
        };
        hbh.emit(&mut ext).unwrap();
        let frag = Ipv6FragRepr {
            next_header: ipproto::TCP,
            frag_offset: 0,
            more_frags: false,
            ident: 1,
        };
        frag.emit(&mut ext[hbh.buffer_len()..]).unwrap();
        let r = Ipv6Repr {
            src_addr: Ipv6Addr::LOCALHOST,
            dst_addr: Ipv6Addr::LOCALHOST,
            next_header: ipproto::HOPOPT,
            payload_len: ext.len() + 4,
            hop_limit: 64,
            traffic_class: 0,
            flow_label: 0,
        };
        let mut p = vec![0u8; r.buffer_len()];
        r.emit(&mut p).unwrap();
        p[v6_field::PAYLOAD..v6_field::PAYLOAD + 16].copy_from_slice(&ext);
        p[v6_field::PAYLOAD + 16..].copy_from_slice(&[0xaa; 4]);
        let ip = Ipv6Packet::new_checked(&p[..]).unwrap();
        let ul = ip.upper_layer().unwrap();
        assert_eq!(ul.protocol, ipproto::TCP);
        assert_eq!(ul.payload, &[0xaa; 4]);
        assert!(!ul.later_fragment);
        let ip = Ipv6Packet::new_checked(&p[..45]).unwrap();
        assert!(ip.upper_layer().is_err());
        // a later fragment: the protocol is known, the payload is data
        let later = Ipv6FragRepr {
            frag_offset: 4,
            ..frag
        };
        later.emit(&mut p[v6_field::PAYLOAD + 8..]).unwrap();
        let ul = Ipv6Packet::new_checked(&p[..])
            .unwrap()
            .upper_layer()
            .unwrap();
        assert!(ul.later_fragment);
        assert_eq!(ul.protocol, ipproto::TCP);
    }
}
