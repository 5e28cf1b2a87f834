#!/usr/bin/env bash
# Live check of the monitoring kit against a running cluster (default: localhost:8001-8003).
#
# Starts the Debian `prometheus` on 127.0.0.1:9090 with a temporary config and storage, scraping
# every second and loading monitoring/alerts.yml; sends a small bounded workload so every metric
# family has samples (forwards included); then checks through the HTTP API that
#   1. every target is up,
#   2. EVERY metric name used in alerts.yml and grafana-dashboard.json has data on every node
#      (names extracted from the files by .ci/ops_checks.py, so the list cannot drift),
#   3. every alert and dashboard expression evaluates without error,
#   4. every alert rule loaded and evaluates healthily.
# Prometheus is stopped by its PID at the end. Exit 1 on any failure, listing what failed.
#
# Needs prometheus, curl and python3 with PyYAML (.ci/validate_ops.sh installs them).
# Environment: CACHE_NODES="host:port ..." (default the three local nodes),
#              PROM_ADDR (default 127.0.0.1:9090), PROMETHEUS (default: prometheus).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
read -r -a nodes <<<"${CACHE_NODES:-localhost:8001 localhost:8002 localhost:8003}"
prom_addr=${PROM_ADDR:-127.0.0.1:9090}
api="http://$prom_addr/api/v1"

for n in "${nodes[@]}"; do
  curl -fsS -o /dev/null "http://$n/api/v1/health" || { echo "check_live: node $n is not healthy; start the cluster first" >&2; exit 1; }
done
if curl -fsS -o /dev/null "http://$prom_addr/-/ready" 2>/dev/null; then
  echo "check_live: something already listens on $prom_addr; stop it or set PROM_ADDR" >&2; exit 1
fi

tmp=$(mktemp -d)
targets=$(printf "'%s', " "${nodes[@]}")
cat >"$tmp/prometheus.yml" <<EOF
global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: ['$repo/monitoring/alerts.yml']
scrape_configs:
  - job_name: 'distributed-cache'
    metrics_path: '/admin/metrics'
    static_configs: [{targets: [${targets%, }]}]
EOF
"${PROMETHEUS:-prometheus}" --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/data" \
  --web.listen-address="$prom_addr" >"$tmp/prometheus.log" 2>&1 &
prom_pid=$!
cleanup() {
  kill "$prom_pid" 2>/dev/null && wait "$prom_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

# query EXPR -> the JSON answer of an instant query (status checked by the caller).
query() { curl -sS -G --data-urlencode "query=$1" "$api/query"; }

for _ in $(seq 1 60); do
  curl -fsS -o /dev/null "http://$prom_addr/-/ready" 2>/dev/null && break
  kill -0 "$prom_pid" 2>/dev/null || { cat "$tmp/prometheus.log"; echo "check_live: prometheus exited" >&2; exit 1; }
  sleep 0.5
done

# Bounded workload: through every node, store and read keys (most are owned by another node, so
# they are forwarded), miss one key, delete one: every counter family gets samples.
for n in "${nodes[@]}"; do
  for i in $(seq 1 20); do
    curl -fsS -o /dev/null -X PUT "http://$n/api/v1/cache/live-$n-$i" -d "{\"value\":$i}"
    curl -fsS -o /dev/null "http://$n/api/v1/cache/live-$n-$i"
  done
  curl -sS -o /dev/null "http://$n/api/v1/cache/live-missing-key" || true
  curl -fsS -o /dev/null -X DELETE "http://$n/api/v1/cache/live-$n-1"
done

# Wait until every target has been scraped (up == 1) a few times after the workload.
want=${#nodes[@]}
for _ in $(seq 1 30); do
  got=$(query 'sum(up{job="distributed-cache"})' | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(int(float(r[0]["value"][1])) if r else 0)')
  [ "$got" = "$want" ] && break
  sleep 1
done
sleep 3

failed=()
[ "$got" = "$want" ] || failed+=("only $got of $want targets are up")

# 2. Every metric name used by the alerts and the dashboard has data on every node.
names=$(python3 "$repo/.ci/ops_checks.py" names)
for name in $names; do
  count=$(query "count(count by (instance) ({__name__=\"$name\", job=\"distributed-cache\"}))" |
    python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(int(float(r[0]["value"][1])) if r else 0)')
  if [ "$count" = "$want" ]; then echo "ok   $name"; else failed+=("metric $name has data on $count of $want nodes"); echo "FAIL $name ($count of $want nodes)"; fi
done

# 3. Every expression evaluates (e.g. no many-to-many matching errors at run time).
while IFS= read -r line; do
  where=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["where"])' "$line")
  expr=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["expr"])' "$line")
  status=$(query "$expr" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["status"], d.get("error", ""))')
  [ "${status%% *}" = success ] || failed+=("$where does not evaluate: $status")
done < <(python3 "$repo/.ci/ops_checks.py" exprs)
echo "evaluated $(python3 "$repo/.ci/ops_checks.py" exprs | wc -l) expressions"

# 4. Every alert rule loaded and its last evaluation succeeded.
rules=$(curl -sS "$api/rules" | python3 -c '
import json, sys
rules = [r for g in json.load(sys.stdin)["data"]["groups"] for r in g["rules"]]
bad = ["%s: %s" % (r["name"], r.get("lastError")) for r in rules if r.get("health") != "ok"]
print(len(rules), "; ".join(bad))')
want_rules=$(grep -c '^ *- alert:' "$repo/monitoring/alerts.yml")
[ "${rules%% *}" = "$want_rules" ] || failed+=("prometheus loaded ${rules%% *} of $want_rules alert rules")
[ -z "${rules#* }" ] || failed+=("unhealthy rules: ${rules#* }")

if [ ${#failed[@]} -gt 0 ]; then
  printf 'FAILED: %s\n' "${failed[@]}"
  exit 1
fi
echo "check_live: all $(wc -w <<<"$names") metric names have data on $want nodes; expressions and rules evaluate"
