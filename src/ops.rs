//! The messages cores exchange, and the shard operations that run on the owning core.
//!
//! A key operation crosses cores as owned data: `Bytes` key and value plus an op code; the shard
//! never lends a reference out (Dragonfly's "must be copied explicitly"). `op_*` functions run only
//! on the core that owns the shard they receive.

use bytes::Bytes;

use crate::metrics::CoreSnapshot;
use crate::storage::{PutOutcome, Shard};

/// What a request wants done to one key.
#[derive(Debug)]
pub enum KeyOp {
    Get,
    Put { value: Bytes, ttl_ms: Option<u64> },
    Delete,
}

/// The owning core's answer for a key operation.
#[derive(Debug, PartialEq, Eq)]
pub enum KeyReply {
    Value { value: Bytes, ttl_ms: Option<u64> },
    Miss,
    Stored { created: bool },
    TooLarge,
    Deleted(bool),
}

/// One exported entry (owned copy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: Bytes,
    pub value: Bytes,
    pub ttl_ms: Option<u64>,
}

/// Work sent to another core.
pub enum Call {
    Key {
        op: KeyOp,
        key: Bytes,
    },
    /// Metrics and shard counters for a scrape.
    Snapshot,
    /// Shard counters only (cheap: health probes ask every second).
    Stats,
    /// Up to `max` entries from `cursor` (export).
    Scan {
        cursor: usize,
        max: usize,
    },
    /// Store many entries (import); replies with the count stored.
    Load {
        entries: Vec<Entry>,
        only_missing: bool,
    },
}

pub enum Reply {
    Key(KeyReply),
    Snapshot(Box<CoreSnapshot>),
    Stats(crate::storage::ShardStats),
    Scan {
        entries: Vec<Entry>,
        next: Option<usize>,
    },
    Loaded {
        stored: u64,
        rejected: u64,
    },
}

/// A message in a core's mailbox.
pub enum Msg {
    Call {
        from: u16,
        slot: u32,
        call: Call,
    },
    Reply {
        slot: u32,
        reply: Reply,
    },
    /// Begin graceful shutdown on this core.
    Shutdown,
    /// Cluster membership changed: drop keys this node no longer owns.
    RingChanged,
}

/// Run a key operation on the shard this core owns.
pub fn op_key(shard: &mut Shard, op: KeyOp, key: &[u8], now_ms: u64) -> KeyReply {
    match op {
        KeyOp::Get => match shard.get(key, now_ms) {
            Some((v, ttl_ms)) => KeyReply::Value {
                value: Bytes::copy_from_slice(v),
                ttl_ms,
            },
            None => KeyReply::Miss,
        },
        KeyOp::Put { value, ttl_ms } => op_put(shard, key, &value, ttl_ms, now_ms),
        KeyOp::Delete => KeyReply::Deleted(shard.delete(key, now_ms)),
    }
}

pub fn op_put(
    shard: &mut Shard,
    key: &[u8],
    value: &[u8],
    ttl_ms: Option<u64>,
    now_ms: u64,
) -> KeyReply {
    match shard.put(key, value, ttl_ms, now_ms) {
        PutOutcome::Created => KeyReply::Stored { created: true },
        PutOutcome::Replaced => KeyReply::Stored { created: false },
        PutOutcome::TooLarge => KeyReply::TooLarge,
    }
}

/// Copy up to `max` live entries starting at `cursor`.
pub fn op_scan(
    shard: &Shard,
    cursor: usize,
    max: usize,
    now_ms: u64,
) -> (Vec<Entry>, Option<usize>) {
    let mut out = Vec::with_capacity(max.min(1024));
    let next = shard.scan(cursor, max, now_ms, |k, v, ttl_ms| {
        out.push(Entry {
            key: Bytes::copy_from_slice(k),
            value: Bytes::copy_from_slice(v),
            ttl_ms,
        })
    });
    (out, next)
}

pub fn op_load(
    shard: &mut Shard,
    entries: Vec<Entry>,
    only_missing: bool,
    now_ms: u64,
) -> (u64, u64) {
    let (mut stored, mut rejected) = (0, 0);
    for e in entries {
        if only_missing && shard.get(&e.key, now_ms).is_some() {
            rejected += 1;
            continue;
        }
        match op_put(shard, &e.key, &e.value, e.ttl_ms, now_ms) {
            KeyReply::Stored { .. } => stored += 1,
            _ => rejected += 1,
        }
    }
    (stored, rejected)
}
