//! `cache-client`: the command-line client, the cluster test suite and the load generator.
//!
//! ```text
//!  cli (clap) ──► commands: get/set/cas/add/put/delete/incr/mget/mset/flush,
//!       │                   health/cluster/export/import/metrics ─────────────────► conn (blocking)
//!       │    └──► suite: the no-argument checks against every node ──────────────► conn (blocking)
//!       │    └──► top: every node each second (a thread each), ratatui screen ───► conn (blocking)
//!       └──────► bench: monoio runtime per thread, one task per connection ──────► http (pure)
//! ```
//!
//! Its own workspace member (`crates/client`, package `cache-client`): a *client* of the node's
//! HTTP API that shares no code or state with the node (`distributed-cache`); the one thing both
//! use is the protocol layer, the `dcache-http` crate ([`dcache_http::parse_response_head`] for
//! every response head, [`dcache_http::ChunkedDecoder`] for the streamed export). [`http`] holds
//! the request paths (percent-encoded keys) used by both the blocking client ([`conn`]) and the
//! load generator ([`bench`](mod@bench)), so the two speak identical HTTP. [`conn`] reaches
//! `https://` nodes over rustls ([`tls`]: which CA, which client certificate, why a handshake
//! failed); the load generator stays plain HTTP. The binary
//! (`src/main.rs`) only calls [`main`]; the library target exists so these modules can be
//! unit-tested.
//!
//! Exit codes (also in `cache-client --help`): [`EXIT_OK`], [`EXIT_FAILED`], [`EXIT_USAGE`],
//! [`EXIT_CONFLICT`].

#![warn(unreachable_pub)]

pub mod backup;
pub mod bench;
pub mod cli;
pub mod commands;
pub mod conn;
pub mod credential;
pub mod error;
pub mod http;
pub mod manual;
pub mod nodes;
pub mod output;
pub mod suite;
pub mod tls;
pub mod top;

pub use cli::main;
pub use conn::{Conn, Response};
pub use error::ClientError;

/// Success: the command did what was asked, every check passed, a bench run had no errors.
pub const EXIT_OK: u8 = 0;
/// The server answered but the answer is a failure: key not found, a check failed, a 4xx/5xx,
/// an export with missing members, a bench run with errors.
pub const EXIT_FAILED: u8 = 1;
/// Usage error (bad arguments, unreadable file) or no usable answer: connection refused, timeout,
/// a response that is not HTTP.
pub const EXIT_USAGE: u8 = 2;
/// A condition did not hold (HTTP 412): `cas` found another version than the one given (or no
/// value), `add` found the key present. Its own code, so a script can tell "lost the race, read
/// again and retry" from a failure, as memcached's `cas` answers EXISTS, not ERROR.
pub const EXIT_CONFLICT: u8 = 3;
