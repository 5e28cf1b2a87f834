//! The node-to-node calls of a flush (with the cluster secret, like every call between nodes):
//! `DELETE /admin/cache?scope=local&step=clock`, answered `{"clock":"<hex>"}`, and
//! `DELETE /admin/cache?scope=local&step=apply[&members=..][&prefix=P]` with `X-Cache-Version`,
//! answered `{"deleted":N,"counted":M}`. Each carries the client's request id and `traceparent`
//! (`headers`, see `forward::context_lines`), so the peers' logs name the same request.

use std::time::Duration;

use super::query::encode_prefix;
use crate::cluster::{FwdError, Outgoing};
use crate::http::Method;
use crate::server::core::Core;
use crate::storage::version::parse_hex;

/// An apply call may take this many `cluster.request_timeout`s: its answer waits for the peer's
/// walk over every key it holds (0.25-0.45 s per million keys per core, measured), which a
/// large node needs longer for than one request. The clock call is bounded by one timeout.
pub(super) const APPLY_TIMEOUTS: u32 = 4;

/// Why a member did not take its part of a flush.
#[derive(Debug)]
pub(crate) enum CallError {
    /// It could not be reached or did not answer in time.
    Peer(FwdError),
    /// It answered with an error status (its message, if any).
    Refused { status: u16, message: String },
    /// Its answer is not what a flush step returns.
    BadAnswer(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Peer(e) => write!(f, "{e}"),
            CallError::Refused { status, message } => write!(f, "answered {status}: {message}"),
            CallError::BadAnswer(e) => write!(f, "bad flush answer: {e}"),
        }
    }
}

/// What a member answered to an apply step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PeerApplied {
    pub deleted: u64,
    pub counted: u64,
}

async fn call(
    c: &Core,
    peer: usize,
    query: &str,
    version: Option<u64>,
    timeout: Duration,
    headers: &[u8],
) -> Result<serde_json::Value, CallError> {
    let req = Outgoing {
        method: Method::Delete,
        path: b"/admin/cache",
        query: Some(query.as_bytes()),
        body: None,
        version,
        content_type: None,
        headers,
    };
    let a = c
        .peers
        .call(peer, &req, timeout)
        .await
        .map_err(CallError::Peer)?;
    let v: serde_json::Value = serde_json::from_slice(a.body())
        .map_err(|e| CallError::BadAnswer(format!("{e} (status {})", a.status)))?;
    if a.status != 200 {
        let message = v.get("error").and_then(|e| e.as_str()).unwrap_or("");
        return Err(CallError::Refused {
            status: a.status,
            message: message.to_string(),
        });
    }
    Ok(v)
}

/// The clock (last version issued or seen) of `peer`.
pub(super) async fn peer_clock(c: &Core, peer: usize, headers: &[u8]) -> Result<u64, CallError> {
    let timeout = c.cfg().cluster.request_timeout;
    let v = call(c, peer, "scope=local&step=clock", None, timeout, headers).await?;
    v.get("clock")
        .and_then(|h| h.as_str())
        .and_then(|h| parse_hex(h.as_bytes()))
        .ok_or_else(|| CallError::BadAnswer(format!("no clock in {v}")))
}

/// Apply the flush of `prefix` at `version` on `peer`. `members`: who took part, for its count
/// and for the flushes it keeps for the others (`None`: a late delivery, nothing to keep).
pub(crate) async fn send_apply(
    c: &Core,
    peer: usize,
    prefix: &[u8],
    version: u64,
    members: Option<&[bool]>,
    headers: &[u8],
) -> Result<PeerApplied, CallError> {
    let mut q = String::from("scope=local&step=apply");
    if let Some(m) = members {
        q.push_str("&members=");
        q.extend(m.iter().map(|&took| if took { '1' } else { '0' }));
    }
    if !prefix.is_empty() {
        q.push_str("&prefix=");
        encode_prefix(prefix, &mut q);
    }
    let timeout = c.cfg().cluster.request_timeout * APPLY_TIMEOUTS;
    let v = call(c, peer, &q, Some(version), timeout, headers).await?;
    let num = |k: &str| v.get(k).and_then(serde_json::Value::as_u64);
    match (num("deleted"), num("counted")) {
        (Some(deleted), Some(counted)) => Ok(PeerApplied { deleted, counted }),
        _ => Err(CallError::BadAnswer(format!("no counts in {v}"))),
    }
}
