//! Singleflight for forwards: which queued forward an identical GET may join (see the batcher, `super`).
//!
//! A GET (or HEAD) of one key forwarded to a peer whose queue on this core already holds the same
//! request, not yet written to the socket, takes that request's answer instead of a place on the
//! wire of its own: under a hot key, one forward then carries the reads of many client
//! connections. "The same request" is decided exactly, never by a hash alone: same method, path
//! and query, no body, no replica version, and the same header lines apart from the request's
//! ids ([`CLIENT_REQUEST_ID`], `traceparent`), which do not change the answer (each joined
//! request still gets its own response with its own `X-Request-Id`, encoded by the server layer
//! from the shared answer). A request with a condition (`If-Match`, `If-None-Match`) never
//! joins nor is joined: its answer (412, 304) depends on what its client holds.
//!
//! Nor may it join one queued before a write (any request that is not a GET or HEAD) that is
//! still queued behind it: the joined answer would predate that write, and a client that
//! pipelines a PUT then a GET of a key on one connection reads its PUT, as without joining.
//!
//! Why only while queued: a forward already written may have been read by the owner before a
//! write that the owner acknowledged after. A GET that starts after that acknowledgement must
//! not return the older value, so it must not join a forward sent before it started. A queued
//! forward is sent after every request that joined it started, and the owner reads the key only
//! once it has the request, so the value it answers is at least as new as any write acknowledged
//! before any of the joined requests started.

use crate::cluster::wire::{Outgoing, CLIENT_REQUEST_ID};
use crate::http::Method;

/// Queued forwards (newest first) searched for one to join: a forward of a hot key finds an
/// identical one among the last few queued, and the bound keeps the search to at most this many
/// integer compares however long the queue grows (`cluster.max_queued_per_peer`).
pub(super) const JOIN_SCAN: usize = 64;

/// Header lines that name the request, not what is asked: two requests that differ only in
/// these get the same answer.
const CONTEXT_LINES: [&[u8]; 2] = [CLIENT_REQUEST_ID.as_bytes(), b"traceparent"];

/// Header lines that make an answer depend on what the client already holds.
const CONDITIONS: [&[u8]; 2] = [b"If-Match", b"If-None-Match"];

/// The join key of `req`: 0 when it may not join nor be joined, else a hash of its method,
/// path and query (a quick filter; [`same`] decides).
pub(super) fn key(req: &Outgoing<'_>) -> u64 {
    if !matches!(req.method, Method::Get | Method::Head)
        || req.body.is_some()
        || req.version.is_some()
        || lines(req.headers).any(|(name, _)| CONDITIONS.contains(&name))
    {
        return 0;
    }
    let seed = req.method as u64;
    let mut h = xxhash_rust::xxh64::xxh64(req.path, seed);
    if let Some(q) = req.query {
        h ^= xxhash_rust::xxh64::xxh64(q, seed.wrapping_add(1)).rotate_left(17);
    }
    h.max(1)
}

/// Whether `queued`, the bytes of a queued bodiless request as serialized by
/// [`serialize`](crate::cluster::wire::serialize) whose passed-on header lines are its last `lines_len` bytes before
/// the blank line, asks exactly what `req` asks.
pub(super) fn same(queued: &[u8], lines_len: usize, req: &Outgoing<'_>) -> bool {
    let Some(head_end) = queued.len().checked_sub(2) else {
        return false;
    };
    let Some(lines_start) = head_end.checked_sub(lines_len) else {
        return false;
    };
    request_line_is(queued, req) && same_lines(&queued[lines_start..head_end], req.headers)
}

/// `queued` starts with `req`'s request line (method, path, query).
fn request_line_is(queued: &[u8], req: &Outgoing<'_>) -> bool {
    let mut rest = queued;
    let mut eat = |part: &[u8]| match rest.strip_prefix(part) {
        Some(r) => {
            rest = r;
            true
        }
        None => false,
    };
    let method: &[u8] = match req.method {
        Method::Get => b"GET ",
        Method::Head => b"HEAD ",
        _ => return false,
    };
    eat(method)
        && eat(req.path)
        && match req.query {
            Some(q) => eat(b"?") && eat(q),
            None => true,
        }
        && eat(b" HTTP/1.1\r\n")
}

/// The two blocks of header lines are equal once the context lines are left out.
fn same_lines(a: &[u8], b: &[u8]) -> bool {
    let meaningful = |block| lines(block).filter(|(name, _)| !CONTEXT_LINES.contains(name));
    meaningful(a).eq(meaningful(b))
}

/// `(name, whole line)` of each `Name: value\r\n` line.
fn lines(block: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    block
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|line| {
            let name = line.split(|&b| b == b':').next().unwrap_or(line);
            (name, line)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get<'a>(path: &'a [u8], headers: &'a [u8]) -> Outgoing<'a> {
        Outgoing {
            method: Method::Get,
            path,
            query: None,
            body: None,
            version: None,
            content_type: None,
            headers,
        }
    }

    fn serialized(req: &Outgoing<'_>, id: u64) -> Vec<u8> {
        let mut out = Vec::new();
        crate::cluster::wire::serialize(&mut out, req, "h:1", "a", id, Some(b"Bearer s"));
        out
    }

    #[test]
    fn requests_differing_only_in_their_ids_are_the_same() {
        let a = get(b"/api/v1/cache/k", b"X-Cache-Client-Request-Id: one\r\n");
        let b = get(
            b"/api/v1/cache/k",
            b"traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n",
        );
        assert_eq!(key(&a), key(&b));
        assert_ne!(key(&a), 0);
        assert!(same(&serialized(&a, 1), a.headers.len(), &b));
        assert!(same(&serialized(&b, 2), b.headers.len(), &a));
    }

    #[test]
    fn another_key_method_query_or_header_is_not_the_same() {
        let a = get(b"/api/v1/cache/k", b"");
        let q = serialized(&a, 1);
        assert!(!same(&q, 0, &get(b"/api/v1/cache/k2", b"")));
        assert!(!same(&q, 0, &get(b"/api/v1/cache/", b"")));
        let head = Outgoing {
            method: Method::Head,
            ..get(b"/api/v1/cache/k", b"")
        };
        assert!(!same(&q, 0, &head));
        assert_ne!(key(&head), key(&a));
        let query = Outgoing {
            query: Some(b"x=1"),
            ..get(b"/api/v1/cache/k", b"")
        };
        assert!(!same(&q, 0, &query));
        assert!(same(&serialized(&query, 3), 0, &query));
        let lease = get(b"/api/v1/cache/k", b"X-Cache-Lease: 1\r\n");
        assert!(!same(&q, 0, &lease));
        assert!(!same(&serialized(&lease, 4), lease.headers.len(), &a));
        assert!(same(&serialized(&lease, 4), lease.headers.len(), &lease));
    }

    #[test]
    fn conditions_bodies_and_writes_never_join() {
        assert_eq!(key(&get(b"/k", b"If-None-Match: \"1\"\r\n")), 0);
        assert_eq!(key(&get(b"/k", b"If-Match: *\r\n")), 0);
        for method in [Method::Put, Method::Delete, Method::Post] {
            assert_eq!(
                key(&Outgoing {
                    method,
                    ..get(b"/k", b"")
                }),
                0
            );
        }
        let with_body = Outgoing {
            body: Some(b""),
            ..get(b"/k", b"")
        };
        assert_eq!(key(&with_body), 0);
        let copy = Outgoing {
            version: Some(7),
            ..get(b"/k", b"")
        };
        assert_eq!(key(&copy), 0);
    }
}
