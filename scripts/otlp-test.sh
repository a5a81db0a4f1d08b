#!/usr/bin/env bash
# The OTLP trace exporter (SwiftPM trait OTLP, off in the default build: swift-otel roughly doubles a fresh build;
# docs/operations.md, "Traces"): builds Baton with the trait into .build-otlp and runs the trace suites there,
# including `TraceExportProcessTests`, which only exists in that build: `baton up` exporting over OTLP/HTTP (protobuf
# and JSON) to a stand-in collector (Tests/Fixtures/otlp_collector.py). Starts a throwaway PostgreSQL cluster unless
# DATABASE_URL is given, and stops it however the run ends. Called by .ci/run so that the `#if OTLP` code cannot rot.
#
#   scripts/otlp-test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
if [ -z "${DATABASE_URL:-}" ]; then
  cluster=$(mktemp -d /tmp/baton-otlp-pg.XXXXXX)
  chmod 755 "$cluster"
  trap 'scripts/pg.sh stop "$cluster"; rm -rf "$cluster"' EXIT
  export DATABASE_URL=$(scripts/pg.sh start "$cluster")
fi
swift build --build-tests --traits OTLP --scratch-path .build-otlp
log=$(mktemp /tmp/baton-otlp-test.XXXXXX)
set +e
timeout --kill-after=30 900 stdbuf -oL -eL swift test --skip-build --traits OTLP --scratch-path .build-otlp --filter 'Trace' 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# The filter must have found the exporter's end-to-end suite: a build without the trait would pass without it.
if [ "$status" -eq 0 ] && ! grep -q 'Suite "Trace export" passed' "$log"; then
  echo "otlp-test: the \"Trace export\" suite did not run; was the OTLP trait applied?" >&2
  status=1
fi
rm -f "$log"
exit "$status"
