//! Anti-entropy and hand-over support: per-bucket digests of every unexpired slot, the slots of
//! chosen buckets, and conditional removal by version.

use crate::storage::digest::{bucket_of, slot_digest};
use crate::storage::Entry;

use super::Shard;

impl Shard {
    /// Remove `key` only if its stored version (value or tombstone) is exactly `version` (a
    /// hand-over never removes a key rewritten after it was sent). Returns whether it removed.
    /// Counters are left alone (the caller records a migration), except that an expired slot met
    /// here is removed as an expiration (and counts as absent).
    pub fn remove_if_version(&mut self, key: &[u8], version: u64, now_ms: u64) -> bool {
        let hash = self.hasher.hash_one(key);
        let found = self.find(key, hash).and_then(|i| {
            let e = self.lru.get(i as usize)?;
            Some((i, e.is_expired(now_ms), e.version()))
        });
        match found {
            Some((idx, true, _)) => {
                self.remove_slot(idx, hash);
                self.counters.expirations += 1;
                false
            }
            Some((idx, false, v)) if v == version => {
                self.remove_slot(idx, hash);
                self.changed(key);
                true
            }
            _ => false,
        }
    }

    /// Repair digest: for every unexpired slot (values and tombstones) whose key passes `include`,
    /// XOR `slot_digest(key, version, tomb, value)` into `out[bucket_of(key, out.len())]`. XOR is
    /// order-independent, so two shards holding the same slots agree whatever their history.
    /// O(slots); does not touch LRU order or counters.
    pub fn digest(&self, now_ms: u64, mut include: impl FnMut(&[u8]) -> bool, out: &mut [u64]) {
        if out.is_empty() {
            return;
        }
        for e in self.unexpired_slots(now_ms).filter(|e| include(e.key())) {
            out[bucket_of(e.key(), out.len())] ^=
                slot_digest(e.key(), e.version(), e.is_tomb(), e.value());
        }
    }

    /// Resumable filtered scan (hand-over): examine at most `slots` slots from `cursor` and copy
    /// out the unexpired ones (values and tombstones) whose key passes `include`. Returns them
    /// with the cursor to resume from (`None` at the end). Bounded work per call whatever the
    /// filter keeps, so a caller can yield between calls.
    pub fn page_where(
        &self,
        cursor: usize,
        slots: usize,
        now_ms: u64,
        mut include: impl FnMut(&[u8]) -> bool,
    ) -> crate::storage::Page {
        let total = self.lru.slot_count();
        let end = cursor.saturating_add(slots).min(total);
        let mut entries = Vec::new();
        for idx in cursor..end {
            if let Some(e) = self.lru.get(idx).filter(|e| !e.is_expired(now_ms)) {
                if include(e.key()) {
                    entries.push(Entry::from_slot(e, now_ms));
                }
            }
        }
        crate::storage::Page {
            entries,
            next: (end < total).then_some(end),
        }
    }

    /// Every unexpired slot (values and tombstones) whose key passes `include` and whose bucket
    /// (of `buckets`) passes `want`, copied out. O(slots).
    pub fn collect(
        &self,
        now_ms: u64,
        buckets: usize,
        mut include: impl FnMut(&[u8]) -> bool,
        mut want: impl FnMut(usize) -> bool,
    ) -> Vec<Entry> {
        self.unexpired_slots(now_ms)
            .filter(|e| include(e.key()) && want(bucket_of(e.key(), buckets)))
            .map(|e| Entry::from_slot(e, now_ms))
            .collect()
    }
}
