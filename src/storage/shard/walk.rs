//! Whole-shard walks over the slab's slots: active expiry ([`Shard::sweep`]), resumable export
//! ([`Shard::scan`], and the slot walk under `page` / `page_all`), ownership filtering
//! ([`Shard::retain`]) and [`Shard::clear`].

use super::{Shard, SCAN_SLOTS_PER_ENTRY};
use crate::storage::lru::Entry;

impl Shard {
    /// Active expiry: examines at most `budget` slots (and at most every slot once) starting from
    /// an internal cursor that walks the slab round-robin; removes the expired ones (values and
    /// tombstones) and returns how many it removed.
    pub fn sweep(&mut self, now_ms: u64, budget: usize) -> usize {
        let slots = self.lru.slot_count();
        let mut removed = 0;
        for _ in 0..budget.min(slots) {
            if self.sweep_cursor >= slots {
                self.sweep_cursor = 0;
            }
            let idx = self.sweep_cursor;
            self.sweep_cursor += 1;
            // `idx < slot_count <= MAX_SLOTS`, so it fits a u32.
            if self.lru.get(idx).is_some_and(|e| e.is_expired(now_ms)) {
                self.remove_slot_unhashed(idx as u32);
                removed += 1;
            }
        }
        self.counters.expirations += removed as u64;
        self.flushes.prune(now_ms);
        removed
    }

    /// Export in batches with a resumable cursor (a slab index; start at 0). Skips expired entries
    /// (without removing them: `&self`) and tombstones. Calls `f(key, value, remaining_ttl_ms)`
    /// for up to `max` live values, examining at most `max * SCAN_SLOTS_PER_ENTRY` slots, and
    /// returns the cursor to resume from, or None at the end. `max` must be > 0 to make progress.
    /// Entries put, replaced or removed between batches may be missed or seen twice (slots are
    /// reused); with no modifications every live value is seen exactly once.
    pub fn scan(
        &self,
        cursor: usize,
        max: usize,
        now_ms: u64,
        mut f: impl FnMut(&[u8], &[u8], Option<u64>),
    ) -> Option<usize> {
        self.walk(cursor, max, now_ms, false, |e| {
            f(e.key(), e.value(), e.remaining_ttl(now_ms))
        })
    }

    /// [`Shard::scan`] over slots: calls `f` for up to `max` unexpired slots, tombstones included
    /// when `tombs`, with the same cursor and bounded-work rules.
    pub(in crate::storage) fn walk(
        &self,
        cursor: usize,
        max: usize,
        now_ms: u64,
        tombs: bool,
        mut f: impl FnMut(&Entry),
    ) -> Option<usize> {
        let slots = self.lru.slot_count();
        let stop = cursor
            .saturating_add(max.saturating_mul(SCAN_SLOTS_PER_ENTRY))
            .min(slots);
        let (mut pos, mut emitted) = (cursor, 0);
        while pos < stop && emitted < max {
            let slot = self.lru.get(pos);
            if let Some(e) = slot.filter(|e| !e.is_expired(now_ms) && (tombs || !e.is_tomb())) {
                f(e);
                emitted += 1;
            }
            pos += 1;
        }
        (pos < slots).then_some(pos)
    }

    /// Every unexpired slot (values and tombstones), in slab order. O(slots).
    pub(super) fn unexpired_slots(&self, now_ms: u64) -> impl Iterator<Item = &Entry> + '_ {
        (0..self.lru.slot_count())
            .filter_map(|idx| self.lru.get(idx))
            .filter(move |e| !e.is_expired(now_ms))
    }

    /// Keeps the slots whose key satisfies `keep` and removes the rest, tombstones included (used
    /// when ring ownership changes); returns how many live values it removed. Counters are left
    /// alone (the caller records a migration), except that expired slots met on the way are
    /// dropped as expirations. O(slots).
    pub fn retain(&mut self, now_ms: u64, mut keep: impl FnMut(&[u8]) -> bool) -> usize {
        let mut removed = 0;
        for idx in 0..self.lru.slot_count() {
            let Some(entry) = self.lru.get(idx) else {
                continue;
            };
            let (expired, tomb) = (entry.is_expired(now_ms), entry.is_tomb());
            if expired || !keep(entry.key()) {
                self.remove_slot_unhashed(idx as u32);
                if expired {
                    self.counters.expirations += 1;
                } else if !tomb {
                    removed += 1;
                }
            }
        }
        self.changed_all();
        removed
    }

    /// Drops every slot; counters other than the gauges are kept (they are cumulative).
    pub fn clear(&mut self) {
        self.index.clear();
        self.lru.clear();
        self.bytes = 0;
        self.tombstones = 0;
        self.sweep_cursor = 0;
        self.changed_all();
    }
}
