//! Writes: the one slot-write path behind `put`, LWW puts and tombstones, and its accounting.

use std::num::NonZeroU64;

use super::{deadline, entry_bytes, slot_hash, Shard, Wrote};
use crate::storage::lru::{Entry, MAX_KEY_LEN};
use crate::storage::lww::{supersedes, Write};

impl Shard {
    /// LWW put: like [`Shard::put`], but stores only if `(version, value)` supersedes the stored
    /// slot (an expired one counts as absent). The value is `head` then `body` (see
    /// [`Write`]): both are copied straight into the slot.
    pub(in crate::storage) fn put_versioned(
        &mut self,
        key: &[u8],
        head: &[u8],
        body: &[u8],
        ttl_ms: Option<u64>,
        version: u64,
        now_ms: u64,
    ) -> Wrote {
        let w = Write::parts(version, head, body);
        self.write(key, w, deadline(ttl_ms, now_ms), true, now_ms)
    }

    /// LWW delete: unless the stored slot supersedes it, leaves a tombstone at `version` for
    /// `tombstone_ttl_ms`, or, when tombstones are off (or the key alone exceeds `max_bytes`),
    /// removes the stored slot. `Some(a live value was there)`, or `None` when superseded.
    pub(in crate::storage) fn delete_versioned(
        &mut self,
        key: &[u8],
        version: u64,
        now_ms: u64,
    ) -> Option<bool> {
        let w = Write::tomb(version);
        let ttl = self.limits.tombstone_ttl_ms;
        if ttl != 0 && !self.too_large(key.len(), entry_bytes(key.len())) {
            let expires_at = NonZeroU64::new(now_ms.saturating_add(ttl));
            return match self.write(key, w, expires_at, true, now_ms) {
                Wrote::Superseded => None,
                Wrote::Replaced { was_value } => Some(was_value),
                Wrote::Created | Wrote::TooLarge => Some(false),
            };
        }
        let hash = self.hasher.hash_one(key);
        let found = self
            .find(key, hash)
            .and_then(|i| Some((i, self.lru.get(i as usize)?)));
        let Some((idx, old)) = found else {
            return Some(false);
        };
        if old.is_expired(now_ms) {
            self.remove_slot(idx, hash);
            self.counters.expirations += 1;
            return Some(false);
        }
        if !supersedes(w, stored_write(old)) {
            self.counters.superseded += 1;
            return None;
        }
        let was_value = !old.is_tomb();
        self.remove_slot(idx, hash);
        self.changed(key);
        self.count_applied(w, was_value);
        Some(was_value)
    }

    /// Stores `w` under `key` at the MRU end, evicting LRU slots until both limits hold. With
    /// `lww`, an unexpired stored slot that `w` does not supersede is kept, and so is the slot
    /// (or absence) a flush barrier protects (both counted as superseded). Counts the sets and
    /// deletes it applies.
    pub(super) fn write(
        &mut self,
        key: &[u8],
        w: Write<'_>,
        expires_at: Option<NonZeroU64>,
        lww: bool,
        now_ms: u64,
    ) -> Wrote {
        // One comparison unless a flush newer than this write covers part of the key space.
        if lww && self.flushes.bars(key, w.version, w.tomb, now_ms) {
            self.counters.superseded += 1;
            return Wrote::Superseded;
        }
        let size = entry_bytes(key.len() + w.len());
        if self.too_large(key.len(), size) {
            return Wrote::TooLarge;
        }
        let hash = self.hasher.hash_one(key);
        let found = self
            .find(key, hash)
            .and_then(|i| Some((i, self.lru.get(i as usize)?)));
        if let Some((idx, old)) = found {
            if !old.is_expired(now_ms) {
                if lww && !supersedes(w, stored_write(old)) {
                    self.counters.superseded += 1;
                    return Wrote::Superseded;
                }
                let was_value = !old.is_tomb();
                self.replace(idx, w, expires_at, !was_value, now_ms);
                self.changed(key);
                self.count_applied(w, was_value);
                return Wrote::Replaced { was_value };
            }
            self.remove_slot(idx, hash);
            self.counters.expirations += 1;
        }
        while self.needs_room_for(size) {
            if !self.evict_lru(now_ms) {
                break;
            }
        }
        let Some(idx) = self
            .lru
            .push_front(key, w.head, w.body, expires_at, w.version, w.tomb)
        else {
            // Unreachable: the key length was checked and `needs_room_for` keeps len < MAX_SLOTS.
            return Wrote::TooLarge;
        };
        let (lru, hasher) = (&self.lru, &self.hasher);
        self.index
            .insert_unique(hash, idx, |&i| slot_hash(hasher, lru, i));
        self.bytes += size;
        self.tombstones += usize::from(w.tomb);
        self.changed(key);
        self.count_applied(w, false);
        Wrote::Created
    }

    /// Let the node's stripes know that `key` was just mutated here: copies of it on other
    /// cores are dropped before any reply about the mutation leaves this core (see
    /// `storage::stripes`). Called after the mutation, never before.
    #[inline]
    pub(super) fn changed(&self, key: &[u8]) {
        if let Some(s) = &self.stripes {
            s.bump(key);
        }
    }

    /// [`Shard::changed`] for every key (a removal by walk: ring change, clear).
    pub(super) fn changed_all(&self) {
        if let Some(s) = &self.stripes {
            s.bump_all();
        }
    }

    /// Bump `stripes` after every mutation from now on (each core's shard of a node, all with
    /// the node's one `Stripes`).
    pub fn set_stripes(&mut self, stripes: std::sync::Arc<crate::storage::stripes::Stripes>) {
        self.stripes = Some(stripes);
    }

    /// The stripe of `key` to bump after a mutation that rewrites its slot (taken before, while
    /// the key's bytes are at hand); `None` when nothing can have copied it.
    pub(super) fn stripe_before(&self, key: &[u8]) -> Option<usize> {
        self.stripes.as_ref().and_then(|s| s.stripe_index(key))
    }

    /// Bump a stripe taken with [`Shard::stripe_before`], after the mutation.
    pub(super) fn changed_stripe(&self, stripe: Option<usize>) {
        if let (Some(s), Some(i)) = (&self.stripes, stripe) {
            s.bump_stripe(i);
        }
    }

    /// Counts an applied write: a value is a set; a tombstone over a live value is a delete.
    fn count_applied(&mut self, w: Write<'_>, was_value: bool) {
        if !w.tomb {
            self.counters.sets += 1;
        } else if was_value {
            self.counters.deletes += 1;
        }
    }

    /// One slot of `size` accounted bytes can never fit (or its key cannot be described).
    pub(super) fn too_large(&self, key_len: usize, size: u64) -> bool {
        key_len > MAX_KEY_LEN || (self.limits.max_bytes != 0 && size > self.limits.max_bytes)
    }

    /// Rewrites live slot `idx` (value or tombstone, `was_tomb` says which it held) with `w`,
    /// moves it to MRU and evicts others if now over bytes.
    fn replace(
        &mut self,
        idx: u32,
        w: Write<'_>,
        expires_at: Option<NonZeroU64>,
        was_tomb: bool,
        now_ms: u64,
    ) {
        self.rewrite_in_place(idx, w, expires_at, was_tomb);
        self.lru.touch(idx);
        let max_bytes = self.limits.max_bytes;
        // The replaced entry is MRU and fits alone, so this stops before reaching it.
        while max_bytes != 0 && self.bytes > max_bytes && self.lru.lru() != Some(idx) {
            if !self.evict_lru(now_ms) {
                break;
            }
        }
    }
}

impl Shard {
    /// Rewrites live slot `idx` with `w` where it is in the LRU order (`was_tomb`: it held a
    /// tombstone), keeping bytes and the tombstone count right. The caller makes room if `w`
    /// is larger than what it replaces.
    pub(super) fn rewrite_in_place(
        &mut self,
        idx: u32,
        w: Write<'_>,
        expires_at: Option<NonZeroU64>,
        was_tomb: bool,
    ) {
        let replaced = self
            .lru
            .replace_value(idx, w.head, w.body, expires_at, w.version, w.tomb);
        if let Some(old_len) = replaced {
            let new_len = self.lru.get(idx as usize).map_or(old_len, Entry::data_len);
            self.bytes = self.bytes - entry_bytes(old_len) + entry_bytes(new_len);
            self.tombstones = self.tombstones + usize::from(w.tomb) - usize::from(was_tomb);
        }
    }
}

/// The stored slot as LWW compares it.
pub(super) fn stored_write(e: &Entry) -> Write<'_> {
    Write {
        version: e.version(),
        tomb: e.is_tomb(),
        head: &[],
        body: e.value(),
    }
}

#[cfg(test)]
#[path = "write_parts_tests.rs"]
mod parts_tests;
