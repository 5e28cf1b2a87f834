//! A three-node cluster answers like one cache: every node gives the same answer for every key
//! (value, version, miss, TTL, delete, errors), `X-Cache-Node` always names the ring owner (the
//! first replica of the key, which coordinates it while every node is up), keys spread as the
//! ring says and are stored on their replicas (the default `replicas: 2`) and nowhere else,
//! forwarding stays correct under concurrent keep-alive load and pipelining, a request a peer
//! already forwarded is never forwarded again, and `/admin/cluster` and `/admin/metrics` describe
//! the cluster consistently on every node.
//!
//! Each test runs its own cluster in-process on loopback addresses of its own (see
//! `tests/common/cluster.rs`), with probing that a busy machine cannot trip; each ends by checking
//! that no membership change happened, so a spurious failover cannot hide behind a wrong answer.
//!
//! The tests are grouped in the modules below (answers, requests of every form, forwarding, ring
//! and load); the `#[test]` functions here only call them, so every test keeps its name (no module
//! path in it).

#[path = "../common/cluster.rs"]
mod cluster_common;
#[path = "../common/mod.rs"]
mod common;

mod answers;
mod forwarding;
mod helpers;
mod requests;
mod ring_and_load;

#[test]
fn every_node_answers_every_key_identically() {
    answers::every_node_answers_every_key_identically();
}

#[test]
fn ttl_expires_the_same_via_every_node() {
    answers::ttl_expires_the_same_via_every_node();
}

#[test]
fn every_node_answers_errors_identically() {
    requests::every_node_answers_errors_identically();
}

#[test]
fn request_variants_are_answered_the_same_through_a_forward() {
    requests::request_variants_are_answered_the_same_through_a_forward();
}

#[test]
fn a_numeric_request_id_is_echoed_whichever_node_answers() {
    requests::a_numeric_request_id_is_echoed_whichever_node_answers();
}

#[test]
fn pipelined_requests_for_other_owners_come_back_in_order() {
    forwarding::pipelined_requests_for_other_owners_come_back_in_order();
}

#[test]
fn a_forwarded_request_is_served_locally_and_never_forwarded_again() {
    forwarding::a_forwarded_request_is_served_locally_and_never_forwarded_again();
}

#[test]
fn keys_follow_the_ring_and_every_node_describes_the_same_cluster() {
    ring_and_load::keys_follow_the_ring_and_every_node_describes_the_same_cluster();
}

#[test]
fn concurrent_mixed_load_through_every_node_stays_correct() {
    ring_and_load::concurrent_mixed_load_through_every_node_stays_correct();
}
