//! Building packets and captures: for tests, fuzz seeds and the benchmark generator.
//!
//! Frames are Ethernet II carrying IPv4 or IPv6 with TCP, UDP or ICMP. Checksums are left zero
//! (the detector does not verify them).

use portolan_wire::ipproto;

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
            flags: 0x02,
            seq: 1,
            ack: 0,
            window: 64240,
            options: &[],
            payload_len: 0,
        }
    }
}

/// Linux's SYN options: MSS 1460, SACK permitted, timestamps, NOP, window scale 7.
pub const LINUX_SYN_OPTIONS: [u8; 20] = [
    2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
];

fn eth(buf: &mut Vec<u8>, ethertype: u16) {
    buf.extend_from_slice(&[0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1]);
    buf.extend_from_slice(&ethertype.to_be_bytes());
}

fn ipv4(
    buf: &mut Vec<u8>,
    src: [u8; 4],
    dst: [u8; 4],
    proto: u8,
    ip_id: u16,
    ttl: u8,
    l4_len: usize,
) {
    let total = (20 + l4_len) as u16;
    buf.extend_from_slice(&[0x45, 0]);
    buf.extend_from_slice(&total.to_be_bytes());
    buf.extend_from_slice(&ip_id.to_be_bytes());
    buf.extend_from_slice(&[0x40, 0, ttl, proto, 0, 0]);
    buf.extend_from_slice(&src);
    buf.extend_from_slice(&dst);
}

fn ipv6(buf: &mut Vec<u8>, src: [u8; 16], dst: [u8; 16], next: u8, hop: u8, l4_len: usize) {
    buf.extend_from_slice(&[0x60, 0, 0, 0]);
    buf.extend_from_slice(&(l4_len as u16).to_be_bytes());
    buf.extend_from_slice(&[next, hop]);
    buf.extend_from_slice(&src);
    buf.extend_from_slice(&dst);
}

fn tcp_len(t: &Tcp<'_>) -> (usize, usize) {
    let opt = (t.options.len() + 3) & !3;
    (20 + opt, 20 + opt + t.payload_len)
}

fn tcp(buf: &mut Vec<u8>, t: &Tcp<'_>) {
    let (hl, _) = tcp_len(t);
    buf.extend_from_slice(&t.sport.to_be_bytes());
    buf.extend_from_slice(&t.dport.to_be_bytes());
    buf.extend_from_slice(&t.seq.to_be_bytes());
    buf.extend_from_slice(&t.ack.to_be_bytes());
    buf.push(((hl / 4) as u8) << 4);
    buf.push(t.flags);
    buf.extend_from_slice(&t.window.to_be_bytes());
    buf.extend_from_slice(&[0, 0, 0, 0]);
    buf.extend_from_slice(t.options);
    buf.resize(buf.len() + (hl - 20 - t.options.len()), 0);
    buf.resize(buf.len() + t.payload_len, 0x61);
}

/// Append an Ethernet + IPv4 + TCP frame to `buf`.
pub fn tcp4(buf: &mut Vec<u8>, src: [u8; 4], dst: [u8; 4], ip_id: u16, ttl: u8, t: &Tcp<'_>) {
    eth(buf, 0x0800);
    ipv4(buf, src, dst, ipproto::TCP, ip_id, ttl, tcp_len(t).1);
    tcp(buf, t);
}

/// Append an Ethernet + IPv6 + TCP frame to `buf`.
pub fn tcp6(buf: &mut Vec<u8>, src: [u8; 16], dst: [u8; 16], t: &Tcp<'_>) {
    eth(buf, 0x86dd);
    ipv6(buf, src, dst, ipproto::TCP, 64, tcp_len(t).1);
    tcp(buf, t);
}

/// Append an Ethernet + IPv4 + UDP frame to `buf`.
pub fn udp4(
    buf: &mut Vec<u8>,
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    payload_len: usize,
) {
    eth(buf, 0x0800);
    ipv4(buf, src, dst, ipproto::UDP, 0x1234, 64, 8 + payload_len);
    buf.extend_from_slice(&sport.to_be_bytes());
    buf.extend_from_slice(&dport.to_be_bytes());
    buf.extend_from_slice(&((8 + payload_len) as u16).to_be_bytes());
    buf.extend_from_slice(&[0, 0]);
    buf.resize(buf.len() + payload_len, 0x62);
}

/// Append an ICMP port-unreachable from `from` to `to` quoting a UDP datagram `to:sport ->
/// from:dport`.
pub fn icmp4_port_unreachable(
    buf: &mut Vec<u8>,
    from: [u8; 4],
    to: [u8; 4],
    sport: u16,
    dport: u16,
) {
    eth(buf, 0x0800);
    ipv4(buf, from, to, ipproto::ICMP, 0, 64, 8 + 28);
    buf.extend_from_slice(&[3, 3, 0, 0, 0, 0, 0, 0]);
    ipv4(buf, to, from, ipproto::UDP, 1, 64, 8);
    buf.extend_from_slice(&sport.to_be_bytes());
    buf.extend_from_slice(&dport.to_be_bytes());
    buf.extend_from_slice(&[0, 8, 0, 0]);
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
