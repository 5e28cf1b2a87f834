//! Unit tests for the conditional and counter steps of `op.rs` ([`KeyOp::If`], [`KeyOp::Incr`]):
//! the check and the write in one shard call, what a refused request leaves (nothing), and the
//! replies the handlers turn into 304, 412 and 409.

use proptest::prelude::*;

use super::*;
use crate::storage::cond::{Tags, VersionList};
use crate::storage::value::encode_raw;
use crate::storage::ShardLimits;

const TOMB_TTL: u64 = 100;

fn shard() -> Shard {
    Shard::new(ShardLimits {
        max_entries: 100,
        max_bytes: 0,
        tombstone_ttl_ms: TOMB_TTL,
    })
}

fn versions(vs: &[u64]) -> Tags {
    let mut l = VersionList::default();
    for &v in vs {
        assert!(l.push(v));
    }
    Tags::Versions(l)
}

fn if_match(t: Tags) -> Condition {
    Condition {
        if_match: Some(t),
        if_none_match: None,
    }
}

fn if_none_match(t: Tags) -> Condition {
    Condition {
        if_match: None,
        if_none_match: Some(t),
    }
}

fn put(v: &[u8], ttl_ms: Option<u64>, version: u64) -> KeyOp {
    KeyOp::Put {
        value: Bytes::copy_from_slice(v),
        ttl_ms,
        version,
    }
}

fn guarded(cond: Condition, op: KeyOp) -> KeyOp {
    KeyOp::If(Box::new(Conditional { cond, op }))
}

fn incr(delta: i64, ttl_ms: Option<u64>, version: u64) -> KeyOp {
    KeyOp::Incr {
        delta,
        ttl_ms,
        version,
    }
}

fn get(s: &mut Shard, now: u64) -> Option<(Vec<u8>, Option<u64>, u64)> {
    s.get_versioned(b"k", now)
        .map(|(v, ttl, ver)| (v.to_vec(), ttl, ver))
}

#[test]
fn if_match_writes_only_over_a_listed_live_version() {
    let mut s = shard();
    let absent = s.execute(guarded(if_match(Tags::Any), put(b"1", None, 5)), b"k", 0);
    assert_eq!(
        absent,
        KeyReply::PreconditionFailed {
            current: None,
            seen: 0
        }
    );
    assert_eq!(get(&mut s, 0), None, "a refused write stores nothing");
    s.execute(put(b"1", None, 10), b"k", 0);
    let stale = s.execute(
        guarded(if_match(versions(&[9])), put(b"2", None, 11)),
        b"k",
        0,
    );
    assert_eq!(
        stale,
        KeyReply::PreconditionFailed {
            current: Some(10),
            seen: 10
        }
    );
    let ok = s.execute(
        guarded(if_match(versions(&[9, 10])), put(b"2", None, 12)),
        b"k",
        0,
    );
    assert_eq!(ok, KeyReply::Stored { created: false });
    assert_eq!(get(&mut s, 0), Some((b"2".to_vec(), None, 12)));
    // The same If-Match again: the version moved on, so the second writer loses.
    let second = s.execute(
        guarded(if_match(versions(&[10])), put(b"3", None, 13)),
        b"k",
        0,
    );
    assert!(matches!(
        second,
        KeyReply::PreconditionFailed {
            current: Some(12),
            ..
        }
    ));
}

#[test]
fn if_none_match_star_adds_only_when_no_live_value() {
    let mut s = shard();
    let add = |s: &mut Shard, v: &[u8], version, now| {
        s.execute(
            guarded(if_none_match(Tags::Any), put(v, Some(50), version)),
            b"k",
            now,
        )
    };
    assert_eq!(add(&mut s, b"1", 1, 0), KeyReply::Stored { created: true });
    assert!(matches!(
        add(&mut s, b"2", 2, 10),
        KeyReply::PreconditionFailed {
            current: Some(1),
            ..
        }
    ));
    // Expired: absent again.
    assert_eq!(add(&mut s, b"3", 3, 60), KeyReply::Stored { created: true });
    // Deleted (a tombstone): absent too.
    assert_eq!(
        s.execute(KeyOp::Delete { version: 4 }, b"k", 61),
        KeyReply::Deleted(true)
    );
    assert_eq!(add(&mut s, b"5", 5, 62), KeyReply::Stored { created: true });
    assert_eq!(get(&mut s, 62).map(|g| g.0), Some(b"5".to_vec()));
}

#[test]
fn a_conditional_write_that_loses_lww_is_refused_not_acknowledged() {
    let mut s = shard();
    // A tombstone from a node whose clock runs ahead: version 100.
    s.execute(KeyOp::Delete { version: 100 }, b"k", 0);
    let lost = s.execute(
        guarded(if_none_match(Tags::Any), put(b"1", None, 7)),
        b"k",
        0,
    );
    assert_eq!(
        lost,
        KeyReply::PreconditionFailed {
            current: None,
            seen: 100
        }
    );
    assert_eq!(get(&mut s, 0), None);
}

#[test]
fn conditional_deletes() {
    let mut s = shard();
    s.execute(put(b"1", None, 3), b"k", 0);
    let wrong = s.execute(
        guarded(if_match(versions(&[2])), KeyOp::Delete { version: 4 }),
        b"k",
        0,
    );
    assert!(matches!(
        wrong,
        KeyReply::PreconditionFailed {
            current: Some(3),
            ..
        }
    ));
    assert!(get(&mut s, 0).is_some());
    let right = s.execute(
        guarded(if_match(versions(&[3])), KeyOp::Delete { version: 5 }),
        b"k",
        0,
    );
    assert_eq!(right, KeyReply::Deleted(true));
    let gone = s.execute(
        guarded(if_match(Tags::Any), KeyOp::Delete { version: 6 }),
        b"k",
        0,
    );
    assert_eq!(
        gone,
        KeyReply::PreconditionFailed {
            current: None,
            seen: 5
        }
    );
}

#[test]
fn conditional_reads_answer_not_modified_without_the_value() {
    let mut s = shard();
    assert_eq!(
        s.execute(guarded(if_none_match(Tags::Any), KeyOp::Get), b"k", 0),
        KeyReply::Miss,
        "a 404 ignores preconditions"
    );
    s.execute(put(b"{\"a\":1}", Some(1000), 7), b"k", 0);
    let same = s.execute(guarded(if_none_match(versions(&[7])), KeyOp::Get), b"k", 10);
    assert_eq!(
        same,
        KeyReply::NotModified {
            version: 7,
            ttl_ms: Some(990),
            head: Bytes::new()
        }
    );
    let changed = s.execute(guarded(if_none_match(versions(&[6])), KeyOp::Get), b"k", 10);
    assert!(matches!(changed, KeyReply::Value { version: 7, .. }));
    let failed = s.execute(guarded(if_match(versions(&[6])), KeyOp::Get), b"k", 10);
    assert!(matches!(
        failed,
        KeyReply::PreconditionFailed {
            current: Some(7),
            ..
        }
    ));
    // A raw value's 304 names its content type, without the body.
    let mut raw = Vec::new();
    encode_raw(b"image/png", b"\x89PNG....", &mut raw);
    s.execute(put(&raw, None, 8), b"k", 10);
    match s.execute(guarded(if_none_match(Tags::Any), KeyOp::Get), b"k", 10) {
        KeyReply::NotModified { head, .. } => assert_eq!(&head[..], &raw[..11]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn incr_starts_a_missing_key_at_zero_with_its_ttl() {
    let mut s = shard();
    assert_eq!(
        s.execute(incr(5, Some(1000), 1), b"k", 0),
        KeyReply::Counted {
            value: 5,
            created: true,
            ttl_ms: Some(1000),
            version: 1
        }
    );
    assert_eq!(get(&mut s, 0), Some((b"5".to_vec(), Some(1000), 1)));
    // An existing key keeps its TTL (the ttl of a later increment is for missing keys only).
    let next = s.execute(incr(-7, Some(99_000), 2), b"k", 400);
    assert_eq!(
        next,
        KeyReply::Counted {
            value: -2,
            created: false,
            ttl_ms: Some(600),
            version: 2
        }
    );
    assert_eq!(get(&mut s, 400), Some((b"-2".to_vec(), Some(600), 2)));
    // Expired: starts again.
    let again = s.execute(incr(1, None, 3), b"k", 1000);
    assert!(matches!(
        again,
        KeyReply::Counted {
            value: 1,
            created: true,
            ttl_ms: None,
            ..
        }
    ));
}

#[test]
fn incr_refuses_what_is_not_an_integer_and_overflow_and_changes_nothing() {
    let mut s = shard();
    for (stored, version) in [(&b"1.5"[..], 1), (b"\"7\"", 2), (b"{\"n\":1}", 3)] {
        s.execute(put(stored, None, version), b"k", 0);
        assert_eq!(
            s.execute(incr(1, None, version + 10), b"k", 0),
            KeyReply::CounterConflict(Conflict::NotInteger)
        );
        assert_eq!(get(&mut s, 0), Some((stored.to_vec(), None, version)));
    }
    let mut raw = Vec::new();
    encode_raw(b"text/plain", b"5", &mut raw);
    s.execute(put(&raw, None, 20), b"k", 0);
    assert_eq!(
        s.execute(incr(1, None, 21), b"k", 0),
        KeyReply::CounterConflict(Conflict::NotInteger)
    );
    s.execute(put(b"9223372036854775807", None, 30), b"k", 0);
    assert_eq!(
        s.execute(incr(1, None, 31), b"k", 0),
        KeyReply::CounterConflict(Conflict::Overflow)
    );
    assert_eq!(get(&mut s, 0).map(|g| g.2), Some(30));
}

#[test]
fn incr_is_stored_above_a_newer_slot_so_it_is_never_lost() {
    let mut s = shard();
    s.execute(put(b"10", None, 500), b"k", 0);
    let r = s.execute(incr(1, None, 7), b"k", 0);
    assert!(matches!(
        r,
        KeyReply::Counted {
            value: 11,
            version: 501,
            ..
        }
    ));
    s.execute(KeyOp::Delete { version: 900 }, b"k", 0);
    let r = s.execute(incr(1, None, 8), b"k", 0);
    assert!(matches!(
        r,
        KeyReply::Counted {
            value: 1,
            created: true,
            version: 901,
            ..
        }
    ));
}

#[test]
fn incr_obeys_its_condition() {
    let mut s = shard();
    s.execute(put(b"1", None, 4), b"k", 0);
    let r = s.execute(guarded(if_match(versions(&[3])), incr(1, None, 5)), b"k", 0);
    assert!(matches!(
        r,
        KeyReply::PreconditionFailed {
            current: Some(4),
            ..
        }
    ));
    let r = s.execute(guarded(if_match(versions(&[4])), incr(1, None, 6)), b"k", 0);
    assert!(matches!(r, KeyReply::Counted { value: 2, .. }));
}

proptest! {
    /// Any sequence of increments ends at the exact sum of the ones applied; a refused one
    /// (overflow) changes nothing, and the answer of each is the stored value.
    #[test]
    fn increments_sum_exactly(deltas in proptest::collection::vec(any::<i64>(), 1..40)) {
        let mut s = shard();
        let mut model: Option<i64> = None;
        for (i, &d) in deltas.iter().enumerate() {
            let r = s.execute(incr(d, None, i as u64 + 1), b"k", 0);
            match model.unwrap_or(0).checked_add(d) {
                Some(n) => {
                    let counted = matches!(r, KeyReply::Counted { value, .. } if value == n);
                    prop_assert!(counted, "{:?}", r);
                    model = Some(n);
                }
                None => prop_assert_eq!(r, KeyReply::CounterConflict(Conflict::Overflow)),
            }
            let stored = get(&mut s, 0).map(|g| g.0);
            prop_assert_eq!(stored, model.map(|n| n.to_string().into_bytes()));
        }
    }

    /// Of any number of compare-and-set writers holding the same version, exactly the first
    /// one applied wins; every other gets 412 with the winner's version.
    #[test]
    fn one_cas_winner_per_version(writers in 2usize..10) {
        let mut s = shard();
        s.execute(put(b"0", None, 1), b"k", 0);
        let mut wins = 0;
        for w in 0..writers {
            let v = 10 + w as u64;
            let r = s.execute(guarded(if_match(versions(&[1])), put(b"1", None, v)), b"k", 0);
            match r {
                KeyReply::Stored { .. } => wins += 1,
                KeyReply::PreconditionFailed { current, .. } => prop_assert_eq!(current, Some(10)),
                other => prop_assert!(false, "{:?}", other),
            }
        }
        prop_assert_eq!(wins, 1);
    }
}
