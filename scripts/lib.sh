# shellcheck shell=bash
# Shared helpers for the operator scripts (start_cluster.sh, stop_cluster.sh, start_node.sh,
# stop_node.sh). Sourced, never run. Everything works from the repository root, which is found from
# this file's own location, so the scripts can be called from any working directory.
#
# Layout (as in the deployment guide): bin/cache-node, config/NODE.yaml, logs/NODE.log, run/NODE.pid.
#
# Environment knobs:
#   HEALTH_TIMEOUT  seconds to wait for a started node to answer /api/v1/health with 200 (15)
#   STOP_TIMEOUT    seconds to wait after SIGTERM before SIGKILL (15)
#   CARGO_TARGET_DIR  honoured when copying the built binaries (default: REPO/target)
#   SKIP_BUILD=1    use bin/cache-node as it is, even when older than the sources (a deployment
#                   host without cargo, or a rolling upgrade that deployed bin/ by other means)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEFAULT_NODES=(node1 node2 node3)
HEALTH_TIMEOUT="${HEALTH_TIMEOUT:-15}"
STOP_TIMEOUT="${STOP_TIMEOUT:-15}"

die() {
  echo "error: $*" >&2
  exit 1
}

# ---- node names, config, ports -------------------------------------------------------------------

# Fill the global array SELECTED with the nodes named in the arguments, else in $NODES (space
# separated), else DEFAULT_NODES. Each must have a config/NODE.yaml.
select_nodes() {
  SELECTED=()
  if [ $# -gt 0 ]; then
    SELECTED=("$@")
  elif [ -n "${NODES:-}" ]; then
    read -r -a SELECTED <<<"$NODES"
  else
    SELECTED=("${DEFAULT_NODES[@]}")
  fi
  [ ${#SELECTED[@]} -gt 0 ] || die "no nodes selected"
  local n
  for n in "${SELECTED[@]}"; do
    [[ "$n" =~ ^[A-Za-z0-9._-]+$ ]] || die "invalid node name '$n' (expected e.g. node1)"
    [ -f "$ROOT/config/$n.yaml" ] || die "no config for node '$n': $ROOT/config/$n.yaml does not exist"
  done
}

# The `address:` value of a node's config, without quotes (e.g. ":8001").
node_address() {
  sed -n 's/^address:[[:space:]]*//p' "$ROOT/config/$1.yaml" | head -n 1 |
    sed -e 's/[[:space:]]*#.*$//' -e 's/^["'\'']//' -e 's/["'\'']$//'
}

node_port() {
  local addr port
  addr="$(node_address "$1")"
  port="${addr##*:}"
  [[ "$port" =~ ^[0-9]+$ ]] || die "cannot read the port of $1 from config/$1.yaml (address: '$addr')"
  echo "$port"
}

# host:port to reach the node from this machine: wildcard listen addresses become 127.0.0.1.
node_hostport() {
  local addr host port
  addr="$(node_address "$1")"
  port="$(node_port "$1")"
  host="${addr%:*}"
  case "$host" in
    "" | 0.0.0.0 | "[::]" | "::") host=127.0.0.1 ;;
  esac
  echo "$host:$port"
}

node_url() {
  echo "http://$(node_hostport "$1")"
}

# The URL to show people: as node_url, but wildcard listen addresses shown as localhost.
node_display_url() {
  local hp
  hp="$(node_hostport "$1")"
  case "$(node_address "$1")" in
    :* | 0.0.0.0:* | "[::]:"*) hp="localhost:${hp##*:}" ;;
  esac
  echo "http://$hp"
}

pid_file() { echo "$ROOT/run/$1.pid"; }
log_file() { echo "$ROOT/logs/$1.log"; }

# ---- processes --------------------------------------------------------------------------------

# True when PID is a live (not zombie) cache-node process.
pid_is_node() {
  local pid="$1" comm state
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  if [ -r "/proc/$pid/stat" ]; then
    state="$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)"
    [ "$state" != Z ] || return 1
    comm="$(cat "/proc/$pid/comm" 2>/dev/null || true)"
  else
    comm="$(ps -p "$pid" -o comm= 2>/dev/null || true)"
  fi
  [ "${comm##*/}" = cache-node ]
}

# The pid recorded in run/NODE.pid if that process is a running cache-node; empty otherwise.
running_pid() {
  local f pid
  f="$(pid_file "$1")"
  [ -f "$f" ] || return 0
  pid="$(tr -dc '0-9' <"$f")"
  if pid_is_node "$pid"; then echo "$pid"; fi
}

# Describe what listens on TCP port $1 ("" when nothing does). Uses ss -ltnp when available, then
# lsof, then a plain connection attempt.
port_holder() {
  local port="$1" lines procs
  if command -v ss >/dev/null 2>&1; then
    lines="$(ss -Hltnp "sport = :$port" 2>/dev/null || true)"
    [ -n "$lines" ] || return 0
    procs="$(grep -o 'users:(([^)]*))' <<<"$lines" | sed -e 's/^users:((//' -e 's/))$//' |
      sed -n 's/^"\([^"]*\)",pid=\([0-9]*\).*/\1 (pid \2)/p' | sort -u | paste -sd, - | sed 's/,/, /g')"
    echo "${procs:-an unknown process (not visible to $(id -un); try sudo ss -ltnp)}"
    return 0
  fi
  if command -v lsof >/dev/null 2>&1; then
    procs="$(lsof -nP -iTCP:"$port" -sTCP:LISTEN -Fpc 2>/dev/null |
      awk '/^p/{p=substr($0,2)} /^c/{print substr($0,2) " (pid " p ")"}' | sort -u | paste -sd, - | sed 's/,/, /g')"
    if [ -n "$procs" ]; then echo "$procs"; return 0; fi
  fi
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "an unknown process (port accepts connections)"
  fi
}

# Pids of the processes listening on TCP port $1, once each (a node has one listener per core,
# SO_REUSEPORT, so ss shows the port once per core). Empty when none or when they are not visible.
listener_pids() {
  if command -v ss >/dev/null 2>&1; then
    ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u
  elif command -v lsof >/dev/null 2>&1; then
    lsof -nP -tiTCP:"$1" -sTCP:LISTEN 2>/dev/null | sort -u
  fi
}

# The pid of a cache-node started by hand for NODE, as the guide shows (no run/NODE.pid): it
# listens on the port of config/NODE.yaml and its command line names NODE.yaml. Empty otherwise.
hand_started_pid() {
  local n="$1" pid args
  [ -f "$ROOT/config/$n.yaml" ] || return 0
  for pid in $(listener_pids "$(node_port "$n")"); do
    pid_is_node "$pid" || continue
    args="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || ps -p "$pid" -o args= 2>/dev/null || true)"
    if [[ " $args " =~ [[:space:]=/]"$n.yaml"[[:space:]] ]]; then
      echo "$pid"
      return 0
    fi
  done
}

# ---- build --------------------------------------------------------------------------------------

# Build with `cargo build --release` when bin/cache-node is missing or older than any file of
# src/, crates/ (the protocol layer and cache-client), Cargo.toml or Cargo.lock, then copy the
# binaries into bin/ (as the guide's `go build -o bin/`).
build_if_needed() {
  local bin="$ROOT/bin/cache-node" reason="" newer src=()
  local p
  for p in src crates Cargo.toml Cargo.lock; do
    [ -e "$ROOT/$p" ] && src+=("$ROOT/$p")
  done
  if [ ! -x "$bin" ]; then
    reason="bin/cache-node is missing"
  elif [ ${#src[@]} -gt 0 ]; then
    newer="$(find "${src[@]}" -type f -newer "$bin" -print 2>/dev/null | head -n 1)"
    [ -z "$newer" ] || reason="${newer#"$ROOT"/} is newer than bin/cache-node"
  fi
  [ -n "$reason" ] || return 0
  if [ "${SKIP_BUILD:-0}" = 1 ]; then
    [ -x "$bin" ] || die "$reason and SKIP_BUILD=1: nothing to start"
    echo "note: $reason; SKIP_BUILD=1, so using it as it is" >&2
    return 0
  fi
  if ! command -v cargo >/dev/null 2>&1; then
    [ -x "$bin" ] || die "$reason and cargo is not installed (install Rust: https://rustup.rs)"
    echo "warning: $reason, but cargo is not installed; using the existing binary" >&2
    return 0
  fi
  echo "Building: $reason -> cargo build --release"
  (cd "$ROOT" && cargo build --release) || die "cargo build --release failed"
  local target="${CARGO_TARGET_DIR:-$ROOT/target}" b
  mkdir -p "$ROOT/bin"
  for b in cache-node cache-client; do
    [ -f "$target/release/$b" ] || continue
    # Copy then rename: replacing a binary that a running node executes must not fail (ETXTBSY).
    cp "$target/release/$b" "$ROOT/bin/.$b.tmp"
    mv -f "$ROOT/bin/.$b.tmp" "$ROOT/bin/$b"
    echo "Installed bin/$b"
  done
  [ -x "$bin" ] || die "build finished but $target/release/cache-node does not exist"
}

# ---- start / stop -------------------------------------------------------------------------------

# Say why NODE counts as not running; name whatever else holds its port (left alone).
not_running_note() {
  local n="$1" port holder=""
  if [ -f "$ROOT/config/$n.yaml" ]; then
    port="$(node_port "$n")"
    holder="$(port_holder "$port")"
  fi
  if [ -n "$holder" ]; then
    echo "$n: not stopped: port $port is held by $holder, not a cache-node started with $n.yaml (left alone)"
  else
    echo "$n: not running (no run/$n.pid, and nothing listens on its port)"
  fi
}

# Stop the given nodes, found by pid file or else (started by hand) by their port and config:
# SIGTERM all, wait up to STOP_TIMEOUT seconds, SIGKILL the rest. Reports each node; removes the pid
# files. Never fails because a node was not running.
stop_nodes() {
  local n pid f alive=() pids=()
  for n in "$@"; do
    f="$(pid_file "$n")"
    pid="$( [ ! -f "$f" ] || tr -dc '0-9' <"$f")"
    if [ -f "$f" ] && ! pid_is_node "$pid"; then
      echo "$n: stale pid file run/$n.pid (pid ${pid:-none}); removed"
      rm -f "$f"
    fi
    if ! pid_is_node "$pid"; then
      pid="$(hand_started_pid "$n")"
      if [ -z "$pid" ]; then
        not_running_note "$n"
        continue
      fi
      echo "$n: no pid file; stopping pid $pid, the cache-node listening on port $(node_port "$n") with $n.yaml"
    fi
    kill -TERM "$pid" 2>/dev/null || true
    alive+=("$n")
    pids+=("$pid")
  done
  [ ${#alive[@]} -gt 0 ] || return 0
  echo "Sent SIGTERM to ${alive[*]}; waiting up to ${STOP_TIMEOUT}s for the drain..."
  local deadline=$((SECONDS + STOP_TIMEOUT)) i remaining
  while :; do
    remaining=0
    for i in "${!pids[@]}"; do
      pid_is_node "${pids[$i]}" && remaining=$((remaining + 1))
    done
    if [ "$remaining" -eq 0 ] || [ "$SECONDS" -ge "$deadline" ]; then break; fi
    sleep 0.2
  done
  for i in "${!alive[@]}"; do
    n="${alive[$i]}"
    pid="${pids[$i]}"
    if pid_is_node "$pid"; then
      kill -KILL "$pid" 2>/dev/null || true
      local t=0
      while pid_is_node "$pid" && [ "$t" -lt 20 ]; do sleep 0.1; t=$((t + 1)); done
      echo "$n: still running after ${STOP_TIMEOUT}s; killed with SIGKILL (pid $pid)"
    else
      echo "$n: stopped (pid $pid)"
    fi
    rm -f "$(pid_file "$n")"
  done
}

# Start the given nodes as the deployment guide does (from the repository root), but appending
# to the log after a start marker line instead of truncating it:
#   ./bin/cache-node -config=config/NODE.yaml >> logs/NODE.log 2>&1 &
# then wait until each answers GET /api/v1/health with 200. Refuses when a node is already running
# or its port is taken. On failure prints the log tail, stops what it started and exits 1.
# Refuse (exit 1, naming the port and its holder) when a node is already running or its port is taken.
check_free() {
  local n pid port holder problems=()
  for n in "$@"; do
    port="$(node_port "$n")"
    pid="$(running_pid "$n")"
    holder="$(port_holder "$port")"
    if [ -n "$pid" ]; then
      problems+=("$n is already running (pid $pid, run/$n.pid); port $port is held by ${holder:-nothing yet}")
    elif [ -n "$holder" ]; then
      problems+=("port $port (needed by $n) is already in use by $holder")
    fi
  done
  if [ ${#problems[@]} -gt 0 ]; then
    echo "Refusing to start:" >&2
    printf '  %s\n' "${problems[@]}" >&2
    echo "Stop it first ($ROOT/scripts/stop_cluster.sh, or scripts/stop_node.sh NODE for one node)" \
      "or free the port, then retry." >&2
    exit 1
  fi
}

start_nodes() {
  local n pid
  command -v curl >/dev/null 2>&1 || die "curl is required (apt-get install curl)"
  check_free "$@"
  build_if_needed
  check_free "$@" # again: something may have taken a port during a long build
  mkdir -p "$ROOT/logs" "$ROOT/run"
  STARTED=()
  cd "$ROOT" || die "cannot cd to $ROOT"
  for n in "$@"; do
    rm -f "run/$n.pid"
    # Append, never truncate: the previous run's last lines (why it stopped) stay readable, and a
    # logrotate `copytruncate` keeps working (O_APPEND writes land at the new end of the file).
    printf '==== %s start_node %s: ./bin/cache-node -config=config/%s.yaml ====\n' \
      "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$n" "$n" >>"logs/$n.log"
    ./bin/cache-node -config="config/$n.yaml" >>"logs/$n.log" 2>&1 &
    echo $! >"run/$n.pid"
    STARTED+=("$n")
    echo "Started $n (pid $!), log logs/$n.log"
  done
  # Ctrl-C or a kill while waiting must not leave half a cluster behind.
  trap 'echo "interrupted: stopping ${STARTED[*]}" >&2; stop_nodes "${STARTED[@]}" >&2; exit 130' INT TERM

  local pending=("$@") still deadline=$((SECONDS + HEALTH_TIMEOUT)) code
  echo "Waiting up to ${HEALTH_TIMEOUT}s for ${pending[*]} to answer GET /api/v1/health ..."
  while [ ${#pending[@]} -gt 0 ]; do
    still=()
    for n in "${pending[@]}"; do
      pid="$(tr -dc '0-9' <"run/$n.pid")"
      if ! pid_is_node "$pid"; then
        wait "$pid" 2>/dev/null && code=0 || code=$?
        echo "error: $n (pid $pid) exited during start-up (exit status $code). Last lines of logs/$n.log:" >&2
        tail -n 20 "logs/$n.log" | sed 's/^/  | /' >&2
        stop_nodes "${STARTED[@]}" >&2
        trap - INT TERM
        exit 1
      fi
      code="$(curl -s -o /dev/null -m 1 -w '%{http_code}' "$(node_url "$n")/api/v1/health" || true)"
      [ "$code" = 200 ] || still+=("$n")
    done
    pending=("${still[@]}")
    [ ${#pending[@]} -gt 0 ] || break
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "error: not healthy after ${HEALTH_TIMEOUT}s: ${pending[*]}" >&2
      for n in "${pending[@]}"; do
        echo "Last lines of logs/$n.log:" >&2
        tail -n 20 "logs/$n.log" | sed 's/^/  | /' >&2
      done
      stop_nodes "${STARTED[@]}" >&2
      trap - INT TERM
      exit 1
    fi
    sleep 0.2
  done
  trap - INT TERM

  echo
  echo "All healthy (repository $ROOT):"
  for n in "$@"; do
    printf '  %-6s %s  pid %s  log logs/%s.log  pid file run/%s.pid\n' \
      "$n" "$(node_display_url "$n")" "$(tr -dc '0-9' <"run/$n.pid")" "$n" "$n"
  done
}
