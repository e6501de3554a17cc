//! Builders for probe packets: IPv4/IPv6 + TCP SYN or UDP, checksums included, written into a
//! caller-provided buffer (no allocation on the send path).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::{checksum, ipproto, tcpflags, WireError};

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
const TCP_SYN_LEN: usize = 24; // 20-byte header + MSS option

/// Length of an IPv4 TCP SYN probe.
pub const SYN_V4_LEN: usize = 20 + TCP_SYN_LEN;
/// Length of an IPv6 TCP SYN probe.
pub const SYN_V6_LEN: usize = 40 + TCP_SYN_LEN;

fn room(buf: &[u8], n: usize) -> Result<(), WireError> {
    if buf.len() < n {
        Err(WireError::BufferTooSmall(n))
    } else {
        Ok(())
    }
}

fn ipv4_header(buf: &mut [u8], src: Ipv4Addr, dst: Ipv4Addr, proto: u8, total: u16, f: IpFields) {
    buf[0] = 0x45;
    buf[1] = 0;
    buf[2..4].copy_from_slice(&total.to_be_bytes());
    buf[4..6].copy_from_slice(&f.ident.to_be_bytes());
    buf[6..8].copy_from_slice(&0x4000u16.to_be_bytes()); // DF
    buf[8] = f.ttl;
    buf[9] = proto;
    buf[10..12].copy_from_slice(&[0, 0]);
    buf[12..16].copy_from_slice(&src.octets());
    buf[16..20].copy_from_slice(&dst.octets());
    let c = checksum::of(&buf[..20]);
    buf[10..12].copy_from_slice(&c.to_be_bytes());
}

fn ipv6_header(buf: &mut [u8], src: Ipv6Addr, dst: Ipv6Addr, proto: u8, plen: u16, f: IpFields) {
    buf[0..4].copy_from_slice(&[0x60, 0, 0, 0]);
    buf[4..6].copy_from_slice(&plen.to_be_bytes());
    buf[6] = proto;
    buf[7] = f.ttl;
    buf[8..24].copy_from_slice(&src.octets());
    buf[24..40].copy_from_slice(&dst.octets());
}

fn tcp_syn(buf: &mut [u8], sport: u16, dport: u16, seq: u32) {
    buf[0..2].copy_from_slice(&sport.to_be_bytes());
    buf[2..4].copy_from_slice(&dport.to_be_bytes());
    buf[4..8].copy_from_slice(&seq.to_be_bytes());
    buf[8..12].copy_from_slice(&[0; 4]);
    buf[12] = ((TCP_SYN_LEN / 4) as u8) << 4;
    buf[13] = tcpflags::SYN;
    buf[14..16].copy_from_slice(&SYN_WINDOW.to_be_bytes());
    buf[16..20].copy_from_slice(&[0; 4]); // checksum, urgent
    buf[20..24].copy_from_slice(&[2, 4, (SYN_MSS >> 8) as u8, SYN_MSS as u8]);
}

/// Write the IP header of a packet carrying a `seg_len`-byte `proto` segment from `src` to `dst`
/// (one family); returns the header's length and the pseudo-header sum that starts the segment's
/// checksum. The caller has checked that `buf` holds header and segment.
fn ip_header(
    buf: &mut [u8],
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    seg_len: usize,
    f: IpFields,
) -> Result<(usize, u32), WireError> {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            ipv4_header(buf, s, d, proto, (20 + seg_len) as u16, f);
            Ok((20, checksum::pseudo_v4(s, d, proto, seg_len as u16)))
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            ipv6_header(buf, s, d, proto, seg_len as u16, f);
            Ok((40, checksum::pseudo_v6(s, d, proto, seg_len as u32)))
        }
        _ => Err(WireError::Malformed {
            layer: "probe",
            what: "source and destination of different address families",
        }),
    }
}

fn ip_header_len(dst: IpAddr) -> usize {
    if dst.is_ipv4() {
        20
    } else {
        40
    }
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
    let total = ip_header_len(dst) + TCP_SYN_LEN;
    room(buf, total)?;
    let (hl, pseudo) = ip_header(buf, src, dst, ipproto::TCP, TCP_SYN_LEN, f)?;
    let t = &mut buf[hl..total];
    tcp_syn(t, sport, dport, seq);
    let c = checksum::finish(checksum::add(pseudo, t));
    t[16..18].copy_from_slice(&c.to_be_bytes());
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

fn udp_header(buf: &mut [u8], sport: u16, dport: u16, payload: &[u8]) {
    let len = (8 + payload.len()) as u16;
    buf[0..2].copy_from_slice(&sport.to_be_bytes());
    buf[2..4].copy_from_slice(&dport.to_be_bytes());
    buf[4..6].copy_from_slice(&len.to_be_bytes());
    buf[6..8].copy_from_slice(&[0, 0]);
    buf[8..8 + payload.len()].copy_from_slice(payload);
}

/// Largest UDP payload a probe may carry (fits an unfragmented IPv6 packet on a 1280 MTU).
pub const MAX_UDP_PAYLOAD: usize = 1280 - 40 - 8;

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
    let seg = 8 + payload.len();
    let total = ip_header_len(dst) + seg;
    room(buf, total)?;
    let (hl, pseudo) = ip_header(buf, src, dst, ipproto::UDP, seg, f)?;
    let u = &mut buf[hl..total];
    udp_header(u, sport, dport, payload);
    let mut c = checksum::finish(checksum::add(pseudo, u));
    if c == 0 {
        c = 0xffff; // RFC 768: a computed zero is sent as all ones.
    }
    u[6..8].copy_from_slice(&c.to_be_bytes());
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Ipv4Packet, Ipv6Packet, TcpPacket, UdpPacket};

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
