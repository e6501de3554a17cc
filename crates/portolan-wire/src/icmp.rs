//! ICMPv4 (RFC 792) and ICMPv6 (RFC 4443) messages, including the packet an error quotes: the
//! [`field`]s, the [`IcmpPacket`] view and the [`IcmpRepr`] that parses and emits a header.

use std::net::IpAddr;

use crate::{checksum, get16, get32, ipproto, need, put16, put32, room, WireError};

/// Where each field of the ICMP / ICMPv6 header lies (the same in both).
pub mod field {
    use crate::Field;

    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Field = 2..4;
    /// The rest of the header: identifier and sequence of an echo, the next-hop MTU of
    /// "fragmentation needed", the pointer of a parameter problem, unused (zero) otherwise.
    pub const REST_OF_HEADER: Field = 4..8;
    /// Echo identifier and sequence number (within `REST_OF_HEADER`).
    pub const ECHO_IDENT: Field = 4..6;
    pub const ECHO_SEQ: Field = 6..8;
    /// Where the data starts (for an error: the quoted packet).
    pub const DATA: usize = 8;
}

/// ICMPv4 types and codes.
pub mod v4 {
    pub const ECHO_REPLY: u8 = 0;
    pub const DEST_UNREACHABLE: u8 = 3;
    pub const SOURCE_QUENCH: u8 = 4;
    pub const REDIRECT: u8 = 5;
    pub const ECHO_REQUEST: u8 = 8;
    pub const TIME_EXCEEDED: u8 = 11;
    pub const PARAMETER_PROBLEM: u8 = 12;
    pub const TIMESTAMP: u8 = 13;
    pub const TIMESTAMP_REPLY: u8 = 14;
    pub const CODE_PORT_UNREACHABLE: u8 = 3;
}

/// ICMPv6 types and codes.
pub mod v6 {
    pub const DEST_UNREACHABLE: u8 = 1;
    pub const TIME_EXCEEDED: u8 = 3;
    pub const ECHO_REQUEST: u8 = 128;
    pub const ECHO_REPLY: u8 = 129;
    pub const CODE_PORT_UNREACHABLE: u8 = 4;
}

/// An ICMP (v4) or ICMPv6 message; which one is given to `new_checked` (the IP protocol said).
#[derive(Debug, Clone, Copy)]
pub struct IcmpPacket<T: AsRef<[u8]>> {
    buf: T,
    v6: bool,
}

impl<T: AsRef<[u8]>> IcmpPacket<T> {
    /// Check the 8-byte header.
    #[inline]
    pub fn new_checked(buf: T, v6: bool) -> Result<Self, WireError> {
        need(
            buf.as_ref(),
            field::DATA,
            if v6 { "ICMPv6" } else { "ICMP" },
        )?;
        Ok(IcmpPacket { buf, v6 })
    }
    #[inline]
    fn b(&self) -> &[u8] {
        self.buf.as_ref()
    }
    pub fn is_v6(&self) -> bool {
        self.v6
    }
    #[inline]
    pub fn msg_type(&self) -> u8 {
        self.b()[field::TYPE]
    }
    #[inline]
    pub fn msg_code(&self) -> u8 {
        self.b()[field::CODE]
    }
    pub fn checksum(&self) -> u16 {
        get16(self.b(), field::CHECKSUM)
    }
    /// True for error messages, which quote the offending packet: ICMPv4 destination
    /// unreachable, source quench, redirect, time exceeded, parameter problem; ICMPv6 types
    /// below 128.
    pub fn is_error(&self) -> bool {
        if self.v6 {
            self.msg_type() < 128
        } else {
            matches!(
                self.msg_type(),
                v4::DEST_UNREACHABLE
                    | v4::SOURCE_QUENCH
                    | v4::REDIRECT
                    | v4::TIME_EXCEEDED
                    | v4::PARAMETER_PROBLEM
            )
        }
    }
    /// Whether this is a destination-unreachable error (ICMP type 3 / ICMPv6 type 1).
    #[inline]
    pub fn is_unreachable(&self) -> bool {
        self.msg_type()
            == if self.v6 {
                v6::DEST_UNREACHABLE
            } else {
                v4::DEST_UNREACHABLE
            }
    }
    /// Whether the code means "port unreachable" (the UDP port is closed).
    #[inline]
    pub fn is_port_unreachable(&self) -> bool {
        self.is_unreachable()
            && self.msg_code()
                == if self.v6 {
                    v6::CODE_PORT_UNREACHABLE
                } else {
                    v4::CODE_PORT_UNREACHABLE
                }
    }
    /// Protocol number of the ICMP flavour.
    pub fn ip_protocol(&self) -> u8 {
        if self.v6 {
            ipproto::ICMPV6
        } else {
            ipproto::ICMP
        }
    }
    /// Bytes after the 8-byte header: for an error, the offending packet it quotes (IP header
    /// onwards, at least 8 bytes of the transport header).
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.b()[field::DATA..]
    }
}

impl<T: AsRef<[u8]>> IcmpPacket<T> {
    /// The 32 bits after the checksum (see [`field::REST_OF_HEADER`]).
    pub fn rest_of_header(&self) -> u32 {
        get32(self.b(), field::REST_OF_HEADER)
    }

    /// Whether the checksum is right (ICMPv6's covers the pseudo-header of `src` and `dst`;
    /// ICMPv4 ignores them). False when the message was cut by the snap length.
    pub fn verify_checksum(&self, src: IpAddr, dst: IpAddr) -> bool {
        let b = self.b();
        let start = if self.v6 {
            match checksum::pseudo(src, dst, ipproto::ICMPV6, b.len()) {
                Ok(p) => p,
                Err(_) => return false,
            }
        } else {
            0
        };
        checksum::finish(checksum::add(start, b)) == 0
    }
}

/// An ICMP or ICMPv6 header as plain fields: what [`IcmpRepr::parse`] reads and
/// [`IcmpRepr::emit`] writes, checksum included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpRepr {
    /// ICMPv6 (true) or ICMPv4.
    pub v6: bool,
    pub msg_type: u8,
    pub msg_code: u8,
    /// The 32 bits after the checksum ([`field::REST_OF_HEADER`]).
    pub rest_of_header: u32,
    /// Length of the data after the 8-byte header (for an error: of the quoted packet).
    pub data_len: usize,
}

impl IcmpRepr {
    /// Read the header of `packet`; the data length is what was captured.
    pub fn parse<T: AsRef<[u8]>>(packet: &IcmpPacket<T>) -> IcmpRepr {
        IcmpRepr {
            v6: packet.is_v6(),
            msg_type: packet.msg_type(),
            msg_code: packet.msg_code(),
            rest_of_header: packet.rest_of_header(),
            data_len: packet.data().len(),
        }
    }

    /// Length of the message: 8 bytes of header and the data.
    #[inline]
    pub fn buffer_len(&self) -> usize {
        field::DATA + self.data_len
    }

    /// Write the header into `buf` and the checksum of the message (for ICMPv6 with the
    /// pseudo-header of `src` and `dst`; ICMPv4 does not read them). `buf` holds
    /// [`Self::buffer_len`] bytes with the data already in place after the header; bytes after
    /// `buffer_len` are not touched.
    pub fn emit(&self, buf: &mut [u8], src: IpAddr, dst: IpAddr) -> Result<(), WireError> {
        let len = self.buffer_len();
        room(buf.len(), len)?;
        let start = if self.v6 {
            checksum::pseudo(src, dst, ipproto::ICMPV6, len)?
        } else {
            0
        };
        let b = &mut buf[..len];
        b[field::TYPE] = self.msg_type;
        b[field::CODE] = self.msg_code;
        put16(b, field::CHECKSUM, 0);
        put32(b, field::REST_OF_HEADER, self.rest_of_header);
        let c = checksum::finish(checksum::add(start, b));
        put16(b, field::CHECKSUM, c);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_and_unreachables_by_version() {
        let m = [3u8, 3, 0, 0, 0, 0, 0, 0, 0x45];
        let i = IcmpPacket::new_checked(&m[..], false).unwrap();
        assert!(i.is_error() && i.is_unreachable() && i.is_port_unreachable());
        assert_eq!((i.data(), i.ip_protocol()), (&[0x45][..], ipproto::ICMP));
        // type 3 is time exceeded in ICMPv6: an error, not an unreachable
        let i = IcmpPacket::new_checked(&m[..], true).unwrap();
        assert!(i.is_error() && !i.is_unreachable());
        let echo = [128u8, 0, 0, 0, 0, 0, 0, 0];
        assert!(!IcmpPacket::new_checked(&echo[..], true).unwrap().is_error());
        assert!(IcmpPacket::new_checked(&echo[..7], true).is_err());
    }
}
