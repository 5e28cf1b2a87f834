//! Sub-batches: the ops of a batch that a peer coordinates, sent to it as one forwarded
//! `POST /api/v1/batch` (the ops' JSON text as the client sent it), and its answer copied into
//! the results.
//!
//! Sent with `PeerClient::call_sized` (a pooled keep-alive connection of its own, the cluster
//! secret added by the peer client), not through the per-peer batcher: a batch answer holds many
//! values, and the batcher bounds an answer by one value. An op whose peer did not answer (no
//! connection, no answer within `cluster.request_timeout`, a whole answer other than 200) or
//! answered that op 421 (it must not coordinate now) is handed back as [`Failed`], for its key's
//! next replica.

use std::fmt::Write as _;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::parse::Op;
use super::results::{max_peer_answer, Results};
use crate::cluster::{FwdError, Outcome, Outgoing};
use crate::http::Method;
use crate::server::core::Core;
use crate::server::respond::Meta;

/// The path of a batch, on every node.
const BATCH_PATH: &[u8] = b"/api/v1/batch";
/// A peer's answer to an op it must not coordinate now (catching up or leaving).
const MISDIRECTED: u16 = 421;
/// How much of a peer's unexpected answer is quoted in the op's error.
const QUOTED_ANSWER: usize = 200;

/// Why a peer did not serve an op.
#[derive(Debug, Clone)]
pub(crate) enum Why {
    /// No answer (see [`FwdError`]).
    Unreached(FwdError),
    /// 421 for the op: the peer is catching up or leaving.
    Misdirected,
    /// The whole sub-batch was answered with something else than 200 `{"results":[...]}`.
    Answered(String),
}

/// An op a peer did not serve.
#[derive(Debug)]
pub(crate) struct Failed {
    pub op: usize,
    pub peer: usize,
    pub why: Why,
}

/// The sub-batch document for the ops `idxs` (their JSON text as sent, in batch order).
pub(crate) fn document(raws: &[&RawValue], idxs: &[usize]) -> Vec<u8> {
    let len: usize = idxs.iter().map(|&i| raws[i].get().len() + 1).sum();
    let mut doc = Vec::with_capacity(len + 16);
    doc.extend_from_slice(b"{\"ops\":[");
    for (n, &i) in idxs.iter().enumerate() {
        if n > 0 {
            doc.push(b',');
        }
        doc.extend_from_slice(raws[i].get().as_bytes());
    }
    doc.extend_from_slice(b"]}");
    doc
}

/// Send a sub-batch to `peer`; the answer (or why there is none) and how long it took, in µs.
/// `headers` are passed on as they are (the client's trace context).
pub(crate) async fn send(c: &Core, peer: usize, doc: Vec<u8>, headers: &[u8]) -> (Outcome, u64) {
    let req = Outgoing {
        method: Method::Post,
        path: BATCH_PATH,
        query: None,
        body: Some(&doc),
        version: None,
        content_type: None,
        headers,
    };
    let timeout = c.cfg().cluster.request_timeout;
    let max = max_peer_answer(c.cfg().max_key_bytes);
    let started = std::time::Instant::now();
    let outcome = c.peers.call_sized(peer, &req, timeout, max).await;
    (outcome, started.elapsed().as_micros() as u64)
}

#[derive(Deserialize)]
struct Answer<'a> {
    #[serde(borrow)]
    results: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct Status {
    status: u16,
}

/// Copy a peer's results for the ops `idxs` into `res`; the ops it did not serve go to
/// `failed` (a peer that did not answer is logged, rate-limited, with the batch's ids `m`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn settle(
    c: &Core,
    m: Meta,
    peer: usize,
    outcome: Outcome,
    us: u64,
    idxs: &[usize],
    ops: &[Option<Op<'_>>],
    res: &mut Results,
    failed: &mut Vec<Failed>,
) {
    let key = |i: usize| ops[i].as_ref().map_or(&b""[..], |o| o.key.as_bytes());
    let all_failed = |why: Why, failed: &mut Vec<Failed>| {
        failed.extend(idxs.iter().map(|&op| Failed {
            op,
            peer,
            why: why.clone(),
        }))
    };
    let a = match outcome {
        Ok(a) => a,
        Err(e) => {
            c.resp.metrics.forward(peer, e.result_index(), us);
            let member = &c.node.cluster.member(peer);
            let msg = format!(
                "a sub-batch of {} ops to node {} ({}) failed: {e}; its ops go to their keys' next replica",
                idxs.len(),
                member.id,
                member.addr
            );
            c.resp
                .log_error(m, e.status(), &msg, None, Some(&member.id));
            return all_failed(Why::Unreached(e), failed);
        }
    };
    c.resp.metrics.forward(peer, 0, us);
    let results = match (a.status, serde_json::from_slice::<Answer<'_>>(a.body())) {
        (200, Ok(r)) if r.results.len() == idxs.len() => r.results,
        (200, Ok(r)) => {
            let why = format!(
                "{} results for a sub-batch of {} ops",
                r.results.len(),
                idxs.len()
            );
            return all_failed(Why::Answered(why), failed);
        }
        (200, Err(e)) => {
            let why = format!("an unreadable answer ({e})");
            return all_failed(Why::Answered(why), failed);
        }
        (status, _) => {
            let body = String::from_utf8_lossy(a.body());
            let mut why = format!("status {status}");
            if !body.is_empty() {
                let cut = body
                    .char_indices()
                    .nth(QUOTED_ANSWER)
                    .map_or(body.len(), |(n, _)| n);
                let _ = write!(why, ": {}", &body[..cut]);
            }
            return all_failed(Why::Answered(why), failed);
        }
    };
    for (&i, result) in idxs.iter().zip(results) {
        let status = serde_json::from_str::<Status>(result.get()).map(|s| s.status);
        match status {
            Ok(MISDIRECTED) => failed.push(Failed {
                op: i,
                peer,
                why: Why::Misdirected,
            }),
            Ok(_) => res.copied(i, key(i), result.get().as_bytes()),
            Err(e) => failed.push(Failed {
                op: i,
                peer,
                why: Why::Answered(format!("a result without a status ({e})")),
            }),
        }
    }
}

/// The op's result when no node is left to try: what the last one tried did, as a status and
/// a message naming that node (as a single forward would answer).
pub(crate) fn gave_up(c: &Core, f: &Failed) -> (u16, String) {
    let m = &c.node.cluster.member(f.peer);
    match &f.why {
        Why::Misdirected => (
            503,
            format!(
                "no replica of the key can serve it now (node {} ({}), the last tried, is catching up or leaving)",
                m.id, m.addr
            ),
        ),
        Why::Unreached(e) => (
            e.status(),
            format!(
                "node {} ({}), the last replica of the key tried, could not serve the request: {e}",
                m.id, m.addr
            ),
        ),
        Why::Answered(what) => (
            502,
            format!(
                "node {} ({}), the last replica of the key tried, answered the batch with {what}",
                m.id, m.addr
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sub_batch_carries_its_ops_as_sent_in_batch_order() {
        let body = br#"{"ops":[{"op":"get","key":"a"}, {"op":"put","key":"b","value":[ 1 ]},{"op":"delete","key":"c"}]}"#;
        let raws = crate::server::handlers::batch::document::ops(body).expect("valid");
        let doc = document(&raws, &[0, 2]);
        assert_eq!(
            doc,
            br#"{"ops":[{"op":"get","key":"a"},{"op":"delete","key":"c"}]}"#
        );
        let doc = document(&raws, &[1]);
        assert_eq!(doc, br#"{"ops":[{"op":"put","key":"b","value":[ 1 ]}]}"#);
        assert_eq!(document(&raws, &[]), b"{\"ops\":[]}");
    }
}
