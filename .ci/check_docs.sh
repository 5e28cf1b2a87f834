#!/usr/bin/env bash
# Keep docs/ from rotting: run what they tell operators to run.
#
# Static checks (docs_blocks.py):
#   - every repository path named in a code block or code span exists (scripts/..., k8s/*.yaml ...);
#   - docs/deployment.zh-CN.md has exactly the code blocks of docs/deployment.md (comments aside);
#   - docs/operations.md has a section for every alert of monitoring/alerts.yml.
# Live checks, in a private network namespace when possible (its own loopback, so ports 8001-8003
# are free and nothing outside is touched):
#   - every code block preceded by `<!-- check-docs: run -->` runs with bash -euo pipefail from the
#     repo root, in document order (deployment.md builds and starts the cluster, later blocks use
#     it), and must exit 0; with `run output="TEXT"` the exit status is ignored and TEXT must appear
#     in the output (commands shown failing on purpose);
#   - every metric the running node exports is explained in docs/operations.md.
# Processes the blocks leave running (the nodes) are stopped by their process group at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${CHECK_DOCS_IN_NETNS:-}" ] && command -v ip >/dev/null && unshare -n true 2>/dev/null; then
  exec unshare -n env CHECK_DOCS_IN_NETNS=1 bash "$0" "$@"
fi
[ -n "${CHECK_DOCS_IN_NETNS:-}" ] && ip link set lo up

tmp=$(mktemp -d)
groups=()
cleanup() {
  local g
  for g in "${groups[@]}"; do kill -TERM -- "-$g" 2>/dev/null || true; done
  for _ in $(seq 1 150); do
    local alive=0
    for g in "${groups[@]}"; do kill -0 -- "-$g" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  rm -rf "$tmp"
}
trap cleanup EXIT

python3 .ci/docs_blocks.py "$tmp" || exit 1

passed=0 failed=0
for block in "$tmp"/block_*.sh; do
  where=$(sed -n '1s/^# //p' "$block")
  expect=""
  [ -f "${block%.sh}.expect" ] && expect=$(cat "${block%.sh}.expect")
  # Own session per block: the nodes it starts stay in that process group, stopped at the end.
  setsid timeout 900 bash -euo pipefail "$block" >"$block.out" 2>&1 </dev/null &
  groups+=("$!")
  rc=0
  wait "$!" || rc=$?
  if [ -n "$expect" ]; then
    if grep -qF -- "$expect" "$block.out"; then ok=1; else ok=0; fi
  else
    if [ "$rc" = 0 ]; then ok=1; else ok=0; fi
  fi
  if [ "$ok" = 1 ]; then
    passed=$((passed + 1)); echo "ok   $where"
  else
    failed=$((failed + 1))
    echo "FAIL $where (exit $rc${expect:+, expected output: $expect}):"
    sed 's/^/     | /' "$block.out" | tail -20
  fi
done

# Every metric family the node exports has its entry in operations.md.
if metrics=$(curl -fsS http://localhost:8001/admin/metrics); then
  undocumented=$(sed -n 's/^# TYPE \([a-z_:]*\) .*/\1/p' <<<"$metrics" | while read -r m; do
    grep -q "\`$m\`" docs/operations.md || echo "$m"
  done)
  if [ -z "$undocumented" ]; then
    passed=$((passed + 1)); echo "ok   every exported metric is documented in docs/operations.md"
  else
    failed=$((failed + 1)); echo "FAIL metrics missing from docs/operations.md: $(echo "$undocumented" | tr '\n' ' ')"
  fi
else
  failed=$((failed + 1)); echo "FAIL no node answers on localhost:8001 after the docs' blocks ran"
fi

echo "check_docs: $passed passed, $failed failed"
[ "$failed" = 0 ]
