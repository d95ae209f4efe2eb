# Shared by e2e/run.sh and e2e/bench.sh: a per-run temp dir, cleanup of every process the run
# started (also on failure or Ctrl-C), the binaries (built or cached), and the switchyard binary.
# shellcheck shell=bash
E2E_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$E2E_DIR/.." && pwd)"
E2E_RUN_DIR="$(mktemp -d "${TMPDIR:-/tmp}/switchyard-e2e-run.XXXXXX")"
export TMPDIR="$E2E_RUN_DIR"   # every work dir of this run lives under here
E2E_PIDS=()

e2e_log() { echo "[e2e $(date -u +%H:%M:%S)] $*" >&2; }

e2e_cleanup() {
  local rc=$?
  local p
  for p in "${E2E_PIDS[@]}"; do
    kill -TERM "$p" 2>/dev/null || true
  done
  sleep 0.5
  # Anything still running from this run: its command line or DAEMON_HOME is under our run dir.
  local d cmd envs
  for d in /proc/[0-9]*; do
    p=${d#/proc/}
    [ "$p" = "$$" ] && continue
    cmd=$( { tr '\0' ' ' <"$d/cmdline"; } 2>/dev/null) || continue
    envs=$( { tr '\0' '\n' <"$d/environ"; } 2>/dev/null | grep -m1 "^DAEMON_HOME=$E2E_RUN_DIR" || true)
    if [[ $cmd == *"$E2E_RUN_DIR"* || -n $envs ]]; then
      kill -KILL "$p" 2>/dev/null || true
    fi
  done
  if [ "${E2E_KEEP:-0}" != 1 ] && [ "$rc" = 0 ]; then rm -rf "$E2E_RUN_DIR"; fi
  [ "$rc" != 0 ] && e2e_log "work dirs and node logs kept in $E2E_RUN_DIR"
  return $rc
}
trap e2e_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

e2e_binaries() {
  local envs t0
  t0=$(date +%s)
  envs=$("$E2E_DIR/build-binaries.sh" --env) || { e2e_log "building the node binaries failed"; exit 1; }
  eval "$envs"
  E2E_BUILD_S=$(( $(date +%s) - t0 ))
  e2e_log "node binaries ready in ${E2E_BUILD_S}s"
}

e2e_switchyard() {
  if [ -n "${SWITCHYARD_BIN:-}" ]; then
    E2E_GIVEN_BIN=1
    [ -x "$SWITCHYARD_BIN" ] || { e2e_log "SWITCHYARD_BIN=$SWITCHYARD_BIN is not executable"; exit 1; }
  else
    SWITCHYARD_BIN="$REPO_DIR/target/release/switchyard"
    e2e_log "building switchyard (cargo build --release)"
    (cd "$REPO_DIR" && nice -n 10 cargo build --release --quiet --bin switchyard) \
      || { e2e_log "cargo build --release failed"; exit 1; }
  fi
  local profile="built from this checkout with cargo build --release"
  [ -n "${E2E_GIVEN_BIN:-}" ] && profile="given as SWITCHYARD_BIN=$SWITCHYARD_BIN"
  local dirty=""
  [ -n "$(git -C "$REPO_DIR" status --porcelain -- src crates Cargo.toml Cargo.lock 2>/dev/null)" ] \
    && dirty=" with uncommitted changes"
  export E2E_SWITCHYARD_DESC="$profile, commit $(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo '?')$dirty"
  # run a copy: a concurrent cargo build must not swap the binary under a running scenario
  cp "$SWITCHYARD_BIN" "$E2E_RUN_DIR/switchyard"
  export SWITCHYARD_BIN="$E2E_RUN_DIR/switchyard"
}

# e2e_py <results.jsonl> <e2e.py subcommand> <args...>: its JSON result lines go to results
# Every e2e.py run that exits non-zero is remembered in E2E_FAILED_RUNS: a scenario that crashes
# (a Python error before it printed its results) has no failed checks to count, yet must fail
# the e2e.
E2E_FAILED_RUNS=()
e2e_py() {
  local out=$1; shift
  python3 "$E2E_DIR/e2e.py" "$@" >>"$out" &
  E2E_PIDS+=($!)
  local rc=0
  wait $! || rc=$?
  [ "$rc" = 0 ] || E2E_FAILED_RUNS+=("e2e.py $1 (exit $rc)")
  return 0
}

# e2e_scenario <results.jsonl> <args to e2e.py scenario...>
e2e_scenario() {
  local out=$1; shift
  e2e_py "$out" scenario "$@"
}
