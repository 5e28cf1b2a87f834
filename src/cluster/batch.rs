//! Batched forwarding: forwards to one peer from one core share a connection per batch.
//!
//! Under load, many client connections on a core forward to the same peer at once. Sending each
//! on its own connection costs two TCP transfers and two wake-ups per request on both nodes. The
//! batcher instead queues requests per peer; a dispatcher takes everything queued, writes it to one
//! pooled connection in a single write, reads the responses in order (checking each echoed request
//! id), completes each waiter, and only then returns the connection to the pool: a connection is
//! still reused only after every response sent on it was read completely. With one request queued
//! this is exactly the plain keep-alive exchange. A batch that fails on a reused connection before
//! any response byte is retried once on a new one (every forwarded method is idempotent).
//! A waiter that gives up (client gone, timeout) just abandons its slot; the batch still reads its
//! response, so the connection stays in step. A batch that times out drops its connection.

use std::cell::Cell;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};

use monoio::io::AsyncWriteRentExt;

use super::error::{Broken, FwdError};
use super::peer::{Answered, Outcome, PeerClient};
use super::wire::{read_answer, serialize, Outgoing};
use crate::mesh::Ticket;

/// Most requests one batch carries: bounds the buffers and the head-of-line wait of one batch.
pub(super) const MAX_BATCH: usize = 64;
/// Batches in flight per peer per core: lets the next batch leave while one waits for answers.
pub(super) const DISPATCHERS_PER_PEER: usize = 4;

struct Job {
    slot: u32,
    id: u64,
    head: bool,
    /// End of this job's request bytes in the queue buffer.
    end: usize,
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

/// Queue `req` for `peer`; the ticket resolves to the owner's answer.
pub(super) fn submit(
    p: &Rc<PeerClient>,
    peer: usize,
    req: &Outgoing<'_>,
    id: u64,
) -> Ticket<Outcome> {
    let ticket = p.results.reserve();
    let cl = &p.cluster;
    let mut queues = p.queues.borrow_mut();
    let q = &mut queues[peer];
    serialize(&mut q.buf, req, &cl.members[peer].addr, cl.self_id(), id);
    let end = q.buf.len();
    q.jobs.push(Job {
        slot: ticket.id(),
        id,
        head: req.method == crate::http::Method::Head,
        end,
    });
    if let Some(waker) = q.waiting.pop() {
        waker.wake();
    } else if q.dispatchers < DISPATCHERS_PER_PEER.min(p.settings.pool_max_total) {
        q.dispatchers += 1;
        monoio::spawn(dispatch(Rc::clone(p), peer));
    }
    ticket
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
        let timeout = p.settings.request_timeout;
        let done = Cell::new(0usize);
        let result =
            monoio::time::timeout(timeout, exchange(&p, peer, &mut buf, &jobs, &done)).await;
        let err = match result {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e),
            Err(_) => Some(FwdError::Timeout {
                ms: timeout.as_millis() as u64,
            }),
        };
        if let Some(e) = err {
            for job in &jobs[done.get()..] {
                p.results.complete(job.slot, Err(e));
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
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut conn = p.checkout(peer).await?;
        let out = std::mem::take(buf);
        let (res, out) = conn.stream().write_all(out).await;
        *buf = out;
        conn.rbuf.clear();
        if let Err(e) = res {
            if conn.reused && attempt == 1 {
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
                Err(f) if f.nothing_read && i == 0 && conn.reused && attempt == 1 => {
                    p.pool.discard_idle(peer);
                    break;
                }
                Err(f) => return Err(FwdError::Broken(f.why)),
            };
            keep &= a.keep_alive;
            p.results
                .complete(job.slot, Ok(Answered::copy(&conn.rbuf, start, &a)));
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
