//! Line-oriented logging to stderr: `2026-11-25T17:40:44.123Z INFO node1 message`.
//!
//! One line per event with a UTC timestamp, the level and the node id, so operators can `grep -i error`
//! the files the seed's scripts redirect stderr into. Nothing logs per request on the hot path; a single
//! `write` per line keeps lines from different cores from interleaving.

use std::cell::RefCell;
use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::LogLevel;

static LEVEL: AtomicU8 = AtomicU8::new(2);
static NODE_ID: OnceLock<String> = OnceLock::new();

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

/// Tag the current thread's log lines with `node_id`.
pub fn set_thread_node(node_id: &str) {
    THREAD_NODE.with(|n| *n.borrow_mut() = Some(node_id.to_string()));
}

pub fn enabled(level: LogLevel) -> bool {
    level_rank(level) <= LEVEL.load(Ordering::Relaxed)
}

pub fn write(level: LogLevel, args: std::fmt::Arguments<'_>) {
    if !enabled(level) {
        return;
    }
    let name = match level {
        LogLevel::Error => "ERROR",
        LogLevel::Warn => "WARN",
        LogLevel::Info => "INFO",
        LogLevel::Debug => "DEBUG",
    };
    let node = THREAD_NODE.with(|n| n.borrow().clone());
    let node = node
        .as_deref()
        .or(NODE_ID.get().map(String::as_str))
        .unwrap_or("-")
        .to_string();
    let line = format!("{} {name} {node} {args}\n", timestamp(SystemTime::now()));
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
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

#[macro_export]
macro_rules! error { ($($t:tt)*) => { $crate::log::write($crate::config::LogLevel::Error, format_args!($($t)*)) } }
#[macro_export]
macro_rules! warn { ($($t:tt)*) => { $crate::log::write($crate::config::LogLevel::Warn, format_args!($($t)*)) } }
#[macro_export]
macro_rules! info { ($($t:tt)*) => { $crate::log::write($crate::config::LogLevel::Info, format_args!($($t)*)) } }
#[macro_export]
macro_rules! debug { ($($t:tt)*) => { $crate::log::write($crate::config::LogLevel::Debug, format_args!($($t)*)) } }

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
}
