//! ICMPv4 (RFC 792) and ICMPv6 (RFC 4443) messages, including the packet an error quotes.

use crate::{be16, ipproto, need, WireError};

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
        need(buf.as_ref(), 8, if v6 { "ICMPv6" } else { "ICMP" })?;
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
        self.b()[0]
    }
    #[inline]
    pub fn msg_code(&self) -> u8 {
        self.b()[1]
    }
    pub fn checksum(&self) -> u16 {
        be16(self.b(), 2)
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
        &self.b()[8..]
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
