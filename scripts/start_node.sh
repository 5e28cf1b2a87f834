#!/usr/bin/env bash
# Start one node (e.g. during a rolling upgrade) exactly as start_cluster.sh does, and wait until
# it answers GET /api/v1/health with 200. Rebuilds bin/cache-node first when it is out of date.
#
#   ./scripts/start_node.sh node1
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ $# -eq 1 ] || { echo "usage: $0 NODE   (e.g. $0 node1; config/NODE.yaml must exist)" >&2; exit 2; }
select_nodes "$1"
start_nodes "$1"
echo "  stop:    ./scripts/stop_node.sh $1"
