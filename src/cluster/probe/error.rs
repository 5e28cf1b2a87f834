//! Why a probe of a member failed ([`ProbeError`]) and what went wrong in a health check once
//! connected ([`HealthError`]); their text is what `/admin/cluster` shows as `last_error`.

use std::io::ErrorKind;
use std::net::SocketAddr;

use super::MAX_PROBE_RESPONSE;
use crate::cluster::ConnectError;
use crate::http::ProtoError;

/// Why a probe of a member failed; its text is the member's `last_error` in `/admin/cluster`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeError {
    /// The member's configured `host:port` resolved to no address.
    Unresolved { addr: String },
    /// No connection to the last address tried.
    Connect(ConnectError),
    /// Connected to `addr`, but the health check failed.
    Health {
        addr: SocketAddr,
        cause: HealthError,
    },
}

/// What went wrong in a health check once connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthError {
    /// Setting the socket's timeouts failed.
    Setup(ErrorKind),
    Write(ErrorKind),
    Read(ErrorKind),
    /// More than `MAX_PROBE_RESPONSE` bytes.
    TooLarge,
    /// A read waited `cluster.probe_timeout` (`ms`) without data.
    NoAnswer {
        ms: u64,
    },
    /// The whole answer took longer than `cluster.probe_timeout` (`ms`).
    TimedOut {
        ms: u64,
    },
    /// The peer closed before a whole response head.
    EndedEarly,
    Malformed(ProtoError),
    /// The peer answered another status than 200.
    Answered(u16),
    /// The body is not the health JSON document (serde's category and position).
    Body {
        category: serde_json::error::Category,
        line: usize,
        column: usize,
    },
}

impl std::fmt::Display for ProbeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProbeError::Unresolved { addr } => write!(f, "cannot resolve {addr}"),
            ProbeError::Connect(e) => write!(f, "{e}"),
            ProbeError::Health { addr, cause } => write!(f, "{addr}: {cause}"),
        }
    }
}

impl std::error::Error for ProbeError {}

fn kind_text(k: ErrorKind) -> String {
    k.to_string().to_lowercase()
}

impl std::fmt::Display for HealthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use serde_json::error::Category;
        match *self {
            HealthError::Setup(k) => write!(f, "socket timeouts: {}", kind_text(k)),
            HealthError::Write(k) => write!(f, "write: {}", kind_text(k)),
            HealthError::Read(k) => write!(f, "read: {}", kind_text(k)),
            HealthError::TooLarge => write!(
                f,
                "health response too large (over {MAX_PROBE_RESPONSE} bytes)"
            ),
            HealthError::NoAnswer { ms } => {
                write!(f, "no answer within cluster.probe_timeout ({ms} ms)")
            }
            HealthError::TimedOut { ms } => write!(
                f,
                "timed out: health response not complete within cluster.probe_timeout ({ms} ms)"
            ),
            HealthError::EndedEarly => f.write_str("health response ended early"),
            HealthError::Malformed(e) => write!(f, "health response: {e}"),
            HealthError::Answered(status) => write!(f, "health answered {status}"),
            HealthError::Body {
                category,
                line,
                column,
            } => {
                let what = match category {
                    Category::Io => "read error",
                    Category::Syntax => "invalid JSON",
                    Category::Data => "unexpected JSON",
                    Category::Eof => "truncated JSON",
                };
                write!(f, "health body: {what} at line {line} column {column}")
            }
        }
    }
}

impl std::error::Error for HealthError {}
