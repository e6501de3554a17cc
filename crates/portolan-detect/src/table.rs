//! A small fixed-size set-associative table with LRU eviction, for per-source, per-service and
//! per-target state. Memory is allocated once, at creation.

use crate::sketch::mix64;

const WAYS: usize = 4;

/// A keyed entry with a last-used time.
#[derive(Clone, Debug)]
struct Entry<K, V> {
    used: bool,
    key: K,
    last_ns: u64,
    value: V,
}

/// The table.
pub struct LruTable<K, V> {
    slots: Vec<Entry<K, V>>,
    mask: usize,
    pub evictions: u64,
}

impl<K: Copy + Eq + Default, V: Default + Clone> LruTable<K, V> {
    pub fn new(capacity: usize) -> Self {
        let buckets = (capacity / WAYS).max(1).next_power_of_two();
        LruTable {
            slots: vec![
                Entry {
                    used: false,
                    key: K::default(),
                    last_ns: 0,
                    value: V::default(),
                };
                buckets * WAYS
            ],
            mask: buckets - 1,
            evictions: 0,
        }
    }

    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    #[inline]
    fn base(&self, hash: u64) -> usize {
        (mix64(hash) as usize & self.mask) * WAYS
    }

    /// The index of `key`, if present.
    #[inline]
    pub fn find(&self, key: &K, hash: u64) -> Option<usize> {
        let b = self.base(hash);
        (b..b + WAYS).find(|&i| self.slots[i].used && self.slots[i].key == *key)
    }

    /// The index of `key`, inserting a default value (evicting the bucket's least recently used
    /// entry if full). The bool is true when the entry is new.
    #[inline]
    pub fn get_or_insert(&mut self, key: &K, hash: u64, now: u64) -> (usize, bool) {
        let b = self.base(hash);
        let mut victim = b;
        let mut oldest = u64::MAX;
        for i in b..b + WAYS {
            let e = &self.slots[i];
            if !e.used {
                if oldest != 0 {
                    oldest = 0;
                    victim = i;
                }
                continue;
            }
            if e.key == *key {
                self.slots[i].last_ns = self.slots[i].last_ns.max(now);
                return (i, false);
            }
            if oldest != 0 && e.last_ns < oldest {
                oldest = e.last_ns;
                victim = i;
            }
        }
        if self.slots[victim].used {
            self.evictions += 1;
        }
        self.slots[victim] = Entry {
            used: true,
            key: *key,
            last_ns: now,
            value: V::default(),
        };
        (victim, true)
    }

    #[inline]
    pub fn value(&self, i: usize) -> &V {
        &self.slots[i].value
    }

    #[inline]
    pub fn value_mut(&mut self, i: usize) -> &mut V {
        &mut self.slots[i].value
    }

    /// Reset an entry's value (an idle entry coming back).
    pub fn reset(&mut self, i: usize) {
        self.slots[i].value = V::default();
    }

    /// Number of used entries (linear; for statistics).
    pub fn len(&self) -> usize {
        self.slots.iter().filter(|e| e.used).count()
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
