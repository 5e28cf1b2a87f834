//! JSON response bodies of the public API, encoded straight into the connection's write buffer.
//!
//! All errors share one shape, `{"error":"...","status":N}` plus `"key"` where a key is involved,
//! produced by [`error`]; every response names the node that produced it in `X-Cache-Node`.

use crate::http::response::{
    encode_head, json_escape, json_escaped_len, BodyLength, ConnHeader, CONTENT_JSON,
};
use crate::metrics::{MethodLabel, RouteLabel};
use crate::worker::Worker;

/// How one response must be framed and counted.
#[derive(Clone, Copy, Debug)]
pub struct Reply {
    pub conn: ConnHeader,
    /// HEAD: same headers as GET, no body.
    pub head_only: bool,
    pub route: RouteLabel,
    pub method: MethodLabel,
    /// A numeric `X-Request-Id` to echo (0 = none): peers use it to match answers to requests.
    pub request_id: u64,
}

// Small JSON bodies are built in the worker's scratch buffer (`Worker::scratch`), so error and
// acknowledgement responses allocate nothing per request.

/// Encode a complete response with `body`. Extra headers follow the standard ones.
pub fn send(
    w: &Worker,
    out: &mut Vec<u8>,
    r: Reply,
    status: u16,
    content_type: &str,
    body: &[u8],
    extra: &[(&str, &[u8])],
) {
    head(w, out, r, status, content_type, body.len(), extra);
    if !r.head_only {
        out.extend_from_slice(body);
    }
}

/// Encode the head only (the caller writes exactly `len` body bytes unless HEAD).
pub fn head(
    w: &Worker,
    out: &mut Vec<u8>,
    r: Reply,
    status: u16,
    content_type: &str,
    len: usize,
    extra: &[(&str, &[u8])],
) {
    head_framed(
        w,
        out,
        r,
        status,
        content_type,
        BodyLength::Exact(len),
        extra,
    )
}

/// Like [`head`], with any body delimitation.
pub fn head_framed(
    w: &Worker,
    out: &mut Vec<u8>,
    r: Reply,
    status: u16,
    content_type: &str,
    len: BodyLength,
    extra: &[(&str, &[u8])],
) {
    w.metrics.request(r.route, r.method, status);
    let mut date = w.date.borrow_mut();
    let mut id_buf = itoa::Buffer::new();
    let mut hdrs: [(&str, &[u8]); 5] = [
        ("X-Cache-Node", &w.node_header),
        ("", b""),
        ("", b""),
        ("", b""),
        ("", b""),
    ];
    let mut n = 1;
    if r.request_id != 0 {
        hdrs[1] = ("X-Request-Id", id_buf.format(r.request_id).as_bytes());
        n = 2;
    }
    let k = extra.len().min(hdrs.len() - n);
    hdrs[n..n + k].copy_from_slice(&extra[..k]);
    encode_head(
        out,
        status,
        content_type,
        len,
        r.conn,
        date.get(),
        &hdrs[..n + k],
    );
}

/// `{"error":msg,"status":N[,"key":k]}`
pub fn error(
    w: &Worker,
    out: &mut Vec<u8>,
    r: Reply,
    status: u16,
    msg: &str,
    key: Option<&[u8]>,
    extra: &[(&str, &[u8])],
) {
    let mut body = w.scratch.borrow_mut();
    body.clear();
    body.extend_from_slice(b"{\"error\":\"");
    json_escape(&mut body, msg.as_bytes());
    body.extend_from_slice(b"\",\"status\":");
    body.extend_from_slice(itoa::Buffer::new().format(status).as_bytes());
    if let Some(k) = key {
        body.extend_from_slice(b",\"key\":\"");
        json_escape(&mut body, k);
        body.push(b'"');
    }
    body.push(b'}');
    send(w, out, r, status, CONTENT_JSON, &body, extra);
}

/// Seconds left, rounded up, for display (`ttl` in responses is whole seconds like the request).
pub fn ttl_secs(ttl_ms: u64) -> u64 {
    ttl_ms.div_ceil(1000)
}

/// `{"key":k,"value":<stored JSON>[,"ttl":s]}` written without an intermediate copy of the value.
pub fn value(
    w: &Worker,
    out: &mut Vec<u8>,
    r: Reply,
    key: &[u8],
    value: &[u8],
    ttl_ms: Option<u64>,
) {
    let mut num = itoa::Buffer::new();
    let ttl_text: Option<&str> = match ttl_ms {
        Some(t) => Some(num.format(ttl_secs(t))),
        None => None,
    };
    let ttl_len = ttl_text.map_or(0, |t| 7 + t.len());
    let len = 8 + json_escaped_len(key) + 10 + value.len() + ttl_len + 1;
    head(w, out, r, 200, CONTENT_JSON, len, &[]);
    if r.head_only {
        return;
    }
    let before = out.len();
    out.extend_from_slice(b"{\"key\":\"");
    json_escape(out, key);
    out.extend_from_slice(b"\",\"value\":");
    out.extend_from_slice(value);
    if let Some(t) = ttl_text {
        out.extend_from_slice(b",\"ttl\":");
        out.extend_from_slice(t.as_bytes());
    }
    out.push(b'}');
    debug_assert_eq!(out.len() - before, len);
}

/// Answer to a PUT: 201 when created, 200 when replaced.
pub fn stored(
    w: &Worker,
    out: &mut Vec<u8>,
    r: Reply,
    key: &[u8],
    created: bool,
    ttl_s: Option<u64>,
) {
    let mut body = w.scratch.borrow_mut();
    body.clear();
    body.extend_from_slice(b"{\"key\":\"");
    json_escape(&mut body, key);
    body.extend_from_slice(if created {
        b"\",\"created\":true"
    } else {
        b"\",\"created\":false"
    });
    if let Some(t) = ttl_s {
        body.extend_from_slice(b",\"ttl\":");
        body.extend_from_slice(itoa::Buffer::new().format(t).as_bytes());
    }
    body.push(b'}');
    send(
        w,
        out,
        r,
        if created { 201 } else { 200 },
        CONTENT_JSON,
        &body,
        &[],
    );
}

pub fn deleted(w: &Worker, out: &mut Vec<u8>, r: Reply, key: &[u8]) {
    let mut body = w.scratch.borrow_mut();
    body.clear();
    body.extend_from_slice(b"{\"key\":\"");
    json_escape(&mut body, key);
    body.extend_from_slice(b"\",\"deleted\":true}");
    send(w, out, r, 200, CONTENT_JSON, &body, &[]);
}

pub fn miss(w: &Worker, out: &mut Vec<u8>, r: Reply, key: &[u8]) {
    error(w, out, r, 404, "key not found", Some(key), &[]);
}
