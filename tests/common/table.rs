//! Catalogue-row machinery for `node_hardening.rs`: raw request builders, and a runner that sends
//! each row on a fresh connection and checks status, `Connection: close` + EOF, or that the
//! connection stays usable.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use super::Reader;

/// One catalogue row: raw request bytes and the answer they must get.
pub struct Row {
    id: &'static str,
    raw: Vec<u8>,
    status: u16,
    close: bool,
}

pub fn row(id: &'static str, raw: impl AsRef<[u8]>, status: u16, close: bool) -> Row {
    Row {
        id,
        raw: raw.as_ref().to_vec(),
        status,
        close,
    }
}

pub const BODY: &[u8] = br#"{"value":1}"#;
/// `BODY` as one chunk plus the last chunk.
pub const CHUNKED_BODY: &[u8] = b"b\r\n{\"value\":1}\r\n0\r\n\r\n";

pub fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// `PUT /api/v1/cache/{key}` with extra header lines (each ending in CRLF) and raw body bytes.
pub fn put(key: &str, fields: &[u8], body: &[u8]) -> Vec<u8> {
    cat(&[
        format!("PUT /api/v1/cache/{key} HTTP/1.1\r\nHost: t\r\n").as_bytes(),
        fields,
        b"\r\n",
        body,
    ])
}

pub fn chunked(key: &str, te: &[u8], body: &[u8]) -> Vec<u8> {
    put(key, &cat(&[b"Transfer-Encoding: ", te, b"\r\n"]), body)
}

/// A request for `target` with `version` and extra header lines.
pub fn get(target: &[u8], version: &[u8], fields: &[u8]) -> Vec<u8> {
    cat(&[b"GET ", target, b" ", version, b"\r\n", fields, b"\r\n"])
}

pub fn health(fields: &[u8]) -> Vec<u8> {
    get(
        b"/api/v1/health",
        b"HTTP/1.1",
        &cat(&[b"Host: t\r\n", fields]),
    )
}

pub fn json_put(key: &str, json: &[u8]) -> Vec<u8> {
    put(
        key,
        format!("Content-Length: {}\r\n", json.len()).as_bytes(),
        json,
    )
}

pub fn is_error_json(r: &super::Resp) -> bool {
    serde_json::from_slice::<serde_json::Value>(&r.body)
        .is_ok_and(|j| j["error"].is_string() && j["status"] == r.status)
}

/// Send one row on a fresh connection and check it; returns a description of what went wrong.
pub fn check(a: SocketAddr, r: &Row) -> Result<(), String> {
    let mut c = Reader::connect(a);
    c.set_timeout(Duration::from_secs(3));
    // The server may answer and close before it has read everything (413, 431): ignore EPIPE.
    let _ = c.stream.write_all(&r.raw);
    let resp = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| c.response(false)))
        .map_err(|_| "no response within 3 s".to_string())?
        .ok_or("connection closed without a response")?;
    if resp.status != r.status {
        return Err(format!(
            "status {} (want {}): {}",
            resp.status,
            r.status,
            resp.text()
        ));
    }
    if resp.status >= 400 && !is_error_json(&resp) {
        return Err(format!(
            "error body is not the JSON error shape: {}",
            resp.text()
        ));
    }
    if r.close {
        if !resp.closes() {
            return Err(format!("no Connection: close on {:?}", resp.headers));
        }
        let (rest, eof) = c.drain(64 * 1024);
        if !eof || !rest.is_empty() {
            return Err(format!(
                "server did not close after the response (eof {eof}, {} more bytes)",
                rest.len()
            ));
        }
    } else {
        if resp.closes() {
            return Err("unexpected Connection: close".into());
        }
        c.send(&health(b""));
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| c.response(false))) {
            Ok(Some(next)) if next.status == 200 => {}
            Ok(Some(next)) => {
                return Err(format!(
                    "out of sync: next request got {} {}",
                    next.status,
                    next.text()
                ))
            }
            _ => return Err("connection unusable after the response".into()),
        }
    }
    Ok(())
}

/// Run a group of rows, then check the node still serves; all failures are reported together.
pub fn run(group: &str, rows: &[Row]) {
    let node = super::run_single(2, "max_value_bytes: 1024\n");
    let a = node.addr();
    let mut failures = Vec::new();
    for r in rows {
        if let Err(e) = check(a, r) {
            failures.push(format!(
                "{} {:?}: {e}",
                r.id,
                String::from_utf8_lossy(&r.raw[..r.raw.len().min(120)])
            ));
        }
    }
    assert!(super::healthy(a), "{group}: node stopped answering");
    assert!(node.stop(), "{group}: node did not shut down");
    assert!(
        failures.is_empty(),
        "{group}: {} of {} rows failed:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}
