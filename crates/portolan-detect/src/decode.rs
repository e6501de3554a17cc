//! From captured bytes to a flat [`PacketInfo`]: the few fields the detectors need, read through
//! the zero-copy views of [`portolan_wire`]. Nothing is allocated or copied per packet.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use portolan_wire::tcp::TcpOption;
use portolan_wire::{
    ethertype, icmp, ipproto, EthernetFrame, IcmpPacket, Ipv4Packet, Ipv6Packet, NullFrame,
    Sll2Frame, SllFrame, TcpFlags, TcpPacket, UdpPacket, WireError,
};

/// Link-layer header types (the `LINKTYPE_` values of pcap and pcapng).
pub use portolan_wire::link::linktype;

/// An IP address stored as 16 bytes (IPv4 as an IPv4-mapped IPv6 address): cheap to copy, hash
/// and compare.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Addr(pub [u8; 16]);

impl Addr {
    #[inline]
    pub fn v4(b: [u8; 4]) -> Addr {
        Addr([
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, b[0], b[1], b[2], b[3],
        ])
    }
    #[inline]
    pub fn v6(b: [u8; 16]) -> Addr {
        Addr(b)
    }
    /// The IPv4 address when this is one.
    pub fn as_v4(&self) -> Option<[u8; 4]> {
        let b = &self.0;
        (b[..10].iter().all(|&x| x == 0) && b[10] == 0xff && b[11] == 0xff)
            .then(|| [b[12], b[13], b[14], b[15]])
    }
    pub fn is_v4(&self) -> bool {
        self.as_v4().is_some()
    }
    pub fn to_ip(&self) -> IpAddr {
        match self.as_v4() {
            Some(v4) => IpAddr::V4(Ipv4Addr::from(v4)),
            None => IpAddr::V6(Ipv6Addr::from(self.0)),
        }
    }
    /// The address as one 128-bit number (for hashing).
    #[inline]
    pub fn as_u128(&self) -> u128 {
        u128::from_be_bytes(self.0)
    }
}

impl From<IpAddr> for Addr {
    fn from(ip: IpAddr) -> Addr {
        match ip {
            IpAddr::V4(a) => Addr::v4(a.octets()),
            IpAddr::V6(a) => Addr::v6(a.octets()),
        }
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.to_ip(), f)
    }
}

impl fmt::Debug for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.to_ip(), f)
    }
}

/// A compact description of a TCP SYN's options, enough to tell a kernel's SYN from a crafted
/// one and to recognise scanners.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OptSig {
    /// Number of options (NOPs and EOL not counted).
    pub count: u8,
    /// The MSS value, if the option is present.
    pub mss: Option<u16>,
    pub sack_permitted: bool,
    pub timestamp: bool,
    pub window_scale: Option<u8>,
}

/// The TCP fields the detectors use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpInfo {
    pub sport: u16,
    pub dport: u16,
    pub flags: TcpFlags,
    pub seq: u32,
    pub ack: u32,
    pub window: u16,
    pub payload_len: u16,
    /// Option summary (filled for SYNs only, to keep the hot path short).
    pub opts: OptSig,
}

/// What an ICMP error quotes of the packet that caused it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quoted {
    pub src: Addr,
    pub dst: Addr,
    pub protocol: u8,
    pub sport: u16,
    pub dport: u16,
}

/// What an ICMP / ICMPv6 message means to the detector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpKind {
    /// Destination port unreachable: the usual answer to a UDP probe of a closed port.
    PortUnreachable,
    /// Administratively prohibited (a firewall's reject).
    Prohibited,
    /// Other destination unreachable codes (host, net, ...).
    Unreachable,
    TimeExceeded,
    EchoRequest,
    EchoReply,
    Other,
}

/// The ICMP fields the detectors use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpInfo {
    pub kind: IcmpKind,
    pub msg_type: u8,
    pub code: u8,
    pub quoted: Option<Quoted>,
}

/// The transport layer of a decoded packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tcp(TcpInfo),
    Udp {
        sport: u16,
        dport: u16,
        len: u16,
    },
    Icmp(IcmpInfo),
    /// Another protocol, or a later fragment.
    Other(u8),
}

/// One decoded IP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketInfo {
    /// Capture time in nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    pub src: Addr,
    pub dst: Addr,
    pub ttl: u8,
    /// IPv4 identification (0 for IPv6).
    pub ip_id: u16,
    pub transport: Transport,
}

/// Why a packet was not decoded. None of these stop a capture: they are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error(transparent)]
    Wire(#[from] WireError),
    #[error("link type {0} is not supported")]
    UnsupportedLinkType(u32),
    /// Not IP (ARP, LLDP, ...): not an error, just nothing to look at.
    #[error("not an IP packet")]
    NotIp,
}

/// True when [`decode`] reads frames of this link type.
pub fn linktype_supported(lt: u32) -> bool {
    matches!(
        lt,
        linktype::ETHERNET
            | linktype::RAW
            | linktype::RAW_BSD
            | linktype::RAW_BSD2
            | linktype::IPV4
            | linktype::IPV6
            | linktype::NULL
            | linktype::LOOP
            | linktype::LINUX_SLL
            | linktype::LINUX_SLL2
    )
}

/// A short name for common link types (for messages), `None` when unknown here.
pub fn linktype_name(lt: u32) -> Option<&'static str> {
    Some(match lt {
        0 => "BSD loopback",
        1 => "Ethernet",
        6 => "Token Ring",
        9 => "PPP",
        10 => "FDDI",
        12 | 14 | 101 => "raw IP",
        50 => "PPP over HDLC",
        104 => "Cisco HDLC",
        105 => "IEEE 802.11",
        107 => "Frame Relay",
        108 => "OpenBSD loopback",
        113 => "Linux cooked (SLL)",
        119 => "Prism 802.11",
        127 => "802.11 radiotap",
        147..=162 => "user-defined (DLT_USER)",
        187 => "Bluetooth HCI H4",
        189 => "USB (Linux)",
        195 => "IEEE 802.15.4",
        220 => "USB (Linux, mmapped)",
        228 => "raw IPv4",
        229 => "raw IPv6",
        249 => "USB (USBPcap)",
        276 => "Linux cooked v2 (SLL2)",
        _ => return None,
    })
}

/// Decode one captured frame of link type `linktype`.
#[inline]
pub fn decode(linktype: u32, ts_ns: u64, frame: &[u8]) -> Result<PacketInfo, DecodeError> {
    let (ety, l3) = match linktype {
        linktype::ETHERNET => {
            let e = EthernetFrame::new_checked(frame)?;
            (e.ethertype(), e.payload())
        }
        linktype::RAW | linktype::RAW_BSD | linktype::RAW_BSD2 => match frame.first() {
            Some(b) if b >> 4 == 4 => (ethertype::IPV4, frame),
            Some(b) if b >> 4 == 6 => (ethertype::IPV6, frame),
            Some(_) => return Err(DecodeError::NotIp),
            None => {
                return Err(WireError::Truncated {
                    layer: "raw IP",
                    need: 1,
                    have: 0,
                }
                .into())
            }
        },
        linktype::IPV4 => (ethertype::IPV4, frame),
        linktype::IPV6 => (ethertype::IPV6, frame),
        linktype::NULL | linktype::LOOP => {
            let n = NullFrame::new_checked(frame)?;
            (n.ethertype().ok_or(DecodeError::NotIp)?, n.payload())
        }
        linktype::LINUX_SLL => {
            let s = SllFrame::new_checked(frame)?;
            (s.protocol(), s.payload())
        }
        linktype::LINUX_SLL2 => {
            let s = Sll2Frame::new_checked(frame)?;
            (s.protocol(), s.payload())
        }
        other => return Err(DecodeError::UnsupportedLinkType(other)),
    };
    match ety {
        ethertype::IPV4 => decode_ipv4(ts_ns, l3),
        ethertype::IPV6 => decode_ipv6(ts_ns, l3),
        _ => Err(DecodeError::NotIp),
    }
}

/// Decode an IPv4 packet (no link layer).
#[inline]
pub fn decode_ipv4(ts_ns: u64, bytes: &[u8]) -> Result<PacketInfo, DecodeError> {
    let ip = Ipv4Packet::new_checked(bytes)?;
    let transport = if ip.frag_offset() != 0 {
        Transport::Other(ip.protocol())
    } else {
        transport(ip.protocol(), ip.payload(), false)?
    };
    Ok(PacketInfo {
        ts_ns,
        src: Addr::v4(ip.src_bytes()),
        dst: Addr::v4(ip.dst_bytes()),
        ttl: ip.ttl(),
        ip_id: ip.ident(),
        transport,
    })
}

/// Decode an IPv6 packet (no link layer).
#[inline]
pub fn decode_ipv6(ts_ns: u64, bytes: &[u8]) -> Result<PacketInfo, DecodeError> {
    let ip = Ipv6Packet::new_checked(bytes)?;
    let ul = ip.upper_layer()?;
    let transport = if ul.later_fragment {
        Transport::Other(ul.protocol)
    } else {
        transport(ul.protocol, ul.payload, true)?
    };
    Ok(PacketInfo {
        ts_ns,
        src: Addr::v6(ip.src_bytes()),
        dst: Addr::v6(ip.dst_bytes()),
        ttl: ip.hop_limit(),
        ip_id: 0,
        transport,
    })
}

#[inline]
fn transport(proto: u8, payload: &[u8], v6: bool) -> Result<Transport, DecodeError> {
    Ok(match proto {
        ipproto::TCP => {
            let t = TcpPacket::new_checked(payload)?;
            let flags = t.flags();
            let opts = if flags.has(TcpFlags::SYN) {
                opt_sig(&t)
            } else {
                OptSig::default()
            };
            Transport::Tcp(TcpInfo {
                sport: t.src_port(),
                dport: t.dst_port(),
                flags,
                seq: t.seq_number(),
                ack: t.ack_number(),
                window: t.window_len(),
                payload_len: u16::try_from(t.payload().len()).unwrap_or(u16::MAX),
                opts,
            })
        }
        ipproto::UDP => {
            let u = UdpPacket::new_checked(payload)?;
            Transport::Udp {
                sport: u.src_port(),
                dport: u.dst_port(),
                len: u.len(),
            }
        }
        ipproto::ICMP if !v6 => icmp_info(IcmpPacket::new_checked(payload, false)?),
        ipproto::ICMPV6 if v6 => icmp_info(IcmpPacket::new_checked(payload, true)?),
        other => Transport::Other(other),
    })
}

fn icmp_info(m: IcmpPacket<&[u8]>) -> Transport {
    let (ty, code) = (m.msg_type(), m.msg_code());
    let kind = if m.is_v6() {
        match (ty, code) {
            (icmp::v6::DEST_UNREACHABLE, icmp::v6::CODE_PORT_UNREACHABLE) => {
                IcmpKind::PortUnreachable
            }
            (icmp::v6::DEST_UNREACHABLE, 1 | 5 | 6) => IcmpKind::Prohibited,
            (icmp::v6::DEST_UNREACHABLE, _) => IcmpKind::Unreachable,
            (icmp::v6::TIME_EXCEEDED, _) => IcmpKind::TimeExceeded,
            (icmp::v6::ECHO_REQUEST, _) => IcmpKind::EchoRequest,
            (icmp::v6::ECHO_REPLY, _) => IcmpKind::EchoReply,
            _ => IcmpKind::Other,
        }
    } else {
        match (ty, code) {
            (icmp::v4::DEST_UNREACHABLE, icmp::v4::CODE_PORT_UNREACHABLE) => {
                IcmpKind::PortUnreachable
            }
            (icmp::v4::DEST_UNREACHABLE, 9 | 10 | 13) => IcmpKind::Prohibited,
            (icmp::v4::DEST_UNREACHABLE, _) => IcmpKind::Unreachable,
            (icmp::v4::TIME_EXCEEDED, _) => IcmpKind::TimeExceeded,
            (icmp::v4::ECHO_REQUEST, _) => IcmpKind::EchoRequest,
            (icmp::v4::ECHO_REPLY, _) => IcmpKind::EchoReply,
            _ => IcmpKind::Other,
        }
    };
    let quoted = match (m.is_error(), m.is_v6()) {
        (false, _) => None,
        (true, false) => quoted_v4(m.data()),
        (true, true) => quoted_v6(m.data()),
    };
    Transport::Icmp(IcmpInfo {
        kind,
        msg_type: ty,
        code,
        quoted,
    })
}

/// The ports of a quoted TCP or UDP header; (0, 0) for other protocols or fewer than 4 bytes.
fn ports_of(proto: u8, l4: &[u8]) -> (u16, u16) {
    if matches!(proto, ipproto::TCP | ipproto::UDP) {
        portolan_wire::ports(l4).unwrap_or((0, 0))
    } else {
        (0, 0)
    }
}

/// The packet an ICMPv4 error quotes: its IP header and at least its first 8 bytes.
fn quoted_v4(data: &[u8]) -> Option<Quoted> {
    let ip = Ipv4Packet::new_checked(data).ok()?;
    let l4 = &data[ip.header_len()..];
    let (sport, dport) = ports_of(ip.protocol(), l4);
    Some(Quoted {
        src: Addr::v4(ip.src_bytes()),
        dst: Addr::v4(ip.dst_bytes()),
        protocol: ip.protocol(),
        sport,
        dport,
    })
}

fn quoted_v6(data: &[u8]) -> Option<Quoted> {
    let ip = Ipv6Packet::new_checked(data).ok()?;
    // The quoted packet's payload length refers to the original: walk what was quoted.
    let ul = ip.upper_layer().ok()?;
    let (sport, dport) = ports_of(ul.protocol, ul.payload);
    Some(Quoted {
        src: Addr::v6(ip.src_bytes()),
        dst: Addr::v6(ip.dst_bytes()),
        protocol: ul.protocol,
        sport,
        dport,
    })
}

fn opt_sig<T: AsRef<[u8]>>(t: &TcpPacket<T>) -> OptSig {
    let mut s = OptSig::default();
    for o in t.options() {
        match o {
            TcpOption::EndOfList | TcpOption::NoOperation => continue,
            TcpOption::MaxSegmentSize(m) => s.mss = Some(m),
            TcpOption::WindowScale(w) => s.window_scale = Some(w),
            TcpOption::SackPermitted => s.sack_permitted = true,
            TcpOption::Timestamp { .. } => s.timestamp = true,
            TcpOption::Unknown { .. } => {}
        }
        s.count = s.count.saturating_add(1);
    }
    s
}

impl serde::Serialize for Addr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
