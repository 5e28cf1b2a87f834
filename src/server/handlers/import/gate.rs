//! One import at a time per node.
//!
//! A client's import holds the whole document in memory (up to `limits.max_import_bytes`) and
//! works for seconds; two or three at once multiplied the memory and the stalls (issue 11: three
//! 200 MB imports peaked at 1.37 GB). So the node runs one, and answers the next 503 with
//! `Retry-After`, before its body is read: the connection reserves the gate when an import's
//! head arrives ([`reserve_at_head`]) and holds the reservation ([`BodyPermit`]) until the
//! request is answered; the handler marks the gate running ([`ImportGate::start`]), which also
//! stops an import that reached it without a reservation.
//!
//! A peer's local-scope sub-import is part of an import running on another node and passes
//! without the gate: two cluster imports started on two nodes send each other sub-imports, and
//! would otherwise refuse each other's and both fail. Those are bounded by their sender (one
//! import per node sends one batch at a time, each a bounded window).

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

use crate::http::{Head, Method, Span};
use crate::metrics::Trust;
use crate::server::authz;
use crate::server::core::Core;
use crate::server::document::Scope;
use crate::server::respond::Meta;
use crate::server::router::{method_label, Route};

/// `Retry-After` when how long the running import still needs is not known yet (its body is
/// still arriving, or it is still being checked): about what a 200 MB import takes.
const RETRY_AFTER_UNKNOWN_S: u64 = 5;
/// Bounds of the estimated `Retry-After`: a client should neither spin nor give up.
const RETRY_AFTER_MIN_S: u64 = 1;
const RETRY_AFTER_MAX_S: u64 = 60;

/// State bit: an import's body is being received (reserved at its head).
const BODY: u8 = 1;
/// State bit: an import is being checked or applied.
const RUNNING: u8 = 2;

/// The node's import slot (in `NodeShared`), shared by every core.
#[derive(Default)]
pub(crate) struct ImportGate {
    /// [`BODY`] | [`RUNNING`].
    state: AtomicU8,
    /// Node clock (ms) when the body being received started, and when the running import did.
    body_since_ms: AtomicU64,
    running_since_ms: AtomicU64,
    /// How far the running import got: entries handled of its `total` (0: still checking).
    done: AtomicU64,
    total: AtomicU64,
}

/// Held by a connection while an import's body arrives; frees the reservation when dropped
/// (the request answered, or the connection gone).
pub(crate) struct BodyPermit(Arc<ImportGate>);

impl Drop for BodyPermit {
    fn drop(&mut self) {
        self.0.state.fetch_and(!BODY, Ordering::AcqRel);
    }
}

/// Held by the handler while it checks and applies a document.
pub(crate) struct Running<'g>(&'g ImportGate);

impl Running<'_> {
    /// Entries handled so far, of `total`.
    pub(crate) fn progress(&self, done: usize, total: usize) {
        self.0.total.store(total as u64, Ordering::Relaxed);
        self.0.done.store(done as u64, Ordering::Relaxed);
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.state.fetch_and(!RUNNING, Ordering::AcqRel);
    }
}

impl ImportGate {
    /// Mark an import running (after its body arrived; a body reserved at its head does not
    /// count against it). Refused while another import runs.
    pub(crate) fn start(&self, now_ms: u64) -> Result<Running<'_>, Busy> {
        let was = self.state.fetch_or(RUNNING, Ordering::AcqRel);
        if was & RUNNING != 0 {
            return Err(self.busy(now_ms));
        }
        self.done.store(0, Ordering::Relaxed);
        self.total.store(0, Ordering::Relaxed);
        self.running_since_ms.store(now_ms, Ordering::Relaxed);
        Ok(Running(self))
    }

    /// Reserve the slot for a body about to be received; refused while any import holds it.
    fn reserve(self: &Arc<Self>, now_ms: u64) -> Result<BodyPermit, Busy> {
        match self
            .state
            .compare_exchange(0, BODY, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => {
                self.body_since_ms.store(now_ms, Ordering::Relaxed);
                Ok(BodyPermit(Arc::clone(self)))
            }
            Err(_) => Err(self.busy(now_ms)),
        }
    }

    /// What the import holding the gate is doing, for the refusal.
    fn busy(&self, now_ms: u64) -> Busy {
        let state = self.state.load(Ordering::Acquire);
        let ago = |since: &AtomicU64| now_ms.saturating_sub(since.load(Ordering::Relaxed));
        if state & RUNNING != 0 {
            Busy::Running {
                for_ms: ago(&self.running_since_ms),
                done: self.done.load(Ordering::Relaxed),
                total: self.total.load(Ordering::Relaxed),
            }
        } else {
            Busy::Receiving {
                for_ms: ago(&self.body_since_ms),
            }
        }
    }
}

/// Why an import was refused: what the one holding the gate is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Busy {
    /// Its body is still arriving, for `for_ms`.
    Receiving { for_ms: u64 },
    /// It has run for `for_ms` and handled `done` of `total` entries (`total` 0: checking).
    Running { for_ms: u64, done: u64, total: u64 },
}

impl Busy {
    /// Seconds a client should wait: the running import's remaining time at its pace so far.
    pub(crate) fn retry_after_s(&self) -> u64 {
        match *self {
            Busy::Running {
                for_ms,
                done,
                total,
            } if done > 0 && total >= done => {
                let left_ms = for_ms.saturating_mul(total - done) / done;
                left_ms
                    .div_ceil(1000)
                    .clamp(RETRY_AFTER_MIN_S, RETRY_AFTER_MAX_S)
            }
            _ => RETRY_AFTER_UNKNOWN_S,
        }
    }

    /// Answer 503 with `Retry-After`, counted under `cache_imports_busy_total`.
    pub(crate) fn answer(&self, c: &Core, out: &mut Vec<u8>, m: Meta) {
        c.resp.metrics.trust.inc(Trust::ImportsBusy);
        let mut secs = itoa::Buffer::new();
        let extra: [(&str, &[u8]); 1] =
            [("Retry-After", secs.format(self.retry_after_s()).as_bytes())];
        c.resp.error(out, m, 503, &self.to_string(), None, &extra);
    }
}

impl std::fmt::Display for Busy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = |ms: u64| ms as f64 / 1000.0;
        match *self {
            Busy::Receiving { for_ms } => write!(
                f,
                "another import is already running on this node (its body has been arriving for {:.1} s); imports run one at a time per node: retry after it",
                secs(for_ms)
            ),
            Busy::Running { for_ms, total: 0, .. } => write!(
                f,
                "another import is already running on this node (started {:.1} s ago, checking its document); imports run one at a time per node: retry after it",
                secs(for_ms)
            ),
            Busy::Running {
                for_ms,
                done,
                total,
            } => write!(
                f,
                "another import is already running on this node (started {:.1} s ago, {done} of {total} entries done); imports run one at a time per node: retry after it",
                secs(for_ms)
            ),
        }
    }
}

/// When a request's head is parsed, before its body is read: a client's `POST /admin/import`
/// reserves the node's import slot into `held` (the connection keeps it until the request is
/// answered), or is refused while another import holds it. `buf` holds the request, which
/// `head`'s ranges index; `tls_peer` is the connection's. A peer's local-scope sub-import
/// passes without a reservation (see the module doc), and so does a request its credential
/// cannot run (the access check refuses it).
pub(crate) fn reserve_at_head(
    c: &Core,
    head: &Head,
    buf: &[u8],
    tls_peer: bool,
    held: &mut Option<BodyPermit>,
) -> Result<(), Busy> {
    if head.method != Method::Post || held.is_some() {
        return Ok(());
    }
    let at = |s: Span| &buf[s.range()];
    let need = authz::need(Route::Import, head.method);
    let auth = head.authorization.map(at);
    let v = c.authz.check(need, auth, head.forwarded, false, tls_peer);
    let local = Scope::from_query(head.query.map(at)).is_local();
    if v.checked.refused.is_some() || (v.peer && local) {
        return Ok(());
    }
    *held = Some(c.node.imports.reserve(c.node.clock.now_ms())?);
    Ok(())
}

/// Answer an import refused at its head: 503, and the connection closes, since its body (up to
/// `limits.max_import_bytes`) is not read.
pub(crate) fn refuse_at_head(
    c: &Core,
    busy: Busy,
    request_id: crate::server::request_id::RequestId,
    out: &mut Vec<u8>,
) {
    let m = Meta {
        conn: crate::http::response::ConnHeader::Close,
        head_only: false,
        route: Route::Import.label(),
        method: method_label(Method::Post),
        request_id,
    };
    busy.answer(c, out, m);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_import_at_a_time_and_a_body_reservation_blocks_other_heads_only() {
        let gate = Arc::new(ImportGate::default());
        let body = gate.reserve(1_000).expect("free");
        assert_eq!(
            gate.reserve(1_500).err(),
            Some(Busy::Receiving { for_ms: 500 })
        );
        // The import whose body was reserved starts running.
        let run = gate.start(2_000).expect("a reserved body may start");
        run.progress(250, 1_000);
        drop(body);
        let busy = Busy::Running {
            for_ms: 1_000,
            done: 250,
            total: 1_000,
        };
        assert_eq!(gate.reserve(3_000).err(), Some(busy));
        assert_eq!(gate.start(3_000).err(), Some(busy));
        // 1 s for a quarter: 3 s left.
        assert_eq!(busy.retry_after_s(), 3);
        drop(run);
        let again = gate.reserve(4_000).expect("free again");
        drop(again);
        assert!(gate.start(4_000).is_ok());
    }

    #[test]
    fn retry_after_is_bounded_and_known_only_once_entries_are_done() {
        let r = |for_ms, done, total| {
            Busy::Running {
                for_ms,
                done,
                total,
            }
            .retry_after_s()
        };
        assert_eq!(r(10, 0, 0), RETRY_AFTER_UNKNOWN_S);
        assert_eq!(
            Busy::Receiving { for_ms: 1 }.retry_after_s(),
            RETRY_AFTER_UNKNOWN_S
        );
        assert_eq!(r(1, 999, 1_000), RETRY_AFTER_MIN_S);
        assert_eq!(r(100_000, 1, 1_000), RETRY_AFTER_MAX_S);
        assert_eq!(r(2_000, 500, 1_000), 2);
        let msg = Busy::Running {
            for_ms: 1_500,
            done: 10,
            total: 20,
        }
        .to_string();
        assert!(
            msg.contains("already running on this node (started 1.5 s ago, 10 of 20 entries done)"),
            "{msg}"
        );
    }
}
