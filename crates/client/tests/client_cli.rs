//! `cache-client` end to end: the built binary against a real in-process node, as a person or a
//! script would run it. Checks outputs, `--json` documents and exit codes (0 ok, 1 failed or not
//! found, 2 usage or connection error).

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

fn client(node: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cache-client"))
        .arg("--nodes")
        .arg(node)
        .args(args)
        // No config/ there: only --nodes decides.
        .current_dir(std::env::temp_dir())
        .output()
        .expect("cache-client runs")
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

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}{}", stdout(o), stderr(o)))
}

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("client-cli-{}-{name}", std::process::id()))
}

#[test]
fn set_get_delete_and_missing_keys() {
    let node = common::run_single(2, "");
    let a = node.addr().to_string();

    let o = client(&a, &["set", "user/1 é", "hello world", "--ttl", "60"]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).starts_with("created user/1 é (ttl 1 min 0 s)"),
        "{}",
        stdout(&o)
    );

    let o = client(&a, &["get", "user/1 é"]);
    assert_eq!(code(&o), 0);
    let out = stdout(&o);
    assert!(out.contains("value  \"hello world\""), "{out}");
    assert!(out.contains("ttl    "), "{out}");

    // --json: the node's own body, as it came (number spelling kept), plus the ETag.
    let o = client(
        &a,
        &["set", "n", "{\"v\":[1,2.50]}", "--json-value", "--json"],
    );
    assert_eq!(code(&o), 0);
    assert_eq!(json(&o)["created"], true);
    let etag = json(&o)["etag"].as_str().expect("etag").to_string();
    let o = client(&a, &["get", "n", "--json"]);
    assert_eq!(code(&o), 0);
    assert_eq!(
        stdout(&o).trim(),
        format!(
            r#"{{"key":"n","value":{{"v":[1,2.50]}},"etag":{}}}"#,
            Value::from(etag.as_str())
        )
    );
    let o = client(&a, &["set", "n", "2", "-J"]);
    assert!(stdout(&o).starts_with("replaced n"), "{}", stdout(&o));

    let o = client(&a, &["delete", "user/1 é"]);
    assert_eq!((code(&o), stdout(&o).trim()), (0, "deleted user/1 é"));

    // A missing key: exit 1, human message on stderr, the node's 404 body with --json.
    let o = client(&a, &["get", "user/1 é"]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("not found: user/1 é"), "{}", stderr(&o));
    let o = client(&a, &["get", "nope", "--json"]);
    assert_eq!(code(&o), 1);
    assert_eq!(json(&o)["status"], 404);
    let o = client(&a, &["delete", "nope"]);
    assert_eq!(code(&o), 1);

    // Usage errors: exit 2.
    let o = client(&a, &["set", "k", "{not json", "--json-value"]);
    assert_eq!(code(&o), 2);
    let o = client(&a, &["get"]);
    assert_eq!(code(&o), 2);
}

#[test]
fn health_cluster_metrics() {
    let node = common::run_single(2, "");
    let a = node.addr().to_string();

    let o = client(&a, &["health"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("1/1 nodes healthy"), "{}", stdout(&o));
    let o = client(&a, &["health", "--json"]);
    let v = json(&o);
    assert_eq!(
        (v["healthy"].as_u64(), v["nodes"][0]["node_id"].as_str()),
        (Some(1), Some("t1"))
    );

    let o = client(&a, &["cluster"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("1/1 nodes up"), "{}", stdout(&o));
    let o = client(&a, &["cluster", "--json"]);
    assert_eq!(json(&o)["nodes_total"], 1);

    let o = client(&a, &["metrics", "cache_requests_total"]);
    assert_eq!(code(&o), 0);
    assert!(
        stdout(&o).contains("# TYPE cache_requests_total counter"),
        "{}",
        stdout(&o)
    );
    assert!(!stdout(&o).contains("cache_hits_total"));
    let o = client(&a, &["metrics", "--json"]);
    let samples = json(&o);
    let samples = samples.as_array().expect("an array of samples");
    assert!(samples.iter().any(|s| s["name"] == "cache_entries"));
    assert!(samples
        .iter()
        .any(|s| s["name"] == "cache_requests_total" && s["labels"]["route"].is_string()));
}

#[test]
fn export_then_import_restores() {
    let node = common::run_single(2, "");
    let a = node.addr().to_string();
    for i in 0..20 {
        let o = client(
            &a,
            &["set", &format!("k{i}"), &format!("{{\"i\":{i}}}"), "-J"],
        );
        assert_eq!(code(&o), 0);
    }
    let file = temp_path("backup.json");
    let f = file.to_str().unwrap();
    let o = client(&a, &["export", f]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stderr(&o).contains("exported 20 entries"), "{}", stderr(&o));
    // stderr is a pipe here, not a terminal: no progress display, only the summary line.
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    assert!(!stderr(&o).contains(['\r', '\x1b']), "{:?}", stderr(&o));
    let doc: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(doc["count"], 20);
    assert!(!temp_path("backup.json.part").exists());

    let o = client(
        &a,
        &["export", temp_path("b2.json").to_str().unwrap(), "--json"],
    );
    assert_eq!(
        (
            json(&o)["count"].as_u64(),
            json(&o)["missing"].as_array().map(Vec::len)
        ),
        (Some(20), Some(0))
    );

    for i in 0..20 {
        assert_eq!(code(&client(&a, &["delete", &format!("k{i}")])), 0);
    }
    // The deletes are newer than the backup's versions: importing it restores nothing.
    let o = client(&a, &["import", f, "--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let j = json(&o);
    assert_eq!(
        (
            &j["imported"],
            &j["superseded"],
            &j["rejected"],
            &j["total"]
        ),
        (
            &Value::from(0),
            &Value::from(20),
            &Value::from(0),
            &Value::from(20)
        ),
        "{j}"
    );
    let o = client(&a, &["get", "k7", "--json"]);
    assert_eq!(code(&o), 1, "k7 stays deleted: {}", stdout(&o));
    // In words: the summary names what was superseded, and how to restore it anyway.
    let o = client(&a, &["import", f]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("imported 0 of 20 entries (20 superseded, 0 rejected) via "),
        "{}",
        stdout(&o)
    );
    assert!(
        stdout(&o).contains("per node: t1 0 (20 superseded)"),
        "{}",
        stdout(&o)
    );
    assert!(stderr(&o).contains("import --overwrite"), "{}", stderr(&o));
    // --overwrite: every entry becomes a new write.
    let o = client(&a, &["import", f, "--overwrite", "--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let j = json(&o);
    assert_eq!(
        (
            &j["imported"],
            &j["superseded"],
            &j["rejected"],
            &j["total"]
        ),
        (
            &Value::from(20),
            &Value::from(0),
            &Value::from(0),
            &Value::from(20)
        ),
        "{j}"
    );
    for i in 0..20 {
        let o = client(&a, &["get", &format!("k{i}"), "--json"]);
        assert!(
            stdout(&o).starts_with(&format!(r#"{{"key":"k{i}","value":{{"i":{i}}},"etag":"#)),
            "{}",
            stdout(&o)
        );
    }
    let o = client(&a, &["import", f, "--overwrite"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("imported 20 of 20 entries (0 superseded, 0 rejected) via "),
        "{}",
        stdout(&o)
    );
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));

    // A corrupt backup changes nothing and exits 1 with the node's reason.
    let bad = temp_path("bad.json");
    std::fs::write(
        &bad,
        b"{\"format\":\"distributed-cache-export\",\"version\":1,\"entr",
    )
    .unwrap();
    let o = client(&a, &["import", bad.to_str().unwrap()]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("invalid export document"),
        "{}",
        stderr(&o)
    );
    // A file that does not exist is a usage error.
    let o = client(&a, &["import", temp_path("missing.json").to_str().unwrap()]);
    assert_eq!(code(&o), 2);
    for p in [file, bad, temp_path("b2.json")] {
        let _ = std::fs::remove_file(p);
    }
}

#[test]
fn connection_refused_names_the_address() {
    // A port that was just free: nothing listens there.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    drop(l);
    for args in [&["get", "k"][..], &["health"], &["bench", "-d", "1s"]] {
        let o = client(&addr, args);
        assert_eq!(code(&o), 2, "{args:?}: {}{}", stdout(&o), stderr(&o));
        let all = stdout(&o) + &stderr(&o);
        assert!(all.contains(&addr), "{args:?} must name {addr}: {all}");
        assert!(all.to_lowercase().contains("refused"), "{all}");
    }
    let o = client(&addr, &["get", "k", "--json"]);
    let v = json(&o);
    assert_eq!(
        (v["kind"].as_str(), v["address"].as_str()),
        (Some("connect"), Some(addr.as_str()))
    );
    assert!(
        stdout(&o).ends_with('\n'),
        "--json output ends its line: {:?}",
        stdout(&o)
    );
}

/// The test suite against a cluster that is not running: one line saying so, not a FAIL per check.
#[test]
fn suite_with_no_node_up_says_how_to_start_one() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    drop(l);
    let o = client(&addr, &[]);
    assert_eq!(code(&o), 2, "{}{}", stdout(&o), stderr(&o));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("no node is reachable") && err.contains(&addr),
        "{err}"
    );
    assert!(err.contains("./scripts/start_cluster.sh"), "{err}");
    assert!(!stdout(&o).contains("FAIL"), "{}", stdout(&o));
}

#[test]
fn suite_passes_against_a_single_node() {
    let node = common::run_single(2, "");
    let a = node.addr().to_string();
    let o = client(&a, &[]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("PASS ttl expiry"), "{out}");
    assert!(out.trim_end().ends_with(" passed, 0 failed"), "{out}");
    assert!(!out.contains("FAIL"), "{out}");
}

#[test]
fn short_bench_run_reports_json() {
    let node = common::run_single(2, "");
    let a = node.addr().to_string();
    // 2 s, not 1: the progress line of second 1 is printed only if the run is still going then.
    let o = client(
        &a,
        &[
            "bench",
            "-d",
            "2s",
            "-c",
            "4",
            "--keys",
            "100",
            "--ratio",
            "90:10",
            "--preload",
            "--json",
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v = json(&o);
    assert!(v["throughput_rps"].as_f64().unwrap() > 0.0, "{v}");
    assert_eq!(v["errors_total"], 0, "{v}");
    assert_eq!(v["preload"]["requests"], 100, "{v}");
    assert!(v["puts"].as_u64().unwrap() > 0, "{v}");
    assert_eq!(v["misses"], 0, "preloaded keys always hit: {v}");
    assert!(v["latency_us"]["p99"].as_f64().unwrap() > 0.0, "{v}");
    // The progress line goes to stderr, never into the JSON.
    assert!(stderr(&o).contains("req/s"), "{}", stderr(&o));

    // Open loop with pipelining and Zipf keys, bounded by a request count.
    let o = client(
        &a,
        &[
            "bench",
            "-n",
            "300",
            "-R",
            "1000",
            "-c",
            "3",
            "-P",
            "4",
            "--key",
            "hot",
            "--preload",
            "--json",
            "-q",
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(
        (v["requests"].as_u64(), v["mode"].as_str()),
        (Some(300), Some("open"))
    );
    assert_eq!(
        (v["hits"].as_u64(), v["key"].as_str()),
        (Some(300), Some("hot"))
    );
    assert_eq!(v["errors_total"], 0);

    // Zipf keys, two threads, two "nodes" (the same node twice).
    let two = format!("{a},{a}");
    let o = client(
        &two,
        &[
            "bench", "-n", "500", "-t", "2", "-c", "4", "--dist", "zipf", "--json", "-q",
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(
        (v["requests"].as_u64(), v["threads"].as_u64()),
        (Some(500), Some(2))
    );
    assert_eq!(v["targets"].as_array().map(Vec::len), Some(2));
}

#[test]
fn bench_plots_a_run_and_compares_saved_runs() {
    let node = common::run_single(1, "");
    let a = node.addr().to_string();
    let (closed, open, svg) = (
        temp_path("closed.json"),
        temp_path("open.json"),
        temp_path("one.svg"),
    );
    let run = |extra: &[&str], save: &PathBuf| {
        let mut args = vec![
            "bench", "-n", "300", "-c", "2", "--keys", "50", "--json", "-q",
        ];
        args.extend_from_slice(extra);
        let o = client(&a, &args);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let curve = json(&o)["latency_percentiles"].clone();
        assert!(curve.as_array().is_some_and(|c| c.len() > 5), "{curve}");
        std::fs::write(save, &o.stdout).unwrap();
    };
    run(&["--plot", svg.to_str().unwrap()], &closed);
    let one = std::fs::read_to_string(&svg).unwrap();
    assert!(
        one.contains("closed loop, 2 conn, pipeline 1"),
        "legend of the live run"
    );
    run(&["-R", "2000"], &open);
    let both = temp_path("both.svg");
    let o = client(
        &a,
        &[
            "bench",
            "--plot",
            both.to_str().unwrap(),
            "--compare",
            closed.to_str().unwrap(),
            "--compare",
            open.to_str().unwrap(),
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let two = std::fs::read_to_string(&both).unwrap();
    for name in [closed.file_stem(), open.file_stem()] {
        let name = name.unwrap().to_str().unwrap();
        assert!(two.contains(name), "{name} missing from the compared plot");
    }
    // A file that is not a saved result is named in the error.
    let o = client(
        &a,
        &[
            "bench",
            "--plot",
            both.to_str().unwrap(),
            "--compare",
            svg.to_str().unwrap(),
        ],
    );
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("one.svg"), "{}", stderr(&o));
    for p in [closed, open, svg, both] {
        let _ = std::fs::remove_file(p);
    }
}
