//! Failover with the real binary: three `cache-node` processes, each on a loopback IP of its own
//! (fixed before start, so a restarted node binds the same address again), one of them killed
//! with SIGKILL (or frozen with SIGSTOP).
//!
//! With a single copy of each key (`replicas: 1`): a request for the dead node's keys never
//! hangs: a forward that fails goes on to the next live node, which stands in for the owner
//! (before and after the others mark it down); when the owner comes back its keys return to it
//! with the values written meanwhile, and a stale copy of its own never beats them.
//!
//! With two copies (the default): the other replica answers for the dead or frozen node at once,
//! nothing written is lost, and the node catches up (hints and repair) before it serves again.
//!
//! Probing is fast (every 100 ms, down after 2 failures, `request_timeout` 1 s), so each test
//! takes a few seconds. Children are killed when a test ends, pass or fail (`ProcCluster`'s Drop).
//!
//! The tests are grouped in the modules below (single copy, two copies, backup and stale pooled
//! connections right after a kill); the `#[test]` functions here only call them, so every test
//! keeps its name (no module path in it).

#[path = "../common/cluster.rs"]
mod cluster_common;
#[path = "../common/mod.rs"]
mod common;

mod backup_and_pool;
mod helpers;
mod replicas_one;
mod replicas_two;

#[test]
fn a_killed_node_is_stood_in_for_at_once_then_its_keys_come_back() {
    replicas_one::a_killed_node_is_stood_in_for_at_once_then_its_keys_come_back();
}

#[test]
fn a_frozen_node_costs_at_most_request_timeout_and_is_routed_around() {
    replicas_one::a_frozen_node_costs_at_most_request_timeout_and_is_routed_around();
}

#[test]
fn a_write_made_during_an_outage_beats_the_stale_copy_of_the_returning_owner() {
    replicas_one::a_write_made_during_an_outage_beats_the_stale_copy_of_the_returning_owner();
}

#[test]
fn with_two_copies_a_killed_nodes_keys_stay_served_and_it_catches_up_before_serving() {
    replicas_two::with_two_copies_a_killed_nodes_keys_stay_served_and_it_catches_up_before_serving(
    );
}

#[test]
fn with_two_copies_a_frozen_owner_is_routed_around_and_wakes_up_without_undoing_writes() {
    replicas_two::with_two_copies_a_frozen_owner_is_routed_around_and_wakes_up_without_undoing_writes();
}

#[test]
fn export_and_import_right_after_a_kill_never_fail_silently() {
    backup_and_pool::export_and_import_right_after_a_kill_never_fail_silently();
}

#[test]
fn keys_held_for_a_returning_node_survive_a_stale_pooled_connection() {
    backup_and_pool::keys_held_for_a_returning_node_survive_a_stale_pooled_connection();
}

#[test]
fn with_two_copies_export_and_import_right_after_a_kill_lose_nothing() {
    backup_and_pool::with_two_copies_export_and_import_right_after_a_kill_lose_nothing();
}

#[test]
fn with_two_copies_hints_for_a_returning_node_survive_a_stale_pooled_connection() {
    backup_and_pool::with_two_copies_hints_for_a_returning_node_survive_a_stale_pooled_connection();
}
