#!/usr/bin/env bash
# Concurrency and robustness checks that the plain `cargo test` of .ci/run does not cover:
#   1. the loom models of the mesh mailbox's sleep/wake handshake (src/mesh/mailbox.rs: no lost
#      wake-up, every message received once, against one and two concurrent senders, with and
#      without the spin before parking) and of the hot-key write epochs (src/storage/stripes.rs:
#      a read copy never outlives an acknowledged write);
#   2. every cargo-fuzz target in fuzz/ for FUZZ_SECONDS each (default 30), on stable Rust.
# The loom build uses its own target directory (`--cfg loom` changes every crate's flags), so it
# does not invalidate the normal build. Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TERM_COLOR=never

echo "=== loom: mesh mailbox sleep/wake handshake, hot-key write epochs"
start=$SECONDS
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
  cargo test --release --lib -p distributed-cache mesh::mailbox
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
  cargo test --release --lib -p distributed-cache storage::stripes
echo "--- ok: loom ($((SECONDS - start))s)"

echo "=== fuzz"
./scripts/fuzz.sh "${FUZZ_SECONDS:-30}"
