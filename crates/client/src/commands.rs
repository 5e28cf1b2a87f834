//! The everyday commands. Here: `health`, `metrics`; in the children: reading a key
//! ([`read`]: `get`), writing one ([`write`]: `set`, `cas`, `add`, `delete`; [`raw`]: `put
//! --file`; [`counter`]: `incr`), several at once ([`batch`]: `mget`, `mset`), [`flush`] and the
//! membership ([`cluster`]: `status`, `add`, `remove`); export and import are in
//! [`super::backup`]. Each returns its exit code; key commands use the first node of the list
//! (any node answers for any key), `health` asks every node, `cluster`, `metrics` and `flush` the
//! first node that answers.

pub mod batch;
pub mod cluster;
pub mod counter;
pub mod flush;
pub mod hotkeys;
pub mod raw;
pub mod read;
pub mod write;

use std::time::Duration;

use serde_json::{json, Value};

use super::conn::{Conn, Options, Response};
use super::error::ClientError;
use super::nodes::NodeAddr;
use super::output::{secs_text, Out};
use super::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};

/// What every command gets: the nodes, the per-request timeout, the output mode.
pub struct Ctx {
    pub nodes: Vec<NodeAddr>,
    pub timeout: Duration,
    pub out: Out,
}

impl Ctx {
    pub fn conn(&self, node: &NodeAddr) -> Conn {
        Conn::new(node.addr.clone(), self.timeout)
    }

    /// One request to the first node.
    pub fn first(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<Response, ClientError> {
        let node = &self.nodes[0];
        self.conn(node).request(method, path, body)
    }

    /// One request to the first node, with the headers and retry rule of `opts`.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        opts: &Options<'_>,
    ) -> Result<Response, ClientError> {
        self.conn(&self.nodes[0])
            .request_with(method, path, body, opts)
    }

    /// One request to each node in turn until one answers; the error of the last otherwise.
    pub fn any(&self, method: &str, path: &str) -> Result<(&NodeAddr, Response), ClientError> {
        self.any_with(method, path, None, &Options::default())
    }

    /// [`Ctx::any`] with a body and `opts`. A request other than a GET or HEAD goes to the next
    /// node only when it could not reach this one (connect or resolve failed): one that broke
    /// after sending may have run, and the error is reported instead of running it again.
    pub fn any_with(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        opts: &Options<'_>,
    ) -> Result<(&NodeAddr, Response), ClientError> {
        let mut last = None;
        for node in &self.nodes {
            match self.conn(node).request_with(method, path, body, opts) {
                Ok(r) => return Ok((node, r)),
                Err(e) => {
                    let unreached =
                        matches!(e, ClientError::Connect { .. } | ClientError::Resolve { .. });
                    if !unreached && !matches!(method, "GET" | "HEAD") {
                        return Err(e);
                    }
                    if !self.out.json {
                        eprintln!("warning: {e}");
                    }
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or(ClientError::Closed {
            addr: "(no nodes)".into(),
        }))
    }
}

/// A 404 for `key`: the node's JSON with `--json`, else one line on stderr; exit 1.
pub(crate) fn not_found(ctx: &Ctx, r: &Response, key: &str) -> u8 {
    if ctx.out.json {
        ctx.out.body(r);
    } else {
        eprintln!("not found: {key}");
    }
    EXIT_FAILED
}

/// Every node: 0 when all are healthy, 1 when some are not, 2 when none could be reached.
pub fn health(ctx: &Ctx) -> u8 {
    let mut rows = Vec::new();
    let (mut healthy, mut reached) = (0, 0);
    for node in &ctx.nodes {
        let row = match ctx.conn(node).request("GET", "/api/v1/health", None) {
            Ok(r) => {
                reached += 1;
                let body = r.json().unwrap_or(Value::Null);
                let ok = r.status == 200 && body["status"] == "healthy";
                healthy += usize::from(ok);
                let mut row = json!({"name": node.name, "address": node.addr, "ok": ok, "http_status": r.status});
                if let (Some(row), Some(b)) = (row.as_object_mut(), body.as_object()) {
                    row.extend(b.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
                row
            }
            Err(e) => {
                json!({"name": node.name, "address": node.addr, "ok": false, "error": e.to_string()})
            }
        };
        rows.push(row);
    }
    if ctx.out.json {
        ctx.out
            .value(&json!({"healthy": healthy, "total": ctx.nodes.len(), "nodes": rows}));
    } else {
        for r in &rows {
            let state = match (r["ok"].as_bool(), r["status"].as_str()) {
                (Some(true), _) => "healthy".to_string(),
                (_, Some(s)) => s.to_uppercase(),
                _ => "DOWN".to_string(),
            };
            let detail = match r["error"].as_str() {
                Some(e) => e.to_string(),
                None => format!(
                    "node {}  up {}  {} threads  v{}",
                    r["node_id"].as_str().unwrap_or("?"),
                    secs_text(r["uptime_seconds"].as_u64().unwrap_or(0)),
                    r["threads"].as_u64().unwrap_or(0),
                    r["version"].as_str().unwrap_or("?")
                ),
            };
            println!(
                "{:<22} {:<8} {detail}",
                r["address"].as_str().unwrap_or(""),
                state
            );
        }
        println!("{healthy}/{} nodes healthy", ctx.nodes.len());
    }
    match (healthy == ctx.nodes.len(), reached) {
        (true, _) => EXIT_OK,
        (false, 0) => EXIT_USAGE,
        (false, _) => EXIT_FAILED,
    }
}

/// One Prometheus sample line: `name{label="v",...} value`.
fn parse_sample(line: &str) -> Option<(String, serde_json::Map<String, Value>, f64)> {
    let (series, value) = line.rsplit_once(' ')?;
    let value: f64 = value.trim().parse().ok()?;
    let (name, labels) = match series.split_once('{') {
        Some((n, rest)) => (n, rest.strip_suffix('}')?),
        None => (series, ""),
    };
    let mut map = serde_json::Map::new();
    let mut rest = labels;
    while let Some((k, after)) = rest.split_once("=\"") {
        let mut val = String::new();
        let mut chars = after.char_indices();
        let mut end = after.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, 'n')) => val.push('\n'),
                    Some((_, c)) => val.push(c),
                    None => {}
                },
                '"' => {
                    end = i + 1;
                    break;
                }
                c => val.push(c),
            }
        }
        map.insert(
            k.trim_start_matches(',').trim().to_string(),
            Value::String(val),
        );
        rest = &after[end..];
    }
    Some((name.to_string(), map, value))
}

/// The first answering node's metrics; `prefix` keeps only families whose name starts with it.
pub fn metrics(ctx: &Ctx, prefix: Option<&str>) -> u8 {
    let (_, r) = match ctx.any("GET", "/admin/metrics") {
        Ok(x) => x,
        Err(e) => return ctx.out.client_error(&e),
    };
    if r.status != 200 {
        return ctx.out.http_failure("metrics", &r);
    }
    let text = r.text();
    let wanted = |name: &str| prefix.is_none_or(|p| name.starts_with(p));
    if ctx.out.json {
        let samples: Vec<Value> = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .filter_map(parse_sample)
            .filter(|(n, _, _)| wanted(n))
            .map(|(name, labels, value)| json!({"name": name, "labels": labels, "value": value}))
            .collect();
        ctx.out.value(&Value::Array(samples));
    } else {
        for line in text.lines() {
            let name = line
                .strip_prefix("# HELP ")
                .or_else(|| line.strip_prefix("# TYPE "))
                .unwrap_or(line);
            if wanted(name) {
                println!("{line}");
            }
        }
    }
    EXIT_OK
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_samples() {
        let (n, l, v) = parse_sample("cache_hits_total 2").unwrap();
        assert_eq!((n.as_str(), l.len(), v), ("cache_hits_total", 0, 2.0));
        let (n, l, v) =
            parse_sample(r#"cache_requests_total{route="cache",method="GET",status="200"} 17"#)
                .unwrap();
        assert_eq!(n, "cache_requests_total");
        assert_eq!(l["method"], "GET");
        assert_eq!(l["status"], "200");
        assert_eq!(v, 17.0);
        let (_, l, _) = parse_sample(r#"x{a="q\"uo,te",b="2"} 1.5e3"#).unwrap();
        assert_eq!(
            (l["a"].as_str(), l["b"].as_str()),
            (Some("q\"uo,te"), Some("2"))
        );
        assert!(parse_sample("garbage").is_none());
    }
}
