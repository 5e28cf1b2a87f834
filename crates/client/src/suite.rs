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
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::commands::Ctx;
use super::conn::{Body, Conn, Response};
use super::http::key_path;
use super::nodes::{NodeAddr, Source};
use super::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};

/// How long after the PUT a 1 s TTL key is checked: TTLs are enforced to the millisecond, so
/// half a second of slack covers clock steps and a slow machine.
const TTL_CHECK_AFTER: Duration = Duration::from_millis(1500);

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

fn health(s: &mut Suite, i: usize) -> Outcome {
    let r = s.req(i, "GET", "/api/v1/health", None)?;
    s.reached += 1;
    s.expect(&r, 200, "health", i)?;
    let v = r.json().ok_or("health body is not JSON")?;
    if v["status"] != "healthy" {
        return Err(format!("status is {}", v["status"]));
    }
    Ok(format!(
        "healthy, node {}, {} threads",
        v["node_id"].as_str().unwrap_or("?"),
        v["threads"]
    ))
}

fn crud(s: &mut Suite, i: usize) -> Outcome {
    let name = s.nodes()[i].name.clone();
    let key = s.key(&format!("crud-{i}"));
    let v1 = json!({"n": i, "via": name});
    let r = s.put(i, &key, &v1, None)?;
    s.expect(&r, 201, "PUT (create)", i)?;
    let (got, r) = s.get(i, &key)?;
    let owner = r.header("x-cache-node").unwrap_or("?").to_string();
    if got.as_ref().map(|g| &g["value"]) != Some(&v1) {
        return Err(format!("read back {got:?}, wrote {v1}"));
    }
    let v2 = json!(["replaced", i]);
    let r = s.put(i, &key, &v2, None)?;
    s.expect(&r, 200, "PUT (replace)", i)?;
    let (got, _) = s.get(i, &key)?;
    if got.as_ref().map(|g| &g["value"]) != Some(&v2) {
        return Err(format!("after replace read {got:?}, wrote {v2}"));
    }
    let r = s.req(i, "DELETE", &key_path(&key), None)?;
    s.expect(&r, 200, "DELETE", i)?;
    if s.get(i, &key)?.0.is_some() {
        return Err("still readable after DELETE".into());
    }
    let r = s.req(i, "DELETE", &key_path(&key), None)?;
    s.expect(&r, 404, "DELETE of a deleted key", i)?;
    Ok(format!(
        "created, read, replaced, deleted, then 404 (owner {owner})"
    ))
}

fn consistency(s: &mut Suite) -> Outcome {
    let key = s.key("shared");
    let value = json!({"list": [1, 2.5, null, "héllo"], "nested": {"ok": true}});
    let r = s.put(0, &key, &value, None)?;
    s.expect(&r, 201, "PUT", 0)?;
    let mut owners = Vec::new();
    for i in 0..s.nodes().len() {
        let (got, r) = s.get(i, &key)?;
        if got.as_ref().map(|g| &g["value"]) != Some(&value) {
            return Err(format!(
                "{} reads {got:?}, node 1 wrote {value}",
                s.nodes()[i].name
            ));
        }
        owners.push(r.header("x-cache-node").unwrap_or("?").to_string());
    }
    if owners.iter().any(|o| *o != owners[0]) {
        return Err(format!("nodes disagree on the owner: {owners:?}"));
    }
    let last = s.nodes().len() - 1;
    let r = s.req(last, "DELETE", &key_path(&key), None)?;
    s.expect(&r, 200, "DELETE", last)?;
    for i in 0..s.nodes().len() {
        if s.get(i, &key)?.0.is_some() {
            return Err(format!(
                "{} still has the key after DELETE via {}",
                s.nodes()[i].name,
                s.nodes()[last].name
            ));
        }
    }
    Ok(format!(
        "written via {}, same value on all {} nodes (owner {}), deleted via {}",
        s.nodes()[0].name,
        s.nodes().len(),
        owners[0],
        s.nodes()[last].name
    ))
}

fn key_encoding(s: &mut Suite) -> Outcome {
    let key = s.key("ünï cödé/%2F?#&+");
    let r = s.put(0, &key, &json!("encoded"), None)?;
    s.expect(&r, 201, "PUT", 0)?;
    let last = s.nodes().len() - 1;
    let (got, _) = s.get(last, &key)?;
    let got = got.ok_or("not found after PUT")?;
    if got["key"] != key.as_str() || got["value"] != "encoded" {
        return Err(format!("read back {got}"));
    }
    let r = s.req(last, "DELETE", &key_path(&key), None)?;
    s.expect(&r, 200, "DELETE", last)?;
    Ok("UTF-8, space, '/', '%', '?', '#' survive the round trip".into())
}

fn ttl(s: &mut Suite) -> Outcome {
    let key = s.key("ttl");
    let put_at = Instant::now();
    let r = s.put(0, &key, &json!("short-lived"), Some(1))?;
    s.expect(&r, 201, "PUT with ttl 1", 0)?;
    let last = s.nodes().len() - 1;
    let (got, _) = s.get(last, &key)?;
    let got = got.ok_or("gone before its TTL")?;
    if got["ttl"] != 1 {
        return Err(format!("ttl reads {} (expected 1)", got["ttl"]));
    }
    std::thread::sleep(TTL_CHECK_AFTER.saturating_sub(put_at.elapsed()));
    for i in 0..s.nodes().len() {
        if let (Some(v), _) = s.get(i, &key)? {
            return Err(format!(
                "{} still returns {v} {:?} after the TTL",
                s.nodes()[i].name,
                put_at.elapsed()
            ));
        }
    }
    Ok(format!(
        "ttl 1 s visible, then 404 on every node after {:.1} s",
        put_at.elapsed().as_secs_f64()
    ))
}

fn cluster_info(s: &mut Suite) -> Outcome {
    let mut versions = Vec::new();
    let mut shape = String::new();
    for i in 0..s.nodes().len() {
        let r = s.req(i, "GET", "/admin/cluster", None)?;
        s.expect(&r, 200, "cluster", i)?;
        let v = r.json().ok_or("cluster body is not JSON")?;
        let name = &s.nodes()[i].name;
        if v["nodes_up"] != v["nodes_total"] {
            return Err(format!(
                "{name} sees {}/{} nodes up",
                v["nodes_up"], v["nodes_total"]
            ));
        }
        let members = v["nodes"].as_array().ok_or("no nodes array")?;
        if let Some(m) = members.iter().find(|m| m["ring_agrees"] == false) {
            return Err(format!("{name}: {} is on another ring", m["id"]));
        }
        versions.push(v["ring_version"].as_str().unwrap_or("?").to_string());
        shape = format!("{}/{} nodes up", v["nodes_up"], v["nodes_total"]);
    }
    if versions.iter().any(|v| *v != versions[0]) {
        return Err(format!("nodes report different rings: {versions:?}"));
    }
    Ok(format!("{shape}, every node on ring {}", versions[0]))
}

fn metrics(s: &mut Suite) -> Outcome {
    for i in 0..s.nodes().len() {
        let r = s.req(i, "GET", "/admin/metrics", None)?;
        s.expect(&r, 200, "metrics", i)?;
        if !r.text().contains("cache_requests_total") {
            return Err(format!("{}: no cache_requests_total", s.nodes()[i].name));
        }
    }
    Ok("every node exposes cache_requests_total".into())
}

/// Does the stream contain `needle`? Keeps only an overlap between writes.
struct Find<'n> {
    needle: &'n [u8],
    window: Vec<u8>,
    found: bool,
}

impl Write for Find<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.window.extend_from_slice(buf);
        self.found |= self
            .window
            .windows(self.needle.len())
            .any(|w| w == self.needle);
        let keep = self.needle.len().saturating_sub(1).min(self.window.len());
        self.window.drain(..self.window.len() - keep);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn import_export(s: &mut Suite) -> Outcome {
    let key = s.key("restored");
    let doc = json!({"format": "distributed-cache-export", "version": 1,
        "entries": [{"key": key, "value": {"restored": true}}], "count": 1});
    let r = s.req(0, "POST", "/admin/import", Some(&doc.to_string()))?;
    s.expect(&r, 200, "import", 0)?;
    let last = s.nodes().len() - 1;
    let (got, _) = s.get(last, &key)?;
    if got.as_ref().map(|g| &g["value"]) != Some(&json!({"restored": true})) {
        return Err(format!(
            "after import {} reads {got:?}",
            s.nodes()[last].name
        ));
    }
    let needle = format!("{{\"key\":{}", json!(key));
    let mut find = Find {
        needle: needle.as_bytes(),
        window: Vec::new(),
        found: false,
    };
    let meta = s.conns[last]
        .request_to("GET", "/admin/export", Body::None, &mut find)
        .map_err(|e| e.to_string())?;
    if meta.status != 200 {
        return Err(format!("export: HTTP {}", meta.status));
    }
    if !find.found {
        return Err(format!(
            "the export via {} lacks the imported key",
            s.nodes()[last].name
        ));
    }
    Ok(format!(
        "imported via {}, read and exported via {}",
        s.nodes()[0].name,
        s.nodes()[last].name
    ))
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
