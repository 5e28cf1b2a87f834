//! Unit tests for `conn.rs` (a child module of it; see the `#[path]` there).

use super::*;
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
