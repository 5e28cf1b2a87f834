//! The request-id part of the [`Responder`]: which `X-Request-Id` an answer echoes, the
//! `Retry-After` every 503 carries, and the log lines an answer writes (access sample, 5xx),
//! each with the request's `request_id` and `trace_id` (see `server::request_id`).

use super::{Meta, Responder};
use crate::config::LogLevel;
use crate::http::response::{encode_head, BodyLength};
use crate::log::{admit, LogKind, Value};
use crate::server::request_id::{self, RequestId};

/// Most extra headers one answer passes to `head_framed` (a value's ETag, Cache-Control and
/// Last-Modified; Allow; WWW-Authenticate; Retry-After), with room to spare: the head is
/// assembled in a stack array of this many plus the fixed ones, so nothing is allocated.
pub(crate) const MAX_EXTRA_HEADERS: usize = 6;
/// Headers `head_framed` adds itself: `X-Cache-Node`, `X-Request-Id`, `Retry-After` on a 503.
const OWN_HEADERS: usize = 3;
/// The head of an answer with no id to echo, not a 503, is assembled in an array of this many:
/// `X-Cache-Node` and up to 4 extras (a value's caching headers), as before request ids were
/// echoed, so the usual answer pays nothing for them.
pub(super) const FAST_HEADERS: usize = 5;

/// What a 503 of ours carries when its site gave no `Retry-After` of its own: every 503 this
/// node sends is temporary (overloaded, shutting down, catching up, no replica reachable), and
/// one second is how soon the usual cause (a probe round, a drain, a full queue) can change.
pub(crate) const RETRY_AFTER: (&str, &[u8]) = ("Retry-After", b"1");

/// Whether an answer with `status` and `extra` headers still needs [`RETRY_AFTER`].
#[inline]
pub(crate) fn needs_retry_after(status: u16, extra: &[(&str, &[u8])]) -> bool {
    status == 503
        && !extra
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("retry-after"))
}

impl Responder {
    /// `head_framed` for an answer that echoes a request id, is a 503 or has many extras.
    #[inline(never)]
    pub(super) fn head_with_ids(
        &self,
        out: &mut Vec<u8>,
        r: Meta,
        status: u16,
        content_type: &str,
        len: BodyLength,
        extra: &[(&str, &[u8])],
    ) {
        let ctx = self.ids.get(r.request_id);
        let mut num = itoa::Buffer::new();
        let mut hdrs = [("", &b""[..]); OWN_HEADERS + MAX_EXTRA_HEADERS];
        hdrs[0] = ("X-Cache-Node", &self.node_header);
        let mut n = 1;
        if let Some(id) = request_id::echoed(r.request_id, ctx.as_deref(), &mut num) {
            hdrs[n] = ("X-Request-Id", id);
            n += 1;
        }
        let k = extra.len().min(MAX_EXTRA_HEADERS);
        hdrs[n..n + k].copy_from_slice(&extra[..k]);
        n += k;
        if needs_retry_after(status, extra) {
            hdrs[n] = RETRY_AFTER;
            n += 1;
        }
        let mut date = self.date.borrow_mut();
        encode_head(
            out,
            status,
            content_type,
            len,
            r.conn,
            self.date_of(&mut date),
            &hdrs[..n],
        );
    }

    /// The sampled access line of one answer.
    #[cold]
    pub(super) fn log_access(&self, r: Meta, status: u16) {
        let ctx = self.ids.get(r.request_id);
        let mut num = itoa::Buffer::new();
        let (request_id, trace_id) = request_id::log_fields(r.request_id, ctx.as_deref(), &mut num);
        crate::info!(
            method = r.method.as_str(),
            route = r.route.as_str(),
            status = status,
            request_id = request_id,
            trace_id = trace_id;
            "access"
        );
    }

    /// Call `f` with the `request_id` and `trace_id` log fields of the request `id`, for a line
    /// a request causes outside an answer (an export aborted midway).
    pub(crate) fn with_log_ids<T>(
        &self,
        id: RequestId,
        f: impl FnOnce(Value<'_>, Value<'_>) -> T,
    ) -> T {
        let ctx = self.ids.get(id);
        let mut num = itoa::Buffer::new();
        let (request_id, trace_id) = request_id::log_fields(id, ctx.as_deref(), &mut num);
        f(request_id, trace_id)
    }

    /// A WARN line for a 5xx answer, so the operator can match it to the client's complaint by
    /// its request or trace id: `peer` names the node a failed forward went to. A failure can
    /// repeat for every request (a dead owner fails every forward), so at most one line per
    /// second per kind per core gets through, carrying how many were held back.
    #[cold]
    pub(crate) fn log_error(
        &self,
        r: Meta,
        status: u16,
        msg: &str,
        key: Option<&[u8]>,
        peer: Option<&str>,
    ) {
        if !crate::log::enabled(LogLevel::Warn) {
            return;
        }
        let kind = match peer {
            Some(_) => LogKind::ForwardFailed,
            None => LogKind::ErrorAnswered,
        };
        let Some(suppressed) = admit(kind) else {
            return;
        };
        let ctx = self.ids.get(r.request_id);
        let mut num = itoa::Buffer::new();
        let (request_id, trace_id) = request_id::log_fields(r.request_id, ctx.as_deref(), &mut num);
        crate::warn!(
            peer = peer,
            status = status,
            method = r.method.as_str(),
            route = r.route.as_str(),
            key = key,
            request_id = request_id,
            trace_id = trace_id,
            suppressed = (suppressed > 0).then_some(suppressed);
            "answered {status}: {msg}"
        );
    }
}

#[cfg(test)]
#[path = "respond_ids_tests.rs"]
mod tests;
