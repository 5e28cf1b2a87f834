//! Streaming `GET /admin/export` on a client connection: chunked for HTTP/1.1, until close for
//! HTTP/1.0; memory held is one page of entries.

use std::rc::Rc;
use std::time::Duration;

use super::{Closing, Conn, Stream, R};
use crate::http::response::{encode_chunk, BodyLength, ConnHeader, CONTENT_JSON, LAST_CHUNK};
use crate::server::core::Core;
use crate::server::document::Scope;
use crate::server::handlers;

impl Conn {
    /// Stream the export document: chunked for HTTP/1.1; memory held is one page of entries.
    pub(super) async fn export<S: Stream>(
        &mut self,
        c: &Rc<Core>,
        stream: &mut S,
        r: R,
        scope: Scope,
        http10: bool,
        write_timeout: Duration,
    ) -> Result<(), ()> {
        // HTTP/1.0 has no chunked encoding: stream until close instead.
        let chunked = !http10;
        let r = if chunked {
            r
        } else {
            R {
                conn: ConnHeader::Close,
                ..r
            }
        };
        if !chunked {
            self.closing = Some(Closing::Graceful);
        }
        c.resp.head_framed(
            &mut self.wbuf,
            r,
            200,
            CONTENT_JSON,
            if chunked {
                BodyLength::Chunked
            } else {
                BodyLength::UntilClose
            },
            &[],
        );
        if r.head_only {
            if chunked {
                self.wbuf.extend_from_slice(LAST_CHUNK);
            }
            return if self.flush(stream, write_timeout).await {
                Ok(())
            } else {
                Err(())
            };
        }
        let mut exporter = handlers::export::Exporter::new(scope);
        let mut piece = Vec::with_capacity(64 * 1024);
        loop {
            piece.clear();
            let more = match exporter.next(c, &mut piece).await {
                Ok(more) => more,
                // A peer failed mid-export: end the response without its terminator so the client
                // sees a truncated transfer, never a silently incomplete backup.
                Err(e) => {
                    c.resp.with_log_ids(r.request_id, |request_id, trace_id| {
                        crate::warn!(request_id = request_id, trace_id = trace_id; "export aborted: {e}")
                    });
                    let _ = self.flush(stream, write_timeout).await;
                    return Err(());
                }
            };
            if chunked {
                encode_chunk(&mut self.wbuf, &piece);
            } else {
                self.wbuf.extend_from_slice(&piece);
            }
            if !more {
                if chunked {
                    self.wbuf.extend_from_slice(LAST_CHUNK);
                }
                return if self.flush(stream, write_timeout).await {
                    Ok(())
                } else {
                    Err(())
                };
            }
            if !self.flush(stream, write_timeout).await {
                return Err(());
            }
        }
    }
}
