//! Command line of `cache-client` (clap) and the dispatch to the commands.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use super::bench::{self, BenchArgs};
use super::commands::{self, batch, counter, flush, hotkeys, raw, read, write, Ctx};
use super::output::Out;
use super::top::{self, TopArgs};

mod args;
mod cluster;
use super::{backup, manual, nodes, suite, EXIT_USAGE};
pub use args::{PutArgs, ValueArgs};
pub use cluster::{ClusterCmd, WaitArgs};

const AFTER_HELP: &str = "\
With no command, runs the client test suite against every node (as `cache-client test`).

Nodes: --nodes host:port,... or, without it, $CACHE_NODES (same list, commas or spaces), else
the cluster_nodes of <config-dir>/node*.yaml (config/ of the repository: localhost:8001..8003),
else localhost:8001..8003. Key commands go to the first node: any node answers for any key.
Write https://host:port for a node with tls: in its config; its certificate is verified against
--cacert (else the system's CAs) for the host name or IP address written.

Durations and sizes are written as in the node's config (the table at the top of
config/example.yaml): 250ms, 10s, 2m, 1h (a unit is required); 512KiB, 1MiB, or plain bytes.

Environment:
  CACHE_NODES  the node list when --nodes is absent
  CACHE_TOKEN_FILE, CACHE_TOKEN
               the bearer token when --token-file is absent (a file is safer: the environment
               of a process can be read by its user)
  CACHE_CACERT, CACHE_TLS_CERT, CACHE_TLS_KEY
               --cacert, --tls-cert and --tls-key when absent
  NO_COLOR     set and not empty: `top` shows node states without colour (nothing else is coloured)

Exit status:
  0  success: the command did what was asked, every check passed, a bench run had no errors
  1  the node answered with a failure: key not found (get, delete, a key of mget), a check
     failed, HTTP 4xx/5xx (incr on a value that is not an integer: 409), a key of mset not
     stored, an export missing down members, an import refused or partial, a flush that did not
     reach every node yet, a node unhealthy, a bench run with errors, a cluster add/remove
     refused (409: another change still moving keys, retry later; 404: not a member) or not
     finished within --timeout
  2  usage error or no usable answer: bad arguments, unreadable file, connection refused
     (the message names the address), timeout, a response that is not HTTP, a failed TLS
     handshake (untrusted CA, name mismatch, http:// and https:// mixed up)
  3  a condition did not hold (HTTP 412): cas or delete --if-match found another version (or
     no value), add found the key present

Examples:
  cache-client                                   # test suite against config/ (the seed's ./bin/cache-client)
  cache-client set user:1 '{\"name\":\"Ada\"}' --json-value --ttl 60
  cache-client get user:1 --json                 # the value and its \"etag\"
  cache-client cas user:1 '{\"name\":\"Bo\"}' -J --if-match 01a213e472610000
  cache-client add lock:job '\"me\"' -J --ttl 30    # exit 3 when the key exists
  cache-client incr hits -5                        # prints the new value
  cache-client mset a=1 b=2 -J && cache-client mget a b
  cache-client put logo --file logo.png --content-type image/png
  cache-client get logo --output copy.png
  cache-client flush --prefix session:
  cache-client export backup.json && cache-client import backup.json
  cache-client cluster add node4 10.0.0.4:8001     # waits until node4 is active (--timeout 10m)
  cache-client cluster remove node3                # then: safe to stop node3
  cache-client bench -c 50 -d 10s --ratio 90:10 --keys 100000 --dist zipf --preload
  cache-client bench --rate 20000 -d 30s         # open loop, latency corrected for coordinated omission";

#[derive(Parser, Debug)]
#[command(
    name = "cache-client",
    version,
    about = "Client, test suite and load generator for the distributed-cache HTTP API",
    after_help = AFTER_HELP
)]
pub struct Cli {
    /// Nodes to talk to, comma separated host:port, or https://host:port for TLS (default: see
    /// below).
    #[arg(
        long,
        global = true,
        value_delimiter = ',',
        value_name = "[https://]HOST:PORT,..."
    )]
    pub nodes: Vec<String>,
    /// Directory whose node*.yaml describe the cluster, used without --nodes.
    #[arg(long, global = true, default_value = "config", value_name = "DIR")]
    pub config_dir: PathBuf,
    /// Machine-readable output: one JSON document on stdout (errors too).
    #[arg(long, global = true)]
    pub json: bool,
    /// Time allowed to connect and for each answer (e.g. 500ms; default 5s). For `cluster add`
    /// and `cluster remove`: the time allowed for the whole change (default 10m).
    #[arg(long, global = true, value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// File holding the bearer token to send (first non-comment line), when the nodes require
    /// one (auth in the node config). Default: $CACHE_TOKEN_FILE, else $CACHE_TOKEN.
    #[arg(long, global = true, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// CA certificate(s) (PEM) that signed the https:// nodes' certificates. Default:
    /// $CACHE_CACERT, else the system's trust store.
    #[arg(long, global = true, value_name = "FILE")]
    pub cacert: Option<PathBuf>,
    /// Client certificate chain (PEM) to present to https:// nodes, with --tls-key. Default:
    /// $CACHE_TLS_CERT.
    #[arg(long = "tls-cert", global = true, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --tls-cert. Default: $CACHE_TLS_KEY.
    #[arg(long = "tls-key", global = true, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the client test suite (what running with no command does).
    Test,
    /// Read a key: value, TTL, ETag, node (exit 1 when it does not exist).
    Get {
        key: String,
        /// Write the value's bytes to FILE (- for stdout) instead of showing it: a raw value
        /// exactly as stored, a JSON value as its JSON text.
        #[arg(short = 'o', long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Store a value under a key (created or replaced).
    Set(ValueArgs),
    /// Replace a key's value only if it is still at ETAG (compare-and-set; exit 3 otherwise).
    Cas {
        #[command(flatten)]
        value: ValueArgs,
        /// The ETag read with `get` (quotes optional), or * for "any current value".
        #[arg(long, value_name = "ETAG")]
        if_match: String,
    },
    /// Store a value only if the key does not exist (exit 3 when it does).
    Add(ValueArgs),
    /// Store a file's bytes as a raw value, with a content type (get --output reads it back).
    Put(PutArgs),
    /// Remove a key (exit 1 when it did not exist).
    Delete {
        key: String,
        /// Only if it is still at this ETag (exit 3 otherwise).
        #[arg(long, value_name = "ETAG")]
        if_match: Option<String>,
    },
    /// Read several keys in one batch request (exit 1 when one is missing).
    Mget {
        #[arg(required = true)]
        keys: Vec<String>,
    },
    /// Store several KEY=VALUE pairs in one batch request (the first = ends the key).
    Mset {
        #[arg(required = true, value_name = "KEY=VALUE")]
        pairs: Vec<String>,
        /// Time to live in seconds of every pair (default: no expiry).
        #[arg(long)]
        ttl: Option<u64>,
        /// Each VALUE is JSON text, stored as written (else a JSON string).
        #[arg(short = 'J', long)]
        json_value: bool,
    },
    /// Add DELTA (default 1, may be negative) to an integer value; prints the new value.
    ///
    /// A missing key starts at 0 and gets --ttl; an existing key keeps its own TTL. Exit 1 when
    /// the value is not an integer or the result would overflow 64 bits (HTTP 409).
    Incr {
        key: String,
        /// Signed 64-bit amount to add (negative to subtract).
        #[arg(allow_negative_numbers = true, default_value_t = 1)]
        delta: i64,
        /// Time to live in seconds if the key is created.
        #[arg(long)]
        ttl: Option<u64>,
    },
    /// Delete every key starting with PREFIX, or every key (--all), on the whole cluster.
    Flush {
        /// Delete the keys starting with PREFIX (compared byte for byte, case-sensitive).
        #[arg(long)]
        prefix: Option<String>,
        /// Delete every key of the cluster.
        #[arg(long, conflicts_with = "prefix")]
        all: bool,
    },
    /// Health of every node.
    Health,
    /// Cluster membership: `status` (the default: members, their state and ring shares; exit 1
    /// when one is down), `add` a node, `remove` one.
    Cluster {
        #[command(subcommand)]
        action: Option<ClusterCmd>,
    },
    /// The keys each node reads most, their rates and which are hot (exit 1 when a node does
    /// not answer).
    Hotkeys {
        /// Keys shown per node, highest rate first.
        #[arg(long, default_value_t = hotkeys::DEFAULT_LIMIT)]
        limit: usize,
    },
    /// Write the whole cluster's data as one JSON document to FILE (default: stdout).
    Export {
        file: Option<PathBuf>,
        /// Only the keys the first node itself holds (?scope=local).
        #[arg(long)]
        local: bool,
    },
    /// Restore an export document (FILE, or - for stdin).
    Import {
        file: PathBuf,
        /// Keep keys that already exist instead of overwriting them.
        #[arg(long)]
        if_absent: bool,
        /// Store every entry on the first node instead of on each key's replicas.
        #[arg(long)]
        local: bool,
        /// Restore over anything written or deleted since the export (every entry becomes a
        /// new write).
        ///
        /// Without it, entries apply last-writer-wins by their exported versions: a key rewritten
        /// or deleted since the export keeps its newer state (counted as superseded). Ignored
        /// with --local.
        #[arg(long, conflicts_with = "if_absent")]
        overwrite: bool,
    },
    /// Prometheus metrics of the first node; PREFIX keeps matching families.
    Metrics { prefix: Option<String> },
    /// Load generator: throughput and latency percentiles of this API.
    Bench(BenchArgs),
    /// Live full-screen view of every node (s: sort, p/space: pause, q: quit); a line per
    /// second when stdout is not a terminal, one frame with --once.
    Top(TopArgs),
    /// Print a completion script for SHELL (bash, zsh, fish, ...) on stdout.
    Completions { shell: clap_complete::Shell },
    /// Print the man page (roff) on stdout: cache-client man | man -l -
    Man,
}

/// `--timeout` of every command but `cluster add|remove`: generous for one answer of a loaded
/// node, short enough that a dead address is reported while the user still waits for it.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Every duration flag (`--timeout`, `bench -d`, ...) uses the node config's grammar, from the
/// shared `dcache-units` crate: `250ms`, `10s`, `2m`, `1h`, unit required. String errors for clap
/// and for callers that add their own checks with `?`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    dcache_units::parse_duration(s).map_err(|e| e.to_string())
}

/// Entry point of the `cache-client` binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    ExitCode::from(run(cli))
}

/// Run a parsed command line; returns the exit code.
pub fn run(cli: Cli) -> u8 {
    // Generated from the parser alone: no node list needed (install.sh runs these offline).
    match cli.command {
        Some(Command::Completions { shell }) => return manual::run_completions(shell),
        Some(Command::Man) => return manual::run_man(),
        _ => {}
    }
    let out = Out { json: cli.json };
    if let Err(e) = super::credential::init(cli.token_file.as_deref()) {
        return out.usage(&e);
    }
    let tls = super::tls::Settings::with_env(
        cli.cacert.as_deref(),
        cli.tls_cert.as_deref(),
        cli.tls_key.as_deref(),
    );
    if let Err(e) = super::tls::init(&tls) {
        return out.usage(&e);
    }
    let (nodes, source) = match nodes::select(&cli.nodes, &cli.config_dir) {
        Ok(x) => x,
        Err(e) => return out.usage(&e),
    };
    let ctx = Ctx {
        nodes,
        timeout: cli.timeout.unwrap_or(DEFAULT_TIMEOUT),
        out,
    };
    match cli.command.unwrap_or(Command::Test) {
        Command::Test => suite::run(&ctx, &source),
        Command::Get { key, output } => read::get(&ctx, &key, output.as_deref()),
        Command::Set(v) => write::set(&ctx, &v.key, &v.new_value()),
        Command::Cas { value, if_match } => {
            write::cas(&ctx, &value.key, &value.new_value(), &if_match)
        }
        Command::Add(v) => write::add(&ctx, &v.key, &v.new_value()),
        Command::Put(p) => raw::put(&ctx, &p.key, &p.raw_put()),
        Command::Delete { key, if_match } => write::delete(&ctx, &key, if_match.as_deref()),
        Command::Mget { keys } => batch::mget(&ctx, &keys),
        Command::Mset {
            pairs,
            ttl,
            json_value,
        } => batch::mset(&ctx, &pairs, json_value, ttl),
        Command::Incr { key, delta, ttl } => counter::incr(&ctx, &key, delta, ttl),
        Command::Flush { prefix, all } => flush::flush(&ctx, prefix.as_deref(), all),
        Command::Health => commands::health(&ctx),
        Command::Cluster { action } => commands::cluster::run(&ctx, action, cli.timeout),
        Command::Hotkeys { limit } => hotkeys::hotkeys(&ctx, limit),
        Command::Export { file, local } => backup::export(&ctx, file.as_deref(), local),
        Command::Import {
            file,
            if_absent,
            local,
            overwrite,
        } => backup::import(&ctx, &file, if_absent, local, overwrite),
        Command::Metrics { prefix } => commands::metrics(&ctx, prefix.as_deref()),
        Command::Bench(args) => bench::run(&args, &ctx.nodes, ctx.timeout, ctx.out.json),
        Command::Top(args) => top::run(&args, &ctx),
        Command::Completions { .. } | Command::Man => unreachable!("handled before the node list"),
    }
}

/// Keep `EXIT_USAGE` tied to clap's own usage-error status.
const _: () = assert!(EXIT_USAGE == 2);

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations_use_the_config_grammar() {
        let ok = [
            ("10s", 10_000),
            ("500ms", 500),
            ("2m", 120_000),
            ("1h", 3_600_000),
        ];
        for (text, ms) in ok {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_millis(ms)),
                "{text}"
            );
        }
        // Both spellings the old client parser took differently from the config are refused,
        // with the fix in the message.
        let refused = [
            ("10", "\"10ms\" or \"10s\""),
            ("1.5s", "1500ms"),
            ("5x", "ms, s, m or h"),
        ];
        for (text, hint) in refused {
            let err = parse_duration(text).unwrap_err();
            assert!(err.contains(hint), "{text}: {err}");
        }
        let err = Cli::try_parse_from(["cache-client", "--timeout", "5", "health"]).unwrap_err();
        assert!(err.to_string().contains("\"5s\""), "{err}");
    }

    #[test]
    fn completions_and_man_parse() {
        let c = Cli::try_parse_from(["cache-client", "completions", "zsh"]).unwrap();
        assert!(matches!(
            c.command,
            Some(Command::Completions {
                shell: clap_complete::Shell::Zsh
            })
        ));
        let c = Cli::try_parse_from(["cache-client", "man"]).unwrap();
        assert!(matches!(c.command, Some(Command::Man)));
        assert!(Cli::try_parse_from(["cache-client", "completions", "tcsh"]).is_err());
    }

    #[test]
    fn no_command_is_the_suite_and_json_is_global() {
        let c = Cli::try_parse_from(["cache-client"]).unwrap();
        assert!(c.command.is_none());
        let c =
            Cli::try_parse_from(["cache-client", "set", "k", "v", "--ttl", "5", "--json"]).unwrap();
        assert!(c.json);
        let c = Cli::try_parse_from(["cache-client", "--nodes", "a:1,b:2", "get", "k"]).unwrap();
        assert_eq!(c.nodes, vec!["a:1", "b:2"]);
        let c = Cli::try_parse_from([
            "cache-client",
            "bench",
            "-c",
            "8",
            "-P",
            "16",
            "--ratio",
            "90:10",
        ])
        .unwrap();
        let Some(Command::Bench(b)) = c.command else {
            panic!("bench expected");
        };
        assert_eq!((b.connections, b.pipeline, b.ratio), (8, 16, (90, 10)));
    }
}
