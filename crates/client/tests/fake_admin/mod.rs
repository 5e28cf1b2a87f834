//! A fake node for `client_cluster.rs`: a thread on `127.0.0.1:0` answering canned JSON per
//! route, in sequence (the last answer repeats), one request per connection. It records every
//! request, and can stop listening after a number of requests (a node being stopped), so the
//! client's waits, refusals and fall-backs are tested without a real cluster.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long the fake waits for a request's bytes: a stuck client must not hold a test forever.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// One route's canned answers (status, JSON body) and the index of the next one to serve.
struct Route {
    route: String,
    answers: Vec<(u16, String)>,
    next: usize,
}

/// Canned answers: `"METHOD /path"` -> answers served in order, the last one repeated.
#[derive(Default)]
pub struct Script {
    routes: Vec<Route>,
    /// Stop listening after this many requests (connections are then refused).
    serve_at_most: Option<usize>,
}

impl Script {
    pub fn new() -> Script {
        Script::default()
    }

    /// Answers of `route` ("GET /admin/cluster"), in order.
    pub fn on(mut self, route: &str, answers: &[(u16, &str)]) -> Script {
        let answers = answers.iter().map(|(s, b)| (*s, b.to_string())).collect();
        self.routes.push(Route {
            route: route.to_string(),
            answers,
            next: 0,
        });
        self
    }

    pub fn then_stop_after(mut self, requests: usize) -> Script {
        self.serve_at_most = Some(requests);
        self
    }

    /// The next answer for `route`; 404 for a route the script does not know.
    fn answer(&mut self, route: &str) -> (u16, String) {
        let Some(r) = self.routes.iter_mut().find(|r| r.route == route) else {
            return (
                404,
                format!("{{\"error\":\"no route {route} in the fake\"}}"),
            );
        };
        let i = r.next.min(r.answers.len() - 1);
        r.next += 1;
        r.answers[i].clone()
    }
}

/// A running fake; stops (and joins its thread) when dropped.
pub struct FakeNode {
    pub addr: String,
    log: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeNode {
    pub fn start(mut script: Script) -> FakeNode {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr").to_string();
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (log2, stop2) = (log.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut served = 0;
            for conn in listener.incoming() {
                if stop2.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                if let Some(line) = serve(conn, &mut script) {
                    log2.lock().expect("log").push(line);
                }
                served += 1;
                if script.serve_at_most == Some(served) {
                    break; // the listener closes: the node is gone
                }
            }
        });
        FakeNode {
            addr,
            log,
            stop,
            thread: Some(thread),
        }
    }

    /// Every request so far, as `"METHOD /path body"`.
    pub fn requests(&self) -> Vec<String> {
        self.log.lock().expect("log").clone()
    }
}

impl Drop for FakeNode {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept; refused when the fake already stopped listening.
        let _ = TcpStream::connect(&self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Read one request, answer it and close; the request as `"METHOD /path body"`.
fn serve(conn: TcpStream, script: &mut Script) -> Option<String> {
    conn.set_read_timeout(Some(READ_TIMEOUT)).ok()?;
    let mut reader = BufReader::new(conn.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let route = format!("{} {}", parts.next()?, parts.next()?);
    let mut len = 0;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        if h.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = h.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                len = value.trim().parse().ok()?;
            }
        }
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    let (status, answer) = script.answer(&route);
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         X-Cache-Node: fake\r\nConnection: close\r\n\r\n",
        answer.len()
    );
    let mut conn = conn;
    conn.write_all(head.as_bytes()).ok()?;
    conn.write_all(answer.as_bytes()).ok()?;
    Some(
        format!("{route} {}", String::from_utf8_lossy(&body))
            .trim_end()
            .to_string(),
    )
}
