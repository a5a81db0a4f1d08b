#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what it needs, starts a throwaway PostgreSQL cluster
# (unless DATABASE_URL is given), runs `swift test`, the API fuzz pass and the console's browser suite, and stops the cluster even when tests fail.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
if [ -z "${DATABASE_URL:-}" ]; then
  cluster=$(mktemp -d /tmp/baton-test-pg.XXXXXX)
  chmod 755 "$cluster"
  trap 'scripts/pg.sh stop "$cluster"; rm -rf "$cluster"' EXIT
  export DATABASE_URL=$(scripts/pg.sh start "$cluster")
fi
swift build --build-tests "$@"
# deploy/: systemd-analyze verify on the units, hadolint on the Containerfile (docs/operations.md, "Install").
scripts/verify-deploy.sh
# A hung test must not eat CI's whole budget.
timeout --kill-after=30 1800 swift test --skip-build "$@"
# The crash soak, short version (200 runs, 30 s of SIGKILLs; about a minute): nothing lost, nothing recorded twice,
# nothing quarantined. The long one is in docs/benchmarks.md.
timeout --kill-after=30 420 scripts/soak.sh --skip-build --runs 200 --kill-for 30
# The API fuzz pass (schemathesis against docs/openapi.yaml; about 15 s once installed). See docs/api.md.
timeout --kill-after=30 600 scripts/fuzz-api.sh --skip-build
# docs/alerts.yml: promtool check/test rules, and a real Prometheus scraping `baton serve` until a stall alert fires
# and resolves (installs Debian's prometheus; under a minute once installed). See docs/operations.md, "Alerts".
timeout --kill-after=30 600 scripts/alerts-test.sh --skip-build
# The console in headless Chromium (installs chromium, chromium-driver and selenium; about 2 min). See docs/console.md.
timeout --kill-after=30 900 scripts/console-test.sh --skip-build
