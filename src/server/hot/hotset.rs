//! The few keys that may be hot on a core, by hash: what lets a read of any other key be told
//! "not hot" after one hash and a scan of a handful of integers, without the top-K's table.
//!
//! A key enters when a sample finds it hot; the whole set is rebuilt from the top-K now and then
//! (keys cool down only as time passes). An entry is a hint, checked against its counter (which
//! may hold another key by then), so a stale entry or a hash collision never makes a key hot.

use std::cell::Cell;

/// Entries kept. Under Zipf(0.99) over 100k keys, a core serving 50k reads/s has about 4 keys
/// above 1000/s; past this many the lookups go to the table instead (still correct, slower).
pub(super) const HOT_SET: usize = 16;

/// What the set knows about a hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Seen {
    /// Not hot (not in the set, which holds every hot key).
    Cold,
    /// Perhaps hot: check counter `.0`.
    Counter(u16),
    /// More hot keys than the set holds: ask the table.
    Crowded,
}

pub(super) struct HotSet {
    hashes: [Cell<u64>; HOT_SET],
    counters: [Cell<u16>; HOT_SET],
    len: Cell<usize>,
    crowded: Cell<bool>,
}

impl Default for HotSet {
    fn default() -> Self {
        HotSet {
            hashes: std::array::from_fn(|_| Cell::new(0)),
            counters: std::array::from_fn(|_| Cell::new(0)),
            len: Cell::new(0),
            crowded: Cell::new(false),
        }
    }
}

impl HotSet {
    /// No key is hot: nothing to hash.
    #[inline]
    pub(super) fn is_empty(&self) -> bool {
        self.len.get() == 0 && !self.crowded.get()
    }

    #[inline]
    pub(super) fn seen(&self, hash: u64) -> Seen {
        if self.crowded.get() {
            return Seen::Crowded;
        }
        let n = self.len.get();
        for (h, c) in self.hashes[..n].iter().zip(&self.counters[..n]) {
            if h.get() == hash {
                return Seen::Counter(c.get());
            }
        }
        Seen::Cold
    }

    /// The key of hash `hash`, in counter `counter`, is hot.
    pub(super) fn note(&self, hash: u64, counter: u16) {
        let n = self.len.get();
        if let Some(i) = self.hashes[..n].iter().position(|h| h.get() == hash) {
            self.counters[i].set(counter);
        } else if n < HOT_SET {
            self.hashes[n].set(hash);
            self.counters[n].set(counter);
            self.len.set(n + 1);
        } else {
            self.crowded.set(true);
        }
    }

    /// Forget every entry (before a rebuild).
    pub(super) fn clear(&self) {
        self.len.set(0);
        self.crowded.set(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_found_updated_and_overflow_to_crowded() {
        let s = HotSet::default();
        assert!(s.is_empty());
        assert_eq!(s.seen(5), Seen::Cold);
        s.note(5, 1);
        s.note(5, 2);
        assert!(!s.is_empty());
        assert_eq!(s.seen(5), Seen::Counter(2), "the newer counter wins");
        assert_eq!(s.seen(6), Seen::Cold);
        for h in 100..100 + HOT_SET as u64 - 1 {
            s.note(h, 0);
        }
        assert_eq!(s.seen(5), Seen::Counter(2));
        s.note(999, 3);
        assert_eq!(s.seen(6), Seen::Crowded);
        s.clear();
        assert!(s.is_empty());
        assert_eq!(s.seen(5), Seen::Cold);
    }
}
