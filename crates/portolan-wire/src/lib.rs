//! # portolan-wire — packets on the wire
//!
//! The byte-level layer of Portolan's raw scanner, shared by everything that crafts or reads
//! packets:
//!
//! - zero-copy, bounds-checked views over received bytes, in the style of smoltcp's `wire`
//!   module: [`Ipv4Packet`], [`Ipv6Packet`], [`TcpPacket`], [`UdpPacket`], [`IcmpPacket`]. Each
//!   `new_checked` validates lengths once; accessors never panic afterwards.
//! - builders that write complete IPv4/IPv6 TCP SYN and UDP probes, checksums included, into a
//!   caller-provided buffer with no allocation ([`build`]);
//! - stateless probe validation ([`cookie`]): a keyed SipHash of the 4-tuple carried in the TCP
//!   sequence number or the UDP source port, as masscan and ZMap do, so the receiver needs no
//!   per-probe table;
//! - [`reply::classify`]: turn one received IP packet into what it says about a probe (SYN-ACK,
//!   RST, UDP reply, ICMP unreachable quoting our probe), validated against the cookie;
//! - [`payloads`]: protocol-correct UDP probes (DNS, NTP, SNMP, NetBIOS-NS, SSDP, mDNS, memcached,
//!   RPCbind, IKE, TFTP, CLDAP, WS-Discovery, ...) written from the RFCs and public specifications.

pub mod build;
pub mod checksum;
pub mod cookie;
pub mod payloads;
pub mod reply;
mod views;

pub use views::{IcmpPacket, Ipv4Packet, Ipv6Packet, TcpPacket, UdpPacket};

/// Why a byte buffer is not the packet it was taken for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("truncated packet: need {need} bytes, have {have}")]
    Truncated { need: usize, have: usize },
    #[error("malformed packet: {0}")]
    Malformed(&'static str),
    #[error("buffer too small to build the packet: need {0} bytes")]
    BufferTooSmall(usize),
}

/// IP protocol numbers used here.
pub mod ipproto {
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const ICMPV6: u8 = 58;
}

/// TCP flag bits.
pub mod tcpflags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;
}
