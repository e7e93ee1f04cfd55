#!/bin/bash
# Time the modeling file of an earlier commit (default d56f737, before the hot-path fixes) against the working tree:
# the same sections (SECTIONS, default train,infer,scaling), alternated twice so that both see the same machine load.
# Each side runs its own default SyncTVAConfig. COMPILE=1 also times the compiled model and streamer.
#   [SECTIONS=infer,stream] [COMPILE=1] bash bench/before_after.sh [COMMIT] [OUT_DIR] [NAME]
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:-d56f737}
out=${2:-bench/results}
name=${3:-hot_path_fixes}
sections=${SECTIONS:-train,infer,scaling}
compile=--no-compile
[ "${COMPILE:-0}" = 1 ] && compile=
python=${PYTHON:-python}
before=$(mktemp -d)
trap 'rm -rf "$before"' EXIT
git archive "$base" modeling_synctva | tar -x -C "$before"
mkdir -p "$out"
for round in 1 2; do
  PYTHONPATH="$before" "$python" bench/bench.py --no-baselines $compile --sections "$sections" --json "$out/before_${name}_$round.json"
  "$python" bench/bench.py --no-baselines $compile --sections "$sections" --json "$out/after_${name}_$round.json"
done
