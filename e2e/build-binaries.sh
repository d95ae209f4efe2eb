#!/usr/bin/env bash
# Build the real node binaries the end-to-end harness needs, from the Go module proxy only
# (by module path and version; never from a cloned repository), cached between runs.
#
#   e2e/build-binaries.sh            build what is missing, print the paths (KEY=path lines)
#   e2e/build-binaries.sh --env      same, but print only `export KEY=path` lines (for eval)
#
# Cache: ${SWITCHYARD_E2E_CACHE:-~/.cache/switchyard-e2e}/<name>-<version>/bin/<binary>; a build is
# skipped when its directory holds a binary and a BUILD-OK stamp.
#
# What is built (override with the env vars in brackets):
#   simd-old    [SIMD_OLD_VERSION]  the chain's genesis binary
#   simd-new    [SIMD_NEW_VERSION]  the binary the governance upgrade moves to; its simapp registers
#                                   the upgrade handler named $UPGRADE_NAME, the old one does not
#   simd-patch  the new simd rebuilt with another version string (<new>-patch1): a state-compatible
#               stand-in for an emergency patch release, for the manual upgrade at a height
#   cosmovisor  [COSMOVISOR_VERSION] for the side-by-side comparison
#
# Which pair: the Go module proxy reachable from this workplace serves github.com/cosmos/cosmos-sdk
# v0.50.15 / v0.53.8 but not module cosmossdk.io/simapp at those tags' commits (every simapp version
# answers "403 This module version is not available"), and not cosmovisor v1.6.0/v1.7.x. So the
# default pair is the newest one whose simapp lives *inside* the SDK's root module: v0.45.16 -> v0.46.16,
# where v0.46's simapp registers the upgrade handler "v045-to-v046" (with store upgrades) and v0.45's
# does not; cosmovisor v1.5.0. When the proxy serves simapp, set SIMAPP_OLD_VERSION /
# SIMAPP_NEW_VERSION (pseudo-versions of cosmossdk.io/simapp at the SDK tags' commits) together with
# SIMD_OLD_VERSION / SIMD_NEW_VERSION=v0.50.x / v0.53.x and UPGRADE_NAME=v050-to-v053: the script then
# builds through a throwaway module that requires simapp at that commit, carries simapp's non-local
# replaces, turns its parent-folder replaces into requirements at the same commit, and (Go >= 1.26)
# bumps github.com/bytedance/sonic to >= v1.15 / loader >= v0.5.
set -euo pipefail

CACHE="${SWITCHYARD_E2E_CACHE:-$HOME/.cache/switchyard-e2e}"
SIMD_OLD_VERSION="${SIMD_OLD_VERSION:-v0.45.16}"
SIMD_NEW_VERSION="${SIMD_NEW_VERSION:-v0.46.16}"
SIMAPP_OLD_VERSION="${SIMAPP_OLD_VERSION:-}"
SIMAPP_NEW_VERSION="${SIMAPP_NEW_VERSION:-}"
COSMOVISOR_VERSION="${COSMOVISOR_VERSION:-v1.5.0}"
PATCH_SUFFIX="${PATCH_SUFFIX:--patch1}"
NICE="${E2E_NICE:-nice -n 10}"
SDK=github.com/cosmos/cosmos-sdk

OUT_ENV=0
[ "${1:-}" = "--env" ] && OUT_ENV=1

log() { echo "[build-binaries $(date -u +%H:%M:%S)] $*" >&2; }
die() { echo "[build-binaries] ERROR: $*" >&2; exit 1; }

command -v go >/dev/null || die "go is not installed (need Go >= 1.21 on PATH)"
command -v python3 >/dev/null || die "python3 is not installed"
mkdir -p "$CACHE"
# one build at a time per cache (two e2e runs started together would otherwise race)
exec 9>"$CACHE/.lock"
command -v flock >/dev/null && flock 9
export GOFLAGS="${GOFLAGS:-} -mod=mod"
export GOTOOLCHAIN=local

# Print the non-local replace directives of a go.mod as "old => new version" lines; parent-folder
# replaces ("=> ../x") are printed as "old => PARENT <rel>" so the caller can turn them into
# requirements at the same commit.
replaces_of() {
  python3 - "$1" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
text = re.sub(r'//[^\n]*', '', text)
lines = []
for block in re.findall(r'^replace\s*\((.*?)^\)', text, re.S | re.M):
    lines += block.splitlines()
lines += [m for m in re.findall(r'^replace\s+([^(\n][^\n]*)$', text, re.M)]
for l in lines:
    l = l.strip()
    if '=>' not in l:
        continue
    old, new = [p.strip() for p in l.split('=>', 1)]
    parts = new.split()
    if parts[0].startswith('.') or parts[0].startswith('/'):
        print(f"{old} => PARENT {parts[0]}")
    else:
        print(f"{old} => {new}")
PY
}

# Write a throwaway module in $1 that requires $2@$3 and carries the replaces from go.mod $4.
PARENT_GETS=()
make_throwaway() {
  local dir=$1 mod=$2 ver=$3 gomod=$4
  PARENT_GETS=()
  rm -rf "$dir"; mkdir -p "$dir"
  {
    echo "module switchyard.local/e2ebuild"
    echo
    echo "go 1.21"
    echo
    echo "require $mod $ver"
  } >"$dir/go.mod"
  local line old new
  while IFS= read -r line; do
    [ -z "$line" ] && continue
    old=${line%% => *}; new=${line#* => }
    old=${old%% *} # drop a version on the left-hand side
    if [[ $new == PARENT* ]]; then
      # simapp at commit C: "github.com/cosmos/cosmos-sdk => ../." becomes a requirement of that
      # module at the same commit: `go get module@<commit>` (collected in PARENT_GETS).
      PARENT_GETS+=("$old@${ver##*-}")
    else
      echo "replace $old => $new" >>"$dir/go.mod"
    fi
  done < <(replaces_of "$gomod")
}

# go build a main package from the throwaway module; $1 out dir, $2 throwaway dir, $3 package,
# $4 its module's version, $5 ldflags, $6.. extra "go get" arguments (dependency bumps).
go_build_into() {
  local out=$1 tdir=$2 pkg=$3 pkgver=$4 ldflags=$5; shift 5
  mkdir -p "$out/bin"
  (
    cd "$tdir"
    $NICE go get "$pkg@$pkgver" "$@" >"$tdir/get.log" 2>&1 || { tail -30 "$tdir/get.log" >&2; exit 1; }
    CGO_ENABLED=1 $NICE go build -trimpath -ldflags "$ldflags" -o "$out/bin/$(basename "$pkg")" "$pkg" \
      >"$tdir/build.log" 2>&1 || { tail -40 "$tdir/build.log" >&2; exit 1; }
  )
}

sonic_bump() {
  # Go >= 1.26 needs github.com/bytedance/sonic >= v1.15 (and its loader >= v0.5) where sonic is used.
  local gomod=$1
  if grep -q 'github.com/bytedance/sonic ' "$gomod" 2>/dev/null; then
    echo github.com/bytedance/sonic@v1.15.0 github.com/bytedance/sonic/loader@v0.5.0
  fi
}

sdk_ldflags() {
  local ver=$1 commit=$2
  echo "-s -w -X $SDK/version.Name=sim -X $SDK/version.AppName=simd -X $SDK/version.Version=$ver -X $SDK/version.Commit=$commit"
}

# build_simd <cache-name> <sdk-version> <simapp-version-or-empty> <version-string>
build_simd() {
  local name=$1 sdkver=$2 simappver=$3 verstr=$4
  local out="$CACHE/$name"
  if [ -x "$out/bin/simd" ] && [ -f "$out/BUILD-OK" ]; then
    log "cached: $out/bin/simd"; return 0
  fi
  local t0; t0=$(date +%s)
  local tdir; tdir=$(mktemp -d "${TMPDIR:-/tmp}/switchyard-e2e-build.XXXXXX")
  rm -rf "$out"
  if [ -z "$simappver" ]; then
    log "building simd from $SDK@$sdkver (simapp inside the root module) -> $out"
    local modinfo dir
    modinfo=$(go mod download -json "$SDK@$sdkver") || die "go mod download $SDK@$sdkver failed"
    dir=$(echo "$modinfo" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
    [ -d "$dir/simapp/simd" ] || die "$SDK@$sdkver has no simapp/simd in its root module"
    make_throwaway "$tdir" "$SDK" "$sdkver" "$dir/go.mod"
    # shellcheck disable=SC2046
    go_build_into "$out" "$tdir" "$SDK/simapp/simd" "$sdkver" "$(sdk_ldflags "$verstr" "$sdkver")" \
      $(sonic_bump "$dir/go.mod") || die "build of simd $sdkver failed (log in $tdir)"
  else
    log "building simd from cosmossdk.io/simapp@$simappver (SDK $sdkver) -> $out"
    local modinfo dir
    modinfo=$(go mod download -json "cosmossdk.io/simapp@$simappver") \
      || die "go mod download cosmossdk.io/simapp@$simappver failed: is that version served by the proxy?"
    dir=$(echo "$modinfo" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
    make_throwaway "$tdir" "cosmossdk.io/simapp" "$simappver" "$dir/go.mod"
    # shellcheck disable=SC2046
    go_build_into "$out" "$tdir" "cosmossdk.io/simapp/simd" "$simappver" "$(sdk_ldflags "$verstr" "$simappver")" \
      "${PARENT_GETS[@]}" $(sonic_bump "$dir/go.mod") || die "build of simd from simapp $simappver failed (log in $tdir)"
  fi
  "$out/bin/simd" version >/dev/null 2>&1 || die "built simd $verstr does not run"
  echo "$verstr built $(date -u +%FT%TZ) in $(( $(date +%s) - t0 ))s with $(go version)" >"$out/BUILD-OK"
  rm -rf "$tdir"
  log "built simd $verstr in $(( $(date +%s) - t0 ))s"
}

build_cosmovisor() {
  local ver=$1 out="$CACHE/cosmovisor-$1"
  if [ -x "$out/bin/cosmovisor" ] && [ -f "$out/BUILD-OK" ]; then
    log "cached: $out/bin/cosmovisor"; return 0
  fi
  local t0; t0=$(date +%s)
  log "building cosmovisor cosmossdk.io/tools/cosmovisor@$ver -> $out"
  local tdir; tdir=$(mktemp -d "${TMPDIR:-/tmp}/switchyard-e2e-build.XXXXXX")
  local modinfo dir
  modinfo=$(go mod download -json "cosmossdk.io/tools/cosmovisor@$ver") \
    || die "go mod download cosmossdk.io/tools/cosmovisor@$ver failed"
  dir=$(echo "$modinfo" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  rm -rf "$out"
  make_throwaway "$tdir" "cosmossdk.io/tools/cosmovisor" "$ver" "$dir/go.mod"
  # shellcheck disable=SC2046
  go_build_into "$out" "$tdir" "cosmossdk.io/tools/cosmovisor/cmd/cosmovisor" "$ver" "-s -w" \
    $(sonic_bump "$dir/go.mod") || die "build of cosmovisor $ver failed (log in $tdir)"
  echo "cosmovisor $ver built $(date -u +%FT%TZ) in $(( $(date +%s) - t0 ))s with $(go version)" >"$out/BUILD-OK"
  rm -rf "$tdir"
  log "built cosmovisor $ver in $(( $(date +%s) - t0 ))s"
}

NEW_NAME="simd-$SIMD_NEW_VERSION"
build_simd "simd-$SIMD_OLD_VERSION" "$SIMD_OLD_VERSION" "$SIMAPP_OLD_VERSION" "$SIMD_OLD_VERSION"
build_simd "$NEW_NAME" "$SIMD_NEW_VERSION" "$SIMAPP_NEW_VERSION" "$SIMD_NEW_VERSION"
build_simd "simd-$SIMD_NEW_VERSION$PATCH_SUFFIX" "$SIMD_NEW_VERSION" "$SIMAPP_NEW_VERSION" "$SIMD_NEW_VERSION$PATCH_SUFFIX"
build_cosmovisor "$COSMOVISOR_VERSION"

emit() { if [ $OUT_ENV = 1 ]; then echo "export $1=$2"; else echo "$1=$2"; fi; }
emit E2E_SIMD_OLD "$CACHE/simd-$SIMD_OLD_VERSION/bin/simd"
emit E2E_SIMD_NEW "$CACHE/$NEW_NAME/bin/simd"
emit E2E_SIMD_PATCH "$CACHE/simd-$SIMD_NEW_VERSION$PATCH_SUFFIX/bin/simd"
emit E2E_COSMOVISOR "$CACHE/cosmovisor-$COSMOVISOR_VERSION/bin/cosmovisor"
emit E2E_UPGRADE_NAME "${UPGRADE_NAME:-v045-to-v046}"
emit E2E_COSMOVISOR_VERSION "$COSMOVISOR_VERSION"
emit E2E_SIMD_OLD_VERSION "$SIMD_OLD_VERSION"
emit E2E_SIMD_NEW_VERSION "$SIMD_NEW_VERSION"
