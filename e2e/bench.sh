#!/usr/bin/env bash
# Side-by-side upgrade downtime and supervisor memory, switchyard vs cosmovisor, on a real chain.
#   e2e/bench.sh [RUNS]      (default 3 runs of each of the five rows)
# Writes bench/downtime.md (medians, ratios, machine) and bench/downtime.jsonl (raw, one run a line).
set -uo pipefail
source "$(dirname "$0")/lib.sh"
runs=${1:-3}
e2e_binaries
e2e_switchyard
results="$E2E_RUN_DIR/bench.jsonl"
: >"$results"
for i in $(seq 1 "$runs"); do
  for row in "switchyard preplaced" "cosmovisor preplaced" "switchyard prestage" "cosmovisor download" \
             "switchyard download"; do
    set -- $row
    e2e_log "run $i/$runs: $1 $2"
    e2e_scenario "$results" --supervisor "$1" --mode "$2"
  done
done
mkdir -p "$REPO_DIR/bench"
cp "$results" "$REPO_DIR/bench/downtime.jsonl"
python3 "$E2E_DIR/e2e.py" report --results "$results" --out "$REPO_DIR/bench/downtime.md" --runs "$runs"
