//! One client connection: read → parse every complete request → route → encode → one write.
//!
//! The connection owns a read buffer and a write buffer, reused for every request while requests
//! flow; a connection idle for [`BUF_RELEASE_AFTER`] gives both back (`buffers`) and waits in a
//! small task of its own (`session`), so thousands of idle keep-alive connections cost little
//! (~2 KB of the node's memory each, measured). All complete requests found in the read buffer
//! are answered in order with a single write (pipelining); a request whose key lives on another
//! core is sent there and its response slot waits in `queue`, so order is kept. Deadlines: an absolute one for a request head from its
//! first byte (slowloris), one for a body, the idle keep-alive timeout and a write timeout. After a
//! framing error the response carries `Connection: close` and the socket is closed with a short
//! lingering drain, so the client reads the error instead of a reset (RFC 9112 §9.6).

mod buffers;
mod dispatch;
mod export;
mod framing;
mod probation;
mod session;
mod watch;

pub(super) use session::{reject, serve};

use dispatch::{resolve, Dispatched, Frame};
use framing::Framed;
mod io;

use std::collections::VecDeque;
use std::net::IpAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use monoio::io::{AsyncReadRent, AsyncWriteRent};

use super::admission::{Held, Limit};
use super::core::Core;
use super::document::Scope;
use super::handlers::forward::Forwarded;
use super::handlers::Deferred;
use super::respond::Meta as R;
use super::router::Route;
use crate::deadline::DeadlineSlot;
use crate::http::response::ConnHeader;
use crate::http::{Answered, ChunkedDecoder, Head, HeadMemo, Parsed, Version};
use crate::mesh::Ticket;
use crate::metrics::inc;
use crate::storage::KeyReply;

/// Initial (and steady-state) buffer size: a typical request or response fits many times over.
const BUF_INITIAL: usize = 16 * 1024;
/// How long a keep-alive connection keeps its full buffers after its last response: a client
/// sending at least four requests a second reuses them and never allocates per request.
const BUF_RELEASE_AFTER: Duration = Duration::from_millis(250);
/// The read buffer an idle TLS connection waits on: a usual request (head and a small body)
/// arrives in one read; a larger one continues into the full buffer.
const IDLE_READ_BUF: usize = 1024;
/// Spare room required before a read, so each read can bring a useful amount.
const READ_MIN_SPARE: usize = 4 * 1024;
/// Buffers grown past this (large values) are shrunk back after use, so idle connections stay small.
const BUF_KEEP: usize = 256 * 1024;
/// Lingering close: how long and how much we keep reading after a framing-error response.
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 256 * 1024;

/// A response that is not ready yet, in request order.
enum Queued {
    Remote(Ticket<KeyReply>, Deferred),
    Ready(KeyReply, Deferred),
    /// Forwarded to the owning node. Boxed: a forward's state is ~340 bytes, and every queued
    /// answer (a cross-core call's too) is moved into the queue and out of it into its wait.
    Forward(Box<Forwarded>),
    /// A write waiting for its copies on the other replicas.
    Replicate(Box<super::handlers::replicate::Replicating>),
    /// An answer encoded at once while earlier ones were pending (kept for its turn).
    Written(Vec<u8>),
}

/// Every answer a batch waits for (a cross-core call's above all) is moved into the queue, out
/// of it, and into the future that waits for it: a variant as large as a forward's state
/// (336 bytes) made each of those moves a `memcpy` of that size (~90 instructions a request
/// with `threads: 2`, callgrind). Large states are boxed; this keeps them so.
const _: () = assert!(std::mem::size_of::<Queued>() <= 160);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Wait {
    /// Nothing buffered: the keep-alive idle timeout applies.
    Idle,
    /// Part of a head is buffered: the absolute header deadline applies.
    Head,
    /// The head is complete, the body is not: the body deadline applies.
    Body,
}

enum Step {
    Read(Wait),
    /// `max_pipeline` requests answered: write, then keep parsing without reading.
    More,
    /// Write, then stream an export.
    Export(R, Scope, bool),
    /// Write, then close.
    Close,
    /// The client left while answers were pending: close without writing (`watch`).
    Gone,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Closing {
    /// FIN after the response.
    Graceful,
    /// FIN, then drain what the client still sends for a moment (unread input or framing error).
    Linger,
}

/// The byte stream a connection is served over: a plain `TcpStream` or a TLS session on one
/// (`monoio_rustls::ServerTlsStream<TcpStream>`). Generic rather than `dyn`: each kind gets its
/// own monomorphized loop, so the plain path pays nothing for TLS existing.
pub(crate) trait Stream: AsyncReadRent + AsyncWriteRent + 'static {}
impl<T: AsyncReadRent + AsyncWriteRent + 'static> Stream for T {}

struct Chunked {
    dec: ChunkedDecoder,
    body: BytesMut,
}

struct Conn {
    rbuf: Vec<u8>,
    start: usize,
    wbuf: Vec<u8>,
    key_buf: Vec<u8>,
    chunk: Option<Chunked>,
    /// Responses not ready yet, in request order. The per-connection cap on cross-core calls and
    /// forwards in flight: at most `limits.max_pipeline` entries, since `process` resolves them
    /// all before it reads or parses more (each: one call, one forward, or one write and its
    /// replica copies). Tested in tests/queue_bounds.rs.
    queue: VecDeque<Queued>,
    head_started: Option<Instant>,
    body_started: Option<Instant>,
    sent_continue: bool,
    closing: Option<Closing>,
    /// The request parser under this connection's limits, with the last head it read: the same
    /// head sent again is not parsed again (`http::HeadMemo`).
    heads: HeadMemo,
    /// The route of the head `heads` keeps, set when it keeps one: a head answered from the
    /// memo has the same path, so the same route (`Route::parse` is a function of the path).
    route_kept: Option<Route>,
    /// The client presented a certificate verified against `tls.ca_file` while
    /// `tls.peer_client_certs` is on: it is another node of the cluster (`Req::tls_peer`).
    tls_peer: bool,
    /// What an idle connection reads into (`buffers`); empty while a read of it is in flight.
    small: Vec<u8>,
    /// Capacity of `small` once allocated (it is allocated on first use: TLS only).
    small_cap: usize,
    /// Cancels a plain-TCP idle read into the full buffer once it has waited long enough.
    canceller: Option<monoio::io::Canceller>,
    /// When the buffers of the last idle wait were due for release, while requests flow on plain
    /// TCP: tells whether the connection is busy (`buffers`).
    last_release: Option<Instant>,
    /// Readable after parking: the next read gets bytes already there (`buffers`).
    woke: bool,
    /// The deadline of the connection's waits for a request and for a write, armed for each
    /// (`crate::deadline`).
    deadline: DeadlineSlot,
    /// Buffer bytes this connection counts in `cache_connection_buffer_bytes`.
    accounted: usize,
    /// Accepted on `address` while `admin_address` is set: `/admin/*` is served there instead.
    admin_elsewhere: bool,
    /// Accepted beyond `limit` (see `admission`): served only if the first request, received
    /// before `probation_until`, is a peer's.
    probation: Option<Limit>,
    probation_until: Instant,
    ip: IpAddr,
    /// The node-wide counts this connection holds (released when the connection is dropped).
    held: Held,
    /// The node's import slot, held from an import's head until it is answered (`advance`).
    import: Option<super::handlers::import::BodyPermit>,
    /// The request-id slots of the requests being answered (`server::request_id`): held until
    /// every answer of the batch is written (an export's head included), then released.
    ids: Vec<super::request_id::HeldId>,
}

/// The clock of one batch's answers (`Conn::answer_pinned`). A batch starts with a reading
/// already taken (`process` needs one anyway); the first answer turns it into the TTL clock's
/// milliseconds and the `Date`, and the rest of the batch uses those. After an admin request
/// (time passes in one) the next answer takes a new reading.
#[derive(Default)]
struct BatchClock {
    at: Option<Instant>,
    ms: Option<u64>,
}

impl BatchClock {
    fn at(reading: Instant) -> BatchClock {
        BatchClock {
            at: Some(reading),
            ms: None,
        }
    }
}

impl Conn {
    /// Serve requests until the connection closes (`None`), or until it has been idle long enough
    /// to be parked (`Some(deadline of its keep-alive wait)`, see `session`).
    async fn run<S: Stream>(
        &mut self,
        c: &Rc<Core>,
        stream: &mut S,
        slot: usize,
    ) -> Option<Instant> {
        let timeouts = c.cfg().timeouts.clone();
        loop {
            let (step, done_at) = self.process(c, stream).await;
            if matches!(step, Step::Gone) {
                return None;
            }
            if !self.flush_by(stream, done_at + timeouts.write).await {
                return None;
            }
            match step {
                Step::More => continue,
                Step::Export(r, scope, http10) => {
                    if self
                        .export(c, stream, r, scope, http10, timeouts.write)
                        .await
                        .is_err()
                    {
                        return None;
                    }
                    if self.closing.is_some() {
                        break;
                    }
                    continue;
                }
                Step::Close => break,
                Step::Gone => return None,
                Step::Read(wait) => {
                    if wait == Wait::Idle && c.draining() {
                        break;
                    }
                    let now = Instant::now();
                    let mut deadline = match wait {
                        Wait::Idle => now + timeouts.idle,
                        Wait::Head => self.head_started.unwrap_or(now) + timeouts.header,
                        Wait::Body => self.body_started.unwrap_or(now) + timeouts.body,
                    };
                    if self.probation.is_some() {
                        deadline = deadline.min(self.probation_until);
                    }
                    let read = if wait == Wait::Idle {
                        let release_at = now + BUF_RELEASE_AFTER;
                        self.read_idle(c, stream, deadline, release_at, slot).await
                    } else {
                        self.read(stream, deadline).await
                    };
                    match read {
                        ReadResult::Data | ReadResult::Ready => continue,
                        ReadResult::Parked => return Some(deadline),
                        ReadResult::Closed => return None,
                        ReadResult::Timeout if self.probation.is_some() => {
                            self.refuse_probation(c);
                            let _ = self.flush(stream, timeouts.write).await;
                            break;
                        }
                        ReadResult::Timeout if wait == Wait::Idle => {
                            inc(&c.resp.metrics.idle_closed);
                            return None;
                        }
                        ReadResult::Timeout => {
                            inc(&c.resp.metrics.request_timeouts);
                            let msg = if wait == Wait::Head {
                                "request head not received within timeouts.header"
                            } else {
                                "request body not received within timeouts.body"
                            };
                            self.fail(c, 408, msg);
                            let _ = self.flush(stream, timeouts.write).await;
                            break;
                        }
                    }
                }
            }
        }
        self.close(stream).await;
        None
    }

    /// Parse and answer every complete request in the buffer (up to `max_pipeline`); also the
    /// clock when it finished (the answers' write is timed from it).
    async fn process<S: Stream>(&mut self, c: &Rc<Core>, stream: &mut S) -> (Step, Instant) {
        // Every answer of the previous batch is written: release its request ids.
        self.ids.clear();
        let t0 = Instant::now();
        // Before answering anything: a process that stood still may have missed writes.
        crate::server::sync::check_stall(c, t0);
        let mut count: u64 = 0;
        let mut clock = BatchClock::at(t0);
        let step = loop {
            if count as usize >= c.cfg().limits.max_pipeline {
                break Step::More;
            }
            if self.start == self.rbuf.len() {
                break Step::Read(Wait::Idle);
            }
            // Borrowed where it lies: the head is not moved out of the parser's answer.
            let parsed = self.heads.parse(&self.rbuf[self.start..]);
            let head = match &parsed {
                Ok(Parsed::Complete(h)) => h,
                Ok(Parsed::Partial) => {
                    self.head_started.get_or_insert_with(Instant::now);
                    break Step::Read(Wait::Head);
                }
                Err(e) => {
                    self.resolve(c).await;
                    self.fail(c, e.status(), e.message());
                    break Step::Close;
                }
            };
            let route = match (self.heads.answered(), self.route_kept) {
                (Answered::Kept, Some(route)) => route,
                (answered, _) => {
                    let path = &self.rbuf[self.start + head.path.start()..][..head.path.len()];
                    let route = Route::parse(path);
                    if answered == Answered::Stored {
                        self.route_kept = Some(route);
                    }
                    route
                }
            };
            if self.probation.is_some() && !self.end_probation(c, head) {
                break Step::Close;
            }
            // One import at a time per node: refused before its body is read.
            if route == Route::Import {
                use super::handlers::import;
                let (buf, peer) = (&self.rbuf[self.start..], self.tls_peer);
                if let Err(busy) = import::reserve_at_head(c, head, buf, peer, &mut self.import) {
                    self.resolve(c).await;
                    let id = self.head_request_id(c, head);
                    import::refuse_at_head(c, busy, id, &mut self.wbuf);
                    self.closing = Some(Closing::Linger);
                    break Step::Close;
                }
            }
            let limit = route.body_limit(c.cfg().max_value_bytes, c.cfg().limits.max_import_bytes);
            let (body, total) = match self.frame_body(head, limit) {
                Framed::Ready(body, total) => (body, total),
                Framed::NeedMore => {
                    let step = self.await_body(c, head, route).await;
                    break step.unwrap_or(Step::Read(Wait::Body));
                }
                Framed::Refuse(status, msg) => {
                    self.resolve(c).await;
                    self.refuse_body(c, head, status, msg);
                    break Step::Close;
                }
            };
            let frame = Frame {
                route,
                conn: self.conn_header(c, head),
                body,
                total,
                admin_elsewhere: self.admin_elsewhere,
            };
            if self.answer_pinned(c, head, &frame, &mut clock) == Dispatched::Admin {
                // Time passes in an admin request: the next request reads the clock again.
                clock = BatchClock::default();
                if let Some(step) = self.admin(c, head, &frame).await {
                    count += 1;
                    break step;
                }
            }
            self.chunk = None;
            self.advance(total);
            count += 1;
            if frame.conn == ConnHeader::Close {
                // RFC 9112 §9.6: later pipelined requests must not be processed.
                self.closing = Some(self.close_kind());
                break Step::Close;
            }
        };
        // Nothing pending (every answer of a GET hit is written already): no wait to set up.
        let watched = if self.queue.is_empty() {
            watch::Watched::Answered
        } else {
            self.resolve_watching(c, stream).await
        };
        let step = match watched {
            watch::Watched::Answered => step,
            watch::Watched::Gone => return (Step::Gone, t0),
            // Parse what arrived before reading again (a read while idle starts afresh).
            watch::Watched::MoreInput if matches!(step, Step::Read(_)) => Step::More,
            watch::Watched::MoreInput => step,
        };
        if !matches!(step, Step::Export(..)) {
            // Every answer is written (an export's head is still to come, with its id).
            self.ids.clear();
        }
        if count == 0 && self.wbuf.is_empty() {
            // Nothing arrived, or only part of a head: nothing to time, nothing to write.
            return (step, t0);
        }
        let done_at = Instant::now();
        if count > 0 {
            let took = done_at.saturating_duration_since(t0);
            c.resp.metrics.latency(took.as_micros() as u64, count);
        }
        (step, done_at)
    }

    /// [`Conn::answer`] with the clock of its batch (`BatchClock`): the requests of a pipeline
    /// arrived together, so the batch's one reading serves the TTL clock and the `Date` of all
    /// its answers (a read per request was ~5% of a pipelined GET hit). Pinned only for this
    /// synchronous call, so no other task sees the reading.
    #[inline]
    fn answer_pinned(
        &mut self,
        c: &Rc<Core>,
        head: &Head,
        frame: &Frame,
        clock: &mut BatchClock,
    ) -> Dispatched {
        match clock.ms {
            Some(ms) => {
                c.exec.pin_now(ms);
                c.resp.pin_date(None);
            }
            None => {
                // The batch's first answer: the clocks are brought up to its reading.
                let at = *clock.at.get_or_insert_with(Instant::now);
                let ms = c.exec.ms_at(at);
                clock.ms = Some(ms);
                c.exec.pin_now(ms);
                c.resp.pin_date(Some(at));
            }
        }
        let done = self.answer(c, head, frame);
        c.exec.unpin_now();
        c.resp.unpin_date();
        done
    }

    #[inline]
    fn conn_header(&self, c: &Core, head: &Head) -> ConnHeader {
        if !head.keep_alive || c.draining() {
            ConnHeader::Close
        } else if head.version == Version::Http10 {
            ConnHeader::KeepAlive
        } else {
            ConnHeader::Default
        }
    }

    fn close_kind(&self) -> Closing {
        if self.start < self.rbuf.len() {
            Closing::Linger
        } else {
            Closing::Graceful
        }
    }

    /// Consume one finished request from the read buffer.
    fn advance(&mut self, total: usize) {
        self.start += total;
        self.head_started = None;
        self.body_started = None;
        self.sent_continue = false;
        self.import = None;
    }

    async fn resolve(&mut self, c: &Core) {
        resolve(c, &mut self.queue, &mut self.wbuf).await
    }

    /// Answer a protocol error and mark the connection for a lingering close.
    fn fail(&mut self, c: &Core, status: u16, msg: &str) {
        let r = R::closing();
        c.resp.error(&mut self.wbuf, r, status, msg, None, &[]);
        self.closing = Some(Closing::Linger);
    }
}

pub(super) enum ReadResult {
    Data,
    Closed,
    Timeout,
    /// Idle past [`BUF_RELEASE_AFTER`] on plain TCP: the buffers are released and no read is in
    /// flight; the connection continues in a small task of its own (`session`).
    Parked,
    /// A parked plain-TCP connection became readable: the next read gets the bytes.
    Ready,
}
