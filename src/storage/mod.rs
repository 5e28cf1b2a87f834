//! Per-core storage: one [`Shard`] per core holds that core's share of the keys.
//!
//! A shard is pure and single-threaded: no locks, no I/O and no clock. Time comes in as `now_ms`
//! (milliseconds on a monotonic clock chosen by the caller), so expiry is deterministic and testable.
//! [`lru`] owns the per-entry memory (a slab of index-linked slots); [`shard`] adds the hash index,
//! TTL expiry, byte accounting and counters; `op` is the typed execute step
//! ([`Shard::execute`]: a [`KeyOp`] in, a [`KeyReply`] out) that the mesh carries between cores.
//! Every slot carries a version, and versioned writes apply last-writer-wins ([`lww`]); a versioned
//! delete leaves a tombstone so an older write cannot resurrect the key. `digest` holds the stable
//! hashes that anti-entropy repair compares across nodes.
//! Nothing here knows about sockets, HTTP or the cluster.

pub mod cond;
pub mod counter;
mod digest;
pub mod lru;
pub mod lww;
mod op;
pub mod shard;
pub mod snapshot;
pub mod stripes;
pub mod value;
pub mod version;

#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod repair_tests;
#[cfg(test)]
mod versioned_model_tests;

pub use digest::{bucket_of, slot_digest, REPAIR_BUCKETS};
pub use op::{Conditional, Entry, KeyOp, KeyReply, Loaded, Page};
pub use shard::{PutOutcome, Shard, ShardLimits, ShardStats, ENTRY_OVERHEAD_BYTES};
