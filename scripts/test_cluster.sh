#!/usr/bin/env bash
# End-to-end checks against a running cluster (start one with ./scripts/start_cluster.sh).
#
#   ./scripts/test_cluster.sh
#   NODES="10.0.0.1:8001 10.0.0.2:8002 10.0.0.3:8003" ./scripts/test_cluster.sh
#
# The first three NODES play "node1", "node2" and "node3" (default localhost:8001..8003). Checks:
# health of every node; a key written via node1 reads back identically via node2 and node3; DELETE
# via node3 then 404 via node1; a ttl=1 key is gone after 2 s; /admin/cluster answers JSON and
# /admin/metrics has cache_requests_total on every node; export via node1 -> delete -> import
# (as in the guide's 数据备份 section) keeps the newer delete, and import ?overwrite=1 restores the
# key. The import sends only this run's own keys
# (the export filtered to the key prefix): re-importing the whole export into a live cluster would
# overwrite newer writes, revive deleted keys and reset TTLs. Prints `PASS name` / `FAIL name: details`
# and `N passed, M failed`; exits 0 only when everything passed. Keys it creates are unique and
# deleted at the end (as are its temp files). Needs curl and python3.
set -euo pipefail

read -r -a NODE_LIST <<<"${NODES:-localhost:8001 localhost:8002 localhost:8003}"
[ ${#NODE_LIST[@]} -gt 0 ] || { echo "NODES is empty" >&2; exit 2; }
for tool in curl python3; do
  command -v "$tool" >/dev/null 2>&1 || { echo "$tool is required" >&2; exit 2; }
done
N1="${NODE_LIST[0]}"
N2="${NODE_LIST[1]:-$N1}"
N3="${NODE_LIST[2]:-$N2}"
CURL_TIMEOUT="${CURL_TIMEOUT:-5}"
# shellcheck source-path=SCRIPTDIR source=auth.sh
. "$(dirname "${BASH_SOURCE[0]}")/auth.sh"

TMP="$(mktemp -d "${TMPDIR:-/tmp}/test_cluster.XXXXXX")"
RUN_ID="tc-$(date +%s)-$$-$RANDOM"
KEYS=()
PASSED=0
FAILED=0

cleanup() {
  local k n
  for k in "${KEYS[@]}"; do
    for n in "${NODE_LIST[@]}"; do
      curl -s -o /dev/null -m 2 "${CURL_AUTH[@]}" -X DELETE "http://$n/api/v1/cache/$k" || true
    done
  done
  rm -rf "$TMP"
  auth_cleanup
}
trap cleanup EXIT

pass() {
  echo "PASS $1"
  PASSED=$((PASSED + 1))
}
fail() {
  echo "FAIL $1: $2"
  FAILED=$((FAILED + 1))
}

# req METHOD URL [curl args...]: response body in $TMP/body, status in CODE ("000" plus ERR when
# the request itself failed).
req() {
  local method="$1" url="$2"
  shift 2
  ERR=""
  CODE="$(curl -sS -m "$CURL_TIMEOUT" -o "$TMP/body" -w '%{http_code}' "${CURL_AUTH[@]}" -X "$method" "$@" "$url" 2>"$TMP/err")" || CODE=000
  if [ "$CODE" = 000 ]; then
    ERR="$(head -n 1 "$TMP/err")"
    : >"$TMP/body"
  fi
}

# What to say about the last response when it was not what we wanted.
got() {
  if [ "$CODE" = 000 ]; then
    echo "request failed: ${ERR:-no response}"
  else
    echo "HTTP $CODE $(head -c 200 "$TMP/body" | tr '\n' ' ')"
  fi
}

# jget FILE FIELD[.FIELD...]: the field as canonical JSON (sorted keys, no spaces); exit 1 with the
# reason on stdout when FILE is not JSON or lacks the field. An empty FIELD means the whole document.
jget() {
  python3 - "$1" "${2:-}" <<'PY'
import json, sys
try:
    with open(sys.argv[1], encoding="utf-8") as f:
        doc = json.load(f)
except Exception as e:
    print(f"not JSON ({e})")
    sys.exit(1)
for part in [p for p in sys.argv[2].split(".") if p]:
    if isinstance(doc, dict) and part in doc:
        doc = doc[part]
    else:
        print(f"no field {sys.argv[2]!r}")
        sys.exit(1)
print(json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False))
PY
}

# Canonical form of a JSON literal, to compare values whatever their spacing or key order.
canon() {
  python3 -c 'import json,sys; print(json.dumps(json.loads(sys.argv[1]), sort_keys=True, separators=(",", ":"), ensure_ascii=False))' "$1"
}

# check_value NAME NODE KEY EXPECTED_CANONICAL: GET KEY via NODE must be 200 with that value.
check_value() {
  local name="$1" node="$2" key="$3" want="$4" have
  req GET "http://$node/api/v1/cache/$key"
  if [ "$CODE" != 200 ]; then
    fail "$name" "expected 200, got $(got)"
  elif ! have="$(jget "$TMP/body" value)"; then
    fail "$name" "$have in $(got)"
  elif [ "$have" != "$want" ]; then
    fail "$name" "value differs: got $have, expected $want"
  else
    pass "$name"
  fi
}

# check_gone NAME NODE KEY: GET KEY via NODE must be 404.
check_gone() {
  local name="$1" node="$2" key="$3"
  req GET "http://$node/api/v1/cache/$key"
  if [ "$CODE" = 404 ]; then pass "$name"; else fail "$name" "expected 404, got $(got)"; fi
}

# put NODE KEY BODY: PUT, 200 or 201 expected; returns 1 (after a FAIL line named NAME) otherwise.
put() {
  local name="$1" node="$2" key="$3" body="$4"
  KEYS+=("$key")
  req PUT "http://$node/api/v1/cache/$key" -H 'Content-Type: application/json' -d "$body"
  case "$CODE" in
    200 | 201) pass "$name" ;;
    *) fail "$name" "expected 201/200, got $(got)"; return 1 ;;
  esac
}

# own_entries EXPORT PREFIX OUT: write to OUT the export document EXPORT with only the entries whose
# key starts with PREFIX (count adjusted); on failure print why and return 1.
own_entries() {
  python3 - "$@" <<'PY'
import json, sys
src, prefix, out = sys.argv[1:4]
try:
    with open(src, encoding="utf-8") as f:
        doc = json.load(f)
    doc["entries"] = [e for e in doc["entries"] if str(e.get("key", "")).startswith(prefix)]
except Exception as e:
    print(f"cannot filter the export to keys {prefix}*: {e!r}")
    sys.exit(1)
doc["count"] = len(doc["entries"])
with open(out, "w", encoding="utf-8") as f:
    json.dump(doc, f, ensure_ascii=False)
PY
}

echo "Testing cluster: node1=$N1 node2=$N2 node3=$N3 (keys prefixed $RUN_ID)"

# ---- health ---------------------------------------------------------------------------------------
for n in "${NODE_LIST[@]}"; do
  req GET "http://$n/api/v1/health"
  if [ "$CODE" != 200 ]; then
    fail "health $n" "expected 200, got $(got)"
  elif ! status="$(jget "$TMP/body" status)"; then
    fail "health $n" "$status in $(got)"
  elif [ "$status" != '"healthy"' ]; then
    fail "health $n" "status is $status, expected \"healthy\""
  else
    pass "health $n"
  fi
done

# ---- write via node1, read via every node ----------------------------------------------------------
K1="$RUN_ID-shared"
V1="{\"msg\":\"hello world\",\"n\":42,\"list\":[1,2.5,true,null],\"nested\":{\"k\":\"$K1\"},\"utf8\":\"缓存\"}"
W1="$(canon "$V1")"
if put "put $K1 via node1 ($N1)" "$N1" "$K1" "{\"value\":$V1}"; then
  check_value "read own write via node1 ($N1)" "$N1" "$K1" "$W1"
  check_value "read via node2 ($N2) of key written via node1" "$N2" "$K1" "$W1"
  check_value "read via node3 ($N3) of key written via node1" "$N3" "$K1" "$W1"
fi

# ---- delete via node3, gone via node1 --------------------------------------------------------------
req DELETE "http://$N3/api/v1/cache/$K1"
if [ "$CODE" = 200 ] && [ "$(jget "$TMP/body" deleted || true)" = true ]; then
  pass "delete via node3 ($N3) of key written via node1"
else
  fail "delete via node3 ($N3) of key written via node1" "expected 200 {\"deleted\":true}, got $(got)"
fi
check_gone "404 via node1 ($N1) after delete via node3" "$N1" "$K1"

# ---- TTL ----------------------------------------------------------------------------------------------
K2="$RUN_ID-ttl"
if put "put $K2 with ttl 1 via node1" "$N1" "$K2" '{"value":"short-lived","ttl":1}'; then
  req GET "http://$N1/api/v1/cache/$K2"
  if [ "$CODE" != 200 ]; then
    fail "ttl key readable before expiry" "expected 200, got $(got)"
  else
    pass "ttl key readable before expiry"
  fi
  sleep 2
  check_gone "ttl key gone after 2s" "$N1" "$K2"
fi

# ---- admin endpoints -----------------------------------------------------------------------------------
for n in "${NODE_LIST[@]}"; do
  req GET "http://$n/admin/cluster"
  if [ "$CODE" != 200 ]; then
    fail "cluster info $n" "expected 200, got $(got)"
  elif ! doc="$(jget "$TMP/body")"; then
    fail "cluster info $n" "$doc"
  elif [ "${doc:0:1}" != "{" ]; then
    fail "cluster info $n" "expected a JSON object, got ${doc:0:100}"
  else
    pass "cluster info $n"
  fi
  req GET "http://$n/admin/metrics"
  if [ "$CODE" != 200 ]; then
    fail "metrics $n" "expected 200, got $(got)"
  elif ! grep -q '^cache_requests_total' "$TMP/body"; then
    fail "metrics $n" "no cache_requests_total line in the response"
  else
    pass "metrics $n"
  fi
done

# import_check NAME QUERY FIELD: POST the run's own export to node1's /admin/import (QUERY
# appended), expect 200 and FIELD (imported or superseded) >= 1 in its answer.
import_check() {
  local name="$1" query="$2" field="$3" counts counts_ok
  req POST "http://$N1/admin/import$query" -H 'Content-Type: application/json' -d "@$OWN"
  if counts="$(python3 - "$TMP/body" "$field" <<'PY'
import json, sys
try:
    with open(sys.argv[1], encoding="utf-8") as f:
        doc = json.load(f)
except Exception as e:
    print(f"response is not JSON ({e})")
    sys.exit(1)
nums = {k: v for k, v in doc.items() if isinstance(v, int) and not isinstance(v, bool)} if isinstance(doc, dict) else {}
if not nums:
    print(f"response reports no counts: {json.dumps(doc)[:200]}")
    sys.exit(1)
print(" ".join(f"{k}={v}" for k, v in nums.items()))
if nums.get(sys.argv[2], 0) < 1:
    sys.exit(1)
PY
)"; then counts_ok=1; else counts_ok=0; fi
  if [ "$CODE" != 200 ]; then
    fail "$name" "expected 200, got $(got)"
  elif [ "$counts_ok" != 1 ]; then
    fail "$name" "expected $field >= 1: $counts"
  else
    pass "$name ($counts)"
  fi
}

# ---- export / import round trip (the guide's 数据备份 commands) ----------------------------------------
K3="$RUN_ID-backup"
V3="{\"backup\":true,\"key\":\"$K3\",\"text\":\"line one, line two\"}"
W3="$(canon "$V3")"
BACKUP="$TMP/backup.json"
if put "put $K3 via node1 for backup" "$N1" "$K3" "{\"value\":$V3}"; then
  # The guide's command: curl http://localhost:8001/admin/export > backup.json
  ERR=""
  CODE="$(curl -sS -m "$CURL_TIMEOUT" -o "$BACKUP" -w '%{http_code}' "${CURL_AUTH[@]}" "http://$N1/admin/export" 2>"$TMP/err")" || CODE=000
  [ "$CODE" != 000 ] || ERR="$(head -n 1 "$TMP/err")"
  EXPORT_CODE="$CODE"
  found="$(python3 - "$BACKUP" "$K3" <<'PY' || true
import json, sys
try:
    with open(sys.argv[1], encoding="utf-8") as f:
        doc = json.load(f)
except Exception as e:
    print(f"export is not JSON ({e})")
    sys.exit(1)
entries = doc.get("entries") if isinstance(doc, dict) else None
if not isinstance(entries, list):
    print("export has no entries list")
    sys.exit(1)
for e in entries:
    if isinstance(e, dict) and e.get("key") == sys.argv[2]:
        print(json.dumps(e.get("value"), sort_keys=True, separators=(",", ":"), ensure_ascii=False))
        sys.exit(0)
print(f"key {sys.argv[2]} not among the {len(entries)} exported entries")
sys.exit(1)
PY
)"
  if [ "$CODE" != 200 ]; then
    cp "$BACKUP" "$TMP/body" 2>/dev/null || : >"$TMP/body"
    fail "export via node1 ($N1)" "expected 200, got $(got)"
  elif [ "$found" != "$W3" ]; then
    fail "export via node1 ($N1)" "$found"
  else
    pass "export via node1 ($N1)"
  fi

  req DELETE "http://$N1/api/v1/cache/$K3"
  if [ "$CODE" = 200 ]; then pass "delete $K3 before import"; else fail "delete $K3 before import" "expected 200, got $(got)"; fi
  check_gone "$K3 gone before import" "$N1" "$K3"

  OWN="$TMP/own.json"
  if [ "$EXPORT_CODE" != 200 ] || [ ! -s "$BACKUP" ]; then
    fail "import via node1 ($N1)" "no export document to import (export answered $EXPORT_CODE)"
  elif ! why="$(own_entries "$BACKUP" "$RUN_ID-" "$OWN")"; then
    fail "import via node1 ($N1)" "$why"
  else
    # The guide's command (curl -X POST .../admin/import -H 'Content-Type: application/json'
    # -d @backup.json), with the export cut down to this run's keys: other keys stay untouched.
    # Imports apply last-writer-wins by the exported versions: the delete above is newer than
    # the exported value, so the plain import keeps the key deleted (superseded); `?overwrite=1`
    # restores the backup over it.
    import_check "import via node1 ($N1) keeps the newer delete" "" superseded
    check_gone "$K3 still deleted after a plain import of an older export" "$N1" "$K3"
    import_check "import ?overwrite=1 via node1 ($N1)" "?overwrite=1" imported
  fi
  check_value "$K3 restored by import with the same value" "$N1" "$K3" "$W3"
fi

echo
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
