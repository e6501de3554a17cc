//! Small fixed-size probabilistic structures: a keyed 64-bit hash, a HyperLogLog distinct
//! counter and a Bloom filter. All are a few hundred bytes and never grow.

//!
//! Nothing here is random: every hash is keyed by the configuration's `limits.hash_key`, so the
//! same packets give the same counts, evictions and report on every run.

use crate::decode::Addr;

/// The splitmix64 finaliser: a fast, well-mixing 64-bit permutation.
#[inline]
pub fn mix64(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Hash an address with a key.
#[inline]
pub fn hash_addr(seed: u64, a: &Addr) -> u64 {
    let v = a.as_u128();
    mix64(seed ^ (v as u64) ^ mix64((v >> 64) as u64 ^ 0x9e37_79b9_7f4a_7c15))
}

/// Hash an address and a 32-bit extra value (ports, kinds).
#[inline]
pub fn hash_addr_u32(seed: u64, a: &Addr, x: u32) -> u64 {
    mix64(hash_addr(seed, a) ^ u64::from(x).wrapping_mul(0x2545_f491_4f6c_dd1d))
}

/// HyperLogLog with 64 six-bit registers (stored as bytes): about 13% standard error for large
/// counts, near-exact for small ones (linear counting), 80 bytes. The harmonic sum is kept up to
/// date as registers change, so [`Hll::estimate`] costs O(1).
#[derive(Clone, Copy, Debug)]
pub struct Hll {
    reg: [u8; 64],
    zeros: u32,
    /// Σ 2^-reg over all registers.
    sum: f64,
}

impl Default for Hll {
    fn default() -> Self {
        Hll {
            reg: [0; 64],
            zeros: 64,
            sum: 64.0,
        }
    }
}

#[inline]
fn pow2neg(r: u8) -> f64 {
    // 2^-r as an f64, built from its exponent bits (r <= 59 here).
    f64::from_bits((1023 - u64::from(r)) << 52)
}

impl Hll {
    /// Add an item by its (well-mixed) 64-bit hash. True when a register changed (the estimate
    /// may have grown).
    #[inline]
    pub fn add(&mut self, h: u64) -> bool {
        let idx = (h >> 58) as usize;
        let w = (h << 6) | (1 << 5);
        let rank = (w.leading_zeros() + 1) as u8;
        let old = self.reg[idx];
        if old < rank {
            self.reg[idx] = rank;
            self.sum += pow2neg(rank) - pow2neg(old);
            if old == 0 {
                self.zeros -= 1;
            }
            true
        } else {
            false
        }
    }

    /// Estimated number of distinct items added.
    #[inline]
    pub fn estimate(&self) -> u64 {
        const M: f64 = 64.0;
        let raw = 0.709 * M * M / self.sum;
        let est = if raw <= 2.5 * M && self.zeros > 0 {
            M * (M / f64::from(self.zeros)).ln()
        } else {
            raw
        };
        est.round() as u64
    }

    pub fn clear(&mut self) {
        *self = Hll::default();
    }
}

/// Exactly counted items before a [`Distinct`] falls back to its HyperLogLog.
pub const EXACT: usize = 32;

/// A distinct counter that is exact up to [`EXACT`] items (it keeps their 32-bit fingerprints)
/// and a [`Hll`] estimate above, built from the fingerprints when the list overflows, in the
/// same 136 bytes: thresholds of a few tens compare exact counts, and a scan of a /8 still
/// costs a fixed size.
#[derive(Clone, Copy, Debug)]
pub enum Distinct {
    Exact { fp: [u32; EXACT], n: u8 },
    Sketch(Hll),
}

impl Default for Distinct {
    fn default() -> Self {
        Distinct::Exact {
            fp: [0; EXACT],
            n: 0,
        }
    }
}

#[inline]
fn fp_hash(fp: u32) -> u64 {
    mix64(u64::from(fp) ^ 0x6a09_e667_f3bc_c909)
}

impl Distinct {
    /// Add an item by its (well-mixed) 64-bit hash.
    #[inline]
    pub fn add(&mut self, h: u64) {
        let x = (h >> 32) as u32;
        match self {
            Distinct::Exact { fp, n } => {
                let len = usize::from(*n);
                if fp[..len].contains(&x) {
                    return;
                }
                if len < EXACT {
                    fp[len] = x;
                    *n += 1;
                    return;
                }
                let mut hll = Hll::default();
                for &f in fp.iter() {
                    hll.add(fp_hash(f));
                }
                hll.add(fp_hash(x));
                *self = Distinct::Sketch(hll);
            }
            Distinct::Sketch(hll) => {
                hll.add(fp_hash(x));
            }
        }
    }

    /// The number of distinct items: exact up to [`EXACT`], estimated (and at least
    /// `EXACT + 1`) above.
    #[inline]
    pub fn count(&self) -> u64 {
        match self {
            Distinct::Exact { n, .. } => u64::from(*n),
            Distinct::Sketch(hll) => hll.estimate().max(EXACT as u64 + 1),
        }
    }

    pub fn clear(&mut self) {
        *self = Distinct::default();
    }
}

/// A 1024-bit Bloom filter with three probes, 128 bytes: "have we seen this before".
#[derive(Clone, Copy, Debug, Default)]
pub struct Bloom {
    bits: [u64; 16],
}

impl Bloom {
    /// Insert; true when the item was (probably) not there before.
    #[inline]
    pub fn insert(&mut self, h: u64) -> bool {
        let h1 = h as u32;
        let h2 = (h >> 32) as u32 | 1;
        let mut new = false;
        for i in 0..3u32 {
            let bit = h1.wrapping_add(i.wrapping_mul(h2)) & 1023;
            let (w, b) = ((bit >> 6) as usize, bit & 63);
            if self.bits[w] & (1 << b) == 0 {
                new = true;
                self.bits[w] |= 1 << b;
            }
        }
        new
    }

    pub fn clear(&mut self) {
        self.bits = [0; 16];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hll_small_counts_are_near_exact() {
        for n in [1u64, 5, 10, 20, 40] {
            let mut h = Hll::default();
            for i in 0..n {
                h.add(mix64(i + 1000));
                h.add(mix64(i + 1000)); // duplicates do not count
            }
            let e = h.estimate();
            assert!(e.abs_diff(n) <= n / 5 + 1, "n={n} estimate={e}");
        }
    }

    #[test]
    fn hll_large_counts_within_error() {
        let mut h = Hll::default();
        for i in 0..100_000u64 {
            h.add(mix64(i));
        }
        let e = h.estimate() as f64;
        assert!((e - 100_000.0).abs() / 100_000.0 < 0.4, "estimate {e}");
    }

    #[test]
    fn distinct_is_exact_when_small_and_bounded_when_large() {
        let mut d = Distinct::default();
        for n in 1..=EXACT as u64 {
            d.add(mix64(n));
            d.add(mix64(n));
            assert_eq!(d.count(), n);
        }
        for n in EXACT as u64 + 1..10_000 {
            d.add(mix64(n));
        }
        let e = d.count() as f64;
        assert!((e - 10_000.0).abs() / 10_000.0 < 0.4, "estimate {e}");
        d.clear();
        assert_eq!(d.count(), 0);
        assert!(std::mem::size_of::<Distinct>() <= 136);
    }

    #[test]
    fn bloom_first_time_only() {
        let mut b = Bloom::default();
        assert!(b.insert(mix64(1)));
        assert!(!b.insert(mix64(1)));
        let fresh = (2..200u64).filter(|&i| b.insert(mix64(i))).count();
        assert!(fresh >= 185, "{fresh}");
    }
}
