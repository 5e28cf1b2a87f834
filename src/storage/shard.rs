//! One core's cache: hash index + LRU slab + TTL expiry + byte accounting + counters, with
//! last-writer-wins versions and tombstones.
//!
//! A `Shard` is owned by exactly one core and never shared, so it has no locks and no `Rc`.
//! The index is a `HashTable<u32>` of slot indices whose hashes are computed from the key bytes
//! stored in the slab, so each key is stored once. Expiry is lazy (an expired entry is removed
//! when a lookup meets it) plus active ([`Shard::sweep`] walks a bounded number of slots per call).
//! Point operations are O(1) (amortised for index growth) and allocate only the entry's own data.
//!
//! Every slot carries the version of the write that filled it. Versioned writes
//! ([`Shard::execute_put`], [`Shard::execute_delete`]) apply only if they win the
//! [`lww`](super::lww) order against the stored slot; a versioned delete leaves a tombstone (the
//! key alone, invisible to reads) for `tombstone_ttl_ms`, so an older PUT arriving later (a
//! replica, a repair, a hand-over) cannot resurrect the key. Tombstones are slots like any other:
//! they expire, count towards both limits and can be evicted. `put` and `delete` stay unconditional.
//! A flush (`flush.rs`) tombstones every key under a prefix at one version and keeps a barrier
//! that refuses older versioned writes of those keys for `tombstone_ttl_ms`.

use std::num::NonZeroU64;

use hashbrown::HashTable;

use super::lru::{Entry, LruSlab, MAX_SLOTS};
use super::lww::Write;

mod flush;
mod repair;
mod walk;
mod write;

pub use flush::{Flushed, MAX_FLUSH_BARRIERS};

/// Bytes charged per entry (value or tombstone) on top of key and value, so `max_bytes` tracks
/// real memory. Estimate for 64-bit targets: slab slot 48 B (`Entry`, checked by a test) + index
/// ~8 B (a `u32` plus a control byte per bucket, at a load factor between 7/8 and 7/16) + ~8 B
/// allocator rounding of the data box + ~8 B amortised spare slab capacity after `Vec` doubling.
pub const ENTRY_OVERHEAD_BYTES: u64 = 72;

/// Fixed ahash seeds for [`Shard::new`]: the index hash never leaves the process, so a fixed seed
/// is enough and keeps runs reproducible. Callers that hash untrusted keys and want hash-flooding
/// resistance pass per-process random seeds to [`Shard::with_hash_seeds`].
///
/// They must differ from the node's key -> core hash seeds: a core's keys all share the top bits
/// of the core hash, and hashbrown's 7-bit control tag is also taken from the top bits, so with
/// the same function every key of a shard would share part of its tag (16 of 128 tags with 8
/// cores) and lookups would meet ~8x more false tag matches. A test checks the independence.
///
/// Not digits of pi: ahash mixes its seeds with those, and seeds equal to its own constants make
/// every hash 0 (found by that test).
pub const DEFAULT_HASH_SEEDS: [u64; 4] = [
    0x9e37_79b9_7f4a_7c15,
    0xbf58_476d_1ce4_e5b9,
    0x94d0_49bb_1331_11eb,
    0x2545_f491_4f6c_dd1d,
];

/// Slots (and index buckets) reserved by `new`: avoids the first few regrowths without committing
/// memory for `max_entries` up front (a node runs one shard per core, most of them cold at start).
const INITIAL_SLOTS: usize = 1024;

/// `scan` examines at most this many slots per entry it may emit, so a batch over a sparse slab
/// (many free or expired slots) still does bounded work and returns a cursor to resume from.
const SCAN_SLOTS_PER_ENTRY: usize = 16;

#[derive(Clone, Copy, Debug)]
pub struct ShardLimits {
    /// Most slots (values plus tombstones); 0 = unlimited (still capped at the slab's `MAX_SLOTS`).
    pub max_entries: usize,
    /// Most accounted bytes (see [`ENTRY_OVERHEAD_BYTES`]); 0 = unlimited.
    pub max_bytes: u64,
    /// How long a versioned delete's tombstone is kept, in ms; 0 = keep none (a versioned delete
    /// then just removes the entry, and an older write arriving later can bring the key back).
    pub tombstone_ttl_ms: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PutOutcome {
    Created,
    Replaced,
    /// One entry alone exceeds `max_bytes` (or its key exceeds `MAX_KEY_LEN`). Nothing changed:
    /// an existing entry under the key is kept, so a failed PUT has no effect.
    TooLarge,
}

/// Plain counters, folded across cores at scrape time by the caller.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShardStats {
    /// `get` that returned a value.
    pub hits: u64,
    /// `get` that returned nothing (absent, expired or a tombstone).
    pub misses: u64,
    /// Unexpired slots (values or tombstones) removed to make room for a write.
    pub evictions: u64,
    /// Expired slots (values or tombstones) removed, whoever found them (get, put, delete, sweep,
    /// retain, eviction).
    pub expirations: u64,
    /// Values held now (gauge; tombstones excluded; like every slot, an expired one counts until
    /// expiry removes it).
    pub entries: u64,
    /// Tombstones held now (gauge; an expired one counts until expiry removes it).
    pub tombstones: u64,
    /// Accounted bytes now, tombstones included (gauge).
    pub bytes: u64,
    /// Writes that stored a value (Created or Replaced).
    pub sets: u64,
    /// Deletes (plain or versioned) that removed a live value.
    pub deletes: u64,
    /// Versioned writes refused because a newer (or the same) write was stored, or a flush
    /// barrier covered them: stale writes prevented.
    pub superseded: u64,
    /// Live values deleted by flushes (`DELETE /admin/cache`).
    pub flushed: u64,
}

/// What one slot write did; the callers count it and turn it into their reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Wrote {
    /// No unexpired slot was there.
    Created,
    /// An unexpired slot was replaced; `was_value` is false when it was a tombstone.
    Replaced { was_value: bool },
    /// Lost the LWW order against the stored slot: nothing changed.
    Superseded,
    /// See [`PutOutcome::TooLarge`]: nothing changed.
    TooLarge,
}

pub struct Shard {
    limits: ShardLimits,
    /// Slot indices into `lru`, hashed by the key bytes stored there.
    index: HashTable<u32>,
    lru: LruSlab,
    hasher: ahash::RandomState,
    bytes: u64,
    /// Tombstone slots among `lru`'s live slots.
    tombstones: usize,
    /// Counters only; the gauges are filled in by `stats()`.
    counters: ShardStats,
    /// Next slot `sweep` examines.
    sweep_cursor: usize,
    /// Recent flushes: versioned writes older than a flush of their key are refused.
    flushes: flush::Barriers,
    /// The node's write epochs, bumped after every mutation (see `super::stripes`); `None` in
    /// a shard no other core copies from (tests, tools).
    stripes: Option<std::sync::Arc<super::stripes::Stripes>>,
}

/// Accounted size of one entry. `usize -> u64` is lossless on every supported target.
fn entry_bytes(data_len: usize) -> u64 {
    data_len as u64 + ENTRY_OVERHEAD_BYTES
}

/// Absolute deadline for a TTL. The caller never passes `Some(0)` (an already-expired PUT is the
/// caller's to turn into a delete); in release builds it is clamped to 1 ms so it stays defined.
fn deadline(ttl_ms: Option<u64>, now_ms: u64) -> Option<NonZeroU64> {
    debug_assert_ne!(ttl_ms, Some(0), "callers must not pass a zero TTL");
    let ttl = ttl_ms?.max(1);
    NonZeroU64::new(now_ms.saturating_add(ttl))
}

impl Shard {
    pub fn new(limits: ShardLimits) -> Shard {
        Shard::with_hash_seeds(limits, DEFAULT_HASH_SEEDS)
    }

    /// Like [`Shard::new`] with caller-chosen index hash seeds (e.g. random per process at startup).
    pub fn with_hash_seeds(limits: ShardLimits, seeds: [u64; 4]) -> Shard {
        let [k0, k1, k2, k3] = seeds;
        let initial = match limits.max_entries {
            0 => INITIAL_SLOTS,
            max => max.min(INITIAL_SLOTS),
        };
        Shard {
            limits,
            index: HashTable::with_capacity(initial),
            lru: LruSlab::with_capacity(initial),
            hasher: ahash::RandomState::with_seeds(k0, k1, k2, k3),
            bytes: 0,
            tombstones: 0,
            counters: ShardStats::default(),
            sweep_cursor: 0,
            flushes: flush::Barriers::default(),
            stripes: None,
        }
    }

    pub fn limits(&self) -> ShardLimits {
        self.limits
    }

    /// Lookup; on hit moves to MRU and counts a hit; an expired slot is removed (counted as
    /// expiration) and reported as a miss, and a tombstone is a miss (left in place). Returns the
    /// value bytes and remaining TTL in ms (None = no TTL).
    #[inline]
    pub fn get(&mut self, key: &[u8], now_ms: u64) -> Option<(&[u8], Option<u64>)> {
        self.get_versioned(key, now_ms).map(|(v, ttl, _)| (v, ttl))
    }

    /// [`Shard::get`] that also returns the stored value's version: (value, remaining TTL, version).
    pub fn get_versioned(&mut self, key: &[u8], now_ms: u64) -> Option<(&[u8], Option<u64>, u64)> {
        let hash = self.hasher.hash_one(key);
        let found = self.find(key, hash).and_then(|i| {
            let e = self.lru.get(i as usize)?;
            Some((i, e.is_expired(now_ms), e.is_tomb()))
        });
        match found {
            Some((idx, false, false)) => {
                self.lru.touch(idx);
                self.counters.hits += 1;
                let e = self.lru.get(idx as usize)?;
                Some((e.value(), e.remaining_ttl(now_ms), e.version()))
            }
            Some((idx, true, _)) => {
                self.expire_read(idx, hash);
                None
            }
            // Absent, or an unexpired tombstone.
            _ => {
                self.counters.misses += 1;
                None
            }
        }
    }

    /// A read found its entry expired: drop it, counted as an expiration and a miss. Out of
    /// line, so a hit's path stays small.
    #[cold]
    #[inline(never)]
    fn expire_read(&mut self, idx: u32, hash: u64) {
        self.remove_slot(idx, hash);
        self.counters.expirations += 1;
        self.counters.misses += 1;
    }

    /// Unconditional insert or replace at version 0 (no LWW check; for benches, tests and callers
    /// without versions); `ttl_ms` None = no expiry. The caller never passes `Some(0)` (checked by
    /// `debug_assert`; clamped to 1 ms in release). Evicts LRU slots (counted as evictions, or
    /// expirations if already expired) until both limits hold. Replacing keeps one entry and moves
    /// it to MRU; an expired entry or a tombstone under the key counts as absent (reports Created).
    pub fn put(
        &mut self,
        key: &[u8],
        value: &[u8],
        ttl_ms: Option<u64>,
        now_ms: u64,
    ) -> PutOutcome {
        let w = Write::value(0, value);
        match self.write(key, w, deadline(ttl_ms, now_ms), false, now_ms) {
            Wrote::Replaced { was_value: true } => PutOutcome::Replaced,
            Wrote::Created | Wrote::Replaced { was_value: false } => PutOutcome::Created,
            Wrote::TooLarge | Wrote::Superseded => PutOutcome::TooLarge,
        }
    }

    /// Removes `key` unconditionally and leaves no tombstone; true when a live value was there. An
    /// expired slot is removed and counted as an expiration; a tombstone is just removed.
    pub fn delete(&mut self, key: &[u8], now_ms: u64) -> bool {
        let hash = self.hasher.hash_one(key);
        let Some(idx) = self.find(key, hash) else {
            return false;
        };
        let Some(old) = self.lru.get(idx as usize) else {
            return false;
        };
        let (expired, tomb) = (old.is_expired(now_ms), old.is_tomb());
        self.remove_slot(idx, hash);
        self.changed(key);
        if expired {
            self.counters.expirations += 1;
        } else if !tomb {
            self.counters.deletes += 1;
        }
        !expired && !tomb
    }

    /// Values held (tombstones excluded; expired ones count until removed).
    pub fn len(&self) -> usize {
        self.lru.len() - self.tombstones
    }

    /// No values held (tombstones may be).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Tombstones held (expired ones count until removed).
    pub fn tombstones(&self) -> usize {
        self.tombstones
    }

    /// Accounted bytes: key + value + [`ENTRY_OVERHEAD_BYTES`] per slot, tombstones included.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn stats(&self) -> ShardStats {
        ShardStats {
            entries: self.len() as u64,
            tombstones: self.tombstones as u64,
            bytes: self.bytes,
            ..self.counters
        }
    }

    /// True when a live (unexpired, not tombstone) value is stored under `key`; touches nothing.
    pub(super) fn has_live_value(&self, key: &[u8], now_ms: u64) -> bool {
        let idx = self.find(key, self.hasher.hash_one(key));
        let slot = idx.and_then(|i| self.lru.get(i as usize));
        slot.is_some_and(|e| !e.is_tomb() && !e.is_expired(now_ms))
    }

    /// The unexpired slot under `key`, touching nothing (conditional writes and counters check
    /// it in the same call as their write): `(value, TTL left in ms, version, is_tombstone)`.
    pub(in crate::storage) fn peek(
        &self,
        key: &[u8],
        now_ms: u64,
    ) -> Option<(&[u8], Option<u64>, u64, bool)> {
        let idx = self.find(key, self.hasher.hash_one(key))?;
        let e = self
            .lru
            .get(idx as usize)
            .filter(|e| !e.is_expired(now_ms))?;
        Some((e.value(), e.remaining_ttl(now_ms), e.version(), e.is_tomb()))
    }

    #[inline]
    fn find(&self, key: &[u8], hash: u64) -> Option<u32> {
        let lru = &self.lru;
        self.index
            .find(hash, |&i| {
                lru.get(i as usize).is_some_and(|e| e.key() == key)
            })
            .copied()
    }

    fn is_expired(&self, idx: u32, now_ms: u64) -> bool {
        self.lru
            .get(idx as usize)
            .is_some_and(|e| e.is_expired(now_ms))
    }

    /// Whether a new slot of `size` bytes must wait for an eviction.
    fn needs_room_for(&self, size: u64) -> bool {
        let max_entries = match self.limits.max_entries {
            0 => MAX_SLOTS,
            max => max.min(MAX_SLOTS),
        };
        let max_bytes = self.limits.max_bytes;
        self.lru.len() >= max_entries || (max_bytes != 0 && self.bytes + size > max_bytes)
    }

    /// Removes the LRU slot for space; false if the shard is empty.
    fn evict_lru(&mut self, now_ms: u64) -> bool {
        let Some(idx) = self.lru.lru() else {
            return false;
        };
        if self.is_expired(idx, now_ms) {
            self.counters.expirations += 1;
        } else {
            self.counters.evictions += 1;
        }
        self.remove_slot_unhashed(idx);
        true
    }

    fn remove_slot_unhashed(&mut self, idx: u32) {
        if let Some(hash) = self
            .lru
            .get(idx as usize)
            .map(|e| self.hasher.hash_one(e.key()))
        {
            self.remove_slot(idx, hash);
        }
    }

    /// Removes live slot `idx`, whose key hashes to `hash`, from the index, the slab, the bytes
    /// and the tombstone count.
    fn remove_slot(&mut self, idx: u32, hash: u64) {
        if let Ok(found) = self.index.find_entry(hash, |&i| i == idx) {
            found.remove();
        }
        let tomb = self.lru.get(idx as usize).is_some_and(Entry::is_tomb);
        if let Some(data) = self.lru.remove(idx) {
            self.bytes -= entry_bytes(data.len());
            self.tombstones -= usize::from(tomb);
        }
    }
}

fn slot_hash(hasher: &ahash::RandomState, lru: &LruSlab, idx: u32) -> u64 {
    // Every indexed slot is live; a free one would hash as the empty key and only cost a probe.
    hasher.hash_one(lru.get(idx as usize).map_or(&[][..], Entry::key))
}

// Unit tests, `check_invariants` and test helpers live beside this file (shard_tests.rs) to keep it
// under the ~400-line guide; as a child module they still see private items.
#[cfg(test)]
#[path = "shard_tests.rs"]
mod tests;
