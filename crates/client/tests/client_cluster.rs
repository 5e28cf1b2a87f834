//! `cache-client cluster status|add|remove` end to end: the built binary against fake nodes
//! ([`fake_admin`]) answering canned membership documents in sequence. Checks the requests sent,
//! the output, `--json` documents and exit codes (0 done, 1 refused or unfinished, 2 usage).
//! Polls every 10 ms (the hidden `--poll-interval`), so no test sleeps.

mod fake_admin;

use std::process::{Command, Output};

use fake_admin::{FakeNode, Script};
use serde_json::Value;

/// The client against `nodes`, polling fast; `--timeout` bounds every wait of these tests.
fn client(nodes: &[&FakeNode], args: &[&str]) -> Output {
    let list: Vec<&str> = nodes.iter().map(|n| n.addr.as_str()).collect();
    Command::new(env!("CARGO_BIN_EXE_cache-client"))
        .arg("--nodes")
        .arg(list.join(","))
        .args(args)
        .current_dir(std::env::temp_dir())
        .env_remove("CACHE_NODES")
        .env_remove("CACHE_TOKEN")
        .env_remove("CACHE_TOKEN_FILE")
        .output()
        .expect("cache-client runs")
}

/// `cluster ARGS...` with a 10 ms poll and a 20 s bound.
fn cluster(nodes: &[&FakeNode], args: &[&str]) -> Output {
    let mut all = vec!["cluster"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--poll-interval", "10ms"]);
    if !args.contains(&"--timeout") {
        all.extend_from_slice(&["--timeout", "20s"]);
    }
    client(nodes, &all)
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited normally")
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}): {}{}",
            out(o),
            err(o)
        )
    })
}

const JOINING: &str = r#"{"node_id":"node4","address":"127.0.0.1:8004","status":"joining","epoch":6,"settled":false,"safe_to_stop":false}"#;
const ACTIVE: &str = r#"{"node_id":"node4","address":"127.0.0.1:8004","status":"active","epoch":7,"settled":true,"safe_to_stop":false}"#;
const MOVING: &str = r#"{"node_id":"node1","epoch":6,"settled":false,"migration":{"running":true,"epoch":6,"started_unix_ms":1,"keys_moved":10,"bytes_moved":2048,"keys_scanned":40,"peers_pending":["node2"]}}"#;
const SETTLED: &str = r#"{"node_id":"node1","epoch":7,"settled":true,"migration":{"running":false,"epoch":6,"keys_moved":25,"bytes_moved":4096,"keys_scanned":90,"peers_pending":[]}}"#;

fn joining_node() -> Script {
    Script::new()
        .on(
            "POST /admin/cluster/nodes",
            &[(202, r#"{"epoch":6,"node_id":"node4","status":"joining"}"#)],
        )
        .on(
            "GET /admin/cluster/nodes/node4",
            &[(200, JOINING), (200, JOINING), (200, ACTIVE)],
        )
        .on(
            "GET /admin/cluster",
            &[(200, MOVING), (200, MOVING), (200, SETTLED)],
        )
}

#[test]
fn add_posts_the_node_and_waits_until_it_is_active() {
    let node = FakeNode::start(joining_node());
    let o = cluster(&[&node], &["add", "node4", "127.0.0.1:8004"]);
    assert_eq!(code(&o), 0, "{}{}", out(&o), err(&o));
    let text = out(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            "node4 is joining the cluster at epoch 6",
            "node4: joining at epoch 6, not settled; migration of epoch 6: 10 keys (2.0 KiB) \
             moved, 40 scanned, waiting for node2",
            "node4: active at epoch 7, settled",
            "node4 joined the cluster at epoch 7",
        ],
        "{text}"
    );
    let requests = node.requests();
    let post: Value = serde_json::from_str(
        requests[0]
            .strip_prefix("POST /admin/cluster/nodes ")
            .unwrap_or_else(|| panic!("{requests:?}")),
    )
    .expect("a JSON body");
    assert_eq!(post["node_id"], "node4");
    assert_eq!(post["address"], "127.0.0.1:8004");
    // Three polls of the member, the last one active.
    let polls = requests
        .iter()
        .filter(|r| *r == "GET /admin/cluster/nodes/node4")
        .count();
    assert_eq!(polls, 3, "{requests:?}");
}

#[test]
fn add_with_json_prints_one_document_and_no_wait_returns_at_once() {
    let node = FakeNode::start(joining_node());
    let o = cluster(&[&node], &["add", "node4", "127.0.0.1:8004", "--json"]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    let v = json(&o);
    assert_eq!(
        (v["status"].as_str(), v["epoch"].as_u64()),
        (Some("active"), Some(7))
    );

    let node = FakeNode::start(joining_node());
    let o = cluster(&[&node], &["add", "node4", "127.0.0.1:8004", "--no-wait"]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert_eq!(out(&o), "node4 is joining the cluster at epoch 6\n");
    assert_eq!(node.requests().len(), 1, "{:?}", node.requests());
}

#[test]
fn arguments_are_checked_before_anything_is_sent() {
    let node = FakeNode::start(joining_node());
    for (args, says) in [
        (&["add", "node4", "10.0.0.4"][..], "no port"),
        (&["add", "", "10.0.0.4:1"][..], "1 to 64"),
        (&["add", "node 4", "10.0.0.4:1"][..], "NODE_ID"),
        (&["remove", "a/b"][..], "NODE_ID"),
    ] {
        let o = cluster(&[&node], args);
        assert_eq!(code(&o), 2, "{args:?}: {}", err(&o));
        assert!(err(&o).contains(says), "{args:?}: {}", err(&o));
    }
    let o = client(
        &[&node],
        &["cluster", "remove", "node3", "--poll-interval", "0ms"],
    );
    assert_eq!(code(&o), 2, "{}", err(&o));
    assert!(
        err(&o).contains("--poll-interval must be at least 1ms"),
        "{}",
        err(&o)
    );
    let o = cluster(&[&node], &["add", "node4", "h:0", "--json"]);
    assert_eq!((code(&o), json(&o)["kind"].as_str()), (2, Some("usage")));
    assert!(node.requests().is_empty(), "{:?}", node.requests());
}

#[test]
fn a_change_in_progress_is_refused_with_a_hint_to_retry() {
    let script = || {
        Script::new()
            .on(
                "POST /admin/cluster/nodes",
                &[(
                    409,
                    r#"{"error":"membership change to epoch 6 in progress"}"#,
                )],
            )
            .on("GET /admin/cluster", &[(200, MOVING)])
    };
    let node = FakeNode::start(script());
    let o = cluster(&[&node], &["add", "node4", "127.0.0.1:8004"]);
    assert_eq!(code(&o), 1, "{}{}", out(&o), err(&o));
    let e = err(&o);
    assert!(
        e.contains("HTTP 409 membership change to epoch 6 in progress"),
        "{e}"
    );
    assert!(e.contains("hint:") && e.contains("retry"), "{e}");

    let node = FakeNode::start(script());
    let o = cluster(&[&node], &["add", "node4", "127.0.0.1:8004", "--json"]);
    let v = json(&o);
    assert_eq!(code(&o), 1);
    assert_eq!(v["kind"], "conflict");
    assert_eq!(v["change_in_progress"], true);
}

#[test]
fn removing_a_stranger_is_an_error_naming_it() {
    let node = FakeNode::start(Script::new().on(
        "DELETE /admin/cluster/nodes/node3",
        &[(404, r#"{"error":"unknown node node3"}"#)],
    ));
    let o = cluster(&[&node], &["remove", "node3"]);
    assert_eq!(code(&o), 1, "{}{}", out(&o), err(&o));
    assert!(err(&o).contains("node3 is not a member"), "{}", err(&o));
    let o = cluster(&[&node], &["remove", "node3", "--json"]);
    let v = json(&o);
    assert_eq!(
        (v["kind"].as_str(), v["node_id"].as_str()),
        (Some("not_member"), Some("node3"))
    );
}

#[test]
fn remove_follows_the_leaving_node_then_the_others_once_it_stops() {
    let leaving = r#"{"node_id":"node3","address":"a:3","status":"leaving","epoch":8,"settled":false,"safe_to_stop":false}"#;
    let removed = r#"{"node_id":"node3","address":"a:3","status":"removed","epoch":9,"settled":true,"safe_to_stop":true}"#;
    // node3 itself: takes the DELETE, answers one poll (member and migration), then stops.
    let node3 = FakeNode::start(
        Script::new()
            .on(
                "DELETE /admin/cluster/nodes/node3",
                &[(202, r#"{"epoch":8,"node_id":"node3","status":"leaving"}"#)],
            )
            .on("GET /admin/cluster/nodes/node3", &[(200, leaving)])
            .on("GET /admin/cluster", &[(200, MOVING)])
            .then_stop_after(3),
    );
    let node1 = FakeNode::start(
        Script::new()
            .on("GET /admin/cluster/nodes/node3", &[(200, removed)])
            .on("GET /admin/cluster", &[(200, SETTLED)]),
    );
    let o = cluster(&[&node3, &node1], &["remove", "node3"]);
    assert_eq!(code(&o), 0, "{}{}", out(&o), err(&o));
    let text = out(&o);
    assert!(
        text.starts_with("node3 is leaving the cluster at epoch 8\nnode3: leaving at epoch 8"),
        "{text}"
    );
    assert!(
        text.ends_with("node3 left the cluster at epoch 9: safe to stop it now\n"),
        "{text}"
    );
    assert_eq!(node3.requests().len(), 3, "{:?}", node3.requests());
    assert_eq!(
        node1.requests()[0],
        "GET /admin/cluster/nodes/node3",
        "{:?}",
        node1.requests()
    );
}

#[test]
fn a_change_that_does_not_finish_in_time_names_the_node_and_its_last_state() {
    let node = FakeNode::start(
        Script::new()
            .on(
                "POST /admin/cluster/nodes",
                &[(202, r#"{"epoch":6,"node_id":"node4","status":"joining"}"#)],
            )
            .on("GET /admin/cluster/nodes/node4", &[(200, JOINING)])
            .on("GET /admin/cluster", &[(200, MOVING)]),
    );
    let args = ["add", "node4", "127.0.0.1:8004", "--timeout", "300ms"];
    let o = cluster(&[&node], &args);
    assert_eq!(code(&o), 1, "{}{}", out(&o), err(&o));
    let e = err(&o);
    assert!(
        e.contains("node4 did not become active within 300ms: last seen joining at epoch 6"),
        "{e}"
    );
    let mut json_args = args.to_vec();
    json_args.push("--json");
    let o = cluster(&[&node], &json_args);
    let v = json(&o);
    assert_eq!(code(&o), 1);
    assert_eq!(
        (v["kind"].as_str(), v["last_status"].as_str()),
        (Some("timeout"), Some("joining"))
    );
}

#[test]
fn status_shows_the_membership_and_json_the_raw_answer() {
    let answer = r#"{"node_id":"node1","nodes_up":2,"nodes_total":2,"ring_version":"0x1","virtual_nodes":150,
        "epoch":6,"leader":"node1","settled":false,
        "membership":[{"node_id":"node1","address":"a:1","status":"active"},{"node_id":"node4","address":"a:4","status":"joining"}],
        "nodes":[{"id":"node1","address":"a:1","state":"self","ring_share":1.0,"entries":3,"bytes":10,"ring_agrees":true},
                 {"id":"node4","address":"a:4","state":"up","ring_share":0.0,"entries":0,"bytes":0,"ring_agrees":true}],
        "migration":{"running":true,"epoch":6,"keys_moved":1,"bytes_moved":1,"keys_scanned":2,"peers_pending":[]}}"#;
    let node = FakeNode::start(Script::new().on("GET /admin/cluster", &[(200, answer)]));
    for args in [&["cluster"][..], &["cluster", "status"][..]] {
        let o = client(&[&node], args);
        assert_eq!(code(&o), 0, "{}", err(&o));
        let text = out(&o);
        assert!(text.contains("2/2 nodes up"), "{text}");
        assert!(
            text.contains("epoch 6, leader node1, settled: no"),
            "{text}"
        );
        assert!(
            text.contains("node4        a:4                    joining  up"),
            "{text}"
        );
        assert!(text.contains("migration of epoch 6: 1 keys"), "{text}");
    }
    let o = client(&[&node], &["cluster", "status", "--json"]);
    assert_eq!(json(&o)["membership"][1]["status"], "joining");
}
