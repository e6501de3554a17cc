//! The probe plan: a keyed pseudo-random permutation of the (target, port) index space.
//!
//! Index `i` in `0..targets × ports` names the probe (target `i / ports`, port `i % ports`).
//! [`Plan::index_at`] maps a *position* `0..n` to an index with a balanced Feistel network over
//! the smallest even-bit power-of-two domain `≥ n`, cycle-walking out-of-range values back in
//! (the domain is < 4n, so fewer than 4 steps are expected). State is the key and `n`: O(1) in
//! the size of the target space. The same seed gives the same order; a different seed a
//! different one.
//!
//! Sharding splits the *positions* into N contiguous slices ([`Shard::positions`]), so shards
//! partition the job exactly. Resume stores how far the position walk got ([`ResumeState`]).

use serde::{Deserialize, Serialize};
use std::ops::Range;

/// Errors building a plan or reading a resume file.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("the scan has no probes (no targets or no ports)")]
    Empty,
    #[error(
        "the scan is too large ({0} probes; at most 2^62): scan fewer targets or ports at once"
    )]
    TooLarge(u128),
    #[error("{0:?} is not a shard: use i/N with 0 <= i < N (e.g. --shard 0/3)")]
    BadShard(String),
    #[error("cannot read resume file {path}: {why}")]
    ResumeRead { path: String, why: String },
    #[error("resume file {path} belongs to a different scan ({why}): run the same command it was written for, or remove the file")]
    ResumeMismatch { path: String, why: String },
    #[error("cannot write resume file {path}: {why}")]
    ResumeWrite { path: String, why: String },
}

const ROUNDS: usize = 6;

/// A keyed permutation of `0..n`.
#[derive(Clone, Debug)]
pub struct Plan {
    n: u64,
    half_bits: u32,
    keys: [u64; ROUNDS],
    seed: u64,
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Plan {
    /// A permutation of `0..n` keyed by `seed`.
    pub fn new(n: u64, seed: u64) -> Result<Plan, PlanError> {
        if n == 0 {
            return Err(PlanError::Empty);
        }
        if n > 1 << 62 {
            return Err(PlanError::TooLarge(n as u128));
        }
        let bits = (64 - (n - 1).leading_zeros()).max(2);
        let bits = bits + (bits & 1);
        let mut keys = [0u64; ROUNDS];
        let mut k = seed ^ n.rotate_left(17);
        for key in keys.iter_mut() {
            k = splitmix(k);
            *key = k;
        }
        Ok(Plan {
            n,
            half_bits: bits / 2,
            keys,
            seed,
        })
    }

    /// Number of probes.
    pub fn len(&self) -> u64 {
        self.n
    }
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }
    pub fn seed(&self) -> u64 {
        self.seed
    }

    fn feistel(&self, x: u64) -> u64 {
        let mask = (1u64 << self.half_bits) - 1;
        let mut l = x >> self.half_bits;
        let mut r = x & mask;
        for k in &self.keys {
            let f = splitmix(r ^ k) & mask;
            let nl = r;
            r = l ^ f;
            l = nl;
        }
        (l << self.half_bits) | r
    }

    /// The probe index at position `pos` (`pos < len()`); a bijection on `0..len()`.
    pub fn index_at(&self, pos: u64) -> u64 {
        debug_assert!(pos < self.n);
        let mut x = self.feistel(pos);
        while x >= self.n {
            x = self.feistel(x);
        }
        x
    }
}

/// One of N slices of a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Default for Shard {
    fn default() -> Self {
        Shard { index: 0, count: 1 }
    }
}

impl std::str::FromStr for Shard {
    type Err = PlanError;
    fn from_str(s: &str) -> Result<Shard, PlanError> {
        let bad = || PlanError::BadShard(s.to_string());
        let (a, b) = s.split_once('/').ok_or_else(bad)?;
        let index: u64 = a.trim().parse().map_err(|_| bad())?;
        let count: u64 = b.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// The positions of `0..n` this shard walks.
    pub fn positions(&self, n: u64) -> Range<u64> {
        let lo = (n as u128 * self.index as u128 / self.count as u128) as u64;
        let hi = (n as u128 * (self.index + 1) as u128 / self.count as u128) as u64;
        lo..hi
    }
}

/// Where a scan got to, as written to `--resume FILE`.
///
/// Every position below `next` is done; `done_above` lists positions at or above `next` that
/// finished out of order (at most the window size). On resume the walk starts at `next` and skips
/// `done_above`. `job` fingerprints the targets, ports, seed and shard so that a file cannot be
/// applied to another scan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumeState {
    pub version: u32,
    pub job: String,
    pub seed: u64,
    pub shard: Shard,
    pub total: u64,
    pub next: u64,
    pub done_above: Vec<u64>,
}

impl ResumeState {
    pub const VERSION: u32 = 1;

    /// Read and check a resume file against the job about to run.
    pub fn load(path: &std::path::Path, job: &str) -> Result<Option<ResumeState>, PlanError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(PlanError::ResumeRead {
                    path: path.display().to_string(),
                    why: e.to_string(),
                })
            }
        };
        let st: ResumeState = serde_json::from_str(&text).map_err(|e| PlanError::ResumeRead {
            path: path.display().to_string(),
            why: format!("not a portolan resume file: {e}"),
        })?;
        if st.version != Self::VERSION {
            return Err(PlanError::ResumeMismatch {
                path: path.display().to_string(),
                why: format!("version {} (expected {})", st.version, Self::VERSION),
            });
        }
        if st.job != job {
            return Err(PlanError::ResumeMismatch {
                path: path.display().to_string(),
                why: "targets, ports, seed or shard differ".into(),
            });
        }
        Ok(Some(st))
    }

    /// Write atomically (temp file + rename).
    pub fn save(&self, path: &std::path::Path) -> Result<(), PlanError> {
        let err = |e: std::io::Error| PlanError::ResumeWrite {
            path: path.display().to_string(),
            why: e.to_string(),
        };
        let tmp = path.with_extension("tmp-resume");
        let text = serde_json::to_string(self).map_err(|e| PlanError::ResumeWrite {
            path: path.display().to_string(),
            why: e.to_string(),
        })?;
        std::fs::write(&tmp, text).map_err(err)?;
        std::fs::rename(&tmp, path).map_err(err)
    }
}

/// Tracks completed positions to produce a [`ResumeState`] watermark with bounded memory.
#[derive(Clone, Debug, Default)]
pub struct Progress {
    next: u64,
    above: std::collections::BTreeSet<u64>,
}

impl Progress {
    /// Start at `next` with some positions above it already done.
    pub fn new(next: u64, done_above: &[u64]) -> Progress {
        let mut p = Progress {
            next,
            above: done_above.iter().copied().filter(|&x| x >= next).collect(),
        };
        p.advance();
        p
    }
    fn advance(&mut self) {
        while self.above.remove(&self.next) {
            self.next += 1;
        }
    }
    /// Mark a position done.
    pub fn done(&mut self, pos: u64) {
        if pos == self.next {
            self.next += 1;
            self.advance();
        } else if pos > self.next {
            self.above.insert(pos);
        }
    }
    /// Whether a position is already done.
    pub fn is_done(&self, pos: u64) -> bool {
        pos < self.next || self.above.contains(&pos)
    }
    pub fn next(&self) -> u64 {
        self.next
    }
    /// How many positions in `range` are done (those at or past the watermark are counted
    /// from the set, without copying it).
    pub fn done_within(&self, range: Range<u64>) -> u64 {
        let below = range.end.min(self.next).saturating_sub(range.start);
        let lo = range.start.max(self.next);
        let above = if lo < range.end {
            self.above.range(lo..range.end).count() as u64
        } else {
            0
        };
        below + above
    }
    pub fn done_above(&self) -> Vec<u64> {
        self.above.iter().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn done_within_counts_watermark_and_set() {
        let mut p = Progress::new(0, &[]);
        for x in [0, 1, 2, 5, 7, 9] {
            p.done(x);
        }
        // Watermark 3; 5, 7, 9 above it.
        assert_eq!(p.done_within(0..10), 6);
        assert_eq!(p.done_within(2..8), 3);
        assert_eq!(p.done_within(3..5), 0);
        assert_eq!(p.done_within(6..6), 0);
        for r in [0..10u64, 2..8, 4..9, 0..3] {
            let brute = r.clone().filter(|&x| p.is_done(x)).count() as u64;
            assert_eq!(p.done_within(r.clone()), brute, "{r:?}");
        }
    }

    #[test]
    fn small_bijections() {
        for n in 1..300u64 {
            let p = Plan::new(n, n * 31).unwrap();
            let mut v: Vec<u64> = (0..n).map(|i| p.index_at(i)).collect();
            v.sort_unstable();
            assert_eq!(v, (0..n).collect::<Vec<_>>(), "n={n}");
        }
    }

    #[test]
    fn seeds_change_order() {
        let a = Plan::new(1000, 1).unwrap();
        let b = Plan::new(1000, 2).unwrap();
        let va: Vec<u64> = (0..1000).map(|i| a.index_at(i)).collect();
        let vb: Vec<u64> = (0..1000).map(|i| b.index_at(i)).collect();
        assert_ne!(va, vb);
        assert_ne!(va, (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn shard_parse() {
        assert_eq!(
            "1/3".parse::<Shard>().unwrap(),
            Shard { index: 1, count: 3 }
        );
        for bad in ["3/3", "0/0", "x", "1", "-1/2"] {
            assert!(bad.parse::<Shard>().is_err());
        }
    }

    #[test]
    fn progress_watermark() {
        let mut p = Progress::new(0, &[]);
        p.done(2);
        p.done(0);
        assert_eq!(p.next(), 1);
        p.done(1);
        assert_eq!(p.next(), 3);
        assert!(p.done_above().is_empty());
        p.done(5);
        assert!(p.is_done(5) && !p.is_done(4));
    }
}
