#!/usr/bin/env bash
# The reproducible benchmark suite: our node side by side with what users would run instead.
#
#   bench/run.sh                         # everything, ~12 min with the defaults
#   QUICK=1 bench/run.sh                 # 3 s runs, 1 repetition (~3 min): a smoke test
#   SCENARIOS=pinned,memory bench/run.sh # a subset: pinned keys twocore cluster replicas memory tls
#   SCENARIOS=flags,colocated,hop,zipf bench/run.sh   # issue 13's rows (opt-in, bench/perf.sh;
#                                        # ~25 min with the defaults); SCENARIOS=all runs everything
#
# Builds the release binaries, installs what is missing (wrk, nginx, redis, python3 via apt; the
# packages' own services are kept from starting), then runs back to back, on 127.0.0.1 only:
#   pinned    server: 1 thread pinned to SERVER_CPU; load generator on CLIENT_CPU.
#             Our node (io_uring and epoll drivers), the bare monoio responder (bench/bare.rs, both
#             drivers), nginx `return 200` (sendfile and tcp_nopush off), Redis GET
#             (redis-benchmark -P 1); then pipelined x16: ours, bare, Redis -P 16, nginx.
#   keys      our node over KEYS preloaded keys: GET uniform, GET Zipf, PUT, mixed 90/10 (wrk);
#             the same GET with cache-client bench, closed loop and open loop at RATE req/s.
#   twocore   our node with 2 threads on both CPUs, wrk -t2 on both: GET uniform, pipelined x16.
#   cluster   3 nodes (1 thread each) on SERVER_CPU, GET uniform via node 1; reports the share of
#             forwarded requests and what a forwarded GET costs relative to a local one.
#   replicas  the same 3-node cluster with replicas: 1 and replicas: 2 (PUT and GET via node 1, CPU
#             of all three nodes): what a copy of every write costs.
#   memory    RSS growth after loading MEM_KEYS entries (16-byte keys, 32-byte values): ours, Redis.
#   tls       the cost of TLS, same run: one node with `tls:` (an ECDSA P-256 certificate made by
#             openssl in OUT/tls) and one without, 1 thread each on SERVER_CPU; GET hit, GET hit
#             pipelined x16, and GET hit on a new connection per request (a handshake each);
#             wrk over https:// (Debian's wrk links OpenSSL; it does not verify the certificate).
#   flags, colocated, hop, zipf: io_uring ring set-ups against epoll and nginx (with wrk, then
#             with cache-client bench), the shipped 3-node local cluster, the cross-core hop and
#             threads: 2 cost (then the load split and the hops apart), Zipf and one key read
#             through a non-owner, with and without hot-key copies; described in bench/perf.sh.
#             Their rows run interleaved (round r of every row of a group, then round r + 1) so
#             the rows they compare share the machine's state.
# Each row: WARMUP s unrecorded, then RUNS runs of DURATION s; req/s median (min..max), p50/p99
# (not for pipelined rows: wrk times one request per batch), and server CPU µs per request from
# /proc/PID/stat (utime+stime of the server processes over the run ÷ requests answered).
# The table (bench/table.py) goes to stdout and OUT/table.md; raw outputs stay in OUT.
# OUT/plot.svg: latency by percentile of the cache-client rows (keys scenario).
#
# Knobs (environment): DURATION=10 RUNS=3 WARMUP=1 CONNS=50 DEPTH=16 KEYS=100000 MEM_KEYS=1000000
#   RATE=20000 SERVER_CPU=0 CLIENT_CPU=1 PORT=18080 (uses PORT..PORT+75) SCENARIOS=...
#   CLIENT_CPU may list several CPUs (2-3): the load generators then run one thread per CPU
#   (CLIENT_THREADS, default: how many CLIENT_CPU names), so that on a host with CPUs to spare
#   the generator is not the ceiling of the rows it drives (docs/benchmarks.md, "Reproducing").
#   HOP_CPUS (the hop group's threads: 2 node; default SERVER_CPU,CLIENT_CPU)
#   FLAG_SETUPS="plain coop single_defer" (ring set-ups of the flags group, SETUP[:ENTRIES])
#   COLO_KEYS=1000 ZIPF_S=0.99 HOT_MIN_READS= (hot_keys.min_reads_per_sec of the zipf group)
#   V1_COMMIT=4393800 (version 1, built from the history as the colocated group's same-run before)
#   OUT=bench/results/<utc time> SKIP_BUILD=1 (use existing release binaries) NO_INSTALL=1
#   CARGO_TARGET_DIR (where the release binaries are built)
# Everything started is stopped by PID on exit, including on Ctrl-C.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if [ "${QUICK:-0}" = 1 ]; then
  DURATION="${DURATION:-3}" RUNS="${RUNS:-1}"
fi
DURATION="${DURATION:-10}"
RUNS="${RUNS:-3}"
WARMUP="${WARMUP:-1}"
CONNS="${CONNS:-50}"
DEPTH="${DEPTH:-16}"
KEYS="${KEYS:-100000}"
MEM_KEYS="${MEM_KEYS:-1000000}"
RATE="${RATE:-20000}"
SERVER_CPU="${SERVER_CPU:-0}"
CLIENT_CPU="${CLIENT_CPU:-1}"
BOTH_CPUS="${SERVER_CPU},${CLIENT_CPU}"
HOP_CPUS="${HOP_CPUS:-$BOTH_CPUS}"
PORT="${PORT:-18080}"
SCENARIOS="${SCENARIOS:-pinned,keys,twocore,cluster,replicas,memory,tls}"
ALL_SCENARIOS="pinned keys twocore cluster replicas memory tls flags colocated hop zipf"
[ "$SCENARIOS" != all ] || SCENARIOS="${ALL_SCENARIOS// /,}"
OUT="${OUT:-$ROOT/bench/results/$(date -u +%Y%m%dT%H%M%SZ)}"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
NODE_BIN="$TARGET/release/cache-node"
CLIENT_BIN="$TARGET/release/cache-client"
CLK_TCK="$(getconf CLK_TCK)"
HIT_PATH="/api/v1/cache/bench:hit"
# The GET-hit value: a 32-byte JSON string, as in the memory test.
HIT_VALUE="\"$(printf 'x%.0s' $(seq 30))\""

P_URING=$PORT P_NGINX=$((PORT + 1)) P_REDIS=$((PORT + 2)) P_EPOLL=$((PORT + 3))
P_TWO=$((PORT + 4)) P_BARE_U=$((PORT + 5)) P_BARE_E=$((PORT + 6)) P_C1=$((PORT + 10)) P_C2=$((PORT + 11)) P_C3=$((PORT + 12))
P_MEM=$((PORT + 20)) P_MEM_REDIS=$((PORT + 21)) P_R=$((PORT + 22)) P_PLAIN=$((PORT + 28)) P_TLS=$((PORT + 29))

# shellcheck source=bench/procs.sh
. "$ROOT/bench/procs.sh"

# One load-generator thread per client CPU: a single wrk thread is the ceiling of the GET-hit and
# pipelined rows on a 2-CPU host (its CPU 96-100 % busy, docs/benchmarks.md stop 40); given more
# CPUs, more threads lift that ceiling.
CLIENT_THREADS="${CLIENT_THREADS:-$(cpu_count "$CLIENT_CPU")}"
has() { [[ ",$SCENARIOS," == *",$1,"* ]]; }

# start NAME CPUS CMD...: start in the background pinned to CPUS; the pid lands in LAST_PID.
start() {
  local name="$1" cpus="$2"
  shift 2
  taskset -c "$cpus" "$@" >"$OUT/logs/$name.log" 2>&1 &
  LAST_PID=$!
  STARTED+=("$LAST_PID")
}

stop_all() { cleanup; }

wait_http() {
  local url="$1" i
  for i in $(seq 100); do
    curl -sk -o /dev/null -m 1 "$url" && return 0
    sleep 0.1
  done
  die "nothing answers $url (see $OUT/logs)"
}

wait_redis() {
  local port="$1" i
  for i in $(seq 100); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  die "redis on $port does not answer"
}


rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# ---- our node -----------------------------------------------------------------------------------

# node_config NAME PORT THREADS DRIVER [CLUSTER_YAML] [CACHE_SIZE]
node_config() {
  local f="$OUT/$1.yaml"
  {
    echo "node_id: \"$1\""
    echo "address: \"127.0.0.1:$2\""
    echo "cache_size: ${6:-$((KEYS * 2 + 1000))}"
    echo "threads: $3"
    echo "pin_threads: false"
    echo "io_driver: $4"
    echo "log_level: warn"
    [ -z "${5:-}" ] || printf '%s\n' "$5"
  } >"$f"
  echo "$f"
}

start_node() { # NAME CPUS CONFIG -> LAST_PID
  start "$1" "$2" "$NODE_BIN" --config "$3"
}

put_hit_key() { # PORT [PATH]: the GET-hit value at HIT_PATH (or PATH)
  local path="${2:-$HIT_PATH}"
  curl -sf -o /dev/null -X PUT "http://127.0.0.1:$1$path" -d "{\"value\":$HIT_VALUE}" ||
    die "cannot store the GET-hit value at $path on port $1"
}

preload() { # NODES(comma separated) KEYS [extra cache-client args]
  local nodes="$1" keys="$2"
  shift 2
  taskset -c "$CLIENT_CPU" "$CLIENT_BIN" --nodes "$nodes" bench --preload-only --keys "$keys" \
    --key-size 16 --value-size 32 -c 8 -q "$@" >/dev/null ||
    die "preloading $keys keys into $nodes failed"
}

forwarded() { # PORT: forwarded requests so far
  curl -s "http://127.0.0.1:$1/admin/metrics" |
    awk '/^cache_forwarded_requests_total/ {s += $NF} END {printf "%d\n", s}'
}

# ---- measurement --------------------------------------------------------------------------------

# measure ID RUN PIDS CMD: one recorded run of a row (server CPU around it, forwarded requests).
measure() {
  local id="$1" r="$2" pids="$3" t0 t1 f0=0 f1=0 w0 w1 c0 c1 me="$BASHPID"
  shift 3
  # D is the run length that the command strings read (through eval).
  # shellcheck disable=SC2034
  D="$DURATION"
  [ -z "${FWD_PORT:-}" ] || f0="$(forwarded "$FWD_PORT")"
  # shellcheck disable=SC2086 # pids is a list
  t0="$(cpu_ticks $pids)" w0="$(switches $pids)" c0="$(reaped_ticks "$me")"
  eval "$*" >"$OUT/raw/$id.r$r.out" 2>&1 || log "  run $r exited non-zero (see raw/$id.r$r.out)"
  c1="$(reaped_ticks "$me")"
  # shellcheck disable=SC2086
  t1="$(cpu_ticks $pids)" w1="$(switches $pids)"
  [ -z "${FWD_PORT:-}" ] || f1="$(forwarded "$FWD_PORT")"
  {
    echo "cpu_ticks=$((t1 - t0))"
    echo "clk_tck=$CLK_TCK"
    echo "switches=$((w1 - w0))"
    # The load generator's CPU (with the few ms of the helpers run between the two readings).
    echo "client_ticks=$((c1 - c0))"
    echo "client_cpus=${ROW_CLIENT_THREADS:-$CLIENT_THREADS}"
    echo "load=$(cut -d' ' -f1 /proc/loadavg)"
    [ -z "${REQUESTS:-}" ] || echo "requests=$REQUESTS"
    [ -z "${FWD_PORT:-}" ] || echo "fwd=$((f1 - f0))"
  } >"$OUT/raw/$id.r$r.meta"
}

warm_up() { # ID CMD
  local id="$1"
  shift
  # shellcheck disable=SC2034
  D="$WARMUP"
  eval "$*" >"$OUT/raw/$id.warmup.out" 2>&1 || log "  warm-up exited non-zero (see raw/$id.warmup.out)"
}

# row ID GROUP LABEL KIND COMPARE PIPELINED PIDS -- CMD... (CMD may use $D, the run length in s)
# Runs CMD once for WARMUP s, then RUNS times for DURATION s, recording server CPU around each.
# Extra meta: REQUESTS (redis -n) and FWD_PORT (count forwarded requests on that node).
row() {
  local id="$1" group="$2" label="$3" kind="$4" compare="$5" pipelined="$6" pids="$7"
  shift 8
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$id" "$group" "$label" "$kind" "$compare" "$pipelined" >>"$OUT/rows.tsv"
  log "$group: $label"
  warm_up "$id" "$@"
  local r
  for r in $(seq "$RUNS"); do measure "$id" "$r" "$pids" "$@"; done
}

# qrow: as row, but only queued; run_queued then runs the queued rows interleaved (round r of
# every row, then round r + 1), so A/B/C comparisons share the machine's state within each round.
Q_IDS=() Q_PIDS=() Q_CMDS=()
qrow() {
  local id="$1" group="$2" label="$3" kind="$4" compare="$5" pipelined="$6" pids="$7"
  shift 8
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$id" "$group" "$label" "$kind" "$compare" "$pipelined" >>"$OUT/rows.tsv"
  Q_IDS+=("$id") Q_PIDS+=("$pids") Q_CMDS+=("$*")
}

run_queued() {
  local i r
  for i in "${!Q_IDS[@]}"; do warm_up "${Q_IDS[$i]}" "${Q_CMDS[$i]}"; done
  for r in $(seq "$RUNS"); do
    log "  round $r of $RUNS: ${#Q_IDS[@]} rows interleaved (load $(cut -d' ' -f1 /proc/loadavg))"
    for i in "${!Q_IDS[@]}"; do measure "${Q_IDS[$i]}" "$r" "${Q_PIDS[$i]}" "${Q_CMDS[$i]}"; done
  done
  Q_IDS=() Q_PIDS=() Q_CMDS=()
}

WRK="taskset -c $CLIENT_CPU wrk -t$CLIENT_THREADS -c$CONNS --timeout 5s"
WRK2="taskset -c $BOTH_CPUS wrk -t2 -c$CONNS --timeout 5s" # twocore: server and wrk share both CPUs
LUA="$ROOT/bench/wrk"

# redis-benchmark runs a request count, not a duration: size -n from the warm-up's rate.
redis_n() { # OUTFILE -> requests for DURATION s
  local rps
  rps="$(grep -i '^"GET' "$1" | head -n 1 | cut -d, -f2 | tr -d '"')"
  awk -v r="${rps:-50000}" -v d="$DURATION" 'BEGIN {printf "%d\n", r * d}'
}

scenario_pinned() {
  local uring epoll bare_u bare_e nginx redis cfg
  cfg="$(node_config ours-uring "$P_URING" 1 uring)"
  start_node ours-uring "$SERVER_CPU" "$cfg"
  uring=$LAST_PID
  cfg="$(node_config ours-epoll "$P_EPOLL" 1 epoll)"
  start_node ours-epoll "$SERVER_CPU" "$cfg"
  epoll=$LAST_PID
  start bare-uring "$SERVER_CPU" "$BARE_BIN" serve "127.0.0.1:$P_BARE_U" uring
  bare_u=$LAST_PID
  start bare-epoll "$SERVER_CPU" "$BARE_BIN" serve "127.0.0.1:$P_BARE_E" epoll
  bare_e=$LAST_PID
  mkdir -p "$OUT/nginx"
  sed -e "s|@PORT@|$P_NGINX|" -e "s|@DIR@|$OUT/nginx|g" -e "s|@BODY@|{\"key\":\"bench:hit\",\"value\":$HIT_VALUE}|" \
    "$ROOT/bench/nginx.conf" >"$OUT/nginx/nginx.conf"
  start nginx "$SERVER_CPU" nginx -p "$OUT/nginx" -c "$OUT/nginx/nginx.conf" -e "$OUT/nginx/error.log"
  nginx=$LAST_PID
  mkdir -p "$OUT/redis"
  start redis "$SERVER_CPU" redis-server --port "$P_REDIS" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$OUT/redis"
  redis=$LAST_PID
  wait_http "http://127.0.0.1:$P_URING/api/v1/health"
  wait_http "http://127.0.0.1:$P_EPOLL/api/v1/health"
  wait_http "http://127.0.0.1:$P_NGINX/"
  wait_http "http://127.0.0.1:$P_BARE_U/"
  wait_http "http://127.0.0.1:$P_BARE_E/"
  wait_redis "$P_REDIS"
  put_hit_key "$P_URING"
  put_hit_key "$P_EPOLL"
  redis-cli -p "$P_REDIS" set "key:__rand_int__" "$(printf 'x%.0s' $(seq 32))" >/dev/null

  local RB=(taskset -c "$CLIENT_CPU" redis-benchmark -p "$P_REDIS" -c "$CONNS" -t get --csv)
  [ "$CLIENT_THREADS" = 1 ] || RB+=(--threads "$CLIENT_THREADS")
  row ours_uring_hit pinned "ours, io_uring: GET hit" wrk - 0 "$uring" -- \
    "$WRK -d\${D}s -s $LUA/get_hit.lua http://127.0.0.1:$P_URING$HIT_PATH"
  row ours_epoll_hit pinned "ours, epoll: GET hit" wrk - 0 "$epoll" -- \
    "$WRK -d\${D}s -s $LUA/get_hit.lua http://127.0.0.1:$P_EPOLL$HIT_PATH"
  row bare_uring_hit pinned "bare monoio responder, io_uring (same body)" wrk ours_uring_hit 0 "$bare_u" -- \
    "$WRK -d\${D}s -s $LUA/get_hit.lua http://127.0.0.1:$P_BARE_U/"
  row bare_epoll_hit pinned "bare monoio responder, epoll (same body)" wrk ours_epoll_hit 0 "$bare_e" -- \
    "$WRK -d\${D}s -s $LUA/get_hit.lua http://127.0.0.1:$P_BARE_E/"
  row nginx_hit pinned "nginx return 200 (same body)" wrk ours_uring_hit 0 "$nginx" -- \
    "$WRK -d\${D}s -s $LUA/get_hit.lua http://127.0.0.1:$P_NGINX/"
  "${RB[@]}" -P 1 -n 50000 >"$OUT/raw/redis_calibrate_p1.out" 2>&1 || true
  REQUESTS="$(redis_n "$OUT/raw/redis_calibrate_p1.out")"
  row redis_p1 pinned "Redis GET, redis-benchmark -P 1" redis ours_uring_hit 0 "$redis" -- \
    "${RB[*]} -P 1 -n \$(( D == DURATION ? REQUESTS : 20000 ))"
  unset REQUESTS
  row ours_uring_p16 pinned "ours, io_uring: GET hit pipelined x$DEPTH" wrk - 1 "$uring" -- \
    "$WRK -d\${D}s -s $LUA/pipeline.lua http://127.0.0.1:$P_URING$HIT_PATH -- $DEPTH"
  row ours_epoll_p16 pinned "ours, epoll: GET hit pipelined x$DEPTH" wrk - 1 "$epoll" -- \
    "$WRK -d\${D}s -s $LUA/pipeline.lua http://127.0.0.1:$P_EPOLL$HIT_PATH -- $DEPTH"
  row bare_uring_p16 pinned "bare monoio responder, io_uring, pipelined x$DEPTH" wrk ours_uring_p16 1 "$bare_u" -- \
    "$WRK -d\${D}s -s $LUA/pipeline.lua http://127.0.0.1:$P_BARE_U/ -- $DEPTH"
  row bare_epoll_p16 pinned "bare monoio responder, epoll, pipelined x$DEPTH" wrk ours_epoll_p16 1 "$bare_e" -- \
    "$WRK -d\${D}s -s $LUA/pipeline.lua http://127.0.0.1:$P_BARE_E/ -- $DEPTH"
  "${RB[@]}" -P "$DEPTH" -n 500000 >"$OUT/raw/redis_calibrate_p16.out" 2>&1 || true
  REQUESTS="$(redis_n "$OUT/raw/redis_calibrate_p16.out")"
  row redis_p16 pinned "Redis GET, redis-benchmark -P $DEPTH" redis ours_uring_p16 1 "$redis" -- \
    "${RB[*]} -P $DEPTH -n \$(( D == DURATION ? REQUESTS : 200000 ))"
  unset REQUESTS
  row nginx_p16 pinned "nginx return 200, pipelined x$DEPTH" wrk ours_uring_p16 1 "$nginx" -- \
    "$WRK -d\${D}s -s $LUA/pipeline.lua http://127.0.0.1:$P_NGINX/ -- $DEPTH"
  stop_all
}

scenario_keys() {
  local pid cfg url="http://127.0.0.1:$P_URING"
  cfg="$(node_config ours-keys "$P_URING" 1 auto)"
  start_node ours-keys "$SERVER_CPU" "$cfg"
  pid=$LAST_PID
  wait_http "$url/api/v1/health"
  preload "127.0.0.1:$P_URING" "$KEYS"
  local CC="taskset -c $CLIENT_CPU $CLIENT_BIN --nodes 127.0.0.1:$P_URING bench -c $CONNS -t $CLIENT_THREADS --keys $KEYS --json -q"
  row ours_uniform keys "ours: GET, $KEYS keys uniform" wrk - 0 "$pid" -- \
    "$WRK -d\${D}s -s $LUA/get_keys.lua $url -- $KEYS uniform"
  row ours_zipf keys "ours: GET, $KEYS keys Zipf 0.99" wrk - 0 "$pid" -- \
    "$WRK -d\${D}s -s $LUA/get_keys.lua $url -- $KEYS zipf 0.99"
  row ours_put keys "ours: PUT, $KEYS keys, 32-byte values" wrk - 0 "$pid" -- \
    "$WRK -d\${D}s -s $LUA/put.lua $url -- $KEYS 32"
  row ours_mixed keys "ours: 90% GET / 10% PUT, $KEYS keys" wrk - 0 "$pid" -- \
    "$WRK -d\${D}s -s $LUA/mixed.lua $url -- $KEYS 90"
  row cc_closed keys "ours: GET uniform, cache-client bench (closed loop)" cc ours_uniform 0 "$pid" -- \
    "$CC -d \${D}s"
  row cc_open keys "ours: GET uniform, cache-client bench --rate $RATE (open loop)" cc - 0 "$pid" -- \
    "$CC -d \${D}s --rate $RATE"
  plot_latency cc_closed:closed_loop "cc_open:open_loop_${RATE}rps"
  stop_all
}

# plot_latency ID:NAME... -> OUT/plot.svg. Each row's last run (a bench --json result) is kept as
# OUT/NAME.json and drawn by cache-client bench --plot --compare, each series named after its file.
plot_latency() {
  local pair id name args=()
  for pair in "$@"; do
    id="${pair%%:*}" name="${pair#*:}"
    [ -s "$OUT/raw/$id.r$RUNS.out" ] || continue
    cp "$OUT/raw/$id.r$RUNS.out" "$OUT/$name.json"
    args+=(--compare "$OUT/$name.json")
  done
  [ "${#args[@]}" -gt 0 ] || return 0
  "$CLIENT_BIN" bench --plot "$OUT/plot.svg" "${args[@]}" >"$OUT/raw/plot.out" 2>&1 ||
    log "latency plot failed (see raw/plot.out)"
}

scenario_twocore() {
  local pid cfg url="http://127.0.0.1:$P_TWO"
  # WRK2's two threads, for the load generator's busy share (read by measure).
  local ROW_CLIENT_THREADS=2
  cfg="$(node_config ours-two "$P_TWO" 2 auto)"
  start_node ours-two "$BOTH_CPUS" "$cfg"
  pid=$LAST_PID
  wait_http "$url/api/v1/health"
  preload "127.0.0.1:$P_TWO" "$KEYS"
  put_hit_key "$P_TWO"
  row two_uniform twocore "ours, 2 threads: GET, $KEYS keys uniform (wrk -t2)" wrk ours_uniform 0 "$pid" -- \
    "$WRK2 -d\${D}s -s $LUA/get_keys.lua $url -- $KEYS uniform"
  row two_p16 twocore "ours, 2 threads: GET hit pipelined x$DEPTH (wrk -t2)" wrk ours_uring_p16 1 "$pid" -- \
    "$WRK2 -d\${D}s -s $LUA/pipeline.lua $url$HIT_PATH -- $DEPTH"
  stop_all
}

scenario_cluster() {
  local members pids=() i port cfg
  members="cluster_nodes:
  c1: \"127.0.0.1:$P_C1\"
  c2: \"127.0.0.1:$P_C2\"
  c3: \"127.0.0.1:$P_C3\""
  for i in 1 2 3; do
    port=$((P_C1 + i - 1))
    cfg="$(node_config "c$i" "$port" 1 auto "$members")"
    start_node "c$i" "$SERVER_CPU" "$cfg"
    pids+=("$LAST_PID")
  done
  for i in 1 2 3; do wait_http "http://127.0.0.1:$((P_C1 + i - 1))/api/v1/health"; done
  # Wait until every node sees the others up (probes run every second).
  for i in $(seq 50); do
    curl -s "http://127.0.0.1:$P_C1/admin/cluster" | grep -q '"nodes_up":3' && break
    sleep 0.2
  done
  preload "127.0.0.1:$P_C1" "$KEYS"
  FWD_PORT=$P_C1
  row cluster_get cluster "3 nodes on one CPU: GET, $KEYS keys uniform, all via node 1" wrk ours_uniform 0 \
    "${pids[*]}" -- "$WRK -d\${D}s -s $LUA/get_keys.lua http://127.0.0.1:$P_C1 -- $KEYS uniform"
  unset FWD_PORT
  stop_all
}

# The cost of replication: the same 3-node cluster (1 thread each, on SERVER_CPU) with replicas: 1
# and replicas: 2, PUT and GET uniform via node 1, measured in the same run. CPU is all three
# nodes' (a copy costs the replica's CPU too).
scenario_replicas() {
  local r i port cfg members pids base
  for r in 1 2; do
    pids=()
    base=$((P_R + (r - 1) * 3))
    members="replicas: $r
cluster_nodes:
  r${r}n1: \"127.0.0.1:$base\"
  r${r}n2: \"127.0.0.1:$((base + 1))\"
  r${r}n3: \"127.0.0.1:$((base + 2))\""
    for i in 1 2 3; do
      port=$((base + i - 1))
      cfg="$(node_config "r${r}n$i" "$port" 1 auto "$members")"
      start_node "r${r}n$i" "$SERVER_CPU" "$cfg"
      pids+=("$LAST_PID")
    done
    for i in 1 2 3; do wait_http "http://127.0.0.1:$((base + i - 1))/api/v1/health"; done
    preload "127.0.0.1:$base" "$KEYS"
    local cmp=- cmpg=-
    [ "$r" = 1 ] || { cmp=replicas1_put; cmpg=replicas1_get; }
    row "replicas${r}_put" replicas "3 nodes on one CPU, replicas: $r: PUT, $KEYS keys uniform, via node 1" wrk "$cmp" 0 \
      "${pids[*]}" -- "$WRK -d\${D}s -s $LUA/put.lua http://127.0.0.1:$base -- $KEYS 32"
    row "replicas${r}_get" replicas "3 nodes on one CPU, replicas: $r: GET, $KEYS keys uniform, via node 1" wrk "$cmpg" 0 \
      "${pids[*]}" -- "$WRK -d\${D}s -s $LUA/get_keys.lua http://127.0.0.1:$base -- $KEYS uniform"
    stop_all
  done
}

scenario_memory() {
  local pid cfg before after entries
  cfg="$(node_config ours-mem "$P_MEM" 1 auto "" $((MEM_KEYS + MEM_KEYS / 10)))"
  start_node ours-mem "$SERVER_CPU" "$cfg"
  pid=$LAST_PID
  wait_http "http://127.0.0.1:$P_MEM/api/v1/health"
  before="$(rss_kb "$pid")"
  log "memory: loading $MEM_KEYS entries into our node"
  preload "127.0.0.1:$P_MEM" "$MEM_KEYS"
  sleep 1
  after="$(rss_kb "$pid")"
  entries="$(curl -s "http://127.0.0.1:$P_MEM/admin/metrics" | awk '$1 == "cache_entries" {print $2}')"
  printf 'ours (cache-node, 1 thread)\t%s\t%s\t%s\n' "${entries:-0}" "$before" "$after" >>"$OUT/memory.tsv"
  stop_all

  mkdir -p "$OUT/redis-mem"
  start redis-mem "$SERVER_CPU" redis-server --port "$P_MEM_REDIS" --bind 127.0.0.1 --save '' \
    --appendonly no --dir "$OUT/redis-mem"
  pid=$LAST_PID
  wait_redis "$P_MEM_REDIS"
  before="$(rss_kb "$pid")"
  log "memory: loading $MEM_KEYS entries into Redis"
  python3 - "$MEM_KEYS" <<'PY' | taskset -c "$CLIENT_CPU" redis-cli -p "$P_MEM_REDIS" --pipe >/dev/null
import sys
n = int(sys.argv[1])
value = b"x" * 32
out = sys.stdout.buffer
chunk = []
for i in range(n):
    key = b"key:%012d" % i
    chunk.append(b"*3\r\n$3\r\nSET\r\n$16\r\n" + key + b"\r\n$32\r\n" + value + b"\r\n")
    if len(chunk) == 10000:
        out.write(b"".join(chunk))
        chunk = []
out.write(b"".join(chunk))
PY
  sleep 1
  after="$(rss_kb "$pid")"
  entries="$(redis-cli -p "$P_MEM_REDIS" dbsize)"
  printf 'redis-server %s\t%s\t%s\t%s\n' "$(redis-server --version | awk '{print $3}' | tr -d 'v=')" \
    "$entries" "$before" "$after" >>"$OUT/memory.tsv"
  stop_all
}

# TLS against plain on the same build, in the same run (see the header). The certificate is
# self-signed for 127.0.0.1: the load generators skip verification (-k), the node never checks
# its own certificate, and a node without peers needs no CA.
scenario_tls() {
  local plain tls cfg dir="$OUT/tls" p="http://127.0.0.1:$P_PLAIN" t="https://127.0.0.1:$P_TLS"
  mkdir -p "$dir"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=bench \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$dir/node.key" -out "$dir/node.crt" 2>"$dir/openssl.log" ||
    die "openssl could not make the benchmark certificate (see $dir/openssl.log)"
  cfg="$(node_config ours-plain "$P_PLAIN" 1 auto)"
  start_node ours-plain "$SERVER_CPU" "$cfg"
  plain=$LAST_PID
  cfg="$(node_config ours-tls "$P_TLS" 1 auto "tls:
  cert_file: \"$dir/node.crt\"
  key_file: \"$dir/node.key\"")"
  start_node ours-tls "$SERVER_CPU" "$cfg"
  tls=$LAST_PID
  wait_http "$p/api/v1/health"
  wait_http "$t/api/v1/health"
  put_hit_key "$P_PLAIN"
  curl -skf -o /dev/null -X PUT "$t$HIT_PATH" -d "{\"value\":$HIT_VALUE}" || die "cannot store the GET-hit key over TLS"
  row tls_plain_hit tls "plain: GET hit" wrk - 0 "$plain" -- \
    "$WRK -d\${D}s -s $LUA/get_hit.lua $p$HIT_PATH"
  row tls_hit tls "TLS: GET hit" wrk tls_plain_hit 0 "$tls" -- \
    "$WRK -d\${D}s -s $LUA/get_hit.lua $t$HIT_PATH"
  row tls_plain_p16 tls "plain: GET hit pipelined x$DEPTH" wrk - 1 "$plain" -- \
    "$WRK -d\${D}s -s $LUA/pipeline.lua $p$HIT_PATH -- $DEPTH"
  row tls_p16 tls "TLS: GET hit pipelined x$DEPTH" wrk tls_plain_p16 1 "$tls" -- \
    "$WRK -d\${D}s -s $LUA/pipeline.lua $t$HIT_PATH -- $DEPTH"
  row tls_plain_close tls "plain: GET hit, new connection per request" wrk - 0 "$plain" -- \
    "$WRK -H 'Connection: close' -d\${D}s -s $LUA/get_hit.lua $p$HIT_PATH"
  row tls_close tls "TLS: GET hit, new connection per request (a full handshake each)" wrk tls_plain_close 0 "$tls" -- \
    "$WRK -H 'Connection: close' -d\${D}s -s $LUA/get_hit.lua $t$HIT_PATH"
  stop_all
}

# flags, colocated, hop, zipf (issue 13).
# shellcheck source=bench/perf.sh
. "$ROOT/bench/perf.sh"

# ---- setup --------------------------------------------------------------------------------------

install_tools() {
  local need=()
  command -v wrk >/dev/null || need+=(wrk)
  command -v nginx >/dev/null || need+=(nginx)
  command -v redis-server >/dev/null || need+=(redis-server)
  command -v redis-benchmark >/dev/null || need+=(redis-tools)
  command -v python3 >/dev/null || need+=(python3)
  command -v curl >/dev/null || need+=(curl)
  command -v openssl >/dev/null || need+=(openssl)
  command -v taskset >/dev/null || need+=(util-linux)
  [ ${#need[@]} -gt 0 ] || return 0
  [ "${NO_INSTALL:-0}" != 1 ] || die "missing ${need[*]} and NO_INSTALL=1"
  command -v apt-get >/dev/null || die "missing ${need[*]}; install them (no apt-get here)"
  log "installing ${need[*]} (apt-get; their services are kept from starting)"
  # policy-rc.d exit 101 = "action forbidden": nginx and redis must not start on ports 80/6379.
  local policy=/usr/sbin/policy-rc.d created=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    created=1
  fi
  local ok=1
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null; }; then
    ok=0
  fi
  [ $created = 0 ] || rm -f "$policy"
  [ $ok = 1 ] || die "apt-get install ${need[*]} failed"
}

manifest() {
  {
    echo "# Benchmark run $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "- CPU: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(nproc) vCPUs" \
      "($(grep -q hypervisor /proc/cpuinfo && echo virtualized || echo bare metal))"
    echo "- memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo); kernel $(uname -r)"
    echo "- load average at start: $LOAD_START; at end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- tools: $(wrk -v 2>&1 | head -n 1 | awk '{print $1, $2}'), $(nginx -v 2>&1 | sed 's/.*: //')," \
      "Redis $(redis-server --version | awk '{print $3}' | cut -d= -f2), $(rustc --version 2>/dev/null || echo rustc ?)"
    echo "- method: server on CPU $SERVER_CPU (1 worker), load generator on CPU $CLIENT_CPU ($CLIENT_THREADS thread(s)); $CONNS connections;" \
      "$RUNS runs of ${DURATION} s after a ${WARMUP} s warm-up; median (min..max); server µs/req from /proc/PID/stat"
    echo "- workloads: GET hit = one key with a 32-byte JSON value (nginx returns the same body; Redis a" \
      "32-byte value); key space $KEYS keys key:000000000000.. preloaded; memory: $MEM_KEYS entries, 16-byte keys, 32-byte values"
  } >"$OUT/manifest.txt"
}

build_bench() { # NAME: build bench/NAME.rs (release) and print its executable
  cargo build --release --bench "$1" -q --message-format=json | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == sys.argv[1] and m.get("executable"):
        print(m["executable"])' "$1"
}

newest_bench() { # NAME: the newest release build of bench/NAME.rs
  find "$TARGET/release/deps" -maxdepth 1 -type f -executable -name "$1-*" -printf '%T@ %p\n' 2>/dev/null |
    sort -n | tail -n 1 | cut -d' ' -f2-
}

main() {
  mkdir -p "$OUT/raw" "$OUT/logs"
  : >"$OUT/rows.tsv"
  LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
  install_tools
  if [ "${SKIP_BUILD:-0}" != 1 ]; then
    log "cargo build --release --bins --bench bare (target: $TARGET)"
    cargo build --release --bins -q || die "release build failed"
    BARE_BIN="$(build_bench bare)" || die "building bench/bare.rs failed"
    if has hop; then
      HOP_BIN="$(build_bench hop)" || die "building bench/hop.rs failed"
      IDLE_HOP_BIN="$(build_bench idle_hop)" || die "building bench/idle_hop.rs failed"
      WAKE_BIN="$(build_bench wake)" || die "building bench/wake.rs failed"
    fi
    if has colocated; then
      log "colocated: building version 1 ($V1_COMMIT) from the history into $TARGET/v1"
      V1_BIN="$(build_v1)" || V1_BIN=""
    fi
  else
    V1_BIN="$TARGET/v1/release/cache-node"
    BARE_BIN="$(newest_bench bare)"
    HOP_BIN="$(newest_bench hop)"
    IDLE_HOP_BIN="$(newest_bench idle_hop)"
    WAKE_BIN="$(newest_bench wake)"
  fi
  if [ ! -x "$NODE_BIN" ] || [ ! -x "$CLIENT_BIN" ] || [ ! -x "${BARE_BIN:-}" ]; then
    die "no release binaries (cache-node, cache-client, bench bare) in $TARGET/release"
  fi
  local started=$SECONDS s
  for s in $ALL_SCENARIOS; do
    if has "$s"; then "scenario_$s"; fi
  done
  manifest
  log "done in $((SECONDS - started)) s; results in $OUT"
  python3 "$ROOT/bench/table.py" "$OUT"
}

main "$@"
