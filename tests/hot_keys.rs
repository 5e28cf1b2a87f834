//! Hot-key tracking end to end (issue 13): one node with two cores; one key hammered over several
//! keep-alive connections, a few others read lightly. `GET /admin/hotkeys` lists the hammered key
//! first and hot, the light ones not hot; its query is strict; it takes the admin token when one
//! is configured; with `hot_keys.enabled: false` it answers an empty list. `min_reads_per_sec` is
//! low (50) so a test machine's load is plenty, and every wait polls with a generous deadline.

mod common;

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use common::{eventually, request, run_single, Reader, Resp};

/// The hammered key, with a quote and a colon so the JSON escaping shows (sent percent-encoded).
const HOT: &str = "user:\"1\"";
const HOT_PATH: &str = "user%3A%221%22";
const LIGHT: [&str; 3] = ["light-a", "light-b", "light-c"];
const HOT_CONFIG: &str = "hot_keys:\n  min_reads_per_sec: 50\n  top_k: 16\n";
/// A loaded test machine may take a while to push enough reads.
const DEADLINE: Duration = Duration::from_secs(30);

/// Threads reading `path` over their own keep-alive connections (pipelined 8 deep) until stopped.
struct Hammer {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Hammer {
    fn start(a: SocketAddr, path: &str, connections: usize) -> Hammer {
        let stop = Arc::new(AtomicBool::new(false));
        let burst = format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").repeat(8);
        let threads = (0..connections)
            .map(|_| {
                let (stop, burst) = (stop.clone(), burst.clone());
                std::thread::spawn(move || {
                    let mut r = Reader::connect(a);
                    while !stop.load(Ordering::Relaxed) {
                        r.send(burst.as_bytes());
                        for _ in 0..8 {
                            let resp = r.response(false).expect("an answer");
                            assert_eq!(resp.status, 200, "{}", resp.text());
                        }
                    }
                })
            })
            .collect();
        Hammer { stop, threads }
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            t.join().expect("hammer thread");
        }
    }
}

fn put(a: SocketAddr, path: &str) {
    let r = request(
        a,
        "PUT",
        &format!("/api/v1/cache/{path}"),
        Some(r#"{"value":1}"#),
    );
    assert!(r.status == 200 || r.status == 201, "{}", r.text());
}

fn hotkeys(a: SocketAddr, query: &str) -> Resp {
    request(a, "GET", &format!("/admin/hotkeys{query}"), None)
}

/// A GET with `Authorization: Bearer <token>`.
fn get_with_token(a: SocketAddr, path: &str, token: &str) -> Resp {
    let mut r = Reader::connect(a);
    r.send(
        format!("GET {path} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\n\r\n")
            .as_bytes(),
    );
    r.response(false).expect("an answer")
}

#[test]
fn a_hammered_key_is_listed_first_and_hot() {
    let node = run_single(2, HOT_CONFIG);
    let a = node.addr();
    put(a, HOT_PATH);
    for k in LIGHT {
        put(a, k);
    }
    let hammer = Hammer::start(a, &format!("/api/v1/cache/{HOT_PATH}"), 4);
    let mut last = serde_json::Value::Null;
    let listed = eventually(DEADLINE, || {
        // The light keys: a few reads a second each, far below 50/s.
        for k in LIGHT {
            assert_eq!(
                request(a, "GET", &format!("/api/v1/cache/{k}"), None).status,
                200
            );
        }
        let r = hotkeys(a, "");
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("content-type"), Some("application/json"));
        last = r.json();
        last["keys"][0]["key"] == HOT && last["keys"][0]["hot"] == true
    });
    assert!(listed, "the hammered key never came first and hot: {last}");
    assert_eq!(last["node_id"], "t1");
    assert_eq!(last["enabled"], true);
    assert_eq!(last["min_reads_per_sec"], 50);
    assert_eq!(last["top_k"], 16);
    let first = &last["keys"][0];
    assert!(
        first["reads_per_sec"].as_u64().is_some_and(|r| r >= 50),
        "{last}"
    );
    let cores = first["cores"].as_array().expect("cores");
    assert!(
        !cores.is_empty() && cores.iter().all(|c| c.as_u64().is_some_and(|c| c < 2)),
        "{last}"
    );
    for k in last["keys"].as_array().expect("keys").iter().skip(1) {
        if LIGHT.contains(&k["key"].as_str().unwrap_or_default()) {
            assert_eq!(k["hot"], false, "a light key is not hot: {last}");
        }
    }

    // The gauge counts it while it is hot (on each core that sees it hot).
    let gauge = request(a, "GET", "/admin/metrics", None).text();
    let hot_keys = gauge
        .lines()
        .find_map(|l| l.strip_prefix("cache_hot_keys "))
        .and_then(|v| v.parse::<u64>().ok());
    assert!(
        hot_keys.is_some_and(|n| n >= 1),
        "cache_hot_keys: {hot_keys:?}"
    );

    // limit=1 keeps the first only.
    let one = hotkeys(a, "?limit=1").json();
    assert_eq!(one["keys"].as_array().map(Vec::len), Some(1), "{one}");
    hammer.stop();

    // Once the reads stop, the key cools down within seconds.
    let cooled = eventually(DEADLINE, || {
        let j = hotkeys(a, "").json();
        j["keys"]
            .as_array()
            .is_some_and(|ks| ks.iter().all(|k| k["hot"] == false))
    });
    assert!(cooled, "the key stayed hot after its reads stopped");
}

#[test]
fn the_query_is_strict() {
    let node = run_single(1, HOT_CONFIG);
    let a = node.addr();
    for (q, says) in [
        (
            "?limt=3",
            "unknown query parameter \"limt\": GET /admin/hotkeys takes only ?limit=N",
        ),
        ("?limit=0", "limit=\"0\" is not a whole number from 1 to"),
        ("?limit=ten", "is not a whole number"),
        ("?limit=1&limit=2", "limit given twice"),
    ] {
        let r = hotkeys(a, q);
        assert_eq!(r.status, 400, "{q}: {}", r.text());
        let e = r.json()["error"].as_str().unwrap_or_default().to_owned();
        assert!(e.contains(says), "{q}: {e}");
    }
    let r = request(a, "DELETE", "/admin/hotkeys", None);
    assert_eq!(r.status, 405, "{}", r.text());
    let head = request(a, "HEAD", "/admin/hotkeys", None);
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
}

#[test]
fn disabled_answers_an_empty_list() {
    let node = run_single(2, "hot_keys:\n  enabled: false\n  min_reads_per_sec: 1\n");
    let a = node.addr();
    put(a, "k");
    for _ in 0..200 {
        assert_eq!(request(a, "GET", "/api/v1/cache/k", None).status, 200);
    }
    let r = hotkeys(a, "");
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    assert_eq!(j["enabled"], false, "{j}");
    assert_eq!(j["keys"], serde_json::json!([]), "{j}");
}

#[test]
fn the_admin_token_guards_the_list() {
    const ADMIN: &str = "admin-token-hot-keys-3c5e7a9b1d";
    let dir = std::env::temp_dir().join(format!("dcache-hot-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("token dir");
    let path = dir.join("admin");
    std::fs::write(&path, format!("{ADMIN}\n")).expect("token file");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let yaml = format!(
        "{HOT_CONFIG}auth:\n  admin_token_file: \"{}\"\n",
        path.display()
    );
    let node = run_single(1, &yaml);
    let a = node.addr();
    let none = hotkeys(a, "");
    assert_eq!(none.status, 401, "{}", none.text());
    assert!(none.header("www-authenticate").is_some());
    let wrong = get_with_token(a, "/admin/hotkeys", "not-the-token");
    assert_eq!(wrong.status, 401, "{}", wrong.text());
    let ok = get_with_token(a, "/admin/hotkeys", ADMIN);
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(ok.json()["enabled"], true);
    drop(node);
    let _ = std::fs::remove_dir_all(&dir);
}
