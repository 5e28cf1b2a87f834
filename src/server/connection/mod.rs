//! One client connection: read → parse every complete request → route → encode → one write.
//!
//! The connection owns a read buffer and a write buffer, allocated once and reused for every
//! request. All complete requests found in the read buffer are answered in order with a single
//! write (pipelining); a request whose key lives on another core is sent there and its response
//! slot waits in `queue`, so order is kept. Deadlines: an absolute one for a request head from its
//! first byte (slowloris), one for a body, the idle keep-alive timeout and a write timeout. After a
//! framing error the response carries `Connection: close` and the socket is closed with a short
//! lingering drain, so the client reads the error instead of a reset (RFC 9112 §9.6).

mod dispatch;
mod export;
mod framing;

use dispatch::{resolve, Dispatched, Frame};
use framing::Framed;
mod io;

use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use monoio::io::{AsyncWriteRent, AsyncWriteRentExt};
use monoio::net::TcpStream;

use super::core::Core;
use super::document::Scope;
use super::handlers::forward::Forwarded;
use super::handlers::Deferred;
use super::respond::Meta as R;
use super::router::{self, Route};
use crate::http::response::ConnHeader;
use crate::http::{parse_head, ChunkedDecoder, Head, Limits, Parsed, Version};
use crate::mesh::Ticket;
use crate::metrics::inc;
use crate::storage::KeyReply;

/// Initial (and steady-state) buffer size: a typical request or response fits many times over.
const BUF_INITIAL: usize = 16 * 1024;
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
    /// Forwarded to the owning node.
    Forward(Forwarded),
    /// A write waiting for its copies on the other replicas.
    Replicate(Box<super::handlers::replicate::Replicating>),
}

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
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Closing {
    /// FIN after the response.
    Graceful,
    /// FIN, then drain what the client still sends for a moment (unread input or framing error).
    Linger,
}

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
    queue: VecDeque<Queued>,
    head_started: Option<Instant>,
    body_started: Option<Instant>,
    sent_continue: bool,
    closing: Option<Closing>,
    limits: Limits,
}

/// Serve one accepted connection until it closes.
pub(super) async fn serve(c: Rc<Core>, mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let active = &c.resp.metrics.connections_active;
    active.set(active.get() + 1);
    let slot = c.shutdown.register();
    let cfg = c.cfg();
    let mut conn = Conn {
        rbuf: Vec::with_capacity(BUF_INITIAL),
        start: 0,
        wbuf: Vec::with_capacity(BUF_INITIAL),
        key_buf: Vec::with_capacity(64),
        chunk: None,
        queue: VecDeque::new(),
        head_started: None,
        body_started: None,
        sent_continue: false,
        closing: None,
        limits: Limits {
            max_head_bytes: cfg.limits.max_header_bytes,
            max_target_bytes: cfg.limits.max_target_bytes,
            max_body_bytes: cfg
                .limits
                .max_import_bytes
                .max(cfg.max_value_bytes + router::PUT_BODY_SLACK),
        },
    };
    conn.run(&c, &mut stream, slot).await;
    c.shutdown.unregister(slot);
    active.set(active.get().saturating_sub(1));
    c.node.connections.fetch_sub(1, Ordering::Relaxed);
}

/// How long a refused connection may take to read its 503.
const REJECT_WRITE_TIMEOUT: Duration = Duration::from_secs(1);

/// Over `max_connections`: answer 503 and close, so the client sees why (memcached accepts and
/// closes too); existing connections are unaffected.
pub(super) async fn reject(c: Rc<Core>, mut stream: TcpStream) {
    let mut out = Vec::with_capacity(256);
    let r = R::closing();
    let msg = "too many connections (limits.max_connections)";
    c.resp.error(&mut out, r, 503, msg, None, &[]);
    let _ = monoio::time::timeout(REJECT_WRITE_TIMEOUT, stream.write_all(out)).await;
    let _ = stream.shutdown().await;
    c.node.connections.fetch_sub(1, Ordering::Relaxed);
}

impl Conn {
    async fn run(&mut self, c: &Rc<Core>, stream: &mut TcpStream, slot: usize) {
        let timeouts = c.cfg().timeouts.clone();
        loop {
            let step = self.process(c).await;
            if !self.flush(stream, timeouts.write).await {
                return;
            }
            match step {
                Step::More => continue,
                Step::Export(r, scope, http10) => {
                    if self
                        .export(c, stream, r, scope, http10, timeouts.write)
                        .await
                        .is_err()
                    {
                        return;
                    }
                    if self.closing.is_some() {
                        break;
                    }
                    continue;
                }
                Step::Close => break,
                Step::Read(wait) => {
                    if wait == Wait::Idle && c.draining() {
                        break;
                    }
                    let deadline = match wait {
                        Wait::Idle => Instant::now() + timeouts.idle,
                        Wait::Head => {
                            self.head_started.unwrap_or_else(Instant::now) + timeouts.header
                        }
                        Wait::Body => {
                            self.body_started.unwrap_or_else(Instant::now) + timeouts.body
                        }
                    };
                    match self.read(c, stream, deadline, wait, slot).await {
                        ReadResult::Data => continue,
                        ReadResult::Closed => return,
                        ReadResult::Timeout if wait == Wait::Idle => {
                            inc(&c.resp.metrics.idle_closed);
                            return;
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
    }

    /// Parse and answer every complete request in the buffer (up to `max_pipeline`).
    async fn process(&mut self, c: &Rc<Core>) -> Step {
        let t0 = Instant::now();
        // Before answering anything: a process that stood still may have missed writes.
        crate::server::sync::check_stall(c, t0);
        let mut count: u64 = 0;
        let step = loop {
            if count as usize >= c.cfg().limits.max_pipeline {
                break Step::More;
            }
            if self.start == self.rbuf.len() {
                break Step::Read(Wait::Idle);
            }
            let head = match parse_head(&self.rbuf[self.start..], &self.limits) {
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
            let route = Route::parse(&self.rbuf[self.start + head.path.start..][..head.path.len()]);
            let limit = route.body_limit(c.cfg().max_value_bytes, c.cfg().limits.max_import_bytes);
            let (body, total) = match self.frame_body(&head, limit) {
                Framed::Ready(body, total) => (body, total),
                Framed::NeedMore => {
                    let step = self.await_body(c, &head, route).await;
                    break step.unwrap_or(Step::Read(Wait::Body));
                }
                Framed::Refuse(status, msg) => {
                    self.resolve(c).await;
                    self.fail(c, status, msg);
                    break Step::Close;
                }
            };
            let frame = Frame {
                route,
                conn: self.conn_header(c, &head),
                body,
                total,
            };
            if self.answer(c, &head, &frame) == Dispatched::Admin {
                if let Some(step) = self.admin(c, &head, &frame).await {
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
        self.resolve(c).await;
        if count > 0 {
            c.resp
                .metrics
                .latency(t0.elapsed().as_micros() as u64, count);
        }
        step
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
}
