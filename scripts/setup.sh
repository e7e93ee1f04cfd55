#!/usr/bin/env bash
# Set-up for a fresh clone: system tools the tests use, a venv in .venv, torch (CPU build) first, then the package
# with its extras. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ] && { ! command -v espeak-ng >/dev/null || ! command -v chromium >/dev/null; }; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq espeak-ng chromium >/dev/null
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q torch==2.13.0
.venv/bin/pip install -q -e ".[offline,space,dev]"
