//! `GET|HEAD|PUT|DELETE /api/v1/cache/{key}`: validate (router), place, coordinate, answer.
//!
//! Every key has `replicas` copies on its preference list (owner first). The first node of the
//! list that is routable coordinates the key's requests ([`crate::cluster::Cluster::placement`]):
//! a node that is not the coordinator forwards (with failover, see `forward.rs`); the coordinator
//! answers reads from its own shard and gives each write a fresh version, stores it, and copies
//! it to the other replicas (`replicate.rs`) before acknowledging. A request carrying
//! `X-Cache-Version` is such a copy: it is applied with its version and never coordinated.
//!
//! On the coordinator a key operation runs in place when this core owns the key (a GET hit is
//! encoded straight from shard memory, a PUT value is stored without a copy), or is sent to the
//! owning core as an owned message. When that core already has this core's share of
//! `limits.max_queued_per_core` calls outstanding, nothing is sent: the client gets 503 with
//! `Retry-After: 1` in the request's place ([`remote`]).
//!
//! A request with `If-Match` / `If-None-Match` is coordinated by `conditional.rs` (checked in the
//! shard call, copied only once applied); increments by `incr.rs`. Replica copies ignore
//! conditions: the coordinator checked them.

use bytes::Bytes;

use super::replicate::{self, Replicating};
use super::{Deferred, KeyKind, Req, Routed};
use crate::cluster::ring::Prefs;
use crate::cluster::MemberState;
use crate::http::Method;
use crate::mesh::Full;
use crate::metrics::Trust;
use crate::server::conditions::{self, BadCondition};
use crate::server::core::Core;
use crate::server::hot::lease::{self, WriteFrom};
use crate::server::respond::Meta;
use crate::server::router::{parse_action, parse_key_in, KeyAction, KeyLimits, PutFields};
use crate::storage::cond::Condition;
use crate::storage::{KeyOp, KeyReply};

pub(super) fn limits(c: &Core) -> KeyLimits {
    KeyLimits {
        max_key_bytes: c.cfg().max_key_bytes,
        max_value_bytes: c.cfg().max_value_bytes,
    }
}

/// Handle one cache request (see [`super::dispatch`] for `direct`); `m` is `req.meta()`.
pub(crate) fn handle(
    c: &Core,
    req: &Req<'_>,
    m: Meta,
    seg: &[u8],
    direct: bool,
    key_buf: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> Routed {
    let Some(key) = key_or_answer(c, m, seg, req.path_escaped, key_buf, out) else {
        return Routed::Done;
    };
    // Every read is counted where it arrives (on non-owner nodes too): the one call site of the
    // hot-key tracker. The answer (hot here or not) is asked again with `is_hot` where needed.
    if req.version.is_none() && matches!(req.method, Method::Get | Method::Head) {
        c.hot.count(key, c.exec.now_ms());
    }
    let prefs = match placed(c, req, key, out) {
        Ok(p) => p,
        Err(elsewhere) => {
            // A hot key another node owns: its read copy here, when one may answer (lease.rs).
            if let NotHere(Some(peer)) = elsewhere {
                if super::lease::from_copy(c, req, key, peer, out) {
                    return Routed::Done;
                }
            }
            return elsewhere.routed();
        }
    };
    if let Some(holder) = super::lease::requested(c, req, &prefs) {
        return super::lease::leased_read(c, m, key, holder);
    }
    let mut value_buf = c.value_buf.borrow_mut();
    let action = match parse_action(
        req.method,
        req.body,
        req.has_body,
        PutFields::new(&req.fields, req.query),
        limits(c),
        &mut value_buf,
    ) {
        Ok(a) => a,
        Err(e) => {
            c.resp
                .error(out, m, e.status(), e.message(), Some(key), &[]);
            return Routed::Done;
        }
    };
    match req.version {
        // A copy from the key's coordinator: apply it with its version (last writer wins),
        // never coordinate; later versions issued here must exceed it.
        Some(v) => {
            c.node.hlc.observe(v);
            if !matches!(action, KeyAction::Get) {
                late_move(c, key, &action, v);
            }
            if lease::watching(c) && !matches!(action, KeyAction::Get) {
                let (op, kind) = owned_op(action, v);
                return replicate::alone(c, op, deferred(m, key, kind, v), WriteFrom::Copy);
            }
            execute_here(c, m, key, action, v, direct, out)
        }
        None => match condition(req) {
            Ok(cond) if cond.is_empty() => coordinate(c, m, key, action, &prefs, direct, req, out),
            Ok(cond) => {
                super::conditional::coordinate(c, m, key, action, cond, &prefs, direct, req, out)
            }
            Err(e) => {
                c.resp.error(out, m, 400, &e.message(), Some(key), &[]);
                Routed::Done
            }
        },
    }
}

/// A copy that lands here while a membership change moves its key: a coordinator still on the
/// older membership sent it to the old replicas only, and this node's move may have passed the
/// key already, so the node that moves the key passes the copy on (`migrate::pass_on`).
fn late_move(c: &Core, key: &[u8], action: &KeyAction<'_>, version: u64) {
    if c.node.cluster.topology().doc.is_settled() {
        return;
    }
    let (op, _) = owned_op(*action, version);
    crate::server::migrate::pass_on(c, replicate::copy_of(key, &op, version));
}

/// The request's `If-Match` / `If-None-Match`, parsed only when one is present.
#[inline]
pub(super) fn condition(req: &Req<'_>) -> Result<Condition, BadCondition> {
    let f = &req.fields;
    if f.if_match.is_none() && f.if_none_match.is_none() {
        return Ok(Condition::default());
    }
    conditions::parse(f.if_match, f.if_none_match)
}

/// Where a key request is served: `Ok(prefs)` here, else what to do instead (forward, or an
/// error answer already written).
#[inline(always)]
pub(super) fn placed(
    c: &Core,
    req: &Req<'_>,
    key: &[u8],
    out: &mut Vec<u8>,
) -> Result<Prefs, NotHere> {
    match route(c, req, key) {
        Ok(p) => Ok(p),
        Err(Elsewhere::Forward(peer)) => Err(NotHere(Some(peer))),
        Err(refused) => Err(refuse(c, req, key, refused, out)),
    }
}

/// Answer a request [`route`] refused (421 or 503); out of line, like the refusals themselves.
#[cold]
#[inline(never)]
fn refuse(c: &Core, req: &Req<'_>, key: &[u8], why: Elsewhere, out: &mut Vec<u8>) -> NotHere {
    let m = req.meta();
    match why {
        Elsewhere::Misdirected(msg) => c.resp.error(out, m, 421, &msg, Some(key), &[]),
        Elsewhere::Unavailable(msg) => {
            let retry: &[(&str, &[u8])] = &[("Retry-After", b"1")];
            c.resp.error(out, m, 503, &msg, Some(key), retry);
        }
        Elsewhere::Forward(peer) => return NotHere(Some(peer)),
    }
    NotHere(None)
}

/// A key request not served here: forward it to a node (`Some`), or it is answered already.
pub(super) struct NotHere(Option<usize>);

impl NotHere {
    pub(super) fn routed(self) -> Routed {
        match self.0 {
            Some(peer) => Routed::Forward(peer),
            None => Routed::Done,
        }
    }
}

/// The request's decoded key, or `None` with its 400/414 answered in `out` (cache and incr
/// requests check their key the same way).
#[inline(always)]
pub(super) fn key_or_answer<'k>(
    c: &Core,
    m: Meta,
    seg: &'k [u8],
    escaped: bool,
    key_buf: &'k mut Vec<u8>,
    out: &mut Vec<u8>,
) -> Option<&'k [u8]> {
    match parse_key_in(seg, escaped, key_buf, limits(c)) {
        Ok(k) => Some(k),
        Err(e) => {
            c.resp.error(out, m, e.status(), e.message(), None, &[]);
            None
        }
    }
}

/// Why a request is not coordinated here.
pub(super) enum Elsewhere {
    /// Another node coordinates it: forward there.
    Forward(usize),
    /// Nobody can take it now (the text says why).
    Unavailable(String),
    /// A peer sent it here, but this node must not coordinate now (catching up or leaving):
    /// 421 Misdirected Request tells the peer to try the key's next replica.
    Misdirected(String),
}

/// Decide where a key request is served; `Ok(prefs)` = here.
#[inline(always)]
pub(super) fn route(c: &Core, req: &Req<'_>, key: &[u8]) -> Result<Prefs, Elsewhere> {
    let read = matches!(req.method, Method::Get | Method::Head);
    route_op(c, req, key, read)
}

/// [`route`] for one operation of `req` (a batch holds several), `read` when it only reads.
#[inline(always)]
pub(super) fn route_op(
    c: &Core,
    req: &Req<'_>,
    key: &[u8],
    read: bool,
) -> Result<Prefs, Elsewhere> {
    let cl = &c.node.cluster;
    if req.version.is_none() && !cl.serves() {
        return Err(not_serving(c, req.forwarded));
    }
    // One look at the topology answers every question below (this core's copy: no shared
    // counter is touched).
    let t = c.topology.current();
    if cl.standalone_in(&t) {
        // One node, one copy: nothing to place or copy.
        return Ok(Prefs::default());
    }
    let place = cl.placement_in(&t, key);
    if req.version.is_some() {
        return Ok(place.prefs);
    }
    match place.coordinator {
        Some(n) if n == cl.me => match cl.previous_holder_in(&t, key) {
            // A membership change is moving the key here and it may not have arrived: its
            // previous holder has every acknowledged write of it (writes go to both sets).
            Some(h) if read => Err(Elsewhere::Forward(h)),
            _ => Ok(place.prefs),
        },
        // A peer chose this node: serve it unless this node must not coordinate now (it is
        // catching up or leaving), then the 421 makes the peer try the next replica.
        Some(_) | None if req.forwarded => match cl.own_state() {
            // The rule of the first arm: a replica the key is moving to may not hold it yet (the
            // peer saw the key's other replica down, this node still sees it up).
            MemberState::Up => match cl.previous_holder_in(&t, key) {
                Some(h) if read && place.prefs.contains(cl.me) => Err(Elsewhere::Forward(h)),
                _ => Ok(place.prefs),
            },
            s => Err(not_coordinating(c, s)),
        },
        Some(n) => Err(Elsewhere::Forward(n)),
        None => Err(degraded(c)),
    }
}

// The refusals of `route_op`, out of line: formatting them made the usual path's frame (and
// its prologue, paid by every key request) larger.

#[cold]
#[inline(never)]
fn not_serving(c: &Core, forwarded: bool) -> Elsewhere {
    let cl = &c.node.cluster;
    let why = cl.not_serving().unwrap_or_default();
    let msg = format!("node {} does not serve now: {why}", cl.self_id());
    if forwarded {
        Elsewhere::Misdirected(msg)
    } else {
        Elsewhere::Unavailable(msg)
    }
}

#[cold]
#[inline(never)]
fn not_coordinating(c: &Core, s: MemberState) -> Elsewhere {
    let cl = &c.node.cluster;
    Elsewhere::Misdirected(format!(
        "node {} is {}; ask another replica of the key",
        cl.self_id(),
        s.as_str()
    ))
}

#[cold]
#[inline(never)]
fn degraded(c: &Core) -> Elsewhere {
    Elsewhere::Unavailable(format!(
        "no replica of the key is reachable from node {} (cluster degraded)",
        c.node.cluster.self_id()
    ))
}

/// Coordinate a key request on this node: read locally, or version a write, store it here and
/// copy it to the other replicas of `prefs`.
#[allow(clippy::too_many_arguments)]
pub(super) fn coordinate(
    c: &Core,
    m: Meta,
    key: &[u8],
    action: KeyAction<'_>,
    prefs: &Prefs,
    direct: bool,
    req: &Req<'_>,
    out: &mut Vec<u8>,
) -> Routed {
    let version = match action {
        KeyAction::Get => 0,
        _ => c.node.next_version(),
    };
    let me = c.node.cluster.me;
    if version == 0 && !prefs.is_empty() && !prefs.contains(me) {
        return stand_in_read(c, m, key, KeyOp::Get);
    }
    if version == 0 {
        // A read is served here alone: no copies, so no need to work out where they would go.
        return execute_here(c, m, key, action, version, direct, out);
    }
    let others = replicate::others(c, key, prefs);
    if others.is_empty() {
        if lease::watching(c) {
            let (op, kind) = owned_op(action, version);
            let d = deferred(m, key, kind, version);
            return replicate::alone(c, op, d, WriteFrom::Coordinated);
        }
        return execute_here(c, m, key, action, version, direct, out);
    }
    let core = c.exec.core_of(key);
    let (op, kind) = owned_op(action, version);
    let copy = replicate::copy_of(key, &op, version);
    let d = deferred(m, key, kind, version);
    let pending = if core == c.exec.core {
        replicate::Local::Done(c.exec.execute(op, key))
    } else {
        crate::metrics::inc(&c.resp.metrics.cross_core_calls);
        match c.exec.call(core, op, &d.key) {
            Ok(t) => replicate::Local::Remote(t),
            // Stored nowhere, copied nowhere: the client retries the whole write.
            Err(full) => return busy(c, d, full),
        }
    };
    Routed::Replicate(Box::new(Replicating::start(
        c, pending, d, copy, &others, req,
    )))
}

/// A read this node answers although it holds no replica of the key (every replica is down):
/// a hit is a stand-in write made meanwhile; a miss is answered 503 (see [`KeyKind::StandInGet`]).
pub(super) fn stand_in_read(c: &Core, m: Meta, key: &[u8], get: KeyOp) -> Routed {
    let core = c.exec.core_of(key);
    let d = deferred(m, key, KeyKind::StandInGet, 0);
    if core == c.exec.core {
        return Routed::Ready(c.exec.execute(get, key), d);
    }
    remote(c, core, get, d)
}

/// Execute on this node only (no other replica to copy to, or this is a copy), with `version`.
#[inline]
fn execute_here(
    c: &Core,
    m: Meta,
    key: &[u8],
    action: KeyAction<'_>,
    version: u64,
    direct: bool,
    out: &mut Vec<u8>,
) -> Routed {
    let core = c.exec.core_of(key);
    let local = core == c.exec.core;
    if local && direct {
        answer_in_place(c, m, key, action, version, out);
        return Routed::Done;
    }
    if !local && version == 0 && matches!(action, KeyAction::Get) {
        // Another core's key: this core's copy when the key is hot here (`cache_copy.rs`).
        return copy::read(c, m, key, core, direct, out);
    }
    let (op, kind) = owned_op(action, version);
    let d = deferred(m, key, kind, version);
    if local {
        return Routed::Ready(c.exec.execute(op, key), d);
    }
    remote(c, core, op, d)
}

/// Send `op` to the core that owns the key, or answer 503 in its place when that core is full.
#[inline]
pub(super) fn remote(c: &Core, core: usize, op: KeyOp, d: Deferred) -> Routed {
    crate::metrics::inc(&c.resp.metrics.cross_core_calls);
    match c.exec.call(core, op, &d.key) {
        Ok(t) => Routed::Remote(t, d),
        Err(full) => busy(c, d, full),
    }
}

/// The key's core is not keeping up: a 503 instead of the answer, encoded in the request's place
/// (earlier pipelined answers may still be pending), counted in `cache_core_queue_full_total`.
#[cold]
pub(super) fn busy(c: &Core, mut d: Deferred, full: Full) -> Routed {
    c.resp.metrics.trust.inc(Trust::CoreQueueFull);
    d.kind = KeyKind::CoreBusy { core: full.core };
    Routed::Ready(KeyReply::Miss, d)
}

pub(super) fn deferred(m: Meta, key: &[u8], kind: KeyKind, version: u64) -> Deferred {
    Deferred {
        meta: m,
        key: crate::mesh::CallKey::new(key),
        kind,
        version,
    }
}

/// This core owns the key and nothing earlier is pending: execute and encode now, copying
/// nothing (a GET is encoded straight from shard memory).
#[inline]
fn answer_in_place(
    c: &Core,
    m: Meta,
    key: &[u8],
    action: KeyAction<'_>,
    version: u64,
    out: &mut Vec<u8>,
) {
    let now = c.exec.now_ms();
    let mut shard = c.exec.shard.borrow_mut();
    match action {
        KeyAction::Get => match shard.get_versioned(key, now) {
            Some((v, ttl_ms, ver)) => c.resp.value(out, m, key, v, ttl_ms, ver),
            None => c.resp.miss(out, m, key),
        },
        KeyAction::Put { head, value, ttl_s } => {
            let ttl_ms = ttl_s.map(|t| t * 1000);
            let reply = shard.execute_put_parts(key, head, value, ttl_ms, version, now);
            drop(shard);
            encode(c, out, m, key, KeyKind::Put { ttl_s }, reply, version);
        }
        KeyAction::Delete => {
            let reply = shard.execute_delete(key, version, now);
            drop(shard);
            encode(c, out, m, key, KeyKind::Delete, reply, version);
        }
    }
}

/// The owned operation to send to another core, and how its reply will be encoded.
pub(super) fn owned_op(action: KeyAction<'_>, version: u64) -> (KeyOp, KeyKind) {
    match action {
        KeyAction::Get => (KeyOp::Get, KeyKind::Get),
        KeyAction::Delete => (KeyOp::Delete { version }, KeyKind::Delete),
        KeyAction::Put { head, value, ttl_s } => (
            KeyOp::Put {
                value: joined(head, value),
                ttl_ms: ttl_s.map(|t| t * 1000),
                version,
            },
            KeyKind::Put { ttl_s },
        ),
    }
}

/// `head` then `body` in one allocation: the stored form a [`KeyOp::Put`] carries.
fn joined(head: &[u8], body: &[u8]) -> Bytes {
    if head.is_empty() {
        return Bytes::copy_from_slice(body);
    }
    let mut v = Vec::with_capacity(head.len() + body.len());
    v.extend_from_slice(head);
    v.extend_from_slice(body);
    // Exact capacity: the conversion keeps the allocation.
    Bytes::from(v)
}

// The answers of key requests (`finish`, `encode`) live beside this file to keep it under the
// ~400-line guide; as a child module they see its private items.
#[path = "cache_answer.rs"]
mod answer;
pub(crate) use answer::{encode, finish};
#[path = "cache_copy.rs"]
mod copy;
