//! `cache-client`: placeholder until the client lands.
fn main() {
    eprintln!("cache-client: not built yet");
    std::process::exit(2);
}
