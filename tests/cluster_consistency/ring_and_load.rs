//! Keys spread as the ring says and every node describes the same cluster; concurrent keep-alive
//! load through every node stays correct.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use crate::cluster_common::{
    self, cluster_info, key_path, local_entries, metric, metric_sum, metrics, node_of, replicas_of,
    Conn, Rng, IDS,
};
use crate::common;
use crate::helpers::{assert_no_membership_change, start};
use serde_json::{json, Value};

/// Keys land where the ring says: owners in the ring's proportions, copies on each key's
/// preference list; `/admin/cluster` and `/admin/metrics` agree on every node.
pub fn keys_follow_the_ring_and_every_node_describes_the_same_cluster() {
    let (c, base) = start(4, None);
    let shares = c.ring.shares();
    let version = format!("0x{:016x}", c.ring.version());
    let mut conns: Vec<Conn> = c.addrs.iter().map(|a| Conn::open(*a)).collect();
    let total = 900;
    // Keys owned by each node, and copies held by each node (keys it is a replica of).
    let mut counts = [0u64; 3];
    let mut held = [0u64; 3];
    for i in 0..total {
        let key = format!("share-{i}");
        let r = conns[i % 3].call("PUT", &key_path(&key), &[], Some(b"{\"value\":1}"));
        assert_eq!(r.status, 201, "{}", r.text());
        let owner = c.owner(&key);
        assert_eq!(node_of(&r), IDS[owner], "{key}");
        counts[owner] += 1;
        for n in replicas_of(&c.ring, &key, 2) {
            held[n] += 1;
        }
    }
    assert_eq!(
        held.iter().sum::<u64>(),
        2 * total as u64,
        "two copies of each key"
    );
    for n in 0..3 {
        let seen = counts[n] as f64 / total as f64;
        assert!(
            (seen - shares[n]).abs() < 0.06,
            "{} owns {seen:.3} of the keys but {:.3} of the ring",
            IDS[n],
            shares[n]
        );
        assert_eq!(local_entries(c.addr(n)), held[n], "entries on {}", IDS[n]);
    }

    // /admin/cluster: same ring everywhere, peers' probe reports agree.
    for (n, a) in c.addrs.iter().enumerate() {
        let ok = common::eventually(Duration::from_secs(5), || {
            let info = cluster_info(*a);
            info["nodes"].as_array().is_some_and(|ns| {
                ns.iter().enumerate().all(|(m, node)| {
                    node["ring_version"] == json!(version)
                        && node["ring_agrees"] == json!(true)
                        && node["entries"] == json!(held[m])
                })
            })
        });
        let info = cluster_info(*a);
        assert!(
            ok,
            "{} never saw every peer's ring and entries: {info}",
            IDS[n]
        );
        assert_eq!(info["node_id"], IDS[n]);
        assert_eq!(info["ring_version"], json!(version));
        assert_eq!(info["virtual_nodes"], 150);
        assert_eq!(info["threads"], 2);
        assert_eq!(info["nodes_up"], 3);
        assert_eq!(info["nodes_total"], 3);
        assert_eq!(
            info["ring_changes"].as_f64(),
            Some(base[n]),
            "changes since it settled"
        );
        assert_eq!(info["replicas"], 2, "the default on three nodes");
        let nodes = info["nodes"].as_array().expect("nodes");
        assert_eq!(nodes.len(), 3, "{info}");
        for (m, node) in nodes.iter().enumerate() {
            assert_eq!(node["id"], IDS[m]);
            assert_eq!(node["address"], json!(c.addr(m).to_string()));
            assert_eq!(node["state"], if m == n { "self" } else { "up" }, "{info}");
            for field in ["ring_share", "live_share"] {
                let s = node[field].as_f64().expect("share");
                assert!(
                    (s - shares[m]).abs() < 0.0001,
                    "{field} {s} vs {}",
                    shares[m]
                );
            }
            if m != n {
                assert!(node["last_probe_ms_ago"].as_u64().is_some(), "{node}");
                assert!(node.get("last_error").is_none(), "{node}");
            }
        }
    }

    // /admin/metrics: ring shares and forward counters per peer.
    for (n, a) in c.addrs.iter().enumerate() {
        let m = metrics(*a);
        for (p, id) in IDS.iter().enumerate() {
            let share = metric(&m, &format!("cache_ring_share{{node=\"{id}\"}}"))
                .unwrap_or_else(|| panic!("cache_ring_share for {id} on {}", IDS[n]));
            assert!((share - shares[p]).abs() < 1e-5, "{share} vs {}", shares[p]);
            assert_eq!(
                metric(&m, &format!("cache_cluster_node_up{{node=\"{id}\"}}")),
                Some(1.0)
            );
            if p != n {
                let ok = metric(
                    &m,
                    &format!("cache_forwarded_requests_total{{peer=\"{id}\",result=\"ok\"}}"),
                )
                .unwrap_or(0.0);
                assert!(ok > 0.0, "{} forwarded nothing to {id}:\n{m}", IDS[n]);
            }
        }
        assert_eq!(metric(&m, "cache_cluster_nodes_up"), Some(3.0));
        assert_eq!(metric(&m, "cache_ring_keys_moved_total"), Some(0.0));
        assert!(
            !m.contains("result=\"error\"") && !m.contains("result=\"timeout\""),
            "no failed forwards on {}",
            IDS[n]
        );
        assert!(
            m.contains(&format!(
                "cache_ring_info{{version=\"{version}\",virtual_nodes=\"150\"}} 1"
            )),
            "ring info on {}",
            IDS[n]
        );
    }
    assert_no_membership_change(&c, &base);
}

/// One thread's share of the load test: its own keys, a keep-alive connection to every node, and
/// a model of what each key must hold.
fn load_worker(t: usize, addrs: &[SocketAddr], ring: &dcache::cluster::ring::Ring) -> usize {
    let mut rng = Rng(1000 + t as u64);
    let mut conns: Vec<Conn> = addrs.iter().map(|a| Conn::open(*a)).collect();
    let keys: Vec<String> = (0..24).map(|i| format!("load-{t}-{i}")).collect();
    let mut model: HashMap<String, Value> = HashMap::new();
    let mut forwarded = 0;
    for n in 0..200 {
        let key = &keys[rng.below(keys.len())];
        let at = rng.below(3);
        let owner = cluster_common::owner(ring, key);
        let path = key_path(key);
        let ctx = format!("thread {t} op {n} via {} on {key}", IDS[at]);
        let r = match rng.below(20) {
            0..=7 => {
                let pad = "p".repeat(rng.below(3000));
                let value = json!({"t": t, "n": n, "pad": pad});
                let body = json!({ "value": value }).to_string();
                let r = conns[at].call("PUT", &path, &[], Some(body.as_bytes()));
                let want = if model.contains_key(key) { 200 } else { 201 };
                assert_eq!(r.status, want, "{ctx}: {}", r.text());
                model.insert(key.clone(), value);
                r
            }
            8..=14 => {
                let r = conns[at].call("GET", &path, &[], None);
                match model.get(key) {
                    Some(v) => {
                        assert_eq!(r.status, 200, "{ctx}: {}", r.text());
                        assert_eq!(&r.json()["value"], v, "{ctx}");
                    }
                    None => assert_eq!(r.status, 404, "{ctx}: {}", r.text()),
                }
                r
            }
            15..=16 => {
                let r = conns[at].call("HEAD", &path, &[], None);
                let want = if model.contains_key(key) { 200 } else { 404 };
                assert_eq!(r.status, want, "{ctx}");
                r
            }
            _ => {
                let r = conns[at].call("DELETE", &path, &[], None);
                let want = if model.remove(key).is_some() {
                    200
                } else {
                    404
                };
                assert_eq!(r.status, want, "{ctx}: {}", r.text());
                r
            }
        };
        assert_eq!(node_of(&r), IDS[owner], "{ctx}");
        if at != owner {
            forwarded += 1;
            assert_eq!(r.header("x-cache-forwarded-by"), Some(IDS[at]), "{ctx}");
        }
    }
    // Final state, via every node.
    for key in &keys {
        for conn in conns.iter_mut() {
            let r = conn.call("GET", &key_path(key), &[], None);
            match model.get(key) {
                Some(v) => assert_eq!(&r.json()["value"], v, "final {key}"),
                None => assert_eq!(r.status, 404, "final {key}"),
            }
        }
    }
    forwarded
}

pub fn concurrent_mixed_load_through_every_node_stays_correct() {
    let (c, base) = start(5, None);
    let before: f64 = c
        .addrs
        .iter()
        .map(|a| metric_sum(&metrics(*a), "cache_forwarded_requests_total"))
        .sum();
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let addrs = c.addrs.clone();
            let ring = c.ring.clone();
            std::thread::spawn(move || load_worker(t, &addrs, &ring))
        })
        .collect();
    let mut forwarded = 0;
    for h in handles {
        forwarded += h.join().expect("load thread passed");
    }
    assert!(forwarded > 500, "most requests were forwarded: {forwarded}");
    let mut ok = 0.0;
    for a in &c.addrs {
        let m = metrics(*a);
        assert!(!m.contains("result=\"error\""), "no failed forward:\n{m}");
        assert!(
            !m.contains("result=\"timeout\""),
            "no timed-out forward:\n{m}"
        );
        ok += metric_sum(&m, "cache_forwarded_requests_total");
    }
    // Every forwarded request of the load (and of the final reads) is counted once, as "ok".
    assert!(
        ok - before >= forwarded as f64,
        "forwards counted {} < {forwarded}",
        ok - before
    );
    assert_no_membership_change(&c, &base);
}
