//! `cache-node`: start one cache node from a YAML config.
//!
//! Accepts the seed's Go-style flags (`cache-node -config=config/node1.yaml`) as well as
//! `--config config/node1.yaml`. Exit codes: 0 clean stop, 1 start-up failure, 2 bad config or
//! usage, 101 a panic on any core (systemd restarts the node).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use dcache::config::Config;
use dcache::node::Node;
use dcache::signals::{Signal, Signals};
use dcache::{error, info, warn};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Extra time past `timeouts.shutdown` before the process exits anyway.
const EXIT_GRACE: Duration = Duration::from_secs(1);

#[derive(Parser, Debug)]
#[command(name = "cache-node", version, about = "Thread-per-core distributed in-memory HTTP cache node", long_about = None)]
struct Args {
    /// Path of the node's YAML config (also accepted as -config=PATH).
    #[arg(
        long,
        short = 'c',
        value_name = "PATH",
        default_value = "config/node1.yaml"
    )]
    config: PathBuf,
    /// Validate the config and exit (0 when valid).
    #[arg(long)]
    check: bool,
    /// Print the effective config (defaults filled in) and exit.
    #[arg(long)]
    print_config: bool,
}

/// Go's flag package accepts `-name=value` and `-name value`; clap wants `--name`. Rewrite single-
/// dash long options so the seed's scripts and unit files work unchanged.
fn go_style_args() -> Vec<String> {
    std::env::args()
        .enumerate()
        .map(|(i, a)| {
            let long = a.len() > 2
                && a.starts_with('-')
                && !a.starts_with("--")
                && a.as_bytes()[1].is_ascii_alphabetic();
            if i > 0 && long && a[1..].split('=').next().is_some_and(|n| n.len() > 1) {
                format!("-{a}")
            } else {
                a
            }
        })
        .collect()
}

fn main() -> ExitCode {
    let args = Args::parse_from(go_style_args());
    let cfg = match Config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "{} ERROR - config error: {e}",
                dcache::log::timestamp(std::time::SystemTime::now())
            );
            return ExitCode::from(2);
        }
    };
    if args.print_config {
        print!("{}", cfg.to_yaml());
        return ExitCode::SUCCESS;
    }
    if args.check {
        println!("config OK: {}: {}", args.config.display(), cfg.summary());
        return ExitCode::SUCCESS;
    }
    dcache::log::init(cfg.log_level, &cfg.node_id);
    dcache::log::set_format(cfg.log_format);
    exit_on_panic();
    let signals = match dcache::signals::block() {
        Ok(s) => s,
        Err(e) => {
            error!("cannot set up signal handling: {e}");
            return ExitCode::from(1);
        }
    };
    dcache::startup::warn_limits(&cfg);
    info!(
        "starting cache-node {} with config {}",
        env!("CARGO_PKG_VERSION"),
        args.config.display()
    );
    info!("effective config: {}", cfg.summary());
    let shutdown_timeout = cfg.timeouts.shutdown;
    let node = match Node::start(cfg) {
        Ok(n) => n,
        Err(e) => {
            error!("failed to start: {e}");
            return ExitCode::from(1);
        }
    };
    info!(
        "listening on {} with {} worker threads, io driver {}",
        node.local_addr(),
        node.threads(),
        node.driver()
    );
    dcache::startup::notify_ready();
    // WATCHDOG=1 at half of WATCHDOG_USEC while every core beats; nothing without WatchdogSec=.
    let _watchdog = dcache::watchdog::spawn(node.heartbeats());
    wait_for_stop(&signals, &node, shutdown_timeout);
    dcache::startup::notify_stopping();
    node.shutdown();
    if node.wait(shutdown_timeout + EXIT_GRACE) {
        info!("stopped cleanly");
    } else {
        warn!("some connections were still busy after the shutdown timeout; exiting anyway");
    }
    ExitCode::SUCCESS
}

/// A panic on any core ends the process: a shard must never die quietly.
fn exit_on_panic() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        error!("panic: {info}");
        default_hook(info);
        std::process::exit(101);
    }));
}

/// Block until SIGTERM or SIGINT; SIGHUP re-reads the secrets ([`Node::reload`]).
fn wait_for_stop(signals: &Signals, node: &Node, shutdown_timeout: Duration) {
    loop {
        match signals.wait() {
            Signal::Reload => {
                info!("SIGHUP: reloading the token files and TLS certificates (logs go to stderr, nothing to reopen)");
                node.reload();
            }
            Signal::Stop(name) => {
                info!(
                    "{name} received: draining (up to {} ms)",
                    shutdown_timeout.as_millis()
                );
                break;
            }
        }
    }
}
