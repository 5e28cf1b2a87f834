//! Answers of conditional requests and counters (issue 12): 412 with the current `ETag`, and the
//! answer of an increment. Beside `respond.rs`, whose value answers (200, 304) they complement.

use super::respond::{etag, Meta, Responder};
use crate::http::response::{json_escape, json_escaped_len, CONTENT_JSON};

impl Responder {
    /// 412 Precondition Failed: the usual error JSON with the key, and the `ETag` of the live
    /// value (`current`) when there is one, so a client's compare-and-set loop can retry with it.
    pub(crate) fn precondition_failed(
        &self,
        out: &mut Vec<u8>,
        r: Meta,
        key: &[u8],
        current: Option<u64>,
    ) {
        let (msg, tag) = match current {
            Some(v) => (
                "precondition failed: the key's current version (ETag) does not satisfy If-Match / If-None-Match; nothing changed",
                etag(v),
            ),
            None => (
                "precondition failed: the key has no value, so If-Match cannot match; nothing changed",
                [0; 18],
            ),
        };
        let with_tag: &[(&str, &[u8])] = &[("ETag", &tag)];
        let extra = if current.is_some() { with_tag } else { &[] };
        self.error(out, r, 412, msg, Some(key), extra);
    }

    /// An increment's answer: 201 when it created the key, else 200, with
    /// `{"key":k,"value":N}` and the new `ETag`.
    pub(crate) fn counted(
        &self,
        out: &mut Vec<u8>,
        r: Meta,
        key: &[u8],
        value: i64,
        created: bool,
        version: u64,
    ) {
        let tag = etag(version);
        let mut num = itoa::Buffer::new();
        let n = num.format(value).as_bytes();
        let len = COUNTED_KEY.len() + json_escaped_len(key) + COUNTED_VALUE.len() + n.len() + 1;
        let status = if created { 201 } else { 200 };
        self.head(out, r, status, CONTENT_JSON, len, &[("ETag", &tag)]);
        if r.head_only {
            return;
        }
        let before = out.len();
        out.extend_from_slice(COUNTED_KEY);
        json_escape(out, key);
        out.extend_from_slice(COUNTED_VALUE);
        out.extend_from_slice(n);
        out.push(b'}');
        debug_assert_eq!(out.len() - before, len);
    }
}

const COUNTED_KEY: &[u8] = b"{\"key\":\"";
const COUNTED_VALUE: &[u8] = b"\",\"value\":";
