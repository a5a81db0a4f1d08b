#!/usr/bin/env bash
# The console's browser suite: headless Chromium (Debian chromium + chromium-driver) driven by Selenium (PyPI, in a
# venv under .build-ui/) against a live `baton up` (API + worker in one process) on a throwaway PostgreSQL cluster.
# Tests: Tests/Console/test_console.py. Failures leave a screenshot and the page source in .build-ui/failures/.
#
#   scripts/console-test.sh [--skip-build] [--screenshots] [-k PATTERN]...   # --screenshots: (re)write docs/images/console-*.png;
#                                                                            # -k: only tests whose name matches (unittest)
#
# Stops the server and the cluster however it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
skip_build=false
screenshots=""
selection=()
while [ $# -gt 0 ]; do
  case "$1" in
    --skip-build) skip_build=true ;;
    --screenshots) screenshots=$root/docs/images ;;
    -k) selection+=(-k "$2"); shift ;;
    *) echo "console-test: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

missing=()
for p in chromium chromium-driver; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
venv=.build-ui/venv
selenium_version=4.51.0
if [ "$("$venv/bin/python" -c 'import selenium; print(selenium.__version__)' 2>/dev/null)" != "$selenium_version" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "selenium==$selenium_version"
fi
$skip_build || swift build --product baton
baton=$root/.build/debug/baton

work=$(mktemp -d /tmp/baton-console.XXXXXX)
chmod 755 "$work"
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  scripts/pg.sh stop "$work/pg"
  rm -rf "$work"
}
trap cleanup EXIT
export DATABASE_URL=$(scripts/pg.sh start "$work/pg")
export BATON_LOG_LEVEL=warning
mkdir -p "$work/workflows" "$work/artifacts"
cp workflows/*.yaml Tests/Console/workflows/*.yaml "$work/workflows/"
export BATON_WORKFLOWS=$work/workflows

"$baton" migrate >/dev/null
export CONSOLE_ADMIN_TOKEN=$("$baton" tokens create console-admin --role admin 2>/dev/null)
export CONSOLE_OPERATOR_TOKEN=$("$baton" tokens create console-operator --role operator 2>/dev/null)
export CONSOLE_VIEWER_TOKEN=$("$baton" tokens create console-viewer --role viewer 2>/dev/null)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# The worker offers codex, git and github (the default); its preflight fails the ones this machine cannot prove, which
# the workers page shows with their fixes. The console's workflows need none of them.
"$baton" up --port "$port" --artifacts "$work/artifacts" --concurrency 4 >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 600); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
  sleep 0.1
done
export CONSOLE_URL=http://127.0.0.1:$port CONSOLE_ARTIFACTS=$work/artifacts CONSOLE_SCREENSHOTS=$screenshots
mkdir -p .build-ui
status=0
"$venv/bin/python" Tests/Console/test_console.py "${selection[@]}" || status=$?
if [ $status -ne 0 ]; then
  echo "console-test: server log (last 40 lines):" >&2
  tail -40 "$work/server.log" >&2
fi
exit $status
