//! The fault suite's machinery (see `tests/cluster_faults.rs`): what a run records
//! ([`history`]), how it is judged ([`checker`]), the load that records it ([`load`] over
//! [`client`]), and the scenario driver ([`schedule`]).

pub mod checker;
pub mod client;
pub mod history;
pub mod import;
pub mod load;
pub mod schedule;
