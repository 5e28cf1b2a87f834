//! Consistent-hash ring micro-benchmarks: owner lookup for 16-byte keys (XXH64 + binary search
//! over the points), lookup skipping a down node, and building a ring.
//!
//!     cargo bench --bench ring
//!
//! Last results (2026-11-25, 2-vCPU AMD EPYC Zen 3 KVM guest, Linux 6.18, shared with builds;
//! ns/op, median of 7 samples; all figures in docs/benchmarks.md):
//!   owner 11.2 (3 nodes) / 14.6 (16) / 20.9 (128), owner_alive with a node down 16.9,
//!   XXH64 of 16 bytes 2.87; Ring::new 13.5 us (3 nodes) / 641 us (128).

#[path = "harness.rs"]
mod harness;

use dcache::cluster::ring::Ring;

fn keys(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| format!("key:{i:012}").into_bytes())
        .collect()
}

fn main() {
    let h = harness::Harness::from_args();
    let ks = keys(1024);
    for (nodes, vnodes) in [(3usize, 150u32), (16, 150), (128, 150)] {
        let ids: Vec<String> = (0..nodes).map(|i| format!("node{i}")).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let ring = Ring::new(&refs, vnodes).expect("valid ring");
        h.run(
            &format!("owner, {nodes} nodes x {vnodes} points (per key)"),
            ks.len() as u64,
            || ks.iter().map(|k| ring.owner(k)).sum::<usize>(),
        );
        if nodes == 3 {
            h.run(
                "owner_alive, 3 nodes, node 0 down (per key)",
                ks.len() as u64,
                || {
                    ks.iter()
                        .map(|k| ring.owner_alive(k, |n| n != 0).unwrap_or(0))
                        .sum::<usize>()
                },
            );
            h.run(
                "key_hash only, XXH64 of 16 bytes (per key)",
                ks.len() as u64,
                || {
                    ks.iter()
                        .map(|k| Ring::key_hash(k))
                        .fold(0u64, u64::wrapping_add)
                },
            );
        }
        h.run(
            &format!("Ring::new {nodes} nodes x {vnodes} points"),
            1,
            || Ring::new(&refs, vnodes).map(|r| r.node_count()),
        );
    }
}
