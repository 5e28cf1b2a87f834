//! The typed execute step of a shard: what a request wants done to a key, and the answer.
//!
//! A key operation crosses cores as owned data (`Bytes` key and value plus an op); the shard never
//! lends a reference out (Dragonfly's "must be copied explicitly"). These functions run only on
//! the core that owns the shard they receive, so every name here says it executes on the shard.
//! Writes carry a version and apply last-writer-wins (see [`lww`](super::lww)).

use bytes::Bytes;

use super::lru;
use super::shard::Wrote;
use super::Shard;

/// What a request wants done to one key.
#[derive(Debug)]
pub enum KeyOp {
    Get,
    /// Store `value` at `version` unless the shard holds a newer (or this very) write (LWW).
    Put {
        value: Bytes,
        /// Time to live in ms; `None` = no expiry. Never `Some(0)`.
        ttl_ms: Option<u64>,
        version: u64,
    },
    /// Leave a tombstone at `version` unless the shard holds a newer write.
    Delete {
        version: u64,
    },
}

/// The owning core's answer for a key operation.
#[derive(Debug, PartialEq, Eq)]
pub enum KeyReply {
    Value {
        value: Bytes,
        /// Remaining time to live in ms; `None` = no expiry.
        ttl_ms: Option<u64>,
        version: u64,
    },
    Miss,
    Stored {
        /// No live value was there before (absent, expired or a tombstone).
        created: bool,
    },
    /// The entry cannot fit in this shard's byte limit even when empty.
    TooLarge,
    /// true when a live value was there before the delete.
    Deleted(bool),
    /// A newer write (or this very one) is already stored: nothing changed.
    Superseded,
}

/// One slot copied out of a shard (export, snapshot, hand-over, repair) or into one (import,
/// load). A tombstone (`tomb`) has an empty `value` and `ttl_ms = None` on the wire: its
/// lifetime restarts at `tombstone_ttl_ms` wherever it is loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: Bytes,
    pub value: Bytes,
    /// Remaining time to live in ms; `None` = no expiry (always for a tombstone).
    pub ttl_ms: Option<u64>,
    pub version: u64,
    pub tomb: bool,
}

impl Entry {
    /// Copies an unexpired slot out.
    pub(super) fn from_slot(e: &lru::Entry, now_ms: u64) -> Entry {
        let tomb = e.is_tomb();
        Entry {
            key: Bytes::copy_from_slice(e.key()),
            value: Bytes::copy_from_slice(e.value()),
            ttl_ms: if tomb { None } else { e.remaining_ttl(now_ms) },
            version: e.version(),
            tomb,
        }
    }
}

/// What a bulk load did: entries applied (`stored`, tombstones included), entries refused
/// (`rejected`: too large, or a live value present with `only_missing`) and entries that lost
/// LWW to a newer stored write (`superseded`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Loaded {
    pub stored: u64,
    pub rejected: u64,
    pub superseded: u64,
}

impl std::ops::AddAssign for Loaded {
    fn add_assign(&mut self, o: Loaded) {
        self.stored += o.stored;
        self.rejected += o.rejected;
        self.superseded += o.superseded;
    }
}

/// One page of a scan: the entries and where to resume (`None` = the shard is done).
#[derive(Debug, Default)]
pub struct Page {
    pub entries: Vec<Entry>,
    pub next: Option<usize>,
}

impl Shard {
    /// Execute a key operation on this shard.
    pub fn execute(&mut self, op: KeyOp, key: &[u8], now_ms: u64) -> KeyReply {
        match op {
            KeyOp::Get => match self.get_versioned(key, now_ms) {
                Some((v, ttl_ms, version)) => KeyReply::Value {
                    value: Bytes::copy_from_slice(v),
                    ttl_ms,
                    version,
                },
                None => KeyReply::Miss,
            },
            KeyOp::Put {
                value,
                ttl_ms,
                version,
            } => self.execute_put(key, &value, ttl_ms, version, now_ms),
            KeyOp::Delete { version } => self.execute_delete(key, version, now_ms),
        }
    }

    /// LWW-store a value borrowed from the caller (the local PUT path copies nothing before this).
    /// The caller never passes `ttl_ms = Some(0)`.
    pub fn execute_put(
        &mut self,
        key: &[u8],
        value: &[u8],
        ttl_ms: Option<u64>,
        version: u64,
        now_ms: u64,
    ) -> KeyReply {
        match self.put_versioned(key, value, ttl_ms, version, now_ms) {
            Wrote::Created | Wrote::Replaced { was_value: false } => {
                KeyReply::Stored { created: true }
            }
            Wrote::Replaced { was_value: true } => KeyReply::Stored { created: false },
            Wrote::TooLarge => KeyReply::TooLarge,
            Wrote::Superseded => KeyReply::Superseded,
        }
    }

    /// LWW delete at `version`: leaves a tombstone (see `ShardLimits::tombstone_ttl_ms`).
    pub fn execute_delete(&mut self, key: &[u8], version: u64, now_ms: u64) -> KeyReply {
        match self.delete_versioned(key, version, now_ms) {
            Some(was_value) => KeyReply::Deleted(was_value),
            None => KeyReply::Superseded,
        }
    }

    /// Copy up to `max` live values starting at `cursor` (export); see [`Shard::scan`] for the
    /// cursor.
    pub fn page(&self, cursor: usize, max: usize, now_ms: u64) -> Page {
        self.page_slots(cursor, max, now_ms, false)
    }

    /// Like [`Shard::page`], with unexpired tombstones too (snapshot save, hand-over).
    pub fn page_all(&self, cursor: usize, max: usize, now_ms: u64) -> Page {
        self.page_slots(cursor, max, now_ms, true)
    }

    fn page_slots(&self, cursor: usize, max: usize, now_ms: u64, tombs: bool) -> Page {
        let mut entries = Vec::with_capacity(max.min(1024));
        let next = self.walk(cursor, max, now_ms, tombs, |e| {
            entries.push(Entry::from_slot(e, now_ms))
        });
        Page { entries, next }
    }

    /// LWW-apply many entries (import, snapshot load, hand-over, repair); `tomb: true` applies a
    /// versioned delete. `only_missing` keeps any live value already present (counted rejected).
    pub fn load(&mut self, entries: Vec<Entry>, only_missing: bool, now_ms: u64) -> Loaded {
        let mut done = Loaded::default();
        for e in entries {
            if only_missing && self.has_live_value(&e.key, now_ms) {
                done.rejected += 1;
                continue;
            }
            let reply = if e.tomb {
                self.execute_delete(&e.key, e.version, now_ms)
            } else {
                self.execute_put(&e.key, &e.value, e.ttl_ms, e.version, now_ms)
            };
            match reply {
                KeyReply::Stored { .. } | KeyReply::Deleted(_) => done.stored += 1,
                KeyReply::Superseded => done.superseded += 1,
                _ => done.rejected += 1,
            }
        }
        done
    }
}

#[cfg(test)]
#[path = "op_tests.rs"]
mod tests;
