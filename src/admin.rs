//! Admin and health endpoints: operations that touch every core (metrics, export, import) or
//! describe the node. They are rare, so they may allocate; they gather data by sending owned
//! calls to each core and never touch another core's shard directly.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::api::{self, Reply as R};
use crate::http::response::{json_escape, CONTENT_JSON, CONTENT_PROMETHEUS};
use crate::metrics::{self, CoreSnapshot, NodeFacts};
use crate::ops::{Call, Entry, Reply};
use crate::worker::Worker;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Entries fetched from a core per export step: bounds the memory an export holds at once.
pub const EXPORT_PAGE: usize = 1000;
/// Entries sent to a core per import call, so one import does not monopolise a core.
pub const IMPORT_BATCH: usize = 1000;
/// Marker and version of the export document, checked on import.
pub const EXPORT_FORMAT: &str = "distributed-cache-export";
pub const EXPORT_VERSION: u32 = 1;

/// Answer a health document `{"status":..,"node_id":..,<fields>}`: 200 while serving, 503 while
/// draining. `fields` are the document's remaining members, already JSON.
pub fn send_health(w: &Worker, out: &mut Vec<u8>, r: R, fields: &str) {
    let draining = w.draining();
    let mut b = Vec::with_capacity(96 + fields.len());
    b.extend_from_slice(b"{\"status\":\"");
    b.extend_from_slice(if draining { b"draining" } else { b"healthy" });
    b.extend_from_slice(b"\",\"node_id\":\"");
    json_escape(&mut b, w.cfg().node_id.as_bytes());
    b.extend_from_slice(b"\",");
    b.extend_from_slice(fields.as_bytes());
    b.push(b'}');
    let status = if draining { 503 } else { 200 };
    api::send(w, out, r, status, CONTENT_JSON, &b, &[]);
}

/// `GET /api/v1/health`.
pub fn health(w: &Worker, out: &mut Vec<u8>, r: R) {
    let fields = format!(
        "\"uptime_seconds\":{},\"version\":\"{VERSION}\",\"threads\":{}",
        w.shared.started.elapsed().as_secs(),
        w.shared.mesh.cores()
    );
    send_health(w, out, r, &fields);
}

/// Snapshots of every core, in core order.
pub async fn snapshots(w: &Worker) -> Vec<CoreSnapshot> {
    let mut out = Vec::with_capacity(w.shared.mesh.cores());
    for core in 0..w.shared.mesh.cores() {
        if let Reply::Snapshot(s) = w.run_on(core, Call::Snapshot).await {
            out.push(*s);
        }
    }
    out
}

/// `GET /admin/metrics`.
pub async fn metrics(w: &Worker, out: &mut Vec<u8>, r: R, extra: &str) {
    let snaps = snapshots(w).await;
    let cfg = w.cfg();
    let peers: Vec<&str> = w
        .shared
        .cluster
        .members
        .iter()
        .map(|m| m.id.as_str())
        .collect();
    let facts = NodeFacts {
        node_id: &cfg.node_id,
        version: VERSION,
        uptime_s: w.shared.started.elapsed().as_secs_f64(),
        start_time_s: w
            .shared
            .started_wall
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0),
        max_entries: cfg.cache_size as u64,
        max_bytes: cfg.max_memory,
        draining: w.shared.draining.load(Ordering::Relaxed),
        peers: &peers,
    };
    let text = metrics::render(&facts, &snaps, extra);
    api::send(w, out, r, 200, CONTENT_PROMETHEUS, text.as_bytes(), &[]);
}

/// Node-local totals: (entries, bytes).
pub async fn totals(w: &Worker) -> (u64, u64) {
    let snaps = snapshots(w).await;
    (
        snaps.iter().map(|s| s.shard.entries).sum(),
        snaps.iter().map(|s| s.shard.bytes).sum(),
    )
}

/// Append one export entry as a JSON object (no trailing separator).
pub fn write_entry(out: &mut Vec<u8>, e: &Entry) {
    out.extend_from_slice(b"{\"key\":\"");
    json_escape(out, &e.key);
    out.extend_from_slice(b"\",\"value\":");
    out.extend_from_slice(&e.value);
    if let Some(t) = e.ttl_ms {
        out.extend_from_slice(b",\"ttl_ms\":");
        out.extend_from_slice(itoa::Buffer::new().format(t).as_bytes());
    }
    out.push(b'}');
}

/// Walks every core's shard page by page; memory held is one page, whatever the data size.
pub struct LocalScan {
    core: usize,
    cursor: Option<usize>,
}

impl Default for LocalScan {
    fn default() -> Self {
        LocalScan {
            core: 0,
            cursor: Some(0),
        }
    }
}

impl LocalScan {
    /// The next page of entries; `None` when every core is done.
    pub async fn next_page(&mut self, w: &Worker) -> Option<Vec<Entry>> {
        loop {
            if self.core >= w.shared.mesh.cores() {
                return None;
            }
            let Some(cursor) = self.cursor else {
                self.core += 1;
                self.cursor = Some(0);
                continue;
            };
            match w
                .run_on(
                    self.core,
                    Call::Scan {
                        cursor,
                        max: EXPORT_PAGE,
                    },
                )
                .await
            {
                Reply::Scan { entries, next } => {
                    self.cursor = next;
                    if !entries.is_empty() {
                        return Some(entries);
                    }
                }
                _ => self.cursor = None,
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportDoc<'a> {
    format: &'a str,
    version: u32,
    #[serde(default)]
    node_id: Option<&'a str>,
    #[serde(default)]
    exported_at: Option<&'a str>,
    /// Members whose data the document holds / could not include (cluster exports).
    #[serde(default)]
    nodes: Option<Vec<&'a str>>,
    #[serde(default)]
    missing: Option<Vec<&'a str>>,
    #[serde(borrow)]
    entries: Vec<ImportEntry<'a>>,
    count: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportEntry<'a> {
    key: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    value: &'a RawValue,
    #[serde(default)]
    ttl_ms: Option<u64>,
}

/// A parsed, validated import document: entries grouped as owned data.
pub struct ImportPlan {
    pub entries: Vec<Entry>,
}

/// Parse and validate an export document. Errors name the problem (and the byte position).
pub fn parse_import(body: &[u8], max_key: usize, max_value: usize) -> Result<ImportPlan, String> {
    let doc: ImportDoc<'_> = serde_json::from_slice(body).map_err(|e| {
        format!("invalid export document: {e} (a truncated or corrupt backup file?)")
    })?;
    let _ = (doc.node_id, doc.exported_at, doc.nodes, doc.missing);
    if doc.format != EXPORT_FORMAT || doc.version != EXPORT_VERSION {
        return Err(format!(
            "unsupported export document: format {:?} version {} (expected {EXPORT_FORMAT:?} version {EXPORT_VERSION})",
            doc.format, doc.version
        ));
    }
    if doc.count != doc.entries.len() as u64 {
        return Err(format!(
            "export document is inconsistent: count says {} but it holds {} entries (truncated?)",
            doc.count,
            doc.entries.len()
        ));
    }
    let mut entries = Vec::with_capacity(doc.entries.len());
    for (i, e) in doc.entries.into_iter().enumerate() {
        if e.key.is_empty() || e.key.len() > max_key {
            return Err(format!(
                "entry {i}: key is empty or longer than max_key_bytes ({max_key})"
            ));
        }
        let raw = e.value.get().as_bytes();
        crate::json::check(raw)
            .map_err(|why| format!("entry {i} (key {:?}): invalid JSON value: {why}", e.key))?;
        let mut value = Vec::new();
        crate::json::minify(raw, &mut value);
        if value.len() > max_value {
            return Err(format!(
                "entry {i} (key {:?}): value larger than max_value_bytes ({max_value})",
                e.key
            ));
        }
        if e.ttl_ms == Some(0) {
            continue; // expired in transit: nothing to restore
        }
        entries.push(Entry {
            key: Bytes::from(e.key.into_owned().into_bytes()),
            value: Bytes::from(value),
            ttl_ms: e.ttl_ms,
        });
    }
    Ok(ImportPlan { entries })
}

/// Store `entries` on this node's cores (each key to the core that owns it).
pub async fn load_local(w: &Worker, entries: Vec<Entry>, only_missing: bool) -> (u64, u64) {
    let cores = w.shared.mesh.cores();
    let mut per_core: Vec<Vec<Entry>> = (0..cores).map(|_| Vec::new()).collect();
    let (mut stored, mut rejected) = (0, 0);
    let flush = |core: usize, batch: Vec<Entry>| {
        let fut = w.run_on(
            core,
            Call::Load {
                entries: batch,
                only_missing,
            },
        );
        async move {
            match fut.await {
                Reply::Loaded { stored, rejected } => (stored, rejected),
                _ => (0, 0),
            }
        }
    };
    for e in entries {
        let core = w.shared.core_of(&e.key);
        per_core[core].push(e);
        if per_core[core].len() >= IMPORT_BATCH {
            let (s, r) = flush(core, std::mem::take(&mut per_core[core])).await;
            stored += s;
            rejected += r;
        }
    }
    for (core, batch) in per_core.into_iter().enumerate() {
        if !batch.is_empty() {
            let (s, r) = flush(core, batch).await;
            stored += s;
            rejected += r;
        }
    }
    (stored, rejected)
}
