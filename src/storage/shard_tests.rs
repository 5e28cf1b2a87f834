//! Unit tests for `shard.rs` (a child module of it; see the `#[path]` there).

use super::*;

// Test support: `check_invariants` (the spec's `#[cfg(test)] pub fn`) and helpers for the model test.
// They live here so shard.rs stays small; being in a child module, they still see private fields.
impl Shard {
    /// True when `key` has a slot, expired or not; does not touch LRU order or counters.
    pub(crate) fn contains_slot(&self, key: &[u8]) -> bool {
        self.find(key, self.hasher.hash_one(key)).is_some()
    }

    /// Keys from LRU to MRU (eviction order), expired ones included.
    pub(crate) fn keys_lru_to_mru(&self) -> Vec<Vec<u8>> {
        self.lru
            .iter_lru_to_mru()
            .map(|(_, e)| e.key().to_vec())
            .collect()
    }

    /// Panics unless: list links agree both ways and the free list is sane (`LruSlab`); the index
    /// and the list hold the same slots, each found through its own key; bytes and the tombstone
    /// count match; limits hold (both count tombstones).
    pub fn check_invariants(&self) {
        self.lru.check_invariants();
        assert_eq!(
            self.index.len(),
            self.lru.len(),
            "index and list sizes differ"
        );
        let (mut sum, mut tombs) = (0, 0);
        for &idx in self.index.iter() {
            let entry = self
                .lru
                .get(idx as usize)
                .expect("index points at a free slot");
            let hash = self.hasher.hash_one(entry.key());
            assert_eq!(
                self.find(entry.key(), hash),
                Some(idx),
                "slot not found by its key"
            );
            sum += entry_bytes(entry.data_len());
            tombs += usize::from(entry.is_tomb());
        }
        assert_eq!(sum, self.bytes, "byte accounting drifted");
        assert_eq!(tombs, self.tombstones, "tombstone count drifted");
        if self.limits.max_entries != 0 {
            assert!(
                self.lru.len() <= self.limits.max_entries,
                "max_entries exceeded"
            );
        }
        if self.limits.max_bytes != 0 {
            assert!(self.bytes <= self.limits.max_bytes, "max_bytes exceeded");
        }
    }
}

const UNLIMITED: ShardLimits = ShardLimits {
    max_entries: 0,
    max_bytes: 0,
    tombstone_ttl_ms: 0,
};

fn entries(max_entries: usize) -> Shard {
    Shard::new(ShardLimits {
        max_entries,
        max_bytes: 0,
        tombstone_ttl_ms: 0,
    })
}

fn keys(shard: &Shard) -> Vec<Vec<u8>> {
    shard.keys_lru_to_mru()
}

fn value(shard: &mut Shard, key: &[u8], now: u64) -> Option<(Vec<u8>, Option<u64>)> {
    shard.get(key, now).map(|(v, ttl)| (v.to_vec(), ttl))
}

#[test]
fn get_refreshes_lru_order_and_eviction_takes_the_lru() {
    let mut s = entries(3);
    for k in [b"a", b"b", b"c"] {
        assert_eq!(s.put(k, b"v", None, 0), PutOutcome::Created);
    }
    assert!(s.get(b"a", 0).is_some());
    assert_eq!(keys(&s), [b"b", b"c", b"a"]);
    assert_eq!(s.put(b"d", b"v", None, 0), PutOutcome::Created);
    assert_eq!(keys(&s), [b"c", b"a", b"d"], "b was least recently used");
    let st = s.stats();
    assert_eq!((st.evictions, st.entries, st.sets, st.hits), (1, 3, 4, 1));
    s.check_invariants();
}

#[test]
fn eviction_by_bytes_removes_as_many_as_needed() {
    let one = entry_bytes(2); // key "k?" + empty value
    let mut s = Shard::new(ShardLimits {
        max_entries: 0,
        max_bytes: 3 * one,
        tombstone_ttl_ms: 0,
    });
    for k in [b"k1", b"k2", b"k3"] {
        s.put(k, b"", None, 0);
    }
    assert_eq!(s.bytes(), 3 * one);
    // Needs the room of two small entries: evicts k1 and k2, keeps k3.
    let big = vec![0u8; one as usize];
    assert_eq!(
        s.put(b"k4", &big[..one as usize - 2], None, 0),
        PutOutcome::Created
    );
    assert_eq!(keys(&s), [b"k3", b"k4"]);
    assert_eq!(s.stats().evictions, 2);
    assert!(s.bytes() <= 3 * one);
    s.check_invariants();
}

#[test]
fn replace_keeps_one_entry_updates_bytes_and_can_evict_others() {
    let mut s = Shard::new(ShardLimits {
        max_entries: 0,
        max_bytes: 2 * entry_bytes(10),
        tombstone_ttl_ms: 0,
    });
    assert_eq!(s.put(b"a", b"1", Some(50), 0), PutOutcome::Created);
    assert_eq!(s.put(b"b", b"1", None, 0), PutOutcome::Created);
    assert_eq!(s.put(b"a", b"12345", None, 1), PutOutcome::Replaced);
    assert_eq!(s.len(), 2);
    assert_eq!(s.bytes(), entry_bytes(6) + entry_bytes(2));
    assert_eq!(
        value(&mut s, b"a", 1),
        Some((b"12345".to_vec(), None)),
        "TTL was replaced"
    );
    // Growing "b" past what both entries may share evicts "a", the LRU.
    assert_eq!(s.put(b"b", &[7; 15], None, 2), PutOutcome::Replaced);
    assert_eq!(keys(&s), [b"b"]);
    assert_eq!(s.bytes(), entry_bytes(16));
    assert_eq!(s.stats().evictions, 1);
    s.check_invariants();
}

#[test]
fn too_large_changes_nothing() {
    let max = entry_bytes(10);
    let mut s = Shard::new(ShardLimits {
        max_entries: 0,
        max_bytes: max,
        tombstone_ttl_ms: 0,
    });
    assert_eq!(
        s.put(b"k", &[1; 9], None, 0),
        PutOutcome::Created,
        "exactly max fits"
    );
    assert_eq!(s.put(b"k", &[2; 10], None, 0), PutOutcome::TooLarge);
    assert_eq!(s.put(b"x", &[2; 10], None, 0), PutOutcome::TooLarge);
    assert_eq!(value(&mut s, b"k", 0), Some((vec![1; 9], None)));
    assert_eq!((s.len(), s.stats().sets, s.stats().evictions), (1, 1, 0));
    s.check_invariants();
}

#[test]
fn expired_entries_are_removed_lazily_by_get_and_delete() {
    let mut s = Shard::new(UNLIMITED);
    s.put(b"a", b"1", Some(10), 100);
    s.put(b"b", b"2", Some(10), 100);
    assert_eq!(value(&mut s, b"a", 109), Some((b"1".to_vec(), Some(1))));
    assert_eq!(value(&mut s, b"a", 110), None, "expired at the deadline");
    assert!(
        !s.delete(b"b", 110),
        "an expired key does not count as deleted"
    );
    let st = s.stats();
    assert_eq!(
        (st.expirations, st.misses, st.hits, st.deletes),
        (2, 1, 1, 0)
    );
    assert_eq!((s.len(), s.bytes()), (0, 0));
    s.check_invariants();
}

#[test]
fn put_over_an_expired_key_creates() {
    let mut s = Shard::new(UNLIMITED);
    s.put(b"a", b"1", Some(5), 0);
    assert_eq!(s.put(b"a", b"2", None, 5), PutOutcome::Created);
    assert_eq!(s.stats().expirations, 1);
    assert_eq!(value(&mut s, b"a", 1_000), Some((b"2".to_vec(), None)));
    s.check_invariants();
}

#[test]
fn delete_reports_whether_a_live_key_existed() {
    let mut s = Shard::new(UNLIMITED);
    s.put(b"a", b"1", None, 0);
    assert!(s.delete(b"a", 0));
    assert!(!s.delete(b"a", 0));
    assert_eq!(s.stats().deletes, 1);
    assert!(s.is_empty());
    s.check_invariants();
}

#[test]
fn sweep_is_bounded_by_budget_and_removes_only_expired() {
    let mut s = Shard::new(UNLIMITED);
    for i in 0u8..10 {
        // Even slots expire at 5, odd ones never.
        s.put(&[i], b"v", (i % 2 == 0).then_some(5), 0);
    }
    assert_eq!(s.sweep(4, 100), 0, "nothing is expired yet");
    assert_eq!(s.sweep(10, 0), 0);
    assert_eq!(
        s.sweep(10, 3),
        2,
        "the cursor wrapped to slots 0..=2: keys 0 and 2 expired"
    );
    s.check_invariants();
    let mut total = 2;
    for _ in 0..10 {
        let removed = s.sweep(10, 3);
        assert!(removed <= 3);
        total += removed;
    }
    assert_eq!(total, 5);
    assert_eq!(s.stats().expirations, 5);
    let mut left: Vec<u8> = keys(&s).into_iter().flatten().collect();
    left.sort_unstable();
    assert_eq!(left, [1, 3, 5, 7, 9]);
    s.check_invariants();
}

#[test]
fn scan_resumes_and_sees_every_live_entry_exactly_once() {
    let mut s = Shard::new(UNLIMITED);
    for i in 0u16..300 {
        s.put(&i.to_be_bytes(), b"v", (i % 7 == 0).then_some(10), 0);
    }
    for i in (0u16..300).step_by(5) {
        s.delete(&i.to_be_bytes(), 0); // leaves free slots the scan must skip
    }
    let mut seen = Vec::new();
    let (mut cursor, mut batches) = (Some(0), 0);
    while let Some(c) = cursor {
        let mut n = 0;
        cursor = s.scan(c, 7, 20, |k, v, ttl| {
            assert_eq!((v, ttl), (&b"v"[..], None), "expired entries are skipped");
            seen.push(u16::from_be_bytes([k[0], k[1]]));
            n += 1;
        });
        assert!(n <= 7);
        batches += 1;
        assert!(batches < 1_000, "scan made no progress");
    }
    seen.sort_unstable();
    let want: Vec<u16> = (0u16..300).filter(|i| i % 5 != 0 && i % 7 != 0).collect();
    assert_eq!(seen, want);
}

#[test]
fn scan_of_a_sparse_slab_returns_early_with_a_cursor() {
    let mut s = Shard::new(UNLIMITED);
    for i in 0u16..200 {
        s.put(&i.to_be_bytes(), b"", None, 0);
    }
    for i in 0u16..199 {
        s.delete(&i.to_be_bytes(), 0);
    }
    let mut calls = 0;
    let next = s.scan(0, 1, 0, |_, _, _| calls += 1);
    assert_eq!((next, calls), (Some(SCAN_SLOTS_PER_ENTRY), 0));
    assert_eq!(s.scan(199, 1, 0, |_, _, _| calls += 1), None);
    assert_eq!(calls, 1);
}

#[test]
fn remaining_ttl_is_reported_by_scan() {
    let mut s = Shard::new(UNLIMITED);
    s.put(b"a", b"1", Some(30), 10);
    let mut got = Vec::new();
    assert_eq!(
        s.scan(0, 10, 25, |k, _, ttl| got.push((k.to_vec(), ttl))),
        None
    );
    assert_eq!(got, [(b"a".to_vec(), Some(15))]);
}

#[test]
fn retain_removes_entries_failing_the_predicate() {
    let mut s = Shard::new(UNLIMITED);
    for i in 0u8..10 {
        s.put(&[i], b"v", (i == 2).then_some(1), 0);
    }
    let removed = s.retain(5, |k| k[0] % 2 == 0);
    assert_eq!(removed, 5, "the odd keys");
    let mut left: Vec<u8> = keys(&s).into_iter().flatten().collect();
    left.sort_unstable();
    assert_eq!(left, [0, 4, 6, 8], "2 had expired");
    assert_eq!(s.stats().expirations, 1);
    assert_eq!(s.stats().deletes, 0);
    s.check_invariants();
}

#[test]
fn empty_key_is_allowed() {
    let mut s = Shard::new(UNLIMITED);
    assert_eq!(s.put(b"", b"", None, 0), PutOutcome::Created);
    assert_eq!(s.put(b"", b"x", None, 0), PutOutcome::Replaced);
    assert_eq!(value(&mut s, b"", 0), Some((b"x".to_vec(), None)));
    assert_eq!(s.bytes(), entry_bytes(1));
    assert!(s.delete(b"", 0));
    s.check_invariants();
}

#[test]
fn clear_drops_entries_and_keeps_counters() {
    let mut s = entries(10);
    s.put(b"a", b"1", None, 0);
    s.get(b"a", 0);
    s.clear();
    assert!(s.is_empty());
    assert_eq!(s.get(b"a", 0), None);
    let st = s.stats();
    assert_eq!(
        (st.entries, st.bytes, st.sets, st.hits, st.misses),
        (0, 0, 1, 1, 1)
    );
    s.put(b"b", b"2", None, 0);
    s.check_invariants();
}

#[test]
fn zero_max_entries_means_unlimited() {
    let mut s = entries(0);
    for i in 0u16..2_000 {
        s.put(&i.to_be_bytes(), b"", None, 0);
    }
    assert_eq!((s.len(), s.stats().evictions), (2_000, 0));
    s.check_invariants();
}

#[test]
fn hash_seeds_do_not_change_behaviour() {
    let mut s = Shard::with_hash_seeds(entries(2).limits(), [1, 2, 3, 4]);
    s.put(b"a", b"1", None, 0);
    s.put(b"b", b"2", None, 0);
    s.put(b"c", b"3", None, 0);
    assert_eq!(keys(&s), [b"b", b"c"]);
    s.check_invariants();
}
