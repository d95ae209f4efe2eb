#!/usr/bin/env bash
# Runs every test switchyard has, from a fresh clone: format and lint checks, unit, property and
# integration tests (fake nodes and a fake chain on 127.0.0.1), a short coverage-guided fuzz run,
# then the end-to-end upgrades of real Cosmos SDK chains (e2e/run.sh: our chaind on SDK v0.50.9,
# v0.53.8 and v0.54.4 and cosmovisor v1.5.0, and the older simd v0.45.16 -> v0.46.16 pair, built
# from the Go module proxy and cached in ~/.cache/switchyard-e2e; see e2e/README.md).
#
# The fuzz run: of every decoder of untrusted input (scripts/fuzz.sh,
# FUZZ_SECONDS each, two at a time; installs cargo-fuzz if missing; any finding fails).
#
#   scripts/test.sh             everything
#   SKIP_E2E=1 scripts/test.sh  everything but the real-chain run
#   SKIP_FUZZ=1 scripts/test.sh everything but the fuzz run
#   E2E_LEGACY=0 scripts/test.sh everything but the older simd v0.45 -> v0.46 pair
#   FUZZ_SECONDS=120 scripts/test.sh  a longer fuzz run (default 60 s per target)
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s\n' "$*"; }

# What the tests need beyond Rust and Go: python3 (fake node RPC, e2e driver), curl, libfaketime
# (the crash-loop clock test), Debian's prometheus (the server and promtool: the metrics and
# alert-rule tests), python3-yaml (the Kubernetes example's check) and patchelf (the e2e build).
need=()
command -v python3 >/dev/null || need+=(python3)
command -v curl >/dev/null || need+=(curl)
[ -f /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 ] || need+=(faketime)
{ command -v prometheus && command -v promtool; } >/dev/null || need+=(prometheus)
python3 -c 'import yaml' 2>/dev/null || need+=(python3-yaml)
# patchelf: the e2e build moves wasmd's libwasmvm out of the Go module cache and sets its run path
[ "${SKIP_E2E:-0}" = "1" ] || command -v patchelf >/dev/null || need+=(patchelf)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  apt-get update -qq && apt-get install -y -qq "${need[@]}"
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true

# The real chains' binaries (Go, from the module proxy; cached in ~/.cache/switchyard-e2e) build
# in the background while the Rust steps run: on a fresh machine they are the longest step.
go_builds=""
# The older simd pair is part of the test command while the CI budget holds (e2e/README.md, Budget);
# build-binaries.sh and run.sh both read this.
export E2E_LEGACY="${E2E_LEGACY:-1}"
if [ "${SKIP_E2E:-0}" != "1" ]; then
  mkdir -p target
  log "building the e2e node binaries in the background (log: target/e2e-build.log)"
  # Its own process group, so a failing run stops the Go builds too, not only the script.
  setsid nice -n 5 e2e/build-binaries.sh >target/e2e-build.log 2>&1 &
  go_builds=$!
  trap '[ -n "$go_builds" ] && kill -- "-$go_builds" 2>/dev/null || true' EXIT
fi
build_start=$SECONDS
# Disk: the whole run needs about 10 GiB at its peak (cargo's target/ with the fuzz build, the Go
# builds of one family at a time, the e2e's chain homes); say what there is, for a failed run's log.
disk() { df -h --output=avail,target . | tail -1 | awk '{ print $1 " free on " $2 }'; }
log "disk: $(disk)"
# No incremental compilation: a run from a clean checkout gains nothing from it, and it adds 2 GiB.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

log "cargo test"
cargo test --workspace --locked
echo "   disk: $(disk)"

if [ "${SKIP_FUZZ:-0}" != "1" ]; then
  log "fuzz: ${FUZZ_SECONDS:-60}s of each target (scripts/fuzz.sh)"
  fuzz_start=$SECONDS
  scripts/fuzz.sh "${FUZZ_SECONDS:-60}"
  echo "   fuzz step took $((SECONDS - fuzz_start))s"
fi

if [ "${SKIP_E2E:-0}" != "1" ]; then
  log "waiting for the e2e node binaries"
  if ! wait "$go_builds"; then
    go_builds=""
    tail -40 target/e2e-build.log >&2
    echo "building the e2e node binaries failed (target/e2e-build.log)" >&2
    exit 1
  fi
  go_builds=""
  echo "   node binaries ready $((SECONDS - build_start))s after the start; disk: $(disk)"
  log "end-to-end: real chains (SDK v0.50/v0.53/v0.54, and v0.45/v0.46 unless E2E_LEGACY=0) through governance and manual upgrades"
  cargo build --release --locked --bin switchyard
  # The crash tests' fault injection is compiled into test builds only (src/test_faults.rs).
  if grep -qa SWITCHYARD_TEST_FAULT target/release/switchyard; then
    echo "the release binary knows SWITCHYARD_TEST_FAULT: fault injection leaked into it" >&2
    exit 1
  fi
  SWITCHYARD_BIN="$PWD/target/release/switchyard" e2e/run.sh
fi

log "all passed in $((SECONDS / 60)) min $((SECONDS % 60)) s"
