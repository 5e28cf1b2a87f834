use std::collections::HashMap;

use proptest::prelude::*;

use super::*;

fn hash(key: &[u8]) -> u64 {
    ahash::RandomState::with_seeds(1, 2, 3, 4).hash_one(key)
}

fn add(t: &mut SpaceSaving, key: &str, w: f64) {
    t.add(hash(key.as_bytes()), key.as_bytes(), w);
}

fn count(t: &SpaceSaving, key: &str) -> Option<(f64, f64)> {
    t.get(hash(key.as_bytes()), key.as_bytes())
        .map(|c| (c.count(), c.lower()))
}

#[test]
fn counts_exactly_while_there_is_room() {
    let mut t = SpaceSaving::new(4);
    for (k, n) in [("a", 5), ("b", 3), ("c", 1)] {
        for _ in 0..n {
            add(&mut t, k, 1.0);
        }
    }
    assert_eq!(count(&t, "a"), Some((5.0, 5.0)));
    assert_eq!(count(&t, "b"), Some((3.0, 3.0)));
    assert_eq!(count(&t, "c"), Some((1.0, 1.0)));
    assert_eq!(count(&t, "d"), None);
    assert_eq!(t.min(), 0.0, "room left: an untracked key may have 0 reads");
    t.check();
}

#[test]
fn a_new_key_takes_over_the_smallest_counter_and_inherits_its_count_as_error() {
    let mut t = SpaceSaving::new(2);
    add(&mut t, "a", 5.0);
    add(&mut t, "b", 2.0);
    add(&mut t, "c", 1.0);
    assert_eq!(count(&t, "b"), None, "b had the smallest count");
    assert_eq!(count(&t, "c"), Some((3.0, 1.0)), "count 2+1, error 2");
    assert_eq!(count(&t, "a"), Some((5.0, 5.0)));
    assert_eq!(t.min(), 3.0);
    t.check();
}

#[test]
fn a_longer_key_taking_a_counter_over_is_stored_whole() {
    let mut t = SpaceSaving::new(1);
    add(&mut t, "k", 1.0);
    let long = "x".repeat(300);
    add(&mut t, &long, 1.0);
    assert_eq!(count(&t, &long), Some((2.0, 1.0)));
    assert_eq!(count(&t, "k"), None);
    let keys: Vec<&[u8]> = t.iter().map(|(_, c)| c.key()).collect();
    assert_eq!(keys, vec![long.as_bytes()]);
}

#[test]
fn keys_with_one_hash_are_told_apart_by_their_bytes() {
    // The index is keyed by the caller's hash; equal hashes must not merge keys.
    let mut t = SpaceSaving::new(3);
    for (k, w) in [
        (&b"a"[..], 1.0),
        (b"b", 2.0),
        (b"a", 1.0),
        (b"c", 4.0),
        (b"d", 1.0),
    ] {
        t.add(7, k, w);
        t.check();
    }
    assert_eq!(t.get(7, b"a").map(Counter::count), None);
    assert_eq!(t.get(7, b"b").map(Counter::count), Some(2.0));
    assert_eq!(t.get(7, b"c").map(Counter::count), Some(4.0));
    assert_eq!(t.get(7, b"d").map(Counter::lower), Some(1.0));
}

#[test]
fn scaling_keeps_order_and_bounds() {
    let mut t = SpaceSaving::new(2);
    add(&mut t, "a", 8.0);
    add(&mut t, "b", 4.0);
    add(&mut t, "c", 2.0);
    t.scale(0.25);
    assert_eq!(count(&t, "a"), Some((2.0, 2.0)));
    assert_eq!(count(&t, "c"), Some((1.5, 0.5)));
    t.check();
}

#[test]
fn the_capacity_is_clamped() {
    assert_eq!(SpaceSaving::new(0).cap, 1);
    assert_eq!(SpaceSaving::new(1 << 20).cap, MAX_CAPACITY);
}

/// A stream of (key, weight) drawn from a skewed set (low indices far more often), so some keys
/// are heavy and many are light.
fn stream() -> impl Strategy<Value = Vec<(u16, u8)>> {
    let key = prop_oneof![
        6 => 0u16..4,
        3 => 0u16..40,
        1 => 0u16..2000,
    ];
    proptest::collection::vec((key, 1u8..=4), 0..3000)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Space-Saving's guarantees against an exact count: the counts add up to the total weight
    /// N, every key heavier than N/k holds a counter, every counter is at least its key's true
    /// weight and at most its error (≤ N/k) above it, and an untracked key weighs at most the
    /// smallest count.
    #[test]
    fn matches_the_exact_counts_within_n_over_k(k in 1usize..40, s in stream(), same_hash: bool) {
        let h = |key: &[u8]| if same_hash { 42 } else { hash(key) };
        let mut t = SpaceSaving::new(k);
        let mut exact: HashMap<Vec<u8>, f64> = HashMap::new();
        let mut n = 0.0;
        for (i, &(key, w)) in s.iter().enumerate() {
            let key = format!("key:{key}").into_bytes();
            let w = f64::from(w);
            t.add(h(&key), &key, w);
            *exact.entry(key).or_default() += w;
            n += w;
            if i % 500 == 0 {
                t.check();
            }
        }
        t.check();
        let bound = n / k as f64;
        let total: f64 = t.iter().map(|(_, c)| c.count()).sum();
        prop_assert_eq!(total, n, "counts add up to the weight seen");
        for (i, c) in t.iter() {
            prop_assert_eq!(t.at(i).key(), c.key());
            let truth = exact[c.key()];
            prop_assert!(c.lower() <= truth && truth <= c.count(),
                "{:?}: true {} outside [{}, {}]", c.key(), truth, c.lower(), c.count());
            prop_assert!(c.count() - c.lower() <= bound, "error above N/k");
        }
        for (key, &truth) in &exact {
            if truth > bound {
                prop_assert!(t.get(h(key), key).is_some(),
                    "{:?} weighs {} > N/k = {} but holds no counter", key, truth, bound);
            }
            if t.get(h(key), key).is_none() {
                prop_assert!(truth <= t.min(), "an untracked key weighs at most the minimum");
            }
        }
    }
}
