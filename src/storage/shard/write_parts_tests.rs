//! Tests of two-part writes (a raw PUT's stored header and its body, see `storage::lww::Write`):
//! the slot holds exactly the joined bytes, the accounting is that of the joined value, and LWW
//! orders them as the joined value (a child module of `write.rs`).

use proptest::prelude::*;

use crate::storage::value::{encode_raw, encode_raw_head};
use crate::storage::{Entry, KeyReply, ShardLimits};

use super::*;

fn shard() -> Shard {
    Shard::new(ShardLimits {
        max_entries: 0,
        max_bytes: 0,
        tombstone_ttl_ms: 1_000,
    })
}

fn head(ct: &[u8]) -> Vec<u8> {
    let mut h = Vec::new();
    encode_raw_head(ct, &mut h);
    h
}

fn raw(ct: &[u8], body: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    encode_raw(ct, body, &mut v);
    v
}

fn stored(s: &mut Shard, key: &[u8]) -> Option<(Vec<u8>, u64)> {
    s.get_versioned(key, 0).map(|(v, _, ver)| (v.to_vec(), ver))
}

fn all(s: &Shard) -> Vec<Entry> {
    s.page_all(0, usize::MAX, 0).entries
}

const CREATED: KeyReply = KeyReply::Stored { created: true };
const REPLACED: KeyReply = KeyReply::Stored { created: false };

#[test]
fn a_new_slot_holds_head_then_body_and_is_accounted_as_one_value() {
    let (mut parts, mut whole) = (shard(), shard());
    let h = head(b"image/png");
    let reply = parts.execute_put_parts(b"k", &h, b"\x89PNG", Some(5_000), 3, 0);
    assert_eq!(reply, CREATED);
    let joined = raw(b"image/png", b"\x89PNG");
    assert_eq!(whole.execute_put(b"k", &joined, Some(5_000), 3, 0), CREATED);
    assert_eq!(all(&parts), all(&whole));
    assert_eq!(parts.stats(), whole.stats());
    assert_eq!(stored(&mut parts, b"k"), Some((joined, 3)));
}

#[test]
fn replacing_with_the_same_size_rewrites_both_parts_in_place() {
    let mut s = shard();
    s.execute_put(b"k", &raw(b"text/a", b"old!"), None, 1, 0);
    let bytes = s.bytes();
    let reply = s.execute_put_parts(b"k", &head(b"text/b"), b"new!", None, 2, 0);
    assert_eq!(reply, REPLACED);
    assert_eq!(stored(&mut s, b"k"), Some((raw(b"text/b", b"new!"), 2)));
    assert_eq!(s.bytes(), bytes);
    // And a JSON value of the same length over a raw one (empty head).
    let json = b"\"0123456789\"";
    assert_eq!(json.len(), raw(b"text/b", b"new!").len());
    assert_eq!(s.execute_put_parts(b"k", &[], json, None, 3, 0), REPLACED);
    assert_eq!(stored(&mut s, b"k"), Some((json.to_vec(), 3)));
    assert_eq!(s.bytes(), bytes);
}

#[test]
fn replacing_with_another_size_reallocates_and_keeps_the_accounting() {
    for (ct, body) in [
        (&b"a/b"[..], &b""[..]),
        (b"application/x-long-type", b"0123456789"),
    ] {
        let (mut parts, mut whole) = (shard(), shard());
        for s in [&mut parts, &mut whole] {
            s.execute_put(b"k", b"[1,2,3,4,5,6,7]", None, 1, 0);
            s.execute_put(b"other", b"1", None, 1, 0);
        }
        let reply = parts.execute_put_parts(b"k", &head(ct), body, Some(9), 2, 0);
        assert_eq!(reply, REPLACED);
        whole.execute_put(b"k", &raw(ct, body), Some(9), 2, 0);
        assert_eq!(stored(&mut parts, b"k"), Some((raw(ct, body), 2)));
        assert_eq!(all(&parts), all(&whole));
        assert_eq!(parts.bytes(), whole.bytes());
    }
}

#[test]
fn a_replayed_two_part_write_ties_with_its_stored_form_and_is_a_no_op() {
    let mut s = shard();
    let h = head(b"image/png");
    assert_eq!(s.execute_put_parts(b"k", &h, b"abc", None, 7, 0), CREATED);
    // The same write again, split the same way or joined (a replica copy, a hint): no-op.
    assert_eq!(
        s.execute_put_parts(b"k", &h, b"abc", None, 7, 0),
        KeyReply::Superseded
    );
    let joined = raw(b"image/png", b"abc");
    assert_eq!(
        s.execute_put(b"k", &joined, None, 7, 0),
        KeyReply::Superseded
    );
    assert_eq!(s.stats().sets, 1);
}

#[test]
fn at_the_same_version_the_larger_joined_bytes_win() {
    let mut s = shard();
    s.execute_put(b"k", &raw(b"image/png", b"abc"), None, 7, 0);
    // Smaller body, same head: loses; larger: wins.
    let h = head(b"image/png");
    assert_eq!(
        s.execute_put_parts(b"k", &h, b"abb", None, 7, 0),
        KeyReply::Superseded
    );
    assert_eq!(s.execute_put_parts(b"k", &h, b"abd", None, 7, 0), REPLACED);
    // The content type is compared before the body: a larger type wins with a smaller body,
    // and the length byte comes first: a longer type wins over a larger shorter one.
    let bigger = head(b"image/pnh");
    assert_eq!(
        s.execute_put_parts(b"k", &bigger, b"", None, 7, 0),
        REPLACED
    );
    let longer = head(b"image/pngx");
    assert_eq!(
        s.execute_put_parts(b"k", &longer, b"", None, 7, 0),
        REPLACED
    );
    // A JSON value (never starts with the raw tag 0) beats any raw value at the same version.
    assert_eq!(s.execute_put_parts(b"k", &[], b"0", None, 7, 0), REPLACED);
    assert_eq!(
        s.execute_put_parts(b"k", &h, b"zzz", None, 7, 0),
        KeyReply::Superseded
    );
    // A tombstone beats both; an older version loses whatever its bytes.
    assert_eq!(s.execute_delete(b"k", 7, 0), KeyReply::Deleted(true));
    assert_eq!(
        s.execute_put_parts(b"k", &h, b"zzz", None, 6, 0),
        KeyReply::Superseded
    );
    assert_eq!(s.execute_put_parts(b"k", &h, b"", None, 8, 0), CREATED);
}

/// One write: (key, content type or `None` for JSON, body, version).
type TestWrite = (u8, Option<Vec<u8>>, Vec<u8>, u64);

fn writes() -> impl Strategy<Value = Vec<TestWrite>> {
    let ct = proptest::option::of(proptest::collection::vec(b'a'..b'c', 0..3));
    let w = (0u8..3, ct, proptest::collection::vec(0u8..3, 0..4), 1u64..4);
    proptest::collection::vec(w, 0..24)
}

proptest! {
    /// Writes applied as two parts and the same writes applied joined leave the same shard
    /// (slot bytes, versions, accounting, counters) and get the same replies.
    #[test]
    fn two_part_writes_equal_joined_writes(ops in writes()) {
        let (mut parts, mut whole) = (shard(), shard());
        for (key, ct, body, version) in ops {
            let key = [b'k', key];
            let (h, joined) = match &ct {
                Some(ct) => (head(ct), raw(ct, &body)),
                None => (Vec::new(), body.clone()),
            };
            let a = parts.execute_put_parts(&key, &h, &body, None, version, 0);
            let b = whole.execute_put(&key, &joined, None, version, 0);
            prop_assert_eq!(a, b);
        }
        prop_assert_eq!(all(&parts), all(&whole));
        prop_assert_eq!(parts.stats(), whole.stats());
    }
}
