//! Builders for probe packets: IPv4/IPv6 + TCP SYN or UDP, and the host-discovery probes (ICMP
//! echo and timestamp, ICMPv6 echo, TCP ACK), checksums included, written into a
//! caller-provided buffer (no allocation on the send path).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::{ipproto, tcp, tcpflags, udp, WireError};
use crate::{Ipv4Repr, Ipv6Repr, TcpFlags, TcpRepr, UdpRepr};

/// Fields of the IP header a probe sets.
#[derive(Debug, Clone, Copy)]
pub struct IpFields {
    pub ttl: u8,
    /// IPv4 identification (ignored for IPv6).
    pub ident: u16,
}

impl Default for IpFields {
    fn default() -> Self {
        IpFields { ttl: 64, ident: 0 }
    }
}

/// The SYN's window and MSS. Portolan sends what an ordinary client sends (one MSS option and a
/// normal window) rather than the fixed window-1024-no-options SYN that marks masscan and nmap.
pub const SYN_WINDOW: u16 = 64240;
pub const SYN_MSS: u16 = 1460;
/// The SYN's options: MSS ([`SYN_MSS`]), kind 2, length 4.
const SYN_OPTIONS: [u8; 4] = [2, 4, (SYN_MSS >> 8) as u8, SYN_MSS as u8];
const TCP_SYN_LEN: usize = tcp::field::OPTIONS + SYN_OPTIONS.len();

/// Length of an IPv4 TCP SYN probe.
pub const SYN_V4_LEN: usize = Ipv4Repr::HEADER_LEN + TCP_SYN_LEN;
/// Length of an IPv6 TCP SYN probe.
pub const SYN_V6_LEN: usize = Ipv6Repr::HEADER_LEN + TCP_SYN_LEN;

/// The SYN a probe sends from `sport` to `dport` with sequence number `seq` (the cookie).
#[inline]
fn syn_repr(sport: u16, dport: u16, seq: u32) -> TcpRepr<'static> {
    TcpRepr {
        src_port: sport,
        dst_port: dport,
        seq_number: seq,
        ack_number: 0,
        flags: TcpFlags(tcpflags::SYN),
        window_len: SYN_WINDOW,
        urgent_at: 0,
        options: &SYN_OPTIONS,
        payload_len: 0,
    }
}

/// Write the IP header of a packet carrying a `seg_len`-byte `proto` segment from `src` to `dst`
/// (one family; IPv4 with DF set); returns the header's length. The caller has checked that
/// `buf` holds header and segment.
#[inline]
fn ip_header(
    buf: &mut [u8],
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    seg_len: usize,
    f: IpFields,
) -> Result<usize, WireError> {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            Ipv4Repr {
                src_addr: s,
                dst_addr: d,
                protocol: proto,
                payload_len: seg_len,
                ttl: f.ttl,
                ident: f.ident,
                dscp_ecn: 0,
                dont_frag: true,
                more_frags: false,
                frag_offset: 0,
            }
            .emit(buf)?;
            Ok(Ipv4Repr::HEADER_LEN)
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            Ipv6Repr {
                src_addr: s,
                dst_addr: d,
                next_header: proto,
                payload_len: seg_len,
                hop_limit: f.ttl,
                traffic_class: 0,
                flow_label: 0,
            }
            .emit(buf)?;
            Ok(Ipv6Repr::HEADER_LEN)
        }
        _ => Err(WireError::Malformed {
            layer: "probe",
            what: "source and destination of different address families",
        }),
    }
}

#[inline]
fn ip_header_len(dst: IpAddr) -> usize {
    if dst.is_ipv4() {
        Ipv4Repr::HEADER_LEN
    } else {
        Ipv6Repr::HEADER_LEN
    }
}

/// `Ok` when `buf` holds `n` bytes.
#[inline]
fn room(buf: &[u8], n: usize) -> Result<(), WireError> {
    crate::room(buf.len(), n)
}

/// Write a TCP SYN from `src` to `dst` (IPv4 or IPv6, one family) into `buf`; returns its
/// length ([`SYN_V4_LEN`] or [`SYN_V6_LEN`]).
pub fn syn(
    buf: &mut [u8],
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
    seq: u32,
    f: IpFields,
) -> Result<usize, WireError> {
    let tcp = syn_repr(sport, dport, seq);
    let total = ip_header_len(dst) + tcp.buffer_len();
    room(buf, total)?;
    let hl = ip_header(buf, src, dst, ipproto::TCP, tcp.buffer_len(), f)?;
    tcp.emit(&mut buf[hl..total], src, dst)?;
    Ok(total)
}

/// Write an IPv4 TCP SYN into `buf`; returns its length ([`SYN_V4_LEN`]).
pub fn syn_v4(
    buf: &mut [u8],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    seq: u32,
    f: IpFields,
) -> Result<usize, WireError> {
    syn(buf, src.into(), dst.into(), sport, dport, seq, f)
}

/// Write an IPv6 TCP SYN into `buf`; returns its length ([`SYN_V6_LEN`]).
pub fn syn_v6(
    buf: &mut [u8],
    src: Ipv6Addr,
    dst: Ipv6Addr,
    sport: u16,
    dport: u16,
    seq: u32,
    f: IpFields,
) -> Result<usize, WireError> {
    syn(buf, src.into(), dst.into(), sport, dport, seq, f)
}

/// Largest UDP payload a probe may carry (fits an unfragmented IPv6 packet on a 1280 MTU).
pub const MAX_UDP_PAYLOAD: usize = 1280 - Ipv6Repr::HEADER_LEN - udp::field::PAYLOAD;

/// Write a UDP datagram from `src` to `dst` (IPv4 or IPv6, one family) into `buf`; returns its
/// length.
pub fn udp(
    buf: &mut [u8],
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
    payload: &[u8],
    f: IpFields,
) -> Result<usize, WireError> {
    if payload.len() > MAX_UDP_PAYLOAD {
        return Err(WireError::Malformed {
            layer: "UDP probe",
            what: "payload larger than a probe may be",
        });
    }
    let u = UdpRepr {
        src_port: sport,
        dst_port: dport,
        payload_len: payload.len(),
    };
    let total = ip_header_len(dst) + u.buffer_len();
    room(buf, total)?;
    let hl = ip_header(buf, src, dst, ipproto::UDP, u.buffer_len(), f)?;
    let seg = &mut buf[hl..total];
    seg[udp::field::PAYLOAD..].copy_from_slice(payload);
    u.emit(seg, src, dst)?;
    Ok(total)
}

/// Write an IPv4 UDP datagram into `buf`; returns its length.
pub fn udp_v4(
    buf: &mut [u8],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    payload: &[u8],
    f: IpFields,
) -> Result<usize, WireError> {
    udp(buf, src.into(), dst.into(), sport, dport, payload, f)
}

/// Write an IPv6 UDP datagram into `buf`; returns its length.
pub fn udp_v6(
    buf: &mut [u8],
    src: Ipv6Addr,
    dst: Ipv6Addr,
    sport: u16,
    dport: u16,
    payload: &[u8],
    f: IpFields,
) -> Result<usize, WireError> {
    udp(buf, src.into(), dst.into(), sport, dport, payload, f)
}

/// Length of an IPv4 ICMP echo request probe (no data).
pub const ECHO_V4_LEN: usize = Ipv4Repr::HEADER_LEN + crate::icmp::field::DATA;
/// Length of an IPv4 ICMP timestamp request probe (three 32-bit timestamps).
pub const TIMESTAMP_V4_LEN: usize = Ipv4Repr::HEADER_LEN + crate::icmp::field::DATA + 12;

/// Write an ICMP echo request (ICMPv4 type 8, or ICMPv6 type 128 when `dst` is IPv6) with
/// identifier `ident` and sequence number `seq` (the cookie: an echo reply repeats both) and no
/// data; returns its length.
pub fn icmp_echo(
    buf: &mut [u8],
    src: IpAddr,
    dst: IpAddr,
    ident: u16,
    seq: u16,
    f: IpFields,
) -> Result<usize, WireError> {
    let v6 = dst.is_ipv6();
    let msg_type = if v6 {
        crate::icmp::v6::ECHO_REQUEST
    } else {
        crate::icmp::v4::ECHO_REQUEST
    };
    icmp_message(buf, src, dst, msg_type, ident, seq, 0, f)
}

/// Write an ICMPv4 timestamp request (type 13, RFC 792) with identifier `ident` and sequence
/// number `seq` (the cookie, repeated by the reply); IPv4 only (ICMPv6 has no timestamp).
pub fn icmp_timestamp(
    buf: &mut [u8],
    src: IpAddr,
    dst: IpAddr,
    ident: u16,
    seq: u16,
    f: IpFields,
) -> Result<usize, WireError> {
    if dst.is_ipv6() {
        return Err(WireError::Malformed {
            layer: "ICMP timestamp probe",
            what: "ICMPv6 has no timestamp request",
        });
    }
    icmp_message(buf, src, dst, crate::icmp::v4::TIMESTAMP, ident, seq, 12, f)
}

/// An ICMP/ICMPv6 query with `ident`/`seq` and `data_len` zero bytes of data.
#[allow(clippy::too_many_arguments)]
fn icmp_message(
    buf: &mut [u8],
    src: IpAddr,
    dst: IpAddr,
    msg_type: u8,
    ident: u16,
    seq: u16,
    data_len: usize,
    f: IpFields,
) -> Result<usize, WireError> {
    let v6 = dst.is_ipv6();
    let m = crate::IcmpRepr {
        v6,
        msg_type,
        msg_code: 0,
        rest_of_header: (u32::from(ident) << 16) | u32::from(seq),
        data_len,
    };
    let total = ip_header_len(dst) + m.buffer_len();
    room(buf, total)?;
    let proto = if v6 { ipproto::ICMPV6 } else { ipproto::ICMP };
    let hl = ip_header(buf, src, dst, proto, m.buffer_len(), f)?;
    let seg = &mut buf[hl..total];
    seg[crate::icmp::field::DATA..].fill(0);
    m.emit(seg, src, dst)?;
    Ok(total)
}

/// Write a TCP ACK (nmap's ACK ping, `-PA`) from `sport` to `dport` whose acknowledgement
/// number is `ack` (the cookie): a live host answers with a RST whose sequence number is `ack`
/// (RFC 793), whether the port is open or closed.
pub fn tcp_ack(
    buf: &mut [u8],
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
    ack: u32,
    f: IpFields,
) -> Result<usize, WireError> {
    let tcp = TcpRepr {
        src_port: sport,
        dst_port: dport,
        seq_number: ack.rotate_left(16),
        ack_number: ack,
        flags: TcpFlags(tcpflags::ACK),
        window_len: 1024,
        urgent_at: 0,
        options: &[],
        payload_len: 0,
    };
    let total = ip_header_len(dst) + tcp.buffer_len();
    room(buf, total)?;
    let hl = ip_header(buf, src, dst, ipproto::TCP, tcp.buffer_len(), f)?;
    tcp.emit(&mut buf[hl..total], src, dst)?;
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{checksum, Ipv4Packet, Ipv6Packet, TcpPacket, UdpPacket};

    #[test]
    fn syn_v4_round_trips_and_checksums() {
        let mut buf = [0u8; 64];
        let (s, d) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
        let n = syn_v4(
            &mut buf,
            s,
            d,
            40000,
            443,
            0xdeadbeef,
            IpFields { ttl: 63, ident: 7 },
        )
        .unwrap();
        let ip = Ipv4Packet::new_checked(&buf[..n]).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!(
            (ip.src_addr(), ip.dst_addr(), ip.ttl(), ip.ident()),
            (s, d, 63, 7)
        );
        let t = TcpPacket::new_checked(ip.payload()).unwrap();
        assert_eq!(
            (t.src_port(), t.dst_port(), t.seq_number()),
            (40000, 443, 0xdeadbeef)
        );
        assert_eq!(t.flags().bits(), tcpflags::SYN);
        assert_eq!(t.option_bytes(), &[2, 4, 5, 0xb4]);
        let sum = checksum::add(checksum::pseudo_v4(s, d, ipproto::TCP, 24), ip.payload());
        assert_eq!(checksum::finish(sum), 0);
    }

    #[test]
    fn udp_v6_round_trips_and_checksums() {
        let mut buf = [0u8; 128];
        let (s, d) = (Ipv6Addr::LOCALHOST, "fd00::2".parse().unwrap());
        let n = udp_v6(&mut buf, s, d, 50000, 53, b"hello", IpFields::default()).unwrap();
        let ip = Ipv6Packet::new_checked(&buf[..n]).unwrap();
        let ul = ip.upper_layer().unwrap();
        assert_eq!(ul.protocol, ipproto::UDP);
        let u = UdpPacket::new_checked(ul.payload).unwrap();
        assert_eq!(
            (u.src_port(), u.dst_port(), u.payload()),
            (50000, 53, &b"hello"[..])
        );
        let sum = checksum::add(checksum::pseudo_v6(s, d, ipproto::UDP, 13), ip.payload());
        assert_eq!(checksum::finish(sum), 0);
    }

    #[test]
    fn too_small_buffers_are_errors() {
        let mut buf = [0u8; 10];
        let a = Ipv4Addr::LOCALHOST;
        assert!(syn_v4(&mut buf, a, a, 1, 2, 3, IpFields::default()).is_err());
        assert!(udp_v4(&mut buf, a, a, 1, 2, b"x", IpFields::default()).is_err());
        // Mixed families are refused, not half-written.
        let mut big = [0u8; 128];
        let six = IpAddr::from(Ipv6Addr::LOCALHOST);
        assert!(syn(&mut big, a.into(), six, 1, 2, 3, IpFields::default()).is_err());
        assert!(udp(&mut big, six, a.into(), 1, 2, b"x", IpFields::default()).is_err());
    }
}
