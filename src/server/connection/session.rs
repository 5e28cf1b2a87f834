//! The tasks of one connection: an *active* task that answers requests, and a small *parked* one
//! that waits for the next request of an idle connection.
//!
//! A task's future is one allocation of its largest state. Answering requests needs every path
//! (admin, export, forwards: ~8 KB of future), waiting for bytes needs a read and a timer (~1.5
//! KB). So a connection idle past [`BUF_RELEASE_AFTER`](super::BUF_RELEASE_AFTER), its buffers
//! released and no read in flight (`buffers`), moves into a parked task and its active task ends;
//! its next request starts a new active task. Busy connections never move (no allocation per
//! request); a new connection starts parked, so one that never sends a request costs little.
//!
//! Only plain TCP parks: a TLS read cannot be cancelled without losing bytes, so a TLS connection
//! stays in its active task (its buffers are still released; the TLS session's are its own).

use std::rc::Rc;
use std::time::{Duration, Instant};

use monoio::io::AsyncWriteRentExt;

use super::{Conn, ReadResult, Stream, R};
use crate::deadline::DeadlineSlot;
use crate::http::{HeadMemo, Limits};
use crate::metrics::inc;
use crate::server::admission::{self, Admitted, Listener, Refused};
use crate::server::core::Core;
use crate::server::router;

/// How long a refused connection may take to read its 503.
const REJECT_WRITE_TIMEOUT: Duration = Duration::from_secs(1);

/// What moves between a connection's tasks.
struct Session<S> {
    c: Rc<Core>,
    conn: Conn,
    stream: S,
    /// The connection's shutdown slot (see `ShutdownSignal`).
    slot: usize,
}

/// Serve one accepted connection until it closes. The caller set `TCP_NODELAY` on the socket
/// (before a TLS handshake, which benefits too); `tls_peer` is [`Conn::tls_peer`]; `admitted`
/// is what [`admission::admit`] decided. Returns at once: the first request is awaited parked.
pub(in crate::server) async fn serve<S: Stream>(
    c: Rc<Core>,
    stream: S,
    tls_peer: bool,
    admitted: Admitted,
) {
    let active = &c.resp.metrics.connections_active;
    active.set(active.get() + 1);
    let slot = c.shutdown.register();
    let conn = Conn::new(&c, tls_peer, admitted);
    let mut deadline = Instant::now() + c.cfg().timeouts.idle;
    if conn.probation.is_some() {
        deadline = deadline.min(conn.probation_until);
    }
    let mut s = Session {
        c,
        conn,
        stream,
        slot,
    };
    s.conn.account(&s.c);
    // A task of its own: the caller's (this one, or a TLS handshake's) ends and frees its future.
    monoio::spawn(parked(s, deadline));
}

// `active` and `parked` return an `async move` block rather than being `async fn`s: an async
// fn keeps its argument twice in its future (as captured, and moved into the body), which would
// add a whole `Session` to every parked connection.

/// Answer requests until the connection closes or parks.
async fn active<S: Stream>(mut s: Session<S>) {
    match s.conn.run(&s.c, &mut s.stream, s.slot).await {
        Some(deadline) => {
            monoio::spawn(parked(s, deadline));
        }
        None => s.end(),
    }
}

/// Wait, with no full buffers and little future, for the next request until `deadline` (the
/// keep-alive timeout, or the end of a probation) or shutdown.
async fn parked<S: Stream>(mut s: Session<S>, deadline: Instant) {
    let read = s
        .conn
        .read_parked(&s.c, &mut s.stream, deadline, s.slot)
        .await;
    match read {
        ReadResult::Data | ReadResult::Ready => {
            monoio::spawn(active(s));
        }
        ReadResult::Timeout if s.conn.probation.is_some() => {
            // A task of its own: writing and closing would double this future's size.
            monoio::spawn(refuse(s));
        }
        ReadResult::Timeout => {
            inc(&s.c.resp.metrics.idle_closed);
            s.end();
        }
        ReadResult::Closed | ReadResult::Parked => s.end(),
    }
}

/// The probation ran out before a request: 503 and close.
async fn refuse<S: Stream>(mut s: Session<S>) {
    s.conn.refuse_probation(&s.c);
    let write = s.c.cfg().timeouts.write;
    if s.conn.flush(&mut s.stream, write).await {
        s.conn.close(&mut s.stream).await;
    }
    s.end();
}

impl<S> Session<S> {
    /// The connection is done: its counts go (the socket closes when `self` is dropped).
    fn end(mut self) {
        self.conn.unaccount(&self.c);
        self.c.shutdown.unregister(self.slot);
        let active = &self.c.resp.metrics.connections_active;
        active.set(active.get().saturating_sub(1));
    }
}

impl Conn {
    fn new(c: &Core, tls_peer: bool, admitted: Admitted) -> Conn {
        let cfg = c.cfg();
        // The buffers come with the first request (`buffers`).
        Conn {
            rbuf: Vec::new(),
            start: 0,
            wbuf: Vec::new(),
            key_buf: Vec::new(),
            chunk: None,
            queue: Default::default(),
            head_started: None,
            body_started: None,
            sent_continue: false,
            closing: None,
            heads: HeadMemo::new(Limits {
                max_head_bytes: cfg.limits.max_header_bytes,
                max_target_bytes: cfg.limits.max_target_bytes,
                max_body_bytes: cfg
                    .limits
                    .max_import_bytes
                    .max(cfg.max_value_bytes + router::PUT_BODY_SLACK),
            }),
            route_kept: None,
            tls_peer,
            small: Vec::new(),
            small_cap: 0,
            canceller: None,
            last_release: None,
            woke: false,
            deadline: DeadlineSlot::new(),
            accounted: 0,
            admin_elsewhere: admitted.listener == Listener::Main && c.node.admin_addr.is_some(),
            probation: admitted.probation,
            probation_until: Instant::now() + admission::PROBATION_WAIT,
            ip: admitted.ip,
            held: admitted.held,
            import: None,
            ids: Vec::new(),
        }
    }
}

/// Beyond a connection limit with no room on probation: answer 503 and close, so the client sees
/// why (memcached accepts and closes too); existing connections are unaffected.
pub(in crate::server) async fn reject<S: Stream>(c: Rc<Core>, mut stream: S, refused: Refused) {
    admission::count_refused(&c.resp.metrics, refused.limit);
    let mut out = Vec::with_capacity(256);
    let msg = refused.limit.message(refused.ip);
    c.resp.error(&mut out, R::closing(), 503, &msg, None, &[]);
    let _ = monoio::time::timeout(REJECT_WRITE_TIMEOUT, stream.write_all(out)).await;
    let _ = stream.shutdown().await;
    drop(refused.held);
}
