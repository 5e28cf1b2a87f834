//! Conditional key requests (`If-Match` / `If-None-Match`, issue 12 "conditional requests as
//! CAS") on the key's coordinator.
//!
//! The condition travels into the shard with the operation ([`KeyOp::If`]) and is checked
//! against the live entry in the same call as the write, on the core that owns the key: two
//! compare-and-set writers of one key are ordered by that core, and exactly one of them sees its
//! `If-Match` version still current. A write is local-first (`replicate.rs`): copied to the other
//! replicas only when it applied, unconditionally (the copies carry its version, not the
//! condition). A read answers 304 when `If-None-Match` matches, without copying the value.

use bytes::Bytes;

use super::cache::{busy, deferred, remote, stand_in_read};
use super::replicate::{self, CopySource, Local, OwnedCopy, Replicating};
use super::{KeyKind, Req, Routed};
use crate::cluster::ring::Prefs;
use crate::server::core::Core;
use crate::server::respond::Meta;
use crate::server::router::KeyAction;
use crate::storage::cond::{Condition, Verdict};
use crate::storage::{Conditional, KeyOp};

/// Coordinate a request that carries a condition (the caller parsed it; never a replica copy).
#[allow(clippy::too_many_arguments)]
pub(super) fn coordinate(
    c: &Core,
    m: Meta,
    key: &[u8],
    action: KeyAction<'_>,
    cond: Condition,
    prefs: &Prefs,
    direct: bool,
    req: &Req<'_>,
    out: &mut Vec<u8>,
) -> Routed {
    if let KeyAction::Get = action {
        return read(c, m, key, cond, prefs, direct, out);
    }
    let version = c.node.next_version();
    let (op, kind) = super::cache::owned_op(action, version);
    let hint = replicate::copy_of(key, &op, version);
    let op = guarded(cond, op);
    let others = replicate::others(c, key, prefs);
    let source = (!others.is_empty()).then(|| {
        let request = OwnedCopy::of(&replicate::copy_outgoing(req, &hint, &mut Vec::new()));
        CopySource::Request(Box::new((request, hint)))
    });
    local_first(c, m, key, op, kind, version, others, source)
}

/// Run a versioned write (a conditional one or an increment) on the key's core first, then copy
/// it to `others` if it applied (`source` says how; `None` when there is no other replica).
#[allow(clippy::too_many_arguments)]
pub(super) fn local_first(
    c: &Core,
    m: Meta,
    key: &[u8],
    op: KeyOp,
    kind: KeyKind,
    version: u64,
    others: Prefs,
    source: Option<CopySource>,
) -> Routed {
    let core = c.exec.core_of(key);
    let d = deferred(m, key, kind, version);
    let Some(source) = source else {
        if crate::server::hot::lease::watching(c) {
            let from = crate::server::hot::lease::WriteFrom::Coordinated;
            return super::replicate::alone(c, op, d, from);
        }
        if core == c.exec.core {
            return Routed::Ready(c.exec.execute(op, key), d);
        }
        return remote(c, core, op, d);
    };
    let local = if core == c.exec.core {
        Local::Done(c.exec.execute(op, key))
    } else {
        crate::metrics::inc(&c.resp.metrics.cross_core_calls);
        match c.exec.call(core, op, &d.key) {
            Ok(t) => Local::Remote(t),
            // Executed nowhere, copied nowhere: the client retries.
            Err(full) => return busy(c, d, full),
        }
    };
    Routed::Replicate(Box::new(Replicating::local_first(
        c, local, d, source, others,
    )))
}

/// `op` guarded by `cond` (unguarded when there is none).
pub(super) fn guarded(cond: Condition, op: KeyOp) -> KeyOp {
    if cond.is_empty() {
        return op;
    }
    KeyOp::If(Box::new(Conditional { cond, op }))
}

/// A conditional GET or HEAD: 304 when `If-None-Match` matches, 412 when `If-Match` does not.
fn read(
    c: &Core,
    m: Meta,
    key: &[u8],
    cond: Condition,
    prefs: &Prefs,
    direct: bool,
    out: &mut Vec<u8>,
) -> Routed {
    let me = c.node.cluster.me;
    if !prefs.is_empty() && !prefs.contains(me) {
        return stand_in_read(c, m, key, guarded(cond, KeyOp::Get));
    }
    let core = c.exec.core_of(key);
    if core != c.exec.core {
        return remote(
            c,
            core,
            guarded(cond, KeyOp::Get),
            deferred(m, key, KeyKind::Get, 0),
        );
    }
    if direct {
        read_in_place(c, m, key, &cond, out);
        return Routed::Done;
    }
    let reply = c.exec.execute(guarded(cond, KeyOp::Get), key);
    Routed::Ready(reply, deferred(m, key, KeyKind::Get, 0))
}

/// This core owns the key and nothing earlier is pending: check and answer straight from shard
/// memory (a 200 copies nothing, a 304 carries no value).
fn read_in_place(c: &Core, m: Meta, key: &[u8], cond: &Condition, out: &mut Vec<u8>) {
    let now = c.exec.now_ms();
    let mut shard = c.exec.shard.borrow_mut();
    let Some((v, ttl_ms, version)) = shard.get_versioned(key, now) else {
        // RFC 9110 §13.2.1: preconditions are ignored when the answer would be a 404.
        drop(shard);
        return c.resp.miss(out, m, key);
    };
    match cond.check(Some(version), true) {
        Verdict::Proceed => c.resp.value(out, m, key, v, ttl_ms, version),
        Verdict::NotModified => c.resp.not_modified(out, m, v, ttl_ms, version),
        Verdict::Failed => c.resp.precondition_failed(out, m, key, Some(version)),
    }
}

/// The cache path of a key segment (an increment's copies are PUTs to it).
pub(super) fn cache_path(seg: &[u8]) -> Bytes {
    const PREFIX: &[u8] = b"/api/v1/cache/";
    let mut p = Vec::with_capacity(PREFIX.len() + seg.len());
    p.extend_from_slice(PREFIX);
    p.extend_from_slice(seg);
    Bytes::from(p)
}
