#!/usr/bin/env bash
# Checks docs/alerts.yml: `promtool check rules`, `promtool test rules` (Tests/Alerts/alerts_test.yml), and end to end:
# a real Prometheus on loopback scrapes a real `baton serve` every second; a queue with ready work and no worker must
# make BatonQueueNoFreshWorker fire, and starting a worker must run the work and resolve it. Waits by polling
# Prometheus's /api/v1/alerts (generous bounds only as failure limits). Needs Debian's `prometheus` (installed here).
#
#   scripts/alerts-test.sh [--skip-build]
#
# Stops Prometheus, the server, the worker and the cluster however it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
skip_build=false
[ "${1:-}" = "--skip-build" ] && skip_build=true

if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
  echo "installing: prometheus"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  # The package starts a system Prometheus on :9090; this script runs its own.
  $sudo_cmd systemctl disable --now prometheus prometheus-node-exporter >/dev/null 2>&1 || true
fi

promtool check rules docs/alerts.yml
promtool test rules Tests/Alerts/alerts_test.yml

$skip_build || swift build --product baton
baton=$root/.build/debug/baton
work=$(mktemp -d /tmp/baton-alerts.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  scripts/pg.sh stop "$work/pg"
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
fail() {
  echo "alerts-test: $*" >&2
  for log in "$work"/*.log; do echo "--- $log (last 30 lines)" >&2; tail -30 "$log" >&2; done
  exit 1
}

export DATABASE_URL=$(scripts/pg.sh start "$work/pg")
export BATON_LOG_LEVEL=warning BATON_WORKFLOWS=$root/workflows
"$baton" migrate >/dev/null
"$baton" enqueue demo --input '{"sleepMs": 10}' >"$work/run-id"
# A token exists, so `serve` does not make (and print) a bootstrap admin token; /metrics needs none.
"$baton" tokens create alerts-viewer --role viewer >/dev/null 2>&1

baton_port=$(free_port)
"$baton" serve --port "$baton_port" --artifacts "$work/artifacts" >"$work/serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 600); do
  curl -fsS "http://127.0.0.1:$baton_port/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$baton_port/metrics" | grep -Eq '^baton_queue_ready\{source="database",queue="default",priority="[0-9]"\} 1$' \
  || fail "/metrics does not show the ready job"

# The shipped rules, with every `for:` shortened so that the test needs seconds, not minutes.
sed -E 's/^( +for:) .*/\1 0s/' docs/alerts.yml >"$work/alerts.yml"
prometheus_port=$(free_port)
cat >"$work/prometheus.yml" <<CONFIG
global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [$work/alerts.yml]
scrape_configs:
  - job_name: baton
    static_configs: [{targets: ["127.0.0.1:$baton_port"]}]
CONFIG
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$prometheus_port" >"$work/prometheus.log" 2>&1 &
pids+=($!)

# state: the alert's state for queue "default" (firing, pending or none).
alert_state() {
  curl -fsS "http://127.0.0.1:$prometheus_port/api/v1/alerts" 2>/dev/null | python3 -c '
import json, sys
alerts = json.load(sys.stdin)["data"]["alerts"]
states = [a["state"] for a in alerts if a["labels"].get("alertname") == sys.argv[1] and a["labels"].get("queue") == "default"]
print(states[0] if states else "none")' "$1" 2>/dev/null || echo "unreachable"
}
wait_for() {  # alert, wanted state, bound in seconds
  local deadline=$((SECONDS + $3)) state
  while [ $SECONDS -lt $deadline ]; do
    state=$(alert_state "$1")
    [ "$state" = "$2" ] && { echo "alerts-test: $1 is $2"; return 0; }
    sleep 0.5
  done
  fail "$1 did not become $2 within $3 s (last state: $state)"
}

wait_for BatonQueueNoFreshWorker firing 180
# A worker takes the work: the run finishes and the alert resolves.
"$baton" worker --queue default --capabilities "" --concurrency 1 >"$work/worker.log" 2>&1 &
pids+=($!)
wait_for BatonQueueNoFreshWorker none 180
run_id=$(tr -d '[:space:]' <"$work/run-id")
for _ in $(seq 1 1200); do
  status=$(echo "SELECT status FROM baton.runs WHERE id = :'run'" | psql "$DATABASE_URL" -v run="$run_id" -tA)
  [ "$status" = succeeded ] && break
  sleep 0.1
done
[ "$status" = succeeded ] || fail "run $run_id did not succeed after the worker started (status: $status)"
echo "alerts-test: passed"
