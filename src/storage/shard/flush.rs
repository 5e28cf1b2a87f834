//! Flushes (`DELETE /admin/cache[?prefix=P]`): the paged walk that deletes every matching key at
//! the flush's version, and the barriers that keep older writes of those keys out afterwards.
//!
//! A flush at version `V` over prefix `P` makes every key starting with `P` look deleted at `V`:
//! [`Shard::flush_page`] turns each matching slot that a tombstone at `V` supersedes into that
//! tombstone (a write newer than the flush survives: last writer wins), and
//! [`Shard::add_flush_barrier`] keeps `(P, V)` for `tombstone_ttl_ms`. The barrier refuses a
//! write that a tombstone at `V` under its key would refuse (a hint, a hand-over, a repair, a
//! replica copy in flight, an import of an old export), also for keys that had no slot here when
//! the flush ran. Install the barrier before walking, so nothing older slips in between pages.
//!
//! Cost on the write path: [`Barriers::bars`] compares the write's version with the newest
//! barrier's. Every node's clock has observed the flush version, so fresh writes are newer and
//! pay that one comparison; with no barrier the newest version is 0. Only older writes (late
//! copies) look barriers up: one hash lookup per distinct prefix length held.

use std::collections::HashMap;
use std::num::NonZeroU64;

use super::write::stored_write;
use super::{entry_bytes, Shard};
use crate::storage::lww::{supersedes, Write};

/// Distinct prefixes one shard keeps barriers for. Each costs its prefix plus ~50 bytes, and the
/// set is bounded because a flush per second of fresh prefixes with a week-long `tombstone_ttl`
/// would otherwise grow without end. Past it the barrier that expires first is forgotten early
/// (reported by `add_flush_barrier`): only late copies of that flush's keys could then come back,
/// as with a tombstone evicted under memory pressure.
pub const MAX_FLUSH_BARRIERS: usize = 4096;

/// What one page of a flush did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flushed {
    /// Live values replaced by the flush's tombstone (or removed, without tombstones).
    pub deleted: u64,
    /// Those of them the caller's `counts` filter accepted (each key counted once cluster-wide).
    pub counted: u64,
    /// The slot to resume from; `None` when the shard is done.
    pub next: Option<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Barrier {
    version: u64,
    /// Node-clock ms from which the barrier no longer counts.
    until_ms: u64,
    /// The newest version whose walk over this prefix finished here (0 = none yet): every slot
    /// under the prefix older than it is a tombstone now.
    walked: u64,
}

/// The barriers whose prefixes have one length, by prefix.
type ByPrefix = HashMap<Box<[u8]>, Barrier>;

/// One shard's flush barriers, grouped by prefix length (few lengths in practice).
#[derive(Debug, Default)]
pub(super) struct Barriers {
    groups: Vec<(usize, ByPrefix)>,
    count: usize,
    /// Version of the newest barrier held (0 = none): writes above it pass at once.
    newest: u64,
}

impl Barriers {
    /// Whether a barrier refuses a write of `key` at `version` (`tomb`: a tombstone): a live
    /// barrier over a prefix of `key` whose tombstone would supersede the write.
    #[inline]
    pub(super) fn bars(&self, key: &[u8], version: u64, tomb: bool, now_ms: u64) -> bool {
        version <= self.newest && self.bars_older(key, version, tomb, now_ms)
    }

    #[cold]
    #[inline(never)]
    fn bars_older(&self, key: &[u8], version: u64, tomb: bool, now_ms: u64) -> bool {
        let w = Write {
            version,
            tomb,
            head: &[],
            body: &[],
        };
        self.groups
            .iter()
            .filter(|(len, _)| *len <= key.len())
            .filter_map(|(len, map)| map.get(&key[..*len]))
            .any(|b| b.until_ms > now_ms && supersedes(Write::tomb(b.version), w))
    }

    /// Whether a live barrier makes a flush of `prefix` at `version` redundant: a flush of a
    /// prefix of `prefix` at `version` or newer finished its walk here (it deleted everything
    /// this one would, and its barrier refused every older write since). One still walking does
    /// not count: keys it has not reached yet are still there.
    fn covers(&self, prefix: &[u8], version: u64, now_ms: u64) -> bool {
        version <= self.newest
            && self.groups.iter().any(|(len, map)| {
                *len <= prefix.len()
                    && map
                        .get(&prefix[..*len])
                        .is_some_and(|b| b.walked >= version && b.until_ms > now_ms)
            })
    }

    /// The walk of the flush of `prefix` at `version` finished.
    fn walked(&mut self, prefix: &[u8], version: u64) {
        let group = self.groups.iter_mut().find(|(l, _)| *l == prefix.len());
        if let Some(b) = group.and_then(|(_, map)| map.get_mut(prefix)) {
            b.walked = b.walked.max(version.min(b.version));
        }
    }

    /// Barriers held (expired ones count until pruned).
    pub(super) fn len(&self) -> usize {
        self.count
    }

    /// Keep `(prefix, version)` until `until_ms`. Barriers it covers (a longer or equal prefix,
    /// an older or equal version, no later end) are dropped; one that covers it makes it
    /// redundant. True when the bound forced an older barrier out.
    fn add(&mut self, prefix: &[u8], version: u64, until_ms: u64, now_ms: u64) -> bool {
        self.prune(now_ms);
        let new = Barrier {
            version,
            until_ms,
            walked: 0,
        };
        let covers = |p: &[u8], a: &Barrier, q: &[u8], b: &Barrier| {
            q.starts_with(p) && a.version >= b.version && a.until_ms >= b.until_ms
        };
        let redundant = self.groups.iter().any(|(len, map)| {
            *len <= prefix.len()
                && map
                    .get(&prefix[..*len])
                    .is_some_and(|b| covers(&prefix[..*len], b, prefix, &new))
        });
        if redundant {
            return false;
        }
        for (_, map) in self.groups.iter_mut().filter(|(l, _)| *l >= prefix.len()) {
            map.retain(|p, b| !covers(prefix, &new, p, b));
        }
        self.recount();
        let mut dropped = false;
        if self.count >= MAX_FLUSH_BARRIERS && !self.contains(prefix) {
            self.drop_first_to_expire();
            dropped = true;
        }
        let group = match self.groups.iter().position(|(l, _)| *l == prefix.len()) {
            Some(i) => &mut self.groups[i].1,
            None => {
                self.groups.push((prefix.len(), HashMap::new()));
                &mut self.groups.last_mut().expect("just pushed").1
            }
        };
        // Same prefix, not covered either way: keep the newer version for the longer time (a
        // tombstone at the newer version would refuse everything the older one did).
        let b = group.entry(Box::from(prefix)).or_insert(new);
        b.version = b.version.max(version);
        b.until_ms = b.until_ms.max(until_ms);
        self.recount();
        dropped
    }

    fn contains(&self, prefix: &[u8]) -> bool {
        self.groups
            .iter()
            .any(|(l, map)| *l == prefix.len() && map.contains_key(prefix))
    }

    fn drop_first_to_expire(&mut self) {
        let first = self
            .groups
            .iter()
            .flat_map(|(_, map)| map.iter())
            .min_by_key(|(_, b)| b.until_ms)
            .map(|(p, _)| p.clone());
        if let Some(p) = first {
            for (_, map) in &mut self.groups {
                map.remove(&p);
            }
        }
        self.recount();
    }

    /// Forget barriers whose time is over.
    pub(super) fn prune(&mut self, now_ms: u64) {
        if self.count == 0 {
            return;
        }
        for (_, map) in &mut self.groups {
            map.retain(|_, b| b.until_ms > now_ms);
        }
        self.recount();
    }

    /// Drop empty groups and recompute `count` and `newest`.
    fn recount(&mut self) {
        self.groups.retain(|(_, map)| !map.is_empty());
        self.count = self.groups.iter().map(|(_, map)| map.len()).sum();
        self.newest = self
            .groups
            .iter()
            .flat_map(|(_, map)| map.values())
            .map(|b| b.version)
            .max()
            .unwrap_or(0);
    }
}

impl Shard {
    /// Keep the barrier of a flush of `prefix` at `version` for `tombstone_ttl_ms` from `now_ms`
    /// (none when tombstones are off: a flush then protects as much as a delete does). True when
    /// [`MAX_FLUSH_BARRIERS`] forced the barrier that expires first out.
    pub fn add_flush_barrier(&mut self, prefix: &[u8], version: u64, now_ms: u64) -> bool {
        let ttl = self.limits.tombstone_ttl_ms;
        if ttl == 0 {
            return false;
        }
        self.flushes
            .add(prefix, version, now_ms.saturating_add(ttl), now_ms)
    }

    /// Whether this flush already ran here to its end (or a newer one over a shorter prefix did)
    /// and its barrier still holds: then it has nothing left to do (a flush delivered twice).
    pub fn flush_done(&self, prefix: &[u8], version: u64, now_ms: u64) -> bool {
        self.flushes.covers(prefix, version, now_ms)
    }

    /// Flush barriers held (expired ones count until a sweep or a new barrier prunes them).
    pub fn flush_barriers(&self) -> usize {
        self.flushes.len()
    }

    /// One bounded step of a flush of `prefix` at `version`: examines the slots from `cursor` on
    /// (at most `slots`) and turns every unexpired slot under `prefix` that a tombstone at
    /// `version` supersedes into that tombstone, kept `tombstone_ttl_ms` (removed when tombstones
    /// are off); newer writes stay. Expired slots met are removed. `counts(key)` says whether a
    /// deleted live key counts toward the flush's total here. Tombstones written here are not
    /// counted as deletes but as `flushed` (the live values among them).
    pub fn flush_page(
        &mut self,
        prefix: &[u8],
        version: u64,
        cursor: usize,
        slots: usize,
        now_ms: u64,
        mut counts: impl FnMut(&[u8]) -> bool,
    ) -> Flushed {
        let total = self.lru.slot_count();
        let end = cursor.saturating_add(slots).min(total);
        let tomb = Write::tomb(version);
        let mut done = Flushed::default();
        for idx in cursor..end {
            let Some(e) = self.lru.get(idx).filter(|e| e.key().starts_with(prefix)) else {
                continue;
            };
            // `idx < slot_count <= MAX_SLOTS`, so it fits a u32.
            let idx = idx as u32;
            if e.is_expired(now_ms) {
                self.remove_slot_unhashed(idx);
                self.counters.expirations += 1;
                continue;
            }
            if !supersedes(tomb, stored_write(e)) {
                continue;
            }
            let was_value = !e.is_tomb();
            let counted = was_value && counts(e.key());
            let key_len = e.key().len();
            let stripe = self.stripe_before(e.key());
            self.tombstone_slot(idx, key_len, version, !was_value, now_ms);
            self.changed_stripe(stripe);
            if was_value {
                done.deleted += 1;
                done.counted += u64::from(counted);
                self.counters.flushed += 1;
            }
        }
        done.next = (end < total).then_some(end);
        if done.next.is_none() {
            self.flushes.walked(prefix, version);
        }
        done
    }

    /// Make live slot `idx` (key of `key_len` bytes) a tombstone at `version`, or remove it when
    /// tombstones are off or the key alone exceeds `max_bytes` (as `delete_versioned` does). The
    /// tombstone keeps the key's place in the LRU order: a flush of many keys must not push the
    /// live values it left behind towards eviction (the barrier protects the keys anyway; the
    /// tombstones let a repair correct a replica that missed the flush).
    fn tombstone_slot(&mut self, idx: u32, key_len: usize, version: u64, was_tomb: bool, now: u64) {
        let ttl = self.limits.tombstone_ttl_ms;
        if ttl == 0 || self.too_large(key_len, entry_bytes(key_len)) {
            self.remove_slot_unhashed(idx);
            return;
        }
        let expires_at = NonZeroU64::new(now.saturating_add(ttl));
        // A tombstone is never larger than the slot it replaces: nothing to evict.
        self.rewrite_in_place(idx, Write::tomb(version), expires_at, was_tomb);
    }
}

#[cfg(test)]
#[path = "flush_model_tests.rs"]
mod model_tests;
#[cfg(test)]
#[path = "flush_tests.rs"]
mod tests;
