//! Errors of the blocking client. Each names the address it concerns, so "connection refused"
//! always says where; [`ClientError::kind`] gives a stable word for `--json` output.

use std::io;

use dcache_http::ProtoError;

#[derive(Debug)]
pub enum ClientError {
    /// The address did not resolve, or resolved to nothing.
    Resolve { addr: String, source: io::Error },
    /// No TCP connection could be opened (refused, unreachable, connect timeout).
    Connect { addr: String, source: io::Error },
    /// No complete answer within the client's timeout.
    Timeout { addr: String },
    /// The connection broke while sending or receiving.
    Io { addr: String, source: io::Error },
    /// The peer closed the connection before a complete response.
    Closed { addr: String },
    /// The answer is not HTTP we can frame.
    Protocol { addr: String, error: ProtoError },
    /// The TLS handshake failed (untrusted CA, name mismatch, a plain-HTTP server on an
    /// `https://` address), or a plain request met a node that speaks TLS; `reason` says which.
    Tls { addr: String, reason: String },
    /// Reading the request body from a local file, or writing the response to one, failed.
    Local { what: String, source: io::Error },
}

impl ClientError {
    /// One stable word per variant, for `--json` error objects.
    pub fn kind(&self) -> &'static str {
        match self {
            ClientError::Resolve { .. } => "resolve",
            ClientError::Connect { .. } => "connect",
            ClientError::Timeout { .. } => "timeout",
            ClientError::Io { .. } => "io",
            ClientError::Closed { .. } => "closed",
            ClientError::Protocol { .. } => "protocol",
            ClientError::Tls { .. } => "tls",
            ClientError::Local { .. } => "local",
        }
    }

    /// The node address involved, if any.
    pub fn addr(&self) -> Option<&str> {
        match self {
            ClientError::Resolve { addr, .. }
            | ClientError::Connect { addr, .. }
            | ClientError::Timeout { addr }
            | ClientError::Io { addr, .. }
            | ClientError::Closed { addr }
            | ClientError::Protocol { addr, .. }
            | ClientError::Tls { addr, .. } => Some(addr),
            ClientError::Local { .. } => None,
        }
    }
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Resolve { addr, source } => write!(f, "cannot resolve {addr}: {source}"),
            ClientError::Connect { addr, source } => {
                write!(f, "cannot connect to {addr}: {source}")
            }
            ClientError::Timeout { addr } => write!(f, "{addr} did not answer in time"),
            ClientError::Io { addr, source } => write!(f, "connection to {addr} failed: {source}"),
            ClientError::Closed { addr } => {
                write!(f, "{addr} closed the connection before answering")
            }
            ClientError::Protocol { addr, error } => write!(f, "{addr}: {error}"),
            ClientError::Tls { addr, reason } => write!(f, "TLS with {addr} failed: {reason}"),
            ClientError::Local { what, source } => write!(f, "{what}: {source}"),
        }
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClientError::Resolve { source, .. }
            | ClientError::Connect { source, .. }
            | ClientError::Io { source, .. }
            | ClientError::Local { source, .. } => Some(source),
            ClientError::Protocol { error, .. } => Some(error),
            ClientError::Timeout { .. } | ClientError::Closed { .. } | ClientError::Tls { .. } => {
                None
            }
        }
    }
}
