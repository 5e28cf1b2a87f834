//! Per-core storage: one [`Shard`] per core holds that core's share of the keys.
//!
//! A shard is pure and single-threaded: no locks, no I/O and no clock. Time comes in as `now_ms`
//! (milliseconds on a monotonic clock chosen by the caller), so expiry is deterministic and testable.
//! [`lru`] owns the per-entry memory (a slab of index-linked slots); [`shard`] adds the hash index,
//! TTL expiry, byte accounting and counters. Nothing here knows about sockets, HTTP or the cluster.

pub mod lru;
pub mod shard;

#[cfg(test)]
mod model_tests;

pub use shard::{PutOutcome, Shard, ShardLimits, ShardStats, ENTRY_OVERHEAD_BYTES};
