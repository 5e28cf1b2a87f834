//! The node API across cores and under load from one connection (keep-alive, pipelining), the
//! Prometheus endpoint, and backup/restore through `/admin/export` and `/admin/import`.
//!
//! The tests are grouped in the modules below; the `#[test]` functions here only call them, so
//! every test keeps its name (no module path in it).

#[path = "../common/mod.rs"]
mod common;

mod backup;
mod import_bounds;
mod metrics;
mod pipelining;

#[test]
fn cross_core_keys_over_one_keep_alive_connection() {
    pipelining::cross_core_keys_over_one_keep_alive_connection();
}

#[test]
fn pipelined_mixed_requests_answer_in_order() {
    pipelining::pipelined_mixed_requests_answer_in_order();
}

#[test]
fn immediate_answers_keep_their_place_in_a_pipeline() {
    pipelining::immediate_answers_keep_their_place_in_a_pipeline();
}

#[test]
fn repeated_heads_are_answered_as_sent() {
    pipelining::repeated_heads_are_answered_as_sent();
}

#[test]
fn repeated_heads_keep_their_route() {
    pipelining::repeated_heads_keep_their_route();
}

#[test]
fn metrics_exposition_format() {
    metrics::metrics_exposition_format();
}

#[test]
fn metrics_have_process_families() {
    metrics::metrics_have_process_families();
}

#[test]
fn export_clear_import_round_trip() {
    backup::export_clear_import_round_trip();
}

#[test]
fn corrupt_import_is_400_and_changes_nothing() {
    backup::corrupt_import_is_400_and_changes_nothing();
}

#[test]
fn a_second_import_is_refused_while_one_runs() {
    import_bounds::a_second_import_is_refused_while_one_runs();
}

#[test]
fn a_peers_sub_import_passes_while_an_import_holds_the_slot() {
    import_bounds::a_peers_sub_import_passes_while_an_import_holds_the_slot();
}

#[test]
fn a_refused_document_frees_the_slot() {
    import_bounds::a_refused_document_frees_the_slot();
}
