#!/usr/bin/env bash
# Monitoring check from the deployment guide (监控和告警 → 健康检查脚本), with its exit codes fixed:
# the guide tested "> 0 failed" before "== 1 failed", so one down node was already CRITICAL.
#
#   0  OK        every node answers GET /api/v1/health with 2xx
#   1  WARNING   exactly one node does not
#   2  CRITICAL  more than one node does not
#
# Nodes: NODES="host:port host:port ..." (default localhost:8001 localhost:8002 localhost:8003).
# Each request times out after HEALTH_CURL_TIMEOUT (2) seconds. Needs only curl.
set -euo pipefail

read -r -a NODE_LIST <<<"${NODES:-localhost:8001 localhost:8002 localhost:8003}"
TIMEOUT="${HEALTH_CURL_TIMEOUT:-2}"
FAILED_NODES=()

for node in "${NODE_LIST[@]}"; do
  if ! curl -f -s -m "$TIMEOUT" "http://$node/api/v1/health" >/dev/null; then
    FAILED_NODES+=("$node")
  fi
done

if [ ${#FAILED_NODES[@]} -gt 1 ]; then
  echo "CRITICAL: ${#FAILED_NODES[@]} of ${#NODE_LIST[@]} nodes failed: ${FAILED_NODES[*]}"
  exit 2
elif [ ${#FAILED_NODES[@]} -eq 1 ]; then
  echo "WARNING: One node failed: ${FAILED_NODES[0]}"
  exit 1
else
  echo "OK: All nodes healthy (${NODE_LIST[*]})"
  exit 0
fi
