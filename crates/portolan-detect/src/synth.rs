//! Building packets and captures: for tests, fuzz seeds and the benchmark generator.
//!
//! Frames are Ethernet II carrying IPv4 or IPv6 with TCP, UDP or ICMP, written through
//! `portolan_wire`'s `Repr` types: every header's layout is the wire crate's, and every checksum
//! (IPv4 header, TCP, UDP, ICMP, and those of the packet an ICMP error quotes) is right, as in a
//! real capture.
//!
//! # Panics
//! The builders panic when asked for a frame the headers cannot say: TCP options longer than 40
//! bytes, or a payload longer than an IP packet holds. They are for test inputs written in code.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use portolan_wire::link::ethertype;
use portolan_wire::{
    icmp, ipproto, tcpflags, EthernetRepr, IcmpRepr, Ipv4Repr, Ipv6Repr, TcpFlags, TcpRepr,
    UdpRepr, WireError,
};

/// A TCP segment to build.
#[derive(Debug, Clone, Copy)]
pub struct Tcp<'a> {
    pub sport: u16,
    pub dport: u16,
    pub flags: u8,
    pub seq: u32,
    pub ack: u32,
    pub window: u16,
    /// Raw option bytes (padded to 4 by the builder).
    pub options: &'a [u8],
    pub payload_len: usize,
}

impl Default for Tcp<'_> {
    fn default() -> Self {
        Tcp {
            sport: 40000,
            dport: 80,
            flags: tcpflags::SYN,
            seq: 1,
            ack: 0,
            window: 64240,
            options: &[],
            payload_len: 0,
        }
    }
}

impl<'a> Tcp<'a> {
    /// The header as the wire crate describes it.
    fn repr(&self) -> TcpRepr<'a> {
        TcpRepr {
            src_port: self.sport,
            dst_port: self.dport,
            seq_number: self.seq,
            ack_number: self.ack,
            flags: TcpFlags(self.flags),
            window_len: self.window,
            urgent_at: 0,
            options: self.options,
            payload_len: self.payload_len,
        }
    }
}

/// Linux's SYN options: MSS 1460, SACK permitted, timestamps, NOP, window scale 7.
pub const LINUX_SYN_OPTIONS: [u8; 20] = [
    2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
];

/// The byte TCP payloads are filled with.
const TCP_FILL: u8 = 0x61;
/// The byte UDP payloads are filled with.
const UDP_FILL: u8 = 0x62;

/// The result of an `emit` of a header the caller asked for; see the module's "Panics".
fn emitted(r: Result<(), WireError>) {
    if let Err(e) = r {
        panic!("synth: cannot build the frame asked for: {e}");
    }
}

/// Append an Ethernet header (02:00:00:00:00:01 to 02:00:00:00:00:02) and `len` zero bytes
/// after it to `buf`; returns where those bytes start.
fn frame(buf: &mut Vec<u8>, ty: u16, len: usize) -> usize {
    let at = buf.len();
    buf.resize(at + EthernetRepr::HEADER_LEN + len, 0);
    let eth = EthernetRepr {
        src_addr: [0x02, 0, 0, 0, 0, 1],
        dst_addr: [0x02, 0, 0, 0, 0, 2],
        ethertype: ty,
    };
    emitted(eth.emit(&mut buf[at..]));
    at + EthernetRepr::HEADER_LEN
}

/// The IPv4 header of a synthesised packet: DF set, no options.
fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, ident: u16, ttl: u8, l4_len: usize) -> Ipv4Repr {
    Ipv4Repr {
        src_addr: Ipv4Addr::from(src),
        dst_addr: Ipv4Addr::from(dst),
        protocol: proto,
        payload_len: l4_len,
        ttl,
        ident,
        dscp_ecn: 0,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
    }
}

/// Write the TCP segment `t` (its payload filled with `TCP_FILL`) into `seg`.
fn tcp(seg: &mut [u8], src: IpAddr, dst: IpAddr, t: &Tcp<'_>) {
    let r = t.repr();
    if let Some(payload) = seg.get_mut(r.header_len()..) {
        payload.fill(TCP_FILL);
    }
    emitted(r.emit(seg, src, dst));
}

/// Append an Ethernet + IPv4 + TCP frame to `buf`.
pub fn tcp4(buf: &mut Vec<u8>, src: [u8; 4], dst: [u8; 4], ip_id: u16, ttl: u8, t: &Tcp<'_>) {
    let ip = ipv4(src, dst, ipproto::TCP, ip_id, ttl, t.repr().buffer_len());
    let at = frame(buf, ethertype::IPV4, ip.buffer_len());
    emitted(ip.emit(&mut buf[at..]));
    let seg = &mut buf[at + Ipv4Repr::HEADER_LEN..];
    tcp(seg, src.into(), dst.into(), t);
}

/// Append an Ethernet + IPv6 + TCP frame to `buf` (hop limit 64).
pub fn tcp6(buf: &mut Vec<u8>, src: [u8; 16], dst: [u8; 16], t: &Tcp<'_>) {
    let ip = Ipv6Repr {
        src_addr: Ipv6Addr::from(src),
        dst_addr: Ipv6Addr::from(dst),
        next_header: ipproto::TCP,
        payload_len: t.repr().buffer_len(),
        hop_limit: 64,
        traffic_class: 0,
        flow_label: 0,
    };
    let at = frame(buf, ethertype::IPV6, ip.buffer_len());
    emitted(ip.emit(&mut buf[at..]));
    let seg = &mut buf[at + Ipv6Repr::HEADER_LEN..];
    tcp(seg, src.into(), dst.into(), t);
}

/// Append an Ethernet + IPv4 + UDP frame to `buf` (IP identification 0x1234, TTL 64; the payload
/// is `payload_len` bytes of `b`, 0x62).
pub fn udp4(
    buf: &mut Vec<u8>,
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    payload_len: usize,
) {
    let u = UdpRepr {
        src_port: sport,
        dst_port: dport,
        payload_len,
    };
    let ip = ipv4(src, dst, ipproto::UDP, 0x1234, 64, u.buffer_len());
    let at = frame(buf, ethertype::IPV4, ip.buffer_len());
    emitted(ip.emit(&mut buf[at..]));
    let seg = &mut buf[at + Ipv4Repr::HEADER_LEN..];
    seg[u.buffer_len() - payload_len..].fill(UDP_FILL);
    emitted(u.emit(seg, src.into(), dst.into()));
}

/// Append an ICMP port-unreachable from `from` to `to` quoting a UDP datagram `to:sport ->
/// from:dport` (its IPv4 header and the 8-byte UDP header, as a router quotes them).
pub fn icmp4_port_unreachable(
    buf: &mut Vec<u8>,
    from: [u8; 4],
    to: [u8; 4],
    sport: u16,
    dport: u16,
) {
    let quoted_udp = UdpRepr {
        src_port: sport,
        dst_port: dport,
        payload_len: 0,
    };
    let quoted_ip = ipv4(to, from, ipproto::UDP, 1, 64, quoted_udp.buffer_len());
    let msg = IcmpRepr {
        v6: false,
        msg_type: icmp::v4::DEST_UNREACHABLE,
        msg_code: icmp::v4::CODE_PORT_UNREACHABLE,
        rest_of_header: 0,
        data_len: quoted_ip.buffer_len(),
    };
    let ip = ipv4(from, to, ipproto::ICMP, 0, 64, msg.buffer_len());
    let at = frame(buf, ethertype::IPV4, ip.buffer_len());
    emitted(ip.emit(&mut buf[at..]));
    let m = &mut buf[at + Ipv4Repr::HEADER_LEN..];
    // The quoted packet first: the ICMP checksum covers it.
    let q = &mut m[icmp::field::DATA..];
    emitted(quoted_ip.emit(q));
    emitted(quoted_udp.emit(&mut q[Ipv4Repr::HEADER_LEN..], to.into(), from.into()));
    emitted(msg.emit(m, from.into(), to.into()));
}

/// A small, fast, seedable random generator (xorshift64*).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in 0..n (n > 0).
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n.max(1))) >> 64) as u64
    }
}

/// A busy, mixed capture for reproducibility tests: vertical SYN scans of hundreds of ports
/// (closed, RST), a horizontal sweep, a UDP scan answered by port-unreachables, many one-SYN
/// sources and benign completed connections, interleaved by `rng`. Timestamps start at `t0` and
/// advance 100 µs per frame.
pub fn busy_frames(seed: u64, t0: u64) -> Vec<(u64, Vec<u8>)> {
    let mut rng = Rng::new(seed);
    let mut streams: Vec<Vec<Vec<u8>>> = Vec::new();
    let victim = [192, 0, 2, 10];
    let frame = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = Vec::new();
        f(&mut b);
        b
    };
    for s in 0..4u8 {
        let src = [198, 51, 100, 1 + s];
        let mut v = Vec::new();
        for port in 1..=400u16 {
            let syn = Tcp {
                sport: 40000,
                dport: port,
                window: 1024,
                ..Tcp::default()
            };
            let rst = Tcp {
                sport: port,
                dport: 40000,
                flags: 0x14,
                window: 0,
                ..Tcp::default()
            };
            v.push(frame(&|b| tcp4(b, src, victim, 1, 64, &syn)));
            v.push(frame(&|b| tcp4(b, victim, src, 1, 64, &rst)));
        }
        streams.push(v);
    }
    let mut v = Vec::new();
    for host in 1..=250u8 {
        let dst = [10, 9, 0, host];
        let syn = Tcp {
            sport: 50000,
            dport: 81,
            window: 1024,
            ..Tcp::default()
        };
        v.push(frame(&|b| tcp4(b, [203, 0, 113, 5], dst, 54321, 255, &syn)));
    }
    streams.push(v);
    let mut v = Vec::new();
    for port in 1..=300u16 {
        v.push(frame(&|b| {
            udp4(b, [203, 0, 113, 9], victim, 53000, port, 0)
        }));
        v.push(frame(&|b| {
            icmp4_port_unreachable(b, victim, [203, 0, 113, 9], 53000, port)
        }));
    }
    streams.push(v);
    let mut v = Vec::new();
    for i in 0..3000u32 {
        let src = [100, 64 + (i >> 16) as u8, (i >> 8) as u8, i as u8];
        let syn = Tcp {
            sport: 1024 + (i % 60000) as u16,
            dport: 443,
            ..Tcp::default()
        };
        v.push(frame(&|b| tcp4(b, src, victim, 7, 64, &syn)));
    }
    streams.push(v);
    let mut v = Vec::new();
    for i in 0..500u16 {
        let (c, sp) = ([172, 16, (i % 7) as u8, 20], 30000 + i);
        let syn = Tcp {
            sport: sp,
            dport: 80,
            options: &LINUX_SYN_OPTIONS,
            ..Tcp::default()
        };
        let sa = Tcp {
            sport: 80,
            dport: sp,
            flags: 0x12,
            ..Tcp::default()
        };
        let ack = Tcp {
            sport: sp,
            dport: 80,
            flags: 0x10,
            ..Tcp::default()
        };
        v.push(frame(&|b| tcp4(b, c, victim, 3, 64, &syn)));
        v.push(frame(&|b| tcp4(b, victim, c, 3, 64, &sa)));
        v.push(frame(&|b| tcp4(b, c, victim, 3, 64, &ack)));
    }
    streams.push(v);
    let mut pos = vec![0usize; streams.len()];
    let mut out = Vec::new();
    let mut ts = t0;
    loop {
        let live: Vec<usize> = (0..streams.len())
            .filter(|&i| pos[i] < streams[i].len())
            .collect();
        if live.is_empty() {
            return out;
        }
        let i = live[rng.below(live.len() as u64) as usize];
        ts += 100_000;
        out.push((ts, std::mem::take(&mut streams[i][pos[i]])));
        pos[i] += 1;
    }
}
