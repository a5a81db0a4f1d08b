#!/usr/bin/env bash
# Reproducible benchmark: a release build against a fresh throwaway PostgreSQL cluster (durable commits:
# synchronous_commit=on, fsync=on), unless DATABASE_URL is given. Extra arguments go to `baton bench`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
swift build -c release --product baton >/dev/null
if [ -z "${DATABASE_URL:-}" ]; then
  cluster=$(mktemp -d /tmp/baton-bench-pg.XXXXXX)
  chmod 755 "$cluster"
  trap 'scripts/pg.sh stop "$cluster"; rm -rf "$cluster"' EXIT
  export DATABASE_URL=$(scripts/pg.sh start "$cluster")
fi
.build/release/baton bench "$@"
