#!/usr/bin/env bash
# Stop the local cluster by pid file (run/*.pid), or, for nodes started by hand as the guide shows
# (no pid file), by the cache-node listening on the node's port with its config: SIGTERM, up to
# STOP_TIMEOUT (15) seconds to drain, then SIGKILL. Reports each node and exits 0 even when some
# were not running.
#
#   ./scripts/stop_cluster.sh                   # node1 node2 node3 and any other run/*.pid
#   ./scripts/stop_cluster.sh node2             # a subset (or NODES="node2")
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

nodes=()
if [ $# -gt 0 ] || [ -n "${NODES:-}" ]; then
  select_nodes "$@"
  nodes=("${SELECTED[@]}")
else
  nodes=("${DEFAULT_NODES[@]}")
  shopt -s nullglob
  for f in "$ROOT"/run/*.pid; do
    n="$(basename "$f" .pid)"
    case " ${nodes[*]} " in *" $n "*) ;; *) nodes+=("$n") ;; esac
  done
fi
stop_nodes "${nodes[@]}"
