#!/usr/bin/env bash
# Fuzz pass over the HTTP API: schemathesis (from PyPI, in a venv under .build-fuzz/) generates requests from
# docs/openapi.yaml and sends them to a live `baton serve` on a throwaway PostgreSQL cluster, with an admin
# token and a worker token. Checks: no 5xx, status codes / content types / headers / bodies as documented,
# invalid input refused. Stops the server and the cluster however it ends.
#
#   scripts/fuzz-api.sh [--skip-build] [--max-examples N] [extra schemathesis options...]
#
# Token revocation is left out: the fuzzer would find and revoke its own admin token (GET /tokens lists it)
# and spend the rest of the run on 401s; AuthTests covers revocation.
# Exit code: schemathesis's (0 when nothing failed). The report is written to .build-fuzz/report/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
skip_build=false
max_examples=${FUZZ_MAX_EXAMPLES:-30}
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --skip-build) skip_build=true ;;
    --max-examples) max_examples=$2; shift ;;
    *) extra+=("$1") ;;
  esac
  shift
done

venv=.build-fuzz/venv
schemathesis_version=4.32.5
if [ "$("$venv/bin/schemathesis" --version 2>/dev/null)" != "schemathesis, version $schemathesis_version" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "schemathesis==$schemathesis_version"
fi
$skip_build || swift build --product baton
baton=$root/.build/debug/baton

work=$(mktemp -d /tmp/baton-fuzz.XXXXXX)
chmod 755 "$work"
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
  scripts/pg.sh stop "$work/pg"
  rm -rf "$work"
}
trap cleanup EXIT
export DATABASE_URL=$(scripts/pg.sh start "$work/pg")
export BATON_LOG_LEVEL=warning

admin=$("$baton" tokens create fuzz-admin --role admin 2>/dev/null)
worker=$("$baton" tokens create fuzz-worker --role worker 2>/dev/null)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$baton" serve --port "$port" --artifacts "$work/artifacts" >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 300); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
# Something for the fuzzer to find: a run of the demo workflow (no worker runs it; it stays queued).
curl -fsS -X POST "http://127.0.0.1:$port/api/v1/runs" -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
  -d '{"workflow":"demo","repository":"acme/widgets","featureKey":"fuzz"}' >/dev/null

mkdir -p .build-fuzz/report
status=0
"$venv/bin/schemathesis" --config-file scripts/fuzz/schemathesis.toml run docs/openapi.yaml --url "http://127.0.0.1:$port" \
  -H "Authorization: Bearer $admin" -H "X-Baton-Worker-Token: $worker" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,negative_data_rejection \
  --max-examples "$max_examples" --seed 1 --workers 1 --request-timeout 30 --no-color \
  --exclude-path '/api/v1/tokens/{id}' --generation-database none --report junit --report-dir .build-fuzz/report "${extra[@]}" || status=$?
if grep -q 'request failed' "$work/server.log"; then
  echo "fuzz: the server logged unexpected errors (answered 500):" >&2
  grep 'request failed' "$work/server.log" | tail -20 >&2
  status=1
fi
exit $status
