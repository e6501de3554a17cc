//! The connection table: a fixed-size, set-associative hash table of flows keyed by the
//! unordered 5-tuple. It never grows: a full bucket evicts its least recently used entry (and
//! hands it back so the caller can settle its outcome). An incremental sweep visits a few slots
//! per packet to expire pending and idle entries, so work per packet stays constant.

use crate::decode::Addr;
use crate::sketch::mix64;

/// Entries per bucket.
pub const WAYS: usize = 4;

/// What we know about a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum FlowState {
    #[default]
    Free = 0,
    /// The client sent a SYN; no answer yet.
    SynSent,
    /// The server answered SYN-ACK; the client has not yet completed or reset.
    SynAck,
    /// The handshake completed (or the flow was seen mid-stream and answered normally).
    Established,
    /// The client reset after the server's SYN-ACK: a half-open (SYN scan) probe.
    HalfOpen,
    /// The server reset the SYN: closed port.
    Refused,
    /// An ICMP error answered the probe.
    Unreachable,
    /// The SYN got no answer in time.
    NoAnswer,
    /// A lone ACK or FIN-ACK with no flow behind it; waiting to see how the other side answers.
    Midstream,
    /// A FIN, NULL or Xmas probe (never legitimate without a connection).
    Stealth,
    /// A UDP datagram opened the flow; no answer yet.
    UdpSent,
    /// The UDP flow got an answer.
    UdpAnswered,
    /// The UDP flow expired with no answer.
    UdpSilent,
}

impl FlowState {
    /// States still waiting for an answer.
    pub fn pending(self) -> bool {
        matches!(
            self,
            FlowState::SynSent | FlowState::SynAck | FlowState::Midstream | FlowState::UdpSent
        )
    }
}

/// The 5-tuple with endpoints in canonical (sorted) order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlowKey {
    pub a: Addr,
    pub b: Addr,
    pub pa: u16,
    pub pb: u16,
    pub proto: u8,
}

impl FlowKey {
    /// The canonical key of a packet from (src, sport) to (dst, dport), and whether the source
    /// is endpoint `a`.
    #[inline]
    pub fn new(src: Addr, sport: u16, dst: Addr, dport: u16, proto: u8) -> (FlowKey, bool) {
        if (src, sport) <= (dst, dport) {
            (
                FlowKey {
                    a: src,
                    b: dst,
                    pa: sport,
                    pb: dport,
                    proto,
                },
                true,
            )
        } else {
            (
                FlowKey {
                    a: dst,
                    b: src,
                    pa: dport,
                    pb: sport,
                    proto,
                },
                false,
            )
        }
    }

    #[inline]
    pub fn hash(&self, seed: u64) -> u64 {
        let a = self.a.as_u128();
        let b = self.b.as_u128();
        let p = (u64::from(self.pa) << 24) | (u64::from(self.pb) << 8) | u64::from(self.proto);
        let x = mix64(seed ^ (a as u64) ^ ((a >> 64) as u64).rotate_left(17));
        let y = mix64(x ^ (b as u64) ^ ((b >> 64) as u64).rotate_left(29));
        mix64(y ^ p)
    }
}

/// One tracked flow.
#[derive(Debug, Clone, Copy, Default)]
pub struct Flow {
    pub key: FlowKey,
    pub state: FlowState,
    /// True when endpoint `a` opened the flow (is the client).
    pub client_is_a: bool,
    /// True when this was the source's first contact with (destination, port) in its window.
    pub first_contact: bool,
    /// For `Midstream` and `Stealth` flows: the probe kind (see `detect::Technique`).
    pub probe: u8,
    /// The tool recognised from the probe (see `detect::Tool`), 0 when none.
    pub tool: u8,
    pub first_ns: u64,
    pub last_ns: u64,
}

impl Flow {
    pub fn client(&self) -> (Addr, u16) {
        if self.client_is_a {
            (self.key.a, self.key.pa)
        } else {
            (self.key.b, self.key.pb)
        }
    }
    pub fn server(&self) -> (Addr, u16) {
        if self.client_is_a {
            (self.key.b, self.key.pb)
        } else {
            (self.key.a, self.key.pa)
        }
    }
}

/// The table itself: 32-bit tags (a bucket's four share 16 bytes) screen the full keys.
pub struct FlowTable {
    tags: Vec<u32>,
    /// Last use of each slot in units of 2^20 ns (about 1 ms), packed so that choosing a
    /// bucket's least recently used entry reads one cache line, not four.
    stamps: Vec<u32>,
    slots: Vec<Flow>,
    mask: usize,
    seed: u64,
    sweep_at: usize,
    pub evictions: u64,
    pub len: usize,
}

#[inline]
fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: prefetching is only a hint; `p` points into a live allocation.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p.cast()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[inline]
fn tag_of(h: u64) -> u32 {
    ((h >> 32) as u32) | 1
}

impl FlowTable {
    /// A table holding about `capacity` flows (rounded up to a power of two).
    pub fn new(capacity: usize, seed: u64) -> FlowTable {
        let buckets = (capacity / WAYS).max(1).next_power_of_two();
        FlowTable {
            tags: vec![0; buckets * WAYS],
            stamps: vec![0; buckets * WAYS],
            slots: vec![Flow::default(); buckets * WAYS],
            mask: buckets - 1,
            seed,
            sweep_at: 0,
            evictions: 0,
            len: 0,
        }
    }

    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// The keyed hash of a flow key.
    #[inline]
    pub fn hash_of(&self, key: &FlowKey) -> u64 {
        key.hash(self.seed)
    }

    #[inline]
    fn base(&self, h: u64) -> usize {
        (h as usize & self.mask) * WAYS
    }

    /// Ask the CPU to start loading the tags of hash `h`'s bucket (the table is far larger than
    /// the caches; processing packets in batches hides the misses).
    #[inline]
    pub fn prefetch_tags(&self, h: u64) {
        let base = self.base(h);
        prefetch(self.tags[base..].as_ptr().cast());
        prefetch(self.stamps[base..].as_ptr().cast());
    }

    /// Once the tags are in: start loading the slot whose tag matches, or else the one a new
    /// flow would take (a free slot, or the least recently used).
    #[inline]
    pub fn prefetch_slot(&self, h: u64) {
        let base = self.base(h);
        let tag = tag_of(h);
        let mut way = None;
        let mut free = None;
        let mut lru = (u32::MAX, 0);
        for w in 0..WAYS {
            let t = self.tags[base + w];
            if t == tag {
                way = Some(w);
                break;
            }
            if t == 0 && free.is_none() {
                free = Some(w);
            }
            if self.stamps[base + w] < lru.0 {
                lru = (self.stamps[base + w], w);
            }
        }
        let w = way.or(free).unwrap_or(lru.1);
        prefetch(self.slots[base + w..].as_ptr().cast());
    }

    /// Find a flow by key and hash.
    #[inline]
    pub fn find_h(&self, key: &FlowKey, h: u64) -> Option<usize> {
        let base = self.base(h);
        let tag = tag_of(h);
        (base..base + WAYS).find(|&i| self.tags[i] == tag && self.slots[i].key == *key)
    }

    /// Find a flow.
    #[inline]
    pub fn find(&self, key: &FlowKey) -> Option<usize> {
        self.find_h(key, self.hash_of(key))
    }

    /// Take a slot for a new flow of hash `h`: a free one, else the least recently used of its
    /// bucket, which is returned so the caller can settle it. The caller must [`FlowTable::put`]
    /// the new flow in the slot.
    #[inline]
    pub fn claim(&mut self, h: u64) -> (usize, Option<Flow>) {
        let base = self.base(h);
        let tag = tag_of(h);
        let mut victim = base;
        let mut oldest = u32::MAX;
        for i in base..base + WAYS {
            if self.tags[i] == 0 {
                self.tags[i] = tag;
                self.len += 1;
                return (i, None);
            }
            let l = self.stamps[i];
            if l < oldest {
                oldest = l;
                victim = i;
            }
        }
        self.evictions += 1;
        self.tags[victim] = tag;
        (victim, Some(self.slots[victim]))
    }

    /// Fill a claimed slot.
    #[inline]
    pub fn put(&mut self, idx: usize, flow: Flow) {
        self.stamps[idx] = (flow.last_ns >> 20) as u32;
        self.slots[idx] = flow;
    }

    /// Record a packet on a flow at `now`.
    #[inline]
    pub fn touch(&mut self, idx: usize, now: u64) {
        let f = &mut self.slots[idx];
        if now > f.last_ns {
            f.last_ns = now;
            self.stamps[idx] = (now >> 20) as u32;
        }
    }

    #[inline]
    pub fn get(&self, idx: usize) -> &Flow {
        &self.slots[idx]
    }

    #[inline]
    pub fn get_mut(&mut self, idx: usize) -> &mut Flow {
        &mut self.slots[idx]
    }

    /// Remove a flow.
    pub fn remove(&mut self, idx: usize) {
        if self.tags[idx] != 0 {
            self.len -= 1;
            self.tags[idx] = 0;
            self.slots[idx].state = FlowState::Free;
        }
    }

    /// Advance the sweep by `n` slots, calling `f` with each used slot's index.
    #[inline]
    pub fn sweep(&mut self, n: usize, mut f: impl FnMut(&mut Self, usize)) {
        for _ in 0..n {
            let i = self.sweep_at;
            self.sweep_at = (self.sweep_at + 1) & (self.slots.len() - 1);
            if self.tags[i] != 0 {
                f(self, i);
            }
        }
    }

    /// Advance the sweep by one slot: its index when used.
    #[inline]
    pub fn sweep_next(&mut self) -> Option<usize> {
        let i = self.sweep_at;
        self.sweep_at = (self.sweep_at + 1) & (self.slots.len() - 1);
        (self.tags[i] != 0).then_some(i)
    }

    /// Indices of every used slot (for the final flush).
    pub fn used(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.slots.len()).filter(|&i| self.tags[i] != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u32) -> FlowKey {
        FlowKey::new(
            Addr::v4(i.to_be_bytes()),
            1000,
            Addr::v4([10, 0, 0, 1]),
            80,
            6,
        )
        .0
    }

    #[test]
    fn canonical_key_is_direction_free() {
        let x = Addr::v4([1, 1, 1, 1]);
        let y = Addr::v4([2, 2, 2, 2]);
        let (k1, d1) = FlowKey::new(x, 5, y, 80, 6);
        let (k2, d2) = FlowKey::new(y, 80, x, 5, 6);
        assert_eq!(k1, k2);
        assert_ne!(d1, d2);
    }

    #[test]
    fn bounded_with_lru_eviction() {
        let mut t = FlowTable::new(64, 7);
        for i in 0..10_000u32 {
            let k = key(i);
            assert!(t.find(&k).is_none(), "fresh key found");
            let (idx, _) = t.claim(t.hash_of(&k));
            t.put(
                idx,
                Flow {
                    key: k,
                    state: FlowState::SynSent,
                    last_ns: u64::from(i),
                    ..Flow::default()
                },
            );
            assert!(t.len <= t.capacity());
        }
        assert_eq!(t.len, t.capacity());
        assert_eq!(t.evictions, 10_000 - 64);
        // the most recent key is still there
        assert!(t.find(&key(9_999)).is_some());
    }
}
