//! The serving side of catch-up and of the drain notice (node-to-node routes).
//!
//! A node that (re)starts or wakes from a pause asks each peer, in this order:
//! - `POST /internal/sync/hints?node=ID&catchup=1`: the writes kept for it (hinted hand-off).
//!   `catchup=1` also tells the peer that the node is back and catching up, so the peer sends it
//!   copies of new writes directly from then on instead of keeping more hints (background
//!   anti-entropy asks without it);
//! - `POST /internal/sync/digest?node=ID`: per-bucket digests of the keys both nodes replicate;
//! - `POST /internal/sync/fetch?node=ID` with `{"buckets":[..]}`: the entries (values and
//!   tombstones, with versions) of the buckets whose digests differ.
//!
//! `POST /internal/cluster/leave?node=ID` is the drain notice: the peer stops routing to the node
//! and keeps hints for it until it is back.

use std::rc::Rc;

use super::Req;
use crate::cluster::{Claim, MemberState, StateVersion};
use crate::http::response::CONTENT_JSON;
use crate::server::core::Core;
use crate::server::document::{EXPORT_FORMAT, EXPORT_VERSION};
use crate::server::respond::Meta;
use crate::storage::{Entry, REPAIR_BUCKETS};

/// Bytes of hinted keys and values one answer carries at most (the asker repeats until an answer
/// is short): bounds the answer's memory on both ends.
pub(crate) const HINTS_PER_ANSWER_BYTES: u64 = 8 * 1024 * 1024;

/// A peer's notice changed its state here, as a probe round could have: count it, and let every
/// core react as to the prober's changes (idle connections, hand-over, hints).
fn membership_changed(c: &Core) {
    c.node
        .cluster
        .ring_changes
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    for core in 0..c.exec.cores() {
        let task: crate::mesh::Task<Rc<Core>> = Box::new(crate::server::tasks::on_ring_change);
        c.node.mesh.send(core, crate::server::core::Msg::Run(task));
    }
}

/// The ring index of the node named in `?node=ID`, or answer 400.
fn asking_node(c: &Core, out: &mut Vec<u8>, m: Meta, req: &Req<'_>) -> Option<usize> {
    let id = req
        .query
        .and_then(|q| {
            q.split(|&b| b == b'&')
                .find_map(|p| p.strip_prefix(b"node="))
        })
        .and_then(|v| std::str::from_utf8(v).ok());
    let idx = id.and_then(|id| c.node.cluster.topology().ring.index_of(id));
    match idx {
        Some(i) if i != c.node.cluster.me => Some(i),
        _ => {
            let msg = format!(
                "?node= must name another member of this cluster (got {:?})",
                id.unwrap_or("")
            );
            c.resp.error(out, m, 400, &msg, None, &[]);
            None
        }
    }
}

/// An import document holding `entries` (what the asker parses with the import parser).
pub(crate) fn document(entries: &[Entry]) -> Vec<u8> {
    let bytes: usize = entries
        .iter()
        .map(|e| e.key.len() + e.value.len() + 64)
        .sum();
    let mut doc = Vec::with_capacity(bytes + 128);
    doc.extend_from_slice(b"{\"format\":\"");
    doc.extend_from_slice(EXPORT_FORMAT.as_bytes());
    doc.extend_from_slice(b"\",\"version\":");
    doc.extend_from_slice(itoa::Buffer::new().format(EXPORT_VERSION).as_bytes());
    doc.extend_from_slice(b",\"entries\":[");
    for (i, e) in entries.iter().enumerate() {
        if i > 0 {
            doc.push(b',');
        }
        crate::server::document::write_entry(&mut doc, e);
    }
    doc.extend_from_slice(b"],\"count\":");
    doc.extend_from_slice(itoa::Buffer::new().format(entries.len()).as_bytes());
    doc.push(b'}');
    doc
}

fn stopped(c: &Core, out: &mut Vec<u8>, m: Meta) {
    c.resp
        .error(out, m, 503, "node is shutting down", None, &[]);
}

/// `POST /internal/sync/hints?node=ID`.
pub(crate) async fn serve_hints(c: &Rc<Core>, out: &mut Vec<u8>, m: Meta, req: &Req<'_>) {
    let Some(peer) = asking_node(c, out, m, req) else {
        return;
    };
    let cl = &c.node.cluster;
    let catching_up = crate::server::document::has_param(req.query, b"catchup=1");
    if catching_up && cl.state(peer) != MemberState::Syncing {
        cl.set_state(peer, MemberState::Syncing);
        membership_changed(c);
        crate::info!(
            "cluster: node {} is catching up; copies of new writes go to it directly",
            cl.member(peer).id
        );
    }
    // Flushes it missed first: the hints below are older writes its barriers must then refuse.
    if let Err(e) = super::flush::deliver_pending(c, peer).await {
        return c
            .resp
            .error(out, m, 503, &e, None, &[("Retry-After", b"1")]);
    }
    let share = HINTS_PER_ANSWER_BYTES / c.exec.cores() as u64;
    let taken = c
        .on_every_core(move |c| {
            let now = c.exec.now_ms();
            let mut h = c.hints.borrow_mut();
            let got = h.take(peer, share, now);
            h.delivered(got.len() as u64);
            got
        })
        .await;
    let Ok(per_core) = taken else {
        return stopped(c, out, m);
    };
    let entries: Vec<Entry> = per_core.into_iter().flatten().collect();
    c.resp
        .send(out, m, 200, CONTENT_JSON, &document(&entries), &[]);
}

/// Keys both this node and `peer` replicate (the only keys a repair between them compares).
fn shared_keys(c: &Core, peer: usize) -> impl Fn(&[u8]) -> bool + Clone + Send + 'static {
    let cl = std::sync::Arc::clone(&c.node.cluster);
    move |k: &[u8]| {
        let p = cl.topology().prefs(k);
        p.contains(cl.me) && p.contains(peer)
    }
}

/// This node's repair digests of the keys it shares with `peer` (XOR over every core).
pub(crate) async fn digests(
    c: &Rc<Core>,
    peer: usize,
) -> Result<Vec<u64>, crate::mesh::oneshot::Canceled> {
    let include = shared_keys(c, peer);
    let per_core = c
        .on_every_core(move |c| {
            let mut d = vec![0u64; REPAIR_BUCKETS];
            let now = c.exec.now_ms();
            c.exec.shard.borrow().digest(now, &include, &mut d);
            d
        })
        .await?;
    let mut all = vec![0u64; REPAIR_BUCKETS];
    for d in per_core {
        for (a, b) in all.iter_mut().zip(d) {
            *a ^= b;
        }
    }
    Ok(all)
}

/// Digests as one hex string (16 digits per bucket).
pub(crate) fn digests_hex(d: &[u64]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(d.len() * 16);
    for v in d {
        let _ = write!(s, "{v:016x}");
    }
    s
}

/// Parse [`digests_hex`] back; `None` unless it is exactly [`REPAIR_BUCKETS`] digests.
pub(crate) fn parse_digests(hex: &[u8]) -> Option<Vec<u64>> {
    if hex.len() != REPAIR_BUCKETS * 16 {
        return None;
    }
    hex.chunks(16)
        .map(|c| {
            std::str::from_utf8(c)
                .ok()
                .and_then(|s| u64::from_str_radix(s, 16).ok())
        })
        .collect()
}

/// `POST /internal/sync/digest?node=ID`: `{"buckets":4096,"digests":"<hex>"}`.
pub(crate) async fn serve_digest(c: &Rc<Core>, out: &mut Vec<u8>, m: Meta, req: &Req<'_>) {
    let Some(peer) = asking_node(c, out, m, req) else {
        return;
    };
    let Ok(d) = digests(c, peer).await else {
        return stopped(c, out, m);
    };
    let body = format!(
        "{{\"buckets\":{REPAIR_BUCKETS},\"digests\":\"{}\"}}",
        digests_hex(&d)
    );
    c.resp.send(out, m, 200, CONTENT_JSON, body.as_bytes(), &[]);
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FetchBody {
    buckets: Vec<usize>,
}

/// `POST /internal/sync/fetch?node=ID` with `{"buckets":[..]}`: an import document of every
/// value and tombstone of those buckets that both nodes replicate.
pub(crate) async fn serve_fetch(c: &Rc<Core>, out: &mut Vec<u8>, m: Meta, req: &Req<'_>) {
    let Some(peer) = asking_node(c, out, m, req) else {
        return;
    };
    let body: FetchBody = match serde_json::from_slice(req.body) {
        Ok(b) => b,
        Err(e) => {
            let msg = format!("fetch body: {e} (expected {{\"buckets\":[..]}})");
            return c.resp.error(out, m, 400, &msg, None, &[]);
        }
    };
    let mut want = vec![false; REPAIR_BUCKETS];
    for b in body.buckets {
        if let Some(w) = want.get_mut(b) {
            *w = true;
        }
    }
    let include = shared_keys(c, peer);
    let got = c
        .on_every_core(move |c| {
            let now = c.exec.now_ms();
            c.exec
                .shard
                .borrow()
                .collect(now, REPAIR_BUCKETS, &include, |b| want[b])
        })
        .await;
    let Ok(per_core) = got else {
        return stopped(c, out, m);
    };
    let entries: Vec<Entry> = per_core.into_iter().flatten().collect();
    c.resp
        .send(out, m, 200, CONTENT_JSON, &document(&entries), &[]);
}

/// `POST /internal/cluster/leave?node=ID`: the node is draining; stop routing to it now rather
/// than after the prober notices.
pub(crate) fn peer_leaving(c: &Rc<Core>, out: &mut Vec<u8>, m: Meta, req: &Req<'_>) {
    let Some(peer) = asking_node(c, out, m, req) else {
        return;
    };
    let cl = &c.node.cluster;
    let version = pushed_version(req.query.unwrap_or_default());
    let before = cl.with_report(peer, version, Claim::Exactly, || {
        cl.set_state(peer, MemberState::Draining)
    });
    if before.is_some_and(|s| s != MemberState::Draining) {
        membership_changed(c);
        crate::info!(
            "cluster: node {} ({}) is draining; its keys are served by their other replicas",
            cl.member(peer).id,
            cl.member(peer).addr
        );
    }
    c.resp.send(out, m, 204, CONTENT_JSON, b"", &[]);
}

/// `POST /internal/cluster/ready?node=ID`: the node finished catching up. Route its keys to it
/// now instead of after the next probe (until then both its replicas could look unroutable from
/// here, right after a cluster starts). Only a node seen syncing is moved: one seen down still
/// has to answer `recover_after` probes.
pub(crate) fn peer_ready(c: &Rc<Core>, out: &mut Vec<u8>, m: Meta, req: &Req<'_>) {
    let Some(peer) = asking_node(c, out, m, req) else {
        return;
    };
    let cl = &c.node.cluster;
    let version = pushed_version(req.query.unwrap_or_default());
    let moved = cl.with_report(peer, version, Claim::Exactly, || {
        cl.transition(peer, MemberState::Syncing, MemberState::Up)
    });
    if moved == Some(true) {
        membership_changed(c);
        crate::info!(
            "cluster: node {} ({}) caught up; it serves its keys again",
            cl.member(peer).id,
            cl.member(peer).addr
        );
    }
    c.resp.send(out, m, 204, CONTENT_JSON, b"", &[]);
}

/// The version a "ready" push or a drain notice names (`&incarnation=HEX&seq=N`); zeros, which order nothing,
/// from a node that predates versioned reports or sends a malformed one.
fn pushed_version(query: &[u8]) -> StateVersion {
    let param = |name: &[u8]| {
        query
            .split(|&b| b == b'&')
            .find_map(|p| p.strip_prefix(name))
            .and_then(|v| std::str::from_utf8(v).ok())
    };
    let incarnation = param(b"incarnation=").and_then(|v| u64::from_str_radix(v, 16).ok());
    let seq = param(b"seq=").and_then(|v| v.parse::<u64>().ok());
    match (incarnation, seq) {
        (Some(incarnation), Some(seq)) => StateVersion { incarnation, seq },
        _ => StateVersion::default(),
    }
}

/// `POST /internal/sync/request?node=ID`: the peer had this node down and sees it answer again
/// without having restarted: it may have missed writes, so catch up before coordinating again.
pub(crate) fn catch_up_requested(c: &Rc<Core>, out: &mut Vec<u8>, m: Meta, req: &Req<'_>) {
    let Some(peer) = asking_node(c, out, m, req) else {
        return;
    };
    if c.node.cluster.own_state() == MemberState::Up {
        crate::warn!(
            peer = c.node.cluster.member(peer).id;
            "node {} had this node down (unreachable or too slow) although it kept running; catching up from peers before serving its keys again",
            c.node.cluster.member(peer).id
        );
        crate::server::sync::request(c);
    }
    c.resp.send(out, m, 204, CONTENT_JSON, b"", &[]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_push_names_its_version_and_a_malformed_one_orders_nothing() {
        let v = pushed_version(b"node=n1&incarnation=00000000000000ff&seq=12");
        assert_eq!(
            v,
            StateVersion {
                incarnation: 255,
                seq: 12
            }
        );
        assert_eq!(pushed_version(b"node=n1"), StateVersion::default());
        assert_eq!(
            pushed_version(b"node=n1&incarnation=zz&seq=1"),
            StateVersion::default()
        );
        assert_eq!(
            pushed_version(b"node=n1&incarnation=1&seq=-1"),
            StateVersion::default()
        );
    }

    #[test]
    fn digests_round_trip_as_hex_and_wrong_sizes_are_refused() {
        let d: Vec<u64> = (0..REPAIR_BUCKETS as u64)
            .map(|i| i * 0x9e37_79b9)
            .collect();
        let hex = digests_hex(&d);
        assert_eq!(parse_digests(hex.as_bytes()), Some(d));
        assert_eq!(parse_digests(&hex.as_bytes()[16..]), None);
        let mut bad = hex.into_bytes();
        bad[3] = b'g';
        assert_eq!(parse_digests(&bad), None);
    }
}
