//! Unit tests for the repair and hand-over support of `shard/repair.rs`: conditional removal,
//! bucket digests and bucket collection.

use bytes::Bytes;

use super::{bucket_of, slot_digest, Entry, Shard, ShardLimits, REPAIR_BUCKETS};

fn shard() -> Shard {
    Shard::new(ShardLimits {
        max_entries: 0,
        max_bytes: 0,
        tombstone_ttl_ms: 1_000,
    })
}

/// Key `i`: a value at version `i + 1`, every third one a tombstone.
fn entry(i: u16) -> Entry {
    let tomb = i.is_multiple_of(3);
    Entry {
        key: Bytes::copy_from_slice(&i.to_be_bytes()),
        value: if tomb {
            Bytes::new()
        } else {
            Bytes::from(vec![i as u8; usize::from(i % 5)])
        },
        ttl_ms: None,
        version: u64::from(i) + 1,
        tomb,
    }
}

fn digest(s: &Shard, buckets: usize) -> Vec<u64> {
    let mut out = vec![0; buckets];
    s.digest(0, |_| true, &mut out);
    out
}

#[test]
fn remove_if_version_removes_only_that_write() {
    let mut s = shard();
    s.execute_put(b"k", b"v", None, 5, 0);
    assert!(!s.remove_if_version(b"k", 4, 0));
    assert!(!s.remove_if_version(b"absent", 5, 0));
    assert!(s.remove_if_version(b"k", 5, 0));
    assert!(s.get(b"k", 0).is_none());
    s.execute_delete(b"t", 7, 0);
    assert!(
        s.remove_if_version(b"t", 7, 0),
        "a tombstone is removed too"
    );
    s.execute_put(b"x", b"v", Some(10), 3, 0);
    assert!(
        !s.remove_if_version(b"x", 3, 10),
        "an expired slot is absent"
    );
    let st = s.stats();
    assert_eq!(
        (st.entries, st.tombstones, st.bytes, st.deletes),
        (0, 0, 0, 0)
    );
    assert_eq!(st.expirations, 1);
    s.check_invariants();
}

#[test]
fn digests_agree_whatever_the_load_order_and_differ_after_one_change() {
    let entries: Vec<Entry> = (0u16..500).map(entry).collect();
    let (mut a, mut b) = (shard(), shard());
    a.load(entries.clone(), false, 0);
    b.load(entries.into_iter().rev().collect(), false, 0);
    // An expired slot on one side is not part of its digest.
    b.execute_put(b"gone", b"v", Some(1), 1, 0);
    assert_eq!(
        b.get(b"gone", 0).map(|(v, _)| v.to_vec()),
        Some(b"v".to_vec())
    );
    let mut before = Vec::new();
    for buckets in [1, 16, REPAIR_BUCKETS] {
        let mut later = vec![0; buckets];
        b.digest(1, |_| true, &mut later);
        assert_eq!(digest(&a, buckets), later, "{buckets} buckets");
        before = later;
    }
    assert!(before.iter().any(|&d| d != 0));

    let key = 7u16.to_be_bytes();
    a.execute_put(&key, b"newer", None, 1_000, 0);
    let after = digest(&a, REPAIR_BUCKETS);
    let differ: Vec<usize> = (0..REPAIR_BUCKETS)
        .filter(|&i| after[i] != before[i])
        .collect();
    assert_eq!(differ, [bucket_of(&key, REPAIR_BUCKETS)]);
    // Key 7 was written at version 8 with the value [7, 7] (see `entries`).
    let changed = slot_digest(&key, 8, false, &[7, 7]) ^ slot_digest(&key, 1_000, false, b"newer");
    assert_eq!(after[differ[0]] ^ before[differ[0]], changed);

    // Leaving the changed key out makes the two agree again.
    let (mut x, mut y) = (vec![0; 64], vec![0; 64]);
    a.digest(0, |k| k != key, &mut x);
    b.digest(1, |k| k != key, &mut y);
    assert_eq!(x, y);
    a.digest(0, |_| true, &mut []);
}

#[test]
fn collect_returns_exactly_the_wanted_buckets() {
    let mut s = shard();
    s.load((0u16..300).map(entry).collect(), false, 0);
    s.execute_put(b"expired", b"v", Some(1), 1, 0);
    let buckets = 8;
    let want = |b: usize| b == 3 || b == 5;
    let include = |k: &[u8]| k.len() == 2 && k[1].is_multiple_of(2);
    let mut got = s.collect(1, buckets, include, want);
    got.sort_by(|x, y| x.key.cmp(&y.key));
    let expected: Vec<Entry> = (0u16..300)
        .map(entry)
        .filter(|e| include(&e.key) && want(bucket_of(&e.key, buckets)))
        .collect();
    assert!(expected.len() > 10 && expected.iter().any(|e| e.tomb));
    assert_eq!(got, expected);
    assert!(s.collect(1, buckets, |_| true, |_| false).is_empty());
    assert_eq!(s.collect(1, buckets, |_| true, |_| true).len(), 300);
}
