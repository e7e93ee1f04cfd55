#!/usr/bin/env bash
# Check the newest releases of every dependency and, when the suite passes with them, pin them in constraints.txt.
# Run it now and then (CI keeps installing the pinned set, so it stays reproducible meanwhile):
#   bash scripts/refresh_constraints.sh
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf .venv
SYNCTVA_UNPINNED=1 bash scripts/setup.sh
.venv/bin/mlinter modeling_synctva
.venv/bin/python -m pytest -q tests
# torch is installed by name first (its CPU build) and the package itself is ours: neither belongs in the pins.
.venv/bin/pip freeze --exclude-editable | grep -v -i '^torch==' > constraints.txt.tmp
mv constraints.txt.tmp constraints.txt
echo "constraints.txt refreshed: review 'git diff constraints.txt' and commit it"
