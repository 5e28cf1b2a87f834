//! `cache-client`: command-line client, cluster test suite and load generator for the cache API.
//! Everything lives in the library (`dcache::client`); see `cache-client --help`.

fn main() -> std::process::ExitCode {
    dcache::client::main()
}
