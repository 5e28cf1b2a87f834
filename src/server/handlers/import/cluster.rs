//! A cluster import, one window of entries at a time: every entry to every replica of its key,
//! in rounds of per-member batches, with stand-ins for entries none of whose replicas took them
//! (see the parent module's doc).

use std::rc::Rc;
use std::sync::atomic::Ordering;

use super::report::{round_shares, Problem, Tally};
use super::send::send_batch;
use super::{apply_with, ImportError, IMPORT_FORWARD_BATCH};
use crate::cluster::ring::Prefs;
use crate::server::core::Core;
use crate::storage::{Entry, Loaded};

/// One window of a cluster import: every entry to every replica of its key, in rounds (see the
/// module doc), counted into `t`. With `owned_here` (a client's local-scope import), an entry
/// of a key this node replicates goes to this node only.
pub(super) async fn import_window(
    c: &Rc<Core>,
    entries: Vec<Entry>,
    owned_here: bool,
    only_missing: bool,
    t: &mut Tally,
) {
    let cl = &c.node.cluster;
    let prefs: Vec<Prefs> = entries
        .iter()
        .map(|e| {
            let p = cl.topology().prefs(&e.key);
            if owned_here && p.contains(cl.me) {
                let mut only_me = Prefs::default();
                only_me.push(cl.me);
                return only_me;
            }
            p
        })
        .collect();
    let mut reached = vec![false; entries.len()];
    let rounds = prefs.iter().map(Prefs::len).max().unwrap_or(0);
    for round in 0..rounds {
        let shares = round_shares(&prefs, &reached, round, crate::cluster::MAX_MEMBERS);
        for (idx, share) in shares.into_iter().enumerate() {
            for (first, list) in [(true, share.first), (false, share.copies)] {
                for chunk in list.chunks(IMPORT_FORWARD_BATCH) {
                    let batch: Vec<Entry> = chunk.iter().map(|&i| entries[i].clone()).collect();
                    let Some(l) = deliver(c, idx, batch, only_missing, t).await else {
                        continue;
                    };
                    if first {
                        t.first += l;
                        chunk.iter().for_each(|&i| reached[i] = true);
                    }
                }
            }
        }
    }
    stand_ins(c, &entries, &prefs, &mut reached, only_missing, t).await;
    for (p, _) in prefs.iter().zip(&reached).filter(|(_, &r)| !r) {
        t.unreached += 1;
        p.iter().for_each(|m| t.members[m].unreached += 1);
    }
}

/// Entries none of whose replicas took them go to the node that would coordinate a write of the
/// key now (the first routable node clockwise), as a PUT would: it keeps them and hands them to
/// the replicas when one is back (their replicas hold hints too).
async fn stand_ins(
    c: &Rc<Core>,
    entries: &[Entry],
    prefs: &[Prefs],
    reached: &mut [bool],
    only_missing: bool,
    t: &mut Tally,
) {
    let cl = &c.node.cluster;
    let mut per_node: Vec<Vec<usize>> = (0..crate::cluster::MAX_MEMBERS)
        .map(|_| Vec::new())
        .collect();
    for (i, p) in prefs.iter().enumerate().filter(|(i, _)| !reached[*i]) {
        let stand_in = cl.placement(&entries[i].key).coordinator;
        if let Some(s) = stand_in.filter(|s| !p.contains(*s)) {
            per_node[s].push(i);
        }
    }
    for (idx, list) in per_node.into_iter().enumerate() {
        for chunk in list.chunks(IMPORT_FORWARD_BATCH) {
            let batch: Vec<Entry> = chunk.iter().map(|&i| entries[i].clone()).collect();
            if let Some(l) = deliver(c, idx, batch, only_missing, t).await {
                t.first += l;
                chunk.iter().for_each(|&i| reached[i] = true);
                if idx == cl.me {
                    c.node.foreign_epoch.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

/// One batch to member `idx`: applied here, sent as a local-scope import, or kept as hints
/// (the member does not take writes, or an earlier call of this import to it went wrong).
/// `Some` with what it applied when it confirmed the batch.
async fn deliver(
    c: &Rc<Core>,
    idx: usize,
    batch: Vec<Entry>,
    only_missing: bool,
    t: &mut Tally,
) -> Option<Loaded> {
    let cl = &c.node.cluster;
    let m = &mut t.members[idx];
    if idx == cl.me {
        if m.problem.is_some() {
            return None;
        }
        return match apply_with(c, batch, only_missing).await {
            Ok(l) => Some(m.confirmed(l)),
            Err(e) => {
                m.problem = Some(Problem::Unknown(ImportError::Stopped(e).to_string()));
                None
            }
        };
    }
    if m.problem.is_none() && !cl.takes_writes(idx) {
        m.problem = Some(Problem::NotTakingWrites(cl.state(idx).as_str()));
    }
    if m.problem.is_none() {
        let timeout = c.cfg().cluster.request_timeout;
        match send_batch(c, idx, &batch, only_missing, timeout).await {
            Ok(l) => return Some(m.confirmed(l)),
            Err(e) if e.outcome_unknown() => m.problem = Some(Problem::Unknown(e.to_string())),
            Err(e) => m.problem = Some(Problem::Failed(e.to_string())),
        }
    }
    let now = c.exec.now_ms();
    let mut hints = c.hints.borrow_mut();
    for e in batch {
        if hints.push(idx, e, now) {
            t.hinted += 1;
        } else {
            t.hints_dropped += 1;
        }
    }
    None
}
