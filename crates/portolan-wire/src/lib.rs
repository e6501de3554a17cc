//! # portolan-wire — packets on the wire
//!
//! The byte-level layer of Portolan, shared by everything that crafts or reads packets: the raw
//! scanner (`portolan-scan`) and the scan/flood detector (`portolan-detect`) read headers through
//! the same views.
//!
//! - zero-copy, bounds-checked views over captured bytes, in the style of smoltcp's `wire`
//!   module. Each `new_checked` validates lengths once; accessors never panic afterwards, and
//!   payload accessors are clamped to the bytes actually captured (a snap-length-truncated packet
//!   still decodes its headers):
//!   - link layers ([`link`]): [`EthernetFrame`] with up to four 802.1Q/802.1ad VLAN tags, Linux
//!     cooked capture v1/v2 ([`SllFrame`], [`Sll2Frame`]), BSD/OpenBSD loopback ([`NullFrame`]),
//!     and the pcap `LINKTYPE_` numbers ([`link::linktype`]);
//!   - network: [`Ipv4Packet`] (fragments, options, checksum) and [`Ipv6Packet`] with its
//!     extension-header chain walked to the upper layer ([`Ipv6Packet::upper_layer`]:
//!     hop-by-hop, routing, fragment, destination options, AH, mobility);
//!   - transport: [`TcpPacket`] with [`TcpFlags`] and an iterator over its options
//!     ([`TcpOptions`]), [`UdpPacket`], and [`IcmpPacket`] (ICMPv4 and ICMPv6, with the packet an
//!     error message quotes);
//! - each header's fields named once, as byte ranges in a `field` module ([`tcp::field`],
//!   [`udp::field`], [`icmp::field`], [`ip::v4_field`], [`ip::v6_field`], [`ip::ext_field`],
//!   [`link::field`], ...), as smoltcp does: views, builders and test fixtures read and write
//!   headers through these names, never through offsets written out again;
//! - `Repr` types, plain structs of a header's fields with `parse` (from a view) and `emit` (into
//!   a buffer of `buffer_len()` bytes, checksums computed): [`EthernetRepr`], [`Ipv4Repr`],
//!   [`Ipv6Repr`] with the extension headers [`Ipv6ExtRepr`] and [`Ipv6FragRepr`], [`TcpRepr`],
//!   [`UdpRepr`], [`IcmpRepr`]. `emit` returns an error, never
//!   panics, when the buffer is too small or the header cannot say a value;
//! - builders that write complete IPv4/IPv6 TCP SYN and UDP probes, and the host-discovery
//!   probes (ICMP echo and timestamp, ICMPv6 echo, TCP ACK), checksums included, into a
//!   caller-provided buffer with no allocation ([`build`], over the `Repr`s);
//! - stateless probe validation ([`cookie`]): a keyed SipHash of the 4-tuple carried in the TCP
//!   sequence number or the UDP source port, as masscan and ZMap do, so the receiver needs no
//!   per-probe table;
//! - [`reply::classify`]: turn one received IP packet into what it says about a probe (SYN-ACK,
//!   RST, UDP reply, ICMP unreachable quoting our probe; for host discovery ICMP echo and
//!   timestamp replies and the RST answering an ACK), validated against the cookie; the
//!   reply's transport is `portolan_registry::Protocol`, the workspace's one protocol type (the
//!   registry is the only crate of ours this one depends on);
//! - [`neighbor`]: ARP who-has requests and replies, IPv6 neighbour solicitations and
//!   advertisements, for host discovery on a local link;
//! - [`payloads`]: protocol-correct UDP probes (DNS, NTP, SNMP, NetBIOS-NS, SSDP, mDNS, memcached,
//!   RPCbind, IKE, TFTP, CLDAP, WS-Discovery, ...) written from the RFCs and public specifications.
//!
//! Every parse failure is a [`WireError`] naming the layer and what was wrong.

#![forbid(unsafe_code)]

pub mod build;
pub mod checksum;
pub mod cookie;
pub mod icmp;
pub mod ip;
pub mod link;
pub mod neighbor;
pub mod payloads;
pub mod reply;
pub mod tcp;
pub mod udp;

pub use icmp::{IcmpPacket, IcmpRepr};
pub use ip::{Ipv4Packet, Ipv4Repr, Ipv6ExtRepr, Ipv6FragRepr, Ipv6Packet, Ipv6Repr, UpperLayer};
pub use link::{ethertype, EthernetFrame, EthernetRepr, NullFrame, Sll2Frame, SllFrame};
pub use tcp::{TcpFlags, TcpOption, TcpOptions, TcpPacket, TcpRepr};
pub use udp::{UdpPacket, UdpRepr};

/// Why a byte buffer is not the packet it was taken for, or a packet cannot be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The buffer ends before the header does.
    #[error("truncated {layer} header: need {need} bytes, have {have}")]
    Truncated {
        layer: &'static str,
        need: usize,
        have: usize,
    },
    /// A header field has an impossible value.
    #[error("malformed {layer}: {what}")]
    Malformed {
        layer: &'static str,
        what: &'static str,
    },
    #[error("buffer too small to build the packet: need {0} bytes")]
    BufferTooSmall(usize),
}

/// `Ok` when `buf` holds at least `n` bytes, else [`WireError::Truncated`] for `layer`.
#[inline(always)]
pub(crate) fn need(buf: &[u8], n: usize, layer: &'static str) -> Result<(), WireError> {
    if buf.len() < n {
        Err(truncated(layer, n, buf.len()))
    } else {
        Ok(())
    }
}

/// The error path of [`need`], kept out of line so the per-packet checks stay small.
#[cold]
#[inline(never)]
fn truncated(layer: &'static str, need: usize, have: usize) -> WireError {
    WireError::Truncated { layer, need, have }
}

/// The bytes of one header field: each header names its fields once, in its `field` module
/// ([`tcp::field::SRC_PORT`], [`ip::v4_field::TTL`], ...), and every view, `Repr` and test reads
/// and writes through those names. Single-byte fields are plain `usize` offsets.
pub type Field = core::ops::Range<usize>;

#[inline]
pub(crate) fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline]
pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The 16-bit big-endian field `f` of `b`.
#[inline(always)]
pub(crate) fn get16(b: &[u8], f: Field) -> u16 {
    be16(b, f.start)
}

/// The 32-bit big-endian field `f` of `b`.
#[inline(always)]
pub(crate) fn get32(b: &[u8], f: Field) -> u32 {
    be32(b, f.start)
}

/// Write `v` big-endian into the 16-bit field `f` of `b`.
#[inline(always)]
pub(crate) fn put16(b: &mut [u8], f: Field, v: u16) {
    b[f].copy_from_slice(&v.to_be_bytes());
}

/// Write `v` big-endian into the 32-bit field `f` of `b`.
#[inline(always)]
pub(crate) fn put32(b: &mut [u8], f: Field, v: u32) {
    b[f].copy_from_slice(&v.to_be_bytes());
}

/// `Ok` when a buffer of `have` bytes holds the `n` bytes an `emit` writes.
#[inline(always)]
pub(crate) fn room(have: usize, n: usize) -> Result<(), WireError> {
    if have < n {
        Err(WireError::BufferTooSmall(n))
    } else {
        Ok(())
    }
}

/// The source and destination ports at the start of a TCP or UDP header (both put them in the
/// first four bytes), e.g. of the packet an ICMP error quotes. `None` when fewer than four bytes.
#[inline]
pub fn ports(l4: &[u8]) -> Option<(u16, u16)> {
    (l4.len() >= udp::field::LENGTH.start).then(|| {
        (
            get16(l4, udp::field::SRC_PORT),
            get16(l4, udp::field::DST_PORT),
        )
    })
}

/// IP protocol numbers (and IPv6 extension-header numbers) used here.
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
    /// IPv6 "no next header".
    pub const NONE: u8 = 59;
    pub const DSTOPTS: u8 = 60;
    pub const MOBILITY: u8 = 135;
}

/// TCP flag bits (also [`TcpFlags::SYN`] etc.).
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
