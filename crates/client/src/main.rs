//! `cache-client`: command-line client, cluster test suite and load generator for the cache API.
//! Everything lives in this crate's library (`cache_client`, `crates/client/src/lib.rs`); see
//! `cache-client --help`.

fn main() -> std::process::ExitCode {
    cache_client::main()
}
