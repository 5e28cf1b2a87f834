//! Arguments of `cluster [status|add|remove]`: the membership commands of the elastic cluster.

use std::time::Duration;

use clap::{Args, Subcommand};

use super::parse_duration;

/// `cluster` alone is `cluster status`, as it always was (the table of members).
#[derive(Subcommand, Debug)]
pub enum ClusterCmd {
    /// Membership: epoch, leader, whether settled, every member with its status and probe
    /// state, and the key migration while one runs (exit 1 when a member is down).
    Status,
    /// Add NODE_ID, listening at HOST:PORT, to the cluster; waits until it is active and its
    /// keys have moved (exit 1 on a refusal or when --timeout passes first).
    ///
    /// Start the new node first (with the cluster's config), then run this against any member.
    /// A change is refused while the previous one is still moving keys: retry once `cluster
    /// status` says settled. --timeout bounds the whole wait (default 10m).
    Add {
        /// The new node's id, as in its config's node_id ([A-Za-z0-9._-], at most 64).
        node_id: String,
        /// Where the other members reach it (host:port, as in cluster_nodes).
        #[arg(value_name = "HOST:PORT")]
        address: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Remove NODE_ID from the cluster; waits until its keys have moved to the others and it is
    /// safe to stop (exit 1 when it is not a member, on a refusal, or when --timeout passes).
    ///
    /// --timeout bounds the whole wait (default 10m).
    Remove {
        /// The member to remove.
        node_id: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
}

/// How `cluster add` and `cluster remove` wait for the change to finish.
#[derive(Args, Debug, Clone, Copy)]
pub struct WaitArgs {
    /// Return as soon as the cluster accepted the change, without waiting for it to finish.
    #[arg(long)]
    pub no_wait: bool,
    /// Time between two polls of the node's state. Hidden: only tests need another value.
    #[arg(long, hide = true, default_value = "500ms", value_parser = parse_duration)]
    pub poll_interval: Duration,
}

#[cfg(test)]
mod tests {
    use super::super::{Cli, Command};
    use super::*;
    use clap::{CommandFactory, Parser};

    fn action(args: &[&str]) -> (Option<ClusterCmd>, Option<Duration>) {
        let cli = Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        match cli.command {
            Some(Command::Cluster { action }) => (action, cli.timeout),
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn bare_cluster_is_status_and_changes_take_the_global_timeout() {
        assert!(action(&["cache-client", "cluster"]).0.is_none());
        assert!(matches!(
            action(&["cache-client", "cluster", "status", "--json"]).0,
            Some(ClusterCmd::Status)
        ));
        let (a, timeout) = action(&[
            "cache-client",
            "cluster",
            "add",
            "node4",
            "10.0.0.4:8001",
            "--no-wait",
            "--timeout",
            "2m",
        ]);
        let Some(ClusterCmd::Add {
            node_id,
            address,
            wait,
        }) = a
        else {
            panic!("add expected");
        };
        assert_eq!(
            (node_id.as_str(), address.as_str()),
            ("node4", "10.0.0.4:8001")
        );
        assert!(wait.no_wait);
        assert_eq!(wait.poll_interval, Duration::from_millis(500));
        assert_eq!(timeout, Some(Duration::from_secs(120)));
        let (a, timeout) = action(&["cache-client", "cluster", "remove", "node3"]);
        assert!(matches!(a, Some(ClusterCmd::Remove { wait, .. }) if !wait.no_wait));
        assert_eq!(timeout, None, "the default depends on the command");
        assert!(Cli::try_parse_from(["cache-client", "cluster", "add", "node4"]).is_err());
    }

    #[test]
    fn the_poll_interval_is_not_in_the_help() {
        let mut cmd = Cli::command();
        let add = cmd
            .find_subcommand_mut("cluster")
            .and_then(|c| c.find_subcommand_mut("add"))
            .expect("cluster add");
        let help = add.render_long_help().to_string();
        assert!(
            help.contains("--no-wait") && help.contains("--timeout"),
            "{help}"
        );
        assert!(!help.contains("poll-interval"), "{help}");
    }
}
