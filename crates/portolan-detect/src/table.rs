//! A small fixed-size set-associative table with LRU eviction, for per-source, per-service and
//! per-target state. Memory is allocated once, at creation.

use crate::sketch::mix64;

const WAYS: usize = 4;

/// The table: keys and last-use times packed together (a bucket's keys share a cache line or
/// two), values apart.
pub struct LruTable<K, V> {
    keys: Vec<K>,
    last: Vec<u64>,
    used: Vec<bool>,
    weight: Vec<u8>,
    values: Vec<V>,
    mask: usize,
    pub evictions: u64,
}

impl<K: Copy + Eq + Default, V: Default + Clone> LruTable<K, V> {
    pub fn new(capacity: usize) -> Self {
        let buckets = (capacity / WAYS).max(1).next_power_of_two();
        let n = buckets * WAYS;
        LruTable {
            keys: vec![K::default(); n],
            last: vec![0; n],
            used: vec![false; n],
            weight: vec![0; n],
            values: vec![V::default(); n],
            mask: buckets - 1,
            evictions: 0,
        }
    }

    pub fn capacity(&self) -> usize {
        self.keys.len()
    }

    #[inline]
    fn base(&self, hash: u64) -> usize {
        (mix64(hash) as usize & self.mask) * WAYS
    }

    /// The index of `key`, if present.
    #[inline]
    pub fn find(&self, key: &K, hash: u64) -> Option<usize> {
        let b = self.base(hash);
        (b..b + WAYS).find(|&i| self.used[i] && self.keys[i] == *key)
    }

    /// The index of `key`, taking a slot when absent: a free one, else the least recently used
    /// of the bucket's lightest entries (see [`LruTable::set_weight`]). The bool is true when the slot is new: its value is stale and the
    /// caller must initialise it.
    #[inline]
    pub fn get_or_insert(&mut self, key: &K, hash: u64, now: u64) -> (usize, bool) {
        let b = self.base(hash);
        let mut victim = b;
        let mut oldest = (u8::MAX, u64::MAX);
        let mut free = None;
        for i in b..b + WAYS {
            if !self.used[i] {
                if free.is_none() {
                    free = Some(i);
                }
                continue;
            }
            if self.keys[i] == *key {
                if self.last[i] < now {
                    self.last[i] = now;
                }
                return (i, false);
            }
            let rank = (self.weight[i], self.last[i]);
            if rank < oldest {
                oldest = rank;
                victim = i;
            }
        }
        let i = match free {
            Some(i) => i,
            None => {
                self.evictions += 1;
                victim
            }
        };
        self.used[i] = true;
        self.keys[i] = *key;
        self.last[i] = now;
        self.weight[i] = 0;
        (i, true)
    }

    /// How much an entry is worth keeping: lighter entries are evicted first (so that a flood
    /// of one-packet spoofed sources cannot push out a scanner being watched).
    #[inline]
    pub fn set_weight(&mut self, i: usize, w: u8) {
        self.weight[i] = w;
    }

    #[inline]
    pub fn value(&self, i: usize) -> &V {
        &self.values[i]
    }

    #[inline]
    pub fn value_mut(&mut self, i: usize) -> &mut V {
        &mut self.values[i]
    }

    /// Number of used entries (linear; for statistics).
    pub fn len(&self) -> usize {
        self.used.iter().filter(|&&u| u).count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded() {
        let mut t: LruTable<u64, u32> = LruTable::new(32);
        for k in 0..1000u64 {
            let (i, new) = t.get_or_insert(&k, k, k);
            assert!(new);
            *t.value_mut(i) = k as u32;
        }
        assert_eq!(t.len(), 32);
        let i = t.find(&999, 999).unwrap();
        assert_eq!(*t.value(i), 999);
    }
}
