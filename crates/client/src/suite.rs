//! The client test suite: what `cache-client` runs with no command (the seed's `./bin/cache-client`).
//!
//! Checks, in order, against every node of the list: health; set/get/replace/delete through each
//! node; one key written through the first node read identically through every node (and deleted
//! through the last); a key that needs percent-encoding; a 1 s TTL that expires on every node;
//! cluster info (members up, every node on the same ring); metrics; import of a one-entry backup
//! and its presence in an export. Each check prints `PASS`/`FAIL` as it finishes, the last line
//! is `N passed, M failed`, and the exit status is 0 when all passed, 2 when no node answered at all
//! (then one line says so and how to start the cluster, instead of a FAIL per check), else 1. Keys are unique per run
//! (`cache-client-<pid>-<time>-...`) and deleted at the end.

use std::io::{self, Write};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::commands::Ctx;
use super::conn::{Conn, Response};
use super::http::key_path;
use super::nodes::{NodeAddr, Source};
use super::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};

mod checks;
use checks::{cluster_info, consistency, crud, health, import_export, key_encoding, metrics, ttl};

struct Check {
    name: String,
    ok: bool,
    detail: String,
    ms: f64,
}

struct Suite<'a> {
    ctx: &'a Ctx,
    conns: Vec<Conn>,
    run_id: String,
    keys: Vec<String>,
    checks: Vec<Check>,
    /// Nodes that answered their health check.
    reached: usize,
}

type Outcome = Result<String, String>;

impl Suite<'_> {
    fn nodes(&self) -> &[NodeAddr] {
        &self.ctx.nodes
    }

    fn key(&mut self, what: &str) -> String {
        let k = format!("{}-{what}", self.run_id);
        self.keys.push(k.clone());
        k
    }

    fn run(&mut self, name: String, f: impl FnOnce(&mut Self) -> Outcome) {
        let t = Instant::now();
        let res = f(self);
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        let (ok, detail) = match res {
            Ok(d) => (true, d),
            Err(d) => (false, d),
        };
        if !self.ctx.out.json {
            let tag = if ok { "PASS" } else { "FAIL" };
            println!("{tag} {name}: {detail} [{ms:.1} ms]");
            let _ = io::stdout().flush();
        }
        self.checks.push(Check {
            name,
            ok,
            detail,
            ms,
        });
    }

    fn req(
        &mut self,
        node: usize,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> Result<Response, String> {
        self.conns[node]
            .request(method, path, body.map(str::as_bytes))
            .map_err(|e| e.to_string())
    }

    fn put(
        &mut self,
        node: usize,
        key: &str,
        value: &Value,
        ttl: Option<u64>,
    ) -> Result<Response, String> {
        let body = match ttl {
            Some(t) => json!({"value": value, "ttl": t}),
            None => json!({"value": value}),
        };
        self.req(node, "PUT", &key_path(key), Some(&body.to_string()))
    }

    /// GET a key through `node`: `Some(value)` on 200, `None` on 404, an error otherwise.
    fn get(&mut self, node: usize, key: &str) -> Result<(Option<Value>, Response), String> {
        let r = self.req(node, "GET", &key_path(key), None)?;
        match r.status {
            200 => {
                let v = r
                    .json()
                    .ok_or("GET answered 200 with a body that is not JSON")?;
                Ok((Some(v), r))
            }
            404 => Ok((None, r)),
            s => Err(format!(
                "GET {key} via {}: HTTP {s} {}",
                self.nodes()[node].name,
                r.error_message()
            )),
        }
    }

    fn expect(&self, r: &Response, want: u16, what: &str, node: usize) -> Result<(), String> {
        if r.status == want {
            Ok(())
        } else {
            Err(format!(
                "{what} via {}: expected HTTP {want}, got {} {}",
                self.nodes()[node].name,
                r.status,
                r.error_message()
            ))
        }
    }
}

/// True when at least one node answers anything on its health route. Checked first so that a
/// cluster that is simply not running gives one clear line instead of a FAIL per check.
fn any_node_answers(s: &mut Suite) -> bool {
    (0..s.conns.len()).any(|i| s.req(i, "GET", "/api/v1/health", None).is_ok())
}

/// The one line (or JSON object) for "nothing to test": exit 2, as for a usage error.
fn nothing_reachable(ctx: &Ctx) -> u8 {
    let tried: Vec<&str> = ctx.nodes.iter().map(|n| n.addr.as_str()).collect();
    let msg = format!(
        "no node is reachable (tried {}); start the local cluster with ./scripts/start_cluster.sh \
         or name running nodes with --nodes HOST:PORT,...",
        tried.join(", ")
    );
    if ctx.out.json {
        ctx.out
            .value(&json!({"ok": false, "error": msg, "kind": "unreachable"}));
    } else {
        eprintln!("error: {msg}");
    }
    EXIT_USAGE
}

/// Run every check; returns the exit code.
pub fn run(ctx: &Ctx, source: &Source) -> u8 {
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let mut s = Suite {
        ctx,
        conns: ctx.nodes.iter().map(|n| ctx.conn(n)).collect(),
        run_id: format!("cache-client-{}-{stamp}", std::process::id()),
        keys: Vec::new(),
        checks: Vec::new(),
        reached: 0,
    };
    if !ctx.out.json {
        let from = match source {
            Source::Flag => "--nodes".to_string(),
            Source::Env => super::nodes::NODES_ENV.to_string(),
            Source::ConfigDir(d) => format!("{d}/node*.yaml"),
            Source::Default => "default".to_string(),
        };
        let list: Vec<String> = ctx
            .nodes
            .iter()
            .map(|n| format!("{} ({})", n.name, n.addr))
            .collect();
        println!(
            "cache-client test suite: {} node(s) from {from}: {}",
            ctx.nodes.len(),
            list.join(", ")
        );
    }
    if !any_node_answers(&mut s) {
        return nothing_reachable(ctx);
    }
    for i in 0..ctx.nodes.len() {
        let name = format!("health {}", ctx.nodes[i].name);
        s.run(name, |s| health(s, i));
    }
    for i in 0..ctx.nodes.len() {
        let name = format!("set/get/delete via {}", ctx.nodes[i].name);
        s.run(name, |s| crud(s, i));
    }
    s.run("cross-node consistency".into(), consistency);
    s.run("key percent-encoding".into(), key_encoding);
    s.run("ttl expiry".into(), ttl);
    s.run("cluster info".into(), cluster_info);
    s.run("metrics".into(), metrics);
    s.run("import and export".into(), import_export);
    // Best effort: every key this run may have created.
    for key in std::mem::take(&mut s.keys) {
        let _ = s.req(0, "DELETE", &key_path(&key), None);
    }
    let passed = s.checks.iter().filter(|c| c.ok).count();
    let failed = s.checks.len() - passed;
    if ctx.out.json {
        let checks: Vec<Value> = s
            .checks
            .iter()
            .map(|c| json!({"name": c.name, "ok": c.ok, "detail": c.detail, "ms": (c.ms * 10.0).round() / 10.0}))
            .collect();
        ctx.out
            .value(&json!({"passed": passed, "failed": failed, "checks": checks}));
    } else {
        println!("{passed} passed, {failed} failed");
    }
    match (failed, s.reached) {
        (0, _) => EXIT_OK,
        (_, 0) => EXIT_USAGE,
        _ => EXIT_FAILED,
    }
}
