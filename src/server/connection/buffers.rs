//! Buffers of an idle connection: give them back after a while, get them back on the next
//! request.
//!
//! While requests flow, a connection reuses its full read and write buffers (no allocation per
//! request). Once it has had nothing to do for [`BUF_RELEASE_AFTER`], both go back to the
//! allocator; the next request brings them back (one allocation per idle period, not per request).
//!
//! A read in flight owns its buffer (io_uring writes into it until the read completes), so a
//! buffer cannot be shrunk under a pending read:
//! - plain TCP: the idle read goes into the full buffer (one read per request, as before) and is
//!   stopped when the release is due. On io_uring it is *cancelled*: monoio's cancelable read
//!   completes either with the bytes that arrived meanwhile (kept) or with `ECANCELED` (nothing
//!   lost), and hands the buffer back. On epoll a read happens only inside a poll that completes,
//!   so the pending read is simply dropped. The connection then parks (`session`): it waits for
//!   readiness with no buffer at all, and reads once bytes are there.
//! - busy plain-TCP connections on io_uring skip the cancellation's cost (see
//!   [`HOT_READS_PER_CORE`]).
//! - other streams (TLS): the record layer reads ahead into its own buffer, so a read of it cannot
//!   be cancelled without losing bytes. The idle read goes into a small buffer
//!   ([`IDLE_READ_BUF`]) from the start (a copy out of the session's plaintext; the rest of a
//!   larger request stays there for the next read), and the full buffers, which no read holds,
//!   are released when due.

use std::any::Any;
use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::task::Poll;
use std::time::Instant;

use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, CancelableAsyncReadRent, Canceller};
use monoio::net::TcpStream;
use monoio::BufResult;

use super::{Conn, ReadResult, Stream, BUF_INITIAL, BUF_KEEP, BUF_RELEASE_AFTER, IDLE_READ_BUF};
use crate::config::IoDriver;
use crate::deadline::Deadline;
use crate::server::core::Core;

/// Plain-TCP connections per core whose idle read on io_uring skips the cancellation (monoio
/// registers each cancelable read in a hash set: ~500 instructions, ~7% of a GET hit). Such a
/// connection had its last request within the release time and is likely to send the next one
/// soon; if it goes quiet instead, it keeps its buffers and its active task (~40 KB) until its
/// next request or keep-alive timeout. The bound keeps that to ~10 MB per core, whatever the
/// clients do; the connections beyond it release as usual.
const HOT_READS_PER_CORE: usize = 256;

thread_local! {
    /// This core's hot reads in flight (one worker thread per core).
    static HOT_READS: Cell<usize> = const { Cell::new(0) };
}

/// One of this core's [`HOT_READS_PER_CORE`]; given back when dropped.
struct HotRead;

impl HotRead {
    fn take() -> Option<HotRead> {
        HOT_READS.with(|n| {
            let taken = n.get();
            (taken < HOT_READS_PER_CORE).then(|| {
                n.set(taken + 1);
                HotRead
            })
        })
    }
}

impl Drop for HotRead {
    fn drop(&mut self) {
        HOT_READS.with(|n| n.set(n.get() - 1));
    }
}

/// How the wait on the full buffer ended.
enum Hot {
    Data,
    Closed,
    /// Nothing arrived before the release was due.
    Cooled,
}

enum Woke<T> {
    Read(T),
    Shutdown,
    Timer,
}

/// Poll the read, then the shutdown signal, then the timer; the first ready wins (a read that
/// completed is never lost to a timer firing in the same turn).
async fn first<T>(
    read: Pin<&mut impl Future<Output = T>>,
    shutdown: Pin<&mut impl Future<Output = ()>>,
    timer: Pin<&mut impl Future<Output = ()>>,
) -> Woke<T> {
    let (mut read, mut shutdown, mut timer) = (read, shutdown, timer);
    poll_fn(|cx| {
        if let Poll::Ready(r) = read.as_mut().poll(cx) {
            return Poll::Ready(Woke::Read(r));
        }
        if shutdown.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Woke::Shutdown);
        }
        if timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Woke::Timer);
        }
        Poll::Pending
    })
    .await
}

impl Conn {
    /// Wait for the next request on a connection with nothing buffered, until `deadline` (the
    /// keep-alive timeout) or shutdown; buffers are released at `release_at` (the last response
    /// plus [`BUF_RELEASE_AFTER`]).
    pub(super) async fn read_idle<S: Stream>(
        &mut self,
        c: &Core,
        stream: &mut S,
        deadline: Instant,
        release_at: Instant,
        slot: usize,
    ) -> ReadResult {
        self.rbuf.clear();
        self.start = 0;
        if self.rbuf.capacity() > BUF_KEEP {
            self.rbuf = Vec::with_capacity(BUF_INITIAL);
        }
        self.account(c);
        if self.holds_buffers() && release_at < deadline {
            if let Some(tcp) = (stream as &mut dyn Any).downcast_mut::<TcpStream>() {
                if std::mem::take(&mut self.woke) {
                    // Readable after parking: the bytes are there, nothing to cancel.
                    return self.read_plain(c, tcp, deadline, slot).await;
                }
                // Hot: this wait starts before the previous one's release time, so the request
                // just answered came within the release time of the response before it.
                let hot = self
                    .last_release
                    .is_some_and(|last| release_at <= last + BUF_RELEASE_AFTER);
                self.last_release = Some(release_at);
                let uring = c.node.io_driver != IoDriver::Epoll;
                if let Some(_slot) = (hot && uring).then(HotRead::take).flatten() {
                    return self.read_plain(c, tcp, deadline, slot).await;
                }
                match self.read_full(c, tcp, release_at, slot).await {
                    Hot::Data => return ReadResult::Data,
                    Hot::Closed => return ReadResult::Closed,
                    Hot::Cooled => {
                        self.last_release = None;
                        self.release(c);
                        return ReadResult::Parked;
                    }
                }
            }
        }
        self.read_small(c, stream, deadline, release_at, slot).await
    }

    /// io_uring, a connection whose last request came within the release time: a plain read
    /// into the full buffer until `deadline`, as before buffers were released (no cancellation
    /// to register). Its buffers stay until its next request or its keep-alive timeout, which
    /// [`HOT_READS_PER_CORE`] bounds.
    async fn read_plain(
        &mut self,
        c: &Core,
        tcp: &mut TcpStream,
        deadline: Instant,
        slot: usize,
    ) -> ReadResult {
        let buf = std::mem::take(&mut self.rbuf);
        let cap = buf.capacity();
        // Pinned where they are made (no copy of the read future into a timeout and a race).
        let read = pin!(tcp.read(buf.slice_mut(0..cap)));
        let shutdown = pin!(c.shutdown.wait(slot));
        let mut timer = self.deadline.arm(deadline);
        match first(read, shutdown, Pin::new(&mut timer)).await {
            Woke::Read((Ok(0), _)) | Woke::Read((Err(_), _)) => ReadResult::Closed,
            Woke::Read((Ok(_), slice)) => {
                self.rbuf = slice.into_inner();
                ReadResult::Data
            }
            Woke::Shutdown => ReadResult::Closed,
            Woke::Timer => ReadResult::Timeout,
        }
    }

    /// Plain TCP: read into the full buffer until `until`, then stop the read without losing
    /// a byte. io_uring owns a submitted read: it is cancelled and its outcome awaited (the
    /// cancellation costs two small hash-set updates per read). epoll reads only inside a poll
    /// that completes, so a pending read is dropped at no cost.
    async fn read_full(
        &mut self,
        c: &Core,
        tcp: &mut TcpStream,
        until: Instant,
        slot: usize,
    ) -> Hot {
        if self.rbuf.capacity() == 0 {
            self.rbuf.reserve(BUF_INITIAL);
        }
        let buf = std::mem::take(&mut self.rbuf);
        let cap = buf.capacity();
        let mut timer = self.deadline.arm(until);
        let timer = Pin::new(&mut timer);
        let shutdown = pin!(c.shutdown.wait(slot));
        let (res, slice) = if c.node.io_driver == IoDriver::Epoll {
            let read = pin!(tcp.read(buf.slice_mut(0..cap)));
            match first(read, shutdown, timer).await {
                Woke::Read(r) => r,
                Woke::Shutdown => return Hot::Closed,
                // Nothing was read: the buffer goes with the dropped read.
                Woke::Timer => return Hot::Cooled,
            }
        } else {
            let handle = self.canceller.get_or_insert_with(Canceller::new).handle();
            let mut read = pin!(tcp.cancelable_read(buf.slice_mut(0..cap), handle));
            match first(read.as_mut(), shutdown, timer).await {
                Woke::Read(r) => r,
                // Dropping the read cancels it; the connection closes anyway.
                Woke::Shutdown => return Hot::Closed,
                Woke::Timer => {
                    // Cancel, then wait for the outcome: bytes that arrived meanwhile are kept.
                    if let Some(old) = self.canceller.take() {
                        self.canceller = Some(old.cancel());
                    }
                    read.await
                }
            }
        };
        match res {
            Ok(0) => Hot::Closed,
            Ok(_) => {
                self.rbuf = slice.into_inner();
                Hot::Data
            }
            // The buffer goes with `slice`: that is the release.
            Err(e) if e.raw_os_error() == Some(libc::ECANCELED) => Hot::Cooled,
            Err(_) => Hot::Closed,
        }
    }

    /// A parked connection (no full buffers): wait for its next request until `deadline`. Plain
    /// TCP waits for readiness with no buffer at all, then reads into the full buffers; other
    /// streams read into the small buffer.
    pub(super) async fn read_parked<S: Stream>(
        &mut self,
        c: &Core,
        stream: &mut S,
        deadline: Instant,
        slot: usize,
    ) -> ReadResult {
        let Some(tcp) = (stream as &mut dyn Any).downcast_mut::<TcpStream>() else {
            return self.read_small(c, stream, deadline, deadline, slot).await;
        };
        let ready = pin!(tcp.readable(false));
        let shutdown = pin!(c.shutdown.wait(slot));
        let woke = {
            let mut timer = self.deadline.arm(deadline);
            first(ready, shutdown, Pin::new(&mut timer)).await
        };
        match woke {
            Woke::Read(Ok(())) => {
                // The active task reads them (into the full buffers, allocated again here).
                self.restore(c);
                self.woke = true;
                ReadResult::Ready
            }
            Woke::Read(Err(_)) | Woke::Shutdown => ReadResult::Closed,
            Woke::Timer => ReadResult::Timeout,
        }
    }

    /// Read into the small buffer until `deadline`, releasing the full buffers at `release_at`.
    async fn read_small<S: Stream>(
        &mut self,
        c: &Core,
        stream: &mut S,
        deadline: Instant,
        release_at: Instant,
        slot: usize,
    ) -> ReadResult {
        let mut holding = self.holds_buffers();
        if self.small.capacity() == 0 {
            self.small = Vec::with_capacity(IDLE_READ_BUF);
            self.small_cap = self.small.capacity();
            self.account(c);
        }
        let small = std::mem::take(&mut self.small);
        let cap = small.capacity();
        let mut read = pin!(stream.read(small.slice_mut(0..cap)));
        let wake_at = if holding {
            release_at.min(deadline)
        } else {
            deadline
        };
        let mut timer = Deadline::at(wake_at);
        let mut shutdown = pin!(c.shutdown.wait(slot));
        let (res, slice): BufResult<usize, _> = loop {
            match first(read.as_mut(), shutdown.as_mut(), Pin::new(&mut timer)).await {
                Woke::Read(r) => break r,
                Woke::Shutdown => return ReadResult::Closed,
                Woke::Timer if holding && Instant::now() < deadline => {
                    self.release(c);
                    holding = false;
                    timer = Deadline::at(deadline);
                }
                Woke::Timer => return ReadResult::Timeout,
            }
        };
        match res {
            Ok(0) | Err(_) => ReadResult::Closed,
            Ok(n) => {
                let mut small = slice.into_inner();
                self.restore(c);
                self.rbuf.extend_from_slice(&small[..n]);
                small.clear();
                self.small = small;
                ReadResult::Data
            }
        }
    }

    fn holds_buffers(&self) -> bool {
        self.rbuf.capacity() > 0 || self.wbuf.capacity() > 0
    }

    /// Give the full buffers back, and whatever else an idle connection need not hold (nothing
    /// is buffered or queued: the connection is idle, all written).
    fn release(&mut self, c: &Core) {
        debug_assert!(self.start == self.rbuf.len() && self.wbuf.is_empty());
        debug_assert!(self.queue.is_empty());
        self.rbuf = Vec::new();
        self.wbuf = Vec::new();
        self.start = 0;
        self.key_buf = Vec::new();
        self.heads.forget();
        self.route_kept = None;
        self.queue = Default::default();
        self.canceller = None;
        self.account(c);
    }

    /// A request arrived: the full buffers again (allocated only after a release).
    fn restore(&mut self, c: &Core) {
        if self.holds_buffers() {
            return;
        }
        self.rbuf = Vec::with_capacity(BUF_INITIAL);
        self.wbuf = Vec::with_capacity(BUF_INITIAL);
        self.account(c);
    }

    /// Bring `cache_connection_buffer_bytes` up to date with this connection's buffers (the small
    /// one, once allocated, counts always: it is either here or owned by the read in flight).
    pub(super) fn account(&mut self, c: &Core) {
        let held = self.rbuf.capacity() + self.wbuf.capacity() + self.small_cap;
        if held != self.accounted {
            let gauge = &c.resp.metrics.connection_buffer_bytes;
            gauge.set((gauge.get() + held as u64).saturating_sub(self.accounted as u64));
            self.accounted = held;
        }
    }

    /// The connection is closing: its buffers no longer count.
    pub(super) fn unaccount(&mut self, c: &Core) {
        let gauge = &c.resp.metrics.connection_buffer_bytes;
        gauge.set(gauge.get().saturating_sub(self.accounted as u64));
        self.accounted = 0;
    }
}
