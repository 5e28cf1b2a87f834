//! Conditional requests as compare-and-set (issue 12): `ETag` on answers, `If-Match` and
//! `If-None-Match` on PUT, DELETE, GET and HEAD, with 304 and 412, over raw sockets.
//!
//! One node, then three (owner elsewhere: the conditions travel with the forward; owner down: the
//! next replica coordinates, with the same versions). Races: two writers holding the same ETag
//! write at once, many rounds; exactly one wins each round, on one node and across nodes. The
//! race figures are printed (`cargo test --test api_conditional -- --nocapture`).

#[path = "common/cluster.rs"]
mod cluster_common;
mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use cluster_common::{
    call, etag, etag_version, key_path, node_of, replicas_of, Conn, InProc, STEADY,
};
use common::Resp;

fn put_if(a: SocketAddr, key: &str, cond: (&str, &str), value: &str) -> Resp {
    let body = format!("{{\"value\":{value}}}");
    call(a, "PUT", &key_path(key), &[cond], Some(body.as_bytes()))
}

fn put(a: SocketAddr, key: &str, value: &str) -> Resp {
    let body = format!("{{\"value\":{value}}}");
    call(a, "PUT", &key_path(key), &[], Some(body.as_bytes()))
}

fn get_if(a: SocketAddr, key: &str, cond: (&str, &str)) -> Resp {
    call(a, "GET", &key_path(key), &[cond], None)
}

/// A 412: the error JSON with the key, and the current ETag when a value is live.
fn assert_412(r: &Resp, key: &str, current: Option<&str>) {
    assert_eq!(r.status, 412, "{}", r.text());
    let j = r.json();
    assert_eq!(j["status"], 412, "{j}");
    assert_eq!(j["key"], key, "{j}");
    assert!(
        j["error"]
            .as_str()
            .is_some_and(|e| e.contains("precondition")),
        "{j}"
    );
    assert_eq!(r.header("etag"), current, "{}", r.text());
}

/// A 304: no body, no Content-Length, the entry's ETag.
fn assert_304(r: &Resp, tag: &str) {
    assert_eq!(r.status, 304, "{}", r.text());
    assert!(r.body.is_empty());
    assert_eq!(r.header("content-length"), None, "{:?}", r.headers);
    assert_eq!(r.header("etag"), Some(tag));
}

#[test]
fn compare_and_set_on_one_node() {
    let node = common::run_single(2, "");
    let a = node.addr();
    let created = put(a, "k", "1");
    assert_eq!(created.status, 201);
    let e1 = etag(&created);

    let swapped = put_if(a, "k", ("If-Match", &e1), "2");
    assert_eq!(swapped.status, 200, "{}", swapped.text());
    let e2 = etag(&swapped);
    assert!(etag_version(&e2) > etag_version(&e1));
    // The same ETag again: the value moved on.
    assert_412(&put_if(a, "k", ("If-Match", &e1), "3"), "k", Some(&e2));
    assert_eq!(cluster_common::get(a, "k").json()["value"], 2);
    // A list and `*` match; a weak tag never does for If-Match.
    let listed = format!("\"0000000000000001\", {e2}");
    let e3 = etag(&put_if(a, "k", ("If-Match", &listed), "4"));
    assert_eq!(put_if(a, "k", ("If-Match", "*"), "5").status, 200);
    let e4 = etag(&cluster_common::get(a, "k"));
    assert_ne!(e3, e4);
    let weak = format!("W/{e4}");
    assert_412(&put_if(a, "k", ("If-Match", &weak), "6"), "k", Some(&e4));

    // DELETE If-Match: the stale tag is refused, the current one deletes.
    let del = |tag: &str| call(a, "DELETE", &key_path("k"), &[("If-Match", tag)], None);
    assert_412(&del(&e1), "k", Some(&e4));
    assert_eq!(del(&e4).status, 200);
    // Absent: If-Match never matches, not even `*`.
    assert_412(&del("*"), "k", None);
    assert_412(&put_if(a, "k", ("If-Match", "*"), "7"), "k", None);

    // Add only if absent.
    let added = put_if(a, "k", ("If-None-Match", "*"), "8");
    assert_eq!(added.status, 201, "{}", added.text());
    let e5 = etag(&added);
    assert_412(&put_if(a, "k", ("If-None-Match", "*"), "9"), "k", Some(&e5));
    assert_eq!(cluster_common::get(a, "k").json()["value"], 8);
    assert!(node.stop());
}

#[test]
fn conditional_reads_answer_304_on_one_node() {
    let node = common::run_single(2, "");
    let a = node.addr();
    let tag = etag(&put(a, "r", "{\"x\":[1,2]}"));
    assert_304(&get_if(a, "r", ("If-None-Match", &tag)), &tag);
    assert_304(&get_if(a, "r", ("If-None-Match", "*")), &tag);
    let weak = format!("\"0000000000000001\", W/{tag}");
    assert_304(&get_if(a, "r", ("If-None-Match", &weak)), &tag);
    let other = get_if(a, "r", ("If-None-Match", "\"0000000000000001\""));
    assert_eq!(other.status, 200);
    assert_eq!(other.text(), r#"{"key":"r","value":{"x":[1,2]}}"#);
    // If-Match on a read: 412 when stale (RFC 9110 §13.1.1).
    assert_412(
        &get_if(a, "r", ("If-Match", "\"0000000000000001\"")),
        "r",
        Some(&tag),
    );
    assert_eq!(get_if(a, "r", ("If-Match", &tag)).status, 200);
    // A miss stays a 404 whatever the conditions (RFC 9110 §13.2.1).
    assert_eq!(get_if(a, "absent", ("If-None-Match", "*")).status, 404);
    assert_eq!(get_if(a, "absent", ("If-Match", "*")).status, 404);

    // HEAD and a pipeline: a 304 has no body, so the next answer on the connection is intact.
    let mut conn = Conn::open(a);
    let inm: &[(&str, &str)] = &[("If-None-Match", &tag)];
    let head = conn.call("HEAD", &key_path("r"), inm, None);
    assert_304(&head, &tag);
    let pipeline = [
        cluster_common::raw("GET", &key_path("r"), inm, None),
        cluster_common::raw("GET", &key_path("r"), &[], None),
    ]
    .concat();
    conn.reader.send(&pipeline);
    assert_304(&conn.reader.response(false).expect("304"), &tag);
    let full = conn.reader.response(false).expect("200");
    assert_eq!(
        (full.status, full.json()["value"]["x"][1].clone()),
        (200, 2.into())
    );
    assert!(node.stop());
}

#[test]
fn malformed_conditions_are_400_naming_the_header() {
    let node = common::run_single(1, "");
    let a = node.addr();
    put(a, "m", "1");
    for (name, value, path_method) in [
        ("If-Match", "abc", "PUT"),
        ("If-Match", "\"a\" \"b\"", "DELETE"),
        ("If-None-Match", "\"open", "GET"),
        ("If-None-Match", "*, \"a\"", "PUT"),
        ("If-Match", "", "PUT"),
    ] {
        let body = (path_method == "PUT").then_some(&b"{\"value\":2}"[..]);
        let r = call(a, path_method, &key_path("m"), &[(name, value)], body);
        assert_eq!(r.status, 400, "{name}: {value:?}: {}", r.text());
        let msg = r.json()["error"].as_str().unwrap_or_default().to_string();
        assert!(msg.contains(&format!("invalid {name} header")), "{msg}");
        assert_eq!(r.json()["key"], "m");
    }
    // Two If-Match lines: refused by the parser (send one list).
    let r = call(
        a,
        "PUT",
        &key_path("m"),
        &[("If-Match", "*"), ("If-Match", "*")],
        Some(b"{\"value\":2}"),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(
        cluster_common::get(a, "m").json()["value"],
        1,
        "nothing written"
    );
    assert!(node.stop());
}

/// Two writers with the same ETag, released together by a barrier, `rounds` times; writer `w`
/// goes through `via[w]`. Returns the wins of each writer. Each round asserts one 200 and one
/// 412, and that the stored value is the winner's.
fn race(via: [SocketAddr; 2], key: &str, rounds: usize) -> [usize; 2] {
    let start = Barrier::new(3);
    let start = Arc::new(start);
    let mut wins = [0usize; 2];
    let mut tag = etag(&put(via[0], key, "-1"));
    for round in 0..rounds {
        let handles: Vec<_> = (0..2)
            .map(|w| {
                let (start, tag, key) = (Arc::clone(&start), tag.clone(), key.to_string());
                let a = via[w];
                std::thread::spawn(move || {
                    let mut conn = Conn::open(a);
                    let body = format!("{{\"value\":{}}}", round * 2 + w);
                    let req = cluster_common::raw(
                        "PUT",
                        &key_path(&key),
                        &[("If-Match", &tag)],
                        Some(body.as_bytes()),
                    );
                    start.wait();
                    conn.reader.send(&req);
                    conn.reader.response(false).expect("answer")
                })
            })
            .collect();
        start.wait();
        let answers: Vec<Resp> = handles
            .into_iter()
            .map(|h| h.join().expect("writer"))
            .collect();
        let statuses: Vec<u16> = answers.iter().map(|r| r.status).collect();
        let winner = match statuses[..] {
            [200, 412] => 0,
            [412, 200] => 1,
            _ => panic!(
                "round {round}: want exactly one winner, got {statuses:?}: {} / {}",
                answers[0].text(),
                answers[1].text()
            ),
        };
        wins[winner] += 1;
        let loser = &answers[1 - winner];
        tag = etag(&answers[winner]);
        assert_eq!(
            loser.header("etag"),
            Some(tag.as_str()),
            "the 412 names the winner's version"
        );
        let now = cluster_common::get(via[1 - winner], key);
        assert_eq!(now.json()["value"], round * 2 + winner, "round {round}");
        assert_eq!(etag(&now), tag);
    }
    wins
}

#[test]
fn two_concurrent_cas_writers_exactly_one_wins_on_one_node() {
    let node = common::run_single(2, "");
    let a = node.addr();
    let rounds = 300;
    let t = Instant::now();
    let wins = race([a, a], "race", rounds);
    println!(
        "CAS race, 1 node: {rounds} rounds, 2 writers: exactly one winner every round; wins {wins:?}; {:.2?}",
        t.elapsed()
    );
    assert_eq!(wins[0] + wins[1], rounds);
    assert!(node.stop());
}

/// A key owned by node `owner`: its first replica.
fn key_owned_by(c: &InProc, owner: usize, prefix: &str) -> String {
    (0..)
        .map(|i| format!("{prefix}-{i}"))
        .find(|k| replicas_of(&c.ring, k, 2)[0] == owner)
        .expect("a key")
}

#[test]
fn across_three_nodes_conditions_travel_with_forwards_and_refusals_leave_no_copy() {
    let c = InProc::start(80, 2, STEADY, "");
    let key = key_owned_by(&c, 0, "fw");
    let [owner, second] = <[usize; 2]>::try_from(replicas_of(&c.ring, &key, 2)).expect("2");
    let third = 3 - owner - second;
    let (via, a_owner) = (c.addr(third), c.addr(owner));

    let e1 = etag(&put(via, &key, "1"));
    let ok = put_if(via, &key, ("If-Match", &e1), "2");
    assert_eq!(
        (ok.status, node_of(&ok)),
        (200, cluster_common::IDS[owner]),
        "{}",
        ok.text()
    );
    let e2 = etag(&ok);
    let refused = put_if(via, &key, ("If-Match", &e1), "3");
    assert_412(&refused, &key, Some(&e2));
    assert_eq!(node_of(&refused), cluster_common::IDS[owner]);
    // Both replicas hold the applied write at its version, and nothing of the refused one.
    for n in [owner, second] {
        let local = call(
            c.addr(n),
            "GET",
            &key_path(&key),
            &[("X-Cache-Forwarded", "t")],
            None,
        );
        assert_eq!(
            local.json()["value"],
            2,
            "{}: {}",
            cluster_common::IDS[n],
            local.text()
        );
        assert_eq!(etag(&local), e2);
    }
    // 304 relayed through the forwarding node: no body, no Content-Length.
    let nm = get_if(via, &key, ("If-None-Match", &e2));
    assert_304(&nm, &e2);
    assert_eq!(node_of(&nm), cluster_common::IDS[owner]);
    assert_eq!(get_if(a_owner, &key, ("If-None-Match", &e1)).status, 200);

    // Add-if-absent through a non-owner: one 201 then 412; a conditional DELETE likewise.
    let fresh = key_owned_by(&c, owner, "add");
    assert_eq!(put_if(via, &fresh, ("If-None-Match", "*"), "1").status, 201);
    let again = put_if(via, &fresh, ("If-None-Match", "*"), "2");
    assert_eq!(again.status, 412, "{}", again.text());
    let stale = call(via, "DELETE", &key_path(&fresh), &[("If-Match", &e1)], None);
    assert_eq!(stale.status, 412);
    assert_eq!(cluster_common::get(via, &fresh).json()["value"], 1);

    // The race across nodes: one writer through the owner, the other through a non-owner.
    let rounds = 100;
    let t = Instant::now();
    let wins = race([a_owner, via], &key_owned_by(&c, owner, "xrace"), rounds);
    println!(
        "CAS race, 3 nodes (writers via the owner and via a non-owner): {rounds} rounds, exactly one winner every round; wins {wins:?}; {:.2?}",
        t.elapsed()
    );
}

#[test]
fn with_the_owner_down_the_next_replica_checks_the_same_versions() {
    let mut c = InProc::start(81, 2, STEADY, "");
    let key = key_owned_by(&c, 0, "down");
    let [owner, second] = <[usize; 2]>::try_from(replicas_of(&c.ring, &key, 2)).expect("2");
    let third = 3 - owner - second;
    let e1 = etag(&put(c.addr(third), &key, "1"));
    let e2 = etag(&put_if(c.addr(third), &key, ("If-Match", &e1), "2"));
    c.stop(owner);
    // Through the third node: the forward to the stopped owner fails over to the second
    // replica, which holds the copy at the same version and coordinates now.
    let deadline = Instant::now() + Duration::from_secs(10);
    let swapped = loop {
        let r = put_if(c.addr(third), &key, ("If-Match", &e2), "3");
        if r.status != 503 || Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(swapped.status, 200, "{}", swapped.text());
    assert_eq!(node_of(&swapped), cluster_common::IDS[second]);
    let e3 = etag(&swapped);
    assert_412(
        &put_if(c.addr(second), &key, ("If-Match", &e2), "4"),
        &key,
        Some(&e3),
    );
    assert_304(&get_if(c.addr(third), &key, ("If-None-Match", &e3)), &e3);
    assert_eq!(cluster_common::get(c.addr(second), &key).json()["value"], 3);
}
