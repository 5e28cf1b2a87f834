//! Framing a request's body: find its bytes in the read buffer, decode a chunked body, or wait
//! for more (answering `Expect: 100-continue`, or refusing early with the final status).

use std::time::Instant;

use bytes::BytesMut;

use super::{Chunked, Closing, Conn, Step, Wait, R};
use crate::http::response::{ConnHeader, CONTINUE_100};
use crate::http::{ChunkStatus, ChunkedDecoder, Framing, Head};
use crate::server::core::Core;
use crate::server::router::{method_label, Route};

impl Conn {
    /// Find the body of the request whose head is parsed (or wait for it): its bytes in the read
    /// buffer (empty for a chunked body, which is decoded into `self.chunk`) and the request's
    /// total length. `Err` is the step to take instead (read more, or close after an error).
    pub(super) async fn frame_body(
        &mut self,
        c: &Core,
        head: &Head,
        route: Route,
    ) -> Result<(std::ops::Range<usize>, usize), Step> {
        let base = self.start;
        let limit = route.body_limit(c.cfg().max_value_bytes, c.cfg().limits.max_import_bytes);
        match head.framing {
            Framing::None => Ok((0..0, head.head_len)),
            Framing::Length(n) => {
                if n > limit as u64 {
                    self.resolve(c).await;
                    self.fail(c, 413, "request body larger than this resource accepts");
                    return Err(Step::Close);
                }
                let end = head.head_len + n as usize;
                if self.rbuf.len() - base < end {
                    if let Some(step) = self.await_body(c, head, route).await {
                        return Err(step);
                    }
                    let need = end - (self.rbuf.len() - base);
                    self.rbuf.reserve(need.min(limit));
                    return Err(Step::Read(Wait::Body));
                }
                Ok((base + head.head_len..base + end, end))
            }
            Framing::Chunked => {
                let chunk = self.chunk.get_or_insert_with(|| Chunked {
                    dec: ChunkedDecoder::new(limit),
                    body: BytesMut::new(),
                });
                let input_start = base + head.head_len;
                match chunk.dec.decode(&self.rbuf[input_start..], &mut chunk.body) {
                    Ok(ChunkStatus::Done { consumed }) => Ok((0..0, head.head_len + consumed)),
                    Ok(ChunkStatus::NeedMore { consumed }) => {
                        // Decoded bytes moved to `chunk.body`; drop their encoding so the
                        // buffer holds at most one read's worth of undecoded input.
                        self.rbuf.drain(input_start..input_start + consumed);
                        let step = self.await_body(c, head, route).await;
                        Err(step.unwrap_or(Step::Read(Wait::Body)))
                    }
                    Err(e) => {
                        self.resolve(c).await;
                        self.fail(c, e.status(), e.message());
                        Err(Step::Close)
                    }
                }
            }
        }
    }

    /// The body is incomplete: start its deadline and answer `Expect: 100-continue` (or refuse it
    /// with the final status when the request cannot succeed, RFC 9110 §10.1.1).
    async fn await_body(&mut self, c: &Core, head: &Head, route: Route) -> Option<Step> {
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
                request_id: 0,
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
