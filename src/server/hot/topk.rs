//! Space-Saving (Metwally, Agrawal, El Abbadi 2005): the heaviest keys of a weighted stream in a
//! fixed number of counters.
//!
//! `k` counters; a key already counted gets its weight added; a new key takes over the counter
//! with the smallest count `m`, starts at `m + w` and remembers `m` as its possible error. With
//! `N` the total weight seen: every counter overestimates its key's true weight by at most its
//! error `≤ N/k`, so `count - err` is a lower bound, and every key heavier than `N/k` holds a
//! counter. Weights are `f64` so the tracker can decay by weighting later reads more (forward
//! decay: the guarantees hold for any positive weights, and scaling every counter by one factor
//! keeps their order).
//!
//! A min-heap over the counters finds the smallest in O(1) and restores order in O(log k) per
//! update; a `hashbrown::HashTable` of counter indices, keyed by the caller's hash of the key,
//! finds a key's counter. Key bytes are copied only when a key takes a counter over (into the
//! evicted counter's buffer, which allocates only when the new key is longer than every key that
//! counter held before).

use hashbrown::HashTable;

/// One counter.
#[derive(Debug)]
pub(crate) struct Counter {
    /// The key's bytes.
    key: Vec<u8>,
    /// The caller's hash of `key` (the index is keyed by it).
    hash: u64,
    /// Weight counted for this key, error included.
    count: f64,
    /// How much of `count` the key may not have had (the count it took over).
    err: f64,
    /// This counter's position in the heap.
    pos: u16,
}

impl Counter {
    pub(crate) fn key(&self) -> &[u8] {
        &self.key
    }

    /// The caller's hash of the key.
    pub(crate) fn hash(&self) -> u64 {
        self.hash
    }

    /// Upper bound of the key's weight.
    #[cfg(test)]
    pub(crate) fn count(&self) -> f64 {
        self.count
    }

    /// Lower bound of the key's weight (`count - err`).
    pub(crate) fn lower(&self) -> f64 {
        self.count - self.err
    }
}

/// The top-`k` table.
pub(crate) struct SpaceSaving {
    counters: Vec<Counter>,
    /// Counter indices, a min-heap by `count`.
    heap: Vec<u16>,
    /// Counter index by key hash.
    index: HashTable<u16>,
    cap: usize,
}

/// The largest `k`: counter indices are `u16` (the config allows at most 4096).
pub(crate) const MAX_CAPACITY: usize = u16::MAX as usize;

impl SpaceSaving {
    /// A table of `cap` counters (clamped to 1..=[`MAX_CAPACITY`]); nothing is allocated later
    /// except key bytes.
    pub(crate) fn new(cap: usize) -> SpaceSaving {
        let cap = cap.clamp(1, MAX_CAPACITY);
        SpaceSaving {
            counters: Vec::with_capacity(cap),
            heap: Vec::with_capacity(cap),
            index: HashTable::with_capacity(cap),
            cap,
        }
    }

    /// The counter of `key` (whose hash is `hash`), if it holds one.
    #[inline]
    pub(crate) fn get(&self, hash: u64, key: &[u8]) -> Option<&Counter> {
        let counters = &self.counters;
        let i = *self
            .index
            .find(hash, |&i| counters[usize::from(i)].key == key)?;
        Some(&self.counters[usize::from(i)])
    }

    /// Counter `i` (as [`SpaceSaving::add`] returned it; it may hold another key since).
    #[inline]
    pub(crate) fn at(&self, i: u16) -> &Counter {
        &self.counters[usize::from(i)]
    }

    /// Count `w` (> 0) for `key`; the index of the key's counter and its lower bound afterwards.
    pub(crate) fn add(&mut self, hash: u64, key: &[u8], w: f64) -> (u16, f64) {
        let counters = &self.counters;
        let found = self
            .index
            .find(hash, |&i| counters[usize::from(i)].key == key)
            .copied();
        let i = match found {
            Some(i) => {
                self.counters[usize::from(i)].count += w;
                i
            }
            None if self.counters.len() < self.cap => self.push(hash, key, w),
            None => self.take_over_min(hash, key, w),
        };
        let pos = self.counters[usize::from(i)].pos;
        self.sift_down(usize::from(pos));
        (i, self.counters[usize::from(i)].lower())
    }

    /// A new counter for `key` while there is room.
    fn push(&mut self, hash: u64, key: &[u8], w: f64) -> u16 {
        // Within MAX_CAPACITY: `cap` is clamped to it.
        let i = self.counters.len() as u16;
        self.counters.push(Counter {
            key: key.to_vec(),
            hash,
            count: w,
            err: 0.0,
            pos: self.heap.len() as u16,
        });
        self.heap.push(i);
        let counters = &self.counters;
        self.index
            .insert_unique(hash, i, |&j| counters[usize::from(j)].hash);
        self.sift_up(self.heap.len() - 1);
        i
    }

    /// `key` takes over the smallest counter (Space-Saving's replacement).
    fn take_over_min(&mut self, hash: u64, key: &[u8], w: f64) -> u16 {
        let i = self.heap[0];
        let old = &self.counters[usize::from(i)];
        if let Ok(e) = self.index.find_entry(old.hash, |&j| j == i) {
            e.remove();
        }
        let c = &mut self.counters[usize::from(i)];
        c.key.clear();
        c.key.extend_from_slice(key);
        c.hash = hash;
        c.err = c.count;
        c.count += w;
        let counters = &self.counters;
        self.index
            .insert_unique(hash, i, |&j| counters[usize::from(j)].hash);
        i
    }

    /// Multiply every count by `f` (> 0): the order, and so the heap, is unchanged.
    pub(crate) fn scale(&mut self, f: f64) {
        for c in &mut self.counters {
            c.count *= f;
            c.err *= f;
        }
    }

    /// Every counter with its index.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u16, &Counter)> {
        // Indices fit: at most MAX_CAPACITY counters.
        self.counters.iter().enumerate().map(|(i, c)| (i as u16, c))
    }

    /// The smallest count (0 while there is room: an untracked key may weigh that much).
    #[cfg(test)]
    pub(crate) fn min(&self) -> f64 {
        if self.counters.len() < self.cap {
            return 0.0;
        }
        self.counters[usize::from(self.heap[0])].count
    }

    fn count_at(&self, pos: usize) -> f64 {
        self.counters[usize::from(self.heap[pos])].count
    }

    fn swap(&mut self, a: usize, b: usize) {
        self.heap.swap(a, b);
        self.counters[usize::from(self.heap[a])].pos = a as u16;
        self.counters[usize::from(self.heap[b])].pos = b as u16;
    }

    /// Move the counter at heap position `pos` down while a child counts less.
    fn sift_down(&mut self, mut pos: usize) {
        let n = self.heap.len();
        loop {
            let (l, r) = (2 * pos + 1, 2 * pos + 2);
            let mut least = pos;
            if l < n && self.count_at(l) < self.count_at(least) {
                least = l;
            }
            if r < n && self.count_at(r) < self.count_at(least) {
                least = r;
            }
            if least == pos {
                return;
            }
            self.swap(pos, least);
            pos = least;
        }
    }

    /// Move the counter at heap position `pos` up while its parent counts more.
    fn sift_up(&mut self, mut pos: usize) {
        while pos > 0 {
            let parent = (pos - 1) / 2;
            if self.count_at(parent) <= self.count_at(pos) {
                return;
            }
            self.swap(pos, parent);
            pos = parent;
        }
    }

    /// Every internal invariant (heap order, positions, index), for tests.
    #[cfg(test)]
    pub(crate) fn check(&self) {
        assert!(self.counters.len() <= self.cap);
        assert_eq!(self.heap.len(), self.counters.len());
        assert_eq!(self.index.len(), self.counters.len());
        for (p, &i) in self.heap.iter().enumerate() {
            assert_eq!(usize::from(self.counters[usize::from(i)].pos), p);
            if p > 0 {
                assert!(self.count_at((p - 1) / 2) <= self.count_at(p));
            }
        }
        for c in &self.counters {
            assert!(self.get(c.hash, &c.key).is_some());
            assert!(c.err >= 0.0 && c.count >= c.err);
        }
    }
}

#[cfg(test)]
#[path = "topk_tests.rs"]
mod tests;
