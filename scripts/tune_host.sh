#!/usr/bin/env bash
# Apply or check the host tuning recommended for cache nodes (sysctl/ in this repo).
#
#   sudo scripts/tune_host.sh            install sysctl/99-distributed-cache.conf into /etc/sysctl.d/
#                                        and sysctl/limits.d/distributed-cache.conf into
#                                        /etc/security/limits.d/, then set every kernel value.
#                                        Idempotent: identical files are not rewritten and values
#                                        already as recommended are not written again.
#   scripts/tune_host.sh --check         any user: report what differs from the recommendation,
#                                        change nothing (reads /proc/sys and the limits only).
#   scripts/tune_host.sh --dry-run       as the default mode, but print the actions instead.
#
# Exit status: 0 everything as recommended (or applied), 1 something differs (--check) or could not
# be applied, 2 usage error.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
sysctl_src=$repo/sysctl/99-distributed-cache.conf
limits_src=$repo/sysctl/limits.d/distributed-cache.conf
# Destinations can be redirected (tests); the defaults are where the kernel and pam_limits read them.
sysctl_dst=${TUNE_SYSCTL_DST:-/etc/sysctl.d/99-distributed-cache.conf}
limits_dst=${TUNE_LIMITS_DST:-/etc/security/limits.d/distributed-cache.conf}
want_nofile=65535

mode=apply
case "${1:-}" in
  "") ;;
  --check) mode=check ;;
  --dry-run) mode=dry-run ;;
  -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
  *) echo "usage: $0 [--check|--dry-run]" >&2; exit 2 ;;
esac

# `key = value` pairs of the sysctl file, comments and blank lines skipped.
settings() {
  sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$sysctl_src" |
    awk -F= '{ gsub(/^[ \t]+|[ \t]+$/, "", $1); gsub(/^[ \t]+|[ \t]+$/, "", $2); print $1 "=" $2 }'
}

# Current value of a sysctl key, whitespace squeezed; empty when the key does not exist here.
current() {
  local f="/proc/sys/${1//.//}"
  if [ -r "$f" ]; then tr -s ' \t' ' ' <"$f" | sed 's/ $//'; fi
}

differ=0 failed=0
report() { printf '%-6s %s\n' "$1" "$2"; }

check_sysctl() {
  local kv key want cur hint
  while IFS= read -r kv; do
    key=${kv%%=*} want=${kv#*=}
    cur=$(current "$key")
    if [ "$cur" = "$want" ]; then
      report OK "$key = $want"
      continue
    fi
    differ=$((differ + 1)) hint=""
    if [ "$key" = net.ipv4.tcp_congestion_control ] &&
       ! grep -qw "$want" /proc/sys/net/ipv4/tcp_available_congestion_control 2>/dev/null; then
      hint=" ($want not loaded yet: applying runs modprobe tcp_$want)"
    fi
    report DIFF "$key is ${cur:-<not available>}, recommended $want$hint"
  done < <(settings)
}

# A soft or hard limit of this shell against a minimum ("unlimited" always satisfies it).
check_limit() {
  local name=$1 flag=$2 min=$3 soft hard
  soft=$(ulimit -S "$flag") hard=$(ulimit -H "$flag")
  for pair in "soft:$soft" "hard:$hard"; do
    local v=${pair#*:}
    if [ "$v" = unlimited ] || { [ "$min" != unlimited ] && [ "$v" -ge "$min" ]; }; then
      report OK "$name ${pair%%:*} limit of this session = $v"
    else
      differ=$((differ + 1))
      report DIFF "$name ${pair%%:*} limit of this session is $v, recommended $min (new logins after install; systemd units set their own)"
    fi
  done
}

check_file() {
  if cmp -s "$1" "$2"; then report OK "$2 installed"
  else differ=$((differ + 1)); report DIFF "$2 missing or differs from ${1#"$repo"/}"; fi
}

if [ "$mode" = check ]; then
  check_sysctl
  check_limit nofile -n "$want_nofile"
  check_limit memlock -l unlimited
  check_file "$sysctl_src" "$sysctl_dst"
  check_file "$limits_src" "$limits_dst"
  echo "summary: $differ setting(s) differ from the recommendation"
  [ "$differ" -eq 0 ]
  exit
fi

# --- apply (or print what applying would do) ---
if [ "$mode" = apply ] && [ "$(id -u)" -ne 0 ]; then
  echo "tune_host.sh: applying needs root; use --check to only compare" >&2
  exit 1
fi

# Run one change and report it under LABEL; in --dry-run only say what would run.
act() {
  local label=$1 what=$2
  shift 2
  if [ "$mode" = dry-run ]; then report WOULD "$*"; return 0; fi
  "$@" && report "$label" "$what"
}

for pair in "$sysctl_src:$sysctl_dst" "$limits_src:$limits_dst"; do
  src=${pair%%:*} dst=${pair#*:}
  if cmp -s "$src" "$dst"; then report SAME "$dst"
  else act COPY "$dst" install -D -m 0644 "$src" "$dst"; fi
done

while IFS= read -r kv; do
  key=${kv%%=*} want=${kv#*=}
  if [ "$(current "$key")" = "$want" ]; then report SAME "$key = $want"; continue; fi
  if [ "$key" = net.ipv4.tcp_congestion_control ] &&
     ! grep -qw "$want" /proc/sys/net/ipv4/tcp_available_congestion_control 2>/dev/null; then
    act LOAD "tcp_$want module" modprobe "tcp_$want" || true
  fi
  if ! act SET "$key = $want" sysctl -q -w "$key=$want"; then
    failed=$((failed + 1))
    report FAILED "$key = $want (missing or read-only here, e.g. in a container or network namespace: set it on the host)"
  fi
done < <(settings)

echo "limits.d applies to new login sessions; the systemd units set LimitNOFILE/LimitMEMLOCK themselves"
echo "summary: $failed setting(s) could not be applied"
[ "$failed" -eq 0 ]
