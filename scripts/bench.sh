#!/usr/bin/env bash
# Reproducible benchmark: a release build against a fresh throwaway PostgreSQL cluster (durable commits:
# synchronous_commit=on, fsync=on; pg_stat_statements loaded with track=all), unless DATABASE_URL is given.
#
#   scripts/bench.sh [--runs N] [--no-pgbench] [--json] [baton bench options...]
#
# Each run: a new cluster; `pgbench -i` and `pgbench -N -c 16 -j 2 -T 15` on it (database `pgbench`), then
# `baton bench --pgbench-tps <tps>` on the same cluster, which prints both figures and steps/s ÷ tps.
# --runs N repeats that N times and then prints the median of every figure. --json prints the report as JSON
# (one run: the report; several: {"runs": [...], "medians": {...}}). With DATABASE_URL given, pgbench is not run
# (it would write into your server) and every run uses that server. Other arguments go to `baton bench`.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=1; pgbench=1; json=0; args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --runs=*) runs=${1#--runs=}; shift ;;
    --no-pgbench) pgbench=0; shift ;;
    --json) json=1; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
scripts/deps.sh
# BATON_BIN benchmarks a given binary instead of building this tree (e.g. before/after comparisons, benchmarks.md).
if [ -n "${BATON_BIN:-}" ]; then baton=$BATON_BIN; else swift build -c release --product baton >/dev/null; baton=.build/release/baton; fi
bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
out=$(mktemp -d /tmp/baton-bench.XXXXXX)
cluster=""
cleanup() { if [ -n "$cluster" ]; then scripts/pg.sh stop "$cluster"; rm -rf "$cluster"; cluster=""; fi; }
trap 'cleanup; rm -rf "$out"' EXIT
say() { echo "bench.sh: $*" >&2; }

for i in $(seq 1 "$runs"); do
  tps_args=()
  if [ -z "${DATABASE_URL:-}" ]; then
    cluster=$(mktemp -d /tmp/baton-bench-pg.XXXXXX)
    chmod 755 "$cluster"
    url=$(PG_SETTINGS="-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all" scripts/pg.sh start "$cluster")
    if [ "$pgbench" = 1 ]; then
      pgurl=${url/\/baton\?/\/pgbench?}
      "$bindir/psql" "$url" -qtAc "CREATE DATABASE pgbench" >/dev/null
      say "run $i/$runs: pgbench -i, then pgbench -N -c 16 -j 2 -T 15"
      "$bindir/pgbench" -i -q "$pgurl" >"$out/pgbench-init-$i.log" 2>&1
      "$bindir/pgbench" -N -c 16 -j 2 -T 15 "$pgurl" >"$out/pgbench-$i.log" 2>&1
      tps=$(awk '/^tps = / { print $3; exit }' "$out/pgbench-$i.log")
      [ -n "$tps" ] || { cat "$out/pgbench-$i.log" >&2; say "pgbench printed no tps"; exit 1; }
      say "run $i/$runs: pgbench tps = $tps"
      tps_args=(--pgbench-tps "$tps")
    fi
  else
    url=$DATABASE_URL
    [ "$pgbench" = 1 ] && say "DATABASE_URL is given: pgbench is not run against your server"
  fi
  say "run $i/$runs: baton bench"
  if [ "$json" = 1 ]; then
    DATABASE_URL=$url "$baton" bench "${tps_args[@]}" --json-file "$out/run-$i.json" "${args[@]}" >/dev/null
  else
    DATABASE_URL=$url "$baton" bench "${tps_args[@]}" --json-file "$out/run-$i.json" "${args[@]}"
  fi
  cleanup
done

python3 - "$json" "$out"/run-*.json <<'PY'
import json, statistics, sys
as_json, files = sys.argv[1] == "1", sys.argv[2:]
reports = [json.load(open(f)) for f in sorted(files, key=lambda f: int(f.rsplit("-", 1)[1].split(".")[0]))]
numeric = [k for k, v in reports[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool)
           and all(isinstance(r.get(k), (int, float)) for r in reports)]
medians = {k: statistics.median(r[k] for r in reports) for k in numeric}
if as_json:
    print(json.dumps(reports[0] if len(reports) == 1 else {"runs": reports, "medians": medians}, indent=2, sort_keys=True))
elif len(reports) > 1:
    print(f"\nmedians of {len(reports)} runs (min–max):")
    for k in numeric:
        values = [r[k] for r in reports]
        print(f"  {k:28} {medians[k]:12.3f}   ({min(values):.3f}–{max(values):.3f})")
PY
