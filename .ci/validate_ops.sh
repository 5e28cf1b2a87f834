#!/usr/bin/env bash
# Validate the operations kit (sysctl/, systemd/, Dockerfile, docker-compose.yml, k8s/,
# monitoring/, scripts/tune_host.sh) with the real tools, offline. Run as root on Debian 12: it
# installs what is missing (apt: prometheus for promtool, systemd, shellcheck, docker-compose,
# logrotate, util-linux; pip: kubernetes-validate, yamllint, dockerfile, pyyaml).
# Every check runs even when an earlier one fails; exit 1 and a list of what failed at the end.
# A cache-node binary is used where one helps (CACHE_NODE_BIN, else target/{release,debug}; built
# in debug mode when there is none).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
repo=$(pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=() passed=0

step() {
  local name=$1
  shift
  echo "=== $name"
  if "$@"; then echo "--- ok: $name"; passed=$((passed + 1)); else echo "--- FAILED: $name"; failed+=("$name"); fi
}

install_tools() {
  local apt=() pip=()
  command -v promtool >/dev/null || apt+=(prometheus)
  command -v systemd-analyze >/dev/null || apt+=(systemd)
  command -v shellcheck >/dev/null || apt+=(shellcheck)
  command -v docker-compose >/dev/null || apt+=(docker-compose)
  command -v logrotate >/dev/null || apt+=(logrotate)
  command -v setpriv >/dev/null && command -v unshare >/dev/null || apt+=(util-linux)
  if [ ${#apt[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${apt[@]}" >/dev/null || return 1
  fi
  # Run as `python3 -m ...` below: a fresh pyenv has no shims for newly installed commands.
  python3 -c 'import kubernetes_validate' 2>/dev/null || pip+=(kubernetes-validate)
  python3 -c 'import yamllint' 2>/dev/null || pip+=(yamllint)
  python3 -c 'import dockerfile' 2>/dev/null || pip+=(dockerfile)
  python3 -c 'import yaml' 2>/dev/null || pip+=(pyyaml)
  if [ ${#pip[@]} -gt 0 ]; then
    # A Debian system python refuses plain pip installs (PEP 668); pyenv's does not need the flag.
    python3 -m pip install -q "${pip[@]}" 2>/dev/null ||
      python3 -m pip install -q --break-system-packages "${pip[@]}" || return 1
  fi
}

find_binary() {
  bin=${CACHE_NODE_BIN:-}
  for b in target/release/cache-node target/debug/cache-node; do
    [ -n "$bin" ] || { [ -x "$b" ] && bin=$repo/$b; }
  done
  if [ -z "$bin" ]; then
    cargo build --locked --bin cache-node -q && bin=$repo/target/debug/cache-node
  fi
  # Copy it: the tree's binary may be rebuilt while the checks run.
  cp "$bin" "$scratch/cache-node" && bin=$scratch/cache-node && "$bin" --version
}

lint_shell() {
  shellcheck scripts/tune_host.sh systemd/install.sh monitoring/check_live.sh \
    .ci/validate_ops.sh .ci/check_docs.sh
}

lint_yaml() {
  python3 -m yamllint -s -d '{extends: default, rules: {line-length: {max: 130}, document-start: disable,
    comments: {min-spaces-from-content: 1}, truthy: {check-keys: false}}}' \
    docker-compose.yml k8s/ monitoring/ config/docker/ config/node1.yaml
}

prometheus_checks() {
  promtool check config monitoring/prometheus.yml &&
    promtool check rules monitoring/alerts.yml &&
    promtool test rules monitoring/alerts_test.yml
}

# Structure and agreement between files (dashboard, alert tests, Dockerfile, compose, k8s).
ops_static() {
  CACHE_NODE_BIN=$bin python3 .ci/ops_checks.py static "$scratch"
}

compose_check() {
  docker-compose -f docker-compose.yml config -q || return 1
  # The Go plugin too, where it is installed (it is not on the Debian image).
  if docker compose version >/dev/null 2>&1; then docker compose -f docker-compose.yml config -q || return 1; fi
}

k8s_check() {
  python3 -m kubernetes_validate --strict --quiet k8s/*.yaml
}

# Host tuning: --check as an unprivileged user changes nothing; applying is idempotent. The apply
# runs in a private network namespace with the files redirected, so the host is never touched
# (global keys such as net.core.netdev_max_backlog do not exist there and are reported FAILED).
tune_host_check() {
  local keys before after out rc
  keys=$(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' -e 's/[[:space:]]*=.*//' sysctl/99-distributed-cache.conf)
  for k in $keys; do [ -e "/proc/sys/${k//.//}" ] || { echo "unknown sysctl key $k"; return 1; }; done
  awk '!/^[[:space:]]*(#|$)/ { if (NF != 4 || $2 !~ /^(soft|hard|-)$/ || $3 !~ /^(nofile|memlock)$/) { print "bad limits line: " $0; bad = 1 } } END { exit bad }' \
    sysctl/limits.d/distributed-cache.conf || return 1
  before=$(for k in $keys; do cat "/proc/sys/${k//.//}"; done)
  out=$(setpriv --reuid=65534 --regid=65534 --clear-groups scripts/tune_host.sh --check 2>&1)
  rc=$?
  echo "$out"
  after=$(for k in $keys; do cat "/proc/sys/${k//.//}"; done)
  [ "$rc" -le 1 ] || { echo "--check failed with exit $rc"; return 1; }
  [ "$before" = "$after" ] || { echo "--check changed kernel settings"; return 1; }
  for k in $keys; do grep -q " $k" <<<"$out" || { echo "--check did not report $k"; return 1; }; done
  local d=$scratch/tune
  mkdir -p "$d"
  # shellcheck disable=SC2016 # the inner script expands its own variables
  unshare -n env TUNE_SYSCTL_DST="$d/sysctl.conf" TUNE_LIMITS_DST="$d/limits.conf" bash -c '
    set -u
    first=$(scripts/tune_host.sh 2>&1); second=$(scripts/tune_host.sh 2>&1)
    echo "$first" | sed "s/^/first:  /"; echo "$second" | sed "s/^/second: /"
    grep -q "^SET *net.core.somaxconn = 65535" <<<"$first" || { echo "first apply did not set somaxconn"; exit 1; }
    grep -q "^COPY" <<<"$first" || { echo "first apply copied no file"; exit 1; }
    ! grep -qE "^(SET|COPY)" <<<"$second" || { echo "second apply changed something: not idempotent"; exit 1; }
    cmp -s sysctl/99-distributed-cache.conf "$TUNE_SYSCTL_DST"'
}

# A cache-client binary (target/{release,debug}, else built in debug mode), copied into $scratch.
find_client() {
  local b c=""
  for b in target/release/cache-client target/debug/cache-client; do
    [ -n "$c" ] || { [ -x "$b" ] && c=$repo/$b; }
  done
  if [ -z "$c" ]; then
    cargo build --locked --bin cache-client -q >&2 && c=$repo/target/debug/cache-client
  fi
  cp "$c" "$scratch/cache-client" && echo "$scratch/cache-client"
}

# systemd: stage an install, check it is idempotent, then verify every unit with systemd-analyze
# against a copy whose /opt paths point into the stage (verify needs ExecStart to exist).
systemd_check() {
  local stage=$scratch/stage vdir=$scratch/units out f
  local host_before client
  # install.sh also installs cache-client with its completions and man page: give it a copy.
  client=$(find_client) || return 1
  host_before=$(ls -laR /opt/distributed-cache /etc/systemd/system 2>&1)
  out=$(systemd/install.sh --dry-run --bin "$bin" --client "$client") || return 1
  grep -q '^WOULD  install -D -m 0755' <<<"$out" || { echo "dry run printed no install: $out"; return 1; }
  [ "$host_before" = "$(ls -laR /opt/distributed-cache /etc/systemd/system 2>&1)" ] || { echo "--dry-run changed the host"; return 1; }
  systemd/install.sh --prefix "$stage" --bin "$bin" --client "$client" --log-files --auth || return 1
  out=$(systemd/install.sh --prefix "$stage" --bin "$bin" --client "$client" --log-files --auth)
  grep -qE '^(COPY|WOULD)' <<<"$out" && { echo "second install changed files: $out"; return 1; }
  for f in opt/distributed-cache/bin/cache-node opt/distributed-cache/config/node1.yaml \
           etc/systemd/system/cache-node@.service etc/systemd/system/cache-node1.service \
           etc/systemd/system/cache-node3.service etc/sysctl.d/99-distributed-cache.conf \
           etc/security/limits.d/distributed-cache.conf etc/logrotate.d/distributed-cache \
           etc/systemd/system/cache-node@.service.d/log-to-file.conf \
           etc/systemd/system/cache-node@.service.d/auth.conf \
           etc/systemd/system/cache-node1.service.d/auth.conf \
           etc/distributed-cache/credentials/admin-token etc/distributed-cache/credentials/cluster-secret \
           opt/distributed-cache/bin/cache-client usr/local/share/man/man1/cache-client.1 \
           usr/local/share/bash-completion/completions/cache-client \
           usr/local/share/zsh/site-functions/_cache-client \
           usr/local/share/fish/vendor_completions.d/cache-client.fish; do
    [ -e "$stage/$f" ] || { echo "install.sh did not install $f"; return 1; }
  done
  [ "$(readlink "$stage/usr/local/bin/cache-client")" = /opt/distributed-cache/bin/cache-client ] ||
    { echo "install.sh did not link /usr/local/bin/cache-client"; return 1; }
  [ "$(stat -c %a "$stage/etc/distributed-cache/credentials/admin-token")" = 600 ] ||
    { echo "install.sh --auth left the admin token readable by others"; return 1; }
  [ "$(wc -c <"$stage/etc/distributed-cache/credentials/cluster-secret")" -ge 40 ] ||
    { echo "install.sh --auth wrote a short cluster secret"; return 1; }
  grep -qE '^ *complete .*cache-client$' "$stage/usr/local/share/bash-completion/completions/cache-client" ||
    { echo "the bash completion registers nothing for cache-client"; return 1; }
  mkdir -p "$vdir"
  cp -r "$stage/etc/systemd/system/." "$vdir/"
  sed -i "s#/opt/distributed-cache#$stage/opt/distributed-cache#g; s#/var/log/distributed-cache#$stage/var/log/distributed-cache#g; s#/etc/distributed-cache#$stage/etc/distributed-cache#g" \
    "$vdir"/*.service "$vdir"/*.d/*.conf
  ln -s cache-node@.service "$vdir/cache-node@node1.service"
  for f in cache-node@node1.service cache-node1.service cache-node2.service cache-node3.service; do
    # verify prints warnings (unknown keys, bad values) but still exits 0: any output fails.
    if ! out=$(cd "$vdir" && systemd-analyze verify --man=no "$vdir/$f" 2>&1) || [ -n "$out" ]; then
      echo "systemd-analyze verify $f:"; echo "$out"; return 1
    fi
    echo "verified $f"
    # Hardening must not regress: exposure 1.2 today ("OK"); fail above 2.0.
    systemd-analyze security --offline=yes --threshold=20 --no-pager "$vdir/$f" >"$scratch/security.txt" 2>&1 ||
      { tail -3 "$scratch/security.txt"; return 1; }
  done
  tail -1 "$scratch/security.txt"
  unit_properties "$vdir/cache-node@.service"
}

# Syscall names in the given @groups, nested groups expanded (comment lines skipped).
expand_groups() {
  local g m
  for g in "$@"; do
    systemd-analyze syscall-filter "$g" | sed -n '2,$p' | grep -v '^[[:space:]]*#' | while read -r m; do
      case "$m" in @*) expand_groups "$m" ;; ?*) echo "$m" ;; esac
    done
  done
}

# The properties the issue asks for, and a syscall filter that leaves io_uring (and everything the
# node was seen to call under strace while serving, forwarding, exporting, reloading and stopping,
# plus the epoll fallback's calls) allowed, expanded by this machine's systemd-analyze.
unit_properties() {
  local u=$1 want groups=() denied allowed s
  # shellcheck disable=SC2016 # $MAINPID is literal unit text
  for want in 'Type=notify' 'NotifyAccess=main' 'User=cache' 'Restart=always' 'RestartSec=5' \
              'LimitNOFILE=65535' 'LimitMEMLOCK=' 'StandardOutput=journal' 'KillSignal=SIGTERM' \
              'ExecReload=/bin/kill -HUP $MAINPID' 'MemoryDenyWriteExecute=yes' 'WatchdogSec='; do
    grep -qF "$want" "$u" || { echo "unit lacks $want"; return 1; }
  done
  # The node pings the watchdog (src/watchdog.rs): it must be on, not commented out.
  grep -qE '^WatchdogSec=[1-9][0-9]*s$' "$u" || { echo "unit lacks an active WatchdogSec=<n>s"; return 1; }
  local stop
  stop=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)s\?$/\1/p' "$u")
  [ "${stop:-0}" -gt 11 ] || { echo "TimeoutStopSec must exceed the 10 s drain + 1 s grace"; return 1; }
  # Deny-lists (`~@group ...`) must not hold a needed call; an allow-list, if any, must hold them all.
  read -r -a groups <<<"$(sed -n 's/^SystemCallFilter=~//p' "$u")"
  denied=$(expand_groups "${groups[@]}" | sort -u)
  [ ${#groups[@]} -eq 0 ] || grep -qx reboot <<<"$denied" || { echo "could not expand ${groups[*]}"; return 1; }
  read -r -a groups <<<"$(sed -n 's/^SystemCallFilter=\([^~]\)/\1/p' "$u")"
  allowed=$(expand_groups "${groups[@]}" | sort -u)
  for s in io_uring_setup io_uring_enter io_uring_register epoll_create1 epoll_ctl epoll_wait \
           epoll_pwait clock_nanosleep newfstatat read close ioctl socket openat lseek connect poll \
           getsockopt setsockopt mmap write mprotect rt_sigprocmask recvfrom sigaltstack futex \
           sched_getaffinity sched_setaffinity munmap sendto rt_sigaction prctl statx shutdown \
           getrandom set_robust_list rseq gettid prlimit64 madvise listen clone3 brk bind \
           rt_sigtimedwait pread64 open eventfd2 access uname sysinfo set_tid_address getsockname \
           accept4 writev readv exit exit_group; do
    grep -qx "$s" <<<"$denied" && { echo "SystemCallFilter denies $s, which the node uses"; return 1; }
    if [ ${#groups[@]} -gt 0 ] && ! grep -qx "$s" <<<"$allowed"; then
      echo "SystemCallFilter allows only ${groups[*]}, without $s, which the node uses"; return 1
    fi
  done
  echo "unit properties ok; the syscall filter allows io_uring and every call the node makes"
}

# logrotate: parse the installed file, then rotate a real file in a scratch copy (copytruncate
# must leave the live file empty and the rotated copy full).
logrotate_check() {
  local d=$scratch/logrotate out
  mkdir -p "$d/log"
  echo "a line the node wrote" >"$d/log/node1.log"
  sed -e "s#/var/log/distributed-cache#$d/log#" -e 's/su cache cache/su root root/' systemd/logrotate >"$d/conf"
  out=$(logrotate -d -s "$d/state" "$d/conf" 2>&1)
  if grep -qi 'error' <<<"$out"; then echo "$out"; return 1; fi
  logrotate -f -s "$d/state" "$d/conf" || return 1
  if [ ! -s "$d/log/node1.log.1" ] || [ ! -e "$d/log/node1.log" ] || [ -s "$d/log/node1.log" ]; then
    ls -l "$d/log"; echo "copytruncate did not rotate"; return 1
  fi
  echo "rotated: $(cd "$d/log" && echo *)"
}

step "install tools" install_tools
step "cache-node binary" find_binary
step "shellcheck" lint_shell
step "yamllint" lint_yaml
step "promtool check config / check rules / test rules" prometheus_checks
step "ops cross-checks (.ci/ops_checks.py)" ops_static
step "docker compose config" compose_check
step "kubernetes-validate k8s/" k8s_check
step "scripts/tune_host.sh --check and idempotent apply" tune_host_check
step "systemd/install.sh --prefix + systemd-analyze verify/security" systemd_check
step "logrotate" logrotate_check
step "docs static checks (paths, translation, alert sections)" python3 .ci/docs_blocks.py "$scratch"

echo "validate_ops: $passed passed, ${#failed[@]} failed"
if [ ${#failed[@]} -gt 0 ]; then
  echo "validate_ops: ${#failed[@]} check(s) FAILED:"
  printf '  - %s\n' "${failed[@]}"
  exit 1
fi
echo "validate_ops: all checks passed"
