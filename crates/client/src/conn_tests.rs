//! Unit tests for `conn.rs` (a child module of it; see the `#[path]` there).

use super::*;
use crate::error::ClientError;
use std::net::TcpListener;

/// A one-shot server: accepts one connection, reads a request head, answers `reply`.
fn serve(replies: Vec<&'static [u8]>) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        for reply in replies {
            let mut buf = [0u8; 4096];
            let mut got = Vec::new();
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut buf).unwrap();
                if n == 0 {
                    return;
                }
                got.extend_from_slice(&buf[..n]);
            }
            s.write_all(reply).unwrap();
        }
    });
    addr
}

#[test]
fn keep_alive_content_length_and_chunked() {
    let addr = serve(vec![
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Cache-Node: a\r\n\r\nhi",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
    ]);
    let mut c = Conn::new(addr, Duration::from_secs(5));
    let r = c.request("GET", "/x", None).unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"hi"[..]));
    assert_eq!(r.header("x-cache-node"), Some("a"));
    let r = c.request("GET", "/y", None).unwrap();
    assert_eq!(r.body, b"abcde");
}

#[test]
fn refused_names_the_address() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    drop(l);
    let mut c = Conn::new(addr.clone(), Duration::from_secs(2));
    let e = c.request("GET", "/", None).unwrap_err();
    assert_eq!(e.kind(), "connect");
    assert!(e.to_string().contains(&addr), "{e}");
}

#[test]
fn close_delimited_body() {
    let addr = serve(vec![b"HTTP/1.0 200 OK\r\n\r\nuntil close"]);
    let mut c = Conn::new(addr, Duration::from_secs(5));
    let r = c.request("GET", "/", None).unwrap();
    assert_eq!(r.body, b"until close");
}

/// Accepts connections one after the other; on each, answers `per_conn[i]` requests with
/// `reply`, then closes it. Sends every request head it read to the returned receiver.
fn serve_counting(
    per_conn: Vec<usize>,
    reply: &'static [u8],
) -> (String, std::sync::mpsc::Receiver<String>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for n in per_conn {
            let Ok((mut s, _)) = l.accept() else { return };
            let mut got = Vec::new();
            for _ in 0..n {
                let mut buf = [0u8; 4096];
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(k) => got.extend_from_slice(&buf[..k]),
                    }
                }
                let end = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                let head = String::from_utf8_lossy(&got[..end]).into_owned();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("Content-Length: "))
                    .map_or(0, |v| v.trim().parse().unwrap());
                while got.len() < end + len {
                    let k = s.read(&mut buf).unwrap();
                    got.extend_from_slice(&buf[..k]);
                }
                got.drain(..end + len);
                let _ = tx.send(head);
                s.write_all(reply).unwrap();
            }
        }
    });
    (addr, rx)
}

const OK_EMPTY: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

#[test]
fn options_add_headers_and_the_body_type() {
    let (addr, heads) = serve_counting(vec![1], OK_EMPTY);
    let mut c = Conn::new(addr, Duration::from_secs(5));
    let opts = Options {
        content_type: "image/png",
        headers: &[("If-Match", "\"00000000000000aa\""), ("X-Cache-TTL", "60")],
        idempotent: true,
    };
    let r = c
        .request_with("PUT", "/k", Some(b"\x89PNG"), &opts)
        .unwrap();
    assert_eq!(r.status, 200);
    let head = heads.recv().unwrap();
    for line in [
        "PUT /k HTTP/1.1\r\n",
        "\r\nIf-Match: \"00000000000000aa\"\r\n",
        "\r\nX-Cache-TTL: 60\r\n",
        "\r\nContent-Type: image/png\r\n",
        "\r\nContent-Length: 4\r\n",
    ] {
        assert!(head.contains(line), "{line:?} missing from {head:?}");
    }
}

#[test]
fn a_request_that_must_not_repeat_is_not_resent_on_a_stale_connection() {
    // The first connection serves one request and closes: the next request on it finds it
    // stale. An idempotent one is sent again on a new connection; an incr is not.
    let (addr, heads) = serve_counting(vec![1, 1], OK_EMPTY);
    let mut c = Conn::new(addr.clone(), Duration::from_secs(5));
    assert_eq!(c.request("GET", "/a", None).unwrap().status, 200);
    std::thread::sleep(Duration::from_millis(50)); // the close reaches this side
    assert_eq!(c.request("GET", "/b", None).unwrap().status, 200);
    assert_eq!(heads.iter().take(2).count(), 2);

    let (addr, heads) = serve_counting(vec![1, 1], OK_EMPTY);
    let mut c = Conn::new(addr, Duration::from_secs(5));
    assert_eq!(c.request("GET", "/a", None).unwrap().status, 200);
    std::thread::sleep(Duration::from_millis(50));
    let once = Options {
        idempotent: false,
        ..Options::default()
    };
    let e = c
        .request_with("POST", "/k/incr", Some(b"{}"), &once)
        .unwrap_err();
    assert!(
        matches!(e, ClientError::Closed { .. } | ClientError::Io { .. }),
        "{e}"
    );
    assert_eq!(
        heads.recv().unwrap().lines().next(),
        Some("GET /a HTTP/1.1")
    );
    assert!(
        heads.recv_timeout(Duration::from_millis(200)).is_err(),
        "the incr was sent a second time"
    );
}

#[test]
fn an_answer_sent_before_the_body_was_read_is_reported() {
    // As a node refuses a body above its limit: 413 at once, half-close, read a little, close.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf);
        let body = br#"{"error":"body too large","status":413}"#;
        let head = format!(
            "HTTP/1.1 413 Payload Too Large\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(body).unwrap();
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut left = 64 * 1024;
        while left > 0 {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => left -= n.min(left),
            }
        }
    });
    let mut c = Conn::new(addr, Duration::from_secs(5));
    let big = vec![b'x'; 8 * 1024 * 1024];
    let r = c.request("PUT", "/k", Some(&big)).unwrap();
    assert_eq!(
        (r.status, r.error_message().as_str()),
        (413, "body too large")
    );
}
