#!/usr/bin/env bash
# The end-to-end test on real chains (part of the project's test command).
#   e2e/run.sh
# Builds (or reuses from ~/.cache/switchyard-e2e) our own chain daemon e2e/chaind for SDK v0.50.9,
# v0.53.8 and v0.54.4, wasmd v0.55.1, v0.60.8 and v0.61.14, and cosmovisor v1.5.0 from the Go
# module proxy, builds switchyard (cargo build --release) unless SWITCHYARD_BIN is set, then on real
# single-validator chains on 127.0.0.1:
#   1. facts: `start --halt-height N` on each SDK line, checked against the halt-height table in docs/node-facts.md;
#   2. switchyard, one chain through every kind of swap: manual upgrade on v0.50.9 (its halt-height
#      commits the block), governance upgrade v050-to-v053 pre-staged during the vote, manual
#      upgrade on v0.53 (known SDK), manual upgrade from a binary whose SDK version cannot be told,
#      governance upgrade v053-to-v054 with switchyard SIGKILLed while the old binary sits halted;
#   3. a wasmd node's life under switchyard (CosmWasm's wasmd v0.55.1 -> v0.60.8 by its own "v0.60"
#      governance upgrade, its plan info empty and the binary staged during the vote from a
#      chain-registry file; switchyard restarted; manual
#      upgrade to v0.61.14; a SIGSTOP stall restarted once), wasmd's v0.60 with the binary pre-placed,
#      and with a served binary that cannot start here (refused at preflight, held at the halt, fixed);
#   4. cosmovisor on the v050-to-v053 and wasmd v0.60 governance upgrades (pre-placed, and
#      auto-download at the halt);
#   5. with E2E_LEGACY=1: the older simd v0.45.16 -> v0.46.16 pair (switchyard + cosmovisor).
# Prints one line per check and ends with "e2e: N passed, M failed"; exits non-zero on any failure.
# Every process it starts is stopped on exit, also on failure or Ctrl-C.
# Env: SWITCHYARD_BIN, E2E_SKIP_COSMOVISOR=1, E2E_SKIP_FACTS=1, E2E_LEGACY=1, E2E_KEEP=1 (keep work
# dirs), SWITCHYARD_E2E_CACHE, E2E_UPGRADE_OFFSET, E2E_VOTING_PERIOD, E2E_TIMEOUT_COMMIT.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

t0=$(date +%s)
e2e_binaries
e2e_switchyard
results="$E2E_RUN_DIR/results.jsonl"
: >"$results"
keep=()
[ "${E2E_KEEP:-0}" = 1 ] && keep=(--keep)

t1=$(date +%s)
if [ "${E2E_SKIP_FACTS:-0}" != 1 ]; then
  e2e_log "facts: start --halt-height N on each SDK line"
  e2e_py "$results" facts "${keep[@]}"
fi
e2e_log "scenario: switchyard, one chain through every kind of swap"
e2e_py "$results" chain "${keep[@]}"
e2e_log "scenario: switchyard, a wasmd node's life (gov v0.60 staged in the vote, restart, manual v0.61, stall)"
e2e_py "$results" life "${keep[@]}"
e2e_log "scenario: switchyard, wasmd v0.60 whose binary cannot start on this host (libwasmvm not found)"
e2e_py "$results" unstartable "${keep[@]}"
e2e_log "scenario: switchyard, wasmd v0.60, pre-placed binary, then a manual upgrade to v0.61.14 on that chain"
e2e_scenario "$results" --pair wasmd --supervisor switchyard --mode preplaced --manual "${keep[@]}"
if [ "${E2E_SKIP_COSMOVISOR:-0}" != 1 ]; then
  e2e_log "scenario: cosmovisor, v050-to-v053, pre-placed binary"
  e2e_scenario "$results" --pair chaind --supervisor cosmovisor --mode preplaced "${keep[@]}"
  e2e_log "scenario: cosmovisor, v050-to-v053, auto-download at the halt"
  e2e_scenario "$results" --pair chaind --supervisor cosmovisor --mode download "${keep[@]}"
  e2e_log "scenario: cosmovisor, wasmd v0.60, pre-placed binary"
  e2e_scenario "$results" --pair wasmd --supervisor cosmovisor --mode preplaced "${keep[@]}"
  e2e_log "scenario: cosmovisor, wasmd v0.60, auto-download at the halt"
  e2e_scenario "$results" --pair wasmd --supervisor cosmovisor --mode download "${keep[@]}"
fi
if [ "${E2E_LEGACY:-0}" = 1 ]; then
  e2e_log "scenario: legacy pair simd v0.45.16 -> v0.46.16, switchyard pre-staged + manual upgrade"
  e2e_scenario "$results" --pair simd --supervisor switchyard --mode prestage --manual "${keep[@]}"
  if [ "${E2E_SKIP_COSMOVISOR:-0}" != 1 ]; then
    e2e_log "scenario: legacy pair, cosmovisor pre-placed"
    e2e_scenario "$results" --pair simd --supervisor cosmovisor --mode preplaced "${keep[@]}"
  fi
fi

summary=$(python3 - "$results" <<'PY'
import json, sys
p = f = 0
for line in open(sys.argv[1]):
    line = line.strip()
    if not line.startswith("{"):
        continue
    r = json.loads(line)
    p += r.get("passed", 0); f += r.get("failed", 0)
    tag = r.get("scenario") or f"{r.get('supervisor', '?')}/{r.get('mode', '?')}"
    extra = f" downtime {r['downtime_s']}s" if r.get("downtime_s") is not None else ""
    if r.get("supervisor_peak_rss_kb"):
        extra += f", supervisor peak RSS {r['supervisor_peak_rss_kb'] // 1024} MiB"
    if r.get("elapsed_s") is not None:
        extra += f" [{r['elapsed_s']}s]"
    print(f"  {tag}: {r.get('passed', 0)} passed, {r.get('failed', 0)} failed{extra}"
          + (f"; log {r['log']}" if r.get("failed") and r.get("log") else ""), file=sys.stderr)
    for x in r.get("failures", []):
        print(f"    FAILED: {x}", file=sys.stderr)
print(p, f)
PY
)
read -r passed failed <<<"$summary"
e2e_log "done in $(( $(date +%s) - t0 ))s (node binaries ${E2E_BUILD_S}s, scenarios $(( $(date +%s) - t1 ))s)"
[ -z "$passed" ] && { passed=0; failed=1; }
[ "$passed" = 0 ] && [ "$failed" = 0 ] && failed=1
# A run that exited non-zero counts once more: its failed checks (if it printed any) are above.
for r in "${E2E_FAILED_RUNS[@]}"; do
  echo "  FAILED: $r (its output is above)" >&2
  failed=$((failed + 1))
done
echo "e2e: $passed passed, $failed failed (${#E2E_FAILED_RUNS[@]} of them e2e.py runs that exited non-zero)"
[ "$failed" = 0 ]
