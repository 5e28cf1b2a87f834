//! `DELETE /admin/cache[?prefix=P]`: delete every key (starting with `P`) on every node.
//!
//! A flush is a versioned delete of a key range: one version, taken from the clock of the node
//! that received the call after it observed every member's clock ([`cluster`]), is applied on
//! every core of every node ([`local`]): each matching key older than it gets a tombstone at that
//! version (a write made after the flush survives), and each shard keeps a barrier that refuses
//! older writes of matching keys for `tombstone_ttl` (`storage::shard::flush`), so no late copy
//! (a hint, a hand-over, a repair, a replica copy in flight, an old import) brings one back.
//! A member that could not be reached gets the flush when it catches up ([`pending`]).
//!
//! Answer: 200 `{"deleted":N,"prefix":P|null,"version":"<hex>","nodes":{id:{"deleted":n}},
//! "unreached":[]}` where `N` counts each key once however many replicas held it and
//! `nodes.<id>.deleted` the copies each member deleted; 502 with the same document, the members
//! it did not reach under `unreached` and an `error` saying why, when the flush is not yet
//! applied everywhere (it lands on those members when they are back).

mod cluster;
mod local;
mod pending;
mod query;
mod remote;

pub(crate) use pending::{deliver_pending, PendingFlushes};

use std::fmt::Write as _;
use std::rc::Rc;

use bytes::Bytes;

use super::admin::json_str;
use super::forward::context_lines;
use super::Req;
use crate::http::response::CONTENT_JSON;
use crate::server::core::Core;
use crate::server::respond::Meta;
use crate::storage::version::to_hex;
use cluster::{Outcome, Part};
use local::{apply_here, Counting};
use pending::Missed;
use query::Step;

/// Answer a flush (a client's, or one step of a peer's).
pub(super) async fn run(c: &Rc<Core>, out: &mut Vec<u8>, m: Meta, req: &Req<'_>) {
    let max_prefix = c.cfg().max_key_bytes;
    let q = match query::parse(req.query, req.peer, crate::cluster::MAX_MEMBERS, max_prefix) {
        Ok(q) => q,
        Err(e) => return c.resp.error(out, m, 400, &e.to_string(), None, &[]),
    };
    let prefix = Bytes::from(q.prefix.unwrap_or_default());
    match q.step {
        Step::Cluster => match cluster::coordinate(c, prefix.clone(), context_lines(req)).await {
            Ok(outcome) => {
                // Read copies of hot keys elsewhere are gone before the answer.
                crate::server::hot::lease::wait_all(c).await;
                let (status, body) = answer(c, m, &prefix, &outcome);
                c.resp
                    .send(out, m, status, CONTENT_JSON, body.as_bytes(), &[]);
            }
            Err(_) => stopped(c, out, m),
        },
        Step::Clock => {
            let body = format!("{{\"clock\":\"{}\"}}", to_hex(c.node.hlc.last()));
            c.resp.send(out, m, 200, CONTENT_JSON, body.as_bytes(), &[]);
        }
        Step::Apply => {
            let Some(version) = req.version else {
                let msg = "step=apply needs the flush version in X-Cache-Version";
                return c.resp.error(out, m, 400, msg, None, &[]);
            };
            let counting = match q.members {
                Some(took) => {
                    keep_for_missing(c, &prefix, version, &took);
                    Counting::FirstOf(took.into())
                }
                None => Counting::All,
            };
            match apply_here(c, prefix, version, counting).await {
                Ok(a) => {
                    crate::server::hot::lease::wait_all(c).await;
                    let body = format!("{{\"deleted\":{},\"counted\":{}}}", a.deleted, a.counted);
                    c.resp.send(out, m, 200, CONTENT_JSON, body.as_bytes(), &[]);
                }
                Err(_) => stopped(c, out, m),
            }
        }
    }
}

fn stopped(c: &Core, out: &mut Vec<u8>, m: Meta) {
    let retry: &[(&str, &[u8])] = &[("Retry-After", b"1")];
    c.resp.error(
        out,
        m,
        503,
        "node is shutting down; flush not applied here",
        None,
        retry,
    );
}

/// Keep the flush for the members the coordinator could not reach (`false` in `took`).
fn keep_for_missing(c: &Core, prefix: &Bytes, version: u64, took: &[bool]) {
    let me = c.node.cluster.me;
    for (i, _) in took.iter().enumerate().filter(|&(i, &t)| !t && i != me) {
        let m = Missed {
            prefix: prefix.clone(),
            version,
        };
        c.node.flushes.keep(i, m);
    }
}

/// The status and JSON document answering a coordinated flush, logged as well (an incomplete
/// one as an error, with the request's ids).
fn answer(c: &Core, m: Meta, prefix: &[u8], o: &Outcome) -> (u16, String) {
    let cl = &c.node.cluster;
    // Checked to be UTF-8 by the query parser.
    let shown = match std::str::from_utf8(prefix) {
        Ok("") | Err(_) => "null".to_string(),
        Ok(p) => json_str(p),
    };
    let (mut nodes, mut unreached, mut why) = (Vec::new(), Vec::new(), Vec::new());
    for (i, part) in o.parts.iter() {
        let id = &cl.member(*i).id;
        match part {
            Part::Applied { deleted, .. } => {
                nodes.push(format!("{}:{{\"deleted\":{deleted}}}", json_str(id)));
            }
            Part::Missed(e) => {
                unreached.push(json_str(id));
                why.push(format!("{id}: {e}"));
            }
        }
    }
    let mut body = format!(
        "{{\"deleted\":{},\"prefix\":{shown},\"version\":\"{}\",\"nodes\":{{{}}},\"unreached\":[{}]",
        o.deleted(),
        to_hex(o.version),
        nodes.join(","),
        unreached.join(",")
    );
    let what = match std::str::from_utf8(prefix) {
        Ok("") | Err(_) => "every key".to_string(),
        Ok(p) => format!("prefix {p:?}"),
    };
    if why.is_empty() {
        crate::info!(
            "flush of {what} at version {}: {} keys deleted on {} nodes",
            to_hex(o.version),
            o.deleted(),
            nodes.len()
        );
        body.push('}');
        return (200, body);
    }
    let msg = format!(
        "flush incomplete: not applied on {} yet; it is kept for them and applied when they are reachable again (they catch up before serving)",
        why.join("; ")
    );
    let line = format!("flush of {what} at version {}: {msg}", to_hex(o.version));
    c.resp.log_error(m, 502, &line, None, None);
    let _ = write!(body, ",\"error\":{},\"status\":502}}", json_str(&msg));
    (502, body)
}
