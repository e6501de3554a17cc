//! Link-layer address resolution, as host discovery uses it on a local link: ARP over Ethernet
//! (RFC 826) and IPv6 neighbour discovery (RFC 4861).
//!
//! - [`arp_request`] writes a who-has ARP packet (the 28 bytes after the Ethernet header);
//!   [`ArpPacket::parse`] reads one back (any operation; [`ArpPacket::is_reply`]).
//! - [`neighbor_solicitation`] writes a complete IPv6 packet: a neighbour solicitation for a
//!   target address, to its solicited-node multicast address ([`solicited_node`], on the wire
//!   to [`solicited_node_mac`]), hop limit 255, with our link address as its option;
//!   [`NeighborAdvert::parse`] reads a neighbour advertisement from a received IPv6 packet, and
//!   accepts only what RFC 4861 §7.1.2 lets a node accept (hop limit 255, ICMPv6 code 0, a valid
//!   checksum, at least 24 bytes, no multicast target).
//!
//! Field offsets are named once in [`arp_field`] and [`nd_field`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::{checksum, get16, ipproto, need, put16, room, Ipv6Packet, Ipv6Repr, WireError};

/// Where each field of an ARP packet for IPv4 over Ethernet lies.
pub mod arp_field {
    use crate::Field;

    pub const HTYPE: Field = 0..2;
    pub const PTYPE: Field = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Field = 6..8;
    /// Sender hardware address.
    pub const SHA: Field = 8..14;
    /// Sender protocol address.
    pub const SPA: Field = 14..18;
    /// Target hardware address.
    pub const THA: Field = 18..24;
    /// Target protocol address.
    pub const TPA: Field = 24..28;
    /// Length of the packet.
    pub const LEN: usize = 28;
}

/// Where each field of a neighbour solicitation / advertisement (ICMPv6 135 / 136) lies.
pub mod nd_field {
    use crate::Field;

    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Field = 2..4;
    /// Advertisement flags: router (0x80), solicited (0x40), override (0x20).
    pub const FLAGS: usize = 4;
    pub const TARGET: Field = 8..24;
    /// Where the options start.
    pub const OPTIONS: usize = 24;
}

/// ARP operation codes.
pub const ARP_REQUEST: u16 = 1;
pub const ARP_REPLY: u16 = 2;
/// EtherType of ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// ICMPv6 neighbour solicitation and advertisement.
pub const ND_SOLICIT: u8 = 135;
pub const ND_ADVERT: u8 = 136;
/// The advertisement's "solicited" flag: it answers a solicitation.
pub const ND_FLAG_SOLICITED: u8 = 0x40;
/// Option types: source / target link-layer address.
const OPT_SOURCE_LL: u8 = 1;
const OPT_TARGET_LL: u8 = 2;
/// Length of a neighbour solicitation with its source link-layer address option.
pub const NS_LEN: usize = Ipv6Repr::HEADER_LEN + nd_field::OPTIONS + 8;

/// Write an ARP who-has for `target` from `src_mac`/`src_ip` into `buf` (28 bytes, the payload
/// of an Ethernet frame of type [`ETHERTYPE_ARP`] to the broadcast address). Returns its length.
pub fn arp_request(
    buf: &mut [u8],
    src_mac: [u8; 6],
    src_ip: Ipv4Addr,
    target: Ipv4Addr,
) -> Result<usize, WireError> {
    use arp_field as f;
    room(buf.len(), f::LEN)?;
    let b = &mut buf[..f::LEN];
    put16(b, f::HTYPE, 1);
    put16(b, f::PTYPE, 0x0800);
    b[f::HLEN] = 6;
    b[f::PLEN] = 4;
    put16(b, f::OPER, ARP_REQUEST);
    b[f::SHA].copy_from_slice(&src_mac);
    b[f::SPA].copy_from_slice(&src_ip.octets());
    b[f::THA].fill(0);
    b[f::TPA].copy_from_slice(&target.octets());
    Ok(f::LEN)
}

/// An ARP packet for IPv4 over Ethernet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpPacket {
    pub oper: u16,
    pub sender_mac: [u8; 6],
    pub sender_ip: Ipv4Addr,
    pub target_mac: [u8; 6],
    pub target_ip: Ipv4Addr,
}

fn mac(b: &[u8]) -> [u8; 6] {
    let mut m = [0u8; 6];
    m.copy_from_slice(&b[..6]);
    m
}

fn ip4(b: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(b[0], b[1], b[2], b[3])
}

impl ArpPacket {
    /// Read the ARP packet at the start of `b` (the Ethernet payload). Only Ethernet hardware
    /// addresses and IPv4 protocol addresses are ARP as discovery knows it.
    pub fn parse(b: &[u8]) -> Result<ArpPacket, WireError> {
        use arp_field as f;
        need(b, f::LEN, "ARP")?;
        if get16(b, f::HTYPE) != 1 || b[f::HLEN] != 6 {
            return Err(WireError::Malformed {
                layer: "ARP",
                what: "hardware is not Ethernet",
            });
        }
        if get16(b, f::PTYPE) != 0x0800 || b[f::PLEN] != 4 {
            return Err(WireError::Malformed {
                layer: "ARP",
                what: "protocol is not IPv4",
            });
        }
        Ok(ArpPacket {
            oper: get16(b, f::OPER),
            sender_mac: mac(&b[f::SHA]),
            sender_ip: ip4(&b[f::SPA]),
            target_mac: mac(&b[f::THA]),
            target_ip: ip4(&b[f::TPA]),
        })
    }

    /// Whether this is an is-at (reply).
    pub fn is_reply(&self) -> bool {
        self.oper == ARP_REPLY
    }
}

/// The solicited-node multicast address of `a`: `ff02::1:ff` and its low 24 bits.
pub fn solicited_node(a: Ipv6Addr) -> Ipv6Addr {
    let o = a.octets();
    Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | u16::from(o[13]),
        u16::from_be_bytes([o[14], o[15]]),
    )
}

/// The Ethernet multicast address of an IPv6 multicast address: `33:33` and its low 32 bits.
pub fn multicast_mac(a: Ipv6Addr) -> [u8; 6] {
    let o = a.octets();
    [0x33, 0x33, o[12], o[13], o[14], o[15]]
}

/// The Ethernet address a solicitation for `a` goes to.
pub fn solicited_node_mac(a: Ipv6Addr) -> [u8; 6] {
    multicast_mac(solicited_node(a))
}

/// Write a complete IPv6 neighbour solicitation for `target` from `src` (whose link address is
/// `src_mac`, sent as the source link-layer address option) to `target`'s solicited-node
/// address, hop limit 255, into `buf`. Returns its length ([`NS_LEN`]).
pub fn neighbor_solicitation(
    buf: &mut [u8],
    src_mac: [u8; 6],
    src: Ipv6Addr,
    target: Ipv6Addr,
) -> Result<usize, WireError> {
    room(buf.len(), NS_LEN)?;
    let dst = solicited_node(target);
    let body_len = NS_LEN - Ipv6Repr::HEADER_LEN;
    Ipv6Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: ipproto::ICMPV6,
        payload_len: body_len,
        hop_limit: 255,
        traffic_class: 0,
        flow_label: 0,
    }
    .emit(buf)?;
    let b = &mut buf[Ipv6Repr::HEADER_LEN..NS_LEN];
    b.fill(0);
    b[nd_field::TYPE] = ND_SOLICIT;
    b[nd_field::CODE] = 0;
    b[nd_field::TARGET].copy_from_slice(&target.octets());
    let o = nd_field::OPTIONS;
    b[o] = OPT_SOURCE_LL;
    b[o + 1] = 1; // in units of 8 bytes
    b[o + 2..o + 8].copy_from_slice(&src_mac);
    let sum = checksum::pseudo(IpAddr::V6(src), IpAddr::V6(dst), ipproto::ICMPV6, body_len)?;
    let c = checksum::finish(checksum::add(sum, b));
    put16(b, nd_field::CHECKSUM, c);
    Ok(NS_LEN)
}

/// A neighbour advertisement, as read from a received IPv6 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighborAdvert {
    /// The packet's source and destination.
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    /// The address it advertises.
    pub target: Ipv6Addr,
    /// It answers a solicitation.
    pub solicited: bool,
    /// The target link-layer address option, when present.
    pub target_mac: Option<[u8; 6]>,
    /// The IPv6 hop limit (255 for every valid one).
    pub hop_limit: u8,
}

impl NeighborAdvert {
    /// Read a neighbour advertisement from an IPv6 packet (no extension headers: a valid one
    /// has none before ICMPv6). `Ok(None)` when it is another kind of packet; an error when it
    /// is an advertisement RFC 4861 §7.1.2 says to drop.
    pub fn parse(packet: &[u8]) -> Result<Option<NeighborAdvert>, WireError> {
        let p = Ipv6Packet::new_checked(packet)?;
        if p.next_header() != ipproto::ICMPV6 {
            return Ok(None);
        }
        let b = p.payload();
        if b.first() != Some(&ND_ADVERT) {
            return Ok(None);
        }
        let bad = |what| WireError::Malformed {
            layer: "neighbour advertisement",
            what,
        };
        need(b, nd_field::OPTIONS, "neighbour advertisement")?;
        if p.hop_limit() != 255 {
            return Err(bad("hop limit is not 255 (it crossed a router)"));
        }
        if b[nd_field::CODE] != 0 {
            return Err(bad("ICMPv6 code is not 0"));
        }
        let (src, dst) = (p.src_addr(), p.dst_addr());
        let sum = checksum::pseudo(IpAddr::V6(src), IpAddr::V6(dst), ipproto::ICMPV6, b.len())?;
        if checksum::finish(checksum::add(sum, b)) != 0 {
            return Err(bad("bad checksum"));
        }
        let mut t = [0u8; 16];
        t.copy_from_slice(&b[nd_field::TARGET]);
        let target = Ipv6Addr::from(t);
        if target.is_multicast() {
            return Err(bad("multicast target"));
        }
        // Options: type, length in 8-byte units (never 0), value.
        let mut target_mac = None;
        let mut opts = &b[nd_field::OPTIONS..];
        while opts.len() >= 2 {
            let len = usize::from(opts[1]) * 8;
            if len == 0 || len > opts.len() {
                return Err(bad("option of length 0 or past the end"));
            }
            if opts[0] == OPT_TARGET_LL && len >= 8 {
                target_mac = Some(mac(&opts[2..8]));
            }
            opts = &opts[len..];
        }
        Ok(Some(NeighborAdvert {
            src,
            dst,
            target,
            solicited: b[nd_field::FLAGS] & ND_FLAG_SOLICITED != 0,
            target_mac,
            hop_limit: p.hop_limit(),
        }))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use proptest::prelude::*;

    const MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];

    #[test]
    fn arp_request_parses_back() {
        let mut b = [0u8; 64];
        let n = arp_request(
            &mut b,
            MAC,
            "10.79.0.1".parse().unwrap(),
            "10.79.0.20".parse().unwrap(),
        )
        .unwrap();
        assert_eq!(n, 28);
        let p = ArpPacket::parse(&b[..n]).unwrap();
        assert_eq!(p.oper, ARP_REQUEST);
        assert!(!p.is_reply());
        assert_eq!(p.sender_mac, MAC);
        assert_eq!(p.sender_ip, Ipv4Addr::new(10, 79, 0, 1));
        assert_eq!(p.target_ip, Ipv4Addr::new(10, 79, 0, 20));
        assert_eq!(p.target_mac, [0; 6]);
        // A reply: operation 2.
        b[7] = 2;
        assert!(ArpPacket::parse(&b[..n]).unwrap().is_reply());
        // Truncated, not Ethernet, not IPv4.
        assert!(ArpPacket::parse(&b[..27]).is_err());
        let mut c = b;
        c[1] = 6;
        assert!(ArpPacket::parse(&c[..n]).is_err());
        let mut c = b;
        c[5] = 16;
        assert!(ArpPacket::parse(&c[..n]).is_err());
        assert!(arp_request(
            &mut [0u8; 27],
            MAC,
            Ipv4Addr::LOCALHOST,
            Ipv4Addr::LOCALHOST
        )
        .is_err());
    }

    #[test]
    fn solicited_node_addresses() {
        let a: Ipv6Addr = "fd79::12:3456".parse().unwrap();
        assert_eq!(
            solicited_node(a),
            "ff02::1:ff12:3456".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(solicited_node_mac(a), [0x33, 0x33, 0xff, 0x12, 0x34, 0x56]);
    }

    /// An advertisement as a node answers a solicitation: from the target to the solicitor.
    fn advert(src: Ipv6Addr, dst: Ipv6Addr, target: Ipv6Addr, hop: u8) -> Vec<u8> {
        let body = 32;
        let mut v = vec![0u8; 40 + body];
        Ipv6Repr {
            src_addr: src,
            dst_addr: dst,
            next_header: ipproto::ICMPV6,
            payload_len: body,
            hop_limit: hop,
            traffic_class: 0,
            flow_label: 0,
        }
        .emit(&mut v)
        .unwrap();
        let b = &mut v[40..];
        b[0] = ND_ADVERT;
        b[4] = 0x60;
        b[8..24].copy_from_slice(&target.octets());
        b[24] = OPT_TARGET_LL;
        b[25] = 1;
        b[26..32].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
        let sum = checksum::pseudo(IpAddr::V6(src), IpAddr::V6(dst), 58, body).unwrap();
        let c = checksum::finish(checksum::add(sum, b));
        b[2..4].copy_from_slice(&c.to_be_bytes());
        v
    }

    #[test]
    fn solicitation_and_advertisement() {
        let me: Ipv6Addr = "fd79::1".parse().unwrap();
        let t: Ipv6Addr = "fd79::20".parse().unwrap();
        let mut b = [0u8; 128];
        let n = neighbor_solicitation(&mut b, MAC, me, t).unwrap();
        assert_eq!(n, NS_LEN);
        let p = Ipv6Packet::new_checked(&b[..n]).unwrap();
        assert_eq!(p.hop_limit(), 255);
        assert_eq!(p.dst_addr(), solicited_node(t));
        let body = p.payload();
        assert_eq!(body[0], ND_SOLICIT);
        assert_eq!(&body[8..24], &t.octets());
        assert_eq!(&body[26..32], &MAC);
        let sum =
            checksum::pseudo(IpAddr::V6(me), IpAddr::V6(p.dst_addr()), 58, body.len()).unwrap();
        assert_eq!(checksum::finish(checksum::add(sum, body)), 0);
        // A solicitation is not an advertisement.
        assert_eq!(NeighborAdvert::parse(&b[..n]).unwrap(), None);

        let a = advert(t, me, t, 255);
        let na = NeighborAdvert::parse(&a).unwrap().unwrap();
        assert_eq!((na.src, na.dst, na.target), (t, me, t));
        assert!(na.solicited);
        assert_eq!(na.target_mac, Some([2, 0, 0, 0, 0, 2]));
        // Hop limit below 255, a bad checksum, a zero-length option: dropped.
        assert!(NeighborAdvert::parse(&advert(t, me, t, 64)).is_err());
        let mut c = a.clone();
        c[50] ^= 1;
        assert!(NeighborAdvert::parse(&c).is_err());
        let mut c = advert(t, me, t, 255);
        c[65] = 0;
        assert!(NeighborAdvert::parse(&c).is_err());
        assert!(NeighborAdvert::parse(&a[..50]).is_err());
    }

    proptest! {
        #[test]
        fn parsers_never_panic(b in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = ArpPacket::parse(&b);
            let _ = NeighborAdvert::parse(&b);
        }

        #[test]
        fn arp_roundtrip(m in any::<[u8; 6]>(), s in any::<u32>(), t in any::<u32>()) {
            let mut b = [0u8; 28];
            arp_request(&mut b, m, Ipv4Addr::from(s), Ipv4Addr::from(t)).unwrap();
            let p = ArpPacket::parse(&b).unwrap();
            prop_assert_eq!(p.sender_mac, m);
            prop_assert_eq!(p.sender_ip, Ipv4Addr::from(s));
            prop_assert_eq!(p.target_ip, Ipv4Addr::from(t));
        }

        #[test]
        fn advert_with_any_options_parses_or_errs(
            tail in proptest::collection::vec(any::<u8>(), 0..40),
            t in any::<u128>(),
        ) {
            let me: Ipv6Addr = "fd79::1".parse().unwrap();
            let t = Ipv6Addr::from(t);
            let mut a = advert(t, me, t, 255);
            a.truncate(64);
            a.extend_from_slice(&tail);
            let len = a.len() - 40;
            a[4..6].copy_from_slice(&(len as u16).to_be_bytes());
            let _ = NeighborAdvert::parse(&a);
        }
    }
}
