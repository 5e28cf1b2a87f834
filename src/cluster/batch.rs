//! Batched forwarding: forwards to one peer from one core share a connection per batch.
//!
//! Under load, many client connections on a core forward to the same peer at once. Sending each
//! on its own connection costs two TCP transfers and two wake-ups per request on both nodes. The
//! batcher instead queues requests per peer; a dispatcher takes everything queued, writes it to one
//! pooled connection in a single write, reads the responses in order (checking each echoed request
//! id), completes each waiter, and only then returns the connection to the pool: a connection is
//! still reused only after every response sent on it was read completely. With one request queued
//! this is exactly the plain keep-alive exchange. A batch that fails on a reused connection before
//! any response byte is retried once on a new one, unless it carries a request that is not
//! idempotent (an increment): that one may have been executed before the connection broke, so
//! the batch fails instead, and such a batch takes only a recently used connection, which the
//! peer cannot have closed for idleness (`pool::NON_REPLAYABLE_MAX_IDLE`).
//! A waiter that gives up (its `request_timeout` passed, or the connection task holding it ended)
//! abandons its slot. If its request is still queued when a dispatcher takes the batch, it is
//! dropped unsent (nobody waits for it; sending it would only load a peer that is likely slow
//! already): the batch writes, and reads the answers of, exactly the jobs it kept, so request ids
//! stay in step. Once written, its answer is still read. A batch that times out drops its
//! connection.
//!
//! The queue is bounded: at most `cluster.max_queued_per_peer` requests and [`MAX_QUEUED_BYTES`]
//! wait per peer per core (beyond the batches in flight, at most
//! `DISPATCHERS_PER_PEER * MAX_BATCH`). Past either bound [`submit`] refuses at once with
//! [`FwdError::QueueFull`]: the peer is not keeping up, and a queued request would only wait out
//! `cluster.request_timeout`; the server answers that 503 with `Retry-After`.
//!
//! Singleflight: a GET submitted with `join` that asks exactly what a queued, not yet written,
//! forward asks takes a reply slot on that forward instead of a place of its own (rules and why
//! only while queued: [`join`]). Each such job completes every joined slot with its own copy of
//! the answer; it is dropped unsent only when all its waiters have gone.

use std::cell::Cell;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Instant;

use monoio::io::AsyncWriteRentExt;

use super::error::{Broken, FwdError};
#[path = "join.rs"]
mod join;
use super::peer::{Answered, Outcome, PeerClient};
use super::wire::{read_answer, serialize, Outgoing};
use crate::deadline::Deadline;
use crate::http::Method;
use crate::mesh::Ticket;
use crate::util::{race, Either};

/// Most requests one batch carries: bounds the buffers and the head-of-line wait of one batch.
pub(super) const MAX_BATCH: usize = 64;
/// Batches in flight per peer per core: lets the next batch leave while one waits for answers.
pub(super) const DISPATCHERS_PER_PEER: usize = 4;
/// Bytes of serialized requests waiting per peer per core. Requests are small (a few hundred
/// bytes) except PUT values: 32 MiB is thousands of ordinary requests, while bounding what large
/// values can pin for a slow peer. A request is always accepted into an empty queue, so a value of
/// any allowed size (`max_value_bytes`) can still be forwarded.
pub(super) const MAX_QUEUED_BYTES: usize = 32 * 1024 * 1024;

struct Job {
    slot: u32,
    /// Slots of identical GETs that joined this one while it was queued (see [`join`]); empty,
    /// and unallocated, for almost every job.
    joined: Vec<u32>,
    id: u64,
    head: bool,
    /// Safe to send twice ([`Outgoing::idempotent`]).
    replayable: bool,
    /// [`join::key`]: 0 when no request may join this one.
    join_key: u64,
    /// Not a GET or HEAD: a read queued after it must not join a read queued before it.
    write: bool,
    /// Length of the passed-on header lines ([`Outgoing::headers`]) in the request bytes.
    lines_len: u32,
    /// End of this job's request bytes in the queue buffer.
    end: usize,
}

impl Job {
    /// The reply slots of everyone waiting for this job's answer.
    fn slots(&self) -> impl Iterator<Item = u32> + '_ {
        std::iter::once(self.slot).chain(self.joined.iter().copied())
    }
}

/// Requests queued for one peer on one core.
#[derive(Default)]
pub(crate) struct PeerQueue {
    /// Serialized requests waiting for a dispatcher.
    buf: Vec<u8>,
    jobs: Vec<Job>,
    /// Parked dispatchers.
    waiting: Vec<Waker>,
    dispatchers: usize,
}

/// Queue `req` for `peer`; the ticket resolves to the owner's answer, and the flag says whether
/// it joined an identical queued forward instead (only when `join`, see [`join`]).
/// [`FwdError::QueueFull`] (nothing queued) when the peer's queue on this core is at either
/// bound; joining takes no room and is never refused.
pub(super) fn submit(
    p: &Rc<PeerClient>,
    peer: usize,
    req: &Outgoing<'_>,
    id: u64,
    join: bool,
) -> Result<(Ticket<Outcome>, bool), FwdError> {
    let cl = &p.cluster;
    let mut queues = p.queues.borrow_mut();
    let q = &mut queues[peer];
    let join_key = if join { join::key(req) } else { 0 };
    if join_key != 0 {
        if let Some(i) = q.joinable(join_key, req) {
            let ticket = p.results.reserve();
            q.jobs[i].joined.push(ticket.id());
            return Ok((ticket, true));
        }
    }
    if q.jobs.len() >= p.settings.max_queued {
        return Err(q.full());
    }
    let start = q.buf.len();
    let secrets = p.auth.current();
    let authorization = secrets.cluster_authorization();
    serialize(
        &mut q.buf,
        req,
        &cl.member(peer).addr,
        cl.self_id(),
        id,
        authorization,
    );
    let end = q.buf.len();
    if start > 0 && end > MAX_QUEUED_BYTES {
        q.buf.truncate(start);
        return Err(q.full());
    }
    let ticket = p.results.reserve();
    q.jobs.push(Job {
        slot: ticket.id(),
        joined: Vec::new(),
        id,
        head: req.method == Method::Head,
        replayable: req.idempotent(),
        join_key,
        write: !matches!(req.method, Method::Get | Method::Head),
        lines_len: req.headers.len() as u32,
        end,
    });
    if let Some(waker) = q.waiting.pop() {
        waker.wake();
    } else if q.dispatchers < DISPATCHERS_PER_PEER.min(p.settings.pool_max_total) {
        q.dispatchers += 1;
        monoio::spawn(dispatch(Rc::clone(p), peer));
    }
    Ok((ticket, false))
}

impl PeerQueue {
    /// Index of the queued job `req` may join: among the last [`join::JOIN_SCAN`], one with
    /// the same join key that asks exactly the same ([`join::same`]) and that no write was
    /// queued after (it would be answered after that write: a pipelined PUT then GET of a key
    /// must read the PUT, whatever GET of the key was queued before the PUT).
    fn joinable(&self, key: u64, req: &Outgoing<'_>) -> Option<usize> {
        let from = self.jobs.len().saturating_sub(join::JOIN_SCAN);
        for i in (from..self.jobs.len()).rev() {
            let job = &self.jobs[i];
            if job.write {
                return None;
            }
            let start = if i == 0 { 0 } else { self.jobs[i - 1].end };
            if job.join_key == key
                && join::same(&self.buf[start..job.end], job.lines_len as usize, req)
            {
                return Some(i);
            }
        }
        None
    }

    #[cold]
    fn full(&self) -> FwdError {
        FwdError::QueueFull {
            jobs: self.jobs.len().min(u32::MAX as usize) as u32,
            kib: (self.buf.len() / 1024).min(u32::MAX as usize) as u32,
        }
    }
}

/// Drop the jobs of a batch just taken whose waiters have all gone (their slots are freed),
/// closing the gaps in `buf`: the batch then writes only the kept requests and reads only their
/// answers. A job whose first waiter left but a joined one stays is kept, with that one as its
/// first. Returns how many jobs were dropped. Costs one slot check per waiter when none left.
fn drop_abandoned(p: &PeerClient, buf: &mut Vec<u8>, jobs: &mut Vec<Job>) -> usize {
    let (mut start, mut kept, mut dropped) = (0, 0, 0);
    jobs.retain_mut(|job| {
        let range = start..job.end;
        start = job.end;
        if !job.joined.is_empty() {
            job.joined.retain(|&s| !p.results.release_if_abandoned(s));
        }
        if p.results.release_if_abandoned(job.slot) {
            match job.joined.pop() {
                Some(next) => job.slot = next,
                None => {
                    dropped += 1;
                    return false;
                }
            }
        }
        if dropped > 0 {
            buf.copy_within(range.clone(), kept);
        }
        kept += range.len();
        job.end = kept;
        true
    });
    buf.truncate(kept);
    dropped
}

/// Take the next batch for `peer` (waiting until there is one).
async fn next_batch(p: &PeerClient, peer: usize, buf: &mut Vec<u8>, jobs: &mut Vec<Job>) {
    poll_fn(|cx| {
        let mut queues = p.queues.borrow_mut();
        let q = &mut queues[peer];
        if q.jobs.is_empty() {
            q.waiting.push(cx.waker().clone());
            return Poll::Pending;
        }
        if q.jobs.len() <= MAX_BATCH {
            std::mem::swap(buf, &mut q.buf);
            std::mem::swap(jobs, &mut q.jobs);
        } else {
            let cut = q.jobs[MAX_BATCH - 1].end;
            buf.extend_from_slice(&q.buf[..cut]);
            q.buf.drain(..cut);
            jobs.extend(q.jobs.drain(..MAX_BATCH));
            for j in q.jobs.iter_mut() {
                j.end -= cut;
            }
            // More is queued: let another parked dispatcher take it.
            if let Some(waker) = q.waiting.pop() {
                waker.wake();
            }
        }
        Poll::Ready(())
    })
    .await
}

async fn dispatch(p: Rc<PeerClient>, peer: usize) {
    let mut buf = Vec::new();
    let mut jobs: Vec<Job> = Vec::new();
    loop {
        buf.clear();
        jobs.clear();
        next_batch(&p, peer, &mut buf, &mut jobs).await;
        let dropped = drop_abandoned(&p, &mut buf, &mut jobs);
        if dropped > 0 {
            p.abandoned.set(p.abandoned.get() + dropped as u64);
            if jobs.is_empty() {
                continue;
            }
        }
        p.batches.set(p.batches.get() + 1);
        let timeout = p.settings.request_timeout;
        let done = Cell::new(0usize);
        // The coarse clock's deadline (`crate::deadline`): no wheel entry per batch, and the
        // exchange is not moved into a timeout future.
        let expiry = Deadline::at(Instant::now() + timeout);
        let result = race(exchange(&p, peer, &mut buf, &jobs, &done), expiry).await;
        let err = match result {
            Either::Left(Ok(())) => None,
            Either::Left(Err(e)) => Some(e),
            Either::Right(()) => Some(FwdError::Timeout {
                ms: timeout.as_millis() as u64,
            }),
        };
        if let Some(e) = err {
            for slot in jobs[done.get()..].iter().flat_map(Job::slots) {
                p.results.complete(slot, Err(e));
            }
        }
    }
}

/// Send the batch and deliver each answer; `done` counts the jobs already answered.
async fn exchange(
    p: &PeerClient,
    peer: usize,
    buf: &mut Vec<u8>,
    jobs: &[Job],
    done: &Cell<usize>,
) -> Result<(), FwdError> {
    let max = p.settings.max_answer();
    let replayable = jobs.iter().all(|j| j.replayable);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut conn = p.checkout(peer, replayable).await?;
        let out = std::mem::take(buf);
        let (res, out) = conn.stream().write_all(out).await;
        *buf = out;
        conn.rbuf.clear();
        if let Err(e) = res {
            if conn.reused && attempt == 1 && replayable {
                p.pool.discard_idle(peer);
                continue;
            }
            return Err(FwdError::Broken(Broken::Write(e.kind())));
        }
        let mut start = 0;
        let mut keep = true;
        for (i, job) in jobs.iter().enumerate() {
            let a = match read_answer(&mut conn, start, job.head, job.id, max).await {
                Ok(a) => a,
                Err(f) if f.nothing_read && i == 0 && conn.reused && attempt == 1 && replayable => {
                    p.pool.discard_idle(peer);
                    break;
                }
                Err(f) => return Err(FwdError::Broken(f.why)),
            };
            keep &= a.keep_alive;
            // Each waiter owns its answer (the server layer encodes each its own response).
            for slot in job.slots() {
                p.results
                    .complete(slot, Ok(Answered::copy(&conn.rbuf, start, &a)));
            }
            done.set(i + 1);
            start = a.end;
            if !keep && i + 1 < jobs.len() {
                return Err(FwdError::Broken(Broken::ClosedMidBatch));
            }
        }
        if done.get() < jobs.len() {
            continue; // stale connection detected on the first read: retry the batch
        }
        if keep && start == conn.rbuf.len() {
            conn.release();
        }
        return Ok(());
    }
}

#[cfg(test)]
#[path = "batch_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "batch_join_tests.rs"]
mod join_tests;

#[cfg(test)]
#[path = "batch_replay_tests.rs"]
mod replay_tests;
