//! How commands report: human text by default, one JSON document on stdout with `--json`.
//! Errors go to stderr as `error: ...` (or a JSON object on stdout with `--json`) and each way of
//! failing maps to one exit code here.

use serde_json::{json, Value};

use super::conn::Response;
use super::error::ClientError;
use super::{EXIT_CONFLICT, EXIT_FAILED, EXIT_USAGE};

#[derive(Clone, Copy, Debug)]
pub struct Out {
    pub json: bool,
}

impl Out {
    /// No usable answer (connection refused, timeout, not HTTP): exit 2.
    pub fn client_error(&self, e: &ClientError) -> u8 {
        if self.json {
            println!(
                "{}",
                json!({"ok": false, "error": e.to_string(), "kind": e.kind(), "address": e.addr()})
            );
        } else {
            eprintln!("error: {e}");
        }
        EXIT_USAGE
    }

    /// Bad arguments or an unreadable local file: exit 2.
    pub fn usage(&self, msg: &str) -> u8 {
        if self.json {
            println!("{}", json!({"ok": false, "error": msg, "kind": "usage"}));
        } else {
            eprintln!("error: {msg}");
        }
        EXIT_USAGE
    }

    /// The server answered with a failure status: exit 1. With `--json` the node's own JSON
    /// error body is printed as it is. The message names the node that answered, when it said.
    pub fn http_failure(&self, what: &str, r: &Response) -> u8 {
        self.failure_json(r);
        if !self.json {
            let node = served_by(r)
                .map(|n| format!(" (node {n})"))
                .unwrap_or_default();
            eprintln!(
                "error: {what}: HTTP {} {}{node}",
                r.status,
                r.error_message()
            );
        }
        EXIT_FAILED
    }

    /// A condition did not hold (HTTP 412: `cas` lost to another write, `add` found the key):
    /// exit 3, `msg` on stderr. With `--json` the node's body plus the current `etag` if any.
    pub fn precondition_failed(&self, msg: &str, r: &Response) -> u8 {
        if self.json {
            match with_etag(&r.body, r.header("etag")) {
                Some(text) => println!("{text}"),
                None => self.failure_json(r),
            }
        } else {
            eprintln!("error: {msg}");
        }
        EXIT_CONFLICT
    }

    fn failure_json(&self, r: &Response) {
        if !self.json {
            return;
        }
        match r.json() {
            Some(v) => println!("{v}"),
            None => println!(
                "{}",
                json!({"ok": false, "status": r.status, "error": r.error_message()})
            ),
        }
    }

    /// Print the node's body as it came (its JSON keeps the node's member order and number
    /// spellings such as `2.50`), trailing whitespace trimmed.
    pub fn body(&self, r: &Response) {
        println!("{}", r.text().trim_end());
    }

    pub fn value(&self, v: &Value) {
        println!("{v}");
    }
}

/// The node's JSON object `body` (its member order and number spellings kept) with an `etag`
/// member added when `etag` is given: the tag to pass to `cas --if-match`. `None` when the body
/// is not a JSON object.
pub fn with_etag(body: &[u8], etag: Option<&str>) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?.trim_end();
    let map: serde_json::Map<String, Value> = serde_json::from_str(text).ok()?;
    let Some(etag) = etag else {
        return Some(text.to_string());
    };
    let open = text.strip_suffix('}')?;
    let sep = if map.is_empty() { "" } else { "," };
    Some(format!("{open}{sep}\"etag\":{}}}", Value::from(etag)))
}

/// Environment variable that turns colour off when set to anything but "" (https://no-color.org).
pub const NO_COLOR_ENV: &str = "NO_COLOR";

/// Whether output may be coloured. Only `top`'s full-screen view colours anything (node states);
/// every other command prints plain text, so NO_COLOR has nothing else to turn off.
pub fn colour_allowed() -> bool {
    colour_allowed_by(std::env::var_os(NO_COLOR_ENV).as_deref())
}

/// [`colour_allowed`] for a given `NO_COLOR` value: present and non-empty means no colour.
pub fn colour_allowed_by(no_color: Option<&std::ffi::OsStr>) -> bool {
    !matches!(no_color, Some(v) if !v.is_empty())
}

/// `X-Cache-Node`, plus `(via X)` when another node relayed the request.
pub fn served_by(r: &Response) -> Option<String> {
    let node = r.header("x-cache-node")?;
    Some(match r.header("x-cache-forwarded-by") {
        Some(via) => format!("{node} (via {via})"),
        None => node.to_string(),
    })
}

/// Seconds as a short human duration: `59 s`, `2 min 5 s`, `3 h 0 min`, `2 d 4 h`.
pub fn secs_text(s: u64) -> String {
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {} s", s / 60, s % 60),
        3600..=86_399 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

/// Bytes as `512 B`, `1.5 KiB`, `3.2 MiB`, `1.1 GiB`.
pub fn bytes_text(b: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if b < 1024 {
        return format!("{b} B");
    }
    let mut v = b as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_color_set_to_anything_but_empty_turns_colour_off() {
        use std::ffi::OsStr;
        assert!(colour_allowed_by(None));
        assert!(colour_allowed_by(Some(OsStr::new(""))));
        for v in ["1", "0", "false", "yes"] {
            assert!(!colour_allowed_by(Some(OsStr::new(v))), "NO_COLOR={v}");
        }
    }

    #[test]
    fn the_etag_joins_the_nodes_body_as_it_came() {
        let body = br#"{"key":"n","value":{"v":[1,2.50]}}"#;
        assert_eq!(
            with_etag(body, Some("\"00000000000000ff\"")).unwrap(),
            r#"{"key":"n","value":{"v":[1,2.50]},"etag":"\"00000000000000ff\""}"#
        );
        assert_eq!(with_etag(b"{}\n", Some("*")).unwrap(), r#"{"etag":"*"}"#);
        assert_eq!(with_etag(b"{\"a\":1}\n", None).unwrap(), r#"{"a":1}"#);
        assert!(with_etag(b"[1]", Some("x")).is_none());
        assert!(with_etag(b"\x89PNG", Some("x")).is_none());
    }

    #[test]
    fn human_units() {
        assert_eq!(secs_text(5), "5 s");
        assert_eq!(secs_text(125), "2 min 5 s");
        assert_eq!(secs_text(3600), "1 h 0 min");
        assert_eq!(secs_text(187_200), "2 d 4 h");
        assert_eq!(bytes_text(512), "512 B");
        assert_eq!(bytes_text(1536), "1.5 KiB");
        assert_eq!(bytes_text(3 * 1024 * 1024), "3.0 MiB");
    }
}
