//! ICMPv4 and ICMPv6, including the packet an error message quotes.

use super::{be16, WireError};

/// A view of an ICMPv4 message.
#[derive(Debug, Clone)]
pub struct Icmpv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

/// ICMPv4 types the detector cares about.
pub mod v4 {
    pub const ECHO_REPLY: u8 = 0;
    pub const DEST_UNREACHABLE: u8 = 3;
    pub const ECHO_REQUEST: u8 = 8;
    pub const TIME_EXCEEDED: u8 = 11;
    pub const TIMESTAMP: u8 = 13;
    pub const CODE_PORT_UNREACHABLE: u8 = 3;
}

/// ICMPv6 types the detector cares about.
pub mod v6 {
    pub const DEST_UNREACHABLE: u8 = 1;
    pub const TIME_EXCEEDED: u8 = 3;
    pub const ECHO_REQUEST: u8 = 128;
    pub const ECHO_REPLY: u8 = 129;
    pub const CODE_PORT_UNREACHABLE: u8 = 4;
}

impl<T: AsRef<[u8]>> Icmpv4Packet<T> {
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        if buffer.as_ref().len() < 8 {
            return Err(WireError::Truncated("ICMP"));
        }
        Ok(Icmpv4Packet { buffer })
    }
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[0]
    }
    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[1]
    }
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), 2)
    }
    /// True for error messages, which quote the offending packet.
    pub fn is_error(&self) -> bool {
        matches!(
            self.msg_type(),
            v4::DEST_UNREACHABLE | v4::TIME_EXCEEDED | 4 | 5 | 12
        )
    }
    /// Bytes after the 8-byte header: the quoted IP header and 8+ bytes for errors.
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[8..]
    }
}

/// A view of an ICMPv6 message.
#[derive(Debug, Clone)]
pub struct Icmpv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv6Packet<T> {
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        if buffer.as_ref().len() < 8 {
            return Err(WireError::Truncated("ICMPv6"));
        }
        Ok(Icmpv6Packet { buffer })
    }
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[0]
    }
    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[1]
    }
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), 2)
    }
    /// Error messages have types below 128.
    pub fn is_error(&self) -> bool {
        self.msg_type() < 128
    }
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[8..]
    }
}
