//! The copy table alone: fills, the four conditions of a hit, bounds.

use std::time::Duration;

use bytes::Bytes;

use super::*;

const NOW: u64 = 1_000_000;
const COPY_TTL_MS: u64 = 50;

fn copies(top_k: usize) -> LocalCopies {
    LocalCopies::new(&HotKeysConfig {
        top_k,
        copy_ttl: Duration::from_millis(COPY_TTL_MS),
        ..HotKeysConfig::default()
    })
}

/// What a lookup of `key` at `now` answers: (value, TTL left, version) or nothing.
fn read(c: &LocalCopies, s: &Stripes, key: &str, now: u64) -> Option<(Bytes, Option<u64>, u64)> {
    let h = s.hash(key.as_bytes());
    match c.lookup(s, key.as_bytes(), h, now, |hit| {
        (hit.value.clone(), hit.ttl_ms, hit.version)
    }) {
        Lookup::Hit(r) => Some(r),
        Lookup::Miss(miss_hash) => {
            assert_eq!(miss_hash, h);
            None
        }
    }
}

/// Watch `key` at `at`, then fill it with `value` (the owner's answer).
fn fill_at(
    c: &LocalCopies,
    s: &Stripes,
    key: &str,
    value: &str,
    ttl: Option<u64>,
    at: u64,
) -> bool {
    let f = c.watch(s, s.hash(key.as_bytes()), at);
    let (k, v) = (
        Bytes::copy_from_slice(key.as_bytes()),
        Bytes::copy_from_slice(value.as_bytes()),
    );
    c.fill(s, f, &k, &v, ttl, 7)
}

#[test]
fn a_fill_is_served_until_its_key_is_written() {
    let (c, s) = (copies(4), Stripes::new());
    assert!(c.is_empty());
    assert_eq!(read(&c, &s, "k", NOW), None);
    assert!(fill_at(&c, &s, "k", "v1", None, NOW));
    assert!(!c.is_empty());
    let (v, ttl, ver) = read(&c, &s, "k", NOW + 1).expect("a hit");
    assert_eq!((&v[..], ttl, ver), (&b"v1"[..], None, 7));
    // The owner's shard applies a write of k: the copy is gone at once (no time passes).
    s.bump(b"k");
    assert_eq!(read(&c, &s, "k", NOW + 1), None);
    assert!(c.is_empty(), "an invalid copy met is dropped");
}

#[test]
fn a_write_between_watch_and_answer_leaves_no_copy_to_serve() {
    let (c, s) = (copies(4), Stripes::new());
    let f = c.watch(&s, s.hash(b"k"), NOW);
    // The owner read the old value, then applied a write and bumped, before the answer landed.
    s.bump(b"k");
    let (k, v) = (Bytes::from_static(b"k"), Bytes::from_static(b"old"));
    assert!(c.fill(&s, f, &k, &v, None, 1));
    assert_eq!(read(&c, &s, "k", NOW), None);
}

#[test]
fn copy_ttl_bounds_a_copy() {
    let (c, s) = (copies(4), Stripes::new());
    assert!(fill_at(&c, &s, "k", "v", None, NOW));
    assert!(read(&c, &s, "k", NOW + COPY_TTL_MS - 1).is_some());
    assert_eq!(read(&c, &s, "k", NOW + COPY_TTL_MS), None);
}

#[test]
fn the_values_ttl_counts_down_from_the_fetch_and_ends_the_copy() {
    let (c, s) = (copies(4), Stripes::new());
    // 30 ms left at the owner's read, which was no earlier than the fetch was sent.
    assert!(fill_at(&c, &s, "k", "v", Some(30), NOW));
    assert_eq!(read(&c, &s, "k", NOW + 10).map(|r| r.1), Some(Some(20)));
    assert_eq!(read(&c, &s, "k", NOW + 29).map(|r| r.1), Some(Some(1)));
    assert_eq!(read(&c, &s, "k", NOW + 30), None);
}

#[test]
fn a_later_fetch_wins_over_an_earlier_answer_arriving_last() {
    let (c, s) = (copies(4), Stripes::new());
    let early = c.watch(&s, s.hash(b"k"), NOW);
    s.bump(b"k");
    let late = c.watch(&s, s.hash(b"k"), NOW);
    let k = Bytes::from_static(b"k");
    assert!(c.fill(&s, late, &k, &Bytes::from_static(b"new"), None, 2));
    assert!(!c.fill(&s, early, &k, &Bytes::from_static(b"old"), None, 1));
    assert_eq!(read(&c, &s, "k", NOW).map(|r| r.2), Some(2));
}

#[test]
fn the_table_is_bounded_and_keeps_serving_what_it_holds() {
    let (c, s) = (copies(2), Stripes::new());
    let slots = slots_for(2);
    for i in 0..100 {
        fill_at(&c, &s, &format!("k{i}"), "v", None, NOW + i);
    }
    assert!(c.held.get() <= slots);
    let hits = (0..100)
        .filter(|i| read(&c, &s, &format!("k{i}"), NOW + 100).is_some())
        .count();
    assert_eq!(hits, c.held.get());
    assert!(hits >= 1);
}

#[test]
fn the_byte_budget_refuses_a_fill_that_would_pass_it() {
    let (c, s) = (copies(64), Stripes::new());
    let big = "x".repeat(COPY_BYTES_PER_CORE / 2 + 1);
    assert!(fill_at(&c, &s, "a", &big, None, NOW));
    assert!(!fill_at(&c, &s, "b", &big, None, NOW));
    // Replacing the same key frees its old bytes first.
    assert!(fill_at(&c, &s, "a", &big, None, NOW + 1));
    assert_eq!(c.bytes.get(), big.len());
}

#[test]
fn slots_are_a_power_of_two_twice_top_k() {
    assert_eq!(slots_for(1), 2);
    assert_eq!(slots_for(64), 128);
    assert_eq!(slots_for(100), 256);
}
