//! Copies of a write to the other replicas of its key, and copies arriving from a coordinator.
//!
//! The coordinator stores the write on its own shard and sends the same request, plus
//! `X-Cache-Version`, to every other replica that takes writes now (through the per-core
//! batchers, so the copies of a pipeline share writes). The client's answer waits for every copy:
//! a replica that answers 2xx (or 404 to a delete) has it; one that is down, draining, refuses
//! or does not answer within `cluster.request_timeout` gets a hint instead (`hints.rs`), so the
//! write is acknowledged once it is on every live replica or kept for the ones that are not. A
//! copy refused because this core's queue to the replica is full gets a hint too.
//!
//! A conditional write or an increment is local-first instead ([`Replicating::local_first`]): it
//! runs on the coordinator's shard, where its condition is checked in the same call, and is copied
//! only when it applied (a write refused with 412 or 409 must leave no copy behind), as the same
//! request without its conditions, or for an increment as a versioned PUT of the resulting value.
//! Plain writes keep sending their copies in parallel with the local step.

use bytes::Bytes;

use super::{Deferred, Req};
use crate::cluster::ring::Prefs;
use crate::cluster::{FwdError, InFlight, Outgoing};
use crate::http::Method;
use crate::mesh::Ticket;
use crate::metrics::Trust;
use crate::server::core::Core;
use crate::server::hot::lease::{self, WriteFrom};
use crate::server::router::{copy_ttl_header, TTL_HEADER_BYTES};
use crate::storage::value::Stored;
use crate::storage::{Entry, KeyOp, KeyReply};

/// The coordinator's own step of a write.
pub(crate) enum Local {
    /// Executed on this core already.
    Done(KeyReply),
    /// Executing on the core that owns the key.
    Remote(Ticket<KeyReply>),
}

/// A write this node coordinates, waiting for its own shard and its copies.
pub(crate) struct Replicating {
    local: Local,
    d: Deferred,
    /// What a replica that did not take the copy gets as a hint.
    copy: Entry,
    flights: Vec<(usize, InFlight)>,
    /// A local-first write whose own step runs on another core: its copies, sent once it applied.
    later: Option<Box<(CopySource, Prefs)>>,
    /// How the write came here: what its 2xx waits for on read copies of hot keys elsewhere.
    from: WriteFrom,
}

/// What the copies of a local-first write are made of.
pub(crate) enum CopySource {
    /// The client's request (a conditional PUT or DELETE) without its conditions, and its hint
    /// form.
    Request(Box<(OwnedCopy, Entry)>),
    /// An increment: a versioned PUT of the resulting value to `path` (the key's cache path),
    /// with the client's context lines (`forward::context_lines`) as `headers`.
    Counter { path: Bytes, headers: Bytes },
}

/// A copy request kept past the client request's buffers (see [`copy_outgoing`]).
pub(crate) struct OwnedCopy {
    method: Method,
    path: Bytes,
    query: Option<Bytes>,
    body: Option<Bytes>,
    content_type: Option<Bytes>,
    headers: Bytes,
}

impl OwnedCopy {
    pub(super) fn of(o: &Outgoing<'_>) -> OwnedCopy {
        OwnedCopy {
            method: o.method,
            path: Bytes::copy_from_slice(o.path),
            query: o.query.map(Bytes::copy_from_slice),
            body: o.body.map(Bytes::copy_from_slice),
            content_type: o.content_type.map(Bytes::copy_from_slice),
            headers: Bytes::copy_from_slice(o.headers),
        }
    }

    fn outgoing(&self, version: u64) -> Outgoing<'_> {
        Outgoing {
            method: self.method,
            path: &self.path,
            query: self.query.as_deref(),
            body: self.body.as_deref(),
            version: Some(version),
            content_type: self.content_type.as_deref(),
            headers: &self.headers,
        }
    }
}

/// The copy of `req` sent to each other replica, at `hint.version` (`hint`: the write's hint
/// form, [`copy_of`]): the client's request without its conditions (the coordinator checked
/// them; a copy applies unconditionally, by LWW). A raw PUT's copy carries its content type and,
/// in `lines`, the TTL its coordinator parsed (`X-Cache-TTL`; the copy has no query), so every
/// replica stores the same bytes; `lines` stays unallocated otherwise.
pub(super) fn copy_outgoing<'a>(
    req: &'a Req<'_>,
    hint: &Entry,
    lines: &'a mut Vec<u8>,
) -> Outgoing<'a> {
    let raw = !hint.tomb && matches!(Stored::decode(&hint.value), Stored::Raw { .. });
    lines.clear();
    if raw {
        let mut ttl = [0; TTL_HEADER_BYTES];
        lines.extend_from_slice(copy_ttl_header(hint.ttl_ms, &mut ttl));
    }
    // The client's id and trace, for the replica's log lines (IDS).
    super::forward::push_context_lines(req, lines);
    Outgoing {
        method: req.method,
        path: req.path,
        query: None,
        body: req.has_body.then_some(req.body),
        version: Some(hint.version),
        content_type: if raw { req.fields.content_type } else { None },
        headers: lines,
    }
}

/// Whether the coordinator's step applied, so that it must be copied.
fn applied(reply: &KeyReply) -> bool {
    matches!(
        reply,
        KeyReply::Stored { .. } | KeyReply::Deleted(_) | KeyReply::Counted { .. }
    )
}

/// The replicas of `prefs` other than this node. A stand-in (this node coordinates a key it does
/// not replicate, all its replicas being unreachable) also notes that its copy must be handed
/// over later.
///
/// While a membership change moves `key`, its previous replicas get the copy too: a node still
/// on the older membership reads there, and the key's move may not have reached the new
/// replicas yet (`server::migrate`).
pub(super) fn others(c: &Core, key: &[u8], prefs: &Prefs) -> Prefs {
    let cl = &c.node.cluster;
    let me = cl.me;
    let t = cl.topology();
    if !prefs.contains(me) && !cl.standalone_in(&t) {
        c.node
            .foreign_epoch
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    let mut all = *prefs;
    if let Some(prev) = t.holder_prefs(key) {
        for i in prev.iter() {
            all.push(i);
        }
    }
    all.without(me)
}

/// The hint form of a write (`op` before it executes: its value is shared, not copied).
pub(super) fn copy_of(key: &[u8], op: &KeyOp, version: u64) -> Entry {
    let (value, ttl_ms, tomb) = match op {
        KeyOp::Put { value, ttl_ms, .. } => (value.clone(), *ttl_ms, false),
        _ => (Bytes::new(), None, true),
    };
    Entry {
        key: Bytes::copy_from_slice(key),
        value,
        ttl_ms,
        version,
        tomb,
    }
}

impl Replicating {
    /// Send the copies now (so the copies of one pipeline leave in one batch); replicas that do
    /// not take writes get their hint at once.
    pub(super) fn start(
        c: &Core,
        local: Local,
        d: Deferred,
        copy: Entry,
        others: &Prefs,
        req: &Req<'_>,
    ) -> Replicating {
        let mut lines = Vec::new();
        let out = copy_outgoing(req, &copy, &mut lines);
        let flights = send_copies(c, &out, others, &copy);
        Replicating {
            local,
            d,
            copy,
            flights,
            later: None,
            from: WriteFrom::Coordinated,
        }
    }

    /// A local-first write (see the module doc): copies leave now when this core executed it
    /// already and it applied, or once the owning core's reply says it applied.
    pub(super) fn local_first(
        c: &Core,
        local: Local,
        d: Deferred,
        source: CopySource,
        others: Prefs,
    ) -> Replicating {
        let (mut copy, mut flights, mut later) = (no_copy(), Vec::new(), None);
        match &local {
            Local::Done(reply) => {
                if let Some((cp, fl)) = copies_of(c, &d.key, reply, &source, &others) {
                    (copy, flights) = (cp, fl);
                }
            }
            Local::Remote(_) => later = Some(Box::new((source, others))),
        }
        Replicating {
            local,
            d,
            copy,
            flights,
            later,
            from: WriteFrom::Coordinated,
        }
    }

    /// Wait for this node's step and every copy, then encode the client's answer.
    pub(crate) async fn finish(self, c: &Core, out: &mut Vec<u8>) {
        let Replicating {
            local,
            d,
            mut copy,
            mut flights,
            later,
            from,
        } = self;
        let reply = match local {
            Local::Done(r) => r,
            Local::Remote(mut t) => t.wait().await,
        };
        if let Some(later) = later {
            let (source, others) = *later;
            if let Some((cp, fl)) = copies_of(c, &d.key, &reply, &source, &others) {
                (copy, flights) = (cp, fl);
            }
        }
        for (peer, f) in flights {
            settle(c, peer, f, &copy).await;
        }
        if applied(&reply) && lease::must_wait(c, &d.key, from) {
            let version = match reply {
                KeyReply::Counted { version, .. } => version,
                _ => d.version,
            };
            lease::after_write(c, &d.key, version, from).await;
        }
        super::cache::finish(c, out, d, reply);
    }
}

/// A write with no copy to send whose 2xx must still wait for read copies of the key on other
/// nodes (hot keys, `server/hot/lease.rs`): executed here or on the key's core, answered
/// through [`Replicating::finish`].
pub(super) fn alone(c: &Core, op: KeyOp, d: Deferred, from: WriteFrom) -> super::Routed {
    let core = c.exec.core_of(&d.key);
    let local = if core == c.exec.core {
        let reply = c.exec.execute(op, &d.key);
        // Nothing to wait for (the usual case): answered like any write of this core.
        if !applied(&reply) || !lease::must_wait(c, &d.key, from) {
            return super::Routed::Ready(reply, d);
        }
        Local::Done(reply)
    } else {
        crate::metrics::inc(&c.resp.metrics.cross_core_calls);
        match c.exec.call(core, op, &d.key) {
            Ok(t) => Local::Remote(t),
            Err(full) => return super::cache::busy(c, d, full),
        }
    };
    super::Routed::Replicate(Box::new(Replicating {
        local,
        d,
        copy: no_copy(),
        flights: Vec::new(),
        later: None,
        from,
    }))
}

/// The copies of a local-first write whose own step answered `reply`, sent now: its hint form
/// and the copies in flight; `None` when it did not apply (nothing is copied).
fn copies_of(
    c: &Core,
    key: &crate::mesh::CallKey,
    reply: &KeyReply,
    source: &CopySource,
    others: &Prefs,
) -> Option<(Entry, Vec<(usize, InFlight)>)> {
    if !applied(reply) {
        return None;
    }
    match (source, reply) {
        (CopySource::Request(copy), _) => {
            let (request, hint) = &**copy;
            let flights = send_copies(c, &request.outgoing(hint.version), others, hint);
            Some((hint.clone(), flights))
        }
        (
            CopySource::Counter { path, headers },
            &KeyReply::Counted {
                value,
                ttl_ms,
                version,
                ..
            },
        ) => {
            let text = itoa::Buffer::new().format(value).as_bytes().to_vec();
            let body = counter_copy_body(&text, ttl_ms);
            let hint = Entry {
                key: key.to_bytes(),
                value: Bytes::from(text),
                ttl_ms,
                version,
                tomb: false,
            };
            let out = Outgoing {
                method: Method::Put,
                path,
                query: None,
                body: Some(&body),
                version: Some(version),
                content_type: None,
                headers,
            };
            let flights = send_copies(c, &out, others, &hint);
            Some((hint, flights))
        }
        // Only an increment answers `Counted`.
        (CopySource::Counter { .. }, _) => None,
    }
}

/// Send `out` to every replica of `others` that takes writes now; the others get `copy` as a
/// hint.
fn send_copies(
    c: &Core,
    out: &Outgoing<'_>,
    others: &Prefs,
    copy: &Entry,
) -> Vec<(usize, InFlight)> {
    let cl = &c.node.cluster;
    let mut flights = Vec::with_capacity(others.len());
    for peer in others.iter() {
        if cl.takes_writes(peer) {
            flights.push((peer, c.peers.forward(peer, out)));
        } else {
            hint(c, peer, copy.clone());
        }
    }
    flights
}

/// The body of an increment's copy: `{"value":N}` plus the TTL the entry has, rounded up to
/// whole seconds (a replica may keep it up to a second longer, never drop it early or keep it
/// forever).
fn counter_copy_body(value: &[u8], ttl_ms: Option<u64>) -> Vec<u8> {
    let mut body = Vec::with_capacity(40);
    body.extend_from_slice(b"{\"value\":");
    body.extend_from_slice(value);
    if let Some(ms) = ttl_ms {
        body.extend_from_slice(b",\"ttl\":");
        body.extend_from_slice(
            itoa::Buffer::new()
                .format(ms.div_ceil(1000).max(1))
                .as_bytes(),
        );
    }
    body.push(b'}');
    body
}

/// The placeholder hint of a local-first write that has not applied (no copy is ever sent).
fn no_copy() -> Entry {
    Entry {
        key: Bytes::new(),
        value: Bytes::new(),
        ttl_ms: None,
        version: 0,
        tomb: false,
    }
}

/// Keep `copy` for `peer` on this core (dropped and counted when the bound is hit).
/// Wait for one replica's copy of a write; a replica that did not take it gets a hint.
pub(crate) async fn settle(c: &Core, peer: usize, f: InFlight, copy: &Entry) {
    let took = match f.wait().await {
        Ok(a) => a.status < 300 || (copy.tomb && a.status == 404),
        // The queue to the replica is full (it is not keeping up): a hint, like a replica that
        // did not answer.
        Err(FwdError::QueueFull { .. }) => {
            c.resp.metrics.trust.inc(Trust::PeerQueueFull);
            false
        }
        Err(_) => false,
    };
    crate::metrics::inc(&c.resp.metrics.replica_writes);
    if !took {
        crate::metrics::inc(&c.resp.metrics.replica_write_failures);
        hint(c, peer, copy.clone());
    }
}

pub(crate) fn hint(c: &Core, peer: usize, copy: Entry) {
    let now = c.exec.now_ms();
    c.hints.borrow_mut().push(peer, copy, now);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_copies_carry_the_value_and_the_ttl_rounded_up() {
        assert_eq!(counter_copy_body(b"-5", None), b"{\"value\":-5}");
        assert_eq!(counter_copy_body(b"7", Some(1)), b"{\"value\":7,\"ttl\":1}");
        assert_eq!(
            counter_copy_body(b"7", Some(59_001)),
            b"{\"value\":7,\"ttl\":60}"
        );
    }

    #[test]
    fn only_applied_steps_are_copied() {
        assert!(applied(&KeyReply::Stored { created: true }));
        assert!(applied(&KeyReply::Deleted(false)));
        assert!(!applied(&KeyReply::PreconditionFailed {
            current: None,
            seen: 0
        }));
        assert!(!applied(&KeyReply::CounterConflict(
            crate::storage::counter::Conflict::Overflow
        )));
        assert!(!applied(&KeyReply::TooLarge));
        assert!(!applied(&KeyReply::Superseded));
    }
}
