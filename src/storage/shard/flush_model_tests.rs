//! Model test of flushes (a child module of `flush.rs`): writes and flushes applied in any order,
//! each flush's walk interleaved page by page with the writes that follow it, show every key as
//! a model computes it (the greatest of its writes and of a tombstone at the version of every
//! flush covering it), and two replicas that applied them in different orders hold the same
//! slots once a repair exchanged them.

use bytes::Bytes;
use proptest::prelude::*;

use super::*;
use crate::storage::{Entry, ShardLimits, REPAIR_BUCKETS};

fn shard(tombstone_ttl_ms: u64) -> Shard {
    Shard::new(ShardLimits {
        max_entries: 0,
        max_bytes: 0,
        tombstone_ttl_ms,
    })
}

fn live(s: &mut Shard, key: &[u8], now: u64) -> Option<(Vec<u8>, u64)> {
    s.get_versioned(key, now)
        .map(|(v, _, ver)| (v.to_vec(), ver))
}

const KEYS: u8 = 6;
const VERSIONS: u64 = 6;

#[derive(Clone, Debug)]
enum Op {
    Write(Entry),
    /// Prefix (0, 1 or 2 bytes of the key alphabet), version, page size.
    Flush(Vec<u8>, u64, usize),
}

fn key(k: u8) -> Bytes {
    // "a", "ab", "b", "ba", "c", "ca": prefixes of each other, so flushes overlap.
    let first = b'a' + k / 2;
    let mut out = vec![first];
    if k % 2 == 1 {
        out.push(if first == b'a' { b'b' } else { b'a' });
    }
    Bytes::from(out)
}

fn op() -> impl Strategy<Value = Op> {
    let write = (0..KEYS, 0..VERSIONS, any::<bool>(), 0u8..3).prop_map(|(k, version, tomb, v)| {
        Op::Write(Entry {
            key: key(k),
            value: if tomb {
                Bytes::new()
            } else {
                Bytes::from(vec![v])
            },
            ttl_ms: None,
            version,
            tomb,
        })
    });
    let prefix = prop::collection::vec(b'a'..b'c', 0..3);
    let flush = (prefix, 0..VERSIONS, 1usize..4).prop_map(|(p, v, page)| Op::Flush(p, v, page));
    prop_oneof![3 => write, 1 => flush]
}

fn two_orders() -> impl Strategy<Value = (Vec<Op>, Vec<Op>)> {
    prop::collection::vec(op(), 0..40)
        .prop_flat_map(|o| (Just(o.clone()).prop_shuffle(), Just(o).prop_shuffle()))
}

/// Apply `ops` in order; a flush walks one page after each later op (writes land mid-walk).
fn apply(ops: &[Op]) -> Shard {
    let mut s = shard(1_000_000);
    let mut walks: Vec<(Vec<u8>, u64, usize, usize)> = Vec::new();
    for op in ops {
        match op {
            Op::Write(e) if e.tomb => {
                s.execute_delete(&e.key, e.version, 0);
            }
            Op::Write(e) => {
                s.execute_put(&e.key, &e.value, None, e.version, 0);
            }
            Op::Flush(p, v, page) => {
                s.add_flush_barrier(p, *v, 0);
                walks.push((p.clone(), *v, *page, 0));
            }
        }
        walks.retain_mut(|(p, v, page, at)| {
            match s.flush_page(p, *v, *at, *page, 0, |_| true).next {
                Some(n) => {
                    *at = n;
                    true
                }
                None => false,
            }
        });
        s.check_invariants();
    }
    for (p, v, page, at) in walks {
        let mut cursor = Some(at);
        while let Some(c) = cursor {
            cursor = s.flush_page(&p, v, c, page, 0, |_| true).next;
        }
    }
    s
}

/// What a reader sees per key: the greatest of every write and of a tombstone at the version of
/// every flush covering the key (`None` when that is a tombstone).
fn model(ops: &[Op]) -> Vec<Option<(Vec<u8>, u64)>> {
    (0..KEYS)
        .map(|k| {
            let k = key(k);
            let best = ops
                .iter()
                .filter_map(|op| match op {
                    Op::Write(e) if e.key == k => Some((e.version, e.tomb, e.value.to_vec())),
                    Op::Flush(p, v, _) if k.starts_with(p) => Some((*v, true, Vec::new())),
                    _ => None,
                })
                .max()?;
            (!best.1).then_some((best.2, best.0))
        })
        .collect()
}

fn visible(s: &mut Shard) -> Vec<Option<(Vec<u8>, u64)>> {
    (0..KEYS).map(|k| live(s, &key(k), 0)).collect()
}

fn digest(s: &Shard) -> Vec<u64> {
    let mut out = vec![0; REPAIR_BUCKETS];
    s.digest(0, |_| true, &mut out);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn flushes_and_writes_in_any_order_show_the_model_and_converge_by_repair(
        (first, second) in two_orders()
    ) {
        let (mut a, mut b) = (apply(&first), apply(&second));
        let want = model(&first);
        prop_assert_eq!(visible(&mut a), want.clone());
        prop_assert_eq!(visible(&mut b), want.clone());
        // A repair exchanges every slot both ways: the replicas then hold the same slots.
        let (sa, sb) = (a.page_all(0, usize::MAX, 0).entries, b.page_all(0, usize::MAX, 0).entries);
        a.load(sb, false, 0);
        b.load(sa, false, 0);
        a.check_invariants();
        b.check_invariants();
        prop_assert_eq!(digest(&a), digest(&b));
        prop_assert_eq!(visible(&mut a), want);
    }
}
