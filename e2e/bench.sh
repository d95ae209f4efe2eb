#!/usr/bin/env bash
# Side-by-side upgrade downtime and supervisor memory, switchyard vs cosmovisor, on a real chain:
# the governance upgrade v050-to-v053 of our chaind, v0.50.9 -> v0.53.8 (E2E_BENCH_PAIR=simd: the
# older simd v0.45.16 -> v0.46.16 pair, which needs E2E_LEGACY=1).
#   e2e/bench.sh [RUNS]      (default 3 runs of each of the nine rows)
#   E2E_BENCH_ROWS="floor:preplaced switchyard:prestage" e2e/bench.sh 12   only these rows (more
#                            runs of fewer rows, to resolve a few milliseconds between them)
# Writes bench/downtime.md (medians, ratios, machine) and bench/downtime.jsonl (raw, one run a line)
# into ${E2E_BENCH_OUT:-<repo>/bench}.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
runs=${1:-3}
e2e_binaries
e2e_switchyard
results="$E2E_RUN_DIR/bench.jsonl"
# a release server's pace for the real binary, and a 5 ms downtime poll (the 20 ms goal needs it)
export E2E_DOWNLOAD_MBPS="${E2E_DOWNLOAD_MBPS:-20}" E2E_WATCH_PERIOD="${E2E_WATCH_PERIOD:-0.005}"
: >"$results"
for i in $(seq 1 "$runs"); do
  for row in ${E2E_BENCH_ROWS:-floor:preplaced floor:preupgrade switchyard:preplaced cosmovisor:preplaced \
             switchyard:prestage switchyard:prestage-listen cosmovisor:download floor:download switchyard:download}; do
    set -- ${row/:/ }
    e2e_log "run $i/$runs: $1 $2"
    e2e_scenario "$results" --pair "${E2E_BENCH_PAIR:-chaind}" --supervisor "$1" --mode "$2"
  done
done
out="${E2E_BENCH_OUT:-$REPO_DIR/bench}"
mkdir -p "$out"
cp "$results" "$out/downtime.jsonl"
python3 "$E2E_DIR/e2e.py" report --results "$results" --out "$out/downtime.md" --runs "$runs"
