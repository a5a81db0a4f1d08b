#!/usr/bin/env bash
# Run ledger before/after (docs/benchmarks.md, "Run ledger"), one binary that has migration 11: "before" = the
# ledger's triggers disabled and its columns nullable right after migrating, "after" = as migrated. Each run: a fresh cluster
# as scripts/bench.sh makes it, pgbench for the machine's tps, `baton bench --backlog-runs 0 --memory-steps 0`; sides alternate.
#   BIN=.build/release/baton scripts/bench-ledger-ab.sh 5
set -uo pipefail
cd "$(dirname "$0")/.."
bin=${BIN:-.build/release/baton}; n=${1:-3}; out=${OUT:-$(mktemp -d /tmp/ledger-ab.XXXXXX)}; mkdir -p $out
bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
for i in $(seq 1 $n); do
  for side in before after; do
    c=$(mktemp -d /tmp/ledger-bench-pg.XXXXXX); chmod 755 $c
    url=$(PG_SETTINGS="-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all" scripts/pg.sh start $c)
    "$bindir/psql" "$url" -qtAc "CREATE DATABASE pgbench" >/dev/null
    pgurl=${url/\/baton\?/\/pgbench?}
    "$bindir/pgbench" -i -q "$pgurl" >/dev/null 2>&1
    tps=$("$bindir/pgbench" -N -c 16 -j 2 -T 15 "$pgurl" 2>/dev/null | awk '/^tps = / { print $3; exit }')
    DATABASE_URL=$url $bin migrate >/dev/null 2>&1
    if [ $side = before ]; then "$bindir/psql" "$url" -v ON_ERROR_STOP=1 -q -c "ALTER TABLE baton.run_events DISABLE TRIGGER run_events_ledger, ALTER COLUMN ledger_prev DROP NOT NULL, ALTER COLUMN ledger_hash DROP NOT NULL" -c "ALTER TABLE baton.artifacts DISABLE TRIGGER artifact_recorded" || echo "disable failed" >&2; fi
    DATABASE_URL=$url $bin bench --backlog-runs 0 --memory-steps 0 --pgbench-tps "$tps" --json-file $out/$side-$i.json >$out/$side-$i.log 2>&1 || echo "bench $side $i failed" >&2
    echo "  chained events: $("$bindir/psql" "$url" -qtAc "select count(*) filter (where ledger_hash is not null), count(*) from baton.run_events")"
    scripts/pg.sh stop $c; rm -rf $c
    echo "$side $i: $(python3 -c "import json; r=json.load(open('$out/$side-$i.json')); print(' '.join(f'{k}={r.get(k)}' for k in ['stepsPerSecond','pgbenchTps','stepsPerPgbenchTps','enqueuePerSecond','idleHandoffP50Ms','serverCpuMsPerStep','walBytesPerStep','statementsPerStep']))" 2>&1)"
  done
done
