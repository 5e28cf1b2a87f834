//! The request side of leases on hot keys (protocol and correctness: `server/hot/lease.rs`):
//! the owner's leased read, and the holder's copy lookup, lease request and fill.
//!
//! On the wire: the holder asks with `?lease=<its node id>` on the forwarded GET (read only
//! from a request a peer forwarded); the owner's 200 carries `X-Cache-Lease: <j|r> <ttl ms|->`
//! (a JSON or raw value, and the TTL it had when read, exact to the millisecond), which the
//! holder never relays to its client.

use std::cell::Cell;

use bytes::Bytes;

use super::{KeyKind, Req, Routed};
use crate::cluster::ring::Prefs;
use crate::cluster::{Answered, MemberState};
use crate::http::response::json_escaped_len;
use crate::http::Method;
use crate::server::core::Core;
use crate::server::hot::remote::{self, RemoteCopy};
use crate::server::respond::Meta;
use crate::storage::value::Stored;
use crate::storage::KeyOp;

/// The answer header of a leased read.
pub(crate) const LEASE_HEADER: &str = "X-Cache-Lease";
/// The query parameter a holder asks with.
const LEASE_PARAM: &[u8] = b"lease=";

thread_local! {
    /// Set by [`from_copy`] when the forward about to be started should ask for a lease (the
    /// key was decoded there; `forward::start` only sees the request). Taken by [`asking`].
    static ASK: Cell<bool> = const { Cell::new(false) };
}

/// Holder: answer a GET/HEAD of `key`, routed to `coordinator`, from a copy when one may serve
/// it (true: answered into `out`); else note whether its forward should ask for a lease.
pub(super) fn from_copy(
    c: &Core,
    req: &Req<'_>,
    key: &[u8],
    coordinator: usize,
    out: &mut Vec<u8>,
) -> bool {
    let l = &c.node.leases;
    if !l.enabled()
        || !matches!(req.method, Method::Get | Method::Head)
        || req.version.is_some()
        || req.fields.if_match.is_some()
        || req.fields.if_none_match.is_some()
    {
        return false;
    }
    let (lease_now, ttl_now) = (l.now_ms(), c.exec.now_ms());
    let floor = l.floor(key);
    if let Some(copy) = remote::lookup(key, |cp| cp.usable(coordinator, floor, lease_now, ttl_now))
    {
        let ttl_ms = copy.expires_at.map(|e| e - ttl_now);
        c.resp
            .value(out, req.meta(), key, &copy.stored, ttl_ms, copy.version);
        crate::metrics::inc(&c.resp.metrics.hot_copy_reads_node);
        return true;
    }
    // The hot-key check first: it is cheap and usually false, and then the ring is not asked
    // (a hash and a search per forwarded GET). The core's copy of the topology, not a load.
    let ask = req.method == Method::Get
        && c.hot.is_hot(key, ttl_now)
        && c.topology.current().ring.owner(key) == coordinator;
    ASK.with(|a| a.set(ask));
    false
}

/// What a holder noted when it asked for a lease: the two clocks, read before the forward left.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Asked {
    lease_at: u64,
    ttl_at: u64,
}

/// Holder, in `forward::start`: whether this forward asks for a lease (then `query` gains the
/// parameter, and the clocks are read now, before it is sent).
pub(crate) fn asking(c: &Core, query: &mut Option<Bytes>) -> Option<Asked> {
    if !ASK.with(|a| a.replace(false)) {
        return None;
    }
    // The holder names itself by node id: slots are each process's own numbering.
    let me = c.node.cluster.self_id().as_bytes().to_vec();
    let mut q = Vec::with_capacity(query.as_ref().map_or(0, |q| q.len() + 1) + 12);
    if let Some(old) = query.as_ref() {
        q.extend_from_slice(old);
        q.push(b'&');
    }
    q.extend_from_slice(LEASE_PARAM);
    q.extend_from_slice(&me);
    *query = Some(Bytes::from(q));
    Some(Asked {
        lease_at: c.node.leases.now_ms(),
        ttl_at: c.exec.now_ms(),
    })
}

/// Holder: the owner `peer` answered a forward that asked for a lease of `key` (`lease`: the
/// answer's `X-Cache-Lease`); keep the value as a copy when the lease was granted.
pub(crate) fn fill(c: &Core, asked: Asked, peer: usize, key: &[u8], a: &Answered, lease: &[u8]) {
    let l = &c.node.leases;
    if a.status != 200 || lease.is_empty() || c.node.cluster.topology().ring.owner(key) != peer {
        return;
    }
    let Some(copy) = copy_of(key, a, lease, asked, peer, l.ttl_ms()) else {
        return;
    };
    // A fill read before a write whose invalidation arrived meanwhile is older than the floor.
    if copy.version < l.floor(key) || l.now_ms() >= copy.valid_until {
        return;
    }
    let (lease_now, ttl_now) = (l.now_ms(), c.exec.now_ms());
    let alive =
        |cp: &RemoteCopy| cp.valid_until > lease_now && cp.expires_at.is_none_or(|e| e > ttl_now);
    if remote::install(Bytes::copy_from_slice(key), copy, alive) {
        crate::metrics::inc(&c.resp.metrics.hot_copy_fills_node);
    }
}

/// The stored form of the value in the owner's answer `a`, as a copy; `None` when the answer is
/// not one this node understands (then nothing is kept).
fn copy_of(
    key: &[u8],
    a: &Answered,
    lease: &[u8],
    asked: Asked,
    peer: usize,
    ttl_ms: u64,
) -> Option<RemoteCopy> {
    let text = std::str::from_utf8(lease).ok()?;
    let (kind, ttl) = text.split_once(' ')?;
    let value_ttl: Option<u64> = match ttl {
        "-" => None,
        n => Some(n.parse().ok()?),
    };
    let etag = &a.raw[a.relayed[0].clone()];
    let version =
        crate::storage::version::parse_hex(etag.strip_prefix(b"\"")?.strip_suffix(b"\"")?)?;
    let body = a.body();
    let stored = match kind {
        "j" => {
            let start = 8 + json_escaped_len(key) + 10;
            let ttl_len = value_ttl.map_or(0, |t| {
                7 + itoa::Buffer::new()
                    .format(crate::server::respond::Responder::ttl_secs(t))
                    .len()
            });
            let end = body.len().checked_sub(ttl_len + 1)?;
            Bytes::copy_from_slice(body.get(start..end)?)
        }
        "r" => {
            let ct = &a.raw[a.content_type.clone()];
            let mut v = Vec::with_capacity(body.len() + ct.len() + 2);
            crate::storage::value::encode_raw(ct, body, &mut v);
            Bytes::from(v)
        }
        _ => return None,
    };
    Some(RemoteCopy {
        stored,
        version,
        granter: peer,
        valid_until: asked.lease_at + ttl_ms,
        // The owner read the value after this node asked: it lives at least this long.
        expires_at: value_ttl.map(|t| asked.ttl_at + t),
    })
}

/// Owner: the holder a forwarded GET asks a lease for, when this node may grant one: it is the
/// key's owner (`prefs` first) and `up`, so it coordinates the key itself.
pub(super) fn requested(c: &Core, req: &Req<'_>, prefs: &Prefs) -> Option<usize> {
    let q = req.query?;
    if !req.forwarded || req.method != Method::Get || !c.node.leases.enabled() {
        return None;
    }
    let cl = &c.node.cluster;
    let at = q
        .windows(LEASE_PARAM.len())
        .position(|w| w == LEASE_PARAM)?;
    let id = q[at + LEASE_PARAM.len()..].split(|&b| b == b'&').next()?;
    let holder = cl.slot_of(std::str::from_utf8(id).ok()?)?;
    if holder == cl.me
        || !cl.topology().doc.is_settled()
        || prefs.get(0) != Some(cl.me)
        || cl.own_state() != MemberState::Up
        || req.fields.if_match.is_some()
        || req.fields.if_none_match.is_some()
    {
        return None;
    }
    Some(holder)
}

/// Owner: grant `holder` a lease on `key` (recorded before the value is read), then read it;
/// the answer carries [`LEASE_HEADER`].
pub(super) fn leased_read(c: &Core, m: Meta, key: &[u8], holder: usize) -> Routed {
    c.node.leases.grant(holder, key);
    let d = super::cache::deferred(m, key, KeyKind::LeasedGet, 0);
    let core = c.exec.core_of(key);
    if core == c.exec.core {
        return Routed::Ready(c.exec.execute(KeyOp::Get, key), d);
    }
    super::cache::remote(c, core, KeyOp::Get, d)
}

/// Owner: encode a leased read's 200 (the value's answer plus [`LEASE_HEADER`]).
pub(crate) fn encode_value(
    c: &Core,
    out: &mut Vec<u8>,
    m: Meta,
    key: &[u8],
    value: &[u8],
    ttl_ms: Option<u64>,
    version: u64,
) {
    let kind = match Stored::decode(value) {
        Stored::Json(_) => b'j',
        Stored::Raw { .. } => b'r',
    };
    let mut text = [0u8; 24];
    text[0] = kind;
    text[1] = b' ';
    let n = match ttl_ms {
        Some(t) => {
            let mut b = itoa::Buffer::new();
            let s = b.format(t).as_bytes();
            text[2..2 + s.len()].copy_from_slice(s);
            s.len()
        }
        None => {
            text[2] = b'-';
            1
        }
    };
    let more = (LEASE_HEADER, &text[..2 + n]);
    c.resp.value_with(out, m, key, value, ttl_ms, version, more);
}
