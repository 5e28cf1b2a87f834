//! Agreeing on the membership, once per probe round (on the prober thread).
//!
//! Every probe answer carries the peer's `(epoch, doc_hash)` and the last epoch whose keys it
//! finished moving. After a round this node:
//! - fetches the document of a peer that has a newer one, and adopts it when it lists this node
//!   (or when this node is being removed by it); a node that just started and is not listed
//!   asks that peer to add it (join);
//! - pushes its own document to a peer that is behind (the leader's push may have been lost);
//! - refuses to serve, loudly, when a peer lists it under another epoch-0 membership (different
//!   `cluster_nodes` or `virtual_nodes` in the configs, nothing agreed yet to settle it);
//! - as the leader: stamps epoch 1 once every configured member agrees, and settles a change
//!   once every member that is up finished moving its keys.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use super::exchange::{call, Target};
use super::membership::Membership;
use super::{Cluster, MemberState};
use crate::config::ClusterConfig;
use crate::{info, warn};

/// Calls to one peer: its addresses and this node's settings.
pub(super) struct Caller<'a> {
    pub cl: &'a Cluster,
    pub cfg: &'a ClusterConfig,
    /// The cluster secret's `Authorization` line, or empty.
    pub auth: &'a str,
}

impl Caller<'_> {
    fn with<T>(&self, idx: usize, f: impl FnOnce(&Target<'_>) -> T) -> T {
        let m = self.cl.member(idx);
        let resolved: Vec<SocketAddr> = self.cl.addrs(idx);
        self.at(&m.addr, &resolved, f)
    }

    fn at<T>(&self, addr: &str, resolved: &[SocketAddr], f: impl FnOnce(&Target<'_>) -> T) -> T {
        let t = Target {
            addr,
            resolved,
            connect_timeout: self.cfg.connect_timeout,
            timeout: self.cfg.request_timeout,
            authorization: self.auth,
            tls: self.cl.tls.as_deref(),
            from: self.cl.self_id(),
        };
        f(&t)
    }

    /// The membership document of member `idx`.
    fn fetch(&self, idx: usize) -> Result<Membership, String> {
        let (status, body) = self.with(idx, |t| {
            call(t, "GET", "/internal/cluster/membership", None)
        })?;
        if status != 200 {
            return Err(format!("answered {status}"));
        }
        Membership::parse(&body).map_err(|e| e.to_string())
    }

    /// The membership document of the node at `addr` (a discovered seed).
    fn fetch_at(&self, addr: SocketAddr) -> Result<Membership, String> {
        let name = addr.to_string();
        let (status, body) = self.at(&name, &[addr], |t| {
            call(t, "GET", "/internal/cluster/membership", None)
        })?;
        if status != 200 {
            return Err(format!("{name} answered {status}"));
        }
        Membership::parse(&body).map_err(|e| e.to_string())
    }

    /// Push `doc` to member `idx` (best effort).
    pub(super) fn push(&self, idx: usize, doc: &Membership) -> bool {
        let body = doc.to_json();
        self.with(idx, |t| {
            call(
                t,
                "POST",
                "/internal/cluster/membership",
                Some(body.as_bytes()),
            )
        })
        .is_ok_and(|(s, _)| s == 200)
    }

    /// Ask `via` to add this node; the document that lists it, if it did.
    fn join(&self, via: Via) -> Result<Membership, String> {
        let cl = self.cl;
        let own = cl.member(cl.me);
        let body = serde_json::json!({"node_id": own.id, "address": own.addr}).to_string();
        let ask = |t: &Target<'_>| {
            call(
                t,
                "POST",
                "/internal/cluster/propose?op=join",
                Some(body.as_bytes()),
            )
        };
        let (status, answer) = match via {
            Via::Member(idx) => self.with(idx, ask)?,
            Via::Seed(addr) => self.at(&addr.to_string(), &[addr], ask)?,
        };
        if !(200..300).contains(&status) {
            return Err(format!(
                "answered {status}: {}",
                String::from_utf8_lossy(&answer)
            ));
        }
        Membership::parse(&answer).map_err(|e| e.to_string())
    }
}

/// Where a document came from: a member, or an address DNS discovery found.
#[derive(Clone, Copy)]
enum Via {
    Member(usize),
    Seed(SocketAddr),
}

/// The membership work of one round; `answered`: the peers whose probe succeeded in it. True
/// when this node adopted another document (the caller tells the cores).
pub(super) fn after_round(c: &Caller<'_>, answered: &[usize]) -> bool {
    let cl = c.cl;
    let mut changed = discover(c);
    let mut refusal = None;
    for &idx in answered {
        let ours = cl.topology();
        let m = cl.member(idx);
        let theirs = (
            m.epoch.load(Ordering::Relaxed),
            m.doc_hash.load(Ordering::Relaxed),
        );
        if theirs == (ours.doc.epoch, ours.hash) || theirs.0 == u64::MAX {
            continue;
        }
        if theirs < (ours.doc.epoch, ours.hash) && ours.doc.epoch > 0 {
            let doc = ours.doc.clone();
            drop(ours);
            c.push(idx, &doc);
            continue;
        }
        drop(ours);
        match c.fetch(idx) {
            Ok(doc) => match consider(c, Via::Member(idx), doc) {
                Ok(adopted) => changed |= adopted,
                Err(why) => refusal = Some(why),
            },
            Err(e) => {
                info!(peer = m.id; "cluster: could not fetch the membership of node {} ({}): {e}", m.id, m.addr)
            }
        }
    }
    if cl.epoch() > 0 {
        // Agreed (adopted or stamped): an epoch-0 peer is behind, not a disagreement.
        refusal = None;
    }
    set_refusal(cl, refusal);
    cl.resolved.store(true, Ordering::Release);
    if cl.leader() == Some(cl.me) {
        changed |= lead(c, answered);
    }
    changed | stop_lingering(cl)
}

/// End the lingering of a settled change once every member that is up reports its epoch.
fn stop_lingering(cl: &Cluster) -> bool {
    let t = cl.topology();
    if t.lingering.is_none() {
        return false;
    }
    let epoch = t.doc.epoch;
    drop(t);
    let all = cl.peers().into_iter().all(|p| {
        let e = cl.member(p).epoch.load(Ordering::Relaxed);
        cl.state(p) == MemberState::Down || (e != u64::MAX && e >= epoch)
    });
    all && cl.end_lingering()
}

/// What to do with a peer's document that differs from ours. `Err`: a disagreement that stops
/// this node from serving.
fn consider(c: &Caller<'_>, via: Via, doc: Membership) -> Result<bool, String> {
    let cl = c.cl;
    let ours = cl.topology().doc.clone();
    let listed = doc.member(cl.self_id()).is_some();
    let peer = match via {
        Via::Member(idx) => cl.member(idx).id.clone(),
        Via::Seed(addr) => addr.to_string(),
    };
    let peer = &peer;
    if doc.epoch == 0 && ours.epoch == 0 && matches!(via, Via::Member(_)) {
        // Nothing agreed yet on either side: serving now could place keys on two rings.
        return Err(if listed {
            format!(
                "cluster_nodes/virtual_nodes differ from node {peer}'s: it has {}, this node {}; \
                 make the configs agree",
                describe(&doc),
                describe(&ours)
            )
        } else {
            format!(
                "node {peer} does not list this node (it has {}): add this node with \
                 POST /admin/cluster/nodes on a member",
                describe(&doc)
            )
        });
    }
    if !listed && cl.may_join.load(Ordering::Acquire) && doc.epoch > 0 && joins(cl, &ours, &doc) {
        return match c.join(via) {
            Ok(joined) => adopt(cl, joined, peer),
            Err(e) => {
                warn!("cluster: node {peer} does not list this node; asking it to add this node failed: {e}");
                Ok(false)
            }
        };
    }
    if doc.supersedes(&ours) {
        return adopt(cl, doc, peer);
    }
    Ok(false)
}

/// Whether this node asks to join `theirs`: always, unless both are clusters of one node each
/// (two pods that started alone): then the one with the larger id joins the other, never both.
fn joins(cl: &Cluster, ours: &Membership, theirs: &Membership) -> bool {
    if ours.members.len() > 1 || theirs.members.len() > 1 {
        return true;
    }
    theirs
        .members
        .first()
        .is_some_and(|m| m.node_id.as_str() < cl.self_id())
}

/// DNS discovery (`cluster.discovery`): each address found that is not a known member's is asked
/// for its document, as a member's would be. True when this node adopted one.
fn discover(c: &Caller<'_>) -> bool {
    let Some(d) = c.cfg.discovery() else {
        return false;
    };
    let cl = c.cl;
    let seeds = match super::dns::discover(&d, c.cfg.discovery_resolver(), c.cfg.probe_timeout) {
        Ok(s) => s,
        Err(e) => {
            crate::debug!("cluster: discovery found no peers this round: {e}");
            return false;
        }
    };
    let known: Vec<SocketAddr> = cl.listed().into_iter().flat_map(|i| cl.addrs(i)).collect();
    let mut adopted = false;
    for addr in seeds.into_iter().filter(|a| !known.contains(a)) {
        match c.fetch_at(addr) {
            Ok(doc)
                if doc
                    .member(cl.self_id())
                    .is_some_and(|m| m.address == cl.member(cl.me).addr)
                    || doc == cl.topology().doc =>
            {
                // Ourselves, or a member reached under another address.
                adopted |= doc.supersedes(&cl.topology().doc)
                    && adopt(cl, doc, &addr.to_string()).unwrap_or(false);
            }
            Ok(doc) => adopted |= consider(c, Via::Seed(addr), doc).unwrap_or(false),
            // Normal for a pod that is not up yet, every round: not worth an info line each.
            Err(e) => crate::debug!("cluster: discovered {addr} did not give its membership: {e}"),
        }
    }
    adopted
}

fn adopt(cl: &Cluster, doc: Membership, from: &str) -> Result<bool, String> {
    let epoch = doc.epoch;
    let listed = doc.member(cl.self_id()).is_some();
    match cl.adopt(doc) {
        Ok(true) => {
            cl.may_join.store(false, Ordering::Release);
            if listed {
                info!("cluster: adopted membership epoch {epoch} from node {from}");
            } else {
                warn!("cluster: membership epoch {epoch} from node {from} no longer lists this node: it was removed and is safe to stop");
            }
            Ok(true)
        }
        Ok(false) => Ok(false),
        Err(e) => Err(format!(
            "membership epoch {epoch} from node {from} cannot be used: {e}"
        )),
    }
}

fn describe(doc: &Membership) -> String {
    let ids: Vec<&str> = doc.members.iter().map(|m| m.node_id.as_str()).collect();
    format!("[{}] x {} virtual nodes", ids.join(", "), doc.virtual_nodes)
}

fn set_refusal(cl: &Cluster, refusal: Option<String>) {
    let mut cur = super::lock(&cl.refusal);
    match (&refusal, cur.is_empty()) {
        (Some(why), _) if *cur != *why => {
            warn!("cluster: refusing to serve: {why}");
            *cur = why.clone();
            cl.refusing.store(true, Ordering::Release);
        }
        (None, false) => {
            info!("cluster: membership agreed; serving again");
            cur.clear();
            cl.refusing.store(false, Ordering::Release);
        }
        _ => {}
    }
}

/// The leader's part of a round: stamp an agreed epoch 0, settle a finished change.
fn lead(c: &Caller<'_>, answered: &[usize]) -> bool {
    let cl = c.cl;
    let t = cl.topology();
    let peers = cl.peers();
    // A node alone without discovery has nobody to agree with; stamping would only write a file.
    let alone = peers.is_empty() && c.cfg.discovery.is_empty();
    let next = if t.doc.epoch == 0 && !alone {
        let all_agree = peers.iter().all(|&p| {
            let m = cl.member(p);
            answered.contains(&p)
                && m.epoch.load(Ordering::Relaxed) == 0
                && m.doc_hash.load(Ordering::Relaxed) == t.hash
        });
        all_agree.then(|| t.doc.formed())
    } else if !t.doc.is_settled() && moved_everywhere(cl, &peers, t.doc.epoch) && !just_down(c) {
        Some(t.doc.settled())
    } else {
        None
    };
    drop(t);
    match next {
        Some(doc) => commit(c, doc),
        None => false,
    }
}

/// Whether a member went down so recently that others may not have noticed yet: they would
/// still count on it to send the keys it held (`server::migrate`), and pass over them again
/// only once they see it down. Every observer probes on the same interval, so all notice
/// within about one interval of the first.
fn just_down(c: &Caller<'_>) -> bool {
    let at = c.cl.last_down_ms.load(Ordering::Relaxed);
    let margin = c.cfg.probe_interval * (c.cfg.fail_after + 1);
    at > 0 && super::unix_ms().saturating_sub(at) < margin.as_millis() as u64
}

/// Whether this node and every member that is not down finished moving the keys of `epoch`.
fn moved_everywhere(cl: &Cluster, peers: &[usize], epoch: u64) -> bool {
    cl.migrated_epoch() >= epoch
        && peers.iter().all(|&p| {
            cl.state(p) == MemberState::Down
                || cl.member(p).migrated.load(Ordering::Relaxed) >= epoch
        })
}

/// Adopt `doc` here and push it to every member of the old and the new document. True when
/// adopted.
pub(super) fn commit(c: &Caller<'_>, doc: Membership) -> bool {
    let cl = c.cl;
    let before = cl.peers();
    let epoch = doc.epoch;
    let summary = if doc.is_settled() {
        "settled".to_string()
    } else {
        doc.change_summary()
    };
    match cl.adopt(doc) {
        Ok(true) => {}
        Ok(false) => return false,
        Err(e) => {
            warn!("cluster: cannot commit membership epoch {epoch}: {e}");
            return false;
        }
    }
    if cl.topology().doc.members.len() > 1 {
        // A cluster of one may still merge into one it discovers later (`joins`).
        cl.may_join.store(false, Ordering::Release);
    }
    info!("cluster: membership epoch {epoch} committed ({summary})");
    push_all(c, &before);
    true
}

/// Push the document in force to every member of it and to `also` (members of the one before).
pub(super) fn push_all(c: &Caller<'_>, also: &[usize]) {
    let cl = c.cl;
    let doc = cl.topology().doc.clone();
    let mut targets = cl.peers();
    for &p in also {
        if !targets.contains(&p) && p != cl.me {
            targets.push(p);
        }
    }
    for p in targets {
        if !c.push(p, &doc) {
            let m = cl.member(p);
            info!(peer = m.id; "cluster: could not push membership epoch {} to node {} ({}); it will fetch it at its next probe", doc.epoch, m.id, m.addr);
        }
    }
}
