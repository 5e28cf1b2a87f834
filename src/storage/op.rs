//! The typed execute step of a shard: what a request wants done to a key, and the answer.
//!
//! A key operation crosses cores as owned data (`Bytes` key and value plus an op); the shard never
//! lends a reference out (Dragonfly's "must be copied explicitly"). These functions run only on
//! the core that owns the shard they receive, so every name here says it executes on the shard.
//! Writes carry a version and apply last-writer-wins (see [`lww`](super::lww)).

use bytes::Bytes;

use super::cond::{Condition, Verdict};
use super::counter::{self, Conflict};
use super::lru;
use super::shard::Wrote;
use super::value::{Stored, RAW_HEADER_BYTES};
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
    /// `op` only if the live entry passes `cond` (boxed: only conditional requests pay for it).
    If(Box<Conditional>),
    /// Add `delta` to the integer stored under the key (0 when there is none, then stored with
    /// `ttl_ms`; an existing entry keeps its TTL) and store the result at `version` or, when the
    /// live entry is newer than that, just above it, so no increment is ever lost to LWW.
    Incr {
        delta: i64,
        /// For a missing key only. Never `Some(0)`.
        ttl_ms: Option<u64>,
        version: u64,
    },
}

/// A key operation guarded by preconditions ([`KeyOp::If`]).
#[derive(Debug)]
pub struct Conditional {
    pub cond: Condition,
    pub op: KeyOp,
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
    /// A precondition failed (412), or a conditional write lost LWW to a newer stored write:
    /// nothing changed. `current` is the live value's version (for the `ETag`; `None` = no live
    /// value); `seen` the newest version the key's slot holds, tombstones included (0 = none),
    /// which the coordinator's clock observes so that the client's retry is versioned above it.
    PreconditionFailed {
        current: Option<u64>,
        seen: u64,
    },
    /// `If-None-Match` matched on a read (304). `head` is the stored form without its payload
    /// (empty for JSON, the raw header with the content type for raw bytes), so the answer can
    /// name the type the 200 would have had without copying the value.
    NotModified {
        version: u64,
        ttl_ms: Option<u64>,
        head: Bytes,
    },
    /// An increment applied: the new value, whether the key was created, the TTL left and the
    /// version it was stored at.
    Counted {
        value: i64,
        created: bool,
        ttl_ms: Option<u64>,
        version: u64,
    },
    /// An increment refused (409): nothing changed.
    CounterConflict(Conflict),
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
            KeyOp::If(c) => {
                let Conditional { cond, op } = *c;
                self.execute_if(&cond, op, key, now_ms)
            }
            KeyOp::Incr {
                delta,
                ttl_ms,
                version,
            } => self.execute_incr(key, delta, ttl_ms, version, now_ms),
        }
    }

    /// Execute `op` only if the live entry passes `cond`, in this one call: nothing can write
    /// the key between the check and the write. A read counts a hit or miss like a GET; a write
    /// checks without touching. A conditional write that loses LWW (a newer version is stored)
    /// changed nothing and is reported as a failed precondition, never as a success.
    pub fn execute_if(&mut self, cond: &Condition, op: KeyOp, key: &[u8], now_ms: u64) -> KeyReply {
        if let KeyOp::Get = op {
            let Some((v, ttl_ms, version)) = self.get_versioned(key, now_ms) else {
                // RFC 9110 §13.2.1: preconditions are ignored when the answer would be a 404.
                return KeyReply::Miss;
            };
            return match cond.check(Some(version), true) {
                Verdict::Proceed => KeyReply::Value {
                    value: Bytes::copy_from_slice(v),
                    ttl_ms,
                    version,
                },
                Verdict::NotModified => KeyReply::NotModified {
                    version,
                    ttl_ms,
                    head: Bytes::copy_from_slice(stored_head(v)),
                },
                Verdict::Failed => KeyReply::PreconditionFailed {
                    current: Some(version),
                    seen: version,
                },
            };
        }
        let (live, _) = self.live_and_seen(key, now_ms);
        if cond.check(live, false) != Verdict::Proceed {
            return self.precondition_failed(key, now_ms);
        }
        match self.execute(op, key, now_ms) {
            KeyReply::Superseded => self.precondition_failed(key, now_ms),
            done => done,
        }
    }

    /// See [`KeyOp::Incr`].
    pub fn execute_incr(
        &mut self,
        key: &[u8],
        delta: i64,
        ttl_ms: Option<u64>,
        version: u64,
        now_ms: u64,
    ) -> KeyReply {
        let slot = self.peek(key, now_ms);
        // Above whatever the slot holds (a value or a tombstone), so LWW cannot drop the result.
        let version = match slot {
            Some((.., seen, _)) => version.max(seen.saturating_add(1)),
            None => version,
        };
        let (current, ttl_ms, created) = match slot {
            Some((v, left, _, false)) => {
                let n = match Stored::decode(v) {
                    Stored::Json(text) => counter::parse(text),
                    Stored::Raw { .. } => Err(Conflict::NotInteger),
                };
                match n {
                    // A live entry has time left: 1 ms at least, never `Some(0)`.
                    Ok(n) => (n, left.map(|t| t.max(1)), false),
                    Err(c) => return KeyReply::CounterConflict(c),
                }
            }
            _ => (0, ttl_ms, true),
        };
        let value = match counter::add(current, delta) {
            Ok(n) => n,
            Err(c) => return KeyReply::CounterConflict(c),
        };
        let mut text = itoa::Buffer::new();
        let text = text.format(value).as_bytes();
        match self.execute_put(key, text, ttl_ms, version, now_ms) {
            KeyReply::Stored { .. } => KeyReply::Counted {
                value,
                created,
                ttl_ms,
                version,
            },
            other => other,
        }
    }

    /// The live value's version (`None`: absent, expired or deleted) and the newest version the
    /// unexpired slot holds, tombstones included (0 = none).
    fn live_and_seen(&self, key: &[u8], now_ms: u64) -> (Option<u64>, u64) {
        match self.peek(key, now_ms) {
            Some((.., v, false)) => (Some(v), v),
            Some((.., v, true)) => (None, v),
            None => (None, 0),
        }
    }

    fn precondition_failed(&self, key: &[u8], now_ms: u64) -> KeyReply {
        let (current, seen) = self.live_and_seen(key, now_ms);
        KeyReply::PreconditionFailed { current, seen }
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
        self.execute_put_parts(key, &[], value, ttl_ms, version, now_ms)
    }

    /// [`Shard::execute_put`] of the value `head` then `body` (a raw PUT: its stored header and
    /// the request body), written into the slot without joining them first.
    pub fn execute_put_parts(
        &mut self,
        key: &[u8],
        head: &[u8],
        body: &[u8],
        ttl_ms: Option<u64>,
        version: u64,
        now_ms: u64,
    ) -> KeyReply {
        match self.put_versioned(key, head, body, ttl_ms, version, now_ms) {
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

/// The stored form of a value without its payload: what a 304 needs to name the content type.
fn stored_head(stored: &[u8]) -> &[u8] {
    match Stored::decode(stored) {
        Stored::Json(_) => b"",
        Stored::Raw { content_type, .. } => &stored[..RAW_HEADER_BYTES + content_type.len()],
    }
}

#[cfg(test)]
#[path = "op_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "cond_op_tests.rs"]
mod cond_tests;
