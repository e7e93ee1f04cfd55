#!/usr/bin/env bash
# Set-up for a fresh clone: system tools the tests use, a venv in .venv, torch (CPU build) first, then the package
# with its extras. Safe to run again.
#
# Python packages install at the versions in constraints.txt, the set the suite last passed with, so that a release
# of a dependency cannot turn CI red between two changes of ours. To try the newest releases instead (and, when they
# pass, refresh the file with scripts/refresh_constraints.sh): SYNCTVA_UNPINNED=1 bash scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ] && { ! command -v espeak-ng >/dev/null || ! command -v chromium >/dev/null; }; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq espeak-ng chromium >/dev/null
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q torch==2.13.0
constraints=(-c constraints.txt)
[ "${SYNCTVA_UNPINNED:-0}" = 1 ] && constraints=()
.venv/bin/pip install -q "${constraints[@]}" -e ".[offline,space,dev]"
