//! # distributed-cache: a thread-per-core HTTP/1.1 cache node
//!
//! ```text
//!            clients (curl, wrk, cache-client, peers)
//!                 │  SO_REUSEPORT: the kernel spreads connections over the cores
//!     ┌───────────┴───────────┬───────────────────────┐
//!     ▼                       ▼                       ▼
//!  core 0 (monoio rt)      core 1 (monoio rt)  ...  core N-1
//!  accept → connection     accept → connection
//!   parse (http) → route    parse (http) → route
//!     │ key on this core?     │
//!     ├─ yes: Shard 0 ◄───────┼── Msg::Key (owned KeyOp + key) ─────┐
//!     └─ no:  mesh ──────────►│ Shard 1                             │
//!                             └── Msg::KeyDone (KeyReply) to core 0 ┘
//!     │ admin fan-out: Msg::Run(closure) on each core, typed answer by oneshot
//!     │ key on another node? (cluster ring) → per-core batcher + keep-alive pool → owner node
//!     ▼ prober thread (one per node): peer up/down → on_change → Msg::Run on every core
//! ```
//!
//! Each worker thread runs one monoio runtime pinned to a core, accepts its own connections and
//! owns one shard of the LRU. No other core touches a shard: work for it arrives as a message in
//! the core's mailbox ([`mesh`]) and the reply travels back the same way. Within a core
//! everything is `Rc`/`Cell`; only the mailboxes and a few start-up facts are shared.
//!
//! ## Layers, dependencies pointing down
//!
//! | layer | where | knows |
//! |---|---|---|
//! | protocol | [`http`] = crate `dcache-http` (`crates/http`) | bytes only: request heads, chunked bodies, keys, the one response-head parser, encoders |
//! | storage | [`storage`] | the shard (LRU + index + TTL) and its typed execute step `Shard::execute(KeyOp) -> KeyReply` |
//! | mesh | [`mesh`] | mailboxes between cores, typed key tickets, closures with oneshot answers |
//! | cluster | [`cluster`] | ring, membership, prober (reports through a callback), peer client (pool, batcher, request ids) returning owned answers |
//! | server | `server` (crate-private) | per-core context of narrow parts, connection, pure router, handlers |
//! | node | [`node`] | threads, runtimes, listeners, wiring the prober to the cores |
//!
//! No module of a layer imports a layer above it: the protocol crate cannot (the compiler sees
//! to it), and `.ci/check_layers.sh` greps the others. `cache-client` (`crates/client`) is a
//! separate crate on top of the protocol crate only (and `dcache-units`, the duration and size
//! grammar it shares with [`config`]). Support modules used by several layers:
//! [`config`], [`log`], [`clock`], `deadline` (coarse per-core deadlines), [`tls`] (imports only `config`), [`auth`] (tokens and the
//! cluster secret; imports only `config` and `log`), `metrics`, `json`, `util`.

// Items are `pub` only where a binary, test, bench or the fuzz targets reach them; the rest is
// crate-private, so rustc reports dead code.
#![warn(unreachable_pub)]

pub mod auth;
pub mod clock;
pub mod cluster;
pub mod config;
mod cpus;
mod deadline;
mod json;
mod listen;
pub mod log;
pub mod mesh;
mod metrics;
pub mod node;
mod server;
pub mod signals;
pub mod startup;
pub mod storage;
pub mod tls;
mod util;
pub mod watchdog;

/// The protocol layer (its own crate, so nothing in it can reach up into the node).
pub use dcache_http as http;

pub use config::Config;
pub use node::Node;

/// Entry points for the fuzz targets in `fuzz/`: not an API, may change with any commit.
#[doc(hidden)]
pub mod fuzz_api {
    /// Parse an export/import document the way `POST /admin/import` does (limits of the default
    /// config); returns the number of entries it would restore, or why the document is refused.
    pub fn import_document(data: &[u8]) -> Result<usize, impl std::error::Error + 'static> {
        crate::server::parse_import(data, 250, 1024 * 1024).map(|plan| plan.entries.len())
    }

    /// A listener's TLS configuration, built by `crate::tls` from PEM text (`tls_accept`).
    pub struct TlsServer(std::sync::Arc<rustls::ServerConfig>);

    /// Build it as a node does; with a `ca`, clients may present a certificate signed by it
    /// (`peer_client_certs`), so the client-certificate path is exercised too.
    pub fn tls_server(
        cert: &[u8],
        key: &[u8],
        ca: &[u8],
    ) -> Result<TlsServer, crate::tls::TlsError> {
        crate::tls::configs_from_pem(cert, key, ca, !ca.is_empty()).map(|c| TlsServer(c.server))
    }

    /// Feed bytes to a fresh server session the way the listener reads a handshake (record
    /// header, then body); where it stopped. Must never panic.
    pub fn tls_accept(server: &TlsServer, data: &[u8]) -> Result<(), crate::tls::Failure> {
        crate::tls::feed_server(&server.0, data)
    }

    /// One of the cache API's small parsers on `data` (`which` selects it: If-Match,
    /// If-None-Match, traceparent, a batch document, an incr body, a stored value); whether it
    /// accepted the input. Must never panic.
    pub fn cache_api(which: u8, data: &[u8]) -> bool {
        crate::server::fuzz_cache_api(which, data)
    }

    /// The tokens [`access_status`] checks against: (environment variable, token) per class.
    pub const AUTH_TOKENS: [(&str, &str); 5] = crate::server::authz::fuzz::TOKENS;

    /// The access check of a request to `path` with `method` and this `Authorization` value,
    /// on a node with every token class of [`AUTH_TOKENS`] configured: 200 (it may run), 401
    /// or 403, and whether it counts as a peer's request.
    pub fn access_status(
        path: &[u8],
        method: crate::http::Method,
        authorization: Option<&[u8]>,
    ) -> (u16, bool) {
        crate::server::authz::fuzz::status(path, method, authorization)
    }
}
