# Process helpers shared by bench/run.sh and bench/batch.sh (sourced, not run): every process a
# benchmark starts goes into STARTED and is stopped by PID on exit, Ctrl-C included.
# shellcheck shell=bash

STARTED=()

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# stop_pid PID: SIGTERM, up to 10 s for the drain, then SIGKILL.
stop_pid() {
  local pid="$1" t=0
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null && [ $t -lt 100 ]; do
    sleep 0.1
    t=$((t + 1))
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local pid
  for pid in "${STARTED[@]}"; do stop_pid "$pid"; done
  STARTED=()
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# cpu_ticks PID...: server CPU (utime+stime, clock ticks) of the pids and their child processes.
cpu_ticks() {
  local total=0 pid child f
  for pid in "$@"; do
    for child in $pid $(ps -o pid= --ppid "$pid" 2>/dev/null); do
      f="/proc/$child/stat"
      [ -r "$f" ] || continue
      # Fields after the "(comm)": state is 3rd overall, utime 14th, stime 15th.
      total=$((total + $(sed 's/^.*) //' "$f" | awk '{print $12 + $13}')))
    done
  done
  echo "$total"
}

# reaped_ticks SHELL_PID: CPU (utime+stime, clock ticks) of the children that shell has waited
# for so far (cutime + cstime of its /proc stat). Read before and after a command the shell runs
# in the foreground, the difference is that command's CPU: the load generator's. Pass $BASHPID of
# the shell that runs the command (a $(...) runs in a subshell of its own).
reaped_ticks() {
  sed 's/^.*) //' "/proc/$1/stat" | awk '{print $14 + $15}'
}

# cpu_list LIST: the CPUs a taskset CPU list names, one per line ("0-1,4" -> 0, 1, 4).
cpu_list() {
  local part
  for part in ${1//,/ }; do
    case "$part" in
    *-*) seq "${part%-*}" "${part#*-}" ;;
    *) echo "$part" ;;
    esac
  done
}

# cpu_count LIST: how many CPUs a taskset CPU list names ("1" -> 1, "1-3,6" -> 4).
cpu_count() {
  cpu_list "$1" | wc -l
}

# switches PID...: the times the threads of the pids (and of their child processes) gave up
# their CPU, waiting for work (voluntary context switches: a worker that parks). Each park is a
# switch between threads and a wake-up to pay. In the hop group a second worker parks mostly
# because its share of the load is small and its CPU is the generator's, less because of its
# hops (the split control there, docs/benchmarks.md stop 42).
switches() {
  local total=0 pid child f
  for pid in "$@"; do
    for child in $pid $(ps -o pid= --ppid "$pid" 2>/dev/null); do
      for f in /proc/"$child"/task/*/status; do
        [ -r "$f" ] || continue
        total=$((total + $(awk '/^voluntary_ctxt_switches/ {print $2}' "$f")))
      done
    done
  done
  echo "$total"
}
