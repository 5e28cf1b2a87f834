//! Raw values and caching headers (issue 12), with real nodes speaking bytes.
//!
//! A PUT whose `Content-Type` is not JSON (nor absent, nor curl's form default) stores the body
//! bytes with their type; a GET gives exactly those bytes back with that type, on one node and
//! across three (forwarded, and from the replica once the owner is gone). Every GET of a value
//! carries `ETag`, `Cache-Control` and `Last-Modified`. Export/import carry raw values as base64.
//!
//! Cluster numbers (see `cluster_addrs`): 70 and 71.

#[path = "../common/cluster.rs"]
mod cluster_common;
#[path = "../common/mod.rs"]
mod common;

mod cluster;
mod single;

use std::net::SocketAddr;

use common::{Reader, Resp};

/// Bytes no text codec survives: NUL, bytes that are not UTF-8, CR/LF, a quote, a backslash.
pub const BINARY: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\xff\xfe\xc3\x28\"\\\n\x00end";

/// One request on a fresh connection: `headers` as given (no Content-Type is added), a
/// `Content-Length` when there is a body.
pub fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Resp {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: t\r\n");
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    if let Some(b) = body {
        head.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body.unwrap_or_default());
    let mut r = Reader::connect(addr);
    r.send(&bytes);
    r.response(method == "HEAD")
        .unwrap_or_else(|| panic!("no response to {method} {path}"))
}

/// `PUT` of raw bytes with `content_type` and extra headers.
pub fn put_raw(
    addr: SocketAddr,
    path: &str,
    content_type: &str,
    extra: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    let mut headers = vec![("Content-Type", content_type)];
    headers.extend_from_slice(extra);
    send(addr, "PUT", path, &headers, Some(body))
}

pub fn get(addr: SocketAddr, path: &str) -> Resp {
    send(addr, "GET", path, &[], None)
}

/// Seconds since the Unix epoch of an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub fn http_date_secs(text: &str) -> u64 {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let parts: Vec<&str> = text.split([' ', ':']).collect();
    assert_eq!(parts.len(), 8, "not an IMF-fixdate: {text:?}");
    assert_eq!(parts[7], "GMT", "{text:?}");
    let num = |s: &str| s.parse::<i64>().unwrap_or_else(|_| panic!("{text:?}"));
    let (d, y) = (num(parts[1]), num(parts[3]));
    let m = MONTHS
        .iter()
        .position(|m| *m == parts[2])
        .unwrap_or_else(|| panic!("month in {text:?}")) as i64
        + 1;
    // Days from civil (Howard Hinnant), the inverse of the node's formatter.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    (days * 86_400 + num(parts[4]) * 3600 + num(parts[5]) * 60 + num(parts[6])) as u64
}

/// Seconds since the Unix epoch now.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

#[test]
fn a_binary_value_comes_back_byte_for_byte_with_its_type() {
    single::a_binary_value_comes_back_byte_for_byte_with_its_type();
}

#[test]
fn the_content_type_chooses_the_envelope_or_raw_bytes() {
    single::the_content_type_chooses_the_envelope_or_raw_bytes();
}

#[test]
fn bad_content_types_and_ttls_are_refused_with_the_reason() {
    single::bad_content_types_and_ttls_are_refused_with_the_reason();
}

#[test]
fn a_raw_ttl_from_the_query_or_header_shows_in_max_age_and_expires() {
    single::a_raw_ttl_from_the_query_or_header_shows_in_max_age_and_expires();
}

#[test]
fn max_value_bytes_bounds_the_raw_body() {
    single::max_value_bytes_bounds_the_raw_body();
}

#[test]
fn cache_control_without_ttl_follows_the_config() {
    single::cache_control_without_ttl_follows_the_config();
}

#[test]
fn export_then_import_restores_raw_values_on_another_node() {
    single::export_then_import_restores_raw_values_on_another_node();
}

#[test]
fn three_nodes_serve_the_same_bytes_and_headers_and_the_replica_after_the_owner_stops() {
    cluster::three_nodes_serve_the_same_bytes_and_headers_and_the_replica_after_the_owner_stops();
}

#[test]
fn a_cluster_export_and_import_carry_raw_values() {
    cluster::a_cluster_export_and_import_carry_raw_values();
}
