#!/usr/bin/env bash
# Baton's main job on a fresh machine: a spec run end to end, on the embedded PostgreSQL (var/postgres) unless
# DATABASE_URL is set. It creates a sample Spec Kit repository behind a local bare remote (var/demo/remotes),
# starts the GitHub API stand-in (scripts/standins/github_api.py, state in var/demo), and runs
# discover → submit → publish with the real `codex` when it is installed and logged in, else with the clearly
# labelled stand-in agent (scripts/standins/codex). Run it again: the same branch and pull request are updated.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
scripts/deps.sh
swift build -c release --product baton
baton=.build/release/baton
demo=var/demo
mkdir -p "$demo"

# 1. A sample Spec Kit repository, pushed to a local bare remote (once).
remote="$demo/remotes/acme/photo-app.git"
if [ ! -d "$remote" ]; then
  seed=$(mktemp -d)
  mkdir -p "$seed/specs/001-photo-albums" "$seed/.specify"
  printf '# Photo app\n' > "$seed/README.md"
  printf '# Feature Specification: Photo albums\n\nUsers group photos into albums.\n' > "$seed/specs/001-photo-albums/spec.md"
  cat > "$seed/specs/001-photo-albums/tasks.md" <<'TASKS'
# Tasks: Photo albums

## Phase 1: Setup

- [x] T001 Create project structure per implementation plan
- [x] T002 [P] Configure linting and formatting

## Phase 2: Foundational

- [ ] T003 [P] [US1] Album model in src/models/album.py
- [ ] T004 [P] [US1] Photo model in src/models/photo.py
- [ ] T005 [US1] Album service in src/services/albums.py

## Phase 3: User Story 2 - Share an album

- [ ] T006 [US2] Share link endpoint in src/api/share.py
TASKS
  printf '{"feature_directory": "specs/001-photo-albums"}\n' > "$seed/.specify/feature.json"
  git init -q --bare -b main "$remote"
  git -C "$seed" init -q -b main
  git -C "$seed" add -A
  git -C "$seed" -c user.name=Demo -c user.email=demo@example.com commit -qm "Spec Kit feature 001-photo-albums"
  git -C "$seed" push -q "$root/$remote" main
  rm -rf "$seed"
fi

# 2. The GitHub REST API stand-in on loopback (pull requests persist in var/demo/github-state.json).
token="demo-token-for-the-local-stand-in"
fifo=$(mktemp -u) && mkfifo "$fifo"
python3 scripts/standins/github_api.py "$token" "$demo/github-state.json" > "$fifo" &
github=$!
read -r port < "$fifo"; rm -f "$fifo"

# 3. The agent: the real Codex CLI when it is installed and logged in, else the stand-in.
if command -v codex > /dev/null && codex login status > /dev/null 2>&1; then
  agent=codex
  echo "agent: the real Codex CLI ($(codex --version 2>/dev/null | head -1))"
else
  agent="$root/scripts/standins/codex"
  echo "agent: STAND-IN (scripts/standins/codex writes Codex-format JSONL and edits files; it is not Codex)"
fi

# The Spec Kit CLI: the real `specify` when installed, else its stand-in (preflight requires one for codex work).
if command -v specify > /dev/null; then specify=specify; else specify="$root/scripts/standins/specify"; fi

export BATON_GIT_URL_TEMPLATE="$root/$demo/remotes/{owner}/{name}.git"
export BATON_GITHUB_API="http://127.0.0.1:$port" BATON_GITHUB_TOKEN="$token" BATON_CODEX_COMMAND="$agent"
export BATON_SPECIFY_COMMAND="$specify" BATON_REPOSITORIES=acme/photo-app

$baton migrate
echo "preflight:"
$baton preflight | sed 's/^/  /'
$baton worker --queue default --concurrency 2 --log-level warning --require-preflight &
worker=$!
trap 'kill -TERM $worker 2>/dev/null; wait $worker 2>/dev/null || true; kill $github 2>/dev/null || true' EXIT
$baton enqueue spec --repository acme/photo-app --feature-key 001-photo-albums --wait

echo "pull requests on the GitHub stand-in for acme/photo-app:"
python3 - "$port" "$token" <<'PY'
import json, sys, urllib.request
request = urllib.request.Request(f"http://127.0.0.1:{sys.argv[1]}/repos/acme/photo-app/pulls?state=open", headers={"Authorization": f"Bearer {sys.argv[2]}"})
for p in json.load(urllib.request.urlopen(request)):
    print(f"  #{p['number']} {p['title']} ({p['head']['ref']} -> {p['base']['ref']}) {p['html_url']}")
PY
echo "branch on the remote: $(git --git-dir "$remote" log -1 --format='%h %s' baton/001-photo-albums)"
echo "see it in the console: make console, then open http://127.0.0.1:8080/ (docs/console.md)"
