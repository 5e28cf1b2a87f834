#!/usr/bin/env bash
# Rolling upgrade of the local cluster, one node at a time, so the cluster keeps serving:
#
#   ./scripts/rolling_upgrade.sh                 # every node of the cluster (node1 node2 node3)
#   ./scripts/rolling_upgrade.sh node2           # only some (the others are still checked as peers)
#
# 1. Build first (cargo build --release, into bin/), while every node still serves: a restart must
#    never wait for the compiler (start_node.sh alone would build with the node down).
# 2. Check that every node of the cluster ($NODES, default node1 node2 node3) is healthy.
# 3. For each node: stop it (SIGTERM: it tells its peers it is leaving, drains, and with data_dir
#    saves its snapshot), start it with the new binary, wait until it is healthy (GET
#    /api/v1/health answers 200 "healthy" only once it has caught up from its peers: 503
#    "syncing" until then), every other node's /admin/cluster reports it "up", and none of them
#    still holds hints for it; only then touch the next node, so no key loses its last copy.
# Every wait is bounded (HEALTH_TIMEOUT, default 120 s here: start plus catch-up; PEER_TIMEOUT, 30 s);
# on failure it stops with exit 1, naming the node, what did not happen, and which nodes are
# already upgraded. Needs curl and python3.
# With replicas >= 2 (the default on a cluster) every key has a copy on another node while one
# restarts; with `replicas: 1` a restarted node comes back empty (export first if the keys matter).
set -euo pipefail
# A restarted node is healthy only once it has caught up from its peers: allow for that.
HEALTH_TIMEOUT="${HEALTH_TIMEOUT:-120}"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=auth.sh
. "$(dirname "${BASH_SOURCE[0]}")/auth.sh"

PEER_TIMEOUT="${PEER_TIMEOUT:-30}"
for tool in curl python3; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is required by $0"
done

select_nodes # the whole cluster: every node must be up before one of them goes down
CLUSTER=("${SELECTED[@]}")
select_nodes "$@"
UPGRADE=("${SELECTED[@]}")
DONE=()

# Stop with exit 1, saying where the upgrade stands.
fail() {
  echo "error: rolling upgrade stopped: $*" >&2
  echo "  upgraded: ${DONE[*]:-none}; not touched after the failure. Look at logs/<node>.log," \
    "fix, then rerun $0 for the rest." >&2
  exit 1
}

# 200 with "status":"healthy" (503 "syncing" while it catches up, 503 "draining" while it stops).
healthy() {
  local out
  out=$(curl -s -m 2 -w '\n%{http_code}' "$(node_url "$1")/api/v1/health" || true)
  [ "${out##*$'\n'}" = 200 ] && grep -q '"status":"healthy"' <<<"$out"
}

# Field $3 of NODE $2's entry in the /admin/cluster answer of node $1 (state: "up", "down",
# "syncing", "draining", "self"; hints_pending: hints node $1 keeps for it, 0 when not reported);
# empty when that node does not answer or does not list it.
seen_by() {
  curl -s -m 2 "${CURL_AUTH[@]}" "$(node_url "$1")/admin/cluster" 2>/dev/null | python3 -c '
import json, sys
try:
    doc = json.load(sys.stdin)
except Exception:
    sys.exit(0)
for m in doc.get("nodes", []):
    if m.get("id") == sys.argv[1]:
        print(m.get(sys.argv[2], 0 if sys.argv[2] == "hints_pending" else ""))
' "$2" "$3" || true
}

state_seen_by() { seen_by "$1" "$2" state; }

# Wait until every other node of the cluster reports NODE up (its prober saw the restart).
wait_seen_up() {
  local n="$1" m deadline=$((SECONDS + PEER_TIMEOUT)) missing
  while :; do
    missing=()
    for m in "${CLUSTER[@]}"; do
      [ "$m" = "$n" ] || [ "$(state_seen_by "$m" "$n")" = up ] || missing+=("$m")
    done
    [ ${#missing[@]} -gt 0 ] || return 0
    [ "$SECONDS" -lt "$deadline" ] ||
      fail "$n restarted, but after ${PEER_TIMEOUT}s ${missing[*]} still do(es) not see it up (GET /admin/cluster)"
    sleep 0.5
  done
}

# Wait until NODE has caught up: it reports itself healthy (not "syncing") and no other node still
# keeps hints for it (they deliver them once it takes writes again), so that stopping the next node
# never takes away writes that NODE holds nowhere else yet.
wait_caught_up() {
  local n="$1" m deadline=$((SECONDS + PEER_TIMEOUT)) missing
  while :; do
    missing=()
    healthy "$n" || missing+=("$n is not healthy")
    for m in "${CLUSTER[@]}"; do
      [ "$m" = "$n" ] || [ "$(seen_by "$m" "$n" hints_pending)" = 0 ] || missing+=("$m keeps hints for it")
    done
    [ ${#missing[@]} -gt 0 ] || return 0
    [ "$SECONDS" -lt "$deadline" ] ||
      fail "$n restarted, but after ${PEER_TIMEOUT}s it has not caught up: ${missing[*]} (GET /admin/cluster)"
    sleep 0.5
  done
}

echo "Rolling upgrade of ${UPGRADE[*]} (cluster: ${CLUSTER[*]})"
echo "[1/3] build"
build_if_needed
echo "[2/3] every node healthy before the first stop"
for m in "${CLUSTER[@]}"; do
  healthy "$m" || die "$m ($(node_url "$m")) is not healthy; start the cluster first (./scripts/start_cluster.sh); nothing was stopped"
done
echo "[3/3] one node at a time"
i=0
for n in "${UPGRADE[@]}"; do
  i=$((i + 1))
  echo "--- $n ($i/${#UPGRADE[@]}): stop"
  (stop_nodes "$n") | sed 's/^/    /'
  echo "--- $n: start"
  # A subshell: start_nodes exits on failure (after stopping what it started); report it here.
  (SKIP_BUILD=1 start_nodes "$n") | sed 's/^/    /' || fail "$n did not start healthy (see above)"
  others=()
  for m in "${CLUSTER[@]}"; do [ "$m" = "$n" ] || others+=("$m"); done
  echo "--- $n: waiting up to ${PEER_TIMEOUT}s until ${others[*]:-its peers} see it up"
  wait_seen_up "$n"
  echo "--- $n: waiting up to ${PEER_TIMEOUT}s until its peers hold no hints for it"
  wait_caught_up "$n"
  DONE+=("$n")
  echo "--- $n: upgraded"
done
echo "Rolling upgrade done: ${DONE[*]}"
