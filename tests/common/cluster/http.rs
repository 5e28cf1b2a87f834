//! HTTP to any node of a test cluster: one-shot calls, keep-alive connections, and what the
//! suites compare in answers (the answering node, the version an `ETag` names).

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::common::{encode_key, Reader, Resp};

/// `/api/v1/cache/<percent-encoded key>`
pub fn key_path(key: &str) -> String {
    format!("/api/v1/cache/{}", encode_key(key.as_bytes()))
}

/// A request with extra header lines; `Content-Length` is added when there is a body.
pub fn raw(method: &str, path: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\nHost: t\r\n");
    for (n, v) in headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    if let Some(b) = body {
        out.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    if let Some(b) = body {
        bytes.extend_from_slice(b);
    }
    bytes
}

/// One request on a fresh connection.
pub fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Resp {
    let mut c = Conn::open(addr);
    c.call(method, path, headers, body)
}

pub fn get(addr: SocketAddr, key: &str) -> Resp {
    call(addr, "GET", &key_path(key), &[], None)
}

pub fn put(addr: SocketAddr, key: &str, body: &str) -> Resp {
    call(addr, "PUT", &key_path(key), &[], Some(body.as_bytes()))
}

pub fn delete(addr: SocketAddr, key: &str) -> Resp {
    call(addr, "DELETE", &key_path(key), &[], None)
}

/// A keep-alive connection to one node.
pub struct Conn {
    pub reader: Reader,
}

impl Conn {
    pub fn open(addr: SocketAddr) -> Conn {
        let s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        s.set_read_timeout(Some(Duration::from_secs(15)))
            .expect("timeout");
        s.set_nodelay(true).expect("nodelay");
        Conn {
            reader: Reader::new(s),
        }
    }

    pub fn call(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Resp {
        self.reader.send(&raw(method, path, headers, body));
        self.reader
            .response(method == "HEAD")
            .unwrap_or_else(|| panic!("no response to {method} {path}"))
    }
}

/// What must be equal whichever node answered: status, body and every header but `Date` and
/// the `X-Cache-*` ones (names lower-cased, sorted).
pub fn comparable(r: &Resp) -> (u16, Vec<(String, String)>, String) {
    let mut headers: Vec<(String, String)> = r
        .headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
        .filter(|(n, _)| n != "date" && !n.starts_with("x-cache-"))
        .collect();
    headers.sort();
    (r.status, headers, r.text())
}

/// `X-Cache-Node` of a response.
pub fn node_of(r: &Resp) -> &str {
    r.header("x-cache-node").unwrap_or("<none>")
}

/// The `ETag` of a versioned answer, checked to be `"` + 16 lower-case hex digits + `"`.
pub fn etag(r: &Resp) -> String {
    let tag = r
        .header("etag")
        .unwrap_or_else(|| panic!("no ETag on {} {}", r.status, r.text()));
    let hex = tag
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or("");
    assert!(
        hex.len() == 16
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "ETag {tag:?} is not a quoted 16-digit hex version"
    );
    tag.to_string()
}

/// The version an `ETag` names.
pub fn etag_version(tag: &str) -> u64 {
    u64::from_str_radix(tag.trim_matches('"'), 16).expect("hex ETag")
}
