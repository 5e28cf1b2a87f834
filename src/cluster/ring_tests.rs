//! Unit tests for `ring.rs` (a child module of it; see the `#[path]` there).

use super::*;
use proptest::prelude::*;

fn shipped() -> Ring {
    Ring::new(&["node1", "node2", "node3"], 150).expect("valid config")
}

/// Deterministic pseudo-random keys (splitmix64), so failures reproduce.
fn keys(n: usize, seed: u64) -> Vec<[u8; 8]> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            (z ^ (z >> 31)).to_le_bytes()
        })
        .collect()
}

#[test]
fn xxh64_matches_published_reference_vectors() {
    assert_eq!(Ring::key_hash(b""), 0xEF46_DB37_51D8_E999);
    assert_eq!(Ring::key_hash(b"test"), 0x4FDC_CA5D_DB67_8139);
    assert_eq!(Ring::key_hash(b"Hello World"), 0x6334_D207_1924_5BC2);
}

#[test]
fn golden_vectors_of_shipped_config() {
    let r = shipped();
    assert_eq!(r.version(), 0x406D_5F76_D48C_ADD0);
    assert_eq!(r.points.len(), 450);
    let first: Vec<(u64, u16)> = r.points[..3].iter().map(|p| (p.hash, p.node)).collect();
    assert_eq!(
        first,
        [
            (0x0132_2C36_816C_214A, 2),
            (0x0435_D129_2F9D_7783, 0),
            (0x06DB_CA79_F2CE_D4ED, 2),
        ]
    );
    let owners = [
        ("test", "node3"),
        ("user:1", "node1"),
        ("user:2", "node2"),
        ("a", "node3"),
        ("", "node3"),
        ("hello", "node1"),
        ("key-0", "node1"),
        ("key-1", "node1"),
        ("key-2", "node3"),
        ("key-3", "node3"),
        ("key-4", "node3"),
        ("key-5", "node2"),
        ("key-6", "node1"),
        ("key-7", "node3"),
        ("key-8", "node3"),
        ("key-9", "node3"),
    ];
    for (key, node) in owners {
        assert_eq!(r.node_id(r.owner(key.as_bytes())), node, "key {key:?}");
    }
}

#[test]
fn node_indices_follow_byte_order_of_ids() {
    let r = Ring::new(&["b", "node10", "a", "node9"], 4).expect("valid");
    let ids: Vec<&str> = (0..r.node_count()).map(|i| r.node_id(i)).collect();
    assert_eq!(ids, ["a", "b", "node10", "node9"]);
    assert_eq!(r.index_of("node9"), Some(3));
    assert_eq!(r.index_of("node1"), None);
}

#[test]
fn construction_order_does_not_matter() {
    let a = Ring::new(&["node1", "node2", "node3", "x"], 50).expect("valid");
    let b = Ring::new(&["x", "node3", "node1", "node2"], 50).expect("valid");
    assert_eq!(a, b);
    assert_eq!(a.version(), b.version());
    assert_ne!(
        a.version(),
        Ring::new(&["node1", "node2", "node3", "x"], 51)
            .expect("valid")
            .version()
    );
    assert_ne!(
        a.version(),
        Ring::new(&["node1", "node2", "node3x"], 50)
            .expect("valid")
            .version()
    );
}

#[test]
fn equal_hashes_keep_only_the_smaller_node() {
    let mut points = vec![
        Point { hash: 7, node: 2 },
        Point { hash: 3, node: 1 },
        Point { hash: 7, node: 0 },
        Point { hash: 7, node: 1 },
        Point { hash: 3, node: 1 },
    ];
    sort_and_dedup(&mut points);
    assert_eq!(
        points,
        [Point { hash: 3, node: 1 }, Point { hash: 7, node: 0 }]
    );
}

#[test]
fn lookup_wraps_and_arc_ends_are_inclusive() {
    let r = shipped();
    let last = r.points[r.points.len() - 1];
    assert_eq!(r.position(last.hash), r.points.len() - 1);
    assert_eq!(r.position(last.hash + 1), 0);
    assert_eq!(r.position(u64::MAX), 0);
    assert_eq!(r.position(0), 0);
    assert_eq!(r.position(r.points[1].hash), 1);
    assert_eq!(r.position(r.points[0].hash + 1), 1);
}

#[test]
fn single_node_owns_everything() {
    let r = Ring::new(&["only"], 1).expect("valid");
    assert_eq!(r.shares(), [1.0]);
    assert_eq!(r.owner(b"anything"), 0);
    assert_eq!(r.owner_alive(b"anything", |_| false), None);
}

#[test]
fn shares_and_key_spread_are_balanced() {
    let r = shipped();
    let shares = r.shares();
    assert!(
        (shares.iter().sum::<f64>() - 1.0).abs() < 1e-9,
        "{shares:?}"
    );
    let mut counts = [0usize; 3];
    let sample = keys(30_000, 1);
    for key in &sample {
        counts[r.owner(key)] += 1;
    }
    for (share, count) in shares.iter().zip(counts) {
        assert!((0.2..=0.47).contains(share), "{shares:?}");
        let seen = count as f64 / sample.len() as f64;
        assert!((seen / share - 1.0).abs() <= 0.15, "{shares:?} {counts:?}");
    }
}

#[test]
fn shares_alive_gives_dead_arcs_to_live_nodes() {
    let r = shipped();
    let all = r.shares();
    let without_1 = r.shares_alive(|i| i != 1);
    assert_eq!(without_1[1], 0.0);
    assert!((without_1.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    assert!(without_1[0] > all[0] && without_1[2] > all[2]);
    assert_eq!(r.shares_alive(|i| i == 2), [0.0, 0.0, 1.0]);
    assert_eq!(r.shares_alive(|_| false), [0.0; 3]);
    // Same arcs as a ring built without the dead node (its points of live nodes are identical).
    let smaller = Ring::new(&["node1", "node3"], 150).expect("valid").shares();
    assert!((smaller[0] - without_1[0]).abs() < 1e-12 && (smaller[1] - without_1[2]).abs() < 1e-12);
}

#[test]
fn owner_alive_none_when_all_dead() {
    let r = shipped();
    assert_eq!(r.owner_alive(b"test", |_| false), None);
}

#[test]
fn adding_a_node_moves_about_a_quarter_only_to_it() {
    let three = shipped();
    let four = Ring::new(&["node1", "node2", "node3", "node4"], 150).expect("valid");
    let new = four.index_of("node4").expect("present");
    let sample = keys(20_000, 2);
    let mut moved = 0;
    for key in &sample {
        let (before, after) = (
            three.node_id(three.owner(key)),
            four.node_id(four.owner(key)),
        );
        if before != after {
            assert_eq!(after, "node4");
            moved += 1;
        }
    }
    let moved = moved as f64 / sample.len() as f64;
    assert!((0.17..=0.33).contains(&moved), "moved {moved}");
    assert!(
        (moved / four.shares()[new] - 1.0).abs() <= 0.1,
        "moved {moved}"
    );
}

#[test]
fn invalid_configs_are_rejected_with_reason() {
    let err = |ids: &[&str], v| Ring::new(ids, v).expect_err("must be rejected").to_string();
    assert!(err(&[], 10).contains("at least one"));
    assert!(err(&["a", "b", "a"], 10).contains("duplicate node id \"a\""));
    assert!(err(&["a", ""], 10).contains("empty"));
    assert!(err(&["a"], 0).contains("virtual_nodes"));
    assert!(err(&["a"], MAX_VIRTUAL_NODES + 1).contains("virtual_nodes"));
    assert!(Ring::new(&["a"], MAX_VIRTUAL_NODES).is_ok());
    let many: Vec<String> = (0..=MAX_NODES).map(|i| format!("n{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    assert!(err(&many, 1).contains("too many nodes"));
    assert!(err(&many[..2000], MAX_VIRTUAL_NODES).contains("ring points"));
    assert_eq!(
        Ring::new(&["a", "b", "a"], 10).expect_err("duplicate"),
        RingError::DuplicateId("a".to_string())
    );
    assert_eq!(
        err(&many[..2000], MAX_VIRTUAL_NODES),
        "2000 nodes x 10000 virtual nodes = 20000000 ring points (max 16777216)"
    );
    assert_eq!(
        Ring::new(&many[..MAX_NODES], 1)
            .expect("max nodes")
            .node_count(),
        MAX_NODES
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn owner_matches_linear_scan(key in proptest::collection::vec(any::<u8>(), 0..32),
                                 vnodes in 1u32..40, n in 1usize..6) {
        let ids: Vec<String> = (0..n).map(|i| format!("n{i}")).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        let r = Ring::new(&ids, vnodes).expect("valid");
        let h = Ring::key_hash(&key);
        let p = r.points.iter().find(|p| p.hash >= h).unwrap_or(&r.points[0]);
        prop_assert_eq!(r.owner(&key), usize::from(p.node));
        prop_assert_eq!(r.owner_alive(&key, |_| true), Some(r.owner(&key)));
    }

    #[test]
    fn dead_nodes_move_only_their_keys(key in proptest::collection::vec(any::<u8>(), 0..32),
                                       dead in proptest::collection::vec(any::<bool>(), 5)) {
        let ids = ["a", "b", "c", "d", "e"];
        let r = Ring::new(&ids, 20).expect("valid");
        let alive = |i: usize| !dead[i];
        let owner = r.owner(&key);
        let got = r.owner_alive(&key, alive);
        if alive(owner) {
            prop_assert_eq!(got, Some(owner));
        }
        // Equivalent to a ring of only the live nodes (same points for them).
        let live: Vec<&str> = ids.iter().copied().filter(|id| alive(r.index_of(id).unwrap_or(0))).collect();
        match got {
            None => prop_assert!(live.is_empty()),
            Some(idx) => {
                let small = Ring::new(&live, 20).expect("valid");
                prop_assert_eq!(r.node_id(idx), small.node_id(small.owner(&key)));
            }
        }
    }
}

#[test]
fn preference_lists_start_at_the_owner_hold_distinct_nodes_and_nest() {
    let ids = ["a", "b", "c", "d"];
    let ring = Ring::new(&ids, 50).expect("ring");
    for i in 0..2000u32 {
        let key = format!("key:{i}");
        let k = key.as_bytes();
        let p3 = ring.preference(k, 3);
        assert_eq!(p3.len(), 3);
        assert_eq!(p3.get(0), Some(ring.owner(k)));
        let v: Vec<usize> = p3.iter().collect();
        let mut d = v.clone();
        d.sort_unstable();
        d.dedup();
        assert_eq!(d.len(), 3, "{key}: {v:?}");
        let p2: Vec<usize> = ring.preference(k, 2).iter().collect();
        assert_eq!(p2, v[..2], "{key}");
        // Never more copies than nodes.
        assert_eq!(ring.preference(k, 9).len(), 4);
        assert_eq!(ring.clockwise(k).len(), 4);
    }
}
