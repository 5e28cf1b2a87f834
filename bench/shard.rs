//! Storage micro-benchmarks: one core's `Shard` (hash index + slab LRU + TTL) with 100k entries of
//! 16-byte keys and 32-byte values, the shape of the memory benchmark.
//!
//!     cargo bench --bench shard
//!
//! Last results (2026-11-25, 2-vCPU AMD EPYC Zen 3 KVM guest, Linux 6.18, shared with builds;
//! ns/op, median of 7 samples; all figures in docs/benchmarks.md):
//!   get hit 24.5, get miss 7.7, put replace 24.7 (with TTL 25.0), delete + put 53.8,
//!   put new key + evict LRU 41.6.

#[path = "harness.rs"]
mod harness;

use dcache::storage::{Shard, ShardLimits};

const ENTRIES: usize = 100_000;
const VALUE: &[u8] = b"\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"";

fn key(i: usize) -> Vec<u8> {
    format!("key:{i:012}").into_bytes()
}

fn full_shard(max_entries: usize) -> Shard {
    let mut s = Shard::new(ShardLimits {
        max_entries,
        max_bytes: 0,
        // wired to config by the lead
        tombstone_ttl_ms: 600_000,
    });
    for i in 0..ENTRIES {
        s.put(&key(i), VALUE, None, 0);
    }
    s
}

fn main() {
    let h = harness::Harness::from_args();
    // Visit keys in a scattered order so lookups are not cache-friendly by accident.
    let order: Vec<Vec<u8>> = (0..4096).map(|i| key(i * 7919 % ENTRIES)).collect();
    let missing: Vec<Vec<u8>> = (0..4096).map(|i| key(ENTRIES + i)).collect();

    let mut s = full_shard(0);
    h.run("get hit, 100k entries (per op)", order.len() as u64, || {
        order
            .iter()
            .map(|k| s.get(k, 1).map_or(0, |(v, _)| v.len()))
            .sum::<usize>()
    });
    h.run(
        "get miss, 100k entries (per op)",
        missing.len() as u64,
        || missing.iter().filter(|k| s.get(k, 1).is_some()).count(),
    );
    h.run(
        "put replace, 100k entries (per op)",
        order.len() as u64,
        || {
            order
                .iter()
                .map(|k| s.put(k, VALUE, None, 1) as usize)
                .sum::<usize>()
        },
    );
    h.run("put with ttl replace (per op)", order.len() as u64, || {
        order
            .iter()
            .map(|k| s.put(k, VALUE, Some(60_000), 1) as usize)
            .sum::<usize>()
    });
    h.run("delete + put back (per pair)", order.len() as u64, || {
        order
            .iter()
            .map(|k| usize::from(s.delete(k, 1)) + s.put(k, VALUE, None, 1) as usize)
            .sum::<usize>()
    });

    // Full at 100k: every put of a new key evicts the least recently used one.
    let mut full = full_shard(ENTRIES);
    let mut next = ENTRIES;
    let fresh: Vec<Vec<u8>> = (0..ENTRIES * 2).map(key).collect();
    h.run("put new key + evict LRU, full shard (per op)", 1024, || {
        for _ in 0..1024 {
            let k = &fresh[next % fresh.len()];
            full.put(k, VALUE, None, 1);
            next += 1;
        }
        full.len()
    });
}
