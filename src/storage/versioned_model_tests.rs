//! Convergence property: replicas that receive the same versioned writes in any order (with
//! replays) end up holding the same slots, and those are the LWW maxima a plain `HashMap` model
//! computes. Holds while tombstones are kept (none expires during the test); without them an older
//! write arriving after a delete brings the key back, which is what `tombstone_ttl_ms` is for.

use std::collections::HashMap;

use bytes::Bytes;
use proptest::prelude::*;

use super::{Entry, KeyReply, Shard, ShardLimits, REPAIR_BUCKETS};

/// Small key and version spaces so writes to one key collide, often at the same version.
const KEYS: u8 = 5;
const VERSIONS: u64 = 4;

fn shard() -> Shard {
    Shard::new(ShardLimits {
        max_entries: 0,
        max_bytes: 0,
        tombstone_ttl_ms: 1_000,
    })
}

fn write() -> impl Strategy<Value = Entry> {
    let value = prop::collection::vec(0u8..3, 0..3);
    (0..KEYS, 0..VERSIONS, any::<bool>(), value).prop_map(|(k, version, tomb, value)| Entry {
        key: Bytes::from(vec![b'a' + k; usize::from(k % 3)]),
        value: if tomb {
            Bytes::new()
        } else {
            Bytes::from(value)
        },
        ttl_ms: None,
        version,
        tomb,
    })
}

/// The same writes (replays included) in two independent orders.
fn two_orders() -> impl Strategy<Value = (Vec<Entry>, Vec<Entry>)> {
    prop::collection::vec(write(), 0..40)
        .prop_flat_map(|w| (Just(w.clone()).prop_shuffle(), Just(w).prop_shuffle()))
}

/// The model: per key, the write with the greatest `(version, tomb, value)`.
fn lww_maxima(writes: &[Entry]) -> Vec<Entry> {
    let rank = |e: &Entry| (e.version, e.tomb, e.value.clone());
    let mut best: HashMap<Bytes, Entry> = HashMap::new();
    for w in writes {
        let wins = match best.get(&w.key) {
            Some(cur) => rank(w) > rank(cur),
            None => true,
        };
        if wins {
            best.insert(w.key.clone(), w.clone());
        }
    }
    let mut out: Vec<Entry> = best.into_values().collect();
    out.sort_by(|x, y| x.key.cmp(&y.key));
    out
}

fn slots(s: &Shard) -> Vec<Entry> {
    let mut out = s.page_all(0, usize::MAX, 0).entries;
    out.sort_by(|x, y| x.key.cmp(&y.key));
    out
}

fn digest(s: &Shard) -> Vec<u64> {
    let mut out = vec![0; REPAIR_BUCKETS];
    s.digest(0, |_| true, &mut out);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn versioned_writes_converge_in_any_order((first, second) in two_orders()) {
        // One replica applies writes one by one, the other in a single bulk load.
        let (mut a, mut b) = (shard(), shard());
        for w in &first {
            let reply = if w.tomb {
                a.execute_delete(&w.key, w.version, 0)
            } else {
                a.execute_put(&w.key, &w.value, w.ttl_ms, w.version, 0)
            };
            prop_assert!(reply != KeyReply::TooLarge);
        }
        let loaded = b.load(second.clone(), false, 0);
        prop_assert_eq!(loaded.stored + loaded.superseded, second.len() as u64);
        a.check_invariants();
        b.check_invariants();
        let want = lww_maxima(&first);
        prop_assert_eq!(slots(&a), want.clone());
        prop_assert_eq!(slots(&b), want);
        prop_assert_eq!(digest(&a), digest(&b));
    }
}
