//! One node: a prefix flush and a flush of everything, the count, the strict query, an old
//! export that cannot bring flushed keys back, a write after the flush, the metrics, and the
//! access check (401 / 403).

use crate::cluster_common::{call, etag, etag_version, put};
use crate::common::run_single;
use crate::helpers::{assert_all, copies, counter, flush, flushed, keys, write_all, Secrets};

pub fn prefix_then_everything() {
    let node = run_single(2, "");
    let a = [node.addr()];
    let mut users = keys("user:", 50);
    users.push("user:a/b c".to_string());
    let mut others = keys("item:", 30);
    others.push("user".to_string()); // the prefix without its colon: not under "user:"
    write_all(&a, &users);
    write_all(&a, &others);

    let r = flush(a[0], Some("user%3A"), &[]);
    assert_eq!(flushed(&r), 51, "{}", r.text());
    assert_eq!(copies(&r), 51);
    assert_eq!(r.json()["prefix"], "user:");
    let first_version = version_of(&r);
    assert_all(&a, &users, 404, "after the prefix flush");
    assert_all(&a, &others, 200, "outside the prefix");

    // What could widen a flush by mistake is refused, and deletes nothing.
    for (q, what) in [
        ("prefx=item", "unknown parameter"),
        ("prefix=", "empty prefix"),
        ("prefix=a&prefix=b", "repeated"),
        ("prefix=%zz", "bad escape"),
        ("scope=local", "node-to-node scope"),
    ] {
        let r = call(a[0], "DELETE", &format!("/admin/cache?{q}"), &[], None);
        assert_eq!(r.status, 400, "{what}: {}", r.text());
        assert!(r.json()["error"].as_str().is_some(), "{what}");
    }
    let r = flush(a[0], Some("nothing-here:"), &[]);
    assert_eq!(flushed(&r), 0);
    assert_all(&a, &others, 200, "after refused flushes");

    // An export taken now and imported after the flush cannot bring its keys back: every entry
    // is older than the flush.
    let export = call(a[0], "GET", "/admin/export", &[], None);
    assert_eq!(export.status, 200, "{}", export.text());
    let r = flush(a[0], None, &[]);
    assert_eq!(flushed(&r), 31, "{}", r.text());
    assert_eq!(r.json()["prefix"], serde_json::Value::Null);
    let version = version_of(&r);
    assert!(version > first_version, "versions grow");
    assert_all(&a, &others, 404, "after the flush of everything");
    let imp = call(
        a[0],
        "POST",
        "/admin/import",
        &[],
        Some(export.body.as_slice()),
    );
    assert_eq!(imp.status, 200, "{}", imp.text());
    assert_eq!(imp.json()["imported"], 0, "{}", imp.text());
    assert_eq!(imp.json()["superseded"], 31, "{}", imp.text());
    assert_all(
        &a,
        &others,
        404,
        "after importing an export older than the flush",
    );

    // A write after the flush is a newer write: stored, with a version above the flush's.
    let w = put(a[0], "item:0", "{\"value\":\"item:0\"}");
    assert_eq!(w.status, 201, "{}", w.text());
    assert!(etag_version(&etag(&w)) > version);
    assert_all(&a, &["item:0".to_string()], 200, "written after the flush");

    assert_eq!(counter(a[0], "cache_flushes_total"), 3);
    assert_eq!(counter(a[0], "cache_flushed_keys_total"), 82);
    assert!(counter(a[0], "cache_stale_writes_prevented_total") >= 31);
}

fn version_of(r: &crate::common::Resp) -> u64 {
    u64::from_str_radix(r.json()["version"].as_str().expect("version"), 16).expect("hex version")
}

const ADMIN: &str = "admin-token-flush-4f1c9e2b7a";
const CLIENT: &str = "client-token-flush-8d3a6b0c5e";

pub fn needs_the_admin_token() {
    let s = Secrets::new("auth");
    let node = run_single(
        1,
        &s.yaml(&[("admin_token_file", ADMIN), ("client_token_file", CLIENT)]),
    );
    let a = node.addr();
    let bearer = |t: &str| format!("Bearer {t}");
    let client = bearer(CLIENT);
    let w = call(
        a,
        "PUT",
        "/api/v1/cache/k",
        &[("Authorization", &client)],
        Some(b"{\"value\":1}"),
    );
    assert_eq!(w.status, 201, "{}", w.text());

    let r = flush(a, None, &[]);
    assert_eq!(r.status, 401, "{}", r.text());
    assert!(r.header("www-authenticate").is_some());
    let r = flush(
        a,
        None,
        &[("Authorization", &bearer("wrong-token-000000000000"))],
    );
    assert_eq!(r.status, 401, "{}", r.text());
    let r = flush(a, Some("k"), &[("Authorization", &client)]);
    assert_eq!(r.status, 403, "a client token may not flush: {}", r.text());
    let get = call(
        a,
        "GET",
        "/api/v1/cache/k",
        &[("Authorization", &client)],
        None,
    );
    assert_eq!(
        get.status,
        200,
        "refused flushes deleted nothing: {}",
        get.text()
    );

    // The node-to-node form needs the cluster secret: a client's is refused even with the
    // admin token, and its version header is ignored.
    let admin = bearer(ADMIN);
    let local = call(
        a,
        "DELETE",
        "/admin/cache?scope=local&step=apply",
        &[
            ("Authorization", &admin),
            ("X-Cache-Version", "ffffffffffffffff"),
        ],
        None,
    );
    assert_eq!(local.status, 400, "{}", local.text());
    let r = flush(a, Some("k"), &[("Authorization", &admin)]);
    assert_eq!(flushed(&r), 1);
}
