# shellcheck shell=bash
# The bearer token for curl, when the nodes require one (auth in the node config; see
# docs/security.md). Sourced by the scripts that call /admin or the cache API; sets CURL_AUTH, an
# array of curl arguments to put before the URL: empty without a token, else `-H @FILE` where FILE
# is a private temporary header file, so the token never appears in a process's arguments.
#
# Environment:
#   CACHE_TOKEN_FILE  a token file in the node's format (first line that is not blank or a `#`
#                     comment); the admin token for rolling_upgrade.sh and test_cluster.sh
#   CACHE_TOKEN       the token itself, when there is no file

# shellcheck disable=SC2034 # used by the scripts that source this file
CURL_AUTH=()
_auth_token=""
if [ -n "${CACHE_TOKEN_FILE:-}" ]; then
  [ -r "$CACHE_TOKEN_FILE" ] || { echo "error: cannot read CACHE_TOKEN_FILE=$CACHE_TOKEN_FILE" >&2; exit 2; }
  _auth_token="$(grep -v '^[[:space:]]*#' "$CACHE_TOKEN_FILE" | grep -m1 -v '^[[:space:]]*$' | tr -d '[:space:]' || true)"
  [ -n "$_auth_token" ] || { echo "error: token file $CACHE_TOKEN_FILE holds no token" >&2; exit 2; }
elif [ -n "${CACHE_TOKEN:-}" ]; then
  _auth_token="$CACHE_TOKEN"
fi
if [ -n "$_auth_token" ]; then
  CURL_AUTH_FILE="$(umask 077 && mktemp "${TMPDIR:-/tmp}/cache-auth.XXXXXX")"
  printf 'Authorization: Bearer %s\n' "$_auth_token" >"$CURL_AUTH_FILE"
  # shellcheck disable=SC2034
  CURL_AUTH=(-H "@$CURL_AUTH_FILE")
  # Removed when the sourcing script exits (scripts with an EXIT trap of their own call it too).
  auth_cleanup() { rm -f "$CURL_AUTH_FILE"; }
  trap auth_cleanup EXIT
else
  auth_cleanup() { :; }
fi
unset _auth_token
