//! One node with every token class configured: each class of route with no token, a wrong one,
//! and each class's token; metrics open or closed; what the refusals look like and count.

use crate::cluster_common::{call, metric};
use crate::common::{run_single, Resp};
use crate::tokens::*;

/// The routes of every class, with a body where the route takes one.
const ROUTES: &[(&str, &str, Option<&str>)] = &[
    ("GET", "/", None),
    ("GET", "/api/v1/health", None),
    ("OPTIONS", "/admin/import", None),
    ("GET", "/api/v1/cache/k", None),
    ("HEAD", "/api/v1/cache/k", None),
    ("PUT", "/api/v1/cache/k", Some("{\"value\":1}")),
    ("DELETE", "/api/v1/cache/k", None),
    ("GET", "/admin/metrics", None),
    ("GET", "/metrics", None),
    ("GET", "/admin/cluster", None),
    ("GET", "/admin/export", None),
    ("POST", "/admin/import", Some("[]")),
    ("GET", "/internal/cluster/health", None),
    ("POST", "/internal/sync/hints?node=x", Some("")),
];

/// What each credential gets on each route above: 0 = served (neither 401 nor 403).
#[rustfmt::skip]
const EXPECTED: [[u16; 7]; 14] = [
    //  none wrong client read metrics admin secret
    [0,   0,   0,   0,   0,   0,   0],   // GET /
    [0,   0,   0,   0,   0,   0,   0],   // health
    [0,   0,   0,   0,   0,   0,   0],   // OPTIONS
    [401, 401, 0,   0,   403, 0,   0],   // GET key
    [401, 401, 0,   0,   403, 0,   0],   // HEAD key
    [401, 401, 0,   403, 403, 0,   0],   // PUT key
    [401, 401, 0,   403, 403, 0,   0],   // DELETE key
    [401, 401, 403, 403, 0,   0,   0],   // /admin/metrics
    [401, 401, 403, 403, 0,   0,   0],   // /metrics
    [401, 401, 403, 403, 403, 0,   0],   // /admin/cluster
    [401, 401, 403, 403, 403, 0,   0],   // /admin/export
    [401, 401, 403, 403, 403, 0,   0],   // /admin/import
    [401, 401, 403, 403, 403, 403, 0],   // /internal/cluster/health
    [401, 401, 403, 403, 403, 403, 0],   // /internal/sync/hints
];

const CREDENTIALS: [Option<&str>; 7] = [
    None,
    Some(WRONG),
    Some(CLIENT),
    Some(READ),
    Some(METRICS),
    Some(ADMIN),
    Some(SECRET),
];

fn send(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
    token: Option<&str>,
) -> Resp {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    call(addr, method, path, &headers, body.map(str::as_bytes))
}

pub fn every_class_with_every_credential() {
    let t = Tokens::new("classes");
    let node = run_single(2, &t.all());
    let addr = node.addr();
    let (mut unauthorized, mut forbidden) = (0, 0);
    for (route, want_row) in ROUTES.iter().zip(EXPECTED) {
        let (method, path, body) = *route;
        for (token, want) in CREDENTIALS.iter().zip(want_row) {
            let ctx = format!("{method} {path} with {token:?}");
            let r = send(addr, method, path, body, *token);
            match want {
                0 => assert!(
                    r.status != 401 && r.status != 403,
                    "{ctx}: refused {} {}",
                    r.status,
                    r.text()
                ),
                401 => {
                    unauthorized += 1;
                    let error = token.map(|_| "invalid_token");
                    assert_refused(&r, 401, error, &ctx);
                }
                _ => {
                    forbidden += 1;
                    assert_refused(&r, 403, Some("insufficient_scope"), &ctx);
                }
            }
        }
    }
    // A few served answers in full: the token does not change what the route does.
    let bearer = |t: &str| format!("Bearer {t}");
    let put = call(
        addr,
        "PUT",
        "/api/v1/cache/k2",
        &[("Authorization", &bearer(CLIENT))],
        Some(b"{\"value\":7}"),
    );
    assert_eq!(put.status, 201, "{}", put.text());
    let get = call(
        addr,
        "GET",
        "/api/v1/cache/k2",
        &[("Authorization", &bearer(READ))],
        None,
    );
    assert_eq!((get.status, get.json()["value"].as_i64()), (200, Some(7)));
    // The refusals were counted (read with the metrics token, which is not refused).
    let m = send(addr, "GET", "/admin/metrics", None, Some(METRICS)).text();
    assert_eq!(
        metric(&m, "cache_auth_unauthorized_total"),
        Some(unauthorized as f64)
    );
    assert_eq!(
        metric(&m, "cache_auth_forbidden_total"),
        Some(forbidden as f64)
    );
    assert!(node.stop());
}

/// A header that is not `Bearer <token>`, two Authorization headers, an overlong one, and the
/// messages of each refusal.
pub fn malformed_credentials() {
    let t = Tokens::new("malformed");
    let node = run_single(1, &t.all());
    let addr = node.addr();
    let basic = call(
        addr,
        "GET",
        "/admin/cluster",
        &[("Authorization", "Basic YWRtaW46YWRtaW4=")],
        None,
    );
    assert_refused(&basic, 401, Some("invalid_request"), "Basic");
    assert!(basic.text().contains("Bearer <token>"), "{}", basic.text());
    let none = call(addr, "GET", "/admin/cluster", &[], None);
    assert!(
        none.json()["error"]
            .as_str()
            .unwrap()
            .contains("admin token (auth.admin_token_file)"),
        "{}",
        none.text()
    );
    let read_put = send(
        addr,
        "PUT",
        "/api/v1/cache/x",
        Some("{\"value\":1}"),
        Some(READ),
    );
    assert!(
        read_put.text().contains("auth.client_token_file"),
        "{}",
        read_put.text()
    );
    let internal = send(addr, "GET", "/internal/cluster/health", None, Some(ADMIN));
    assert!(
        internal.text().contains("auth.cluster_secret_file"),
        "{}",
        internal.text()
    );
    // Scheme case-insensitive, whitespace around the token tolerated.
    let lower = call(
        addr,
        "GET",
        "/admin/cluster",
        &[("Authorization", &format!("bearer   {ADMIN} "))],
        None,
    );
    assert_eq!(lower.status, 200, "{}", lower.text());
    let a = format!("Bearer {ADMIN}");
    let twice = call(
        addr,
        "GET",
        "/admin/cluster",
        &[("Authorization", &a), ("Authorization", &a)],
        None,
    );
    assert_eq!(twice.status, 400, "{}", twice.text());
    assert!(twice.text().contains("duplicate Authorization"));
    let long = format!("Bearer {}", "x".repeat(5000));
    let over = call(
        addr,
        "GET",
        "/admin/cluster",
        &[("Authorization", &long)],
        None,
    );
    assert_eq!(over.status, 400, "{}", over.text());
    assert!(node.stop());
}

/// No metrics token: `/admin/metrics` stays open (the Prometheus setup of the deployment guide)
/// while the admin routes need the admin token; with one, metrics need it (or admin).
pub fn metrics_open_or_closed() {
    let t = Tokens::new("metrics");
    let open = run_single(1, &t.yaml(&[("admin_token_file", ADMIN)]));
    let r = send(open.addr(), "GET", "/admin/metrics", None, None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(send(open.addr(), "GET", "/metrics", None, None).status, 200);
    assert_refused(
        &send(open.addr(), "GET", "/admin/cluster", None, None),
        401,
        None,
        "cluster",
    );
    // Cache routes are open without client tokens; /internal takes the admin token here.
    assert_eq!(
        send(
            open.addr(),
            "PUT",
            "/api/v1/cache/a",
            Some("{\"value\":1}"),
            None
        )
        .status,
        201
    );
    assert_refused(
        &send(open.addr(), "GET", "/internal/cluster/health", None, None),
        401,
        None,
        "internal",
    );
    assert_eq!(
        send(
            open.addr(),
            "GET",
            "/internal/cluster/health",
            None,
            Some(ADMIN)
        )
        .status,
        200
    );
    assert!(open.stop());

    let closed = run_single(
        1,
        &t.yaml(&[("admin_token_file", ADMIN), ("metrics_token_file", METRICS)]),
    );
    assert_refused(
        &send(closed.addr(), "GET", "/admin/metrics", None, None),
        401,
        None,
        "metrics",
    );
    assert_eq!(
        send(closed.addr(), "GET", "/admin/metrics", None, Some(METRICS)).status,
        200
    );
    assert_eq!(
        send(closed.addr(), "GET", "/admin/metrics", None, Some(ADMIN)).status,
        200
    );
    assert_refused(
        &send(closed.addr(), "GET", "/admin/cluster", None, Some(METRICS)),
        403,
        Some("insufficient_scope"),
        "metrics token on admin",
    );
    assert!(closed.stop());
}

/// Nothing configured: every route answers as before authentication existed, whatever
/// Authorization header is sent.
pub fn open_node_ignores_credentials() {
    let node = run_single(1, "");
    let addr = node.addr();
    for (method, path, body) in ROUTES {
        for token in [None, Some(WRONG)] {
            let r = send(addr, method, path, *body, token);
            assert!(
                r.status != 401 && r.status != 403,
                "{method} {path}: {}",
                r.status
            );
            assert!(r.header("www-authenticate").is_none());
        }
    }
    let basic = call(
        addr,
        "GET",
        "/admin/cluster",
        &[("Authorization", "Basic x")],
        None,
    );
    assert_eq!(basic.status, 200);
    assert!(node.stop());
}

/// A body the node would have to read for a request it refuses anyway: with
/// `Expect: 100-continue` the refusal comes instead of `100 Continue`.
pub fn refused_before_the_body() {
    let t = Tokens::new("expect");
    let node = run_single(1, &t.all());
    let mut r = crate::common::Reader::connect(node.addr());
    r.send(b"POST /admin/import HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 100000000\r\n\r\n");
    let resp = r.response(false).expect("an answer before the body");
    assert_refused(&resp, 401, None, "import before its body");
    assert!(resp.closes(), "the unread body ends the connection");
    assert!(node.stop());
}
