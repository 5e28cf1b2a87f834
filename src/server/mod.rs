//! The server layer: everything one core does with a client connection.
//!
//! - [`core`]: the per-core context, composed of narrow parts (shard executor, responder, peer
//!   client, shutdown signal), and the typed cross-core calls;
//! - [`admission`]: connection limits, the peer reserve and the per-address count;
//! - [`connection`]: read → parse every complete request → dispatch → encode → one write;
//! - [`router`]: pure request validation into typed requests (no I/O, unit-tested);
//! - [`authz`]: the per-core access check (token classes, 401/403, forwarding markers);
//! - [`handlers`]: what each route does (cache, forward, admin, export, import, hand-over);
//! - [`respond`]: response encoding and counting; [`document`]: the export document format;
//! - [`tasks`]: the core's mailbox, sweep and accept loops;
//! - [`tls_accept`]: the TLS handshake of an accepted connection, then the same connection loop;
//! - [`sync`]: catch-up before serving and the stall detector; [`hints`]: hinted hand-off;
//!   [`snapshot`]: the warm-restart files of `data_dir`.
//!
//! This layer sits on the protocol (`http`), storage, mesh and cluster layers and nothing below
//! imports it; `node` wires it to threads.

pub(crate) mod admission;
pub(crate) mod authz;
mod conditions;
mod connection;
pub(crate) mod core;
mod document;
mod handlers;
mod hints;
pub(crate) mod hot;
mod json_error;
pub(crate) mod migrate;
mod request_id;
mod respond;
mod respond_cond;
mod router;
pub(crate) mod shared;
mod shutdown;
pub(crate) mod snapshot;
pub(crate) mod sync;
pub(crate) mod tasks;
mod tls_accept;
mod trace;

pub(crate) use document::parse_import;
pub(crate) use handlers::fuzz::cache_api as fuzz_cache_api;
