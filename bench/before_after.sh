#!/bin/bash
# Time the modeling file of an earlier commit (default d56f737, before the hot-path fixes) against the working tree:
# the same sections, alternated twice so that both see the same machine load.
#   bash bench/before_after.sh [COMMIT] [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:-d56f737}
out=${2:-bench/results}
python=${PYTHON:-python}
before=$(mktemp -d)
trap 'rm -rf "$before"' EXIT
git archive "$base" modeling_synctva | tar -x -C "$before"
mkdir -p "$out"
for round in 1 2; do
  PYTHONPATH="$before" "$python" bench/bench.py --no-baselines --sections train,infer,scaling \
    --json "$out/before_hot_path_fixes_$round.json"
  "$python" bench/bench.py --no-baselines --sections train,infer,scaling --json "$out/after_hot_path_fixes_$round.json"
done
