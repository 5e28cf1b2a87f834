//! The real `cache-node` binary as operators run it: both flag styles of the deployment guide,
//! `--check`, `--version`/`--help`, a second instance on a busy port, SIGTERM with idle and
//! in-flight connections, and the shape of the log lines on stderr.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{build, Reader};

const BIN: &str = env!("CARGO_BIN_EXE_cache-node");

/// A port that was free a moment ago (bound to port 0, then released).
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    l.local_addr().expect("local addr").port()
}

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

/// A running child process; killed (and reaped) on drop, and its config dir removed.
struct Proc {
    child: Child,
    config: Option<PathBuf>,
}

impl Proc {
    fn spawn(args: &[&str], config: Option<PathBuf>) -> Proc {
        let child = Command::new(BIN)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn cache-node");
        Proc { child, config }
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

    /// Everything the (exited) process wrote to stderr.
    fn stderr(&mut self) -> String {
        let mut s = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut s);
        }
        s
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

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Start the binary with `args` (the config path is substituted for `{}`) and wait until healthy.
fn start(port: u16, extra: &str, args: &[&str]) -> Proc {
    let path = write_config("node.yaml", &config_text(port, extra));
    let p = path.to_str().expect("utf-8 path").to_string();
    let args: Vec<String> = args.iter().map(|a| a.replace("{}", &p)).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut proc = Proc::spawn(&args, Some(path));
    let up = common::eventually(Duration::from_secs(5), || {
        common::healthy(addr(port)) || proc.child.try_wait().ok().flatten().is_some()
    });
    assert!(
        up && common::healthy(addr(port)),
        "node on port {port} did not come up: {}",
        proc.stderr()
    );
    proc
}

/// Run a short-lived invocation to completion (at most `limit`).
fn run(args: &[&str], limit: Duration) -> (Output, Duration) {
    let t0 = Instant::now();
    let mut p = Proc::spawn(args, None);
    let status = p
        .wait_exit(limit)
        .unwrap_or_else(|| panic!("{args:?} still running after {limit:?}"));
    let mut stdout = Vec::new();
    if let Some(mut o) = p.child.stdout.take() {
        let _ = o.read_to_end(&mut stdout);
    }
    let stderr = p.stderr().into_bytes();
    (
        Output {
            status,
            stdout,
            stderr,
        },
        t0.elapsed(),
    )
}

#[test]
fn both_config_flag_styles_start_the_node() {
    for style in [
        &["-config={}"][..],
        &["--config", "{}"],
        &["-config", "{}"],
        &["-c", "{}"],
    ] {
        let port = free_port();
        let mut p = start(port, "", style);
        let r = common::request(addr(port), "GET", "/api/v1/health", None);
        assert_eq!(r.header("x-cache-node"), Some("p1"), "{style:?}");
        p.sigterm();
        let status = p
            .wait_exit(Duration::from_secs(2))
            .expect("exits after SIGTERM");
        assert!(status.success(), "{style:?}: {status:?}");
    }
}

/// `--check` on a valid file: exit 0 quickly, and it never binds (the port is held meanwhile).
#[test]
fn check_accepts_a_valid_config_without_binding() {
    let holder = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = holder.local_addr().unwrap().port();
    let path = write_config("ok.yaml", &config_text(port, ""));
    let (out, took) = run(
        &["--check", "--config", path.to_str().unwrap()],
        Duration::from_secs(1),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("config OK"));
    assert!(took < Duration::from_secs(1));
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

/// Bad configs: exit 2 (config error, not 1 = bind failure) within 1 s, with the file, the key
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
            let (out, took) = run(&args, Duration::from_secs(1));
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{name} {args:?}: {err}");
            assert!(took < Duration::from_secs(1), "{name}: {took:?}");
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
    let (out, took) = run(
        &["--check", "--config", missing.to_str().unwrap()],
        Duration::from_secs(1),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(took < Duration::from_secs(1));
    assert!(
        err.contains(missing.to_str().unwrap()) && err.contains("No such file"),
        "{err}"
    );
    drop(holder);
}

#[test]
fn version_and_help() {
    let (out, _) = run(&["--version"], Duration::from_secs(1));
    assert!(out.status.success());
    let v = String::from_utf8_lossy(&out.stdout);
    assert!(v.contains(env!("CARGO_PKG_VERSION")), "{v}");
    let (out, _) = run(&["--help"], Duration::from_secs(1));
    assert!(out.status.success());
    let h = String::from_utf8_lossy(&out.stdout);
    for flag in ["--config", "--check", "--print-config", "--version"] {
        assert!(h.contains(flag), "--help does not mention {flag}: {h}");
    }
}

/// A second instance (or any program) on the port: exit non-zero at once, and say why.
#[test]
fn second_instance_on_a_busy_port_exits_at_once() {
    let port = free_port();
    let mut first = start(port, "", &["--config", "{}"]);
    let path = write_config("second.yaml", &config_text(port, ""));
    let arg = format!("-config={}", path.display());
    let (out, took) = run(&[&arg], Duration::from_secs(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "second instance started: {err}");
    assert!(took < Duration::from_millis(1500), "took {took:?}");
    assert!(err.contains("address already in use"), "{err}");
    assert!(common::healthy(addr(port)), "first instance disturbed");
    first.sigterm();
    assert!(first
        .wait_exit(Duration::from_secs(2))
        .is_some_and(|s| s.success()));
    let _ = std::fs::remove_dir_all(path.parent().unwrap());

    let holder = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = holder.local_addr().unwrap().port();
    let path = write_config("held.yaml", &config_text(port, ""));
    let (out, _) = run(
        &["--config", path.to_str().unwrap()],
        Duration::from_secs(2),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("address already in use"));
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

/// SIGTERM with an idle keep-alive connection open: exit 0 within 2 s, the connection sees EOF.
#[test]
fn sigterm_with_idle_keep_alive_connection_exits_zero() {
    let port = free_port();
    let mut p = start(port, "", &["--config", "{}"]);
    let mut c = Reader::connect(addr(port));
    c.send(build("GET", "/api/v1/health", None).as_bytes());
    assert_eq!(c.response(false).expect("health").status, 200);
    let t0 = Instant::now();
    p.sigterm();
    let status = p
        .wait_exit(Duration::from_secs(2))
        .expect("still running 2 s after SIGTERM");
    assert!(status.success(), "{status:?}");
    assert!(t0.elapsed() < Duration::from_secs(2));
    c.set_timeout(Duration::from_secs(1));
    let (rest, eof) = c.drain(1024);
    assert!(eof && rest.is_empty(), "idle connection not closed cleanly");
}

/// SIGTERM while a request body is still arriving: the request is answered (with
/// `Connection: close`) or the connection is closed cleanly; exit 0 within the shutdown timeout.
#[test]
fn sigterm_with_request_in_flight_drains_and_exits_zero() {
    let port = free_port();
    let mut p = start(port, "timeouts: {shutdown: \"2s\"}\n", &["--config", "{}"]);
    let mut c = Reader::connect(addr(port));
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
    let status = p
        .wait_exit(Duration::from_secs(4))
        .expect("did not exit within shutdown timeout + grace");
    assert!(status.success(), "{status:?}");
    assert!(
        t0.elapsed() < Duration::from_millis(3500),
        "exit took {:?}",
        t0.elapsed()
    );
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
    let port = free_port();
    let mut p = start(port, "", &["--config", "{}"]);
    p.sigterm();
    assert!(p
        .wait_exit(Duration::from_secs(2))
        .is_some_and(|s| s.success()));
    let err = p.stderr();
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty(), "no logs on stderr");
    for l in &lines {
        assert!(is_log_line(l, "p1"), "malformed log line: {l:?}");
    }
    let listening = lines
        .iter()
        .find(|l| {
            l.contains(&format!("listening on 127.0.0.1:{port}")) && l.contains("worker thread")
        })
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
