//! Whole-shard walks over the slab's slots: active expiry ([`Shard::sweep`]), resumable export
//! ([`Shard::scan`]), ownership filtering ([`Shard::retain`]) and [`Shard::clear`].

use super::{Shard, SCAN_SLOTS_PER_ENTRY};

impl Shard {
    /// Active expiry: examines at most `budget` slots (and at most every slot once) starting from
    /// an internal cursor that walks the slab round-robin; removes the expired ones and returns how
    /// many it removed.
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
        removed
    }

    /// Export in batches with a resumable cursor (a slab index; start at 0). Skips expired entries
    /// (without removing them: `&self`). Calls `f(key, value, remaining_ttl_ms)` for up to `max`
    /// live entries, examining at most `max * SCAN_SLOTS_PER_ENTRY` slots, and returns the cursor
    /// to resume from, or None at the end. `max` must be > 0 to make progress. Entries put,
    /// replaced or removed between batches may be missed or seen twice (slots are reused); with
    /// no modifications every live entry is seen exactly once.
    pub fn scan(
        &self,
        cursor: usize,
        max: usize,
        now_ms: u64,
        mut f: impl FnMut(&[u8], &[u8], Option<u64>),
    ) -> Option<usize> {
        let slots = self.lru.slot_count();
        let stop = cursor
            .saturating_add(max.saturating_mul(SCAN_SLOTS_PER_ENTRY))
            .min(slots);
        let (mut pos, mut emitted) = (cursor, 0);
        while pos < stop && emitted < max {
            if let Some(e) = self.lru.get(pos).filter(|e| !e.is_expired(now_ms)) {
                f(e.key(), e.value(), e.remaining_ttl(now_ms));
                emitted += 1;
            }
            pos += 1;
        }
        (pos < slots).then_some(pos)
    }

    /// Keeps the entries whose key satisfies `keep` and removes the rest (used when ring ownership
    /// changes); returns how many live entries it removed. Counters are left alone (the caller
    /// records a migration), except that expired entries met on the way are dropped as
    /// expirations. O(slots).
    pub fn retain(&mut self, now_ms: u64, mut keep: impl FnMut(&[u8]) -> bool) -> usize {
        let mut removed = 0;
        for idx in 0..self.lru.slot_count() {
            let Some(entry) = self.lru.get(idx) else {
                continue;
            };
            let expired = entry.is_expired(now_ms);
            if expired || !keep(entry.key()) {
                self.remove_slot_unhashed(idx as u32);
                if expired {
                    self.counters.expirations += 1;
                } else {
                    removed += 1;
                }
            }
        }
        removed
    }

    /// Drops every entry; counters other than the gauges are kept (they are cumulative).
    pub fn clear(&mut self) {
        self.index.clear();
        self.lru.clear();
        self.bytes = 0;
        self.sweep_cursor = 0;
    }
}
