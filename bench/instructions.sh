#!/usr/bin/env bash
# Instructions per GET hit: a noise-free figure for comparing two builds on a VM whose
# neighbours move req/s by 20 %. Runs the node (or the bare responder of bench/bare.rs) under
# callgrind (epoll: valgrind does not follow io_uring), preloads one key, sends `wrk -t1 -c10
# -d5s` GETs pipelined x DEPTH, prints total instructions ÷ requests answered (start-up is
# ~1 M instructions, negligible).
#   bench/instructions.sh [NODE_BINARY]            (default target/release/cache-node)
#   bench/instructions.sh --bare BARE_BINARY       (bench/bare.rs; `cargo build --release --bench bare`)
# Environment: DEPTH (default 16; 1 = one request per write), KEEP=DIR keeps callgrind.out there
# for `callgrind_annotate --inclusive=yes DIR/callgrind.out`, CONNS (wrk's connections, default
# 10). The node only:
#   THREADS=N  workers (default 1); with 2 and KEYS, half the keys live on the other core, so the
#              difference from THREADS=1 is what the cross-core hops cost (docs/benchmarks.md)
#   KEYS=N     GETs over N keys (uniform, preloaded with cache-client, one request per write:
#              DEPTH does not apply) instead of the one key; only the GETs are counted
#              (callgrind_control zeroes the counts before wrk and dumps them to callgrind.out.1)
#   FORWARD=1  the node under callgrind forwards every GET: a second node (not under valgrind,
#              port PORT+1, same binary) coordinates the one key, which is picked among
#              bench:fwd:0..99 by the X-Cache-Node of its answer; counts the forwarding node only
# Needs valgrind and wrk; uses 127.0.0.1:$PORT (default 18556); stops the process it started.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
port="${PORT:-18556}"
forward="${FORWARD:-0}"
depth="${DEPTH:-16}"
conns="${CONNS:-10}"
threads="${THREADS:-1}"
keys="${KEYS:-0}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
out="${KEEP:-$tmp}/callgrind.out"
mkdir -p "$(dirname "$out")"
cg=(valgrind --tool=callgrind --dump-instr=no --callgrind-out-file="$out")
if [[ "${1:-}" == "--bare" ]]; then
  bin="${2:?usage: $0 --bare BARE_BINARY}"
  [[ "$keys" == 0 && "$threads" == 1 && "$forward" == 0 ]] ||
    { echo "KEYS, THREADS and FORWARD are for the node, not --bare" >&2; exit 2; }
  hit="bare" # any path: the bare responder answers every GET alike
  "${cg[@]}" "$bin" serve "127.0.0.1:$port" epoll 2>"$tmp/node.log" &
  pid=$!
  for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.2; done
else
  bin="${1:-target/release/cache-node}"
  printf 'node_id: "cg"\naddress: "127.0.0.1:%s"\ncache_size: %s\nthreads: %s\npin_threads: false\nio_driver: epoll\n' \
    "$port" "$((2 * keys + 1000))" "$threads" >"$tmp/node.yaml"
  hit="bench:hit"
  if [[ "$forward" == 1 ]]; then
    [[ "$keys" == 0 ]] || { echo "FORWARD is for the one key, not KEYS" >&2; exit 2; }
    printf 'hot_keys:\n  enabled: false\ncluster_nodes:\n  cg: "127.0.0.1:%s"\n  co: "127.0.0.1:%s"\n' \
      "$port" "$((port + 1))" >>"$tmp/node.yaml"
    sed -e 's/^node_id: .*/node_id: "co"/' -e "s/^address: .*/address: \"127.0.0.1:$((port + 1))\"/" \
      "$tmp/node.yaml" >"$tmp/owner.yaml"
    "$bin" -config="$tmp/owner.yaml" 2>"$tmp/owner.log" &
    owner=$!
    trap 'kill "$owner" 2>/dev/null; rm -rf "$tmp"' EXIT
    for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$((port + 1))/api/v1/health" && break; sleep 0.2; done
  fi
  "${cg[@]}" "$bin" -config="$tmp/node.yaml" 2>"$tmp/node.log" &
  pid=$!
  for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/api/v1/health" && break; sleep 0.2; done
  if [[ "$forward" == 1 ]]; then
    hit=""
    for i in $(seq 0 99); do
      curl -sf -o /dev/null -X PUT -d '{"value":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}' "http://127.0.0.1:$port/api/v1/cache/bench:fwd:$i"
      node=$(curl -sf -D - -o /dev/null "http://127.0.0.1:$port/api/v1/cache/bench:fwd:$i" |
        awk -F': ' 'tolower($1) == "x-cache-node" {print $2}' | tr -d '\r')
      if [[ "$node" == co ]]; then hit="bench:fwd:$i"; break; fi
    done
    [[ -n "$hit" ]] || { echo "no key of bench:fwd:0..99 is coordinated by the second node" >&2; exit 1; }
  else
    curl -sf -o /dev/null -X PUT -d '{"value":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}' "http://127.0.0.1:$port/api/v1/cache/$hit"
  fi
fi
if [[ "$keys" -gt 0 ]]; then
  client="$(dirname "$bin")/cache-client"
  [[ -x "$client" ]] || client=target/release/cache-client
  "$client" --nodes "127.0.0.1:$port" bench --preload-only --keys "$keys" --key-size 16 --value-size 32 -c 8 -q
  callgrind_control -z "$pid" >/dev/null
  reqs=$(wrk -t1 -c"$conns" -d5s -s bench/wrk/get_keys.lua "http://127.0.0.1:$port" -- "$keys" uniform |
    awk '/requests in/ {print $1}')
  callgrind_control -d "$pid" >/dev/null
  what="GET over $keys keys, threads: $threads"
  counted="$out.1"
else
  reqs=$(wrk -t1 -c"$conns" -d5s -s bench/wrk/pipeline.lua "http://127.0.0.1:$port/api/v1/cache/$hit" -- "$depth" |
    awk '/requests in/ {print $1}')
  what="x$depth"
  [[ "$forward" == 0 ]] || what="x$depth, forwarded to a second node"
  counted="$out"
fi
kill -TERM "$pid"
wait "$pid" || true
ir=$(awk '/^(summary|totals):/ {print $2; exit}' "$counted")
echo "$bin ($what): $reqs requests, $ir instructions, $((ir / reqs)) instructions per request"
