//! `GET|HEAD|PUT|DELETE /api/v1/cache/{key}`: validate (router), place, execute, answer.
//!
//! A key operation runs in place when this core owns the key (a GET hit is encoded straight from
//! shard memory, a PUT value is stored without a copy), or is sent to the owning core as an owned
//! message; a key another node owns is forwarded to it.

use bytes::Bytes;

use super::{Deferred, KeyKind, Req, Routed};
use crate::http::Method;
use crate::server::core::Core;
use crate::server::respond::Meta;
use crate::server::router::{parse_action, parse_key, KeyAction, KeyLimits};
use crate::storage::{KeyOp, KeyReply};

fn limits(c: &Core) -> KeyLimits {
    KeyLimits {
        max_key_bytes: c.cfg().max_key_bytes,
        max_value_bytes: c.cfg().max_value_bytes,
    }
}

/// Handle one cache request (see [`super::dispatch`] for `direct`).
pub(crate) fn handle(
    c: &Core,
    req: &Req<'_>,
    seg: &[u8],
    direct: bool,
    key_buf: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> Routed {
    let m = req.meta();
    let key = match parse_key(seg, key_buf, limits(c)) {
        Ok(k) => k,
        Err(e) => {
            c.resp.error(out, m, e.status(), e.message(), None, &[]);
            return Routed::Done;
        }
    };
    if let Some(peer) = foreign_owner(c, req, key) {
        return Routed::Forward(peer);
    }
    let mut value_buf = c.value_buf.borrow_mut();
    let action = match parse_action(
        req.method,
        req.body,
        req.has_body,
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
    let core = c.exec.core_of(key);
    if core == c.exec.core && direct {
        answer_in_place(c, m, key, action, out);
        return Routed::Done;
    }
    let (op, kind) = owned_op(action);
    let deferred = Deferred {
        meta: m,
        key: Bytes::copy_from_slice(key),
        kind,
    };
    if core == c.exec.core {
        let reply = c.exec.execute(op, key);
        return Routed::Ready(reply, deferred);
    }
    crate::metrics::inc(&c.resp.metrics.cross_core_calls);
    let ticket = c.exec.call(core, op, deferred.key.clone());
    Routed::Remote(ticket, deferred)
}

/// The ring index of the node that owns `key` when it is not this one and the request may be
/// forwarded. A forwarded request is served here whatever the ring says (never forwarded twice).
fn foreign_owner(c: &Core, req: &Req<'_>, key: &[u8]) -> Option<usize> {
    let cl = &c.node.cluster;
    if cl.is_standalone() {
        return None;
    }
    let owner = cl.owner(key);
    if owner == cl.me {
        return None;
    }
    if !req.forwarded {
        return Some(owner);
    }
    // A peer with another view of the ring sent it here: let the next sweep hand a stored copy
    // to its owner.
    if req.method == Method::Put {
        c.foreign_keys.set(true);
    }
    None
}

/// This core owns the key and nothing earlier is pending: execute and encode now, copying
/// nothing (a GET is encoded straight from shard memory).
fn answer_in_place(c: &Core, m: Meta, key: &[u8], action: KeyAction<'_>, out: &mut Vec<u8>) {
    let now = c.exec.now_ms();
    let mut shard = c.exec.shard.borrow_mut();
    match action {
        KeyAction::Get => match shard.get(key, now) {
            Some((v, ttl_ms)) => c.resp.value(out, m, key, v, ttl_ms),
            None => c.resp.miss(out, m, key),
        },
        KeyAction::Put { value, ttl_s } => {
            let reply = shard.execute_put(key, value, ttl_s.map(|t| t * 1000), now);
            drop(shard);
            encode(c, out, m, key, KeyKind::Put { ttl_s }, reply);
        }
        KeyAction::Delete => {
            let reply = KeyReply::Deleted(shard.delete(key, now));
            drop(shard);
            encode(c, out, m, key, KeyKind::Delete, reply);
        }
    }
}

/// The owned operation to send to another core, and how its reply will be encoded.
fn owned_op(action: KeyAction<'_>) -> (KeyOp, KeyKind) {
    match action {
        KeyAction::Get => (KeyOp::Get, KeyKind::Get),
        KeyAction::Delete => (KeyOp::Delete, KeyKind::Delete),
        KeyAction::Put { value, ttl_s } => (
            KeyOp::Put {
                value: Bytes::copy_from_slice(value),
                ttl_ms: ttl_s.map(|t| t * 1000),
            },
            KeyKind::Put { ttl_s },
        ),
    }
}

/// Encode the response for a deferred key request answered by `reply`.
pub(crate) fn finish(c: &Core, out: &mut Vec<u8>, d: Deferred, reply: KeyReply) {
    encode(c, out, d.meta, &d.key, d.kind, reply)
}

fn encode(c: &Core, out: &mut Vec<u8>, m: Meta, key: &[u8], kind: KeyKind, reply: KeyReply) {
    let resp = &c.resp;
    match (kind, reply) {
        (_, KeyReply::Value { value, ttl_ms }) => resp.value(out, m, key, &value, ttl_ms),
        (_, KeyReply::Deleted(true)) => resp.deleted(out, m, key),
        (_, KeyReply::Miss | KeyReply::Deleted(false)) => resp.miss(out, m, key),
        (KeyKind::Put { ttl_s }, KeyReply::Stored { created }) => {
            resp.stored(out, m, key, created, ttl_s)
        }
        // Only a PUT stores; answer what happened if that ever changes.
        (_, KeyReply::Stored { created }) => resp.stored(out, m, key, created, None),
        (_, KeyReply::TooLarge) => resp.error(
            out,
            m,
            507,
            "entry larger than this node's memory limit per core",
            Some(key),
            &[],
        ),
    }
}
