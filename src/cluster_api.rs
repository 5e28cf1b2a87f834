//! Cluster-wide admin endpoints: `/admin/cluster`, `/admin/export`, `/admin/import`,
//! `/internal/cluster/health`, and the cluster part of `/admin/metrics`.
//!
//! The export document is one JSON object with one entry per line:
//! `{"format":..,"entries":[` LF `{entry},` LF ... `{entry}` LF `],"count":N,"nodes":[..],"missing":[..]}`.
//! Values are stored minified, so an entry never contains a raw newline: a node splices a peer's
//! export line by line (memory stays bounded to one page), and removing every CR/LF (as
//! `curl -d @file` does) still leaves the same document.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use bytes::BytesMut;
use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;

use crate::admin::{self, LocalScan, EXPORT_FORMAT, EXPORT_VERSION};
use crate::api::{self, Reply as R};
use crate::cluster::forward::{self, Outgoing};
use crate::cluster::unix_ms;
use crate::http::response::{json_escape, CONTENT_JSON};
use crate::http::{ChunkStatus, ChunkedDecoder, Method};
use crate::metrics::{family, label};
use crate::ops::{Call, Entry, Reply};
use crate::router::Req;
use crate::worker::Worker;

/// Entries per sub-document sent to a peer on import.
const IMPORT_FORWARD_BATCH: usize = 5000;
/// Largest single line accepted from a peer's export (one entry: key + value + framing).
const MAX_EXPORT_LINE_SLACK: usize = 64 * 1024;

/// Whole cluster (default) or only this node (`?scope=local`, what nodes ask each other).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Cluster,
    Local,
}

impl Scope {
    pub fn from_query(q: Option<&[u8]>) -> Scope {
        if has_param(q, b"scope=local") {
            Scope::Local
        } else {
            Scope::Cluster
        }
    }
}

fn has_param(q: Option<&[u8]>, param: &[u8]) -> bool {
    q.is_some_and(|q| q.split(|&b| b == b'&').any(|p| p == param))
}

fn hex(v: u64) -> String {
    format!("0x{v:016x}")
}

/// Live entry and byte totals of this node.
async fn local_totals(w: &Worker) -> (u64, u64) {
    let (mut entries, mut bytes) = (0, 0);
    for core in 0..w.shared.mesh.cores() {
        if let Reply::Stats(s) = w.run_on(core, Call::Stats).await {
            entries += s.entries;
            bytes += s.bytes;
        }
    }
    (entries, bytes)
}

/// `GET /internal/cluster/health`: what peers' probers read.
pub async fn internal_health(w: &Worker, out: &mut Vec<u8>, r: R) {
    let (entries, bytes) = local_totals(w).await;
    let ring = hex(w.shared.cluster.ring.version());
    let fields = format!("\"entries\":{entries},\"bytes\":{bytes},\"ring_version\":\"{ring}\"");
    admin::send_health(w, out, r, &fields);
}

/// `GET /admin/cluster`: this node, every member with its state, ring share and data.
pub async fn cluster_info(w: &Worker, out: &mut Vec<u8>, r: R) {
    let (entries, bytes) = local_totals(w).await;
    let cl = &w.shared.cluster;
    let shares = cl.ring.shares();
    let live = cl.live_shares();
    let now = unix_ms();
    let mut s = String::with_capacity(1024);
    let _ = write!(
        s,
        "{{\"node_id\":{},\"address\":{},\"listen\":\"{}\",\"ring_version\":\"{}\",\"virtual_nodes\":{},\"threads\":{},\"ring_changes\":{},\"keys_moved\":{},\"nodes\":[",
        json_str(&w.cfg().node_id),
        json_str(&w.cfg().address),
        w.shared.local_addr,
        hex(cl.ring.version()),
        w.cfg().virtual_nodes,
        w.shared.mesh.cores(),
        cl.ring_changes.load(Ordering::Relaxed),
        cl.keys_moved.load(Ordering::Relaxed),
    );
    let mut up = 0;
    for (i, m) in cl.members.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let me = i == cl.me;
        let alive = cl.is_alive(i);
        up += usize::from(alive);
        let state = if me {
            "self"
        } else if alive {
            "up"
        } else {
            "down"
        };
        let (e, b, rv, probe) = if me {
            (entries, bytes, cl.ring.version(), None)
        } else {
            let lp = m.last_probe_ms.load(Ordering::Relaxed);
            (
                m.entries.load(Ordering::Relaxed),
                m.bytes.load(Ordering::Relaxed),
                m.ring_version.load(Ordering::Relaxed),
                (lp > 0).then_some(lp),
            )
        };
        let last_error = m.last_error.lock().map(|g| g.clone()).unwrap_or_default();
        let _ = write!(
            s,
            "{{\"id\":{},\"address\":{},\"state\":\"{state}\",\"ring_share\":{:.4},\"live_share\":{:.4},\"entries\":{e},\"bytes\":{b},\"ring_version\":\"{}\",\"ring_agrees\":{}",
            json_str(&m.id),
            json_str(&m.addr),
            shares[i],
            live[i],
            hex(rv),
            rv == cl.ring.version()
        );
        if let Some(lp) = probe {
            let _ = write!(s, ",\"last_probe_ms_ago\":{}", now.saturating_sub(lp));
        }
        if !last_error.is_empty() {
            let _ = write!(s, ",\"last_error\":{}", json_str(&last_error));
        }
        s.push('}');
    }
    let _ = write!(
        s,
        "],\"nodes_up\":{up},\"nodes_total\":{}}}",
        cl.members.len()
    );
    api::send(w, out, r, 200, CONTENT_JSON, s.as_bytes(), &[]);
}

fn json_str(v: &str) -> String {
    let mut b = Vec::with_capacity(v.len() + 2);
    b.push(b'"');
    json_escape(&mut b, v.as_bytes());
    b.push(b'"');
    String::from_utf8(b).unwrap_or_default()
}

/// Cluster series for `/admin/metrics` (read from the shared membership atomics).
pub fn metrics_text(w: &Worker) -> String {
    let cl = &w.shared.cluster;
    let live = cl.live_shares();
    let mut o = String::with_capacity(1024);
    family(
        &mut o,
        "cache_cluster_node_up",
        "gauge",
        "This node's view of each member: 1 up (or self), 0 down.",
    );
    let mut up = 0;
    for (i, m) in cl.members.iter().enumerate() {
        let alive = cl.is_alive(i);
        up += u64::from(alive);
        let _ = writeln!(
            o,
            "cache_cluster_node_up{{node=\"{}\"}} {}",
            label(&m.id),
            u8::from(alive)
        );
    }
    family(
        &mut o,
        "cache_cluster_nodes_up",
        "gauge",
        "Members this node sees up, itself included.",
    );
    let _ = writeln!(o, "cache_cluster_nodes_up {up}");
    family(
        &mut o,
        "cache_ring_share",
        "gauge",
        "Fraction of the hash space each member serves now (down members 0).",
    );
    for (i, m) in cl.members.iter().enumerate() {
        let _ = writeln!(
            o,
            "cache_ring_share{{node=\"{}\"}} {:.6}",
            label(&m.id),
            live[i]
        );
    }
    family(
        &mut o,
        "cache_ring_changes_total",
        "counter",
        "Membership changes seen (a member went down or came back).",
    );
    let _ = writeln!(
        o,
        "cache_ring_changes_total {}",
        cl.ring_changes.load(Ordering::Relaxed)
    );
    family(
        &mut o,
        "cache_ring_keys_moved_total",
        "counter",
        "Local keys handed to their new owner after a membership change.",
    );
    let _ = writeln!(
        o,
        "cache_ring_keys_moved_total {}",
        cl.keys_moved.load(Ordering::Relaxed)
    );
    family(
        &mut o,
        "cache_ring_info",
        "gauge",
        "Ring fingerprint (differs between nodes = config skew).",
    );
    let _ = writeln!(
        o,
        "cache_ring_info{{version=\"{}\",virtual_nodes=\"{}\"}} 1",
        hex(cl.ring.version()),
        w.cfg().virtual_nodes
    );
    o
}

/// `POST /admin/import`: each key to its current owner. `?scope=local` stores everything here.
pub async fn import(w: &Worker, out: &mut Vec<u8>, r: R, req: &Req<'_>) {
    let plan = match admin::parse_import(req.body, w.cfg().max_key_bytes, w.cfg().max_value_bytes) {
        Ok(p) => p,
        Err(msg) => return api::error(w, out, r, 400, &msg, None, &[]),
    };
    let total = plan.entries.len();
    let cl = &w.shared.cluster;
    let local_only = Scope::from_query(req.query) == Scope::Local || cl.is_standalone();
    let only_missing = has_param(req.query, b"if_absent=1");
    let mut per_node: Vec<Vec<Entry>> = (0..cl.members.len()).map(|_| Vec::new()).collect();
    for e in plan.entries {
        let owner = if local_only { cl.me } else { cl.owner(&e.key) };
        per_node[owner].push(e);
    }
    let (mut stored, mut rejected) = (0u64, 0u64);
    let mut per = String::new();
    let mut failures = Vec::new();
    for (idx, entries) in per_node.into_iter().enumerate() {
        if entries.is_empty() {
            continue;
        }
        let n = entries.len();
        let result = if idx == cl.me {
            Ok(admin::load_local(w, entries, only_missing).await)
        } else {
            send_import(w, idx, &entries, only_missing).await
        };
        match result {
            Ok((s, rj)) => {
                stored += s;
                rejected += rj;
                let _ = write!(
                    per,
                    "{}{}:{s}",
                    if per.is_empty() { "" } else { "," },
                    json_str(&cl.members[idx].id)
                );
            }
            Err(e) => failures.push(format!("{} ({} entries): {e}", cl.members[idx].id, n)),
        }
    }
    let mut body = format!(
        "{{\"imported\":{stored},\"rejected\":{rejected},\"total\":{total},\"nodes\":{{{per}}}"
    );
    if failures.is_empty() {
        body.push('}');
        api::send(w, out, r, 200, CONTENT_JSON, body.as_bytes(), &[]);
    } else {
        let msg = format!("import incomplete: {}", failures.join("; "));
        let _ = write!(body, ",\"error\":{},\"status\":502}}", json_str(&msg));
        api::send(w, out, r, 502, CONTENT_JSON, body.as_bytes(), &[]);
    }
}

/// Send entries to `peer` as local-scope import documents, in batches.
async fn send_import(
    w: &Worker,
    peer: usize,
    entries: &[Entry],
    only_missing: bool,
) -> Result<(u64, u64), String> {
    let query: &[u8] = if only_missing {
        b"scope=local&if_absent=1"
    } else {
        b"scope=local"
    };
    let (mut stored, mut rejected) = (0, 0);
    let mut doc = Vec::with_capacity(64 * 1024);
    for batch in entries.chunks(IMPORT_FORWARD_BATCH) {
        doc.clear();
        doc.extend_from_slice(
            format!("{{\"format\":\"{EXPORT_FORMAT}\",\"version\":{EXPORT_VERSION},\"entries\":[")
                .as_bytes(),
        );
        for (i, e) in batch.iter().enumerate() {
            if i > 0 {
                doc.push(b',');
            }
            admin::write_entry(&mut doc, e);
        }
        doc.extend_from_slice(format!("],\"count\":{}}}", batch.len()).as_bytes());
        let req = Outgoing {
            method: Method::Post,
            path: b"/admin/import",
            query: Some(query),
            body: Some(&doc),
        };
        let (status, body) = forward::call(w, peer, &req, w.cfg().timeouts.body)
            .await
            .map_err(|e| format!("{e:?}"))?;
        let v: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| format!("bad import answer: {e}"))?;
        if status != 200 {
            return Err(format!(
                "answered {status}: {}",
                v.get("error").and_then(|e| e.as_str()).unwrap_or("")
            ));
        }
        stored += v.get("imported").and_then(|x| x.as_u64()).unwrap_or(0);
        rejected += v.get("rejected").and_then(|x| x.as_u64()).unwrap_or(0);
    }
    Ok((stored, rejected))
}

/// Attempts to hand keys to their owner before keeping them here for the next ring check.
const MIGRATE_ATTEMPTS: u32 = 5;
/// Pause between hand-over attempts (a node that just came back may still be warming up).
const MIGRATE_RETRY: std::time::Duration = std::time::Duration::from_millis(500);

/// After a membership change (or a forwarded write this node does not own): hand the keys this
/// core holds for other nodes to their owner, then forget them here, so a copy made while its
/// owner was down can never be served stale after a later failure. The hand-over overwrites:
/// the owner's own copy predates its outage, while ours was written during it. Keys are only
/// forgotten after their owner confirmed them; if it cannot be reached they stay here.
pub async fn migrate_foreign(w: std::rc::Rc<Worker>) {
    let cl = &w.shared.cluster;
    for attempt in 1..=MIGRATE_ATTEMPTS {
        let now = w.now_ms();
        let mut per_node: Vec<Vec<Entry>> = (0..cl.members.len()).map(|_| Vec::new()).collect();
        {
            let shard = w.shard.borrow();
            let mut cursor = Some(0);
            while let Some(c) = cursor {
                cursor = shard.scan(c, 1024, now, |k, v, ttl_ms| {
                    let owner = cl.owner(k);
                    if owner != cl.me {
                        per_node[owner].push(Entry {
                            key: bytes::Bytes::copy_from_slice(k),
                            value: bytes::Bytes::copy_from_slice(v),
                            ttl_ms,
                        });
                    }
                });
            }
        }
        let mut pending = false;
        for (idx, entries) in per_node.iter().enumerate() {
            if entries.is_empty() {
                continue;
            }
            match send_import(&w, idx, entries, false).await {
                Ok((stored, rejected)) => {
                    // Forget exactly what was handed over (unless it changed here meanwhile).
                    let mut shard = w.shard.borrow_mut();
                    let now = w.now_ms();
                    let sent: std::collections::HashSet<&[u8]> =
                        entries.iter().map(|e| &e.key[..]).collect();
                    shard.retain(now, |k| !sent.contains(k) || cl.owner(k) == cl.me);
                    cl.keys_moved.fetch_add(stored, Ordering::Relaxed);
                    crate::info!(
                        "core {}: handed {stored} keys to their owner {} ({rejected} rejected)",
                        w.core,
                        cl.members[idx].id
                    );
                }
                Err(e) => {
                    pending = true;
                    crate::warn!(
                        "core {}: could not hand {} keys to {} (attempt {attempt}/{MIGRATE_ATTEMPTS}): {e}",
                        w.core,
                        entries.len(),
                        cl.members[idx].id
                    );
                }
            }
        }
        if !pending {
            return;
        }
        monoio::time::sleep(MIGRATE_RETRY).await;
    }
    crate::warn!(
        "core {}: keeping keys of unreachable owners until the next membership change",
        w.core
    );
}

enum Phase {
    Start,
    Local,
    /// Next member index to visit.
    Peer(usize),
    /// Streaming member `.0`'s export.
    Streaming(usize, Box<PeerExport>),
    Done,
}

/// Produces the export document piece by piece (this node's shards, then each live peer's);
/// each call appends at most one page or one network read, so memory stays bounded.
pub struct Exporter {
    scope: Scope,
    scan: LocalScan,
    phase: Phase,
    count: u64,
    nodes: Vec<String>,
    missing: Vec<String>,
}

impl Exporter {
    pub fn new(_w: &Worker, scope: Scope) -> Self {
        Exporter {
            scope,
            scan: LocalScan::default(),
            phase: Phase::Start,
            count: 0,
            nodes: Vec::new(),
            missing: Vec::new(),
        }
    }

    fn push_entry(count: &mut u64, out: &mut Vec<u8>, entry: &[u8]) {
        if *count > 0 {
            out.push(b',');
        }
        out.push(b'\n');
        out.extend_from_slice(entry);
        *count += 1;
    }

    /// Append the next piece to `out`; Ok(false) when the document is complete.
    pub async fn next(&mut self, w: &Worker, out: &mut Vec<u8>) -> Result<bool, String> {
        let cl = &w.shared.cluster;
        let phase = std::mem::replace(&mut self.phase, Phase::Done);
        self.phase = match phase {
            Phase::Start => {
                out.extend_from_slice(format!("{{\"format\":\"{EXPORT_FORMAT}\",\"version\":{EXPORT_VERSION},\"node_id\":\"").as_bytes());
                json_escape(out, w.cfg().node_id.as_bytes());
                out.extend_from_slice(b"\",\"exported_at\":\"");
                out.extend_from_slice(
                    crate::log::timestamp(std::time::SystemTime::now()).as_bytes(),
                );
                out.extend_from_slice(b"\",\"entries\":[");
                Phase::Local
            }
            Phase::Local => match self.scan.next_page(w).await {
                Some(page) => {
                    let mut line = Vec::with_capacity(256);
                    for e in &page {
                        line.clear();
                        admin::write_entry(&mut line, e);
                        Self::push_entry(&mut self.count, out, &line);
                    }
                    Phase::Local
                }
                None => {
                    self.nodes.push(w.cfg().node_id.clone());
                    if self.scope == Scope::Local {
                        Phase::Done
                    } else {
                        Phase::Peer(0)
                    }
                }
            },
            Phase::Peer(i) if i >= cl.members.len() => Phase::Done,
            Phase::Peer(i) if i == cl.me => Phase::Peer(i + 1),
            Phase::Peer(i) if !cl.is_alive(i) => {
                self.missing.push(cl.members[i].id.clone());
                Phase::Peer(i + 1)
            }
            Phase::Peer(i) => Phase::Streaming(i, Box::new(PeerExport::open(w, i).await?)),
            Phase::Streaming(i, mut px) => {
                let done = px.step(w, &mut self.count, out).await?;
                if done {
                    self.nodes.push(cl.members[i].id.clone());
                    Phase::Peer(i + 1)
                } else {
                    Phase::Streaming(i, px)
                }
            }
            Phase::Done => {
                let list =
                    |v: &[String]| v.iter().map(|s| json_str(s)).collect::<Vec<_>>().join(",");
                out.extend_from_slice(
                    format!(
                        "\n],\"count\":{},\"nodes\":[{}],\"missing\":[{}]}}\n",
                        self.count,
                        list(&self.nodes),
                        list(&self.missing)
                    )
                    .as_bytes(),
                );
                return Ok(false);
            }
        };
        Ok(true)
    }
}

/// One peer's local export being read and spliced line by line.
pub struct PeerExport {
    stream: TcpStream,
    peer_id: String,
    raw: Vec<u8>,
    decoded: BytesMut,
    dec: ChunkedDecoder,
    head_done: bool,
    lines_seen: usize,
    max_line: usize,
}

impl PeerExport {
    async fn open(w: &Worker, peer: usize) -> Result<PeerExport, String> {
        let cl = &w.shared.cluster;
        let m = &cl.members[peer];
        let mut last = String::from("no address");
        let mut stream = None;
        for addr in cl.addrs(peer) {
            match monoio::time::timeout(
                w.cfg().cluster.connect_timeout,
                TcpStream::connect_addr(addr),
            )
            .await
            {
                Ok(Ok(s)) => {
                    stream = Some(s);
                    break;
                }
                Ok(Err(e)) => last = format!("{addr}: {}", e.to_string().to_lowercase()),
                Err(_) => last = format!("{addr}: connect timed out"),
            }
        }
        let mut stream =
            stream.ok_or_else(|| format!("export from {} ({}): {last}", m.id, m.addr))?;
        let req = format!(
            "GET /admin/export?scope=local HTTP/1.1\r\nHost: {}\r\nX-Cache-Forwarded: {}\r\nConnection: close\r\n\r\n",
            m.addr,
            cl.self_id()
        );
        let (res, _) = stream.write_all(req.into_bytes()).await;
        res.map_err(|e| format!("export from {}: {e}", m.id))?;
        Ok(PeerExport {
            stream,
            peer_id: m.id.clone(),
            raw: Vec::with_capacity(64 * 1024),
            decoded: BytesMut::with_capacity(64 * 1024),
            // The peer's document size is unbounded by design (it is streamed); lines are bounded below.
            dec: ChunkedDecoder::new(usize::MAX / 2),
            head_done: false,
            lines_seen: 0,
            max_line: w.cfg().max_value_bytes + w.cfg().max_key_bytes * 6 + MAX_EXPORT_LINE_SLACK,
        })
    }

    /// Read once and copy the complete entry lines; Ok(true) at the end of the peer's document.
    async fn step(
        &mut self,
        w: &Worker,
        count: &mut u64,
        out: &mut Vec<u8>,
    ) -> Result<bool, String> {
        let id = &self.peer_id;
        if self.raw.capacity() - self.raw.len() < 4096 {
            self.raw.reserve(64 * 1024);
        }
        let buf = std::mem::take(&mut self.raw);
        let (len, cap) = (buf.len(), buf.capacity());
        let (res, slice) = match monoio::time::timeout(
            w.cfg().timeouts.write,
            self.stream.read(buf.slice_mut(len..cap)),
        )
        .await
        {
            Ok(r) => r,
            Err(_) => return Err(format!("export from {id}: timed out")),
        };
        self.raw = slice.into_inner();
        let n = res.map_err(|e| format!("export from {id}: {e}"))?;
        if !self.head_done {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut resp = httparse::Response::new(&mut headers);
            match resp.parse(&self.raw) {
                Ok(httparse::Status::Complete(h)) => {
                    if resp.code != Some(200) {
                        return Err(format!(
                            "export from {id}: answered {}",
                            resp.code.unwrap_or(0)
                        ));
                    }
                    self.raw.drain(..h);
                    self.head_done = true;
                }
                Ok(httparse::Status::Partial) if n > 0 => return Ok(false),
                _ => return Err(format!("export from {id}: malformed or missing response")),
            }
        }
        let finished = match self.dec.decode(&self.raw, &mut self.decoded) {
            Ok(ChunkStatus::Done { .. }) => true,
            Ok(ChunkStatus::NeedMore { .. }) => false,
            Err(e) => return Err(format!("export from {id}: {}", e.message())),
        };
        self.raw.clear();
        while let Some(pos) = self.decoded.iter().position(|&b| b == b'\n') {
            let line = self.decoded.split_to(pos + 1);
            let line = &line[..pos];
            self.lines_seen += 1;
            if self.lines_seen == 1 || line.starts_with(b"]") || line.is_empty() {
                continue; // the document's header and footer lines
            }
            let entry = line.strip_suffix(b",").unwrap_or(line);
            if !(entry.starts_with(b"{\"key\":") && entry.ends_with(b"}")) {
                return Err(format!("export from {id}: unexpected line in its document"));
            }
            Exporter::push_entry(count, out, entry);
        }
        if self.decoded.len() > self.max_line {
            return Err(format!("export from {id}: line too long"));
        }
        if finished {
            return Ok(true);
        }
        if n == 0 {
            return Err(format!(
                "export from {id}: connection closed before the end of its document"
            ));
        }
        Ok(false)
    }
}
