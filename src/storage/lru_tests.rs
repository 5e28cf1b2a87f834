//! Unit tests for `lru.rs` (a child module of it; see the `#[path]` there).

use super::*;

fn keys(slab: &LruSlab) -> Vec<Vec<u8>> {
    slab.iter_lru_to_mru()
        .map(|(_, e)| e.key().to_vec())
        .collect()
}

#[test]
fn slot_is_at_most_48_bytes() {
    let size = std::mem::size_of::<Entry>();
    println!("size_of::<Entry>() = {size}");
    assert!(size <= 48, "slab entry grew to {size} bytes");
}

#[test]
fn push_touch_remove_keep_lru_order() {
    let mut slab = LruSlab::default();
    let a = slab.push_front(b"a", b"", b"1", None, 0, false).unwrap();
    let b = slab.push_front(b"b", b"", b"22", None, 0, false).unwrap();
    let c = slab.push_front(b"c", b"", b"", None, 0, false).unwrap();
    assert_eq!(keys(&slab), [b"a", b"b", b"c"]);
    assert!(slab.touch(a));
    assert_eq!(keys(&slab), [b"b", b"c", b"a"]);
    assert_eq!(slab.lru(), Some(b));
    assert_eq!(slab.mru(), Some(a));
    assert_eq!(slab.remove(c).as_deref(), Some(&b"c"[..]));
    assert_eq!(keys(&slab), [b"b", b"a"]);
    assert!(!slab.touch(c), "a freed slot is not live");
    assert!(slab.remove(c).is_none());
    slab.check_invariants();
}

#[test]
fn freed_slots_are_reused_before_growing() {
    let mut slab = LruSlab::with_capacity(2);
    let a = slab.push_front(b"a", b"", b"", None, 0, false).unwrap();
    let b = slab.push_front(b"b", b"", b"", None, 0, false).unwrap();
    slab.remove(a);
    slab.remove(b);
    let c = slab.push_front(b"c", b"", b"", None, 0, false).unwrap();
    let d = slab.push_front(b"d", b"", b"", None, 0, false).unwrap();
    assert_eq!((c, d), (b, a), "free list is LIFO over freed slots");
    assert_eq!(slab.slot_count(), 2);
    slab.check_invariants();
}

#[test]
fn replace_value_keeps_key_and_reports_old_len() {
    let mut slab = LruSlab::default();
    let a = slab
        .push_front(b"key", b"", b"abc", None, 0, false)
        .unwrap();
    assert_eq!(slab.replace_value(a, b"", b"xyz", None, 0, false), Some(6));
    assert_eq!(slab.get(a as usize).unwrap().value(), b"xyz");
    let deadline = NonZeroU64::new(10);
    assert_eq!(
        slab.replace_value(a, b"", b"longer", deadline, 7, false),
        Some(6)
    );
    let entry = slab.get(a as usize).unwrap();
    assert_eq!((entry.key(), entry.value()), (&b"key"[..], &b"longer"[..]));
    assert!(entry.is_expired(10) && !entry.is_expired(9));
    assert_eq!((entry.version(), entry.is_tomb()), (7, false));
    assert_eq!(entry.remaining_ttl(4), Some(6));
    slab.check_invariants();
}

#[test]
fn empty_key_and_value_are_a_live_entry() {
    let mut slab = LruSlab::default();
    let a = slab.push_front(b"", b"", b"", None, 0, false).unwrap();
    assert!(slab.get(a as usize).is_some());
    assert_eq!(slab.len(), 1);
    slab.check_invariants();
}

#[test]
fn clear_forgets_all_slots() {
    let mut slab = LruSlab::default();
    slab.push_front(b"a", b"", b"", None, 0, false);
    slab.clear();
    assert!(slab.is_empty() && slab.slot_count() == 0 && slab.lru().is_none());
    slab.check_invariants();
}

#[test]
fn a_value_becomes_a_tombstone_and_back_keeping_its_key() {
    let mut slab = LruSlab::default();
    let a = slab
        .push_front(b"key", b"", b"abc", None, 3, false)
        .unwrap();
    assert_eq!(
        slab.replace_value(a, b"", b"", NonZeroU64::new(9), 4, true),
        Some(6)
    );
    let entry = slab.get(a as usize).unwrap();
    assert_eq!((entry.key(), entry.value()), (&b"key"[..], &b""[..]));
    assert_eq!((entry.version(), entry.is_tomb()), (4, true));
    assert_eq!(slab.replace_value(a, b"", b"v", None, 5, false), Some(3));
    let entry = slab.get(a as usize).unwrap();
    assert_eq!(
        (entry.value(), entry.version(), entry.is_tomb()),
        (&b"v"[..], 5, false)
    );
    let t = slab.push_front(b"gone", b"", b"", None, 8, true).unwrap();
    assert!(slab.get(t as usize).unwrap().is_tomb());
    slab.check_invariants();
}

#[test]
fn two_part_values_are_stored_joined_on_push_and_replace() {
    let mut slab = LruSlab::default();
    let a = slab
        .push_front(b"key", b"\0\x01t", b"body", None, 1, false)
        .unwrap();
    assert_eq!(slab.get(a as usize).unwrap().value(), b"\0\x01tbody");
    // Same size: rewritten in place, head and body.
    assert_eq!(
        slab.replace_value(a, b"\0\x02uv", b"ody", None, 2, false),
        Some(10)
    );
    assert_eq!(slab.get(a as usize).unwrap().value(), b"\0\x02uvody");
    // Another size, then an empty head.
    assert_eq!(
        slab.replace_value(a, b"\0\0", b"x", None, 3, false),
        Some(10)
    );
    assert_eq!(slab.get(a as usize).unwrap().value(), b"\0\0x");
    assert_eq!(slab.replace_value(a, b"", b"[1]", None, 4, false), Some(6));
    assert_eq!(slab.get(a as usize).unwrap().value(), b"[1]");
    assert_eq!(slab.get(a as usize).unwrap().key(), b"key");
    slab.check_invariants();
}
