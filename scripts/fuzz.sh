#!/usr/bin/env bash
# Coverage-guided fuzzing of every decoder of untrusted input (fuzz/, cargo-fuzz + libFuzzer).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]   run each target SECONDS (default 300), two at a time
#   FUZZ_JOBS=1 scripts/fuzz.sh 60          one at a time
#   FUZZ_SANITIZER=address scripts/fuzz.sh  build with AddressSanitizer (slower; default: none,
#                                           the code under test is safe Rust, panics are what we hunt)
#
# All targets are built once, then run from a scratch corpus (fuzz/corpus/<target>, not committed)
# seeded from fuzz/seeds/<target> (real fixtures) and fuzz/regressions/<target> (past findings).
# Any crash, panic, timeout or out-of-memory fails the script, with the input left in
# fuzz/artifacts/<target>/; copy it into fuzz/regressions/<target>/ so `cargo test` replays it.
# Installs cargo-fuzz if it is missing; the stable toolchain is used with RUSTC_BOOTSTRAP=1 for
# the -Z flags cargo-fuzz passes.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds=${1:-300}
shift || true
jobs=${FUZZ_JOBS:-2}
sanitizer=${FUZZ_SANITIZER:-none}
export RUSTC_BOOTSTRAP=1

if ! command -v cargo-fuzz >/dev/null; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list)
fi

echo "== building ${#targets[@]} fuzz targets (sanitizer: $sanitizer)"
build_start=$SECONDS
cargo fuzz build -O -s "$sanitizer"
echo "   built in $((SECONDS - build_start))s"

logs=$(mktemp -d)
run_one() {
  local t=$1
  local corpus="corpus/$t"
  mkdir -p "$corpus" "artifacts/$t"
  local seeds=()
  [ -d "seeds/$t" ] && seeds+=("seeds/$t")
  [ -d "regressions/$t" ] && seeds+=("regressions/$t")
  # -rss_limit_mb: a decoder that allocates without bound is a finding too.
  cargo fuzz run -O -s "$sanitizer" "$t" "$corpus" "${seeds[@]}" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=262144 \
    -print_final_stats=1 -artifact_prefix="artifacts/$t/" >"$logs/$t.log" 2>&1
}

declare -A status
running=()
for t in "${targets[@]}"; do
  run_one "$t" &
  running+=("$!:$t")
  if [ ${#running[@]} -ge "$jobs" ]; then
    first=${running[0]}
    running=("${running[@]:1}")
    if wait "${first%%:*}"; then status[${first#*:}]=ok; else status[${first#*:}]=FAILED; fi
  fi
done
for r in "${running[@]}"; do
  if wait "${r%%:*}"; then status[${r#*:}]=ok; else status[${r#*:}]=FAILED; fi
done

echo "== results (${seconds}s each)"
failed=0
for t in "${targets[@]}"; do
  log="$logs/$t.log"
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || echo "?")
  corpus=$(find "corpus/$t" -type f | wc -l)
  printf '   %-18s %-6s %10s execs  cov %-6s corpus %s\n' "$t" "${status[$t]}" "$execs" "$cov" "$corpus"
  if [ "${status[$t]}" != ok ]; then
    failed=1
    echo "---- $t: last lines of its log"
    tail -40 "$log"
    ls -1 "artifacts/$t" | sed 's/^/   finding: fuzz\/artifacts\/'"$t"'\//'
  fi
done
rm -rf "$logs"
exit $failed
