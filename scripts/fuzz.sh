#!/usr/bin/env bash
# Run every fuzz target in fuzz/ for SECONDS each (default 30), on stable Rust (no sanitizer):
#   scripts/fuzz.sh [SECONDS]
# Installs cargo-fuzz when it is missing. Exits non-zero as soon as a target crashes; the input
# that crashed is in fuzz/artifacts/<target>/ (reproduce: cargo fuzz run -s none <target> FILE,
# from fuzz/). Each target starts from the seeds in fuzz/corpus/<target>/; the inputs the
# fuzzer adds there are git-ignored.
#
# Environment knobs:
#   FUZZ_TARGETS  space-separated subset of targets to run (default: all, from `cargo fuzz list`)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds="${1:-30}"
case "$seconds" in
  '' | *[!0-9]*) echo "usage: $0 [SECONDS]  (whole seconds per target, default 30)" >&2; exit 2 ;;
esac

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "=== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

cd fuzz
if [ -n "${FUZZ_TARGETS:-}" ]; then
  read -r -a targets <<<"$FUZZ_TARGETS"
else
  mapfile -t targets < <(cargo fuzz list)
fi
if [ ${#targets[@]} -eq 0 ]; then
  echo "error: no fuzz targets found" >&2
  exit 2
fi

# One build for every target, so the time budget below is spent fuzzing.
echo "=== building ${targets[*]}"
cargo fuzz build -s none

# libFuzzer prints a line per new input (thousands a minute): keep each run's log in a file and
# show its summary, or the whole tail when the target crashed.
logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
for target in "${targets[@]}"; do
  echo "=== fuzzing $target for ${seconds}s"
  start=$SECONDS
  if ! cargo fuzz run -s none "$target" -- -max_total_time="$seconds" -print_final_stats=1 \
    >"$logs/$target.log" 2>&1; then
    tail -n 60 "$logs/$target.log" >&2
    echo "FAILED: fuzz target $target crashed; reproducer(s) in fuzz/artifacts/$target/:" >&2
    ls -t "artifacts/$target" >&2 || true
    exit 1
  fi
  grep -E '^(stat::|Done )' "$logs/$target.log" || tail -n 3 "$logs/$target.log"
  echo "--- ok: $target ($((SECONDS - start))s)"
done
echo "all ${#targets[@]} fuzz targets ran ${seconds}s each without a crash"
