#!/usr/bin/env bash
# Crash soak (docs/benchmarks.md, "Crash soak"): `baton soak` against DATABASE_URL, or a fresh throwaway PostgreSQL
# cluster when none is given. Extra arguments go to `baton soak` (e.g. --runs 1000 --kill-for 180);
# --skip-build uses the debug build as it is. Exits non-zero on any lost run, duplicate success, zombie commit or
# quarantined run.
set -euo pipefail
cd "$(dirname "$0")/.."
build=1
args=()
for arg in "$@"; do
  if [ "$arg" = --skip-build ]; then build=0; else args+=("$arg"); fi
done
[ "$build" = 1 ] && swift build --product baton >/dev/null
baton="$(swift build --show-bin-path)/baton"
if [ -z "${DATABASE_URL:-}" ]; then
  cluster=$(mktemp -d /tmp/baton-soak-pg.XXXXXX)
  chmod 755 "$cluster"
  trap 'scripts/pg.sh stop "$cluster"; rm -rf "$cluster"' EXIT
  export DATABASE_URL=$(scripts/pg.sh start "$cluster")
fi
"$baton" soak "${args[@]}"
