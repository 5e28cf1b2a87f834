//! Unit tests for `op.rs` (a child module of it; see the `#[path]` there): the execute step,
//! last-writer-wins writes and tombstones, paging and bulk loads.

use super::*;
use crate::storage::{PutOutcome, ShardLimits, ShardStats, ENTRY_OVERHEAD_BYTES};

/// Tombstones live this long in these tests.
const TOMB_TTL: u64 = 100;

fn shard() -> Shard {
    Shard::new(ShardLimits {
        max_entries: 100,
        max_bytes: 0,
        tombstone_ttl_ms: TOMB_TTL,
    })
}

fn put(v: &'static [u8], version: u64) -> KeyOp {
    KeyOp::Put {
        value: Bytes::from_static(v),
        ttl_ms: None,
        version,
    }
}

fn value(v: &'static [u8], version: u64) -> Entry {
    Entry {
        key: Bytes::from_static(b"k"),
        value: Bytes::from_static(v),
        ttl_ms: None,
        version,
        tomb: false,
    }
}

fn tomb(key: &'static [u8], version: u64) -> Entry {
    Entry {
        key: Bytes::from_static(key),
        value: Bytes::new(),
        ttl_ms: None,
        version,
        tomb: true,
    }
}

fn all(s: &Shard, now: u64, tombs: bool) -> Vec<Entry> {
    let (mut out, mut cursor) = (Vec::new(), Some(0));
    while let Some(c) = cursor {
        let p = if tombs {
            s.page_all(c, 1, now)
        } else {
            s.page(c, 1, now)
        };
        out.extend(p.entries);
        cursor = p.next;
    }
    out.sort_by(|x, y| x.key.cmp(&y.key));
    out
}

#[test]
fn execute_get_put_delete() {
    let mut s = shard();
    assert_eq!(s.execute(KeyOp::Get, b"k", 0), KeyReply::Miss);
    let put_ttl = |v: &'static [u8], version| KeyOp::Put {
        value: Bytes::from_static(v),
        ttl_ms: Some(1000),
        version,
    };
    assert_eq!(
        s.execute(put_ttl(b"1", 1), b"k", 0),
        KeyReply::Stored { created: true }
    );
    assert_eq!(
        s.execute(put_ttl(b"2", 2), b"k", 0),
        KeyReply::Stored { created: false }
    );
    assert_eq!(
        s.execute(KeyOp::Get, b"k", 400),
        KeyReply::Value {
            value: Bytes::from_static(b"2"),
            ttl_ms: Some(600),
            version: 2,
        }
    );
    assert_eq!(s.execute(KeyOp::Get, b"k", 1000), KeyReply::Miss);
    let del = KeyOp::Delete { version: 3 };
    assert_eq!(s.execute(del, b"k", 1000), KeyReply::Deleted(false));
    s.check_invariants();
}

#[test]
fn replaying_a_write_is_a_no_op() {
    let mut s = shard();
    assert_eq!(
        s.execute(put(b"v", 5), b"k", 0),
        KeyReply::Stored { created: true }
    );
    assert_eq!(s.execute(put(b"v", 5), b"k", 1), KeyReply::Superseded);
    assert_eq!(
        s.execute(KeyOp::Delete { version: 6 }, b"k", 2),
        KeyReply::Deleted(true)
    );
    assert_eq!(
        s.execute(KeyOp::Delete { version: 6 }, b"k", 3),
        KeyReply::Superseded
    );
    let st = s.stats();
    assert_eq!((st.sets, st.deletes, st.superseded), (1, 1, 2));
    s.check_invariants();
}

#[test]
fn an_older_put_after_a_newer_delete_is_superseded() {
    let mut s = shard();
    s.execute(put(b"old", 1), b"k", 0);
    assert_eq!(
        s.execute(KeyOp::Delete { version: 10 }, b"k", 0),
        KeyReply::Deleted(true)
    );
    assert_eq!(s.execute(put(b"late", 9), b"k", 1), KeyReply::Superseded);
    let with_ttl = KeyOp::Put {
        value: Bytes::from_static(b"late"),
        ttl_ms: Some(5),
        version: 9,
    };
    assert_eq!(s.execute(with_ttl, b"k", 1), KeyReply::Superseded);
    assert_eq!(s.execute(KeyOp::Get, b"k", 1), KeyReply::Miss);
    // A newer put brings the key back (a tombstone is not a live value: created).
    assert_eq!(
        s.execute(put(b"new", 11), b"k", 2),
        KeyReply::Stored { created: true }
    );
    assert_eq!(s.get_versioned(b"k", 2), Some((&b"new"[..], None, 11)));
    // And an older delete cannot remove it.
    assert_eq!(
        s.execute(KeyOp::Delete { version: 10 }, b"k", 3),
        KeyReply::Superseded
    );
    s.check_invariants();
}

#[test]
fn same_version_conflicts_resolve_the_same_way_in_either_order() {
    for order in [[b"a", b"b"], [b"b", b"a"]] {
        let mut s = shard();
        for v in order {
            s.execute_put(b"k", v, None, 7, 0);
        }
        assert_eq!(s.get_versioned(b"k", 0), Some((&b"b"[..], None, 7)));
        // A tombstone at the same version beats any value.
        assert_eq!(s.execute_delete(b"k", 7, 0), KeyReply::Deleted(true));
        assert_eq!(s.execute_put(b"k", b"z", None, 7, 0), KeyReply::Superseded);
    }
}

#[test]
fn a_tombstone_is_invisible_and_expires_after_its_ttl() {
    let mut s = shard();
    s.execute(put(b"v", 1), b"k", 0);
    assert_eq!(s.execute_delete(b"k", 2, 10), KeyReply::Deleted(true));
    assert_eq!(s.get(b"k", 11), None);
    assert_eq!(s.get_versioned(b"k", 11), None);
    assert_eq!((s.len(), s.tombstones()), (0, 1));
    assert!(s.is_empty(), "no values");
    // Still there just before its deadline: an older put loses.
    assert_eq!(
        s.execute_put(b"k", b"v", None, 1, 10 + TOMB_TTL - 1),
        KeyReply::Superseded
    );
    assert_eq!(
        s.sweep(10 + TOMB_TTL, usize::MAX),
        1,
        "expired at the deadline"
    );
    assert_eq!((s.tombstones(), s.bytes()), (0, 0));
    // Gone: now the same old put applies again.
    assert_eq!(
        s.execute_put(b"k", b"v", None, 1, 10 + TOMB_TTL),
        KeyReply::Stored { created: true }
    );
    assert_eq!(s.stats().expirations, 1);
    s.check_invariants();
}

#[test]
fn zero_tombstone_ttl_removes_instead() {
    let mut s = Shard::new(ShardLimits {
        max_entries: 0,
        max_bytes: 0,
        tombstone_ttl_ms: 0,
    });
    s.execute(put(b"v", 5), b"k", 0);
    assert_eq!(
        s.execute_delete(b"k", 4, 0),
        KeyReply::Superseded,
        "still LWW"
    );
    assert_eq!(s.execute_delete(b"k", 6, 0), KeyReply::Deleted(true));
    assert_eq!((s.len(), s.tombstones(), s.bytes()), (0, 0, 0));
    assert_eq!(s.execute_delete(b"k", 7, 0), KeyReply::Deleted(false));
    assert_eq!(
        s.tombstones(),
        0,
        "nothing is kept for an absent key either"
    );
    // Without a tombstone an older write comes back: that is what the TTL buys.
    assert_eq!(
        s.execute(put(b"v", 5), b"k", 0),
        KeyReply::Stored { created: true }
    );
    s.check_invariants();
}

#[test]
fn unversioned_put_and_delete_stay_unconditional() {
    let mut s = shard();
    s.execute_delete(b"k", 9, 0);
    assert_eq!(
        s.put(b"k", b"v", None, 0),
        PutOutcome::Created,
        "over a tombstone"
    );
    assert_eq!(s.get_versioned(b"k", 0), Some((&b"v"[..], None, 0)));
    s.execute_delete(b"k", 10, 0);
    assert!(!s.delete(b"k", 0), "a tombstone is not a live value");
    assert_eq!((s.tombstones(), s.stats().deletes), (0, 1));
    s.check_invariants();
}

#[test]
fn tombstones_count_towards_limits_and_are_evicted() {
    let mut s = Shard::new(ShardLimits {
        max_entries: 2,
        max_bytes: 0,
        tombstone_ttl_ms: TOMB_TTL,
    });
    s.execute_delete(b"a", 1, 0);
    s.execute_delete(b"b", 1, 0);
    assert_eq!(
        s.execute(put(b"v", 1), b"c", 0),
        KeyReply::Stored { created: true }
    );
    assert_eq!((s.len(), s.tombstones(), s.stats().evictions), (1, 1, 1));
    assert_eq!(
        s.execute(put(b"v", 1), b"a", 0),
        KeyReply::Stored { created: true },
        "evicted"
    );
    s.check_invariants();
}

#[test]
fn stats_gauges_count_values_and_tombstones_apart() {
    let mut s = shard();
    s.execute(put(b"12", 1), b"a", 0);
    s.execute(put(b"1", 1), b"bb", 0);
    s.execute_delete(b"bb", 2, 0);
    s.execute_delete(b"ccc", 2, 0);
    s.execute(put(b"x", 0), b"a", 0);
    let want = ShardStats {
        entries: 1,
        tombstones: 2,
        bytes: 3 + 2 + 3 + 3 * ENTRY_OVERHEAD_BYTES,
        sets: 2,
        deletes: 1,
        superseded: 1,
        ..ShardStats::default()
    };
    assert_eq!(s.stats(), want);
    s.check_invariants();
}

#[test]
fn page_skips_tombstones_and_page_all_keeps_them() {
    let mut s = shard();
    s.execute(put(b"1", 3), b"k", 0);
    s.execute_delete(b"t", 4, 0);
    s.execute_delete(b"x", 4, 0);
    assert_eq!(all(&s, 0, false), vec![value(b"1", 3)]);
    assert_eq!(
        all(&s, 0, true),
        vec![value(b"1", 3), tomb(b"t", 4), tomb(b"x", 4)]
    );
    assert_eq!(
        all(&s, TOMB_TTL, true),
        vec![value(b"1", 3)],
        "expired tombstones are skipped"
    );
    let mut calls = 0;
    s.scan(0, 10, 0, |_, _, _| calls += 1);
    assert_eq!(calls, 1, "scan skips tombstones");
}

#[test]
fn load_applies_lww_and_only_missing_keeps_live_values() {
    let mut s = shard();
    let e = |k: &'static [u8], v: &'static [u8], version| Entry {
        key: Bytes::from_static(k),
        ..value(v, version)
    };
    let got = s.load(vec![e(b"a", b"1", 5), tomb(b"t", 5)], false, 0);
    assert_eq!(
        got,
        Loaded {
            stored: 2,
            rejected: 0,
            superseded: 0
        }
    );
    let got = s.load(
        vec![e(b"a", b"2", 9), e(b"b", b"3", 1), e(b"t", b"4", 9)],
        true,
        0,
    );
    assert_eq!(
        got,
        Loaded {
            stored: 2,
            rejected: 1,
            superseded: 0
        },
        "t held a tombstone only"
    );
    let got = s.load(
        vec![e(b"a", b"old", 4), tomb(b"a", 5), tomb(b"b", 2)],
        false,
        0,
    );
    assert_eq!(
        got,
        Loaded {
            stored: 2,
            rejected: 0,
            superseded: 1
        }
    );
    assert_eq!(
        all(&s, 0, true),
        vec![tomb(b"a", 5), tomb(b"b", 2), e(b"t", b"4", 9)]
    );
    let mut sum = Loaded::default();
    sum += got;
    sum += got;
    assert_eq!(
        sum,
        Loaded {
            stored: 4,
            rejected: 0,
            superseded: 2
        }
    );
    s.check_invariants();
}
