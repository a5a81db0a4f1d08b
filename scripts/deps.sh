#!/usr/bin/env bash
# Installs the Debian packages Baton builds and runs with, when any is missing.
set -euo pipefail
# bubblewrap: the coding agent's sandbox (BATON_AGENT_SANDBOX=bubblewrap, the default; docs/spec-workflow.md).
packages=(libpq-dev libgit2-dev libcurl4-openssl-dev postgresql pkg-config python3 python3-venv git bubblewrap)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
