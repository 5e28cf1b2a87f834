//! The answer of a key request from its shard's reply: value, 404, stored, deleted, and the
//! conditional (304, 412) and counter (201/200, 409) answers of issue 12; 503 for an overloaded
//! core or a stand-in that knows nothing of the key.

use super::{Core, Deferred, KeyKind, KeyReply, Meta};

/// Encode the response for a deferred key request answered by `reply`.
pub(crate) fn finish(c: &Core, out: &mut Vec<u8>, d: Deferred, reply: KeyReply) {
    super::copy::filled(c, &d, &reply);
    encode(c, out, d.meta, &d.key, d.kind, reply, d.version)
}

/// Encode the answer to a key request of `kind` whose shard step answered `reply`; `version`
/// is a write's own version (a read's comes with its reply).
pub(crate) fn encode(
    c: &Core,
    out: &mut Vec<u8>,
    m: Meta,
    key: &[u8],
    kind: KeyKind,
    reply: KeyReply,
    version: u64,
) {
    let resp = &c.resp;
    match (kind, reply) {
        (KeyKind::CoreBusy { core }, _) => {
            let msg = format!(
                "core {core} of node {} is overloaded (mailbox full: limits.max_queued_per_core); retry later",
                c.node.cluster.self_id()
            );
            resp.error(out, m, 503, &msg, Some(key), &[("Retry-After", b"1")]);
        }
        (
            KeyKind::LeasedGet,
            KeyReply::Value {
                value,
                ttl_ms,
                version,
            },
        ) => super::super::lease::encode_value(c, out, m, key, &value, ttl_ms, version),
        (
            _,
            KeyReply::Value {
                value,
                ttl_ms,
                version,
            },
        ) => resp.value(out, m, key, &value, ttl_ms, version),
        (KeyKind::StandInGet, KeyReply::Miss) => {
            let cl = &c.node.cluster;
            let ids: Vec<&str> = cl
                .topology()
                .prefs(key)
                .iter()
                .map(|i| cl.member(i).id.as_str())
                .collect();
            let msg = format!(
                "no replica of the key ({}) is reachable from node {}; its value is unknown here",
                ids.join(", "),
                cl.self_id()
            );
            resp.error(out, m, 503, &msg, Some(key), &[("Retry-After", b"1")]);
        }
        (_, KeyReply::Deleted(true)) => resp.deleted(out, m, key),
        (_, KeyReply::Miss | KeyReply::Deleted(false)) => resp.miss(out, m, key),
        (KeyKind::Put { ttl_s }, KeyReply::Stored { created }) => {
            resp.stored(out, m, key, created, ttl_s, version)
        }
        // Only when the version space is exhausted (see `KeyOp::Incr`): nothing was added.
        (KeyKind::Incr, KeyReply::Superseded) => resp.error(
            out,
            m,
            409,
            "a newer write of the key is stored; the increment was not applied",
            Some(key),
            &[],
        ),
        // A copy that a newer write already superseded: the write is acknowledged (the replica
        // holds something at least as new), never reported as a failure that a client retries.
        (KeyKind::Put { ttl_s }, KeyReply::Superseded) => {
            resp.stored(out, m, key, false, ttl_s, version)
        }
        (_, KeyReply::Superseded) => resp.deleted(out, m, key),
        // Only a PUT stores; answer what happened if that ever changes.
        (_, KeyReply::Stored { created }) => resp.stored(out, m, key, created, None, version),
        (_, KeyReply::PreconditionFailed { current, seen }) => {
            // A retry of the client's compare-and-set must be versioned above what it met.
            c.node.hlc.observe(seen);
            resp.precondition_failed(out, m, key, current)
        }
        (
            _,
            KeyReply::NotModified {
                version,
                ttl_ms,
                head,
            },
        ) => resp.not_modified(out, m, &head, ttl_ms, version),
        (
            _,
            KeyReply::Counted {
                value,
                created,
                version,
                ..
            },
        ) => {
            // Stored above a newer slot version than this node had issued (see `KeyOp::Incr`).
            c.node.hlc.observe(version);
            resp.counted(out, m, key, value, created, version)
        }
        (_, KeyReply::CounterConflict(why)) => {
            resp.error(out, m, 409, why.message(), Some(key), &[])
        }
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
