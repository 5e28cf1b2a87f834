//! What the flush tests share: the flush call and its answer, writing and checking key sets, a
//! cluster secret for in-process clusters, and token files.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::cluster_common::{call, get, put};
use crate::common::Resp;

/// `DELETE /admin/cache[?prefix=P]` on `addr` (`prefix` percent-encoded by the caller).
pub fn flush(addr: SocketAddr, prefix: Option<&str>, headers: &[(&str, &str)]) -> Resp {
    let path = match prefix {
        Some(p) => format!("/admin/cache?prefix={p}"),
        None => "/admin/cache".to_string(),
    };
    call(addr, "DELETE", &path, headers, None)
}

/// A flush answered 200: its `deleted` count, after checking the document's shape.
pub fn flushed(r: &Resp) -> u64 {
    assert_eq!(r.status, 200, "flush: {}", r.text());
    let v = r.json();
    assert_eq!(v["unreached"], serde_json::json!([]), "{v}");
    let version = v["version"].as_str().expect("version");
    assert_eq!(version.len(), 16, "{v}");
    v["deleted"].as_u64().expect("deleted")
}

/// Copies each member deleted (`nodes.<id>.deleted`), summed.
pub fn copies(r: &Resp) -> u64 {
    let v = r.json();
    v["nodes"]
        .as_object()
        .expect("nodes")
        .values()
        .map(|n| n["deleted"].as_u64().expect("deleted per node"))
        .sum()
}

/// PUT each key with the value `"<key>"`, through the nodes in turn; all must be stored.
pub fn write_all(addrs: &[SocketAddr], keys: &[String]) {
    for (i, k) in keys.iter().enumerate() {
        let r = put(addrs[i % addrs.len()], k, &format!("{{\"value\":\"{k}\"}}"));
        assert!(matches!(r.status, 200 | 201), "PUT {k}: {}", r.text());
    }
}

/// Assert every key reads `status` (200 with its own name as value, or 404) through every node.
pub fn assert_all(addrs: &[SocketAddr], keys: &[String], status: u16, ctx: &str) {
    for (n, &a) in addrs.iter().enumerate() {
        for k in keys {
            let r = get(a, k);
            assert_eq!(
                r.status,
                status,
                "{ctx}: GET {k} via node {n}: {}",
                r.text()
            );
            if status == 200 {
                assert_eq!(r.json()["value"], serde_json::json!(k), "{ctx}: {k}");
            }
        }
    }
}

pub fn keys(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

/// A directory of token files (mode 0600, as the node requires), removed on drop.
pub struct Secrets {
    pub dir: PathBuf,
}

impl Secrets {
    pub fn new(tag: &str) -> Secrets {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "dcache-api-flush-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("token dir");
        Secrets { dir }
    }

    /// The `auth:` section for `(key, token)` pairs, one file each.
    pub fn yaml(&self, pairs: &[(&str, &str)]) -> String {
        let mut y = String::from("auth:\n");
        for (key, token) in pairs {
            let p = self.dir.join(key);
            std::fs::write(&p, format!("{token}\n")).expect("write token file");
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).expect("chmod");
            y.push_str(&format!("  {key}: \"{}\"\n", p.display()));
        }
        y
    }
}

impl Drop for Secrets {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Value of a metric series summed over its label sets, as `u64`.
pub fn counter(addr: SocketAddr, name: &str) -> u64 {
    crate::cluster_common::metric_sum(&crate::cluster_common::metrics(addr), name) as u64
}
