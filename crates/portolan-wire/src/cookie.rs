//! Stateless probe validation: a keyed SipHash of the probe's 4-tuple, carried in the TCP
//! sequence number (SYN) or in the UDP source port, so that a reply proves it answers a probe we
//! sent without any per-probe table — and a forged or stray packet is recognised and ignored.

use std::hash::Hasher;
use std::net::IpAddr;

use siphasher::sip::SipHasher13;

/// First and last UDP source port used for probes. The range is outside Linux's default
/// ephemeral range (32768-60999), so it does not collide with the kernel's own sockets.
pub const UDP_SPORT_LO: u16 = 61000;
pub const UDP_SPORT_HI: u16 = 65535;

/// A secret key for one scan.
#[derive(Clone, Copy)]
pub struct CookieKey {
    k0: u64,
    k1: u64,
}

impl std::fmt::Debug for CookieKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CookieKey(..)")
    }
}

fn feed_addr(h: &mut SipHasher13, a: IpAddr) {
    match a {
        IpAddr::V4(v) => h.write(&v.octets()),
        IpAddr::V6(v) => h.write(&v.octets()),
    }
}

impl CookieKey {
    /// A key from two 64-bit halves (use [`CookieKey::random`] unless you need repeatability).
    pub fn new(k0: u64, k1: u64) -> CookieKey {
        CookieKey { k0, k1 }
    }

    /// A key from the operating system's randomness, falling back to time and pid.
    pub fn random() -> CookieKey {
        let mut b = [0u8; 16];
        let ok = std::fs::File::open("/dev/urandom")
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
            .is_ok();
        if !ok {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            b.copy_from_slice(&(t ^ (u128::from(std::process::id()) << 64)).to_le_bytes());
        }
        let (a, c) = b.split_at(8);
        let mut k0 = [0u8; 8];
        let mut k1 = [0u8; 8];
        k0.copy_from_slice(a);
        k1.copy_from_slice(c);
        CookieKey::new(u64::from_le_bytes(k0), u64::from_le_bytes(k1))
    }

    fn hash(&self, tag: u8, src: IpAddr, dst: IpAddr, sport: u16, dport: u16) -> u64 {
        let mut h = SipHasher13::new_with_keys(self.k0, self.k1);
        h.write_u8(tag);
        feed_addr(&mut h, src);
        feed_addr(&mut h, dst);
        h.write_u16(sport);
        h.write_u16(dport);
        h.finish()
    }

    /// The sequence number of a SYN from `src:sport` to `dst:dport`. A SYN-ACK or RST answering
    /// it acknowledges this value + 1.
    pub fn tcp_seq(&self, src: IpAddr, dst: IpAddr, sport: u16, dport: u16) -> u32 {
        self.hash(b'T', src, dst, sport, dport) as u32
    }

    /// The identifier and sequence number of an ICMP echo or timestamp request from `src` to
    /// `dst` (`kind`: the request's ICMP type, so that each query kind has its own cookie). The
    /// reply repeats both.
    pub fn icmp_id_seq(&self, src: IpAddr, dst: IpAddr, kind: u8) -> (u16, u16) {
        let h = self.hash(b'I', src, dst, u16::from(kind), 0);
        ((h >> 16) as u16, h as u16)
    }

    /// The source port of a UDP probe from `src` to `dst:dport`.
    pub fn udp_sport(&self, src: IpAddr, dst: IpAddr, dport: u16) -> u16 {
        let span = u64::from(UDP_SPORT_HI - UDP_SPORT_LO) + 1;
        UDP_SPORT_LO + (self.hash(b'U', src, dst, 0, dport) % span) as u16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_per_key_and_tuple() {
        let k = CookieKey::new(1, 2);
        let (a, b) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        assert_eq!(k.tcp_seq(a, b, 1, 2), k.tcp_seq(a, b, 1, 2));
        assert_ne!(k.tcp_seq(a, b, 1, 2), k.tcp_seq(a, b, 1, 3));
        assert_ne!(
            k.tcp_seq(a, b, 1, 2),
            CookieKey::new(1, 3).tcp_seq(a, b, 1, 2)
        );
        let p = k.udp_sport(a, b, 53);
        assert!((UDP_SPORT_LO..=UDP_SPORT_HI).contains(&p));
    }
}
