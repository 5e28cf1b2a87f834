#!/usr/bin/env bash
# Stop one node by its pid file run/NODE.pid, or (started by hand) by the cache-node listening on
# its port with config NODE.yaml (SIGTERM, up to STOP_TIMEOUT (15) seconds, then SIGKILL), e.g.
# during a rolling upgrade. Exits 0 when the node was not running (and says so).
#
#   ./scripts/stop_node.sh node1
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ $# -eq 1 ] || { echo "usage: $0 NODE   (e.g. $0 node1)" >&2; exit 2; }
[[ "$1" =~ ^[A-Za-z0-9._-]+$ ]] || die "invalid node name '$1' (expected e.g. node1)"
stop_nodes "$1"
