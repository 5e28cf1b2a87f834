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
//!     ├─ yes: Shard 0 ◄───────┼── mesh message (owned key/value) ──┐
//!     └─ no:  mesh ──────────►│ Shard 1                             │
//!                             └── reply message back to core 0 ─────┘
//!     │ key on another node? (cluster ring) → per-core keep-alive pool → owner node
//! ```
//!
//! Each worker thread runs one monoio runtime pinned to a core, accepts its own connections and
//! owns one shard of the LRU. No other core touches a shard: work for it arrives as a message in
//! the core's mailbox ([`mesh`]) and the reply travels back the same way. Within a core
//! everything is `Rc`/`Cell`; only the mailboxes and a few start-up facts are shared.
//!
//! Layers, dependencies pointing down: [`http`] (pure parsing and encoding) and [`storage`]
//! (pure shard) know nothing of each other; [`router`] is the only module that knows HTTP,
//! storage and placement; [`connection`] drives sockets; [`node`] wires threads together.

pub mod clock;
pub mod cluster;
pub mod config;
mod json;
pub mod log;
pub mod mesh;
mod metrics;
pub mod node;
mod server;
pub mod signals;
pub mod startup;
pub mod storage;
mod util;

/// The protocol layer (its own crate, so nothing in it can reach up into the node).
pub use dcache_http as http;

pub use config::Config;
pub use node::Node;

/// Entry points for the fuzz targets in `fuzz/`: not an API, may change with any commit.
#[doc(hidden)]
pub mod fuzz_api {
    /// Parse an export/import document the way `POST /admin/import` does (limits of the default
    /// config); returns the number of entries it would restore.
    pub fn import_document(data: &[u8]) -> Result<usize, String> {
        crate::server::parse_import(data, 250, 1024 * 1024).map(|plan| plan.entries.len())
    }
}
