//! Stripes alone, and every mutation path of a `Shard` bumping them.

use std::sync::Arc;

use super::{Stripes, Tag, STRIPES};
use crate::storage::{Entry, KeyOp, Shard, ShardLimits};

const NOW: u64 = 1_000_000;

fn tag_of(s: &Stripes, key: &[u8]) -> Tag {
    s.watch(Stripes::stripe_of(s.hash(key)))
}

#[test]
fn a_tag_stays_current_until_a_bump_of_its_stripe() {
    let s = Stripes::new();
    let t = tag_of(&s, b"k");
    assert!(s.is_current(t));
    // A second watcher of the same stripe gets the same tag (no write needed).
    assert_eq!(tag_of(&s, b"k"), t);
    s.bump(b"k");
    assert!(!s.is_current(t));
    // The bump cleared the watch: a new tag differs from the old one for good.
    let t2 = tag_of(&s, b"k");
    assert_ne!(t2, t);
    assert!(s.is_current(t2));
    s.bump(b"k");
    s.bump(b"k");
    assert!(!s.is_current(t2));
    assert!(!s.is_current(t));
}

#[test]
fn an_unwatched_stripe_is_left_alone() {
    let s = Stripes::new();
    // Not armed: nothing is even hashed.
    s.bump(b"k");
    assert!(!s.armed());
    let t = tag_of(&s, b"k");
    assert!(s.armed());
    // Another key of another stripe: not bumped, the tag holds.
    let other = (0..10_000u32)
        .map(|i| format!("o{i}"))
        .find(|k| Stripes::stripe_of(s.hash(k.as_bytes())) != t.stripe as usize)
        .expect("a key of another stripe");
    s.bump(other.as_bytes());
    assert!(s.is_current(t));
    let (before, stripe) = (
        s.words[Stripes::stripe_of(s.hash(other.as_bytes()))]
            .load(std::sync::atomic::Ordering::Relaxed),
        t.stripe,
    );
    assert_eq!(before, 0, "an unwatched stripe is never written");
    assert_eq!(stripe as usize, Stripes::stripe_of(s.hash(b"k")));
}

#[test]
fn bump_all_invalidates_every_tag() {
    let s = Stripes::new();
    let tags: Vec<Tag> = (0..100u32)
        .map(|i| tag_of(&s, format!("k{i}").as_bytes()))
        .collect();
    s.bump_all();
    assert!(tags.iter().all(|t| !s.is_current(*t)));
}

#[test]
fn keys_spread_over_the_stripes() {
    let s = Stripes::new();
    let mut used = vec![false; STRIPES];
    for i in 0..(STRIPES as u32 * 8) {
        used[Stripes::stripe_of(s.hash(format!("key:{i}").as_bytes()))] = true;
    }
    let n = used.iter().filter(|u| **u).count();
    assert!(n > STRIPES * 99 / 100, "only {n} of {STRIPES} stripes used");
}

fn shard() -> (Shard, Arc<Stripes>) {
    let stripes = Arc::new(Stripes::new());
    let mut sh = Shard::new(ShardLimits {
        max_entries: 0,
        max_bytes: 0,
        tombstone_ttl_ms: 60_000,
    });
    sh.set_stripes(Arc::clone(&stripes));
    (sh, stripes)
}

/// `mutate` changes key `k` of a shard holding it at version 10: a tag taken before must be
/// stale after, and a tag taken after a read-only operation must stay current.
fn invalidates(what: &str, mutate: impl FnOnce(&mut Shard)) {
    let (mut sh, s) = shard();
    sh.execute(
        KeyOp::Put {
            value: "1".into(),
            ttl_ms: None,
            version: 10,
        },
        b"k",
        NOW,
    );
    let t = tag_of(&s, b"k");
    // Reads change nothing.
    sh.execute(KeyOp::Get, b"k", NOW);
    assert!(s.is_current(t), "{what}: a read bumped");
    mutate(&mut sh);
    assert!(!s.is_current(t), "{what}: the mutation left a copy valid");
}

#[test]
fn every_mutation_path_bumps() {
    let put = |v: u64| KeyOp::Put {
        value: "2".into(),
        ttl_ms: None,
        version: v,
    };
    invalidates("versioned put", |sh| {
        sh.execute(put(11), b"k", NOW);
    });
    invalidates("raw put parts", |sh| {
        sh.execute_put_parts(b"k", b"h", b"b", Some(5), 11, NOW);
    });
    invalidates("unversioned put", |sh| {
        sh.put(b"k", b"3", None, NOW);
    });
    invalidates("versioned delete (tombstone)", |sh| {
        sh.execute(KeyOp::Delete { version: 11 }, b"k", NOW);
    });
    invalidates("unversioned delete", |sh| {
        sh.delete(b"k", NOW);
    });
    invalidates("increment", |sh| {
        sh.execute(
            KeyOp::Incr {
                delta: 1,
                ttl_ms: None,
                version: 11,
            },
            b"k",
            NOW,
        );
    });
    invalidates("import / repair load", |sh| {
        let e = Entry {
            key: bytes::Bytes::from_static(b"k"),
            value: "9".into(),
            ttl_ms: None,
            version: 12,
            tomb: false,
        };
        sh.load(vec![e], false, NOW);
    });
    invalidates("flush", |sh| {
        sh.flush_page(b"", 20, 0, 1024, NOW, |_| true);
    });
    invalidates("hand-over removal", |sh| {
        assert!(sh.remove_if_version(b"k", 10, NOW));
    });
    invalidates("ring change", |sh| {
        sh.retain(NOW, |_| false);
    });
    invalidates("clear", |sh| sh.clear());
}

#[test]
fn a_superseded_write_changes_nothing_and_bumps_nothing() {
    let (mut sh, s) = shard();
    let put = |v: u64| KeyOp::Put {
        value: "1".into(),
        ttl_ms: None,
        version: v,
    };
    sh.execute(put(10), b"k", NOW);
    let t = tag_of(&s, b"k");
    sh.execute(put(5), b"k", NOW);
    sh.execute(KeyOp::Delete { version: 4 }, b"k", NOW);
    assert!(s.is_current(t));
}

/// The cost of the bump on writes, for callgrind: `STRIPES_MODE=none|unarmed|armed` picks the
/// shard's setup (no stripes; stripes, no copy ever made; a copy made, the written stripes
/// unwatched), then 1M versioned PUTs replace 1000 keys. Compare the totals of
/// `valgrind --tool=callgrind <release test binary> --ignored --exact
/// storage::stripes::tests::bump_cost_puts` across modes: the difference ÷ 1M is the cost per PUT.
#[test]
#[ignore = "a measurement: run the release test binary under callgrind"]
fn bump_cost_puts() {
    const PUTS: u64 = 1_000_000;
    let mode = std::env::var("STRIPES_MODE").unwrap_or_default();
    let (mut sh, s) = shard();
    let keys: Vec<Vec<u8>> = (0..1000)
        .map(|i| format!("key:{i:012}").into_bytes())
        .collect();
    match mode.as_str() {
        "none" => sh = Shard::new(sh.limits()),
        "unarmed" => {}
        // A copy of a key no PUT below writes: armed, the stripes written here unwatched.
        "armed" => {
            let _ = tag_of(&s, b"elsewhere");
        }
        other => panic!("STRIPES_MODE={other:?}: none, unarmed or armed"),
    }
    for i in 0..PUTS {
        let key = &keys[(i % 1000) as usize];
        sh.execute_put(
            key,
            b"\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"",
            None,
            10 + i,
            NOW,
        );
    }
    std::hint::black_box(&sh);
}
