#!/usr/bin/env bash
# Start the local 3-node cluster of the deployment guide (ports 8001-8003), from any directory.
#
#   ./scripts/start_cluster.sh                  # node1 node2 node3
#   ./scripts/start_cluster.sh node1 node2      # a subset (or NODES="node1 node2")
#
# Builds with `cargo build --release` when bin/cache-node is missing or older than src/, crates/,
# Cargo.toml or Cargo.lock, refuses when a node's port is taken, starts each node as the guide does
# (but appending to its log after a `==== <time> start_node nodeN ...` line, never truncating it)
#   ./bin/cache-node -config=config/nodeN.yaml >> logs/nodeN.log 2>&1 &
# (pid in run/nodeN.pid) and waits up to HEALTH_TIMEOUT (15) seconds for all to be healthy.
# Stop with ./scripts/stop_cluster.sh.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

select_nodes "$@"
start_nodes "${SELECTED[@]}"
cat <<MSG

  health:  curl $(node_display_url "${SELECTED[0]}")/api/v1/health   (all: ./scripts/health_check.sh)
  test:    ./scripts/test_cluster.sh
  logs:    tail -f $ROOT/logs/<node>.log
  stop:    ./scripts/stop_cluster.sh   (one node: ./scripts/stop_node.sh <node>)
MSG
