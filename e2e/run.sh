#!/usr/bin/env bash
# The end-to-end test on a real chain (part of the project's test command).
#   e2e/run.sh
# Builds (or reuses from ~/.cache/switchyard-e2e) real simd binaries and cosmovisor from the Go module
# proxy, builds switchyard (cargo build --release) unless SWITCHYARD_BIN is set, then on a real
# single-validator chain on 127.0.0.1:
#   1. switchyard: governance upgrade with the binary auto-downloaded while the proposal is in voting
#      (staged + preflighted before it passes, no download at the halt), then a manual upgrade at a
#      height with no plan to a patched build;
#   2. the same governance upgrade under cosmovisor (pre-placed, and auto-download at the halt).
# Prints one line per check and ends with "e2e: N passed, M failed"; exits non-zero on any failure.
# Every process it starts is stopped on exit, also on failure or Ctrl-C.
# Env: SWITCHYARD_BIN, E2E_SKIP_COSMOVISOR=1, E2E_KEEP=1 (keep work dirs), SWITCHYARD_E2E_CACHE.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

t0=$(date +%s)
e2e_binaries
e2e_switchyard
results="$E2E_RUN_DIR/results.jsonl"
: >"$results"

e2e_log "scenario: switchyard, pre-staged during voting, + manual upgrade at a height"
e2e_scenario "$results" --supervisor switchyard --mode prestage --manual
if [ "${E2E_SKIP_COSMOVISOR:-0}" != 1 ]; then
  e2e_log "scenario: cosmovisor, pre-placed binary"
  e2e_scenario "$results" --supervisor cosmovisor --mode preplaced
  e2e_log "scenario: cosmovisor, auto-download at the halt"
  e2e_scenario "$results" --supervisor cosmovisor --mode download
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
    tag = f"{r.get('supervisor', '?')}/{r.get('mode', '?')}"
    extra = f" downtime {r['downtime_s']}s, supervisor peak RSS {r.get('supervisor_peak_rss_kb', 0) // 1024} MiB" if r.get("downtime_s") is not None else ""
    print(f"  {tag}: {r.get('passed', 0)} passed, {r.get('failed', 0)} failed{extra}" + (f"; log {r['log']}" if r.get("failed") and r.get("log") else ""), file=sys.stderr)
    for x in r.get("failures", []):
        print(f"    FAILED: {x}", file=sys.stderr)
print(p, f)
PY
)
read -r passed failed <<<"$summary"
e2e_log "done in $(( $(date +%s) - t0 ))s"
[ -z "$passed" ] && { passed=0; failed=1; }
[ "$passed" = 0 ] && [ "$failed" = 0 ] && failed=1
echo "e2e: $passed passed, $failed failed"
[ "$failed" = 0 ]
