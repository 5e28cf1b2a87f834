//! Membership routes (issue 10): add and remove members, a member's state, and the
//! node-to-node exchange of the membership document.
//!
//! - `POST /admin/cluster/nodes` `{"node_id","address"}`: add a member (202 `joining`, 200 when
//!   it is one already at that address);
//! - `DELETE /admin/cluster/nodes/{id}`: remove a member (202 `leaving`); its keys move to their
//!   new replicas, then the change settles and the node is `removed`: safe to stop;
//! - `GET /admin/cluster/nodes/{id}`: `{"node_id","address","status","epoch","settled",
//!   "safe_to_stop"}`; `GET /admin/cluster/nodes`: the membership document;
//! - `GET|POST /internal/cluster/membership`: a peer fetches this node's document, or pushes a
//!   newer one;
//! - `POST /internal/cluster/propose?op=join|leave`: a change for the leader (a starting node
//!   asks to join this way; a member forwards an admin change to the leader this way).
//!
//! Only the leader (`Cluster::leader`) commits a change: it adopts the new document, tells its
//! cores, and pushes it to every member from a short-lived thread (blocking calls stay off the
//! cores); peers that miss the push fetch it at their next probe.

use std::rc::Rc;
use std::sync::Arc;

use serde::Deserialize;

use super::Req;
use crate::cluster::{ChangeError, Membership, Outgoing};
use crate::http::response::CONTENT_JSON;
use crate::http::Method;
use crate::server::core::Core;
use crate::server::respond::Meta;
use crate::server::router::NODES_PREFIX;

/// Probe rounds a change waits for the previous one to reach every member before it is refused
/// with 409 (a member that is down does not count; see `cluster::agree`).
const LINGER_WAIT_ROUNDS: u32 = 3;

/// The body of an add (and of a join proposal).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeBody {
    node_id: String,
    address: String,
}

enum Op {
    Join { node_id: String, address: String },
    Leave { node_id: String },
}

impl Op {
    fn query(&self) -> &'static [u8] {
        match self {
            Op::Join { .. } => b"op=join&hop=1",
            Op::Leave { .. } => b"op=leave&hop=1",
        }
    }

    fn body(&self) -> String {
        match self {
            Op::Join { node_id, address } => {
                serde_json::json!({"node_id": node_id, "address": address}).to_string()
            }
            Op::Leave { node_id } => serde_json::json!({"node_id": node_id}).to_string(),
        }
    }

    fn node_id(&self) -> &str {
        match self {
            Op::Join { node_id, .. } | Op::Leave { node_id } => node_id,
        }
    }
}

/// A change that was not made: the status and message to answer.
struct Refused(u16, String);

/// The one place a [`ChangeError`] becomes a status.
fn status_of(e: &ChangeError) -> u16 {
    match e {
        ChangeError::Unknown { .. } => 404,
        ChangeError::InProgress { .. }
        | ChangeError::OtherAddress { .. }
        | ChangeError::LastNode { .. }
        | ChangeError::Full => 409,
    }
}

/// `/admin/cluster/nodes[/{id}]`.
pub(super) async fn admin_nodes(c: &Rc<Core>, out: &mut Vec<u8>, m: Meta, req: &Req<'_>) {
    let id = req.path.strip_prefix(NODES_PREFIX);
    let op = match (req.method, id) {
        (Method::Get | Method::Head, None) => {
            let doc = c.node.cluster.topology().doc.to_json();
            return c.resp.send(out, m, 200, CONTENT_JSON, doc.as_bytes(), &[]);
        }
        (Method::Get | Method::Head, Some(id)) => return node_state(c, out, m, id),
        (Method::Post, None) => match parse_node(req.body) {
            Ok((node_id, address)) => Op::Join { node_id, address },
            Err(e) => return c.resp.error(out, m, 400, &e, None, &[]),
        },
        (Method::Delete, Some(id)) => match checked_id(id) {
            Ok(node_id) => Op::Leave { node_id },
            Err(e) => return c.resp.error(out, m, 400, &e, None, &[]),
        },
        _ => {
            let msg = "use POST /admin/cluster/nodes to add a node, GET or DELETE /admin/cluster/nodes/{node_id} for one";
            return c.resp.error(
                out,
                m,
                405,
                msg,
                None,
                &[("Allow", b"GET, HEAD, POST, DELETE")],
            );
        }
    };
    match change(c, op, false).await {
        Ok((status, doc, node_id)) => {
            let state = doc
                .member(&node_id)
                .map_or("removed", |mb| mb.status.as_str());
            let body = format!(
                "{{\"epoch\":{},\"node_id\":{},\"status\":\"{state}\"}}",
                doc.epoch,
                super::admin::json_str(&node_id)
            );
            c.resp
                .send(out, m, status, CONTENT_JSON, body.as_bytes(), &[]);
        }
        Err(Refused(status, msg)) => c.resp.error(out, m, status, &msg, None, &[]),
    }
}

/// `GET /admin/cluster/nodes/{id}`: where the member stands, as this node knows it.
fn node_state(c: &Core, out: &mut Vec<u8>, m: Meta, id: &[u8]) {
    let id = String::from_utf8_lossy(id);
    let cl = &c.node.cluster;
    let t = cl.topology();
    let (address, status) = match t.doc.member(&id) {
        Some(mb) => (mb.address.clone(), mb.status.as_str()),
        None => match cl.known_slot(&id) {
            Some(slot) => (cl.member(slot).addr.clone(), "removed"),
            None => {
                let msg = format!(
                    "{id} is not a member of the cluster (epoch {})",
                    t.doc.epoch
                );
                return c.resp.error(out, m, 404, &msg, None, &[]);
            }
        },
    };
    let body = format!(
        "{{\"node_id\":{},\"address\":{},\"status\":\"{status}\",\"epoch\":{},\"settled\":{},\"safe_to_stop\":{}}}",
        super::admin::json_str(&id),
        super::admin::json_str(&address),
        t.doc.epoch,
        t.doc.is_settled(),
        status == "removed"
    );
    c.resp.send(out, m, 200, CONTENT_JSON, body.as_bytes(), &[]);
}

/// `GET|POST /internal/cluster/membership`.
pub(super) fn membership(c: &Rc<Core>, out: &mut Vec<u8>, m: Meta, req: &Req<'_>) {
    let cl = &c.node.cluster;
    if req.method != Method::Post {
        let doc = cl.topology().doc.to_json();
        return c.resp.send(out, m, 200, CONTENT_JSON, doc.as_bytes(), &[]);
    }
    let doc = match Membership::parse(req.body) {
        Ok(d) => d,
        Err(e) => return c.resp.error(out, m, 400, &e.to_string(), None, &[]),
    };
    let epoch = doc.epoch;
    let adopted = match cl.adopt(doc) {
        Ok(a) => a,
        Err(e) => {
            let msg = format!("membership epoch {epoch} cannot be used here: {e}");
            return c.resp.error(out, m, 409, &msg, None, &[]);
        }
    };
    if adopted {
        cl.may_join
            .store(false, std::sync::atomic::Ordering::Release);
        crate::info!("cluster: adopted membership epoch {epoch} pushed by a peer");
        tell_cores(c);
    }
    let body = format!("{{\"adopted\":{adopted},\"epoch\":{}}}", cl.epoch());
    c.resp.send(out, m, 200, CONTENT_JSON, body.as_bytes(), &[]);
}

/// `POST /internal/cluster/propose?op=join|leave[&hop=1]`: answers the resulting document.
pub(super) async fn propose(c: &Rc<Core>, out: &mut Vec<u8>, m: Meta, req: &Req<'_>) {
    let pairs: Vec<(&[u8], &[u8])> = crate::server::router::query_pairs(req.query).collect();
    let hop = pairs.iter().any(|(k, _)| *k == b"hop");
    let op = match pairs.iter().find(|(k, _)| *k == b"op").map(|(_, v)| *v) {
        Some(b"join") => match parse_node(req.body) {
            Ok((node_id, address)) => Op::Join { node_id, address },
            Err(e) => return c.resp.error(out, m, 400, &e, None, &[]),
        },
        Some(b"leave") => {
            #[derive(Deserialize)]
            struct Leave {
                node_id: String,
            }
            match serde_json::from_slice::<Leave>(req.body) {
                Ok(l) => Op::Leave { node_id: l.node_id },
                Err(e) => {
                    return c
                        .resp
                        .error(out, m, 400, &format!("propose body: {e}"), None, &[])
                }
            }
        }
        _ => {
            return c.resp.error(
                out,
                m,
                400,
                "propose needs ?op=join or ?op=leave",
                None,
                &[],
            )
        }
    };
    match change(c, op, hop).await {
        Ok((status, doc, _)) => {
            let body = doc.to_json();
            c.resp
                .send(out, m, status, CONTENT_JSON, body.as_bytes(), &[]);
        }
        Err(Refused(status, msg)) => c.resp.error(out, m, status, &msg, None, &[]),
    }
}

/// Make `op` at the leader: here, or forwarded to it (unless it was forwarded already: two
/// nodes that each think the other leads must not bounce it). The status (202 changed, 200
/// nothing to change), the document in force after it, and the node concerned.
async fn change(
    c: &Rc<Core>,
    op: Op,
    forwarded: bool,
) -> Result<(u16, Membership, String), Refused> {
    let cl = &c.node.cluster;
    let Some(leader) = cl.leader() else {
        return Err(Refused(
            503,
            "no active member is up to lead the change; retry".into(),
        ));
    };
    let node_id = op.node_id().to_string();
    if leader == cl.me {
        // The last change settled but may not have reached every member yet: that takes a
        // probe round or two, so wait for it rather than refuse.
        let limit = std::time::Instant::now() + c.cfg().cluster.probe_interval * LINGER_WAIT_ROUNDS;
        while cl.topology().lingering.is_some() && std::time::Instant::now() < limit {
            monoio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let (status, doc) = change_here(c, &op)?;
        return Ok((status, doc, node_id));
    }
    if forwarded {
        let msg = format!(
            "this node does not lead membership changes; node {} does",
            cl.member(leader).id
        );
        return Err(Refused(503, msg));
    }
    let body = op.body();
    let req = Outgoing {
        method: Method::Post,
        path: b"/internal/cluster/propose",
        query: Some(op.query()),
        body: Some(body.as_bytes()),
        version: None,
        content_type: None,
        headers: b"",
    };
    let timeout = c.cfg().cluster.request_timeout;
    let leader_id = cl.member(leader).id.clone();
    let a = c.peers.call(leader, &req, timeout).await.map_err(|e| {
        Refused(
            502,
            format!("the leader, node {leader_id}, did not answer: {e}"),
        )
    })?;
    let answer = &a.raw[a.body.clone()];
    if !(200..300).contains(&a.status) {
        let msg = serde_json::from_slice::<serde_json::Value>(answer)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(answer).into_owned());
        return Err(Refused(a.status, msg));
    }
    let doc = Membership::parse(answer)
        .map_err(|e| Refused(502, format!("the leader, node {leader_id}, answered: {e}")))?;
    if cl.adopt(doc.clone()).unwrap_or(false) {
        tell_cores(c);
    }
    Ok((a.status, doc, node_id))
}

/// The leader's part: the new document, adopted here and pushed to every member.
fn change_here(c: &Rc<Core>, op: &Op) -> Result<(u16, Membership), Refused> {
    let cl = &c.node.cluster;
    let cur = cl.topology().doc.clone();
    let next = match op {
        Op::Join { node_id, address } => cur.with_join(node_id, address),
        Op::Leave { node_id } => cur.with_leave(node_id),
    };
    let doc = match next {
        Ok(Some(doc)) => doc,
        Ok(None) => return Ok((200, cur)),
        Err(e) => return Err(Refused(status_of(&e), e.to_string())),
    };
    if cl.topology().lingering.is_some() {
        let msg = "the last membership change settled but not every member has heard of it yet; retry in a second";
        return Err(Refused(409, msg.into()));
    }
    let before = cl.peers();
    match cl.adopt(doc.clone()) {
        Ok(true) => {}
        Ok(false) => {
            return Err(Refused(
                409,
                "a newer membership arrived meanwhile; retry".into(),
            ))
        }
        Err(e) => return Err(Refused(409, e.to_string())),
    }
    cl.may_join
        .store(false, std::sync::atomic::Ordering::Release);
    crate::info!(
        "cluster: membership epoch {} committed ({})",
        doc.epoch,
        doc.change_summary()
    );
    tell_cores(c);
    let cl = Arc::clone(&c.node.cluster);
    let cfg = c.cfg().cluster.clone();
    let auth = c
        .node
        .auth
        .current()
        .cluster_authorization()
        .map(<[u8]>::to_vec);
    let spawned = std::thread::Builder::new()
        .name("membership-push".into())
        .spawn(move || cl.push_doc(&before, &cfg, auth.as_deref()));
    if let Err(e) = spawned {
        crate::warn!(
            "cluster: could not start the membership push: {e}; peers fetch it at their next probe"
        );
    }
    Ok((202, doc))
}

/// Every core reacts to the adopted document (as to the prober's changes).
fn tell_cores(c: &Core) {
    for core in 0..c.exec.cores() {
        let task: crate::mesh::Task<Rc<Core>> = Box::new(crate::server::tasks::on_ring_change);
        c.node.mesh.send(core, crate::server::core::Msg::Run(task));
    }
}

/// `{"node_id","address"}` checked: an id the config would accept, an address with a port.
fn parse_node(body: &[u8]) -> Result<(String, String), String> {
    let b: NodeBody = serde_json::from_slice(body).map_err(|e| {
        format!("body must be {{\"node_id\":\"node4\",\"address\":\"host:port\"}}: {e}")
    })?;
    let node_id = checked_id(b.node_id.as_bytes())?;
    let port = b.address.rsplit_once(':').map(|(_, p)| p);
    if b.address.is_empty()
        || port
            .and_then(|p| p.parse::<u16>().ok())
            .is_none_or(|p| p == 0)
    {
        return Err(format!("address {:?}: expected host:port", b.address));
    }
    Ok((node_id, b.address))
}

fn checked_id(id: &[u8]) -> Result<String, String> {
    let id = std::str::from_utf8(id).map_err(|_| "node_id must be UTF-8".to_string())?;
    crate::config::validate_node_id(id).map_err(|e| format!("node_id {id:?}: {e}"))?;
    Ok(id.to_string())
}

/// The membership series of `/admin/metrics` (issue 10): the epoch, members per status, and
/// this node's key moves (for the dashboard's migration panels and the stall alert).
pub(super) fn metrics(o: &mut String, cl: &crate::cluster::Cluster) {
    use crate::metrics::family;
    use std::fmt::Write as _;
    use std::sync::atomic::Ordering::Relaxed;
    let t = cl.topology();
    family(
        o,
        "cache_ring_epoch",
        "gauge",
        "Epoch of the membership document in force.",
    );
    let _ = writeln!(o, "cache_ring_epoch {}", t.doc.epoch);
    family(
        o,
        "cache_ring_members",
        "gauge",
        "Members of the membership document, by status.",
    );
    for status in ["joining", "active", "leaving"] {
        let n = t
            .doc
            .members
            .iter()
            .filter(|m| m.status.as_str() == status)
            .count();
        let _ = writeln!(o, "cache_ring_members{{status=\"{status}\"}} {n}");
    }
    let mg = &cl.migration;
    let counters = [
        (
            "cache_migrations_started_total",
            "Key moves this node started (one per membership change).",
            mg.started.load(Relaxed),
        ),
        (
            "cache_migrations_finished_total",
            "Key moves this node finished.",
            mg.finished.load(Relaxed),
        ),
        (
            "cache_migration_keys_moved_total",
            "Keys this node sent to their new replicas.",
            mg.total_keys_moved.load(Relaxed),
        ),
        (
            "cache_migration_bytes_moved_total",
            "Key and value bytes this node sent to new replicas.",
            mg.total_bytes_moved.load(Relaxed),
        ),
    ];
    for (name, help, value) in counters {
        family(o, name, "counter", help);
        let _ = writeln!(o, "{name} {value}");
    }
    let running = mg.is_running();
    let since = mg.started_unix_ms.load(Relaxed);
    let running_s = if running {
        crate::cluster::unix_ms().saturating_sub(since) as f64 / 1000.0
    } else {
        0.0
    };
    let gauges = [
        (
            "cache_migration_running",
            "1 while this node moves keys after a membership change.",
            f64::from(u8::from(running)),
        ),
        (
            "cache_migration_running_seconds",
            "How long the running key move has taken so far (0 when none runs).",
            running_s,
        ),
        (
            "cache_migration_last_duration_seconds",
            "How long the last finished key move took.",
            mg.last_duration_ms.load(Relaxed) as f64 / 1000.0,
        ),
    ];
    for (name, help, value) in gauges {
        family(o, name, "gauge", help);
        let _ = writeln!(o, "{name} {value}");
    }
}
