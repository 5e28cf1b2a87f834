//! The suite's checks, one function each; [`super::run`] runs them in order.

use std::io::{self, Write};
use std::time::{Duration, Instant};

use serde_json::json;

use super::{Outcome, Suite};
use crate::conn::Body;
use crate::http::key_path;

/// How long after the PUT a 1 s TTL key is checked: TTLs are enforced to the millisecond, so
/// half a second of slack covers clock steps and a slow machine.
const TTL_CHECK_AFTER: Duration = Duration::from_millis(1500);

pub(super) fn health(s: &mut Suite, i: usize) -> Outcome {
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

pub(super) fn crud(s: &mut Suite, i: usize) -> Outcome {
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

pub(super) fn consistency(s: &mut Suite) -> Outcome {
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

pub(super) fn key_encoding(s: &mut Suite) -> Outcome {
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

pub(super) fn ttl(s: &mut Suite) -> Outcome {
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

pub(super) fn cluster_info(s: &mut Suite) -> Outcome {
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

pub(super) fn metrics(s: &mut Suite) -> Outcome {
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

pub(super) fn import_export(s: &mut Suite) -> Outcome {
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
