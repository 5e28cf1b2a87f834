//! `cache-client top` against a real three-node cluster started in this process: the full-screen
//! view inside a detached tmux session (keys sent with `send-keys`, the screen read with
//! `capture-pane`), and `--once` on a pipe. The tmux test skips, saying why, without tmux.

use std::net::SocketAddr;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use dcache::{Config, Node};

const BIN: &str = env!("CARGO_BIN_EXE_cache-client");
const IDS: [&str; 3] = ["node1", "node2", "node3"];

/// Longest wait for a screen or the end of the session: generous, a busy 2-core CI machine
/// builds and tests in parallel; a healthy run takes a second or two.
const WAIT: Duration = Duration::from_secs(10);
/// Between two looks at the screen.
const POLL: Duration = Duration::from_millis(100);

/// Three nodes on loopback addresses of their own, shut down when dropped.
struct Cluster {
    nodes: Vec<Node>,
    addrs: Vec<SocketAddr>,
}

impl Cluster {
    /// `test_no` keeps the addresses of the tests of this file apart: `127.<pid>.<240+test_no>.n`
    /// (the server's cluster suites use third octets below 40, see `tests/common/cluster.rs`).
    fn start(test_no: u8) -> Cluster {
        let second = 20 + (std::process::id() % 200) as u8;
        let addrs: Vec<SocketAddr> = (0..IDS.len())
            .map(|i| {
                format!("127.{second}.{}.{}:{}", 240 + test_no, i + 1, 18001 + i)
                    .parse()
                    .expect("socket address")
            })
            .collect();
        let members: String = IDS
            .iter()
            .zip(&addrs)
            .map(|(id, a)| format!("  {id}: \"{a}\"\n"))
            .collect();
        let nodes = IDS
            .iter()
            .zip(&addrs)
            .map(|(id, addr)| {
                let yaml = format!(
                    "node_id: \"{id}\"\naddress: \"{addr}\"\ncluster_nodes:\n{members}\
                     cache_size: 10000\nthreads: 1\npin_threads: false\nlog_level: warn\n"
                );
                let cfg = Config::from_yaml_str(&yaml, "<top test>").expect("valid test config");
                // From a throwaway thread, as tests/common/cluster.rs explains: the io_uring
                // probe of the first start must not interrupt a blocking call of this thread.
                std::thread::spawn(move || Node::start(cfg))
                    .join()
                    .expect("start thread")
                    .unwrap_or_else(|e| panic!("{id} starts: {e}"))
            })
            .collect();
        Cluster { nodes, addrs }
    }

    fn nodes_flag(&self) -> String {
        let addrs: Vec<String> = self.addrs.iter().map(|a| a.to_string()).collect();
        addrs.join(",")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in &self.nodes {
            n.shutdown();
        }
        for n in self.nodes.drain(..) {
            n.wait(Duration::from_secs(5));
        }
    }
}

/// A tmux server of our own (its own socket, `-L`), killed when dropped, so the test never
/// touches a user's sessions and leaves nothing running.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn cmd(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux")
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "top"]).stdout).into_owned()
    }

    /// Poll the screen until `ok` holds; the last screen either way.
    fn wait_for(&self, ok: impl Fn(&str) -> bool) -> (bool, String) {
        let deadline = Instant::now() + WAIT;
        loop {
            let s = self.screen();
            if ok(&s) || Instant::now() > deadline {
                return (ok(&s), s);
            }
            std::thread::sleep(POLL);
        }
    }

    fn session_alive(&self) -> bool {
        self.cmd(&["has-session", "-t", "top"]).status.success()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

fn tmux_installed() -> bool {
    Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn top_full_screen_in_tmux_shows_the_cluster_and_obeys_keys() {
    if !tmux_installed() {
        eprintln!("SKIPPED top_full_screen_in_tmux: tmux is not installed (apt-get install tmux)");
        return;
    }
    let cluster = Cluster::start(1);
    let tmux = Tmux {
        socket: format!("dcache-top-{}", std::process::id()),
    };
    let command = format!("'{BIN}' --nodes {} top", cluster.nodes_flag());
    let out = tmux.cmd(&[
        "new-session",
        "-d",
        "-s",
        "top",
        "-x",
        "160",
        "-y",
        "40",
        &command,
    ]);
    assert!(out.status.success(), "tmux new-session: {out:?}");

    let (ok, screen) = tmux.wait_for(|s| {
        IDS.iter().all(|id| s.contains(id)) && s.contains("REQ/S") && s.contains("3/3 nodes up")
    });
    assert!(
        ok,
        "no frame with the three nodes within {WAIT:?}:\n{screen}"
    );
    assert!(screen.contains("NODE") && screen.contains("HIT%") && screen.contains("cluster"));

    tmux.cmd(&["send-keys", "-t", "top", "p"]);
    let (ok, screen) = tmux.wait_for(|s| s.contains("PAUSED"));
    assert!(ok, "p did not pause:\n{screen}");
    tmux.cmd(&["send-keys", "-t", "top", "s"]);
    let (ok, screen) = tmux.wait_for(|s| s.contains("sorted by req/s"));
    assert!(ok, "s did not change the sort column:\n{screen}");

    tmux.cmd(&["send-keys", "-t", "top", "q"]);
    let deadline = Instant::now() + WAIT;
    while tmux.session_alive() && Instant::now() < deadline {
        std::thread::sleep(POLL);
    }
    assert!(
        !tmux.session_alive(),
        "q did not end top:\n{}",
        tmux.screen()
    );
}

#[test]
fn top_once_on_a_pipe_prints_one_frame_and_a_down_node_does_not_stop_it() {
    let cluster = Cluster::start(2);
    // Port 1 of loopback: nothing listens, the connection is refused at once.
    let nodes = format!("{},127.0.0.1:1", cluster.nodes_flag());
    let out = Command::new(BIN)
        .args(["--nodes", &nodes, "top", "--once", "--interval", "200ms"])
        .output()
        .expect("run cache-client");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "a node is down: exit 1\n{text}");
    for want in [
        "NODE",
        "REQ/S",
        "node1",
        "node2",
        "node3",
        "3/4 nodes up",
        "down",
        "127.0.0.1:1",
    ] {
        assert!(text.contains(want), "{want:?} missing from\n{text}");
    }
    assert!(!text.contains('\x1b'), "no escape codes on a pipe:\n{text}");
}
