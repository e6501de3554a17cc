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
    /// The largest resume file read (a scan's file holds a watermark and at most a window of
    /// out-of-order positions: a few MiB at most).
    pub const MAX_BYTES: u64 = 16 << 20;

    /// Read a resume file and check it against the job about to run: its fingerprint `job`
    /// (targets, ports, shard), its number of probes `total` and its `shard`. A file that does
    /// not exist is `Ok(None)`; anything else that is not exactly this job's state is an error
    /// that names what is wrong.
    pub fn load(
        path: &std::path::Path,
        job: &str,
        total: u64,
        shard: Shard,
    ) -> Result<Option<ResumeState>, PlanError> {
        let read_err = |why: String| PlanError::ResumeRead {
            path: path.display().to_string(),
            why,
        };
        let mismatch = |why: String| PlanError::ResumeMismatch {
            path: path.display().to_string(),
            why,
        };
        let text = match read_capped(path, Self::MAX_BYTES) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(read_err(e.to_string())),
        };
        let file: ResumeFile = serde_json::from_str(&text)
            .map_err(|e| read_err(format!("not a portolan resume file: {e}")))?;
        let st = file.state;
        if st.version != Self::VERSION {
            return Err(mismatch(format!(
                "version {} (expected {})",
                st.version,
                Self::VERSION
            )));
        }
        if st.job != job {
            return Err(mismatch("targets, ports, seed or shard differ".into()));
        }
        if file.check.is_some_and(|c| c != st.check()) {
            return Err(mismatch(
                "its seed, shard or probe count was edited after it was written".into(),
            ));
        }
        if st.total != total {
            return Err(mismatch(format!(
                "it counts {} probes, this scan has {total}",
                st.total
            )));
        }
        if st.shard != shard {
            return Err(mismatch(format!(
                "it is for shard {}, this scan is shard {shard}",
                st.shard
            )));
        }
        let end = shard.positions(total).end;
        if st.next > end {
            return Err(mismatch(format!(
                "its next position {} is past the end of the shard ({end})",
                st.next
            )));
        }
        if let Some(&bad) = st.done_above.iter().find(|&&p| p >= end) {
            return Err(mismatch(format!(
                "it marks position {bad} done, past the end of the shard ({end})"
            )));
        }
        Ok(Some(st))
    }

    /// A checksum of the fields that must not change while a scan is resumed (the seed fixes
    /// the order: another seed would skip other probes than those done).
    fn check(&self) -> String {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let text = format!(
            "{}|{}|{}|{}|{}",
            self.version, self.job, self.seed, self.shard, self.total
        );
        for b in text.bytes() {
            h = splitmix(h ^ b as u64);
        }
        format!("{h:016x}")
    }

    /// Write atomically: to a temp file created exclusively under a random name in the same
    /// directory (never following a planted link), renamed over `path` once complete.
    pub fn save(&self, path: &std::path::Path) -> Result<(), PlanError> {
        use std::io::Write;
        let err = |e: std::io::Error| PlanError::ResumeWrite {
            path: path.display().to_string(),
            why: e.to_string(),
        };
        let text = serde_json::to_string(&ResumeFileRef {
            state: self,
            check: self.check(),
        })
        .map_err(|e| PlanError::ResumeWrite {
            path: path.display().to_string(),
            why: e.to_string(),
        })?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => std::path::Path::new("."),
        };
        let mut tmp = tempfile::Builder::new()
            .prefix(".portolan-resume-")
            .tempfile_in(dir)
            .map_err(err)?;
        tmp.write_all(text.as_bytes()).map_err(err)?;
        tmp.as_file().sync_all().map_err(err)?;
        tmp.persist(path).map_err(|e| err(e.error))?;
        Ok(())
    }
}

/// A resume file as written: the state and its checksum (absent in files of older versions).
#[derive(Deserialize)]
struct ResumeFile {
    #[serde(flatten)]
    state: ResumeState,
    #[serde(default)]
    check: Option<String>,
}

#[derive(Serialize)]
struct ResumeFileRef<'a> {
    #[serde(flatten)]
    state: &'a ResumeState,
    check: String,
}

/// Read a regular file of at most `cap` bytes (a FIFO, a device or a larger file is refused,
/// saying which limit was hit).
fn read_capped(path: &std::path::Path, cap: u64) -> std::io::Result<String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    // Non-blocking open: a FIFO without a writer must not hang the scan before it starts.
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = f.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let too_big = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {} MiB, the limit for a resume file", cap >> 20),
        )
    };
    if meta.len() > cap {
        return Err(too_big());
    }
    let mut text = String::new();
    f.take(cap + 1).read_to_string(&mut text)?;
    if text.len() as u64 > cap {
        return Err(too_big());
    }
    Ok(text)
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

    fn state(next: u64) -> ResumeState {
        ResumeState {
            version: ResumeState::VERSION,
            job: "j".into(),
            seed: 7,
            shard: Shard { index: 1, count: 2 },
            total: 100,
            next,
            done_above: vec![],
        }
    }

    fn edit(path: &std::path::Path, f: impl FnOnce(&mut serde_json::Value)) {
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        f(&mut v);
        std::fs::write(path, v.to_string()).unwrap();
    }

    fn load_err(path: &std::path::Path) -> String {
        match ResumeState::load(path, "j", 100, Shard { index: 1, count: 2 }) {
            Ok(st) => panic!("accepted: {st:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn resume_file_round_trips_and_is_checked_against_the_job() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scan.resume");
        let shard = Shard { index: 1, count: 2 };
        assert_eq!(ResumeState::load(&path, "j", 100, shard).unwrap(), None);
        let mut st = state(60);
        st.done_above = vec![70, 99];
        st.save(&path).unwrap();
        assert_eq!(ResumeState::load(&path, "j", 100, shard).unwrap(), Some(st));
        // Another job, another probe count or another shard: refused, saying which.
        let e = ResumeState::load(&path, "k", 100, shard)
            .unwrap_err()
            .to_string();
        assert!(e.contains("differ"), "{e}");
        let e = ResumeState::load(&path, "j", 101, shard)
            .unwrap_err()
            .to_string();
        assert!(e.contains("counts 100 probes, this scan has 101"), "{e}");
        let e = ResumeState::load(&path, "j", 100, Shard { index: 0, count: 2 })
            .unwrap_err()
            .to_string();
        assert!(e.contains("shard 1/2"), "{e}");
    }

    #[test]
    fn an_edited_resume_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scan.resume");
        // `next` past the end of the shard (positions 50..100).
        state(60).save(&path).unwrap();
        edit(&path, |v| v["next"] = 1_000_000.into());
        assert!(load_err(&path).contains("past the end"));
        state(60).save(&path).unwrap();
        edit(&path, |v| v["done_above"] = serde_json::json!([70, 100]));
        assert!(load_err(&path).contains("position 100"));
        // Seed, shard or total edited: the checksum no longer matches.
        for (field, value) in [
            ("seed", serde_json::json!(8)),
            ("total", serde_json::json!(1000)),
            ("shard", serde_json::json!({"index": 0, "count": 2})),
        ] {
            state(60).save(&path).unwrap();
            edit(&path, |v| v[field] = value);
            let e = load_err(&path);
            assert!(e.contains("edited"), "{field}: {e}");
        }
        // A file of an older portolan (no checksum) is still read, and still range-checked.
        state(60).save(&path).unwrap();
        edit(&path, |v| {
            v.as_object_mut().unwrap().remove("check");
        });
        assert!(ResumeState::load(&path, "j", 100, Shard { index: 1, count: 2 }).is_ok());
        edit(&path, |v| v["total"] = 1000.into());
        assert!(load_err(&path).contains("1000 probes"));
    }

    #[test]
    fn resume_read_is_bounded_and_refuses_what_is_not_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.resume");
        let f = std::fs::File::create(&big).unwrap();
        f.set_len(ResumeState::MAX_BYTES + 1).unwrap();
        let e = load_err(&big);
        assert!(e.contains("16 MiB, the limit for a resume file"), "{e}");
        let fifo = dir.path().join("fifo.resume");
        let ok = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            // Without a writer, a blocking open would hang here.
            let e = load_err(&fifo);
            assert!(e.contains("not a regular file"), "{e}");
        }
        let e = load_err(dir.path());
        assert!(
            e.contains("not a regular file") || e.contains("directory"),
            "{e}"
        );
    }

    #[test]
    fn resume_save_does_not_follow_a_planted_link() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scan.resume");
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        // The names an attacker could predict: the old fixed temp name and a few variants.
        for planted in ["scan.tmp-resume", "scan.resume.tmp", ".scan.resume.tmp"] {
            std::os::unix::fs::symlink(&victim, dir.path().join(planted)).unwrap();
        }
        state(60).save(&path).unwrap();
        state(61).save(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        let shard = Shard { index: 1, count: 2 };
        assert_eq!(
            ResumeState::load(&path, "j", 100, shard)
                .unwrap()
                .map(|s| s.next),
            Some(61)
        );
        // No temp file is left behind.
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                ".scan.resume.tmp",
                "scan.resume",
                "scan.resume.tmp",
                "scan.tmp-resume",
                "victim"
            ]
        );
    }

    proptest::proptest! {
        /// Any bytes, or a real state with any numbers: loading never panics, and what it
        /// accepts lies within the shard.
        #[test]
        fn resume_load_never_panics_and_accepts_only_the_shard(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            next in proptest::prelude::any::<u64>(),
            above in proptest::collection::vec(proptest::prelude::any::<u64>(), 0..5),
            total in 0u64..200,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("r");
            let shard = Shard { index: 1, count: 2 };
            std::fs::write(&path, &bytes).unwrap();
            let _ = ResumeState::load(&path, "j", 100, shard);
            let mut st = state(next);
            st.total = total;
            st.done_above = above;
            st.save(&path).unwrap();
            if let Ok(Some(got)) = ResumeState::load(&path, "j", 100, shard) {
                let end = shard.positions(100).end;
                proptest::prop_assert!(got.next <= end);
                proptest::prop_assert!(got.done_above.iter().all(|&p| p < end));
                proptest::prop_assert_eq!(got.total, 100);
            }
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
