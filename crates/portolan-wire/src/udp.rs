//! UDP headers (RFC 768): the [`field`]s, the [`UdpPacket`] view and the [`UdpRepr`] that parses
//! and emits a header.

use std::net::IpAddr;

use crate::{checksum, get16, ipproto, need, put16, room, WireError};

/// Where each field of the UDP header lies.
pub mod field {
    use crate::Field;

    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    /// Length of header and payload.
    pub const LENGTH: Field = 4..6;
    pub const CHECKSUM: Field = 6..8;
    /// Where the payload starts: the header's length.
    pub const PAYLOAD: usize = 8;
}

/// A UDP datagram.
#[derive(Debug, Clone, Copy)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buf: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    #[inline]
    pub fn new_checked(buf: T) -> Result<Self, WireError> {
        need(buf.as_ref(), field::PAYLOAD, "UDP")?;
        Ok(UdpPacket { buf })
    }
    #[inline]
    fn b(&self) -> &[u8] {
        self.buf.as_ref()
    }
    #[inline]
    pub fn src_port(&self) -> u16 {
        get16(self.b(), field::SRC_PORT)
    }
    #[inline]
    pub fn dst_port(&self) -> u16 {
        get16(self.b(), field::DST_PORT)
    }
    /// The length field (header included).
    pub fn len(&self) -> u16 {
        get16(self.b(), field::LENGTH)
    }
    pub fn is_empty(&self) -> bool {
        usize::from(self.len()) <= field::PAYLOAD
    }
    pub fn checksum(&self) -> u16 {
        get16(self.b(), field::CHECKSUM)
    }
    /// The payload that was captured, up to the length field.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let b = self.b();
        let end = usize::from(self.len()).clamp(field::PAYLOAD, b.len());
        &b[field::PAYLOAD..end]
    }
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// Whether the checksum is right for a datagram from `src` to `dst` (a zero checksum, "none",
    /// is right in IPv4). False when the datagram was cut by the snap length or the addresses are
    /// of different families.
    pub fn verify_checksum(&self, src: IpAddr, dst: IpAddr) -> bool {
        let b = self.b();
        if src.is_ipv4() && self.checksum() == 0 {
            return true;
        }
        usize::from(self.len()) == b.len()
            && checksum::pseudo(src, dst, ipproto::UDP, b.len())
                .is_ok_and(|p| checksum::finish(checksum::add(p, b)) == 0)
    }
}

/// A UDP header as plain fields: what [`UdpRepr::parse`] reads and [`UdpRepr::emit`] writes,
/// checksum included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpRepr {
    pub src_port: u16,
    pub dst_port: u16,
    /// Length of the payload after the header.
    pub payload_len: usize,
}

impl UdpRepr {
    /// Read the header of `packet`; the payload length is what the length field says, clamped
    /// to what was captured.
    pub fn parse<T: AsRef<[u8]>>(packet: &UdpPacket<T>) -> UdpRepr {
        UdpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            payload_len: packet.payload().len(),
        }
    }

    /// Length of the datagram: 8 bytes of header and the payload.
    #[inline]
    pub fn buffer_len(&self) -> usize {
        field::PAYLOAD + self.payload_len
    }

    /// Write the header into `buf` and the checksum of the datagram from `src` to `dst` (one
    /// family; a computed zero is sent as `0xffff`, RFC 768). `buf` holds
    /// [`Self::buffer_len`] bytes with the payload already in place after the header; bytes
    /// after `buffer_len` are not touched.
    #[inline]
    pub fn emit(&self, buf: &mut [u8], src: IpAddr, dst: IpAddr) -> Result<(), WireError> {
        let len = self.buffer_len();
        let Ok(wire_len) = u16::try_from(len) else {
            return Err(WireError::Malformed {
                layer: "UDP",
                what: "datagram longer than 65535 bytes",
            });
        };
        room(buf.len(), len)?;
        let pseudo = checksum::pseudo(src, dst, ipproto::UDP, len)?;
        let b = &mut buf[..len];
        put16(b, field::SRC_PORT, self.src_port);
        put16(b, field::DST_PORT, self.dst_port);
        put16(b, field::LENGTH, wire_len);
        put16(b, field::CHECKSUM, 0);
        let c = match checksum::finish(checksum::add(pseudo, b)) {
            0 => 0xffff,
            c => c,
        };
        put16(b, field::CHECKSUM, c);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_follows_length_and_capture() {
        let d = [0, 53, 0xc3, 0x50, 0, 11, 0, 0, b'a', b'b', b'c', b'd'];
        let u = UdpPacket::new_checked(&d[..]).unwrap();
        assert_eq!((u.src_port(), u.dst_port(), u.len()), (53, 50000, 11));
        assert_eq!(u.payload(), b"abc");
        assert_eq!(UdpPacket::new_checked(&d[..9]).unwrap().payload(), b"a");
        let mut short = d;
        short[5] = 3; // length below the header
        assert!(UdpPacket::new_checked(&short[..])
            .unwrap()
            .payload()
            .is_empty());
        assert!(UdpPacket::new_checked(&d[..7]).is_err());
    }
}
