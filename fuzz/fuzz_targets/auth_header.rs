//! The authentication path on arbitrary bytes: the first byte picks a route and method, the rest
//! is an `Authorization` value. Never panics; `bearer` returns a trimmed, non-empty part of its
//! input; `ct_eq` is plain equality; a request carrying the value parses with the value's
//! (trimmed) bytes or is refused with a 4xx/5xx; the access check answers 200, 401 or 403,
//! 403 only for a known token of another class, 200 for the cluster secret everywhere, and a
//! request without the secret never counts as a peer's.
#![no_main]

use dcache::auth::{bearer, ct_eq};
use dcache::fuzz_api::{access_status, AUTH_TOKENS};
use dcache_http::{parse_head, Limits, Method, Parsed};
use libfuzzer_sys::fuzz_target;

/// Every class of route, with a method it allows.
const ROUTES: [(&str, Method); 10] = [
    ("/api/v1/health", Method::Get),
    ("/api/v1/cache/k", Method::Get),
    ("/api/v1/cache/k", Method::Head),
    ("/api/v1/cache/k", Method::Put),
    ("/api/v1/cache/k", Method::Delete),
    ("/admin/metrics", Method::Get),
    ("/admin/export", Method::Get),
    ("/admin/import", Method::Post),
    ("/internal/cluster/health", Method::Get),
    ("/internal/sync/hints", Method::Post),
];

fn method_name(m: Method) -> &'static str {
    match m {
        Method::Get => "GET",
        Method::Head => "HEAD",
        Method::Put => "PUT",
        Method::Post => "POST",
        Method::Delete => "DELETE",
        _ => "OPTIONS",
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, value)) = data.split_first() else {
        return;
    };
    if let Some(t) = bearer(value) {
        assert!(!t.is_empty());
        let at = t.as_ptr() as usize - value.as_ptr() as usize;
        assert!(at >= 7 && at + t.len() <= value.len(), "token inside the value");
        assert!(!t[0].is_ascii_whitespace() && !t[t.len() - 1].is_ascii_whitespace());
    }
    let half = value.len() / 2;
    assert_eq!(ct_eq(&value[..half], &value[half..]), value[..half] == value[half..]);

    let (path, method) = ROUTES[pick as usize % ROUTES.len()];
    let mut req = format!("{} {path} HTTP/1.1\r\nHost: a\r\nAuthorization: ", method_name(method))
        .into_bytes();
    req.extend_from_slice(value);
    req.extend_from_slice(b"\r\n\r\n");
    let head = match parse_head(&req, &Limits::default()) {
        Ok(Parsed::Complete(h)) => h,
        Ok(Parsed::Partial) => return,
        Err(e) => {
            assert!((400..=505).contains(&e.status()), "{e:?}");
            return;
        }
    };
    let Some(a) = head.authorization else {
        return; // the value ended the field section early (it held a CRLF CRLF)
    };
    assert!(a.end() <= head.head_len && a.len() <= dcache_http::MAX_AUTHORIZATION_BYTES);
    let sent = &req[a.range()];
    if !value.contains(&b'\n') && !value.contains(&b'\r') {
        assert_eq!(sent, value.trim_ascii(), "the value as sent, trimmed");
    }
    let (status, peer) = access_status(path.as_bytes(), head.method, Some(sent));
    assert!(matches!(status, 200 | 401 | 403), "{status}");
    let token = bearer(sent);
    let known = |t: &[u8]| AUTH_TOKENS.iter().any(|(_, k)| k.as_bytes() == t);
    if status == 403 {
        assert!(token.is_some_and(known), "403 only for a known token");
    }
    let secret = AUTH_TOKENS[4].1.as_bytes();
    let is_secret = token == Some(secret);
    assert_eq!(peer, is_secret, "a peer is whoever sent the cluster secret");
    if is_secret {
        assert_eq!(status, 200, "the cluster secret opens every route");
    }
    if token.is_none_or(|t| !known(t)) && path != "/api/v1/health" {
        assert_eq!(status, 401, "no valid token on a protected route");
    }
    let (bare, bare_peer) = access_status(path.as_bytes(), head.method, None);
    assert!(!bare_peer && (bare == 200) == (path == "/api/v1/health"));
});
