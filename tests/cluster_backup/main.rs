//! Backup and restore of a whole cluster: `/admin/export` on any node streams every key once
//! (however many replicas hold it) as one document (which survives `curl -d @file` stripping
//! CR/LF), with the version of each value; `/admin/import` on any node puts each key back on each
//! of its replicas with its value, TTL and version, last-writer-wins (an old backup does not undo
//! later writes or deletes; `?overwrite=1` restores it anyway, as new writes); a truncated or
//! corrupt document is refused whole; and an export taken while a node is down names it under
//! `missing` when no live replica has its keys (single copy), and misses nothing with two copies.
//!
//! The tests are grouped in the modules below (the full round trip, a node down, a large
//! cluster); the `#[test]` functions here only call them, so every test keeps its name (no module
//! path in it).

#[path = "../common/cluster.rs"]
mod cluster_common;
#[path = "../common/mod.rs"]
mod common;

mod helpers;
mod large;
mod local_scope;
mod node_down;
mod round_trip;

#[test]
fn a_cluster_export_restores_every_key_on_its_replicas() {
    round_trip::a_cluster_export_restores_every_key_on_its_replicas();
}

#[test]
fn an_export_with_a_node_down_lists_it_as_missing() {
    node_down::an_export_with_a_node_down_lists_it_as_missing();
}

#[test]
fn with_two_copies_an_export_with_a_node_down_misses_nothing() {
    node_down::with_two_copies_an_export_with_a_node_down_misses_nothing();
}

#[test]
fn a_single_copy_restore_while_a_node_is_down_puts_its_keys_on_the_next_live_node() {
    node_down::a_single_copy_restore_while_a_node_is_down_puts_its_keys_on_the_next_live_node();
}

#[test]
fn a_large_cluster_round_trips_through_export_and_import() {
    large::a_large_cluster_round_trips_through_export_and_import();
}

#[test]
fn a_clients_local_import_plants_no_key_on_a_non_replica() {
    local_scope::a_clients_local_import_plants_no_key_on_a_non_replica();
}

#[test]
fn a_move_for_an_epoch_this_node_has_not_adopted_is_refused() {
    local_scope::a_move_for_an_epoch_this_node_has_not_adopted_is_refused();
}

#[test]
fn a_cluster_import_reaches_a_node_whose_own_import_holds_its_slot() {
    local_scope::a_cluster_import_reaches_a_node_whose_own_import_holds_its_slot();
}
