//! Zero-copy packet views in the style of smoltcp's `wire` module.
//!
//! Every view is a `Packet<T: AsRef<[u8]>>` over a byte buffer. `new_checked` verifies once that
//! the buffer is long enough for every accessor the view offers (and that the header is
//! well-formed), after which accessors read named byte ranges without further checks and without
//! copying. Payload accessors are clamped to the bytes actually captured, so a snap-length
//! truncated packet still decodes its headers.

pub mod ethernet;
pub mod icmp;
pub mod ip;
pub mod link;
pub mod tcp;
pub mod udp;

pub use ethernet::EthernetFrame;
pub use icmp::{Icmpv4Packet, Icmpv6Packet};
pub use ip::{Ipv4Packet, Ipv6Packet};
pub use link::{NullFrame, Sll2Frame, SllFrame};
pub use tcp::{TcpFlags, TcpOptions, TcpPacket};
pub use udp::UdpPacket;

/// Why a buffer could not be viewed as a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The buffer ends before the header does.
    #[error("truncated {0} header")]
    Truncated(&'static str),
    /// A header field has an impossible value.
    #[error("malformed {layer}: {what}")]
    Malformed {
        layer: &'static str,
        what: &'static str,
    },
}

#[inline]
pub(crate) fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline]
pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// EtherType values the decoders understand.
pub mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const IPV6: u16 = 0x86dd;
    pub const VLAN: u16 = 0x8100;
    pub const QINQ: u16 = 0x88a8;
    pub const QINQ_OLD: u16 = 0x9100;
}

/// IP protocol numbers the decoders understand.
pub mod ipproto {
    pub const HOPOPT: u8 = 0;
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const ROUTING: u8 = 43;
    pub const FRAGMENT: u8 = 44;
    pub const ESP: u8 = 50;
    pub const AH: u8 = 51;
    pub const ICMPV6: u8 = 58;
    pub const NONE: u8 = 59;
    pub const DSTOPTS: u8 = 60;
    pub const MOBILITY: u8 = 135;
}
