//! Membership changes on real nodes (issue 10), in-process: disagreeing configs refuse to serve,
//! a node added with `POST /admin/cluster/nodes` receives its keys and a removed one hands them
//! back, with every key readable through every node at each step. The history-recording fault
//! tests under load are in `tests/cluster_elastic.rs`.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{eventually, request, Resp};
use dcache::{Config, Node};

/// `127.<pid>.<test_no>.<i>:<port>`: numbers 240-249 belong to this file (see `cluster_addrs`).
fn addr(test_no: u8, i: u8) -> SocketAddr {
    let second = 20 + (std::process::id() % 200) as u8;
    format!("127.{second}.{test_no}.{i}:{}", 18000 + u16::from(i))
        .parse()
        .expect("address")
}

fn yaml(id: &str, me: SocketAddr, members: &[(&str, SocketAddr)], extra: &str) -> String {
    let mut m = String::new();
    for (n, a) in members {
        m.push_str(&format!("  {n}: \"{a}\"\n"));
    }
    format!(
        "node_id: \"{id}\"\naddress: \"{me}\"\ncluster_nodes:\n{m}cache_size: 100000\nthreads: 2\n\
         pin_threads: false\nlog_level: warn\ncluster:\n  probe_interval: \"100ms\"\n  \
         probe_timeout: \"90ms\"\n  connect_timeout: \"90ms\"\n  request_timeout: \"2s\"\n{extra}"
    )
}

/// Started from a throwaway thread, as `InProc` does (the first io_uring probe of a process
/// interrupts blocking calls of the thread that made it).
fn start(yaml: String) -> Node {
    std::thread::spawn(move || {
        let cfg = Config::from_yaml_str(&yaml, "<membership test>").expect("valid config");
        Node::start(cfg).expect("node starts")
    })
    .join()
    .expect("start thread")
}

fn json(r: &Resp) -> serde_json::Value {
    serde_json::from_slice(&r.body).unwrap_or(serde_json::Value::Null)
}

fn cluster(a: SocketAddr) -> serde_json::Value {
    json(&request(a, "GET", "/admin/cluster", None))
}

fn put(a: SocketAddr, key: &str, v: usize) -> u16 {
    let body = format!("{{\"value\":{v}}}");
    request(a, "PUT", &format!("/api/v1/cache/{key}"), Some(&body)).status
}

/// Every key reads back its value through `a`.
fn all_readable(a: SocketAddr, n: usize) -> Result<(), String> {
    for i in 0..n {
        let r = request(a, "GET", &format!("/api/v1/cache/m{i}"), None);
        if r.status != 200 || json(&r)["value"] != i {
            return Err(format!("m{i} via {a}: {} {}", r.status, r.text()));
        }
    }
    Ok(())
}

#[test]
fn configs_that_disagree_refuse_to_serve_and_say_why() {
    let (a, b) = (addr(240, 1), addr(240, 2));
    let members = [("a", a), ("b", b)];
    let na = start(yaml("a", a, &members, "virtual_nodes: 150\n"));
    let nb = start(yaml("b", b, &members, "virtual_nodes: 100\n"));
    for n in [a, b] {
        let refused = eventually(Duration::from_secs(10), || {
            let h = request(n, "GET", "/health", None);
            h.status == 503 && h.text().contains("\"refusing\"")
        });
        assert!(
            refused,
            "{n} refuses: {}",
            request(n, "GET", "/health", None).text()
        );
        let r = request(n, "PUT", "/api/v1/cache/k", Some("{\"value\":1}"));
        assert_eq!(r.status, 503, "{}", r.text());
        assert!(
            r.text().contains("virtual nodes"),
            "the reason: {}",
            r.text()
        );
    }
    na.shutdown();
    nb.shutdown();
}

#[test]
fn a_node_added_by_post_gets_its_keys_and_a_removed_one_gives_them_back() {
    let (a, b) = (addr(241, 1), addr(241, 2));
    let na = start(yaml("a", a, &[("a", a)], ""));
    const KEYS: usize = 300;
    for i in 0..KEYS {
        assert_eq!(put(a, &format!("m{i}"), i), 201);
    }
    // b lists both; a does not list b yet: b must not serve with a ring of its own.
    let nb = start(yaml("b", b, &[("a", a), ("b", b)], ""));
    let refused = eventually(Duration::from_secs(10), || {
        request(b, "GET", "/health", None)
            .text()
            .contains("refusing")
    });
    assert!(refused, "{}", request(b, "GET", "/health", None).text());

    let bad = request(a, "POST", "/admin/cluster/nodes", Some("{\"node\":\"b\"}"));
    assert_eq!(bad.status, 400, "{}", bad.text());
    let body = format!("{{\"node_id\":\"b\",\"address\":\"{b}\"}}");
    let add = request(a, "POST", "/admin/cluster/nodes", Some(&body));
    assert_eq!(add.status, 202, "{}", add.text());
    assert_eq!(json(&add)["status"], "joining");
    // On a, the leader, first: b's own config lists itself active and settled before it adopts
    // the join (a check of b alone could pass before the join even reached it).
    let settled = eventually(Duration::from_secs(20), || {
        [a, b].iter().all(|&n| {
            let s = json(&request(n, "GET", "/admin/cluster/nodes/b", None));
            s["status"] == "active" && s["settled"] == true
        })
    });
    assert!(
        settled,
        "{}",
        request(a, "GET", "/admin/cluster", None).text()
    );
    for n in [a, b] {
        assert!(
            eventually(Duration::from_secs(10), || all_readable(n, KEYS).is_ok()),
            "{:?}",
            all_readable(n, KEYS)
        );
    }
    let c = cluster(a);
    let entries: Vec<u64> = (0..2)
        .map(|i| c["nodes"][i]["entries"].as_u64().unwrap_or(0))
        .collect();
    // Two nodes, two copies each (replicas 2 once b joined): every key on both.
    assert!(c["epoch"].as_u64() >= Some(2), "{c}");
    assert!(
        c["migration"]["keys_moved"].as_u64() > Some(0),
        "a moved keys to b: {c}"
    );
    assert_eq!(
        request(a, "DELETE", "/admin/cluster/nodes/zz", None).status,
        404
    );

    let rm = request(b, "DELETE", "/admin/cluster/nodes/b", None);
    assert_eq!(rm.status, 202, "{}", rm.text());
    let gone = eventually(Duration::from_secs(20), || {
        json(&request(a, "GET", "/admin/cluster/nodes/b", None))["safe_to_stop"] == true
    });
    assert!(gone, "{}", request(a, "GET", "/admin/cluster", None).text());
    nb.shutdown();
    assert!(
        all_readable(a, KEYS).is_ok(),
        "{:?} (entries were {entries:?})",
        all_readable(a, KEYS)
    );
    let last = request(a, "DELETE", "/admin/cluster/nodes/a", None);
    assert_eq!(last.status, 409, "{}", last.text());
    na.shutdown();
}
