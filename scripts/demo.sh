#!/usr/bin/env bash
# Baton's main job on a fresh machine, on the embedded PostgreSQL (var/postgres) unless DATABASE_URL is set:
# builds Baton, starts a worker, enqueues the `demo` chain and follows it to the end.
# (The spec workflow — discover → submit → publish — lands with issue 3; until then the demo is the engine's chain.)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
swift build -c release --product baton
baton=.build/release/baton
$baton migrate
$baton worker --queue default --concurrency 2 --log-level warning &
worker=$!
trap 'kill -TERM $worker 2>/dev/null; wait $worker 2>/dev/null || true' EXIT
$baton enqueue demo --input '{"sleepMs": 300}' --wait
