//! `cache-client` conventions shared with other command-line tools, checked on the built binary:
//! `CACHE_NODES` (with `--nodes` winning), shell completions, the man page, and the duration
//! grammar shared with the node's config.

mod common;

use std::process::{Command, Output};

/// The binary run from a directory without `config/`, with no `CACHE_NODES` unless `env` gives it.
fn client(env: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cache-client"));
    cmd.args(args).current_dir(std::env::temp_dir());
    match env {
        Some(nodes) => cmd.env("CACHE_NODES", nodes),
        None => cmd.env_remove("CACHE_NODES"),
    };
    cmd.output().expect("cache-client runs")
}

fn all_output(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

/// A loopback port that was just free: nothing listens there.
fn dead_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").to_string()
}

#[test]
fn cache_nodes_names_the_cluster_and_the_flag_wins() {
    let node = common::run_single(1, "");
    let live = node.addr().to_string();
    let dead = dead_addr();

    let o = client(Some(&live), &["health"]);
    assert_eq!(o.status.code(), Some(0), "{}", all_output(&o));
    // Spaces as in monitoring/check_live.sh; the dead node is reported by address.
    let o = client(Some(&format!("{live} {dead}")), &["health"]);
    assert_ne!(o.status.code(), Some(0), "{}", all_output(&o));
    assert!(all_output(&o).contains(&dead), "{}", all_output(&o));

    let o = client(Some(&dead), &["--nodes", &live, "health"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "--nodes must win: {}",
        all_output(&o)
    );
    let o = client(Some(&live), &["--nodes", &dead, "health"]);
    assert_eq!(o.status.code(), Some(2), "{}", all_output(&o));
    assert!(all_output(&o).contains(&dead), "{}", all_output(&o));
}

#[test]
fn completions_and_man_page_need_no_cluster() {
    for shell in ["bash", "zsh", "fish"] {
        let o = client(None, &["completions", shell]);
        let script = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.status.code(), Some(0), "{shell}: {}", all_output(&o));
        assert!(
            script.contains("bench") && script.contains("export"),
            "{shell}: {script}"
        );
    }
    let o = client(None, &["man"]);
    assert_eq!(o.status.code(), Some(0), "{}", all_output(&o));
    let page = String::from_utf8_lossy(&o.stdout);
    assert!(
        page.contains(".TH cache-client 1") && page.contains(".SH SUBCOMMANDS"),
        "{page}"
    );
}

#[test]
fn durations_without_a_unit_are_usage_errors_naming_the_fix() {
    let o = client(Some(&dead_addr()), &["--timeout", "5", "health"]);
    assert_eq!(o.status.code(), Some(2), "{}", all_output(&o));
    let text = all_output(&o);
    assert!(
        text.contains("--timeout") && text.contains("\"5s\""),
        "{text}"
    );
}
