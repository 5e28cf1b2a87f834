//! The real `cache-node` binary as operators run it: both flag styles of the deployment guide,
//! `--check`, `--version`/`--help`, a second instance on a busy port, SIGTERM with idle and
//! in-flight connections, and the shape of the log lines on stderr.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{build, Reader};

const BIN: &str = env!("CARGO_BIN_EXE_cache-node");

/// Limit for a short-lived invocation (`--check`, `--version`, a config error, a busy port) to
/// exit. It needs well under 0.1 s (no network, no waiting); the point is only that it exits at
/// once instead of starting or retrying, so the bound is generous for a loaded 2-core machine.
const QUICK: Duration = Duration::from_secs(5);

/// Limit for a node with no request in flight to exit after SIGTERM. It needs about 0.1 s; the
/// bound stays below the default `timeouts.shutdown` (10 s), which a node that waited for its
/// idle connections would take.
const SIGTERM_EXIT: Duration = Duration::from_secs(5);

/// How long a starting node may take to report its address (a wait limit, not a measurement).
const START: Duration = Duration::from_secs(20);

/// Write `text` to a fresh file in a per-test directory under the system temp dir.
fn write_config(name: &str, text: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "dcache-node-process-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write config");
    path
}

fn config_text(port: u16, extra: &str) -> String {
    format!(
        "node_id: \"p1\"\naddress: \"127.0.0.1:{port}\"\ncache_size: 100\nthreads: 1\npin_threads: false\n{extra}"
    )
}

/// A running child process; killed (and reaped) on drop, and its config dir removed. Its stderr
/// is collected by a thread, which also reports the address of the `listening on ADDR ...` line.
struct Proc {
    child: Child,
    config: Option<PathBuf>,
    log: Arc<Mutex<String>>,
    log_reader: Option<JoinHandle<()>>,
    listening: mpsc::Receiver<SocketAddr>,
}

/// The address in main's start-up line `... listening on ADDR with N worker threads, ...` (not
/// the config summary's `listening on 127.0.0.1:0 (...)`, which is the configured address).
fn listening_addr(line: &str) -> Option<SocketAddr> {
    let rest = line.split_once("listening on ")?.1;
    let (addr, rest) = rest.split_once(' ')?;
    rest.starts_with("with ").then(|| addr.parse().ok())?
}

impl Proc {
    fn spawn(args: &[&str], config: Option<PathBuf>) -> Proc {
        let mut child = Command::new(BIN)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn cache-node");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, listening) = mpsc::channel();
        let sink = Arc::clone(&log);
        let log_reader = std::thread::spawn(move || {
            let mut stderr = BufReader::new(stderr);
            let mut line = Vec::new();
            loop {
                line.clear();
                match stderr.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        let text = String::from_utf8_lossy(&line);
                        if let Some(addr) = listening_addr(&text) {
                            let _ = tx.send(addr);
                        }
                        sink.lock().unwrap().push_str(&text);
                    }
                }
            }
        });
        Proc {
            child,
            config,
            log,
            log_reader: Some(log_reader),
            listening,
        }
    }

    /// The address the node reports it is listening on (panics with its log if it exits or says
    /// nothing within `START`).
    fn wait_listening(&mut self) -> SocketAddr {
        match self.listening.recv_timeout(START) {
            Ok(addr) => addr,
            Err(e) => panic!(
                "no `listening on` line ({e}); exit status {:?}; stderr:\n{}",
                self.child.try_wait(),
                self.stderr()
            ),
        }
    }

    fn sigterm(&self) {
        // SAFETY: kill(2) with a pid we spawned and have not reaped yet; no memory is involved.
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        assert_eq!(rc, 0, "kill(SIGTERM) failed");
    }

    /// Wait up to `limit` for the process to exit.
    fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// What the process wrote to stderr: everything once it has exited, so far otherwise.
    fn stderr(&mut self) -> String {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            if let Some(reader) = self.log_reader.take() {
                let _ = reader.join();
            }
        }
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = self.config.as_ref().and_then(|p| p.parent()) {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Start the binary on `127.0.0.1:0` with `args` (the config path is substituted for `{}`):
/// the node binds once and reports the address it got, which is returned once it answers.
fn start(extra: &str, args: &[&str]) -> (Proc, SocketAddr) {
    let path = write_config("node.yaml", &config_text(0, extra));
    let p = path.to_str().expect("utf-8 path").to_string();
    let args: Vec<String> = args.iter().map(|a| a.replace("{}", &p)).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut proc = Proc::spawn(&args, Some(path));
    let addr = proc.wait_listening();
    assert!(
        addr.ip().is_loopback() && addr.port() != 0,
        "reported address {addr}"
    );
    // Main logs the line once every core accepts: the node answers at once.
    assert!(
        common::healthy(addr),
        "node on {addr} does not answer: {}",
        proc.stderr()
    );
    (proc, addr)
}

/// Run a short-lived invocation to completion: it must exit within `QUICK`.
fn run(args: &[&str]) -> Output {
    let mut p = Proc::spawn(args, None);
    let status = p
        .wait_exit(QUICK)
        .unwrap_or_else(|| panic!("{args:?} still running after {QUICK:?}"));
    let mut stdout = Vec::new();
    if let Some(mut o) = p.child.stdout.take() {
        let _ = o.read_to_end(&mut stdout);
    }
    let stderr = p.stderr().into_bytes();
    Output {
        status,
        stdout,
        stderr,
    }
}

#[test]
fn both_config_flag_styles_start_the_node() {
    for style in [
        &["-config={}"][..],
        &["--config", "{}"],
        &["-config", "{}"],
        &["-c", "{}"],
    ] {
        let (mut p, addr) = start("", style);
        let r = common::request(addr, "GET", "/api/v1/health", None);
        assert_eq!(r.header("x-cache-node"), Some("p1"), "{style:?}");
        p.sigterm();
        let status = p.wait_exit(SIGTERM_EXIT).expect("exits after SIGTERM");
        assert!(status.success(), "{style:?}: {status:?}");
    }
}

/// `--check` on a valid file: exit 0 at once, and it never binds (the port is held meanwhile).
#[test]
fn check_accepts_a_valid_config_without_binding() {
    let holder = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = holder.local_addr().unwrap().port();
    let path = write_config("ok.yaml", &config_text(port, ""));
    let out = run(&["--check", "--config", path.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("config OK"));
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

/// Bad configs: exit 2 (config error, not 1 = bind failure) at once, with the file, the key
/// and the line on stderr, both with `--check` and on a real start.
#[test]
fn check_rejects_bad_configs_with_file_key_and_line() {
    let holder = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = holder.local_addr().unwrap().port();
    let base = config_text(port, "");
    let cases: Vec<(&str, String, &str, Option<&str>)> = vec![
        (
            "unknown.yaml",
            format!("{base}bogus_key: 1\n"),
            "bogus_key",
            Some(":6"),
        ),
        (
            "type.yaml",
            base.replace("cache_size: 100", "cache_size: \"lots\""),
            "cache_size",
            Some(":3"),
        ),
        (
            "addr.yaml",
            base.replace(&format!("127.0.0.1:{port}"), ":70000"),
            "address",
            Some(":2"),
        ),
        (
            "nested.yaml",
            format!("{base}timeouts:\n  header: banana\n"),
            "timeouts.header",
            Some(":7"),
        ),
        (
            "range.yaml",
            format!("{base}limits:\n  max_pipeline: 0\n"),
            "limits.max_pipeline",
            Some(":7"),
        ),
    ];
    for (name, text, key, line) in cases {
        let path = write_config(name, &text);
        for args in [vec!["--check", "--config"], vec!["-config"]] {
            let mut args = args.clone();
            args.push(path.to_str().unwrap());
            let out = run(&args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{name} {args:?}: {err}");
            assert!(
                err.contains(path.to_str().unwrap()),
                "{name}: file not named: {err}"
            );
            assert!(
                err.contains(&format!("`{key}`")),
                "{name}: key not named: {err}"
            );
            if let Some(line) = line {
                assert!(
                    err.contains(&format!("{name}{line}:")),
                    "{name}: line not named: {err}"
                );
            }
        }
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }
    let missing = std::env::temp_dir().join(format!("dcache-missing-{}.yaml", std::process::id()));
    let out = run(&["--check", "--config", missing.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(missing.to_str().unwrap()) && err.contains("No such file"),
        "{err}"
    );
    drop(holder);
}

#[test]
fn version_and_help() {
    let out = run(&["--version"]);
    assert!(out.status.success());
    let v = String::from_utf8_lossy(&out.stdout);
    assert!(v.contains(env!("CARGO_PKG_VERSION")), "{v}");
    let out = run(&["--help"]);
    assert!(out.status.success());
    let h = String::from_utf8_lossy(&out.stdout);
    for flag in ["--config", "--check", "--print-config", "--version"] {
        assert!(h.contains(flag), "--help does not mention {flag}: {h}");
    }
}

/// A second instance (or any program) on the port: exit non-zero at once, and say why.
#[test]
fn second_instance_on_a_busy_port_exits_at_once() {
    let (mut first, addr) = start("", &["--config", "{}"]);
    let path = write_config("second.yaml", &config_text(addr.port(), ""));
    let arg = format!("-config={}", path.display());
    let out = run(&[&arg]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "second instance started: {err}");
    assert!(err.contains("address already in use"), "{err}");
    assert!(common::healthy(addr), "first instance disturbed");
    first.sigterm();
    assert!(first.wait_exit(SIGTERM_EXIT).is_some_and(|s| s.success()));
    let _ = std::fs::remove_dir_all(path.parent().unwrap());

    let holder = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = holder.local_addr().unwrap().port();
    let path = write_config("held.yaml", &config_text(port, ""));
    let out = run(&["--config", path.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("address already in use"));
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

/// SIGTERM with an idle keep-alive connection open: exit 0 without waiting for the shutdown
/// timeout (within `SIGTERM_EXIT`), the connection sees EOF.
#[test]
fn sigterm_with_idle_keep_alive_connection_exits_zero() {
    let (mut p, addr) = start("", &["--config", "{}"]);
    let mut c = Reader::connect(addr);
    c.send(build("GET", "/api/v1/health", None).as_bytes());
    assert_eq!(c.response(false).expect("health").status, 200);
    p.sigterm();
    let status = p
        .wait_exit(SIGTERM_EXIT)
        .unwrap_or_else(|| panic!("still running {SIGTERM_EXIT:?} after SIGTERM"));
    assert!(status.success(), "{status:?}");
    c.set_timeout(Duration::from_secs(1));
    let (rest, eof) = c.drain(1024);
    assert!(eof && rest.is_empty(), "idle connection not closed cleanly");
}

/// SIGTERM while a request body is still arriving: the request is answered (with
/// `Connection: close`) or the connection is closed cleanly; exit 0, bounded by the shutdown
/// timeout (2 s) plus main's exit grace (1 s) plus 2 s of slack for a loaded machine. Draining
/// this one request needs about 0.3 s, so the bound is more than 5x that.
#[test]
fn sigterm_with_request_in_flight_drains_and_exits_zero() {
    let (mut p, addr) = start("timeouts: {shutdown: \"2s\"}\n", &["--config", "{}"]);
    let mut c = Reader::connect(addr);
    c.send(b"PUT /api/v1/cache/inflight HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\n{\"va");
    std::thread::sleep(Duration::from_millis(100));
    let t0 = Instant::now();
    p.sigterm();
    std::thread::sleep(Duration::from_millis(200));
    let _ = c.stream.write_all(b"lue\":1}");
    c.set_timeout(Duration::from_secs(4));
    let answered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| c.response(false)));
    match answered {
        Ok(Some(resp)) => {
            assert_eq!(resp.status, 201, "{}", resp.text());
            assert!(resp.closes(), "draining node kept the connection");
        }
        Ok(None) => {} // closed without a response: acceptable
        Err(_) => panic!("connection neither answered nor closed"),
    }
    let limit = Duration::from_secs(2 + 1 + 2);
    let status = p
        .wait_exit(limit.saturating_sub(t0.elapsed()))
        .unwrap_or_else(|| panic!("did not exit within {limit:?} of SIGTERM"));
    assert!(status.success(), "{status:?}");
}

/// `2026-11-25T17:40:44.123Z INFO node1 message`
fn is_log_line(line: &str, node: &str) -> bool {
    let mut parts = line.splitn(4, ' ');
    let (Some(ts), Some(level), Some(id), Some(msg)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let ts_ok = ts.len() == 24
        && ts.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            10 => b == b'T',
            13 | 16 => b == b':',
            19 => b == b'.',
            23 => b == b'Z',
            _ => b.is_ascii_digit(),
        });
    ts_ok && ["ERROR", "WARN", "INFO", "DEBUG"].contains(&level) && id == node && !msg.is_empty()
}

#[test]
fn logs_carry_timestamp_level_node_id_and_startup_facts() {
    let (mut p, addr) = start("", &["--config", "{}"]);
    p.sigterm();
    assert!(p.wait_exit(SIGTERM_EXIT).is_some_and(|s| s.success()));
    let err = p.stderr();
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty(), "no logs on stderr");
    for l in &lines {
        assert!(is_log_line(l, "p1"), "malformed log line: {l:?}");
    }
    let listening = lines
        .iter()
        .find(|l| l.contains(&format!("listening on {addr} ")) && l.contains("worker thread"))
        .unwrap_or_else(|| panic!("no start-up line naming the address: {err}"));
    assert!(
        listening.contains(" 1 worker thread"),
        "threads not named: {listening}"
    );
    assert!(
        listening.contains("uring") || listening.contains("epoll"),
        "driver not named: {listening}"
    );
    assert!(
        lines.iter().any(|l| l.contains("SIGTERM")),
        "shutdown not logged: {err}"
    );
}

/// `access_log_every: N` logs one response in N per core, with method, route, status and the
/// client's request id, in the configured format.
#[test]
fn sampled_access_log_names_method_route_status_and_request_id() {
    let (mut p, addr) = start(
        "access_log_every: 2\nlog_format: json\n",
        &["--config", "{}"],
    );
    for i in 0..4 {
        let raw = format!(
            "GET /api/v1/cache/k{i} HTTP/1.1\r\nHost: x\r\nX-Request-Id: 4{i}\r\nConnection: close\r\n\r\n"
        );
        let mut r = Reader::new(common::connect(addr));
        r.send(raw.as_bytes());
        assert_eq!(r.response(false).expect("answer").status, 404);
    }
    p.sigterm();
    assert!(p.wait_exit(SIGTERM_EXIT).is_some_and(|s| s.success()));
    let err = p.stderr();
    let access: Vec<serde_json::Value> = err
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["message"] == "access")
        .collect();
    assert_eq!(access.len(), 2, "one line in two: {err}");
    for v in &access {
        assert_eq!(
            (&v["method"], &v["route"], &v["status"]),
            (&"GET".into(), &"cache".into(), &404.into()),
            "{v}"
        );
    }
    // `start` asked for the health document first (response 1), so ours are responses 2..5:
    // the 2nd and 4th responses are logged, our requests 40 and 42 (ids are logged as the
    // strings the client sent, numeric or not).
    assert_eq!(access[0]["request_id"], "40");
    assert_eq!(access[1]["request_id"], "42");
}
