//! Per-core storage: one [`Shard`] per core holds that core's share of the keys.
//!
//! A shard is pure and single-threaded: no locks, no I/O and no clock. Time comes in as `now_ms`
//! (milliseconds on a monotonic clock chosen by the caller), so expiry is deterministic and testable.
//! [`lru`] owns the per-entry memory (a slab of index-linked slots); [`shard`] adds the hash index,
//! TTL expiry, byte accounting and counters; `op` is the typed execute step
//! ([`Shard::execute`]: a [`KeyOp`] in, a [`KeyReply`] out) that the mesh carries between cores.
//! Nothing here knows about sockets, HTTP or the cluster.

pub mod lru;
mod op;
pub mod shard;

#[cfg(test)]
mod model_tests;

pub use op::{Entry, KeyOp, KeyReply, Loaded, Page};
pub use shard::{PutOutcome, Shard, ShardLimits, ShardStats, ENTRY_OVERHEAD_BYTES};
