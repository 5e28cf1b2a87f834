//! Why a request to a peer failed: small `Copy` enums, each naming what went wrong and where.

use std::io::ErrorKind;
use std::net::SocketAddr;

use crate::http::ProtoError;

/// Why no connection to a peer could be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectError {
    /// The peer's name resolved to no address (yet).
    NoAddress,
    /// The last address tried refused or failed.
    Io { addr: SocketAddr, kind: ErrorKind },
    /// The last address tried did not accept within `cluster.connect_timeout`.
    TimedOut { addr: SocketAddr, ms: u64 },
    /// Connected to the last address tried, but the TLS handshake failed.
    Tls {
        addr: SocketAddr,
        why: crate::tls::Failure,
    },
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::NoAddress => f.write_str("its address does not resolve"),
            ConnectError::Io { addr, kind } => {
                write!(f, "{addr}: {}", kind.to_string().to_lowercase())
            }
            ConnectError::TimedOut { addr, ms } => {
                write!(f, "{addr}: connect timed out after {ms} ms")
            }
            ConnectError::Tls { addr, why } => write!(f, "{addr}: {why}"),
        }
    }
}

/// The peer's connection broke or its answer cannot be framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Broken {
    Write(ErrorKind),
    Read(ErrorKind),
    /// The peer closed the connection before the whole answer arrived.
    Closed,
    /// The answer is larger than a maximum-size value plus its wrapping.
    TooLarge,
    Malformed(ProtoError),
    /// Our peers always send `Content-Length`; anything else means a stranger or a bug.
    NotLengthFramed,
    /// The answer carries another request id than the one asked: the connection is out of step.
    Desync {
        got: Option<u64>,
        want: u64,
    },
    /// The peer announced `Connection: close` with more answers of a batch still due.
    ClosedMidBatch,
}

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Broken::Write(k) => write!(f, "write: {}", k.to_string().to_lowercase()),
            Broken::Read(k) => write!(f, "read: {}", k.to_string().to_lowercase()),
            Broken::Closed => f.write_str("peer closed the connection"),
            Broken::TooLarge => f.write_str("peer response too large"),
            Broken::Malformed(e) => write!(f, "{e} from peer"),
            Broken::NotLengthFramed => f.write_str("peer response without Content-Length"),
            Broken::Desync { got: Some(g), want } => write!(
                f,
                "peer response answers request id {g}, expected {want} (desync)"
            ),
            Broken::Desync { got: None, want } => write!(
                f,
                "peer response carries no request id, expected {want} (desync)"
            ),
            Broken::ClosedMidBatch => f.write_str("peer closed the connection mid-batch"),
        }
    }
}

/// Why a forward or node-to-node call failed; each maps to one status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FwdError {
    /// No connection slot left toward the peer on this core (`cluster.pool_max_total`).
    Exhausted,
    /// Not queued: this core's queue to the peer is full (`cluster.max_queued_per_peer` requests,
    /// or the byte bound): the peer is not keeping up. Nothing was sent.
    QueueFull {
        jobs: u32,
        kib: u32,
    },
    Connect(ConnectError),
    /// No answer within the deadline (`ms`).
    Timeout {
        ms: u64,
    },
    Broken(Broken),
}

impl FwdError {
    /// The status a client gets when its forwarded request failed this way.
    pub fn status(self) -> u16 {
        match self {
            FwdError::Exhausted | FwdError::QueueFull { .. } => 503,
            FwdError::Connect(_) | FwdError::Broken(_) => 502,
            FwdError::Timeout { .. } => 504,
        }
    }

    /// The metrics label index (see `FORWARD_RESULTS`): 1 error, 2 timeout.
    pub fn result_index(self) -> usize {
        match self {
            FwdError::Timeout { .. } => 2,
            _ => 1,
        }
    }
}

impl std::fmt::Display for FwdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FwdError::Exhausted => f.write_str(
                "too many connections open to it from this core (cluster.pool_max_total)",
            ),
            FwdError::QueueFull { jobs, kib } => write!(
                f,
                "{jobs} requests ({kib} KiB) are queued for it on this core already (cluster.max_queued_per_peer)"
            ),
            FwdError::Connect(e) => write!(f, "{e}"),
            FwdError::Timeout { ms } => {
                write!(f, "no answer within cluster.request_timeout ({ms} ms)")
            }
            FwdError::Broken(b) => write!(f, "{b}"),
        }
    }
}

impl std::error::Error for FwdError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_messages_name_the_cause() {
        let addr: SocketAddr = "127.0.0.1:9".parse().expect("addr");
        let cases = [
            (FwdError::Exhausted, 503, "pool_max_total"),
            (
                FwdError::QueueFull { jobs: 16, kib: 3 },
                503,
                "16 requests (3 KiB) are queued",
            ),
            (
                FwdError::Connect(ConnectError::Io {
                    addr,
                    kind: ErrorKind::ConnectionRefused,
                }),
                502,
                "127.0.0.1:9: connection refused",
            ),
            (FwdError::Timeout { ms: 250 }, 504, "(250 ms)"),
            (
                FwdError::Broken(Broken::Desync {
                    got: Some(3),
                    want: 4,
                }),
                502,
                "request id 3, expected 4",
            ),
        ];
        for (e, status, text) in cases {
            assert_eq!(e.status(), status, "{e:?}");
            assert!(e.to_string().contains(text), "{e}: wants {text:?}");
        }
    }
}
