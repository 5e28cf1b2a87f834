//! Tests of flushes and their barriers (a child module of `flush.rs`).

use bytes::Bytes;

use super::*;
use crate::storage::{Entry, KeyReply, PutOutcome, ShardLimits};

const TTL: u64 = 1_000;

fn shard(tombstone_ttl_ms: u64) -> Shard {
    Shard::new(ShardLimits {
        max_entries: 0,
        max_bytes: 0,
        tombstone_ttl_ms,
    })
}

/// Barrier first, then the whole walk in pages of `page` slots (counting every key).
fn flush(s: &mut Shard, prefix: &[u8], version: u64, page: usize, now: u64) -> Flushed {
    s.add_flush_barrier(prefix, version, now);
    let mut total = Flushed::default();
    let mut cursor = Some(0);
    while let Some(at) = cursor {
        let step = s.flush_page(prefix, version, at, page, now, |_| true);
        total.deleted += step.deleted;
        total.counted += step.counted;
        cursor = step.next;
    }
    total
}

fn live(s: &mut Shard, key: &[u8], now: u64) -> Option<(Vec<u8>, u64)> {
    s.get_versioned(key, now)
        .map(|(v, _, ver)| (v.to_vec(), ver))
}

#[test]
fn a_flush_deletes_matching_keys_older_than_itself_and_keeps_the_rest() {
    let mut s = shard(TTL);
    s.execute_put(b"user:1", b"a", None, 10, 0);
    s.execute_put(b"user:2", b"b", Some(5_000), 11, 0);
    s.execute_put(b"user:3", b"c", None, 30, 0); // newer than the flush
    s.execute_put(b"usr:1", b"d", None, 12, 0);
    s.execute_delete(b"user:4", 13, 0); // a tombstone: not counted
    let done = flush(&mut s, b"user:", 20, 2, 0);
    assert_eq!((done.deleted, done.counted, done.next), (2, 2, None));
    assert_eq!(live(&mut s, b"user:1", 1), None);
    assert_eq!(live(&mut s, b"user:2", 1), None);
    assert_eq!(live(&mut s, b"user:3", 1), Some((b"c".to_vec(), 30)));
    assert_eq!(live(&mut s, b"usr:1", 1), Some((b"d".to_vec(), 12)));
    // Every flushed key holds the flush's tombstone, the old tombstone included.
    let tombs: Vec<(Bytes, u64)> = s
        .page_all(0, 100, 1)
        .entries
        .into_iter()
        .filter(|e| e.tomb)
        .map(|e| (e.key, e.version))
        .collect();
    assert_eq!(tombs.len(), 3);
    assert!(tombs.iter().all(|(_, v)| *v == 20), "{tombs:?}");
    let st = s.stats();
    assert_eq!(
        (st.flushed, st.deletes, st.entries, st.tombstones),
        (2, 0, 2, 3)
    );
    s.check_invariants();
}

#[test]
fn flushed_keys_keep_their_place_in_the_lru_order() {
    let mut s = Shard::new(ShardLimits {
        max_entries: 3,
        max_bytes: 0,
        tombstone_ttl_ms: TTL,
    });
    for (i, k) in [&b"old"[..], b"x1", b"x2"].into_iter().enumerate() {
        s.execute_put(k, b"1", None, 1 + i as u64, 0);
    }
    flush(&mut s, b"x", 10, 16, 0);
    assert_eq!(
        s.keys_lru_to_mru(),
        vec![b"old".to_vec(), b"x1".to_vec(), b"x2".to_vec()]
    );
    // The next write evicts the least recently used slot, as without the flush.
    s.execute_put(b"new", b"1", None, 11, 0);
    assert_eq!(live(&mut s, b"old", 0), None);
    assert_eq!(s.stats().evictions, 1);
    s.check_invariants();
}

#[test]
fn the_counts_filter_decides_what_is_counted_not_what_is_deleted() {
    let mut s = shard(TTL);
    for k in [&b"a1"[..], b"a2", b"a3"] {
        s.execute_put(k, b"1", None, 5, 0);
    }
    s.add_flush_barrier(b"", 9, 0);
    let step = s.flush_page(b"", 9, 0, 100, 0, |k| k != b"a2");
    assert_eq!((step.deleted, step.counted), (3, 2));
    assert!(s.is_empty());
}

#[test]
fn the_barrier_refuses_older_writes_of_covered_keys_even_absent_ones() {
    let mut s = shard(TTL);
    flush(&mut s, b"p/", 100, 16, 0);
    // Older or equal-version values and older tombstones under the prefix: refused.
    assert_eq!(
        s.execute_put(b"p/new", b"x", None, 99, 1),
        KeyReply::Superseded
    );
    assert_eq!(
        s.execute_put(b"p/new", b"x", None, 100, 1),
        KeyReply::Superseded
    );
    assert_eq!(s.execute_delete(b"p/new", 50, 1), KeyReply::Superseded);
    assert!(!s.contains_slot(b"p/new"));
    // The flush's own tombstone (a repair copies it between replicas) passes.
    assert_eq!(s.execute_delete(b"p/new", 100, 1), KeyReply::Deleted(false));
    // Newer writes, and older ones outside the prefix, pass.
    assert_eq!(
        s.execute_put(b"p/new", b"y", None, 101, 1),
        KeyReply::Stored { created: true }
    );
    assert_eq!(
        s.execute_put(b"q/old", b"z", None, 1, 1),
        KeyReply::Stored { created: true }
    );
    // Bulk loads (hints, repair, hand-over, import) go through the same check.
    let old = Entry {
        key: Bytes::from_static(b"p/loaded"),
        value: Bytes::from_static(b"1"),
        ttl_ms: None,
        version: 7,
        tomb: false,
    };
    let l = s.load(vec![old], false, 1);
    assert_eq!((l.stored, l.superseded), (0, 1));
    assert_eq!(s.stats().superseded, 4);
    // Unversioned writes (`put`) are not LWW writes and are not checked.
    assert_eq!(s.put(b"p/plain", b"1", None, 1), PutOutcome::Created);
    s.check_invariants();
}

#[test]
fn barriers_last_tombstone_ttl_and_are_pruned_by_sweep() {
    let mut s = shard(TTL);
    flush(&mut s, b"k", 50, 16, 0);
    assert_eq!(s.flush_barriers(), 1);
    assert_eq!(
        s.execute_put(b"k1", b"1", None, 10, TTL - 1),
        KeyReply::Superseded
    );
    // At the end of its time the barrier no longer counts, and a sweep forgets it.
    assert_eq!(
        s.execute_put(b"k1", b"1", None, 10, TTL),
        KeyReply::Stored { created: true }
    );
    s.sweep(TTL, 16);
    assert_eq!(s.flush_barriers(), 0);
}

#[test]
fn a_flush_is_done_while_its_barrier_or_a_wider_newer_one_holds() {
    let mut s = shard(TTL);
    for k in [&b"a/1"[..], b"a/2", b"a/3"] {
        s.execute_put(k, b"1", None, 1, 0);
    }
    assert!(!s.flush_done(b"a/", 10, 0));
    // Started but not walked to the end: not done (keys ahead of the walk are still there).
    s.add_flush_barrier(b"a/", 10, 0);
    assert!(s.flush_page(b"a/", 10, 0, 1, 0, |_| true).next.is_some());
    assert!(!s.flush_done(b"a/", 10, 0));
    flush(&mut s, b"a/", 10, 16, 0);
    assert!(s.flush_done(b"a/", 10, 1));
    assert!(
        s.flush_done(b"a/b", 9, 1),
        "a longer prefix at an older version"
    );
    assert!(!s.flush_done(b"a/", 11, 1), "a newer flush still has work");
    assert!(!s.flush_done(b"", 10, 1), "a wider flush still has work");
    assert!(!s.flush_done(b"a/", 10, TTL), "the barrier's time is over");
}

#[test]
fn without_tombstones_a_flush_removes_keys_and_keeps_no_barrier() {
    let mut s = shard(0);
    s.execute_put(b"a", b"1", None, 1, 0);
    s.execute_put(b"b", b"1", None, 2, 0);
    let done = flush(&mut s, b"", 10, 1, 0);
    assert_eq!(done.deleted, 2);
    assert_eq!((s.len(), s.tombstones(), s.flush_barriers()), (0, 0, 0));
    s.check_invariants();
}

#[test]
fn expired_slots_met_by_the_walk_are_removed_not_counted() {
    let mut s = shard(TTL);
    s.execute_put(b"a", b"1", Some(10), 1, 0);
    let done = flush(&mut s, b"", 5, 16, 20);
    assert_eq!(done.deleted, 0);
    assert_eq!((s.stats().expirations, s.tombstones()), (1, 0));
}

#[test]
fn a_wider_newer_barrier_replaces_the_barriers_it_covers() {
    let mut b = Barriers::default();
    b.add(b"a/b", 5, 100, 0);
    b.add(b"a/c", 6, 100, 0);
    b.add(b"x", 9, 100, 0);
    assert_eq!(b.len(), 3);
    // A covered newcomer changes nothing.
    b.add(b"a/b/c", 4, 50, 0);
    assert_eq!(b.len(), 3);
    b.add(b"a/", 7, 200, 0);
    assert_eq!(b.len(), 2);
    assert!(b.bars(b"a/c/1", 6, false, 150));
    assert!(!b.bars(b"a/c/1", 8, false, 150));
    // Same prefix, neither covers the other: the newer version for the longer time.
    b.add(b"x", 3, 500, 0);
    assert_eq!(b.len(), 2);
    assert!(b.bars(b"x1", 8, false, 400));
    b.add(b"", 10, 300, 0);
    assert_eq!(b.len(), 2, "x lives longer than the flush of everything");
    b.add(b"", 10, 600, 0);
    assert_eq!(b.len(), 1);
    assert_eq!(b.newest, 10);
}

#[test]
fn the_bound_forgets_the_barrier_that_expires_first() {
    let mut b = Barriers::default();
    for i in 0..MAX_FLUSH_BARRIERS as u64 {
        assert!(!b.add(format!("k{i}/").as_bytes(), 10, 1_000 + i, 0));
    }
    assert!(b.add(b"new/", 10, 5_000, 0));
    assert_eq!(b.len(), MAX_FLUSH_BARRIERS);
    assert!(!b.bars(b"k0/x", 1, false, 1), "the first to expire went");
    assert!(b.bars(b"k1/x", 1, false, 1));
    assert!(b.bars(b"new/x", 1, false, 1));
    // A prefix already held does not count twice.
    assert!(!b.add(b"new/", 11, 5_000, 0));
}

#[test]
fn no_barrier_means_one_comparison_for_any_version() {
    let b = Barriers::default();
    assert_eq!(b.newest, 0);
    assert!(!b.bars(b"k", 0, false, 0));
    assert!(!b.bars(b"k", u64::MAX, true, 0));
}

/// The write path's cost of the barrier check: versioned replaces on 100k keys with no barrier,
/// and with barriers all older than the writes (the usual case after a flush). Timing:
/// `cargo test --release --lib flush::tests::write_cost -- --ignored --nocapture`; instructions
/// per write: the same binary under `valgrind --tool=callgrind --toggle-collect='*replace_all*'`.
#[test]
#[ignore]
fn write_cost() {
    const N: usize = 100_000;
    let keys: Vec<Vec<u8>> = (0..N)
        .map(|i| format!("key:{i:012}").into_bytes())
        .collect();
    let order: Vec<usize> = (0..N).map(|i| i * 7919 % N).collect();
    // `FLUSH_COST_BARRIERS=n` runs one case only (one callgrind count per case).
    let cases: Vec<u64> = match std::env::var("FLUSH_COST_BARRIERS") {
        Ok(n) => vec![n.parse().expect("a number of barriers")],
        Err(_) => vec![0, 16],
    };
    for barriers in cases {
        let mut s = shard(600_000);
        for (i, k) in keys.iter().enumerate() {
            s.execute_put(
                k,
                b"\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"",
                None,
                1 + i as u64,
                0,
            );
        }
        for b in 0..barriers {
            s.add_flush_barrier(format!("other{b}:").as_bytes(), 1, 0);
        }
        let mut v = 10 * N as u64;
        let mut samples: Vec<f64> = (0..9)
            .map(|_| {
                let t = std::time::Instant::now();
                replace_all(&mut s, &keys, &order, &mut v);
                t.elapsed().as_nanos() as f64 / N as f64
            })
            .collect();
        samples.sort_by(f64::total_cmp);
        eprintln!(
            "versioned put replace, {barriers} older barriers: {:.1} ns/op (median of 9)",
            samples[4]
        );
    }
}

#[inline(never)]
fn replace_all(s: &mut Shard, keys: &[Vec<u8>], order: &[usize], v: &mut u64) {
    for &i in order {
        *v += 1;
        s.execute_put(&keys[i], b"\"yyyyyyyyyyyyyyyyyyyyyyyyyyyyyy\"", None, *v, 1);
    }
}
