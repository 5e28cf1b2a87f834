//! The elastic-membership suite's machinery (see `tests/cluster_elastic.rs`): processes whose
//! membership changes ([`nodes`]), the membership API ([`admin`]), the changes a scenario makes
//! ([`ctx`]), the figures of the closing note ([`figures`]) and the driver ([`run`]).

pub mod admin;
pub mod ctx;
pub mod figures;
pub mod nodes;
pub mod run;
