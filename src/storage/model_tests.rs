//! Model-based property test: random op sequences against a `VecDeque` LRU with linear scans.
//!
//! The model states the intended semantics plainly (front = LRU, back = MRU; an entry is dead from
//! its deadline on; expired entries met while evicting count as expirations; a versioned write
//! applies iff its `(version, tomb, value)` is greater than the stored slot's; a tombstone is a
//! slot without a value that reads miss). After every op the shard must return the same results,
//! hold the same slots in the same eviction order, report the same counters, and pass
//! `check_invariants()`. Convergence under reordering is in `versioned_model_tests.rs`.

use std::collections::VecDeque;

use proptest::prelude::*;

use super::{Shard, ShardLimits, ShardStats};

#[path = "lru_model.rs"]
mod lru_model;
use lru_model::{reply_of, Item, Model};

/// Small key space so puts, gets and deletes collide often; key 0 is the empty key.
const KEYS: u8 = 6;

#[derive(Clone, Debug)]
enum Op {
    Get(u8),
    Put {
        key: u8,
        len: usize,
        fill: u8,
        ttl: Option<u64>,
    },
    Delete(u8),
    PutV {
        key: u8,
        len: usize,
        fill: u8,
        ttl: Option<u64>,
        version: u64,
    },
    DeleteV(u8, u64),
    RemoveIfVersion(u8, u64),
    PageAll(usize),
    Sweep(usize),
    Advance(u64),
    ScanAll(usize),
    Retain(usize),
    Clear,
}

fn key(k: u8) -> Vec<u8> {
    // Lengths 0..=3 so byte accounting sees different key sizes.
    vec![b'a' + k; usize::from(k % 4)]
}

fn op() -> impl Strategy<Value = Op> {
    let ttl = prop_oneof![Just(None), (1u64..40).prop_map(Some)];
    prop_oneof![
        4 => (0..KEYS).prop_map(Op::Get),
        5 => (0..KEYS, 0usize..40, any::<u8>(), ttl.clone())
            .prop_map(|(key, len, fill, ttl)| Op::Put { key, len, fill, ttl }),
        2 => (0..KEYS).prop_map(Op::Delete),
        5 => (0..KEYS, 0usize..40, any::<u8>(), ttl, 0u64..6)
            .prop_map(|(key, len, fill, ttl, version)| Op::PutV { key, len, fill, ttl, version }),
        3 => (0..KEYS, 0u64..6).prop_map(|(k, v)| Op::DeleteV(k, v)),
        1 => (0..KEYS, 0u64..6).prop_map(|(k, v)| Op::RemoveIfVersion(k, v)),
        1 => (1usize..4).prop_map(Op::PageAll),
        1 => prop_oneof![0usize..4, Just(usize::MAX)].prop_map(Op::Sweep),
        3 => (0u64..25).prop_map(Op::Advance),
        1 => (1usize..4).prop_map(Op::ScanAll),
        1 => (0usize..4).prop_map(Op::Retain),
        1 => Just(Op::Clear),
    ]
}

fn limits() -> impl Strategy<Value = ShardLimits> {
    // From just below one empty slot (72 B) to a few slots.
    let max_bytes = prop_oneof![Just(0u64), 64u64..360];
    let tomb_ttl = prop_oneof![Just(0u64), 1u64..40];
    (0usize..6, max_bytes, tomb_ttl).prop_map(|(max_entries, max_bytes, tombstone_ttl_ms)| {
        ShardLimits {
            max_entries,
            max_bytes,
            tombstone_ttl_ms,
        }
    })
}

/// Applies one op to both sides and checks they agree on its result.
fn step(shard: &mut Shard, model: &mut Model, op: &Op, now: &mut u64) {
    match *op {
        Op::Get(k) => {
            let got = shard.get(&key(k), *now).map(|(v, t)| (v.to_vec(), t));
            assert_eq!(got, model.get(&key(k), *now), "get");
        }
        Op::Put {
            key: k,
            len,
            fill,
            ttl,
        } => {
            let item = Item {
                key: key(k),
                value: vec![fill; len],
                deadline: ttl.map(|t| *now + t),
                version: 0,
                tomb: false,
            };
            let got = shard.put(&item.key, &item.value, ttl, *now);
            assert_eq!(got, model.put(item, *now), "put");
        }
        Op::Delete(k) => assert_eq!(shard.delete(&key(k), *now), model.delete(&key(k), *now)),
        Op::PutV { .. } | Op::DeleteV(..) | Op::RemoveIfVersion(..) | Op::PageAll(_) => {
            step_versioned(shard, model, op, *now)
        }
        Op::Sweep(budget) => {
            let removed = shard.sweep(*now, budget);
            assert!(removed <= budget);
            // Which slots the cursor covered is a slab detail: reconcile by asking the shard.
            let before = model.items.len();
            model
                .items
                .retain(|i| !i.expired(*now) || shard.contains_slot(&i.key));
            assert_eq!(
                before - model.items.len(),
                removed,
                "sweep removed a live entry?"
            );
            model.stats.expirations += removed as u64;
            if budget == usize::MAX {
                assert!(
                    model.items.iter().all(|i| !i.expired(*now)),
                    "full sweep missed one"
                );
            }
        }
        Op::Advance(ms) => *now += ms,
        Op::ScanAll(max) => {
            let (mut seen, mut cursor, mut batches) = (Vec::new(), Some(0), 0);
            while let Some(c) = cursor {
                cursor = shard.scan(c, max, *now, |k, v, t| {
                    seen.push((k.to_vec(), v.to_vec(), t))
                });
                batches += 1;
                assert!(batches < 10_000, "scan made no progress");
            }
            seen.sort();
            assert_eq!(seen, model.live_sorted(*now), "scan");
        }
        Op::Retain(m) => {
            let keep = |k: &[u8]| k.len() != m;
            assert_eq!(shard.retain(*now, keep), model.retain(*now, keep), "retain");
        }
        Op::Clear => {
            shard.clear();
            model.items.clear();
        }
    }
}

/// The versioned ops of [`step`].
fn step_versioned(shard: &mut Shard, model: &mut Model, op: &Op, now: u64) {
    match *op {
        Op::PutV {
            key: k,
            len,
            fill,
            ttl,
            version,
        } => {
            let (value, deadline) = (vec![fill; len], ttl.map(|t| now + t));
            let item = Item {
                key: key(k),
                value,
                deadline,
                version,
                tomb: false,
            };
            let got = shard.execute_put(&item.key, &item.value, ttl, version, now);
            assert_eq!(got, reply_of(model.write(item, true, now)), "versioned put");
        }
        Op::DeleteV(k, version) => {
            let got = shard.execute_delete(&key(k), version, now);
            assert_eq!(
                got,
                model.delete_versioned(&key(k), version, now),
                "versioned delete"
            );
        }
        Op::RemoveIfVersion(k, version) => {
            let got = shard.remove_if_version(&key(k), version, now);
            assert_eq!(
                got,
                model.remove_if_version(&key(k), version, now),
                "remove_if_version"
            );
        }
        Op::PageAll(max) => {
            let (mut seen, mut cursor) = (Vec::new(), Some(0));
            while let Some(c) = cursor {
                let page = shard.page_all(c, max, now);
                assert!(page.entries.len() <= max);
                seen.extend(page.entries.into_iter().map(|e| {
                    (
                        e.key.to_vec(),
                        e.value.to_vec(),
                        e.ttl_ms,
                        e.version,
                        e.tomb,
                    )
                }));
                cursor = page.next;
            }
            seen.sort();
            assert_eq!(seen, model.slots_sorted(now), "page_all");
        }
        _ => unreachable!("not a versioned op: {op:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn shard_matches_lru_model(limits in limits(), ops in prop::collection::vec(op(), 1..150)) {
        let mut shard = Shard::new(limits);
        let mut model = Model { items: VecDeque::new(), limits, stats: ShardStats::default() };
        let mut now = 0u64;
        for op in &ops {
            step(&mut shard, &mut model, op, &mut now);
            shard.check_invariants();
            let order: Vec<Vec<u8>> = model.items.iter().map(|i| i.key.clone()).collect();
            prop_assert_eq!(shard.keys_lru_to_mru(), order, "eviction order after {:?}", op);
            let tombstones = model.items.iter().filter(|i| i.tomb).count();
            let want = ShardStats {
                entries: (model.items.len() - tombstones) as u64,
                tombstones: tombstones as u64,
                bytes: model.bytes(),
                ..model.stats
            };
            prop_assert_eq!(shard.stats(), want, "counters after {:?}", op);
        }
    }
}
