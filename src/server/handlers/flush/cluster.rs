//! A client's flush, coordinated by the node that received it, in two rounds to every other
//! member at once:
//!
//! 1. **clock**: each member answers the last version its clock issued or saw. The flush
//!    version is drawn from this node's clock after it observed all of them, so it is newer than
//!    every write any reachable node acknowledged before the flush began (a write stored on
//!    another node in the same millisecond could otherwise outrank a version drawn here alone,
//!    and survive the flush).
//! 2. **apply**: every member that answered (and this node) applies the flush at that version,
//!    with the list of who took part, so each deleted key is counted once (by the first member
//!    of its preference list that took part) and every member keeps the flush for those that did
//!    not (see [`super::pending`]).
//!
//! Bounded: the clock round by `cluster.request_timeout`, the apply round by
//! [`APPLY_TIMEOUTS`](super::remote::APPLY_TIMEOUTS) of it (a walk over many keys).

use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;

use super::local::{apply_here, Counting};
use super::pending::{retry_later, Missed};
use super::remote::{peer_clock, send_apply};
use crate::mesh::oneshot::Canceled;
use crate::server::core::Core;

/// What one member did with a flush.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Part {
    /// It applied it: live keys deleted there, and those it counted toward the total.
    Applied { deleted: u64, counted: u64 },
    /// It could not be reached (why); the flush is kept for it.
    Missed(String),
}

/// A coordinated flush: its version and each member's part (by slot), in node id order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Outcome {
    pub version: u64,
    pub parts: Vec<(usize, Part)>,
}

impl Outcome {
    /// Distinct live keys deleted (each counted by one member).
    pub(super) fn deleted(&self) -> u64 {
        self.parts
            .iter()
            .map(|(_, p)| match p {
                Part::Applied { counted, .. } => *counted,
                Part::Missed(_) => 0,
            })
            .sum()
    }
}

/// Run the flush of `prefix` (empty: every key) across the cluster from this node; `ctx`: the
/// client's request id and trace context, as header lines for the node-to-node calls.
pub(super) async fn coordinate(
    c: &Rc<Core>,
    prefix: Bytes,
    ctx: Bytes,
) -> Result<Outcome, Canceled> {
    let cl = &c.node.cluster;
    let me = cl.me;
    let peers: Vec<usize> = cl.peers();
    let mut parts: Vec<Option<Part>> = vec![None; crate::cluster::MAX_MEMBERS];
    let clocks: Vec<_> = peers
        .iter()
        .map(|&p| {
            let (c, ctx) = (Rc::clone(c), ctx.clone());
            (
                p,
                monoio::spawn(async move { peer_clock(&c, p, &ctx).await }),
            )
        })
        .collect();
    let mut newest = 0;
    for (p, task) in clocks {
        match task.await {
            Ok(v) => newest = newest.max(v),
            Err(e) => parts[p] = Some(Part::Missed(e.to_string())),
        }
    }
    c.node.hlc.observe(newest);
    let version = c.node.next_version();
    let took: Arc<[bool]> = parts.iter().map(Option::is_none).collect();
    let applies: Vec<_> = peers
        .iter()
        .filter(|&&p| took[p])
        .map(|&p| {
            let (c, prefix, took, ctx) =
                (Rc::clone(c), prefix.clone(), Arc::clone(&took), ctx.clone());
            let task = async move { send_apply(&c, p, &prefix, version, Some(&took), &ctx).await };
            (p, monoio::spawn(task))
        })
        .collect();
    let counting = if cl.is_standalone() {
        Counting::All
    } else {
        Counting::FirstOf(Arc::clone(&took))
    };
    let here = apply_here(c, prefix.clone(), version, counting).await?;
    parts[me] = Some(Part::Applied {
        deleted: here.deleted,
        counted: here.counted,
    });
    for (p, task) in applies {
        parts[p] = Some(match task.await {
            Ok(a) => Part::Applied {
                deleted: a.deleted,
                counted: a.counted,
            },
            Err(e) => Part::Missed(e.to_string()),
        });
    }
    let parts: Vec<(usize, Part)> = cl
        .listed()
        .into_iter()
        .map(|i| {
            let p = parts[i].take();
            (
                i,
                p.unwrap_or_else(|| Part::Missed("not asked".to_string())),
            )
        })
        .collect();
    let mut kept = false;
    for (i, _) in parts.iter().filter(|(_, p)| matches!(p, Part::Missed(_))) {
        let i = *i;
        let m = Missed {
            prefix: prefix.clone(),
            version,
        };
        if !c.node.flushes.keep(i, m) {
            crate::warn!(
                "node {} missed too many flushes: the oldest kept for it was dropped",
                cl.member(i).id
            );
        }
        kept = true;
    }
    if kept {
        retry_later(c);
    }
    Ok(Outcome { version, parts })
}
