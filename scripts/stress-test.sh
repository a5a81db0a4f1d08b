#!/usr/bin/env bash
# Runs the whole test suite N times in a row while `stress --cpu C` keeps the cores busy: `make test` must pass on
# a loaded machine, every time. Installs Debian's `stress` when missing, builds once, starts one throwaway
# PostgreSQL cluster (unless DATABASE_URL is given), prints one line per run, and stops stress and the cluster on
# exit, also when interrupted. Exits non-zero when any run failed.
#
# usage: scripts/stress-test.sh [RUNS (default 5)]      environment: STRESS_CPU (default 2), STRESS_LOGS (a folder)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
cpu=${STRESS_CPU:-2}
logs=${STRESS_LOGS:-$(mktemp -d /tmp/baton-stress.XXXXXX)}
mkdir -p "$logs"

scripts/deps.sh
if ! command -v stress >/dev/null; then
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  echo "installing: stress"
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq stress >/dev/null 2>&1 \
    || { $sudo_cmd apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq stress >/dev/null; }
fi

stress_pid=""
cluster=""
cleanup() {
  # stress runs in a process group of its own (setsid): stop it and its hogs together.
  if [ -n "$stress_pid" ]; then kill -TERM -- "-$stress_pid" 2>/dev/null || true; wait "$stress_pid" 2>/dev/null || true; fi
  if [ -n "$cluster" ]; then scripts/pg.sh stop "$cluster" || true; rm -rf "$cluster"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "${DATABASE_URL:-}" ]; then
  cluster=$(mktemp -d /tmp/baton-stress-pg.XXXXXX)
  chmod 755 "$cluster"
  export DATABASE_URL=$(scripts/pg.sh start "$cluster")
fi
echo "building (log: $logs/build.log)"
swift build --build-tests >"$logs/build.log" 2>&1 || { tail -n 40 "$logs/build.log"; exit 1; }

setsid stress --cpu "$cpu" >/dev/null 2>&1 &
stress_pid=$!
echo "stress --cpu $cpu running (pid $stress_pid); logs in $logs"

failed=0
for run in $(seq 1 "$runs"); do
  log="$logs/run-$run.log"
  started=$(date +%s)
  if timeout --kill-after=30 1800 swift test --skip-build >"$log" 2>&1; then status=passed; else status=FAILED; failed=$((failed + 1)); fi
  summary=$(grep -E "Test run with [0-9]+ tests" "$log" | tail -n 1 || true)
  echo "run $run/$runs: $status in $(( $(date +%s) - started )) s — ${summary:-no summary (see $log)}"
  if [ "$status" = FAILED ]; then
    grep -E "✘ Test .*(failed|recorded an issue)|Fatal error|exited with unexpected signal" "$log" | sed 's/^/    /' | head -n 20 || true
  fi
done
echo "$((runs - failed)) of $runs runs passed under stress --cpu $cpu"
[ "$failed" -eq 0 ]
