#!/usr/bin/env bash
# Slow clients against one node, while a well-behaved client measures what the others get.
#
#   bench/slow_clients.sh            # ~2 min: baseline, then slowloris, slow body, slow read
#
# Starts one release node (1 worker thread pinned to SERVER_CPU, standalone, port PORT on
# 127.0.0.1), preloads one key, then for each row: slowhttptest (from Debian) opens SLOW_CONNS
# connections at SLOW_RATE per second and keeps them slow for SLOW_SECS, and after WARMUP seconds
# `wrk -t1 -c10 -d DURATION --latency` GETs the key on CLIENT_CPU. A row reports the well-behaved
# client's req/s and p99, the attacker's connections the node held at the peak, the node's RSS
# then, the node's CPU time per request answered during wrk's run, and the CPU share the attacker
# took on CLIENT_CPU meanwhile (it competes with wrk there: a high share, with the node's time
# per request unchanged, means the drop is the load generator's, not the node's). The rows:
#   baseline   no attack
#   slowloris  slowhttptest -H: request heads sent one header line every 10 s (never finished)
#   slow body  slowhttptest -B: a PUT body announced at 8 KiB, sent a few bytes every 10 s
#   slow read  slowhttptest -X: requests pipelined, responses read at 32 bytes per 2 s (window 32)
# The node's defences: timeouts.header (10 s, whole head from its first byte), timeouts.body (30 s),
# timeouts.write (10 s without progress), limits.max_connections; each slow connection costs a few
# KiB while idle. Knobs: SLOW_CONNS=2000 SLOW_RATE=500 SLOW_SECS=40 DURATION=10 WARMUP=12
# SERVER_CPU=0 CLIENT_CPU=1 PORT=18480 SKIP_BUILD=1 NODE_BIN=(another build to compare)
# OUT=bench/results/slow-<utc time>.
# Everything started is stopped by PID on exit.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SLOW_CONNS="${SLOW_CONNS:-2000}"
SLOW_RATE="${SLOW_RATE:-500}"
SLOW_SECS="${SLOW_SECS:-40}"
DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-12}"
SERVER_CPU="${SERVER_CPU:-0}"
CLIENT_CPU="${CLIENT_CPU:-1}"
PORT="${PORT:-18480}"
OUT="${OUT:-$ROOT/bench/results/slow-$(date -u +%Y%m%dT%H%M%SZ)}"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
NODE_BIN="${NODE_BIN:-$TARGET/release/cache-node}"
URL="http://127.0.0.1:$PORT/api/v1/cache/slow:probe"

for tool in wrk slowhttptest curl taskset; do
  command -v "$tool" >/dev/null || { echo "$tool is required (apt-get install wrk slowhttptest curl util-linux)" >&2; exit 2; }
done
[ "${SKIP_BUILD:-0}" = 1 ] || cargo build --release --locked -q --bin cache-node
mkdir -p "$OUT"
ulimit -n 65536 2>/dev/null || true

PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

cat >"$OUT/node.yaml" <<YAML
node_id: slow1
address: "127.0.0.1:$PORT"
cache_size: 100000
threads: 1
pin_threads: false
log_level: warn
limits:
  max_connections: 20000
YAML
taskset -c "$SERVER_CPU" "$NODE_BIN" -config="$OUT/node.yaml" 2>"$OUT/node.log" &
NODE_PID=$!
PIDS+=("$NODE_PID")
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$PORT/api/v1/health" >/dev/null && break; sleep 0.1; done
curl -fs -X PUT -d '{"value":"a 32-byte value for the slow test"}' "$URL" >/dev/null

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$NODE_PID/status"; }
open_conns() { curl -fs "http://127.0.0.1:$PORT/admin/metrics" | awk '$1 == "cache_connections_active" {print $2}'; }

# CPU ticks (user + system, 1/100 s) a process used so far; 0 once it has exited.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
requests() { curl -fs "http://127.0.0.1:$PORT/admin/metrics" | awk '$1 ~ /^cache_core_requests_total/ {s += $2} END {print s + 0}'; }

# wrk's req/s and p99 (ms) of the well-behaved client, and where the CPU went meanwhile: the
# node's CPU time per request it answered (an attack that made the node's work dearer shows
# here), and the attacker's share of the client's CPU (ATTACKER_PID, the load generator
# competing with wrk on CLIENT_CPU).
measure() {
  local name=$1 out n0 a0 r0 t0 n1 a1 r1 t1
  n0=$(ticks "$NODE_PID"); a0=$(ticks "${ATTACKER_PID:-0}"); r0=$(requests); t0=$(date +%s%N)
  out=$(taskset -c "$CLIENT_CPU" wrk -t1 -c10 -d"${DURATION}s" --latency "$URL")
  n1=$(ticks "$NODE_PID"); a1=$(ticks "${ATTACKER_PID:-0}"); r1=$(requests); t1=$(date +%s%N)
  echo "$out" >"$OUT/wrk-$name.txt"
  REQS=$(awk '/^Requests\/sec/ {printf "%.0f", $2}' <<<"$out")
  P99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  NON2XX=$(awk '/Non-2xx/ {print $5}' <<<"$out")
  NODE_US=$(awk -v t=$((n1 - n0)) -v r=$((r1 - r0)) 'BEGIN {printf "%.1f", (r > 0 ? t * 10000 / r : 0)}')
  ATTACKER_CPU=$(awk -v a=$((a1 - a0)) -v ns=$((t1 - t0)) 'BEGIN {printf "%.0f %%", (a > 0 ? a * 1e9 / ns : 0)}')
  if [ "${ATTACKER_PID:-0}" = 0 ]; then
    ATTACKER_CPU="-"
  elif [ ! -e "/proc/$ATTACKER_PID/stat" ]; then
    # Exited during the window (its connections all closed): its ticks are gone with it.
    ATTACKER_CPU="ended during the run"
  fi
}

printf '| row | req/s (wrk -c10) | p99 | non-2xx | attacker connections open | node RSS | node CPU per request | attacker CPU (client core) |\n|---|---|---|---|---|---|---|---|\n' >"$OUT/table.md"
row() {
  printf '| %s | %s | %s | %s | %s | %s MiB | %s µs | %s |\n' "$1" "$REQS" "$P99" "${NON2XX:-0}" "$2" "$(( $(rss_kib) / 1024 ))" "$NODE_US" "$ATTACKER_CPU" >>"$OUT/table.md"
}

measure baseline
row baseline 0

attack() { # name slowhttptest-args...
  local name=$1 peak
  shift
  taskset -c "$CLIENT_CPU" slowhttptest -c "$SLOW_CONNS" -r "$SLOW_RATE" -l "$SLOW_SECS" -p 3 \
    -g -o "$OUT/slow-$name" "$@" >"$OUT/slowhttptest-$name.txt" 2>&1 &
  local spid=$!
  PIDS+=("$spid")
  ATTACKER_PID=$spid
  sleep "$WARMUP"
  peak=$(open_conns)
  measure "$name"
  row "$name" "${peak:-?}"
  wait "$spid" 2>/dev/null || true
  sleep 2
}
attack slowloris -H -i 10 -u "$URL"
attack slow-body -B -i 10 -s 8192 -t PUT -u "$URL"
attack slow-read -X -k 8 -w 32 -y 32 -n 2 -z 32 -u "$URL"

cat "$OUT/table.md"
echo "raw outputs: $OUT"
