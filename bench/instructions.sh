#!/usr/bin/env bash
# Instructions per pipelined GET hit: a noise-free figure for comparing two builds on a VM whose
# neighbours move req/s by 20 %. Runs the node under callgrind (epoll: valgrind does not follow
# io_uring), preloads one key, sends `wrk -t1 -c10 -d5s` pipelined x16 GETs, prints total
# instructions ÷ requests answered (start-up is ~1 M instructions, negligible).
#   bench/instructions.sh [NODE_BINARY]      (default target/release/cache-node)
# Needs valgrind and wrk; uses 127.0.0.1:18556; stops the node it started.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin="${1:-target/release/cache-node}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
printf 'node_id: "cg"\naddress: "127.0.0.1:18556"\ncache_size: 1000\nthreads: 1\nio_driver: epoll\n' >"$tmp/node.yaml"
valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.out" "$bin" -config="$tmp/node.yaml" 2>"$tmp/node.log" &
pid=$!
for _ in $(seq 100); do curl -sf -o /dev/null http://127.0.0.1:18556/api/v1/health && break; sleep 0.2; done
curl -sf -o /dev/null -X PUT -d '{"value":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}' http://127.0.0.1:18556/api/v1/cache/bench:hit
reqs=$(wrk -t1 -c10 -d5s -s bench/wrk/pipeline.lua http://127.0.0.1:18556/api/v1/cache/bench:hit -- 16 |
  awk '/requests in/ {print $1}')
kill -INT "$pid"
wait "$pid" || true
ir=$(awk '/^(summary|totals):/ {print $2; exit}' "$tmp/cg.out")
echo "$bin: $reqs requests, $ir instructions, $((ir / reqs)) instructions per request"
