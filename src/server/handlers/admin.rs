//! Admin and health endpoints: `/api/v1/health`, `/internal/cluster/health`, `/admin/metrics`,
//! `/admin/cluster`. They are rare, so they may allocate; they gather per-core data with typed
//! closures run on each core ([`Core::on_every_core`]) and never touch another core's shard.

use std::fmt::Write as _;
use std::rc::Rc;
use std::sync::atomic::Ordering;

use crate::cluster::unix_ms;
use crate::http::response::{json_escape, CONTENT_JSON, CONTENT_PROMETHEUS};
use crate::mesh::oneshot::Canceled;
use crate::metrics::{self, family, label, CoreSnapshot, NodeFacts};
use crate::server::core::Core;
use crate::server::respond::Meta;
use crate::storage::ShardStats;

pub(crate) const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Answer 503 when a core stopped before answering (the node is shutting down).
fn stopped(c: &Core, out: &mut Vec<u8>, m: Meta, e: Canceled) {
    c.resp.error(
        out,
        m,
        503,
        &format!("node is shutting down: {e}"),
        None,
        &[],
    );
}

/// Live entry and byte totals of this node.
async fn local_totals(c: &Rc<Core>) -> Result<(u64, u64), Canceled> {
    let stats: Vec<ShardStats> = c.on_every_core(|c| c.exec.shard.borrow().stats()).await?;
    Ok((
        stats.iter().map(|s| s.entries).sum(),
        stats.iter().map(|s| s.bytes).sum(),
    ))
}

/// Snapshots of every core, in core order.
async fn snapshots(c: &Rc<Core>) -> Result<Vec<CoreSnapshot>, Canceled> {
    c.on_every_core(|c| {
        let stats = c.exec.shard.borrow().stats();
        let h = c.hints.borrow();
        let hints = metrics::HintCounts {
            queued: h.stats.queued,
            delivered: h.stats.delivered,
            dropped: h.stats.dropped,
            bytes: h.totals().1,
            pending: (0..crate::cluster::MAX_MEMBERS)
                .map(|p| h.pending(p) as u64)
                .collect(),
        };
        let mut snap = c.resp.metrics.snapshot(c.exec.core, stats, hints);
        // Counted by the peer client: the cluster layer knows no metrics.
        snap.trust[metrics::Trust::ForwardsAbandoned as usize] += c.peers.abandoned();
        snap.peer_batches = c.peers.batches();
        snap.hot.keys = c.hot.hot_count(c.exec.now_ms());
        snap
    })
    .await
}

/// What this node says it is doing: `healthy`, `syncing` (catching up from peers after a start
/// or a pause: it coordinates no key yet) or `draining`.
fn own_status(c: &Core) -> &'static str {
    use crate::cluster::MemberState;
    if c.draining() {
        return "draining";
    }
    let cl = &c.node.cluster;
    if !cl.is_member() {
        return "removed";
    }
    if !cl.serves() {
        return "refusing";
    }
    match cl.own_state() {
        MemberState::Syncing => "syncing",
        MemberState::Draining => "draining",
        _ => "healthy",
    }
}

/// Answer a health document `{"status":..,"node_id":..,<fields>}`: 200 while serving, 503 while
/// syncing or draining (`always_ok`: 200 anyway, for peers' probers that read the status).
/// `fields` are the document's remaining members, already JSON.
pub(crate) fn send_health(c: &Core, out: &mut Vec<u8>, m: Meta, fields: &str, always_ok: bool) {
    let status_text = own_status(c);
    let mut b = Vec::with_capacity(96 + fields.len());
    b.extend_from_slice(b"{\"status\":\"");
    b.extend_from_slice(status_text.as_bytes());
    b.extend_from_slice(b"\",\"node_id\":\"");
    json_escape(&mut b, c.cfg().node_id.as_bytes());
    b.extend_from_slice(b"\",");
    b.extend_from_slice(fields.as_bytes());
    b.push(b'}');
    let serving = status_text == "healthy";
    let status = if serving || always_ok { 200 } else { 503 };
    let retry: &[(&str, &[u8])] = if serving {
        &[]
    } else {
        &[("Retry-After", b"1")]
    };
    c.resp.send(out, m, status, CONTENT_JSON, &b, retry);
}

/// `GET /api/v1/health`.
pub(crate) fn health(c: &Core, out: &mut Vec<u8>, m: Meta) {
    let fields = format!(
        "\"uptime_seconds\":{},\"version\":\"{VERSION}\",\"threads\":{}",
        c.node.started.elapsed().as_secs(),
        c.exec.cores()
    );
    send_health(c, out, m, &fields, false);
}

/// The API index answered at `GET /`: every public route with its methods. Static, so a
/// newcomer's first `curl localhost:8001/` shows where to go instead of a bare 404.
const INDEX: &str = concat!(
    "{\"service\":\"distributed-cache\",\"version\":\"",
    env!("CARGO_PKG_VERSION"),
    "\",\"docs\":\"docs/api.md\",\"routes\":[",
    "{\"path\":\"/api/v1/health\",\"methods\":[\"GET\",\"HEAD\"]},",
    "{\"path\":\"/api/v1/cache/{key}\",\"methods\":[\"GET\",\"HEAD\",\"PUT\",\"DELETE\"]},",
    "{\"path\":\"/api/v1/cache/{key}/incr\",\"methods\":[\"POST\"]},",
    "{\"path\":\"/api/v1/batch\",\"methods\":[\"POST\"]},",
    "{\"path\":\"/admin/metrics\",\"methods\":[\"GET\",\"HEAD\"]},",
    "{\"path\":\"/admin/cluster\",\"methods\":[\"GET\",\"HEAD\"]},",
    "{\"path\":\"/admin/cluster/nodes\",\"methods\":[\"GET\",\"HEAD\",\"POST\"]},",
    "{\"path\":\"/admin/cluster/nodes/{node_id}\",\"methods\":[\"GET\",\"HEAD\",\"DELETE\"]},",
    "{\"path\":\"/admin/export\",\"methods\":[\"GET\",\"HEAD\"]},",
    "{\"path\":\"/admin/import\",\"methods\":[\"POST\"]},",
    "{\"path\":\"/admin/cache\",\"methods\":[\"DELETE\"]}",
    "]}"
);

/// `GET /`: the API index.
pub(crate) fn index(c: &Core, out: &mut Vec<u8>, m: Meta) {
    c.resp
        .send(out, m, 200, CONTENT_JSON, INDEX.as_bytes(), &[]);
}

/// `GET /internal/cluster/health`: what peers' probers read.
pub(crate) async fn internal_health(c: &Rc<Core>, out: &mut Vec<u8>, m: Meta) {
    let (entries, bytes) = match local_totals(c).await {
        Ok(t) => t,
        Err(e) => return stopped(c, out, m, e),
    };
    let cl = &c.node.cluster;
    let t = cl.topology();
    let ring = hex(t.ring.version());
    let inc = hex(cl.incarnation);
    // Read before `send_health` reads the state: the status sent is this version's or newer.
    let seq = cl.own_version().seq;
    let fields = format!(
        "\"entries\":{entries},\"bytes\":{bytes},\"ring_version\":\"{ring}\",\"incarnation\":\"{inc}\",\"state_seq\":{seq},\"epoch\":{},\"doc_hash\":\"{}\",\"migrated\":{}",
        t.doc.epoch,
        hex(t.hash),
        cl.migrated_epoch()
    );
    drop(t);
    send_health(c, out, m, &fields, true);
}

/// `GET /admin/metrics`: this node's series, then the cluster's.
pub(crate) async fn metrics(c: &Rc<Core>, out: &mut Vec<u8>, m: Meta) {
    let snaps = match snapshots(c).await {
        Ok(s) => s,
        Err(e) => return stopped(c, out, m, e),
    };
    let cfg = c.cfg();
    let cl = &c.node.cluster;
    let peers: Vec<&str> = (0..cl.slot_count())
        .map(|i| cl.member(i).id.as_str())
        .collect();
    let facts = NodeFacts {
        node_id: &cfg.node_id,
        version: VERSION,
        uptime_s: c.node.started.elapsed().as_secs_f64(),
        start_time_s: c
            .node
            .started_wall
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0),
        max_entries: cfg.cache_size as u64,
        max_bytes: cfg.max_memory,
        draining: c.node.draining.load(Ordering::Relaxed),
        peers: &peers,
    };
    let mut extra = metrics_text(c);
    metrics::render_process(&mut extra, &metrics::ProcessStats::read());
    let text = metrics::render(&facts, &snaps, &extra);
    c.resp
        .send(out, m, 200, CONTENT_PROMETHEUS, text.as_bytes(), &[]);
}

fn hex(v: u64) -> String {
    format!("0x{v:016x}")
}

/// `GET /admin/cluster`: this node, every member with its state, ring share and data.
pub(crate) async fn cluster_info(c: &Rc<Core>, out: &mut Vec<u8>, m: Meta) {
    let (entries, bytes) = match local_totals(c).await {
        Ok(t) => t,
        Err(e) => return stopped(c, out, m, e),
    };
    let cl = &c.node.cluster;
    let peers = cl.slot_count();
    let hints = match c
        .on_every_core(move |c| {
            let h = c.hints.borrow();
            (0..peers).map(|p| h.pending(p)).collect::<Vec<_>>()
        })
        .await
    {
        Ok(per_core) => per_core,
        Err(e) => return stopped(c, out, m, e),
    };
    // Slots added since the per-core counts were taken have none.
    let hints_for = |i: usize| {
        hints
            .iter()
            .map(|h| h.get(i).copied().unwrap_or(0))
            .sum::<usize>()
    };
    let shares = cl.topology().ring.shares();
    let live = cl.live_shares();
    let now = unix_ms();
    let mut s = String::with_capacity(1024);
    let _ = write!(
        s,
        "{{\"node_id\":{},\"address\":{},\"listen\":\"{}\",\"status\":\"{}\",\"incarnation\":\"{}\",\"replicas\":{},\"sync\":{},\"ring_version\":\"{}\",\"virtual_nodes\":{},\"threads\":{},\"ring_changes\":{},\"keys_moved\":{},\"epoch\":{},\"leader\":{},\"settled\":{},\"membership\":{},\"migration\":{},\"nodes\":[",
        json_str(&c.cfg().node_id),
        json_str(&c.cfg().address),
        c.node.local_addr,
        own_status(c),
        hex(cl.incarnation),
        cl.topology().replicas,
        sync_json(c),
        hex(cl.topology().ring.version()),
        cl.topology().ring.virtual_nodes(),
        c.exec.cores(),
        cl.ring_changes.load(Ordering::Relaxed),
        cl.keys_moved.load(Ordering::Relaxed),
        cl.epoch(),
        cl.leader()
            .map_or("null".to_string(), |l| json_str(&cl.member(l).id)),
        cl.topology().doc.is_settled(),
        membership_json(cl),
        migration_json(cl),
    );
    let mut up = 0;
    for (n, i) in cl.listed().into_iter().enumerate() {
        let mb = cl.member(i);
        if n > 0 {
            s.push(',');
        }
        let me = i == cl.me;
        let alive = cl.is_alive(i);
        up += usize::from(alive);
        let state = if me { "self" } else { cl.state(i).as_str() };
        let (e, b, rv, probe) = if me {
            (entries, bytes, cl.topology().ring.version(), None)
        } else {
            let lp = mb.last_probe_ms.load(Ordering::Relaxed);
            (
                mb.entries.load(Ordering::Relaxed),
                mb.bytes.load(Ordering::Relaxed),
                mb.ring_version.load(Ordering::Relaxed),
                (lp > 0).then_some(lp),
            )
        };
        let last_error = mb.last_error.lock().map(|g| g.clone()).unwrap_or_default();
        let _ = write!(
            s,
            "{{\"id\":{},\"address\":{},\"state\":\"{state}\",\"ring_share\":{:.4},\"live_share\":{:.4},\"entries\":{e},\"bytes\":{b},\"ring_version\":\"{}\",\"ring_agrees\":{}",
            json_str(&mb.id),
            json_str(&mb.addr),
            shares.get(i).copied().unwrap_or(0.0),
            live.get(i).copied().unwrap_or(0.0),
            hex(rv),
            rv == cl.topology().ring.version()
        );
        if let Some(lp) = probe {
            let _ = write!(s, ",\"last_probe_ms_ago\":{}", now.saturating_sub(lp));
        }
        if !me {
            let inc = mb.incarnation.load(Ordering::Relaxed);
            let _ = write!(
                s,
                ",\"hints_pending\":{},\"flushes_pending\":{},\"incarnation\":\"{}\"",
                hints_for(i),
                c.node.flushes.of(i).len(),
                hex(inc)
            );
        }
        if !last_error.is_empty() {
            let _ = write!(s, ",\"last_error\":{}", json_str(&last_error));
        }
        s.push('}');
    }
    let _ = write!(
        s,
        "],\"nodes_up\":{up},\"nodes_total\":{}}}",
        cl.listed().len()
    );
    c.resp.send(out, m, 200, CONTENT_JSON, s.as_bytes(), &[]);
}

/// The membership document's members, as JSON.
fn membership_json(cl: &crate::cluster::Cluster) -> String {
    let t = cl.topology();
    let items: Vec<String> = t
        .doc
        .members
        .iter()
        .map(|m| {
            format!(
                "{{\"node_id\":{},\"address\":{},\"status\":\"{}\"}}",
                json_str(&m.node_id),
                json_str(&m.address),
                m.status.as_str()
            )
        })
        .collect();
    format!("[{}]", items.join(","))
}

/// This node's part of the current (or last) key move, and which members have not finished
/// moving the current epoch yet.
fn migration_json(cl: &crate::cluster::Cluster) -> String {
    let mg = &cl.migration;
    let n = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let epoch = cl.epoch();
    let settled = cl.topology().doc.is_settled();
    let mut pending: Vec<String> = Vec::new();
    if !settled {
        for i in cl.listed() {
            let done = if i == cl.me {
                n(&cl.migrated)
            } else {
                n(&cl.member(i).migrated)
            };
            if done < epoch {
                pending.push(json_str(&cl.member(i).id));
            }
        }
    }
    format!(
        "{{\"running\":{},\"epoch\":{},\"started_unix_ms\":{},\"keys_moved\":{},\"bytes_moved\":{},\"keys_scanned\":{},\"last_duration_ms\":{},\"peers_pending\":[{}]}}",
        mg.is_running(),
        n(&mg.epoch),
        n(&mg.started_unix_ms),
        n(&mg.keys_moved),
        n(&mg.bytes_moved),
        n(&mg.keys_scanned),
        n(&mg.last_duration_ms),
        pending.join(",")
    )
}

/// Catch-up progress of this node, as JSON.
fn sync_json(c: &Core) -> String {
    let s = &c.node.sync;
    let n = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    format!(
        "{{\"syncs\":{},\"stalls\":{},\"peers_done\":{},\"hints_received\":{},\"keys_repaired\":{},\"bytes_repaired\":{},\"last_duration_ms\":{},\"last_finished_unix_ms\":{}}}",
        n(&s.syncs),
        n(&s.stalls),
        n(&s.peers_done),
        n(&s.hints_received),
        n(&s.keys_repaired),
        n(&s.bytes_repaired),
        n(&s.last_duration_ms),
        n(&s.last_finished_unix_ms)
    )
}

pub(crate) fn json_str(v: &str) -> String {
    let mut b = Vec::with_capacity(v.len() + 2);
    b.push(b'"');
    json_escape(&mut b, v.as_bytes());
    b.push(b'"');
    String::from_utf8(b).unwrap_or_default()
}

/// Cluster series for `/admin/metrics` (read from the shared membership atomics).
fn metrics_text(c: &Core) -> String {
    let cl = &c.node.cluster;
    let live = cl.live_shares();
    let mut o = String::with_capacity(1024);
    family(
        &mut o,
        "cache_cluster_node_up",
        "gauge",
        "This node's view of each member: 1 up (or self), 0 down.",
    );
    let mut up = 0;
    for i in cl.listed() {
        let mb = cl.member(i);
        let alive = cl.is_alive(i);
        up += u64::from(alive);
        let _ = writeln!(
            o,
            "cache_cluster_node_up{{node=\"{}\"}} {}",
            label(&mb.id),
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
    for i in cl.listed() {
        let mb = cl.member(i);
        let _ = writeln!(
            o,
            "cache_ring_share{{node=\"{}\"}} {:.6}",
            label(&mb.id),
            live.get(i).copied().unwrap_or(0.0)
        );
    }
    let counters = [
        (
            "cache_ring_changes_total",
            "Membership changes seen (a member went down or came back).",
            cl.ring_changes.load(Ordering::Relaxed),
        ),
        (
            "cache_ring_keys_moved_total",
            "Local keys handed to their new owner after a membership change.",
            cl.keys_moved.load(Ordering::Relaxed),
        ),
    ];
    for (name, help, value) in counters {
        family(&mut o, name, "counter", help);
        let _ = writeln!(o, "{name} {value}");
    }
    super::members::metrics(&mut o, cl);
    family(
        &mut o,
        "cache_ring_info",
        "gauge",
        "Ring fingerprint (differs between nodes = config skew).",
    );
    let _ = writeln!(
        o,
        "cache_ring_info{{version=\"{}\",virtual_nodes=\"{}\"}} 1",
        hex(cl.topology().ring.version()),
        cl.topology().ring.virtual_nodes()
    );
    // Replication: each member's state as this node sees it, and this node's catch-up.
    let states: Vec<(&str, &str)> = cl
        .listed()
        .into_iter()
        .map(|i| (i, cl.member(i)))
        .map(|(i, mb)| {
            // A standalone node never changes its own state: its draining flag says it.
            let state = if i == cl.me && c.draining() {
                "draining"
            } else {
                cl.state(i).as_str()
            };
            (mb.id.as_str(), state)
        })
        .collect();
    let s = &c.node.sync;
    let n = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let sync = metrics::SyncFacts {
        syncing: cl.own_state() == crate::cluster::MemberState::Syncing,
        syncs: n(&s.syncs),
        stalls: n(&s.stalls),
        hints_received: n(&s.hints_received),
        keys_repaired: n(&s.keys_repaired),
        bytes_repaired: n(&s.bytes_repaired),
        last_duration_ms: n(&s.last_duration_ms),
    };
    metrics::render_replication(&mut o, &states, &sync);
    o
}
