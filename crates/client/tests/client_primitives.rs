//! `cache-client`'s commands for the issue-12 primitives, end to end against real nodes started
//! in-process: `cas`, `add`, `delete --if-match` (exit 3 on HTTP 412), raw values (`put --file`,
//! `get --output`, bytes never turned into text), `mget`/`mset` (batches), `incr` (exact under
//! concurrency), `flush` (by prefix, everything, the admin token), on one node and across three.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use base64::Engine as _;
use serde_json::Value;

fn client(nodes: &str, args: &[&str]) -> Output {
    client_env(nodes, args, &[])
}

fn client_env(nodes: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cache-client"));
    cmd.arg("--nodes")
        .arg(nodes)
        .args(args)
        .current_dir(std::env::temp_dir())
        .env_remove("CACHE_TOKEN")
        .env_remove("CACHE_TOKEN_FILE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("cache-client runs")
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited normally")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn all(o: &Output) -> String {
    stdout(o) + &stderr(o)
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", all(o)))
}

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("client-prim-{}-{name}", std::process::id()))
}

/// The ETag `get --json` reports for `key`.
fn etag_of(node: &str, key: &str) -> String {
    let o = client(node, &["get", key, "--json"]);
    assert_eq!(code(&o), 0, "{}", all(&o));
    json(&o)["etag"]
        .as_str()
        .unwrap_or_else(|| panic!("no etag in {}", stdout(&o)))
        .to_string()
}

#[test]
fn cas_add_and_conditional_delete() {
    let node = common::run_single(2, "");
    let a = node.addr().to_string();

    let o = client(&a, &["set", "acct", "{\"balance\":10}", "-J"]);
    assert_eq!(code(&o), 0, "{}", all(&o));
    assert!(stdout(&o).contains(", ETag \""), "{}", stdout(&o));
    let v1 = etag_of(&a, "acct");
    assert!(v1.len() == 18 && v1.starts_with('"'), "{v1}");
    // get shows the ETag in words too.
    let o = client(&a, &["get", "acct"]);
    assert!(
        stdout(&o).contains(&format!("etag   {v1}")),
        "{}",
        stdout(&o)
    );

    // The right version wins; typed without its quotes too.
    let o = client(
        &a,
        &["cas", "acct", "{\"balance\":20}", "-J", "--if-match", &v1],
    );
    assert_eq!(code(&o), 0, "{}", all(&o));
    assert!(stdout(&o).starts_with("replaced acct"), "{}", stdout(&o));
    let v2 = etag_of(&a, "acct");
    assert_ne!(v1, v2);
    let bare = v2.trim_matches('"');
    let o = client(
        &a,
        &[
            "cas",
            "acct",
            "{\"balance\":30}",
            "-J",
            "--if-match",
            bare,
            "--json",
        ],
    );
    assert_eq!(code(&o), 0, "{}", all(&o));
    let v3 = json(&o)["etag"]
        .as_str()
        .expect("etag in --json")
        .to_string();
    assert_ne!(v3, v2);

    // A stale version loses: exit 3, both versions and the node named, the value unchanged.
    let o = client(
        &a,
        &["cas", "acct", "{\"balance\":99}", "-J", "--if-match", &v1],
    );
    assert_eq!(code(&o), 3, "{}", all(&o));
    let err = stderr(&o);
    assert!(
        err.contains("cas acct: precondition failed on t1")
            && err.contains(&v1)
            && err.contains(&v3),
        "{err}"
    );
    let o = client(&a, &["get", "acct", "--json"]);
    assert_eq!(json(&o)["value"]["balance"], 30);
    let o = client(&a, &["cas", "acct", "1", "--if-match", &v1, "--json"]);
    assert_eq!(code(&o), 3);
    let j = json(&o);
    assert_eq!(
        (j["status"].as_u64(), j["key"].as_str()),
        (Some(412), Some("acct"))
    );
    assert_eq!(j["etag"].as_str(), Some(v3.as_str()), "{j}");
    // cas of a key that does not exist: nothing to match.
    let o = client(&a, &["cas", "nobody", "1", "--if-match", &v3]);
    assert_eq!(code(&o), 3, "{}", all(&o));
    assert!(stderr(&o).contains("holds no value"), "{}", stderr(&o));
    // A header-injection attempt never leaves the client.
    let o = client(
        &a,
        &["cas", "acct", "1", "--if-match", "\"a\"\r\nX-Evil: 1"],
    );
    assert_eq!(code(&o), 2, "{}", all(&o));

    // add: only when absent.
    let o = client(&a, &["add", "lock", "me", "--ttl", "30"]);
    assert_eq!(code(&o), 0, "{}", all(&o));
    assert!(
        stdout(&o).starts_with("created lock (ttl 30 s)"),
        "{}",
        stdout(&o)
    );
    let o = client(&a, &["add", "lock", "you"]);
    assert_eq!(code(&o), 3, "{}", all(&o));
    assert!(
        stderr(&o).contains("lock already exists on t1"),
        "{}",
        stderr(&o)
    );
    let o = client(&a, &["get", "lock", "--json"]);
    assert_eq!(json(&o)["value"], "me");

    // delete --if-match.
    let lock = etag_of(&a, "lock");
    let o = client(&a, &["delete", "lock", "--if-match", &v1]);
    assert_eq!(code(&o), 3, "{}", all(&o));
    let o = client(&a, &["delete", "lock", "--if-match", &lock]);
    assert_eq!(code(&o), 0, "{}", all(&o));
    assert_eq!(code(&client(&a, &["get", "lock"])), 1);
}

#[test]
fn raw_values_round_trip_byte_for_byte() {
    let node = common::run_single(2, "");
    let a = node.addr().to_string();
    // Every byte value, invalid UTF-8 included, and a PNG signature with CR LF in it.
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend(0..=255u8);
    bytes.extend_from_slice(b"\xff\xfe\r\n\0end");
    let src = temp_path("in.bin");
    std::fs::write(&src, &bytes).unwrap();
    let s = src.to_str().unwrap();

    let o = client(
        &a,
        &[
            "put",
            "logo",
            "--file",
            s,
            "--content-type",
            "image/png",
            "--ttl",
            "120",
        ],
    );
    assert_eq!(code(&o), 0, "{}", all(&o));
    assert!(
        stdout(&o).starts_with("created logo (ttl 2 min 0 s)"),
        "{}",
        stdout(&o)
    );

    let dst = temp_path("out.png");
    let o = client(&a, &["get", "logo", "--output", dst.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", all(&o));
    assert_eq!(std::fs::read(&dst).unwrap(), bytes, "--output FILE");
    assert!(stderr(&o).contains("image/png"), "{}", stderr(&o));
    let o = client(&a, &["get", "logo", "-o", "-"]);
    assert_eq!(code(&o), 0);
    assert_eq!(o.stdout, bytes, "--output -");

    let o = client(&a, &["get", "logo", "--json"]);
    let j = json(&o);
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(j["value_base64"].as_str().expect("value_base64"))
        .unwrap();
    assert_eq!(decoded, bytes);
    assert_eq!(j["content_type"], "image/png");
    assert!(j["etag"].is_string(), "{j}");
    let ttl = j["ttl"].as_u64().expect("ttl of a raw value");
    assert!((100..=120).contains(&ttl), "{j}");
    // In words: never the bytes themselves.
    let o = client(&a, &["get", "logo"]);
    let out = stdout(&o);
    assert!(
        out.contains("type   image/png") && out.contains("(binary"),
        "{out}"
    );

    // Default type, from standard input; text shown as text.
    let mut child = Command::new(env!("CARGO_BIN_EXE_cache-client"))
        .args(["--nodes", &a, "put", "page", "--file", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"<p>hi</p>").unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(code(&o), 0, "{}", all(&o));
    let o = client(&a, &["get", "page", "--json"]);
    assert_eq!(json(&o)["content_type"], "application/octet-stream");
    let o = client(&a, &["get", "page"]);
    assert!(stdout(&o).contains("value  <p>hi</p>"), "{}", stdout(&o));

    // A JSON value saved with --output: its JSON text.
    client(&a, &["set", "j", "[1, 2.50]", "-J"]);
    let o = client(&a, &["get", "j", "-o", "-"]);
    assert_eq!(stdout(&o), "[1,2.50]");

    // The envelope types are refused before anything is sent; a missing file is named.
    let o = client(
        &a,
        &[
            "put",
            "x",
            "--file",
            s,
            "--content-type",
            "application/json",
        ],
    );
    assert_eq!(code(&o), 2, "{}", all(&o));
    assert!(stderr(&o).contains("envelope"), "{}", stderr(&o));
    let gone = temp_path("absent.bin");
    let o = client(&a, &["put", "x", "--file", gone.to_str().unwrap()]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("absent.bin"), "{}", stderr(&o));
    let o = client(&a, &["get", "x", "-o", dst.to_str().unwrap()]);
    assert_eq!(code(&o), 1, "a missing key writes nothing: {}", all(&o));

    // Conditional raw writes.
    let tag = etag_of(&a, "logo");
    let o = client(&a, &["put", "logo", "--file", s, "--if-absent"]);
    assert_eq!(code(&o), 3, "{}", all(&o));
    let o = client(
        &a,
        &[
            "put",
            "logo",
            "--file",
            s,
            "--if-match",
            &tag,
            "-t",
            "image/png",
        ],
    );
    assert_eq!(code(&o), 0, "{}", all(&o));
    for p in [src, dst] {
        let _ = std::fs::remove_file(p);
    }
}

#[test]
fn mget_and_mset() {
    let node = common::run_single(2, "");
    let a = node.addr().to_string();

    let o = client(
        &a,
        &["mset", "m:a=1", "m:b={\"x\":[1,2.50]}", "m:c=a=b", "-J"],
    );
    assert_eq!(code(&o), 2, "m:c=a=b is not JSON: {}", all(&o));
    let o = client(
        &a,
        &["mset", "m:a=1", "m:b={\"x\":[1,2.50]}", "-J", "--ttl", "60"],
    );
    assert_eq!(code(&o), 0, "{}", all(&o));
    assert!(
        stdout(&o).starts_with("stored 2 of 2 keys (2 created, 0 replaced)"),
        "{}",
        stdout(&o)
    );
    let o = client(&a, &["mset", "m:c=a=b", "m:a=one"]);
    assert_eq!(code(&o), 0, "{}", all(&o));
    assert!(
        stdout(&o).contains("(1 created, 1 replaced)"),
        "{}",
        stdout(&o)
    );

    let o = client(&a, &["mget", "m:a", "m:b", "m:c"]);
    assert_eq!(code(&o), 0, "{}", all(&o));
    assert_eq!(
        stdout(&o),
        "m:a  \"one\"\nm:b  {\"x\":[1,2.50]}\nm:c  \"a=b\"\n"
    );
    let o = client(&a, &["mget", "m:a", "m:none", "--json"]);
    assert_eq!(code(&o), 1, "a missing key: exit 1");
    let j = json(&o);
    let results = j["results"].as_array().expect("results");
    assert_eq!(results.len(), 2);
    assert_eq!(
        (results[0]["status"].as_u64(), &results[0]["value"]),
        (Some(200), &Value::from("one"))
    );
    assert_eq!(results[1]["status"], 404);
    let o = client(&a, &["mget", "m:none", "m:b"]);
    assert_eq!(code(&o), 1);
    assert!(stdout(&o).contains("m:none  (not found)"), "{}", stdout(&o));
    assert!(stderr(&o).contains("1 not found"), "{}", stderr(&o));

    // A raw value in a batch: type and size, never the bytes.
    let f = temp_path("raw.bin");
    std::fs::write(&f, b"\x00\x01\x02").unwrap();
    client(
        &a,
        &[
            "put",
            "m:raw",
            "--file",
            f.to_str().unwrap(),
            "-t",
            "image/x-test",
        ],
    );
    let o = client(&a, &["mget", "m:raw"]);
    assert_eq!(stdout(&o), "m:raw  (image/x-test, 3 B)\n", "{}", all(&o));
    let o = client(&a, &["mget", "m:raw", "--json"]);
    assert_eq!(json(&o)["results"][0]["value_base64"], "AAEC");
    let _ = std::fs::remove_file(f);

    // Usage errors.
    assert_eq!(code(&client(&a, &["mset", "=x"])), 2);
    assert_eq!(code(&client(&a, &["mget"])), 2);
}

#[test]
fn incr_counts() {
    let node = common::run_single(2, "");
    let a = node.addr().to_string();
    let o = client(&a, &["incr", "hits"]);
    assert_eq!((code(&o), stdout(&o).as_str()), (0, "1\n"), "{}", all(&o));
    let o = client(&a, &["incr", "hits", "41"]);
    assert_eq!(stdout(&o), "42\n");
    let o = client(&a, &["incr", "hits", "-50", "--json"]);
    assert_eq!(code(&o), 0, "{}", all(&o));
    let j = json(&o);
    assert_eq!(
        (j["key"].as_str(), j["value"].as_i64()),
        (Some("hits"), Some(-8))
    );
    // The stored value is the JSON integer.
    let o = client(&a, &["get", "hits", "--json"]);
    assert_eq!(json(&o)["value"], -8);

    // --ttl applies to a key the incr creates.
    let o = client(&a, &["incr", "fresh", "5", "--ttl", "60"]);
    assert_eq!(stdout(&o), "5\n");
    let o = client(&a, &["get", "fresh", "--json"]);
    assert!(
        json(&o)["ttl"].as_u64().is_some_and(|t| t <= 60),
        "{}",
        stdout(&o)
    );

    // Not an integer, overflow: HTTP 409, exit 1, the key named.
    client(&a, &["set", "name", "ann"]);
    let o = client(&a, &["incr", "name"]);
    assert_eq!(code(&o), 1, "{}", all(&o));
    assert!(stderr(&o).contains("incr name: HTTP 409"), "{}", stderr(&o));
    client(&a, &["set", "big", "9223372036854775807", "-J"]);
    let o = client(&a, &["incr", "big"]);
    assert_eq!(code(&o), 1, "{}", all(&o));
    assert!(stderr(&o).contains("409"), "{}", stderr(&o));
    let o = client(&a, &["get", "big", "--json"]);
    assert_eq!(json(&o)["value"], i64::MAX, "unchanged after the overflow");
    assert_eq!(code(&client(&a, &["incr", "k", "1.5"])), 2);

    // Four clients at once: the total is exact.
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let a = a.clone();
            std::thread::spawn(move || {
                for _ in 0..10 {
                    let o = client(&a, &["incr", "race", "3"]);
                    assert_eq!(code(&o), 0, "{}", all(&o));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let o = client(&a, &["get", "race", "--json"]);
    assert_eq!(json(&o)["value"], 120);
}

#[test]
fn flush_by_prefix_and_everything() {
    let node = common::run_single(2, "");
    let a = node.addr().to_string();
    for k in ["sess:1", "sess:2", "sess:3", "user:1", "sessions"] {
        assert_eq!(code(&client(&a, &["set", k, "v"])), 0);
    }
    let o = client(&a, &["flush"]);
    assert_eq!(code(&o), 2, "a bare flush deletes nothing: {}", all(&o));
    assert!(
        stderr(&o).contains("--prefix") && stderr(&o).contains("--all"),
        "{}",
        stderr(&o)
    );
    assert_eq!(code(&client(&a, &["flush", "--prefix", ""])), 2);
    assert_eq!(code(&client(&a, &["get", "sess:1"])), 0);

    let o = client(&a, &["flush", "--prefix", "sess:"]);
    assert_eq!(code(&o), 0, "{}", all(&o));
    assert!(
        stdout(&o).starts_with("deleted 3 keys starting with \"sess:\""),
        "{}",
        stdout(&o)
    );
    for (k, c) in [("sess:1", 1), ("sess:3", 1), ("sessions", 0), ("user:1", 0)] {
        assert_eq!(code(&client(&a, &["get", k])), c, "{k}");
    }
    let o = client(&a, &["flush", "--all", "--json"]);
    assert_eq!(code(&o), 0, "{}", all(&o));
    assert_eq!(json(&o)["deleted"], 2);
    assert_eq!(code(&client(&a, &["get", "user:1"])), 1);
}

#[test]
fn flush_needs_the_admin_token_and_keys_the_client_token() {
    let dir = temp_path("tokens");
    std::fs::create_dir_all(&dir).unwrap();
    let write_token = |name: &str, token: &str| {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.join(name);
        std::fs::write(&p, format!("{token}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        p.to_str().unwrap().to_string()
    };
    let admin = write_token("admin", "admin-token-0123456789abcdef");
    let client_tok = write_token("client", "client-token-0123456789abcdef");
    let node = common::run_single(
        1,
        &format!("auth:\n  admin_token_file: \"{admin}\"\n  client_token_file: \"{client_tok}\"\n"),
    );
    let a = node.addr().to_string();
    let as_client = [("CACHE_TOKEN_FILE", client_tok.as_str())];
    for args in [&["incr", "n"][..], &["mset", "t:a=1"], &["add", "t:b", "x"]] {
        let o = client_env(&a, args, &as_client);
        assert_eq!(code(&o), 0, "{args:?}: {}", all(&o));
    }
    let o = client_env(&a, &["flush", "--prefix", "t:"], &as_client);
    assert_eq!(code(&o), 1, "{}", all(&o));
    assert!(stderr(&o).contains("HTTP 403"), "{}", stderr(&o));
    let o = client(&a, &["incr", "n"]);
    assert_eq!(code(&o), 1, "no token: {}", all(&o));
    assert!(stderr(&o).contains("HTTP 401"), "{}", stderr(&o));
    let o = client(&a, &["--token-file", &admin, "flush", "--prefix", "t:"]);
    assert_eq!(code(&o), 0, "{}", all(&o));
    assert!(stdout(&o).starts_with("deleted 2 keys"), "{}", stdout(&o));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn across_three_nodes() {
    let mut cluster = common::run_cluster(1, 2, "");
    let addrs = cluster.addrs.clone();
    let via = |i: usize| addrs[i].to_string();
    let every = cluster.nodes_flag();

    // mset through node1, mget through node3: keys of every owner, one answer each.
    let pairs: Vec<String> = (0..60).map(|i| format!("c:{i}={i}")).collect();
    let mut args = vec!["mset", "-J"];
    args.extend(pairs.iter().map(String::as_str));
    let o = client(&via(0), &args);
    assert_eq!(code(&o), 0, "{}", all(&o));
    assert!(
        stdout(&o).starts_with("stored 60 of 60 keys (60 created"),
        "{}",
        stdout(&o)
    );
    let keys: Vec<String> = (0..60).map(|i| format!("c:{i}")).collect();
    let mut args = vec!["mget", "--json"];
    args.extend(keys.iter().map(String::as_str));
    let o = client(&via(2), &args);
    assert_eq!(code(&o), 0, "{}", all(&o));
    let j = json(&o);
    for (i, r) in j["results"].as_array().expect("results").iter().enumerate() {
        assert_eq!(
            (r["status"].as_u64(), r["value"].as_i64()),
            (Some(200), Some(i as i64)),
            "{r}"
        );
    }

    // cas through a node that may not own the key: the condition travels with the forward.
    let tag = etag_of(&via(1), "c:7");
    let o = client(&via(2), &["cas", "c:7", "70", "-J", "--if-match", &tag]);
    assert_eq!(code(&o), 0, "{}", all(&o));
    let o = client(&via(0), &["cas", "c:7", "700", "-J", "--if-match", &tag]);
    assert_eq!(code(&o), 3, "{}", all(&o));

    // incr from the three nodes at once: exact.
    let threads: Vec<_> = (0..3)
        .map(|i| {
            let addr = via(i);
            std::thread::spawn(move || {
                for _ in 0..8 {
                    let o = client(&addr, &["incr", "c:count"]);
                    assert_eq!(code(&o), 0, "{}", all(&o));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let o = client(&via(1), &["get", "c:count", "--json"]);
    assert_eq!(json(&o)["value"], 24);

    // A raw value written through one node, read byte for byte through another.
    let f = temp_path("three.bin");
    std::fs::write(&f, b"\xde\xad\xbe\xef\r\n").unwrap();
    let o = client(&via(0), &["put", "c:raw", "--file", f.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", all(&o));
    let o = client(&via(2), &["get", "c:raw", "-o", "-"]);
    assert_eq!(o.stdout, b"\xde\xad\xbe\xef\r\n");
    let _ = std::fs::remove_file(f);

    // A prefix flush through node2 empties it on every node, nothing else.
    client(&every, &["set", "keep", "1"]);
    let o = client(&via(1), &["flush", "--prefix", "c:"]);
    assert_eq!(code(&o), 0, "{}", all(&o));
    assert!(stdout(&o).starts_with("deleted 62 keys"), "{}", stdout(&o));
    for i in 0..3 {
        let o = client(
            &via(i),
            &["mget", "c:0", "c:7", "c:count", "c:raw", "--json"],
        );
        let j = json(&o);
        assert!(
            j["results"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["status"] == 404),
            "via node{}: {j}",
            i + 1
        );
        assert_eq!(code(&client(&via(i), &["get", "keep"])), 0);
    }

    // With a member down the flush applies on the others, says which it missed, and exits 1.
    cluster.stop(2);
    let o = client(&via(0), &["flush", "--prefix", "keep"]);
    assert_eq!(code(&o), 1, "{}", all(&o));
    assert!(
        stdout(&o).starts_with("deleted 1 key starting with"),
        "{}",
        stdout(&o)
    );
    assert!(
        stderr(&o).contains("warning: flush --prefix keep: HTTP 502")
            && stderr(&o).contains("node3"),
        "{}",
        stderr(&o)
    );
    assert_eq!(code(&client(&via(1), &["get", "keep"])), 1);
}
