//! Every node gives the same answer for every key (value, version, miss, TTL, delete), from the
//! key's owner, and each key is stored on its replicas and nowhere else.

use std::collections::HashMap;
use std::time::Duration;

use crate::cluster_common::{
    call, etag, etag_version, get, is_replica, key_path, local_entries, node_of, put, replicas_of,
    Conn, Rng, IDS,
};
use crate::common::Resp;
use crate::helpers::{
    assert_error, assert_no_membership_change, assert_same, json_str, start, value_for,
};
use dcache::clock::Clock;
use serde_json::{json, Value};

pub fn every_node_answers_every_key_identically() {
    let (c, base) = start(1, None);
    let mut rng = Rng(1);
    let mut keys: Vec<String> = (0..60).map(|i| format!("cons-{i}")).collect();
    for k in [
        "ключ-ü",
        "with space",
        "a/b",
        "q?x&y=1#f",
        "emoji-🚀",
        "%41",
        "+plus+",
    ] {
        keys.push(k.to_string());
    }
    let mut conns: Vec<Conn> = c.addrs.iter().map(|a| Conn::open(*a)).collect();
    let mut owners_seen = [0usize; 3];
    let mut expected: HashMap<String, Value> = HashMap::new();
    // The version (ETag) each key's acknowledged write got.
    let mut versions: HashMap<String, String> = HashMap::new();

    // PUT each key via a random node: coordinated by its owner, whoever was asked.
    for (i, key) in keys.iter().enumerate() {
        let owner = c.owner(key);
        owners_seen[owner] += 1;
        let asked = rng.below(3);
        let value = value_for(i, key, 1);
        let body = if i % 2 == 0 {
            json!({"value": value, "ttl": 300})
        } else {
            json!({"value": value})
        };
        let r = conns[asked].call(
            "PUT",
            &key_path(key),
            &[],
            Some(body.to_string().as_bytes()),
        );
        assert_eq!(
            r.status,
            201,
            "PUT {key:?} via {}: {}",
            IDS[asked],
            r.text()
        );
        assert_eq!(node_of(&r), IDS[owner], "PUT {key:?} via {}", IDS[asked]);
        let by = r.header("x-cache-forwarded-by");
        if asked == owner {
            assert_eq!(by, None, "PUT {key:?} served by its owner");
        } else {
            assert_eq!(by, Some(IDS[asked]), "PUT {key:?} forwarded");
        }
        let mut ack = json!({"key": key, "created": true});
        if i % 2 == 0 {
            ack["ttl"] = json!(300);
        }
        assert_eq!(r.json(), ack, "PUT {key:?}");
        expected.insert(key.clone(), value);
        versions.insert(key.clone(), etag(&r));
    }
    assert!(
        owners_seen.iter().all(|&n| n > 5),
        "keys spread over every node: {owners_seen:?}"
    );

    // GET and HEAD via each node: the same answer, from the owner, at the acknowledged version.
    for (i, key) in keys.iter().enumerate() {
        let owner = c.owner(key);
        let gets: Vec<Resp> = (0..3)
            .map(|n| conns[n].call("GET", &key_path(key), &[], None))
            .collect();
        assert_same(&gets, &format!("GET {key:?}"));
        assert_eq!(
            etag(&gets[0]),
            versions[key],
            "GET {key:?}: the PUT's version"
        );
        for (n, g) in gets.iter().enumerate() {
            assert_eq!(g.status, 200, "GET {key:?} via {}: {}", IDS[n], g.text());
            assert_eq!(node_of(g), IDS[owner], "GET {key:?} via {}", IDS[n]);
            let j = g.json();
            assert_eq!(j["key"], json!(key));
            assert_eq!(j["value"], expected[key], "GET {key:?} via {}", IDS[n]);
            if i % 2 == 0 {
                let ttl = j["ttl"].as_u64().expect("ttl");
                assert!((295..=300).contains(&ttl), "GET {key:?} ttl {ttl}");
            } else {
                assert!(j.get("ttl").is_none(), "GET {key:?} has no ttl: {j}");
            }
        }
        let heads: Vec<Resp> = (0..3)
            .map(|n| conns[n].call("HEAD", &key_path(key), &[], None))
            .collect();
        assert_same(&heads, &format!("HEAD {key:?}"));
        for h in &heads {
            assert_eq!(h.status, 200);
            assert_eq!(node_of(h), IDS[owner]);
            assert_eq!(h.header("content-length"), gets[0].header("content-length"));
        }
    }

    // Misses via each node (GET, HEAD, DELETE).
    for i in 0..12 {
        let key = format!("never-written-{i}");
        let owner = c.owner(&key);
        for method in ["GET", "HEAD", "DELETE"] {
            let answers: Vec<Resp> = (0..3)
                .map(|n| conns[n].call(method, &key_path(&key), &[], None))
                .collect();
            assert_same(&answers, &format!("{method} miss {key}"));
            for a in &answers {
                assert_eq!(a.status, 404, "{method} {key}");
                assert_eq!(node_of(a), IDS[owner], "{method} {key}");
            }
            if method != "HEAD" {
                assert_error(&answers[0], 404, &key);
                assert_eq!(answers[0].json()["key"], json!(key));
            }
        }
    }

    // Replace half the keys via a random node, delete the other half via a random node.
    let mut live: Vec<String> = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let owner = c.owner(key);
        let asked = rng.below(3);
        if i % 2 == 0 {
            let value = value_for(i, key, 2);
            let body = json!({ "value": value }).to_string();
            let r = conns[asked].call("PUT", &key_path(key), &[], Some(body.as_bytes()));
            assert_eq!(r.status, 200, "replace {key:?}: {}", r.text());
            assert_eq!(r.json(), json!({"key": key, "created": false}));
            assert_eq!(node_of(&r), IDS[owner]);
            let version = etag(&r);
            assert!(
                etag_version(&version) > etag_version(&versions[key]),
                "replace {key:?}: version {version} after {}",
                versions[key]
            );
            expected.insert(key.clone(), value);
            versions.insert(key.clone(), version);
            live.push(key.clone());
        } else {
            let r = conns[asked].call("DELETE", &key_path(key), &[], None);
            assert_eq!(r.status, 200, "DELETE {key:?}: {}", r.text());
            assert_eq!(
                r.text(),
                format!("{{\"key\":{},\"deleted\":true}}", json_str(key))
            );
            assert_eq!(node_of(&r), IDS[owner]);
            for method in ["GET", "HEAD", "DELETE"] {
                let answers: Vec<Resp> = (0..3)
                    .map(|n| conns[n].call(method, &key_path(key), &[], None))
                    .collect();
                assert_same(&answers, &format!("{method} deleted {key:?}"));
                assert!(answers.iter().all(|a| a.status == 404), "{method} {key:?}");
            }
        }
    }
    for key in &live {
        let gets: Vec<Resp> = (0..3)
            .map(|n| conns[n].call("GET", &key_path(key), &[], None))
            .collect();
        assert_same(&gets, &format!("GET replaced {key:?}"));
        assert_eq!(gets[0].status, 200);
        assert_eq!(etag(&gets[0]), versions[key], "GET replaced {key:?}");
        let j = gets[0].json();
        assert_eq!(j["value"], expected[key]);
        assert!(
            j.get("ttl").is_none(),
            "a replace without ttl clears it: {j}"
        );
    }

    // Each live key is stored on each of its replicas (its preference list) and nowhere else,
    // at the acknowledged version; a deleted key is gone from every node. Asked with
    // `X-Cache-Forwarded`, a replica answers from its own memory; a node that holds no replica
    // of the key answers a miss with 503 (its miss says nothing about the key).
    for (n, id) in IDS.iter().enumerate() {
        let want = live.iter().filter(|k| is_replica(&c.ring, k, 2, n)).count() as u64;
        assert_eq!(local_entries(c.addr(n)), want, "entries on {id}");
    }
    for key in &keys {
        let replicas = replicas_of(&c.ring, key, 2);
        assert_eq!(replicas[0], c.owner(key));
        for (n, id) in IDS.iter().enumerate() {
            let r = call(
                c.addr(n),
                "GET",
                &key_path(key),
                &[("X-Cache-Forwarded", "test")],
                None,
            );
            assert_eq!(node_of(&r), *id, "{key:?} read on {id} itself");
            if live.contains(key) && replicas.contains(&n) {
                assert_eq!(r.status, 200, "{key:?} on its replica {id}: {}", r.text());
                assert_eq!(r.json()["value"], expected[key], "{key:?} on {id}");
                assert_eq!(etag(&r), versions[key], "{key:?} on {id}");
            } else if !replicas.contains(&n) {
                assert_eq!(
                    r.status,
                    503,
                    "{key:?} on {id}, not a replica ({replicas:?}): {}",
                    r.text()
                );
            } else {
                assert_eq!(
                    r.status,
                    404,
                    "{key:?} on {id} (replicas {replicas:?}): {}",
                    r.text()
                );
            }
        }
    }
    assert_no_membership_change(&c, &base);
}

/// TTLs on one manual clock shared by the three nodes: every node shows the same remaining
/// seconds before the deadline and the same 404 (GET and HEAD) from it on, with no sleeping.
pub fn ttl_expires_the_same_via_every_node() {
    let (c, base) = start(3, Some(Clock::manual()));
    let keys: Vec<String> = (0..9).map(|i| format!("ttl-{i}")).collect();
    for (i, key) in keys.iter().enumerate() {
        let r = put(c.addr(i % 3), key, "{\"value\":\"short\",\"ttl\":1}");
        assert_eq!(r.status, 201, "{}", r.text());
        assert_eq!(r.json()["ttl"], 1);
    }
    let r = put(c.addr(0), "ttl-long", "{\"value\":\"long\",\"ttl\":3600}");
    assert_eq!(r.status, 201);
    // 1 ms before the deadline: still there everywhere, ttl rounded up to 1 s.
    c.advance(Duration::from_millis(999));
    for key in &keys {
        let answers: Vec<Resp> = c.addrs.iter().map(|a| get(*a, key)).collect();
        assert_same(&answers, key);
        for a in &answers {
            assert_eq!(a.status, 200, "{key} before expiry: {}", a.text());
            assert_eq!(a.json()["ttl"], 1, "{key}");
            assert_eq!(node_of(a), IDS[c.owner(key)]);
        }
    }
    c.advance(Duration::from_millis(1));
    for key in &keys {
        for method in ["GET", "HEAD"] {
            let answers: Vec<Resp> = c
                .addrs
                .iter()
                .map(|a| call(*a, method, &key_path(key), &[], None))
                .collect();
            assert_same(&answers, &format!("{method} expired {key}"));
            for a in &answers {
                assert_eq!(a.status, 404, "{method} {key} after its ttl");
                assert_eq!(node_of(a), IDS[c.owner(key)]);
            }
        }
    }
    for a in &c.addrs {
        let g = get(*a, "ttl-long");
        assert_eq!(g.status, 200);
        assert_eq!(g.json()["ttl"], 3599, "exactly 1 s of 3600 gone");
    }
    assert_no_membership_change(&c, &base);
}
