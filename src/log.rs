//! Line-oriented logging to stderr: `2026-11-25T17:40:44.123Z INFO node1 message peer=node2`.
//!
//! One line per event with a UTC timestamp, the level and the node id, so operators can `grep -i error`
//! the files the seed's scripts redirect stderr into. Nothing logs per request on the hot path; a single
//! `write` per line keeps lines from different cores from interleaving.
//!
//! `log_format: json` writes the same event as one JSON object per line (`ts`, `level`, `node`,
//! `message`, then the fields) for log shippers. Fields are named at the call site:
//! `warn!(peer = id, request_id = rid; "owner {id} failed: {e}")`; they are evaluated only when
//! the level is on. The lines a request causes carry its `request_id` (the client's
//! `X-Request-Id` as sent, a string) and `trace_id` (of a valid W3C `traceparent`), see
//! `server::request_id`. Lines a failure can repeat per request go through
//! [`admit`] (one per second per kind per core, see `limit`).

mod fields;
mod limit;

pub use fields::{ToValue, Value};
pub use limit::{admit, LogKind, LOG_LINE_INTERVAL_MS};

use std::cell::RefCell;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::{LogFormat, LogLevel};

static LEVEL: AtomicU8 = AtomicU8::new(2);
static NODE_ID: OnceLock<String> = OnceLock::new();
/// `log_format: json` (text otherwise).
static JSON: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Worker threads of in-process test nodes carry their own node id.
    static THREAD_NODE: RefCell<Option<String>> = const { RefCell::new(None) };
}

fn level_rank(l: LogLevel) -> u8 {
    match l {
        LogLevel::Error => 0,
        LogLevel::Warn => 1,
        LogLevel::Info => 2,
        LogLevel::Debug => 3,
    }
}

/// Set the process-wide level and node id (first caller wins for the id).
pub fn init(level: LogLevel, node_id: &str) {
    LEVEL.store(level_rank(level), Ordering::Relaxed);
    let _ = NODE_ID.set(node_id.to_string());
}

/// Choose the line shape (`log_format`); text until called.
pub fn set_format(format: LogFormat) {
    JSON.store(format == LogFormat::Json, Ordering::Relaxed);
}

/// Tag the current thread's log lines with `node_id`.
pub fn set_thread_node(node_id: &str) {
    THREAD_NODE.with(|n| *n.borrow_mut() = Some(node_id.to_string()));
}

pub fn enabled(level: LogLevel) -> bool {
    level_rank(level) <= LEVEL.load(Ordering::Relaxed)
}

pub fn write(level: LogLevel, args: std::fmt::Arguments<'_>) {
    write_fields(level, &[], args)
}

/// Write one line with structured `fields` (the macros' `name = value;` form).
pub fn write_fields(level: LogLevel, fields: &[(&str, Value<'_>)], args: std::fmt::Arguments<'_>) {
    if !enabled(level) {
        return;
    }
    let node = THREAD_NODE.with(|n| n.borrow().clone());
    let node = node
        .as_deref()
        .or(NODE_ID.get().map(String::as_str))
        .unwrap_or("-")
        .to_string();
    let line = Line {
        ts: &timestamp(SystemTime::now()),
        level,
        node: &node,
        message: &args.to_string(),
        fields,
    };
    let bytes = line.encode(JSON.load(Ordering::Relaxed));
    let _ = std::io::stderr().lock().write_all(&bytes);
}

/// One event, ready to encode in either format.
struct Line<'a> {
    ts: &'a str,
    level: LogLevel,
    node: &'a str,
    message: &'a str,
    fields: &'a [(&'a str, Value<'a>)],
}

impl Line<'_> {
    /// The line with its trailing newline.
    fn encode(&self, json: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(128 + self.message.len());
        if json {
            out.extend_from_slice(b"{\"ts\":");
            fields::json_string(&mut out, self.ts);
            out.extend_from_slice(b",\"level\":\"");
            out.extend_from_slice(self.level.as_str().as_bytes());
            out.extend_from_slice(b"\",\"node\":");
            fields::json_string(&mut out, self.node);
            out.extend_from_slice(b",\"message\":");
            fields::json_string(&mut out, self.message);
            fields::write_json(&mut out, self.fields);
            out.push(b'}');
        } else {
            let name = match self.level {
                LogLevel::Error => "ERROR",
                LogLevel::Warn => "WARN",
                LogLevel::Info => "INFO",
                LogLevel::Debug => "DEBUG",
            };
            let head = format!("{} {name} {} {}", self.ts, self.node, self.message);
            out.extend_from_slice(head.as_bytes());
            fields::write_text(&mut out, self.fields);
        }
        out.push(b'\n');
        out
    }
}

/// RFC 3339 UTC timestamp with milliseconds.
pub fn timestamp(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (y, mo, da) = crate::http::civil_from_days((secs / 86_400) as i64);
    let s = secs % 86_400;
    format!(
        "{y:04}-{mo:02}-{da:02}T{:02}:{:02}:{:02}.{:03}Z",
        s / 3600,
        (s / 60) % 60,
        s % 60,
        d.subsec_millis()
    )
}

/// `error!("fmt", args)` or, with fields, `error!(peer = id, key = k; "fmt", args)`.
#[macro_export]
macro_rules! error {
    ($($k:ident = $v:expr),+ ; $($t:tt)*) => { $crate::log_fields!($crate::config::LogLevel::Error, $($k = $v),+ ; $($t)*) };
    ($($t:tt)*) => { $crate::log::write($crate::config::LogLevel::Error, format_args!($($t)*)) };
}
/// `warn!("fmt", args)` or, with fields, `warn!(peer = id, key = k; "fmt", args)`.
#[macro_export]
macro_rules! warn {
    ($($k:ident = $v:expr),+ ; $($t:tt)*) => { $crate::log_fields!($crate::config::LogLevel::Warn, $($k = $v),+ ; $($t)*) };
    ($($t:tt)*) => { $crate::log::write($crate::config::LogLevel::Warn, format_args!($($t)*)) };
}
/// `info!("fmt", args)` or, with fields, `info!(peer = id; "fmt", args)`.
#[macro_export]
macro_rules! info {
    ($($k:ident = $v:expr),+ ; $($t:tt)*) => { $crate::log_fields!($crate::config::LogLevel::Info, $($k = $v),+ ; $($t)*) };
    ($($t:tt)*) => { $crate::log::write($crate::config::LogLevel::Info, format_args!($($t)*)) };
}
/// `debug!("fmt", args)` or, with fields, `debug!(peer = id; "fmt", args)`.
#[macro_export]
macro_rules! debug {
    ($($k:ident = $v:expr),+ ; $($t:tt)*) => { $crate::log_fields!($crate::config::LogLevel::Debug, $($k = $v),+ ; $($t)*) };
    ($($t:tt)*) => { $crate::log::write($crate::config::LogLevel::Debug, format_args!($($t)*)) };
}
/// The fields form of the level macros: the values are only evaluated when the level is on.
#[doc(hidden)]
#[macro_export]
macro_rules! log_fields {
    ($lvl:expr, $($k:ident = $v:expr),+ ; $($t:tt)*) => {
        if $crate::log::enabled($lvl) {
            $crate::log::write_fields(
                $lvl,
                &[$((stringify!($k), $crate::log::ToValue::to_value(&$v))),+],
                format_args!($($t)*),
            )
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let t = UNIX_EPOCH + Duration::from_millis(1_795_542_044_123);
        assert_eq!(timestamp(t), "2026-11-24T17:40:44.123Z");
        assert_eq!(timestamp(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        assert_eq!(crate::http::civil_from_days(11_016), (2000, 2, 29));
    }

    fn sample() -> Vec<u8> {
        let key: &[u8] = b"user:1";
        let fields = [
            ("peer", "node2".to_value()),
            ("key", key.to_value()),
            ("request_id", Value::Str("r-7")),
            ("trace_id", Value::Str("4bf92f3577b34da6a3ce929d0e0e4736")),
        ];
        let line = Line {
            ts: "2026-11-24T17:40:44.123Z",
            level: LogLevel::Warn,
            node: "node1",
            message: "owner \"node2\" failed",
            fields: &fields,
        };
        let text = line.encode(false);
        let mut both = line.encode(true);
        both.extend_from_slice(&text);
        both
    }

    #[test]
    fn json_and_text_lines_carry_the_same_event() {
        let both = String::from_utf8(sample()).expect("utf-8");
        let (json, text) = both.split_once('\n').expect("two lines");
        let v: serde_json::Value = serde_json::from_str(json).expect("one JSON object per line");
        assert_eq!(v["ts"], "2026-11-24T17:40:44.123Z");
        assert_eq!(
            (v["level"].as_str(), v["node"].as_str()),
            (Some("warn"), Some("node1"))
        );
        assert_eq!(v["message"], "owner \"node2\" failed");
        assert_eq!(
            (v["peer"].as_str(), v["request_id"].as_str()),
            (Some("node2"), Some("r-7"))
        );
        assert_eq!(v["key"], "user:1");
        assert_eq!(
            text,
            "2026-11-24T17:40:44.123Z WARN node1 owner \"node2\" failed peer=node2 key=user:1 request_id=r-7 trace_id=4bf92f3577b34da6a3ce929d0e0e4736\n"
        );
    }

    #[test]
    fn field_values_are_not_evaluated_when_the_level_is_off() {
        // Debug is off at the default level (info).
        let evaluated = std::cell::Cell::new(false);
        let value = || {
            evaluated.set(true);
            "x"
        };
        crate::debug!(peer = value(); "never written");
        assert!(!evaluated.get() || enabled(LogLevel::Debug));
    }
}
