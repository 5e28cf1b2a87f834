//! Helpers for the cluster suites (`tests/cluster_*`): a three-node cluster started in-process
//! on loopback addresses of its own, or as child processes of the real binary; HTTP calls to any
//! node; the ring every node uses (to know each key's owner); metrics and `/admin/cluster`.
//!
//! Declared from a test file after `mod common;` as
//! `#[path = "common/cluster.rs"] mod cluster_common;` (it uses `crate::common`); from the
//! `main.rs` of a suite in a directory of its own, the paths start with `../common/`.
//!
//! The parts live in `cluster/` and are re-exported here, so a suite imports every helper from
//! `cluster_common`. They are declared with `#[path]`, which is relative to this file, so they are
//! found whichever test file includes it.
#![allow(dead_code)]

#[path = "cluster/admin.rs"]
mod admin;
#[path = "cluster/http.rs"]
mod http;
#[path = "cluster/inproc.rs"]
mod inproc;
#[path = "cluster/process.rs"]
mod process;
#[path = "cluster/topology.rs"]
mod topology;

// Each suite is a crate of its own and uses only some of these, as it uses only some helpers
// (hence `dead_code` above).
#[allow(unused_imports)]
pub use self::{admin::*, http::*, inproc::*, process::*, topology::*};
