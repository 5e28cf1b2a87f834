#!/usr/bin/env bash
# The long run of the fault suite (tests/cluster_faults.rs): every scenario loads a real 3-node
# cluster for FAULTS_SECS seconds while its fault repeats, then checks that nothing acknowledged
# was lost, read stale or undone. Release build, one scenario at a time, figures table at the end:
#
#   scripts/chaos.sh                    # every scenario, 120 s of load each
#   FAULTS_SECS=600 scripts/chaos.sh    # longer
#   scripts/chaos.sh kill9 stranded     # only the tests whose names contain these words
#
# Environment knobs:
#   FAULTS_SECS     seconds of load per scenario (120)
#   FAULTS_KEYS     keys the load writes and reads (300; every fourth is written once, then read)
#   FAULTS_WORKERS  load threads, each the only writer of its keys (6)
#   CHAOS_TIMEOUT   bound in seconds on the test run (default: 9 scenarios x (FAULTS_SECS + 90))
#   BUILD_TIMEOUT   bound in seconds on the release build (1800)
# The full output is kept in target/chaos/<UTC time>.log (under CARGO_TARGET_DIR if set); cluster logs of a failed scenario stay
# in the temp dir it names ("cluster logs kept in ...").
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

die() {
  echo "error: $*" >&2
  exit 2
}

command -v cargo >/dev/null 2>&1 || die "cargo is required (install Rust: https://rustup.rs)"
command -v timeout >/dev/null 2>&1 || die "timeout (coreutils) is required"
FAULTS_SECS="${FAULTS_SECS:-120}"
BUILD_TIMEOUT="${BUILD_TIMEOUT:-1800}"
CHAOS_TIMEOUT="${CHAOS_TIMEOUT:-$((9 * (FAULTS_SECS + 90)))}"
for knob in FAULTS_SECS BUILD_TIMEOUT CHAOS_TIMEOUT; do
  case "${!knob}" in
    '' | *[!0-9]*) die "$knob must be whole seconds, got '${!knob}'" ;;
  esac
done
export FAULTS_SECS

echo "=== building the fault suite (release, only what changed)"
timeout "$BUILD_TIMEOUT" cargo test --release --test cluster_faults --no-run ||
  die "release build failed or took longer than ${BUILD_TIMEOUT}s"

logs="${CARGO_TARGET_DIR:-target}/chaos"
mkdir -p "$logs"
log="$logs/$(date -u +%Y%m%dT%H%M%SZ).log"
echo "=== running: FAULTS_SECS=$FAULTS_SECS, at most ${CHAOS_TIMEOUT}s; full output in $log"
set +e
timeout --kill-after=30 "$CHAOS_TIMEOUT" \
  cargo test --release --test cluster_faults -- --nocapture --test-threads=1 "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e

echo
echo "=== figures (FAULTS_SECS=$FAULTS_SECS; stale, lost, undone and divergent must be 0)"
# Not anchored: with --nocapture the line may follow libtest's "test NAME ... ".
if grep -q 'faults| ' "$log"; then
  grep -o 'faults| .*' "$log" | sed 's/^faults| /  /'
else
  echo "  (no scenario finished)"
fi
case "$status" in
  0) echo "=== every scenario passed" ;;
  124 | 137) echo "=== FAILED: stopped after ${CHAOS_TIMEOUT}s (CHAOS_TIMEOUT); see $log" >&2 ;;
  *) echo "=== FAILED (exit $status): see the anomalies above and $log" >&2 ;;
esac
exit "$status"
