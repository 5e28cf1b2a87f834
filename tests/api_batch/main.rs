//! `POST /api/v1/batch` (issue 12), with real nodes speaking bytes.
//!
//! One node: every op kind in one batch, answered in op order with the single calls' statuses;
//! ops on one key in order; raw values; a bad op is its own 400; a malformed document, too many
//! ops or too large a body is refused whole; tokens guard batches like writes. Three nodes:
//! ops of every owner in one batch (one sub-batch per peer, the cluster secret on them, writes
//! copied to their replicas); a killed owner's ops fail over to its keys' next replica.
//!
//! Cluster numbers (see `cluster_addrs`): 90 and 91.

#[path = "../common/cluster.rs"]
mod cluster_common;
#[path = "../common/mod.rs"]
mod common;

mod cluster;
mod single;

use std::net::SocketAddr;

use serde_json::Value;

use cluster_common::call;
use common::Resp;

/// `POST /api/v1/batch` with `body` and extra header lines, on a fresh connection.
pub fn post(addr: SocketAddr, body: &[u8], headers: &[(&str, &str)]) -> Resp {
    call(addr, "POST", "/api/v1/batch", headers, Some(body))
}

/// A batch of `ops` answered 200: its results, one per op.
pub fn batch(addr: SocketAddr, ops: &[Value], headers: &[(&str, &str)]) -> Vec<Value> {
    let body = serde_json::json!({ "ops": ops }).to_string();
    let r = post(addr, body.as_bytes(), headers);
    assert_eq!(r.status, 200, "batch answered {}: {}", r.status, r.text());
    let results = r.json()["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results array: {}", r.text()))
        .clone();
    assert_eq!(results.len(), ops.len(), "one result per op: {}", r.text());
    results
}

/// `{"op":"get","key":k}`
pub fn get(key: &str) -> Value {
    serde_json::json!({"op": "get", "key": key})
}

/// `{"op":"put","key":k,"value":v}`
pub fn put(key: &str, value: Value) -> Value {
    serde_json::json!({"op": "put", "key": key, "value": value})
}

/// `{"op":"delete","key":k}`
pub fn delete(key: &str) -> Value {
    serde_json::json!({"op": "delete", "key": key})
}

#[test]
fn one_node_runs_every_op_in_op_order() {
    single::one_node_runs_every_op_in_op_order();
}

#[test]
fn raw_values_go_in_as_base64_and_come_back_as_sent() {
    single::raw_values_go_in_as_base64_and_come_back_as_sent();
}

#[test]
fn malformed_and_oversized_batches_are_refused_whole() {
    single::malformed_and_oversized_batches_are_refused_whole();
}

#[test]
fn tokens_guard_batches_like_writes() {
    single::tokens_guard_batches_like_writes();
}

#[test]
fn three_nodes_one_sub_batch_per_peer_and_writes_replicated() {
    cluster::three_nodes_one_sub_batch_per_peer_and_writes_replicated();
}

#[test]
fn a_killed_owner_fails_over_per_op_to_the_next_replica() {
    cluster::a_killed_owner_fails_over_per_op_to_the_next_replica();
}
