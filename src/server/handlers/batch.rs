//! `POST /api/v1/batch`: several key operations in one request, answered in one response.
//!
//! `{"ops":[{"op":"get","key":"a"},{"op":"put","key":"b","value":1,"ttl":60},
//! {"op":"delete","key":"c"}]}` is answered 200 `{"results":[...]}`, one result per op in op
//! order, each with the status the single request would have got (`results.rs`). A document that
//! is not `{"ops":[...]}` is one 400 (`document.rs`); an op that is not valid (`parse.rs`), or
//! fails (404, 503 no replica reachable, 507...), is that op's result only. At most `MAX_BATCH_OPS` ops, a body of at most
//! `limits.max_import_bytes`, an answer of at most `MAX_ANSWER_BYTES` of results.
//!
//! Each op is placed as a single request is (`cache::route`): the ops this node coordinates run
//! on its cores (`local.rs`: writes versioned here and copied to their replicas); the ops of each
//! peer go to it as one forwarded sub-batch (`remote.rs`), every peer at once, in one round. A
//! peer that does not answer (or answers an op 421) has those ops sent, in the next round, to
//! their keys' next routable replica, or run here when that is this node, as a single forward
//! fails over. A write sent again this way is stored under a new version (last writer wins), a
//! read asked again changes nothing.
//!
//! Guarantees: ops on the same key run in the order they appear in the batch (the first op of a
//! key places all of them on one coordinator, where they run in order on the key's core), so a
//! get after a put of the same key sees that put. Ops on different keys are independent: a batch
//! is not a transaction (no isolation, no all-or-nothing), and results arrive only when every op
//! is done.

mod document;
mod local;
mod parse;
mod remote;
mod results;

use std::collections::HashMap;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;

use serde_json::value::RawValue;

use super::cache::{self, Elsewhere};
use super::Req;
use crate::cluster::ring::Prefs;
use crate::cluster::Outcome;
use crate::mesh::oneshot::Canceled;
use crate::server::core::Core;
use crate::server::respond::Meta;
use crate::storage::KeyReply;
use parse::Op;
use remote::Failed;
use results::Results;

/// Answer a batch.
pub(super) async fn run(c: &Rc<Core>, out: &mut Vec<u8>, m: Meta, req: &Req<'_>) {
    if req.version.is_some() {
        let msg = "X-Cache-Version is not accepted on a batch (replica copies are single writes)";
        return c.resp.error(out, m, 400, msg, None, &[]);
    }
    let raws = match document::ops(req.body) {
        Ok(r) => r,
        Err(e) => return c.resp.error(out, m, e.status(), &e.to_string(), None, &[]),
    };
    let mut res = Results::new(raws.len());
    let ops = check(c, &raws, &mut res);
    let members = crate::cluster::MAX_MEMBERS;
    let mut plan = place(c, req, &ops, &mut res);
    let mut tried = vec![Prefs::default(); raws.len()];
    // The client's request id and trace context go on with every sub-batch and copy.
    let ctx = super::forward::context_lines(req);
    // Each failover round tries one more node per op: at most one round per member.
    for _ in 0..members {
        if plan.is_empty() {
            break;
        }
        let round = std::mem::replace(&mut plan, Plan::new(members));
        let failed = run_round(c, m, &raws, &ops, round, &mut tried, &ctx, &mut res).await;
        plan = fail_over(c, &ops, failed, &mut tried, &mut res);
    }
    give_up(c, &ops, plan, &mut res);
    // Read copies of the written keys on other nodes are gone before the answer (hot keys).
    let written = ops
        .iter()
        .flatten()
        .filter(|o| o.action != parse::Action::Get);
    crate::server::hot::lease::wait_batch(c, written.map(|o| o.key.as_bytes())).await;
    res.answer(c, out, m);
}

/// Check every op; a bad one is answered at once (`None` in its place).
fn check<'a>(c: &Core, raws: &[&'a RawValue], res: &mut Results) -> Vec<Option<Op<'a>>> {
    let limits = cache::limits(c);
    let mut scratch = Vec::new();
    raws.iter()
        .enumerate()
        .map(|(i, raw)| match parse::op(raw, limits, &mut scratch) {
            Ok(op) => Some(op),
            Err(e) => {
                let key = e.key.as_deref().map(str::as_bytes);
                res.error(i, e.err.status(), key, e.err.message());
                None
            }
        })
        .collect()
}

/// Where the ops of one round go.
struct Plan {
    here: Vec<local::Here>,
    /// Per member (ring index), the ops sent to it, in batch order.
    peers: Vec<Vec<usize>>,
}

impl Plan {
    fn new(members: usize) -> Plan {
        Plan {
            here: Vec::new(),
            peers: vec![Vec::new(); members],
        }
    }

    fn is_empty(&self) -> bool {
        self.here.is_empty() && self.peers.iter().all(Vec::is_empty)
    }
}

/// Where one key's ops go (decided once per key, so all its ops go together).
#[derive(Clone)]
enum Target {
    Here(Prefs),
    Peer(usize),
    Refused(u16, Rc<str>),
}

/// Place every checked op as a single request of its key would be (`cache::route`).
fn place(c: &Core, req: &Req<'_>, ops: &[Option<Op<'_>>], res: &mut Results) -> Plan {
    let mut plan = Plan::new(crate::cluster::MAX_MEMBERS);
    let mut placed: HashMap<&str, Target> = HashMap::new();
    // A key only read in this batch may be read where a membership change moves it from
    // (`cache::route_op`); a key also written keeps all its ops on one coordinator, in order.
    let mut written: HashMap<&str, bool> = HashMap::new();
    for op in ops.iter().flatten() {
        *written.entry(op.key.as_ref()).or_default() |= op.action != parse::Action::Get;
    }
    for (i, op) in ops.iter().enumerate() {
        let Some(op) = op else { continue };
        let read = !written.get(op.key.as_ref()).copied().unwrap_or(true);
        let target = placed.entry(op.key.as_ref()).or_insert_with(|| {
            match cache::route_op(c, req, op.key.as_bytes(), read) {
                Ok(prefs) => Target::Here(prefs),
                Err(Elsewhere::Forward(peer)) => Target::Peer(peer),
                Err(Elsewhere::Misdirected(msg)) => Target::Refused(421, msg.into()),
                Err(Elsewhere::Unavailable(msg)) => Target::Refused(503, msg.into()),
            }
        });
        match target {
            Target::Here(prefs) => plan.here.push((i, *prefs)),
            Target::Peer(peer) => plan.peers[*peer].push(i),
            Target::Refused(status, msg) => res.error(i, *status, Some(op.key.as_bytes()), msg),
        }
    }
    plan
}

/// What one concurrent part of a round gives back.
enum Part {
    Core {
        core: usize,
        pending: Vec<local::Pending>,
        replies: Result<Vec<KeyReply>, Canceled>,
    },
    Peer {
        peer: usize,
        idxs: Vec<usize>,
        outcome: Outcome,
        us: u64,
    },
}

type Task<'f> = Pin<Box<dyn Future<Output = Part> + 'f>>;

/// Run one round: every peer's sub-batch and this node's ops at once. Returns the ops a peer
/// did not serve.
#[allow(clippy::too_many_arguments)]
async fn run_round(
    c: &Rc<Core>,
    m: Meta,
    raws: &[&RawValue],
    ops: &[Option<Op<'_>>],
    round: Plan,
    tried: &mut [Prefs],
    ctx: &[u8],
    res: &mut Results,
) -> Vec<Failed> {
    let mut tasks: Vec<Task<'_>> = Vec::new();
    for (peer, idxs) in round.peers.into_iter().enumerate() {
        if idxs.is_empty() {
            continue;
        }
        idxs.iter().for_each(|&i| tried[i].push(peer));
        let doc = remote::document(raws, &idxs);
        tasks.push(Box::pin(async move {
            let (outcome, us) = remote::send(c, peer, doc, ctx).await;
            Part::Peer {
                peer,
                idxs,
                outcome,
                us,
            }
        }));
    }
    let started = local::start(c, ops, &round.here, ctx, res);
    for (core, group) in started.cores.into_iter().enumerate() {
        if group.is_empty() {
            continue;
        }
        let (core_ops, pending) = group.split();
        tasks.push(Box::pin(async move {
            let replies = local::run_on_core(c, core, core_ops).await;
            Part::Core {
                core,
                pending,
                replies,
            }
        }));
    }
    let mut failed = Vec::new();
    for part in join_all(tasks).await {
        match part {
            Part::Core {
                core,
                pending,
                replies,
            } => local::finish_core(c, ops, core, pending, replies, res),
            Part::Peer {
                peer,
                idxs,
                outcome,
                us,
            } => remote::settle(c, m, peer, outcome, us, &idxs, ops, res, &mut failed),
        }
    }
    for copies in started.copies {
        local::settle(c, copies).await;
    }
    failed
}

/// Plan the next round for the ops a peer did not serve: each to its key's next routable
/// replica not tried yet (this node included), decided once per key.
fn fail_over(
    c: &Core,
    ops: &[Option<Op<'_>>],
    failed: Vec<Failed>,
    tried: &mut [Prefs],
    res: &mut Results,
) -> Plan {
    let cl = &c.node.cluster;
    let mut plan = Plan::new(crate::cluster::MAX_MEMBERS);
    let mut next: HashMap<&str, Option<usize>> = HashMap::new();
    for f in failed {
        let Some(op) = &ops[f.op] else { continue };
        let key = op.key.as_bytes();
        let to = *next
            .entry(op.key.as_ref())
            .or_insert_with(|| cl.next_coordinator(key, &tried[f.op]));
        match to {
            Some(n) if n == cl.me => {
                crate::metrics::inc(&c.resp.metrics.failovers);
                plan.here.push((f.op, cl.placement(key).prefs));
            }
            Some(n) => {
                crate::metrics::inc(&c.resp.metrics.failovers);
                plan.peers[n].push(f.op);
            }
            None => {
                let (status, msg) = remote::gave_up(c, &f);
                res.error(f.op, status, Some(key), &msg);
            }
        }
    }
    // Keep batch order within each destination (failures arrive grouped by peer).
    plan.here.sort_unstable_by_key(|&(i, _)| i);
    plan.peers.iter_mut().for_each(|p| p.sort_unstable());
    plan
}

/// Ops still planned after the last round allowed (a failover loop the rounds bound cut short).
fn give_up(c: &Core, ops: &[Option<Op<'_>>], plan: Plan, res: &mut Results) {
    let msg = format!(
        "node {} tried every node the key could go to; retry later",
        c.node.cluster.self_id()
    );
    let pending = plan.peers.into_iter().flatten();
    for i in plan.here.into_iter().map(|(i, _)| i).chain(pending) {
        let key = ops[i].as_ref().map(|o| o.key.as_bytes());
        res.error(i, 503, key, &msg);
    }
}

/// Run `tasks` concurrently on this core; their outputs in task order.
async fn join_all<T>(tasks: Vec<Pin<Box<dyn Future<Output = T> + '_>>>) -> Vec<T> {
    let mut tasks: Vec<_> = tasks.into_iter().map(Some).collect();
    let mut outputs: Vec<Option<T>> = tasks.iter().map(|_| None).collect();
    poll_fn(|cx| {
        let mut pending = false;
        for (task, output) in tasks.iter_mut().zip(outputs.iter_mut()) {
            if let Some(t) = task {
                match t.as_mut().poll(cx) {
                    Poll::Ready(v) => {
                        *output = Some(v);
                        *task = None;
                    }
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

/// The fuzz target's way in (`fuzz_api::cache_api`): parse a batch document and every op in it
/// as [`run`] does, with the default limits; how many ops were valid.
pub(crate) fn fuzz_parse(body: &[u8]) -> usize {
    let limits = crate::server::router::KeyLimits {
        max_key_bytes: 250,
        max_value_bytes: 1024 * 1024,
    };
    let mut scratch = Vec::new();
    match document::ops(body) {
        Ok(raws) => {
            assert!(raws.len() <= document::MAX_BATCH_OPS, "{} ops", raws.len());
            raws.iter()
                .filter(|raw| parse::op(raw, limits, &mut scratch).is_ok())
                .count()
        }
        Err(_) => 0,
    }
}
