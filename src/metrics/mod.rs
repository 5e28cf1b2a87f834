//! Per-core metrics, folded together at scrape time, and the Prometheus text exposition.
//!
//! Each core counts into plain `Cell`s it alone touches (Dragonfly's `GetMetrics` partials): no atomics
//! and no locks on the request path. `/admin/metrics` asks every core for a [`CoreSnapshot`] over the
//! mesh, merges them and renders text format 0.0.4. Keys never become label values: labels are drawn
//! from small fixed sets (route, method, status, core, peer node id), so cardinality is bounded.
//!
//! Layout: `labels` (the fixed label sets), `counters` (the per-core counters and, next to them, the
//! `FAMILIES` table declaring every exposed family), `snapshot` (the owned copies read at scrape
//! time), `render` (one loop over the table), `process` (the standard `process_*` families read from
//! `/proc` at scrape time, appended after the table's), `replication` (member states and catch-up
//! progress, node-wide values the server gathers and appends after the cluster series).

mod counters;
mod hot;
mod labels;
mod latency;
mod process;
mod render;
mod replication;
mod snapshot;
mod trust;

#[cfg(test)]
mod golden;
#[cfg(test)]
mod tests;

pub(crate) use counters::{inc, CoreMetrics};
pub(crate) use labels::{MethodLabel, RouteLabel};
pub(crate) use process::{render_process, ProcessStats};
pub(crate) use render::{family, label, render};
pub(crate) use replication::{render_replication, SyncFacts};
pub(crate) use snapshot::{CoreSnapshot, HintCounts, NodeFacts};
pub(crate) use trust::Trust;
