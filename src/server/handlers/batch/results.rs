//! The results of a batch, one JSON object per op, kept in one buffer until the answer is
//! written in op order.
//!
//! A result is `{"status":N,"key":k,...}`: a get adds `"value"` (or `"value_base64"` and
//! `"content_type"` for a raw value), `"ttl"` and `"etag"`; a put adds `"etag"`; a failure adds
//! `"error"`. A peer's results are copied in as they came. Results that carry values are bounded
//! together ([`MAX_ANSWER_BYTES`]): past it, a get is answered 413 in its place.

use std::ops::Range;

use base64::Engine as _;

use super::document::MAX_BATCH_OPS;
use crate::http::response::{json_escape, CONTENT_JSON};
use crate::server::core::Core;
use crate::server::respond::{etag, Meta, Responder};
use crate::storage::value::Stored;
use crate::storage::KeyReply;

/// Bytes of results one batch answer holds. A batch answer is built in memory, here and on each
/// peer that serves part of it, so this bounds what one batch can pin (the request itself is
/// bounded by `limits.max_import_bytes`); 64 MiB is hundreds of thousands of ordinary values.
pub(crate) const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;
/// Bytes a result may hold besides its key and value (status, ttl, etag, content type, an
/// error message naming nodes): bounds a peer's answer beyond [`MAX_ANSWER_BYTES`].
const RESULT_OVERHEAD: usize = 2048;

/// The largest sub-batch answer accepted from a peer (its own results are bounded the same way).
pub(crate) fn max_peer_answer(max_key_bytes: usize) -> usize {
    // A key is at most 6 bytes per byte once escaped (`\u00XX`).
    MAX_ANSWER_BYTES + MAX_BATCH_OPS * (RESULT_OVERHEAD + 6 * max_key_bytes)
}

/// What a local reply becomes (as `KeyKind` does for a single request).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Get,
    /// A read on a stand-in: a miss says nothing about the key (503, as for a single GET).
    StandInGet,
    Put,
    Delete,
}

/// The results of one batch.
pub(crate) struct Results {
    buf: Vec<u8>,
    spans: Vec<Option<Range<usize>>>,
}

impl Results {
    pub(crate) fn new(ops: usize) -> Results {
        Results {
            buf: Vec::with_capacity(ops * 64),
            spans: vec![None; ops],
        }
    }

    /// Whether `extra` more bytes of results fit the answer.
    fn fits(&self, extra: usize) -> bool {
        self.buf.len() + extra <= MAX_ANSWER_BYTES
    }

    /// Start result `i`: `{"status":N,"key":"k"`.
    fn open(&mut self, status: u16, key: Option<&[u8]>) -> usize {
        let start = self.buf.len();
        self.buf.extend_from_slice(b"{\"status\":");
        self.buf
            .extend_from_slice(itoa::Buffer::new().format(status).as_bytes());
        if let Some(k) = key {
            self.buf.extend_from_slice(b",\"key\":\"");
            json_escape(&mut self.buf, k);
            self.buf.push(b'"');
        }
        start
    }

    fn close(&mut self, i: usize, start: usize) {
        self.buf.push(b'}');
        debug_assert!(self.spans[i].is_none(), "op {i} answered twice");
        self.spans[i] = Some(start..self.buf.len());
    }

    fn etag(&mut self, version: u64) {
        if version != 0 {
            self.buf.extend_from_slice(b",\"etag\":\"");
            json_escape(&mut self.buf, &etag(version));
            self.buf.push(b'"');
        }
    }

    /// `{"status":N,"key":k,"error":msg}` (no key when the op had none).
    pub(crate) fn error(&mut self, i: usize, status: u16, key: Option<&[u8]>, msg: &str) {
        let start = self.open(status, key);
        self.buf.extend_from_slice(b",\"error\":\"");
        json_escape(&mut self.buf, msg.as_bytes());
        self.buf.push(b'"');
        self.close(i, start);
    }

    /// A get's hit, from the stored form of its value.
    pub(crate) fn value(
        &mut self,
        i: usize,
        key: &[u8],
        stored: &[u8],
        ttl_ms: Option<u64>,
        version: u64,
    ) {
        let value = Stored::decode(stored);
        let size = match value {
            Stored::Json(j) => j.len(),
            Stored::Raw { content_type, body } => {
                base64::encoded_len(body.len(), true).unwrap_or(usize::MAX) + content_type.len()
            }
        };
        if !self.fits(size.saturating_add(key.len())) {
            return self.too_large(i, key);
        }
        let start = self.open(200, Some(key));
        match value {
            Stored::Json(j) => {
                self.buf.extend_from_slice(b",\"value\":");
                self.buf.extend_from_slice(j);
            }
            Stored::Raw { content_type, body } => {
                self.buf.extend_from_slice(b",\"value_base64\":\"");
                let at = self.buf.len();
                self.buf.resize(at + size - content_type.len(), 0);
                let written = base64::engine::general_purpose::STANDARD
                    .encode_slice(body, &mut self.buf[at..])
                    .unwrap_or(0);
                self.buf.truncate(at + written);
                self.buf.extend_from_slice(b"\",\"content_type\":\"");
                json_escape(&mut self.buf, content_type);
                self.buf.push(b'"');
            }
        }
        if let Some(t) = ttl_ms {
            self.buf.extend_from_slice(b",\"ttl\":");
            let secs = Responder::ttl_secs(t);
            self.buf
                .extend_from_slice(itoa::Buffer::new().format(secs).as_bytes());
        }
        self.etag(version);
        self.close(i, start);
    }

    /// A value that does not fit the answer any more.
    #[cold]
    fn too_large(&mut self, i: usize, key: &[u8]) {
        let msg = format!(
            "the batch answer would exceed {} MiB with this value; get it in a smaller batch or on its own",
            MAX_ANSWER_BYTES >> 20
        );
        self.error(i, 413, Some(key), &msg);
    }

    /// A put's acknowledgement: 201 when created, 200 when replaced.
    pub(crate) fn stored(&mut self, i: usize, key: &[u8], created: bool, version: u64) {
        let start = self.open(if created { 201 } else { 200 }, Some(key));
        self.etag(version);
        self.close(i, start);
    }

    pub(crate) fn deleted(&mut self, i: usize, key: &[u8]) {
        let start = self.open(200, Some(key));
        self.close(i, start);
    }

    pub(crate) fn miss(&mut self, i: usize, key: &[u8]) {
        self.error(i, 404, Some(key), "key not found");
    }

    /// A result from a peer's sub-batch answer, as it came (a JSON object).
    pub(crate) fn copied(&mut self, i: usize, key: &[u8], result: &[u8]) {
        if !self.fits(result.len()) {
            return self.too_large(i, key);
        }
        let start = self.buf.len();
        self.buf.extend_from_slice(result);
        debug_assert!(self.spans[i].is_none(), "op {i} answered twice");
        self.spans[i] = Some(start..self.buf.len());
    }

    /// The result of a key operation run on this node (as `cache::encode` answers a single one).
    pub(crate) fn reply(
        &mut self,
        c: &Core,
        i: usize,
        key: &[u8],
        kind: Kind,
        reply: KeyReply,
        version: u64,
    ) {
        match (kind, reply) {
            (
                _,
                KeyReply::Value {
                    value,
                    ttl_ms,
                    version,
                },
            ) => self.value(i, key, &value, ttl_ms, version),
            (Kind::StandInGet, KeyReply::Miss) => {
                let msg = format!(
                    "no replica of the key is reachable from node {}; its value is unknown here",
                    c.node.cluster.self_id()
                );
                self.error(i, 503, Some(key), &msg);
            }
            (_, KeyReply::Deleted(true)) => self.deleted(i, key),
            (_, KeyReply::Miss | KeyReply::Deleted(false)) => self.miss(i, key),
            (_, KeyReply::Stored { created }) => self.stored(i, key, created, version),
            // A newer write is already there: acknowledged, as for a single write.
            (Kind::Put, KeyReply::Superseded) => self.stored(i, key, false, version),
            (_, KeyReply::Superseded) => self.deleted(i, key),
            (_, KeyReply::TooLarge) => self.error(
                i,
                507,
                Some(key),
                "entry larger than this node's memory limit per core",
            ),
            // A batch sends only gets, puts and deletes: no other reply can come back.
            #[allow(unreachable_patterns)]
            (_, _) => self.error(i, 500, Some(key), "unexpected reply from the key's core"),
        }
    }

    /// Write the answer: 200 `{"results":[...]}` in op order.
    pub(crate) fn answer(mut self, c: &Core, out: &mut Vec<u8>, m: Meta) {
        for i in 0..self.spans.len() {
            if self.spans[i].is_none() {
                debug_assert!(false, "op {i} has no result");
                self.error(i, 500, None, "the op was not answered");
            }
        }
        let n = self.spans.len();
        let body: usize = self.spans.iter().flatten().map(|s| s.len()).sum();
        let len = b"{\"results\":[".len() + body + n.saturating_sub(1) + b"]}".len();
        c.resp.head(out, m, 200, CONTENT_JSON, len, &[]);
        if m.head_only {
            return;
        }
        out.reserve(len);
        out.extend_from_slice(b"{\"results\":[");
        for (j, span) in self.spans.iter().flatten().enumerate() {
            if j > 0 {
                out.push(b',');
            }
            out.extend_from_slice(&self.buf[span.clone()]);
        }
        out.extend_from_slice(b"]}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(r: &Results, i: usize) -> &str {
        let s = r.spans[i].clone().expect("answered");
        std::str::from_utf8(&r.buf[s]).expect("utf-8")
    }

    #[test]
    fn results_are_json_objects_with_status_first() {
        let mut r = Results::new(5);
        r.value(0, b"a\"b", b"{\"x\":1}", Some(1500), 0xab);
        let mut raw = Vec::new();
        crate::storage::value::encode_raw(b"image/png", b"\x89PNG", &mut raw);
        r.value(1, b"img", &raw, None, 1);
        r.stored(2, b"p", true, 2);
        r.miss(3, b"m");
        r.error(4, 400, None, "bad \"op\"");
        assert_eq!(
            text(&r, 0),
            r#"{"status":200,"key":"a\"b","value":{"x":1},"ttl":2,"etag":"\"00000000000000ab\""}"#
        );
        assert_eq!(
            text(&r, 1),
            r#"{"status":200,"key":"img","value_base64":"iVBORw==","content_type":"image/png","etag":"\"0000000000000001\""}"#
        );
        assert_eq!(
            text(&r, 2),
            r#"{"status":201,"key":"p","etag":"\"0000000000000002\""}"#
        );
        assert_eq!(
            text(&r, 3),
            r#"{"status":404,"key":"m","error":"key not found"}"#
        );
        assert_eq!(text(&r, 4), r#"{"status":400,"error":"bad \"op\""}"#);
        for i in 0..5 {
            serde_json::from_str::<serde_json::Value>(text(&r, i)).expect("valid JSON");
        }
    }

    #[test]
    fn values_past_the_answer_bound_are_refused_in_place() {
        let mut r = Results::new(2);
        r.buf.resize(MAX_ANSWER_BYTES - 10, b' ');
        r.value(0, b"k", b"\"0123456789\"", None, 1);
        assert!(text(&r, 0).starts_with(r#"{"status":413,"key":"k","error":"the batch answer"#));
        r.copied(
            1,
            b"k2",
            br#"{"status":200,"key":"k2","value":"0123456789"}"#,
        );
        assert!(text(&r, 1).starts_with(r#"{"status":413,"key":"k2""#));
    }
}
