#!/usr/bin/env bash
# Batch GET against single GETs, in the same run: keys per second for a 100-key
# POST /api/v1/batch (every op a get) and for plain GET /api/v1/cache/{key}, on a 3-node cluster.
#
#   bench/batch.sh                 # ~1 min with the defaults
#   QUICK=1 bench/batch.sh         # 3 s runs, 1 repetition: a smoke test
#
# Starts three release nodes on 127.0.0.1, 127.0.0.2 and 127.0.0.3 (port PORT each), one worker
# thread each (`threads: 1`), all pinned to SERVER_CPU so the co-located nodes share one CPU
# instead of fighting the load generator for two; `replicas: 2` (the default on three nodes).
# Loads KEYS keys (key:000000000000.., 32-byte JSON string values) with one batch put, checks
# that a batch get answers every key 200, then alternates, on CLIENT_CPU, RUNS times:
#   single   wrk GET of the KEYS keys (uniform), all via node 1: keys/s = requests/s
#   batch    wrk POST /api/v1/batch of all KEYS gets (bench/wrk/batch_get.lua), via node 1:
#            keys/s = requests/s x KEYS
# Both go through node 1, which coordinates about a third of the keys and forwards the rest
# (single GETs one by one through its per-peer batchers; a batch as one sub-batch per peer).
# Prints each run, the medians, the ratio batch/single, server CPU µs per key (utime+stime of
# the three nodes over the run ÷ keys answered) and the load average at the start.
#
# Knobs (environment): DURATION=10 RUNS=3 WARMUP=2 CONNS=16 KEYS=100 SERVER_CPU=0
#   CLIENT_CPU=1 (a list, e.g. 2-3, runs wrk with a thread per CPU; CLIENT_THREADS overrides)
#   PORT=18700 OUT=bench/results/batch-<utc time> SKIP_BUILD=1 (use the existing
#   release binary) CARGO_TARGET_DIR (where it is built).
# Everything started is stopped by PID on exit, including on Ctrl-C.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if [ "${QUICK:-0}" = 1 ]; then
  DURATION="${DURATION:-3}" RUNS="${RUNS:-1}" WARMUP="${WARMUP:-1}"
fi
DURATION="${DURATION:-10}"
RUNS="${RUNS:-3}"
WARMUP="${WARMUP:-2}"
CONNS="${CONNS:-16}"
KEYS="${KEYS:-100}"
SERVER_CPU="${SERVER_CPU:-0}"
CLIENT_CPU="${CLIENT_CPU:-1}"
PORT="${PORT:-18700}"
OUT="${OUT:-$ROOT/bench/results/batch-$(date -u +%Y%m%dT%H%M%SZ)}"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
NODE_BIN="$TARGET/release/cache-node"
LUA="$ROOT/bench/wrk"
CLK_TCK="$(getconf CLK_TCK)"
IPS=(127.0.0.1 127.0.0.2 127.0.0.3)
URL="http://${IPS[0]}:$PORT"

# shellcheck source=bench/procs.sh
. "$ROOT/bench/procs.sh"

for tool in wrk curl taskset awk; do
  command -v "$tool" >/dev/null || die "$tool is required (apt-get install wrk curl util-linux gawk)"
done
[ "${SKIP_BUILD:-0}" = 1 ] || cargo build --release --locked -q --bin cache-node
[ -x "$NODE_BIN" ] || die "no release binary at $NODE_BIN"
mkdir -p "$OUT/raw" "$OUT/logs"

# ---- the cluster ---------------------------------------------------------------------------

LOAD="$(cut -d' ' -f1-3 /proc/loadavg)"
members="cluster_nodes:"
for i in 1 2 3; do members+=$'\n'"  b$i: \"${IPS[$((i - 1))]}:$PORT\""; done
for i in 1 2 3; do
  cat >"$OUT/b$i.yaml" <<YAML
node_id: "b$i"
address: "${IPS[$((i - 1))]}:$PORT"
$members
cache_size: $((KEYS * 2 + 1000))
threads: 1
pin_threads: false
io_driver: auto
log_level: warn
YAML
  taskset -c "$SERVER_CPU" "$NODE_BIN" --config "$OUT/b$i.yaml" >"$OUT/logs/b$i.log" 2>&1 &
  STARTED+=("$!")
done
# Healthy = 200: a node answers 503 while it catches up from its peers after its start.
for ip in "${IPS[@]}"; do
  for _ in $(seq 300); do
    curl -sf -o /dev/null -m 1 "http://$ip:$PORT/api/v1/health" && break
    sleep 0.1
  done
  curl -sf -o /dev/null -m 1 "http://$ip:$PORT/api/v1/health" || die "node $ip:$PORT does not answer (see $OUT/logs)"
done
# Every node sees the other two up (probes run every second).
for _ in $(seq 100); do
  up=0
  for ip in "${IPS[@]}"; do
    curl -s "http://$ip:$PORT/admin/cluster" | grep -q '"nodes_up":3' && up=$((up + 1))
  done
  [ "$up" = 3 ] && break
  sleep 0.2
done
[ "$up" = 3 ] || die "the nodes do not all see each other up (see $OUT/logs)"

# ---- the keys --------------------------------------------------------------------------------

key() { printf 'key:%012d' "$1"; }
value="\"$(printf '%30s' '' | tr ' ' x)\""
ops() { # OP [VALUE]: the ops of every key
  local i sep=""
  for i in $(seq 0 $((KEYS - 1))); do
    if [ -n "${2:-}" ]; then
      printf '%s{"op":"%s","key":"%s","value":%s}' "$sep" "$1" "$(key "$i")" "$2"
    else
      printf '%s{"op":"%s","key":"%s"}' "$sep" "$1" "$(key "$i")"
    fi
    sep=","
  done
}
printf '{"ops":[%s]}' "$(ops put "$value")" >"$OUT/put.json"
printf '{"ops":[%s]}' "$(ops get)" >"$OUT/get.json"
curl -sf -o "$OUT/raw/put.out" -H 'Content-Type: application/json' --data-binary "@$OUT/put.json" "$URL/api/v1/batch" ||
  die "the batch put of $KEYS keys failed"
stored=$(grep -o '"status":20[01]' "$OUT/raw/put.out" | wc -l)
[ "$stored" = "$KEYS" ] || die "the batch put stored $stored of $KEYS keys (see $OUT/raw/put.out)"
curl -sf -o "$OUT/raw/get.out" -H 'Content-Type: application/json' --data-binary "@$OUT/get.json" "$URL/api/v1/batch" ||
  die "the batch get failed"
hits=$(grep -o '"status":200' "$OUT/raw/get.out" | wc -l)
[ "$hits" = "$KEYS" ] || die "the batch get found $hits of $KEYS keys (see $OUT/raw/get.out)"
for i in 0 $((KEYS - 1)); do
  curl -sf -o /dev/null "$URL/api/v1/cache/$(key "$i")" || die "GET $(key "$i") failed"
done

# ---- measurement -----------------------------------------------------------------------------

CLIENT_THREADS="${CLIENT_THREADS:-$(cpu_count "$CLIENT_CPU")}"
WRK=(taskset -c "$CLIENT_CPU" wrk "-t$CLIENT_THREADS" "-c$CONNS" --timeout 5s)

# measure NAME KEYS_PER_REQUEST D SCRIPT [SCRIPT_ARGS...]: one wrk run of D s against node 1
# (SCRIPT uses common.lua's done()); sets KPS (keys/s), P50 (µs per request) and CPU (server
# CPU µs per key); the output stays in OUT/raw.
n_runs=0
measure() {
  local name="$1" per="$2" d="$3" script="$4" t0 t1 rps out
  shift 4
  n_runs=$((n_runs + 1))
  out="$OUT/raw/$name.$n_runs.out"
  t0="$(cpu_ticks "${STARTED[@]}")"
  "${WRK[@]}" -d"${d}s" -s "$LUA/$script" "$URL" -- "$@" >"$out" 2>&1 || die "$name: wrk failed (see $out)"
  t1="$(cpu_ticks "${STARTED[@]}")"
  rps="$(sed -n 's/^WRK_JSON .*"rps":\([0-9.]*\).*/\1/p' "$out")"
  P50="$(sed -n 's/^WRK_JSON .*"p50_us":\([0-9]*\).*/\1/p' "$out")"
  [ -n "$rps" ] || die "$name: no WRK_JSON line (see $out)"
  ! grep -q 'Non-2xx' "$out" || die "$name: answers other than 2xx (see $out)"
  KPS="$(awk -v r="$rps" -v k="$per" 'BEGIN { printf "%.0f", r * k }')"
  CPU="$(awk -v c="$((t1 - t0))" -v hz="$CLK_TCK" -v k="$KPS" -v d="$d" \
    'BEGIN { printf "%.2f", (c / hz * 1e6) / (k * d) }')"
}

log "warm-up ($WARMUP s each)"
measure warmup-single 1 "$WARMUP" get_keys.lua "$KEYS" uniform
measure warmup-batch "$KEYS" "$WARMUP" batch_get.lua "$KEYS"

singles=() batches=()
row() { printf '%-8s %-4s %12s %10s %14s\n' "$@" | tee -a "$OUT/runs.txt"; }
row kind run keys/s p50_us cpu_us/key
for r in $(seq "$RUNS"); do
  measure single 1 "$DURATION" get_keys.lua "$KEYS" uniform
  singles+=("$KPS")
  row single "$r" "$KPS" "$P50" "$CPU"
  measure batch "$KEYS" "$DURATION" batch_get.lua "$KEYS"
  batches+=("$KPS")
  row batch "$r" "$KPS" "$P50" "$CPU"
done

median() { printf '%s\n' "$@" | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
ms="$(median "${singles[@]}")"
mb="$(median "${batches[@]}")"
{
  echo
  echo "3 nodes (1 thread each, all on CPU $SERVER_CPU), wrk -t$CLIENT_THREADS -c$CONNS on CPU $CLIENT_CPU, $KEYS keys, via node 1"
  echo "load average at start: $LOAD"
  echo "single GET:          $ms keys/s (median of $RUNS)"
  echo "batch of $KEYS gets:   $mb keys/s (median of $RUNS)"
  awk -v b="$mb" -v s="$ms" 'BEGIN { printf "ratio batch/single:  %.1fx\n", b / s }'
} | tee "$OUT/summary.txt"
