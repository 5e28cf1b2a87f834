//! The ops of a batch that this node coordinates, run as a single request would be.
//!
//! A read runs on the key's core; a write gets a fresh version here, runs on the key's core and
//! is copied to the key's other replicas as a single versioned PUT or DELETE (the copies of a
//! batch leave together through the per-peer batchers), with a hint for a replica that does not
//! take it; the batch is answered once every copy is settled, as `replicate.rs` does for one
//! write. Ops of this core's keys run in place (a hit is encoded straight from shard memory);
//! the ops of each other core go there as one closure, in batch order, so ops on one key run in
//! the order they were sent and a core is woken once per batch, not once per key.

use std::rc::Rc;

use bytes::Bytes;

use super::parse::{Action, Op};
use super::results::{Kind, Results};
use crate::cluster::ring::Prefs;
use crate::cluster::{InFlight, Outgoing};
use crate::http::Method;
use crate::mesh::oneshot::Canceled;
use crate::server::core::Core;
use crate::server::handlers::replicate;
use crate::storage::value::Stored;
use crate::storage::{Entry, KeyOp, KeyReply};

/// An op this node coordinates: its index and its key's replicas (empty on a node alone).
pub(crate) type Here = (usize, Prefs);

/// An op as another core runs it: its key and the owned operation.
pub(crate) type CoreOp = (Bytes, KeyOp);
/// What answers an op's reply: its index in the batch, its kind, the write's version.
pub(crate) type Pending = (usize, Kind, u64);

/// The ops of one other core, sent there as one closure.
#[derive(Default)]
pub(crate) struct CoreOps {
    ops: Vec<CoreOp>,
    pending: Vec<Pending>,
}

/// A write coordinated here, waiting for its copies.
pub(crate) struct Copies {
    copy: Entry,
    flights: Vec<(usize, InFlight)>,
}

/// What [`start`] left to wait for.
pub(crate) struct Started {
    /// Per other core of this node (index = core), the ops to run there.
    pub cores: Vec<CoreOps>,
    pub copies: Vec<Copies>,
}

/// Start the ops of `here` (indices into `ops`): copies leave now (with the header lines `ctx`:
/// the client's ids), ops of this core's keys run now (their results are in `res`), the others
/// are returned for their cores.
pub(crate) fn start(
    c: &Core,
    ops: &[Option<Op<'_>>],
    here: &[Here],
    ctx: &[u8],
    res: &mut Results,
) -> Started {
    let me = c.node.cluster.me;
    let mut cores: Vec<CoreOps> = (0..c.exec.cores()).map(|_| CoreOps::default()).collect();
    let mut copies = Vec::new();
    let mut buf = CopyBuf {
        ctx,
        ..CopyBuf::default()
    };
    for &(i, prefs) in here {
        let Some(op) = &ops[i] else { continue };
        let key = op.key.as_bytes();
        let (kind, version) = match op.action {
            // Every replica of the key is out of reach and this node stands in (see `cache.rs`).
            Action::Get if !prefs.is_empty() && !prefs.contains(me) => (Kind::StandInGet, 0),
            Action::Get => (Kind::Get, 0),
            Action::Put { .. } => (Kind::Put, c.node.next_version()),
            Action::Delete => (Kind::Delete, c.node.next_version()),
        };
        let key_op = key_op(&op.action, version);
        if version != 0 {
            let others = replicate::others(c, key, &prefs);
            if !others.is_empty() {
                copies.push(send_copies(
                    c, key, &op.action, &key_op, version, &others, &mut buf,
                ));
            }
        }
        let core = c.exec.core_of(key);
        if core == c.exec.core {
            run_in_place(c, i, key, kind, key_op, version, res);
        } else {
            let group = &mut cores[core];
            group.ops.push((Bytes::copy_from_slice(key), key_op));
            group.pending.push((i, kind, version));
        }
    }
    Started { cores, copies }
}

fn key_op(action: &Action, version: u64) -> KeyOp {
    match action {
        Action::Get => KeyOp::Get,
        Action::Delete => KeyOp::Delete { version },
        Action::Put { stored, ttl_s } => KeyOp::Put {
            value: stored.clone(),
            ttl_ms: ttl_s.map(|t| t * 1000),
            version,
        },
    }
}

/// Run an op of this core's shard now; a hit is encoded from shard memory, without a copy.
fn run_in_place(
    c: &Core,
    i: usize,
    key: &[u8],
    kind: Kind,
    op: KeyOp,
    version: u64,
    res: &mut Results,
) {
    if let KeyOp::Get = op {
        let now = c.exec.now_ms();
        let mut shard = c.exec.shard.borrow_mut();
        if let Some((value, ttl_ms, ver)) = shard.get_versioned(key, now) {
            return res.value(i, key, value, ttl_ms, ver);
        }
        drop(shard);
        return res.reply(c, i, key, kind, KeyReply::Miss, 0);
    }
    let reply = c.exec.execute(op, key);
    res.reply(c, i, key, kind, reply, version);
}

/// Run one other core's ops there, in order (one closure: one message, one wake-up).
pub(crate) async fn run_on_core(
    c: &Rc<Core>,
    core: usize,
    ops: Vec<CoreOp>,
) -> Result<Vec<KeyReply>, Canceled> {
    c.on_core(core, move |c| {
        ops.into_iter()
            .map(|(key, op)| c.exec.execute(op, &key))
            .collect()
    })
    .await
}

impl CoreOps {
    pub(crate) fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Split into what the core runs and what answers its replies.
    pub(crate) fn split(self) -> (Vec<CoreOp>, Vec<Pending>) {
        (self.ops, self.pending)
    }
}

/// Answer the ops a core ran (`replies` in their order), or all of them 503 when the core
/// stopped (the node is shutting down).
pub(crate) fn finish_core(
    c: &Core,
    ops: &[Option<Op<'_>>],
    core: usize,
    pending: Vec<Pending>,
    replies: Result<Vec<KeyReply>, Canceled>,
    res: &mut Results,
) {
    let key = |i: usize| ops[i].as_ref().map_or(&b""[..], |o| o.key.as_bytes());
    match replies {
        Ok(replies) => {
            for ((i, kind, version), reply) in pending.into_iter().zip(replies) {
                res.reply(c, i, key(i), kind, reply, version);
            }
        }
        Err(Canceled) => {
            let msg = format!(
                "core {core} of node {} stopped (the node is shutting down); retry on another node",
                c.node.cluster.self_id()
            );
            for (i, _, _) in pending {
                res.error(i, 503, Some(key(i)), &msg);
            }
        }
    }
}

/// Reusable buffers for the copies' requests (each is serialized when it is queued).
#[derive(Default)]
struct CopyBuf<'c> {
    path: Vec<u8>,
    body: Vec<u8>,
    headers: Vec<u8>,
    /// Header lines every copy carries (the client's ids).
    ctx: &'c [u8],
}

/// Send a write's copies to the replicas in `others` that take writes; the others get a hint.
#[allow(clippy::too_many_arguments)]
fn send_copies(
    c: &Core,
    key: &[u8],
    action: &Action,
    op: &KeyOp,
    version: u64,
    others: &Prefs,
    buf: &mut CopyBuf<'_>,
) -> Copies {
    let copy = replicate::copy_of(key, op, version);
    buf.path.clear();
    buf.path.extend_from_slice(b"/api/v1/cache/");
    percent_encode(key, &mut buf.path);
    buf.body.clear();
    buf.headers.clear();
    buf.headers.extend_from_slice(buf.ctx);
    let mut ttl = itoa::Buffer::new();
    let (method, body, content_type) = match action {
        Action::Put { stored, ttl_s } => match Stored::decode(stored) {
            // The single PUT's body: {"value":<JSON>[,"ttl":S]}.
            Stored::Json(json) => {
                buf.body.extend_from_slice(b"{\"value\":");
                buf.body.extend_from_slice(json);
                if let Some(t) = ttl_s {
                    buf.body.extend_from_slice(b",\"ttl\":");
                    buf.body.extend_from_slice(ttl.format(*t).as_bytes());
                }
                buf.body.push(b'}');
                (Method::Put, Some(&buf.body[..]), None)
            }
            // A raw PUT: the bytes with their content type, the TTL in X-Cache-TTL.
            Stored::Raw { content_type, body } => {
                if let Some(t) = ttl_s {
                    buf.headers.extend_from_slice(b"X-Cache-TTL: ");
                    buf.headers.extend_from_slice(ttl.format(*t).as_bytes());
                    buf.headers.extend_from_slice(b"\r\n");
                }
                (Method::Put, Some(body), Some(content_type))
            }
        },
        _ => (Method::Delete, None, None),
    };
    let out = Outgoing {
        method,
        path: &buf.path,
        query: None,
        body,
        version: Some(version),
        content_type,
        headers: &buf.headers,
    };
    let cl = &c.node.cluster;
    let mut flights = Vec::with_capacity(others.len());
    for peer in others.iter() {
        if cl.takes_writes(peer) {
            flights.push((peer, c.peers.forward(peer, &out)));
        } else {
            replicate::hint(c, peer, copy.clone());
        }
    }
    Copies { copy, flights }
}

/// Wait for a write's copies; a replica that did not take its copy gets a hint (as
/// `replicate::Replicating::finish` does for a single write).
pub(crate) async fn settle(c: &Core, copies: Copies) {
    let Copies { copy, flights } = copies;
    for (peer, f) in flights {
        replicate::settle(c, peer, f, &copy).await;
    }
}

/// Percent-encode a key as one path segment: RFC 3986 unreserved bytes as they are, every
/// other byte as `%XX` (the node decodes it back exactly, `http::decode_segment`).
pub(crate) fn percent_encode(key: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in key {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_encoded_as_one_segment_and_decode_back() {
        for key in [
            &b"plain-key_1.x~"[..],
            b"a/b c",
            b"\xc3\xa9t\xc3\xa9%",
            b"\0\xff",
        ] {
            let mut seg = Vec::new();
            percent_encode(key, &mut seg);
            assert!(!seg.contains(&b'/'));
            let mut back = Vec::new();
            crate::http::decode_segment(&seg, &mut back).expect("decodes");
            assert_eq!(back, key);
        }
        let mut seg = Vec::new();
        percent_encode(b"a/b", &mut seg);
        assert_eq!(seg, b"a%2Fb");
    }
}
