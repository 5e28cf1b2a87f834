//! Rotation without downtime: a token file with two lines (both valid), then the new one alone,
//! picked up by a reload, in-process (`Node::reload`) and by SIGHUP to the real binary; a file
//! that cannot be loaded keeps the previous tokens in force. And the start-up refusals.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use dcache::{Config, Node};

use crate::cluster_common::call;
use crate::common::eventually;
use crate::tokens::*;

const NEW: &str = "admin-token-new-7d1f3b5a9c2e4a68";

fn status(addr: SocketAddr, token: &str) -> u16 {
    let auth = format!("Bearer {token}");
    call(
        addr,
        "GET",
        "/admin/cluster",
        &[("Authorization", &auth)],
        None,
    )
    .status
}

/// SIGHUP and explicit reloads only (`reload_interval: 0s`): the periodic re-read would race the
/// signal these tests send (watch.rs tests the periodic one).
fn config(path: &str) -> String {
    format!(
        "node_id: \"r1\"\naddress: \"127.0.0.1:0\"\ncache_size: 100\nthreads: 1\npin_threads: false\nlog_level: warn\nauth:\n  admin_token_file: \"{path}\"\n  reload_interval: \"0s\"\n"
    )
}

/// In-process: the cores see a reload on their next request (no sleep needed).
pub fn reload_rotates_tokens_in_process() {
    let t = Tokens::new("reload");
    let path = t.write("admin", &format!("{ADMIN}\n"));
    let cfg = Config::from_yaml_str(&config(&path), "<test>").expect("config");
    let node = Node::start(cfg).expect("starts");
    let addr = node.local_addr();
    assert_eq!((status(addr, ADMIN), status(addr, NEW)), (200, 401));
    t.write("admin", &format!("# rotating\n{NEW}\n{ADMIN}\n"));
    node.reload();
    assert_eq!(
        (status(addr, ADMIN), status(addr, NEW)),
        (200, 200),
        "both during the rotation"
    );
    t.write("admin", &format!("{NEW}\n"));
    node.reload();
    assert_eq!(
        (status(addr, ADMIN), status(addr, NEW)),
        (401, 200),
        "the old one is gone"
    );
    // A file others may read: refused, the previous token stays.
    t.write_mode("admin", &format!("{ADMIN}\n"), 0o644);
    node.reload();
    assert_eq!(
        (status(addr, ADMIN), status(addr, NEW)),
        (401, 200),
        "kept after a failed reload"
    );
    node.shutdown();
    assert!(node.wait(Duration::from_secs(5)));
}

/// Start-up refusals: a file others may read, and a cluster whose clients need tokens but whose
/// nodes have no secret.
pub fn start_refuses_open_files_and_clusters_without_a_secret() {
    let t = Tokens::new("refuse");
    let open = t.write_mode("admin", &format!("{ADMIN}\n"), 0o644);
    let cfg = Config::from_yaml_str(&config(&open), "<test>").expect("config");
    let e = Node::start(cfg).err().expect("refused").to_string();
    assert!(
        e.contains("auth.admin_token_file") && e.contains(&format!("chmod 600 {open}")),
        "{e}"
    );
    assert!(!e.contains(ADMIN), "{e}");

    let ok = t.write("client", &format!("{CLIENT}\n"));
    let yaml = format!(
        "node_id: \"a\"\naddress: \"127.0.0.1:0\"\ncluster_nodes:\n  a: \"127.0.0.1:1\"\n  b: \"127.0.0.1:2\"\ncache_size: 100\nthreads: 1\npin_threads: false\nauth:\n  client_token_file: \"{ok}\"\n"
    );
    let cfg = Config::from_yaml_str(&yaml, "<test>").expect("config");
    let e = Node::start(cfg).err().expect("refused").to_string();
    assert!(
        e.contains("auth.cluster_secret_file") && e.contains("auth.client_token_file"),
        "{e}"
    );
}

/// The real binary: SIGHUP re-reads the file; the log says what changed, never a token.
pub fn sighup_rotates_tokens() {
    let t = Tokens::new("sighup");
    let path = t.write("admin", &format!("{ADMIN}\n"));
    let cfg_path = t.write(
        "node.yaml",
        &config(&path).replace("log_level: warn", "log_level: info"),
    );
    let node = Proc::spawn(&cfg_path);
    let addr = node.addr();
    assert_eq!((status(addr, ADMIN), status(addr, NEW)), (200, 401));

    t.write("admin", &format!("{NEW}\n{ADMIN}\n"));
    node.hup();
    let both = eventually(Duration::from_secs(10), || status(addr, NEW) == 200);
    assert!(both, "the new token works after SIGHUP: {}", node.log());
    assert_eq!(
        status(addr, ADMIN),
        200,
        "the old one too, during the rotation"
    );

    t.write("admin", &format!("{NEW}\n"));
    node.hup();
    assert!(
        eventually(Duration::from_secs(10), || status(addr, ADMIN) == 401),
        "{}",
        node.log()
    );
    assert_eq!(status(addr, NEW), 200);

    t.write_mode("admin", "", 0o600);
    node.hup();
    assert!(
        eventually(Duration::from_secs(10), || node
            .log()
            .contains("reload failed")),
        "{}",
        node.log()
    );
    assert_eq!(status(addr, NEW), 200, "the previous token stays in force");
    let log = node.log();
    assert!(log.contains("SIGHUP: auth: admin token changed"), "{log}");
    for secret in [ADMIN, NEW] {
        assert!(!log.contains(secret), "a token in the log: {log}");
    }
    node.stop();
}

/// The binary, with its stderr collected by a thread; killed on drop.
struct Proc {
    child: Child,
    log: Arc<Mutex<String>>,
    addr: SocketAddr,
}

impl Proc {
    fn spawn(config: &str) -> Proc {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cache-node"))
            .args(["--config", config])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn cache-node");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                // main's `listening on ADDR with N worker threads` line.
                if let Some(rest) = line.split_once("listening on ").map(|(_, r)| r) {
                    if let Some((a, tail)) = rest.split_once(' ') {
                        if tail.starts_with("with ") {
                            let _ = tx.send(a.parse::<SocketAddr>().ok());
                        }
                    }
                }
                sink.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(Some(a)) => a,
            other => {
                let _ = child.kill();
                panic!("no listening line ({other:?}): {}", log.lock().unwrap());
            }
        };
        Proc { child, log, addr }
    }

    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill(2) on the pid of a child we spawned and have not reaped.
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, sig) };
        assert_eq!(rc, 0, "kill({sig})");
    }

    fn hup(&self) {
        self.signal(libc::SIGHUP);
    }

    /// SIGTERM, and wait for a clean exit.
    fn stop(mut self) {
        self.signal(libc::SIGTERM);
        let ok = eventually(
            Duration::from_secs(10),
            || matches!(self.child.try_wait(), Ok(Some(s)) if s.success()),
        );
        assert!(ok, "exits cleanly after SIGTERM: {}", self.log());
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
