#!/usr/bin/env bash
# The layer rule of src/lib.rs, checked by grep: each layer imports only the layers below it.
#   protocol (crates/http) < storage < mesh < cluster < server < node
# The protocol layer is its own crate, so the compiler already keeps it from reaching up; this
# script covers the layers inside the `dcache` crate. Prints one line per violation.
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0
check() { # layer-dir forbidden-module...
  local dir=$1
  shift
  for m in "$@"; do
    if grep -rnE "crate::${m}\b|super::super::${m}\b" "$dir" --include=*.rs; then
      echo "layer violation: $dir imports crate::$m" >&2
      fail=1
    fi
  done
}
check src/storage mesh cluster server node metrics
check src/mesh cluster server node metrics
check src/cluster server node metrics
check src/server node
# TLS is a support module under the cluster layer: it reads only its config section.
check src/tls storage mesh cluster server node metrics auth
# Normal dependencies of a crate (its [dependencies] table only).
deps() { sed -n '/^\[dependencies\]/,/^\[/p' "$1"; }
if grep -rn "dcache::" crates/http/src || deps crates/http/Cargo.toml | grep -q "distributed-cache"; then
  echo "layer violation: the protocol crate depends on the node" >&2
  fail=1
fi
if grep -rn "dcache::" crates/client/src || deps crates/client/Cargo.toml | grep -q "distributed-cache"; then
  echo "layer violation: cache-client depends on the node library (only its tests may)" >&2
  fail=1
fi
[ "$fail" = 0 ] && echo "layers: ok (storage, mesh, cluster import nothing above them; protocol and client are separate crates)"
exit "$fail"
