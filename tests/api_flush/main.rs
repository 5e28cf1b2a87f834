//! `DELETE /admin/cache[?prefix=P]` end to end (issue 12, invalidation): one node, three
//! in-process nodes (counts, every copy gone, the cluster secret on node-to-node calls), a flush
//! racing writes, a member whose clock runs ahead, and a member away during the flush (child processes of the real binary).
//!
//! Cluster numbers (see `cluster_addrs`): 100-105.

#[path = "../common/cluster.rs"]
mod cluster_common;
#[path = "../common/mod.rs"]
mod common;

mod cluster;
mod down;
mod helpers;
mod large;
mod one_node;
mod race;
mod skew;

#[test]
fn one_node_prefix_then_everything() {
    one_node::prefix_then_everything();
}

#[test]
fn one_node_needs_the_admin_token() {
    one_node::needs_the_admin_token();
}

#[test]
fn three_nodes_two_copies_each_key_counts_once() {
    cluster::every_copy_goes_and_each_key_counts_once(100, 2);
}

#[test]
fn three_nodes_one_copy_each_key_counts_once() {
    cluster::every_copy_goes_and_each_key_counts_once(101, 1);
}

#[test]
fn a_flush_racing_writes() {
    race::writes_after_the_answer_survive_and_those_before_it_do_not(102);
}

#[test]
fn a_member_restarted_from_its_snapshot_takes_the_flush_before_serving() {
    down::a_restarted_member_takes_the_flush_before_serving(103);
}

#[test]
fn a_frozen_member_takes_the_flush_and_repair_keeps_it() {
    down::a_frozen_member_takes_the_flush_and_repair_keeps_it(104);
}

#[test]
fn a_member_clock_ahead_cannot_outrank_the_flush() {
    skew::a_member_clock_ahead_cannot_outrank_the_flush(105);
}

#[test]
#[ignore = "a measurement: run with --release --ignored --nocapture"]
fn a_million_keys() {
    large::a_million_keys();
}
