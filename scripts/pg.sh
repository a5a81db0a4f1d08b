#!/usr/bin/env bash
# A throwaway PostgreSQL cluster: `scripts/pg.sh start DIR` prints a DATABASE_URL; `scripts/pg.sh stop DIR`.
# The server refuses to run as root, so as root the cluster belongs to the `postgres` user.
# PG_SETTINGS adds server settings to the start command (e.g. "-c shared_preload_libraries=pg_stat_statements").
set -euo pipefail
cmd=$1; dir=$2
bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
as_owner() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
case "$cmd" in
  start)
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$dir"
    port=${PGPORT_FOR_TESTS:-$(( 20000 + RANDOM % 20000 ))}
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      as_owner "$bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1
    fi
    # Durable commits stay on (synchronous_commit, fsync): benchmarks measure the real thing.
    as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-p $port -k $dir -c listen_addresses='' -c max_connections=1000 -c shared_buffers=256MB -c synchronous_commit=on -c fsync=on ${PG_SETTINGS:-}" start >/dev/null
    as_owner "$bindir/psql" -h "$dir" -p "$port" -U postgres -d postgres -qtAc "CREATE DATABASE baton" >/dev/null 2>&1 || true
    echo "postgresql://postgres@/baton?host=$dir&port=$port"
    ;;
  stop)
    [ -f "$dir/data/postmaster.pid" ] && as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
    ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
