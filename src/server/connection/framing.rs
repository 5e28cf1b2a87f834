//! Framing a request's body: find its bytes in the read buffer, decode a chunked body, or wait
//! for more (answering `Expect: 100-continue`, or refusing early with the final status).

use std::time::Instant;

use bytes::BytesMut;

use super::{Chunked, Closing, Conn, Step, R};
use crate::http::response::{ConnHeader, CONTINUE_100};
use crate::http::{ChunkStatus, ChunkedDecoder, Framing, Head};
use crate::server::core::Core;
use crate::server::router::{method_label, Route};

/// Where a request's body stands after [`Conn::frame_body`].
pub(super) enum Framed {
    /// The body's bytes in the read buffer (empty when chunked) and the request's total length.
    Ready(std::ops::Range<usize>, usize),
    /// Part of the body is still to come.
    NeedMore,
    /// The body cannot be accepted: answer this status and close.
    Refuse(u16, &'static str),
}

impl Conn {
    /// Find the body of the request whose head is parsed: its bytes in the read buffer (empty
    /// for a chunked body, which is decoded into `self.chunk`) and the request's total length.
    /// Synchronous on purpose: it runs for every pipelined request, and the rare outcomes that
    /// must wait or answer (more body to read, a refused body) are left to the caller.
    pub(super) fn frame_body(&mut self, head: &Head, limit: usize) -> Framed {
        let base = self.start;
        match head.framing {
            Framing::None => Framed::Ready(0..0, head.head_len),
            Framing::Length(n) if n > limit as u64 => {
                Framed::Refuse(413, "request body larger than this resource accepts")
            }
            Framing::Length(n) => {
                let end = head.head_len + n as usize;
                if self.rbuf.len() - base < end {
                    let need = end - (self.rbuf.len() - base);
                    self.rbuf.reserve(need.min(limit));
                    return Framed::NeedMore;
                }
                Framed::Ready(base + head.head_len..base + end, end)
            }
            Framing::Chunked => {
                let chunk = self.chunk.get_or_insert_with(|| Chunked {
                    dec: ChunkedDecoder::new(limit),
                    body: BytesMut::new(),
                });
                let input_start = base + head.head_len;
                match chunk.dec.decode(&self.rbuf[input_start..], &mut chunk.body) {
                    Ok(ChunkStatus::Done { consumed }) => {
                        Framed::Ready(0..0, head.head_len + consumed)
                    }
                    Ok(ChunkStatus::NeedMore { consumed }) => {
                        // Decoded bytes moved to `chunk.body`; drop their encoding so the
                        // buffer holds at most one read's worth of undecoded input.
                        self.rbuf.drain(input_start..input_start + consumed);
                        Framed::NeedMore
                    }
                    Err(e) => Framed::Refuse(e.status(), e.message()),
                }
            }
        }
    }

    /// The body is incomplete: start its deadline and answer `Expect: 100-continue` (or refuse it
    /// with the final status when the request cannot succeed, RFC 9110 §10.1.1).
    pub(super) async fn await_body(&mut self, c: &Core, head: &Head, route: Route) -> Option<Step> {
        if self.body_started.is_none() {
            // Once per request: no body is read for a request its credential cannot run.
            if let Some(step) = self.refuse_before_body(c, head, route).await {
                return Some(step);
            }
        }
        self.body_started.get_or_insert_with(Instant::now);
        if !head.expect_continue || self.sent_continue {
            return None;
        }
        let allowed = route != Route::Unknown && route.allows(head.method);
        self.resolve(c).await;
        if !allowed {
            let r = R {
                conn: ConnHeader::Close,
                head_only: false,
                route: route.label(),
                method: method_label(head.method),
                request_id: self.head_request_id(c, head),
            };
            let status = if route == Route::Unknown { 404 } else { 405 };
            c.resp.error(
                &mut self.wbuf,
                r,
                status,
                "request refused before its body was sent",
                None,
                &[("Allow", route.allow().as_bytes())],
            );
            self.closing = Some(Closing::Linger);
            return Some(Step::Close);
        }
        self.wbuf.extend_from_slice(CONTINUE_100);
        self.sent_continue = true;
        None
    }
}
