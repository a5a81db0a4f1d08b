#!/usr/bin/env bash
# PostgreSQL failover drill (docs/operations.md, "High availability"): a primary and a synchronous streaming standby on
# loopback, `baton serve` and 2 `baton worker`s on a libpq multi-host URL (target_session_attrs=read-write), 300 chains
# enqueued; mid-load the primary is stopped with `pg_ctl -m immediate` and the standby promoted (and its inherited
# synchronous_standby_names cleared: no standby is left). Then it checks that every run succeeded, no step attempt
# succeeded twice, serve and the workers kept their PIDs, and prints the seconds from promotion to the first completed
# step. Exit 1 on any failure. Usage: scripts/failover.sh [--runs N] (BATON=path/to/baton to skip the build).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=300
stall_check=1
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --no-stall-check) stall_check=0; shift ;;
    *) echo "usage: $0 [--runs N] [--no-stall-check]" >&2; exit 2 ;;
  esac
done
if [ -z "${BATON:-}" ]; then
  swift build --product baton >/dev/null
  BATON="$(swift build --show-bin-path)/baton"
fi
BATON=$(realpath "$BATON")
bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
say() { echo "failover: $*" >&2; }

work=$(mktemp -d /tmp/baton-failover.XXXXXX)
chmod 755 "$work"
[ "$(id -u)" -eq 0 ] && chown postgres:postgres "$work"
p1=$(( 20000 + RANDOM % 20000 )); p2=$(( p1 + 1 )); http=$(( p1 + 2 ))
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  for node in primary standby; do
    [ -f "$work/$node/postmaster.pid" ] && as_pg "$bindir/pg_ctl" -D "$work/$node" -m immediate -w stop >/dev/null 2>&1 || true
  done
  if [ "${keep:-0}" = 1 ]; then say "logs kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
psql_at() { as_pg "$bindir/psql" -h 127.0.0.1 -p "$1" -U postgres -d "${3:-baton}" -qtAX -c "$2"; }

say "primary on 127.0.0.1:$p1"
as_pg "$bindir/initdb" -D "$work/primary" -U postgres -A trust -E UTF8 --no-locale >"$work/initdb.log" 2>&1
cat >>"$work/primary/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$work'
max_connections = 200
wal_level = replica
max_wal_senders = 4
synchronous_commit = on
CONF
as_pg "$bindir/pg_ctl" -D "$work/primary" -l "$work/primary.log" -o "-p $p1" -w -t 60 start >/dev/null
psql_at "$p1" "CREATE DATABASE baton" postgres
# As a real deployment sets it: commits wait for the standby. pg_basebackup copies postgresql.auto.conf, so the
# standby inherits the setting — the trap the promotion step has to handle.
psql_at "$p1" "ALTER SYSTEM SET synchronous_standby_names = 'standby1'" postgres
psql_at "$p1" "SELECT pg_reload_conf()" postgres >/dev/null

say "synchronous standby on 127.0.0.1:$p2 (pg_basebackup -R)"
as_pg "$bindir/pg_basebackup" -h 127.0.0.1 -p "$p1" -U postgres -D "$work/standby" -R -X stream >"$work/basebackup.log" 2>&1
echo "primary_conninfo = 'host=127.0.0.1 port=$p1 user=postgres application_name=standby1'" | as_pg tee -a "$work/standby/postgresql.auto.conf" >/dev/null
as_pg "$bindir/pg_ctl" -D "$work/standby" -l "$work/standby.log" -o "-p $p2" -w -t 60 start >/dev/null
for _ in $(seq 1 100); do
  [ "$(psql_at "$p1" "SELECT count(*) FROM pg_stat_replication WHERE application_name = 'standby1' AND sync_state = 'sync'" postgres)" = 1 ] && break
  sleep 0.2
done
[ "$(psql_at "$p1" "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby1'" postgres)" = sync ] || { say "standby did not become synchronous"; keep=1; exit 1; }

export DATABASE_URL="postgresql://postgres@127.0.0.1:$p1,127.0.0.1:$p2/baton?target_session_attrs=read-write&connect_timeout=5"
mkdir -p "$work/workflows"
cat >"$work/workflows/failover.yaml" <<YAML
name: failover
version: 1
queue: failover
steps:
  - {name: one, handler: sleep, timeout: 120s}
  - {name: two, handler: sleep, timeout: 120s}
  - {name: three, handler: sleep, timeout: 120s}
YAML
export BATON_WORKFLOWS="$work/workflows" BATON_DATA_DIR="$work/data"
"$BATON" migrate >"$work/migrate.log" 2>&1

"$BATON" serve --port "$http" >"$work/serve.log" 2>&1 & serve=$!; pids+=("$serve")
workers=()
for n in 1 2; do
  "$BATON" worker --queue failover --id "failover-w$n" --concurrency 8 --lease 30 --heartbeat 2 --rescue 2 --poll 0.2 \
    --capabilities "" >"$work/worker$n.log" 2>&1 &
  workers+=($!); pids+=($!)
done
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$http/readyz" >/dev/null 2>&1 && break; sleep 0.2; done

say "enqueue $runs chains of 3 steps; workers failover-w1, failover-w2 (pids ${workers[*]}), serve pid $serve"
"$BATON" soak --external-workers --queue failover --runs "$runs" --steps 3 --sleep-ms 300 --drain-timeout 240 \
  >"$work/soak.out" 2>"$work/soak.log" & soak=$!; pids+=("$soak")

done_steps() { psql_at "$1" "SELECT count(*) FROM baton.step_attempts a JOIN baton.runs r ON r.id = a.run_id WHERE r.queue = 'failover' AND a.status = 'succeeded'" 2>/dev/null || echo 0; }
target=$runs
for _ in $(seq 1 600); do [ "$(done_steps "$p1")" -ge "$target" ] && break; sleep 0.2; done
before=$(done_steps "$p1")
say "$before of $((runs * 3)) steps done: stopping the primary (pg_ctl -m immediate)"
as_pg "$bindir/pg_ctl" -D "$work/primary" -m immediate -w stop >/dev/null
sleep 1
say "promoting the standby"
as_pg "$bindir/pg_ctl" -D "$work/standby" -w -t 60 promote >/dev/null
promoted=$(date +%s.%N)
stall_seen=skipped
if [ "$stall_check" = 1 ]; then
  # The promoted node still has synchronous_standby_names and no standby: every commit waits. Show that the wait is
  # visible: an API write (a token creation) hangs, /readyz turns 503 database_stalled, and the workers log the stalled statement.
  token=$(grep -A1 'created admin token' "$work/serve.log" | tail -n 1 | tr -d ' ')
  curl -s -m 120 -o "$work/stalled-post.out" -w '%{http_code}' -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d '{"name":"failover-stall-check","role":"viewer"}' "http://127.0.0.1:$http/api/v1/tokens" >"$work/stalled-post.code" 2>/dev/null & post=$!; pids+=("$post")
  stall_seen=no
  for _ in $(seq 1 150); do
    if curl -s "http://127.0.0.1:$http/readyz" | grep -q database_stalled; then stall_seen=yes; break; fi
    sleep 0.2
  done
  say "readyz reported database_stalled: $stall_seen ($(awk "BEGIN {printf \"%.1f\", $(date +%s.%N) - $promoted}") s after promotion)"
fi
# No standby is left: without this every commit on the new primary waits forever.
psql_at "$p2" "ALTER SYSTEM RESET synchronous_standby_names" postgres
psql_at "$p2" "SELECT pg_reload_conf()" postgres >/dev/null
released=$(date +%s.%N)

status=0
wait "$soak" || status=$?
cat "$work/soak.out"
first=$(psql_at "$p2" "SELECT round(extract(epoch FROM min(e.created_at) - to_timestamp($promoted))::numeric, 2) FROM baton.run_events e JOIN baton.runs r ON r.id = e.run_id WHERE r.queue = 'failover' AND e.kind = 'step_succeeded' AND e.created_at > to_timestamp($promoted)")
first_released=$(psql_at "$p2" "SELECT round(extract(epoch FROM min(e.created_at) - to_timestamp($released))::numeric, 2) FROM baton.run_events e JOIN baton.runs r ON r.id = e.run_id WHERE r.queue = 'failover' AND e.kind = 'step_succeeded' AND e.created_at > to_timestamp($released)")
post_code=$(cat "$work/stalled-post.code" 2>/dev/null || echo -)
after=$(psql_at "$p2" "SELECT string_agg(worker_id || ' ' || n, ', ' ORDER BY worker_id) FROM (SELECT a.worker_id, count(*) AS n FROM baton.step_attempts a JOIN baton.runs r ON r.id = a.run_id WHERE r.queue = 'failover' AND a.status = 'succeeded' AND a.finished_at > to_timestamp($promoted) GROUP BY 1) w")
alive=0
for pid in "$serve" "${workers[@]}"; do kill -0 "$pid" 2>/dev/null && alive=$((alive + 1)); done
ready=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$http/readyz" || true)
lost=$(cat "$work"/worker*.log | grep -c "postgres connection failed\|committing outcomes failed\|claim failed\|heartbeat failed" || true)
stalls=$(cat "$work"/worker*.log "$work/serve.log" | grep -c "database command stalled" || true)
echo "failover drill: $runs chains × 3 steps; primary stopped (-m immediate) after $before steps, standby promoted"
echo "  seconds from promotion to the first step completed on the new primary  ${first:-none}"
echo "  seconds from the reset of synchronous_standby_names (commits acknowledged again) to the next one  ${first_released:-none}"
echo "  stall visible: /readyz database_stalled $stall_seen; stalled API write answered $post_code once released"
echo "  steps completed after promotion, by worker          ${after:-none}"
echo "  serve and workers alive with their original PIDs     $alive of 3 (serve $serve, workers ${workers[*]}); /readyz after: $ready"
echo "  database errors the workers logged and retried       $lost; stall warnings: $stalls"
if [ "$status" -ne 0 ] || [ "$alive" -ne 3 ] || [ "$ready" != 200 ] || [ -z "$first" ] || [ "$stall_seen" = no ]; then
  say "FAIL (soak audit exit $status); logs kept in $work"; keep=1; exit 1
fi
say "PASS"
