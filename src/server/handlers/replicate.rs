//! Copies of a write to the other replicas of its key, and copies arriving from a coordinator.
//!
//! The coordinator stores the write on its own shard and sends the same request, plus
//! `X-Cache-Version`, to every other replica that takes writes now (through the per-core
//! batchers, so the copies of a pipeline share writes). The client's answer waits for every copy:
//! a replica that answers 2xx (or 404 to a delete) has it; one that is down, draining, refuses
//! or does not answer within `cluster.request_timeout` gets a hint instead (`hints.rs`), so the
//! write is acknowledged once it is on every live replica or kept for the ones that are not. A
//! copy refused because this core's queue to the replica is full gets a hint too.

use bytes::Bytes;

use super::{Deferred, Req};
use crate::cluster::ring::Prefs;
use crate::cluster::{FwdError, InFlight, Outgoing};
use crate::mesh::Ticket;
use crate::metrics::Trust;
use crate::server::core::Core;
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
}

/// The replicas of `prefs` other than this node. A stand-in (this node coordinates a key it does
/// not replicate, all its replicas being unreachable) also notes that its copy must be handed
/// over later.
pub(super) fn others(c: &Core, prefs: &Prefs) -> Prefs {
    let me = c.node.cluster.me;
    if !prefs.contains(me) && !c.node.cluster.is_standalone() {
        c.node
            .foreign_epoch
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    prefs.without(me)
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
        let cl = &c.node.cluster;
        let mut flights = Vec::with_capacity(others.len());
        let out = Outgoing {
            method: req.method,
            path: req.path,
            query: None,
            body: req.has_body.then_some(req.body),
            version: Some(copy.version),
            content_type: None,
            headers: b"",
        };
        for peer in others.iter() {
            if cl.takes_writes(peer) {
                flights.push((peer, c.peers.forward(peer, &out)));
            } else {
                hint(c, peer, copy.clone());
            }
        }
        Replicating {
            local,
            d,
            copy,
            flights,
        }
    }

    /// Wait for this node's step and every copy, then encode the client's answer.
    pub(crate) async fn finish(self, c: &Core, out: &mut Vec<u8>) {
        let Replicating {
            local,
            d,
            copy,
            flights,
        } = self;
        let reply = match local {
            Local::Done(r) => r,
            Local::Remote(mut t) => t.wait().await,
        };
        for (peer, f) in flights {
            let took = match f.wait().await {
                Ok(a) => a.status < 300 || (copy.tomb && a.status == 404),
                // The queue to the replica is full (it is not keeping up): a hint, like a
                // replica that did not answer.
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
        super::cache::finish(c, out, d, reply);
    }
}

/// Keep `copy` for `peer` on this core (dropped and counted when the bound is hit).
pub(crate) fn hint(c: &Core, peer: usize, copy: Entry) {
    let now = c.exec.now_ms();
    c.hints.borrow_mut().push(peer, copy, now);
}
