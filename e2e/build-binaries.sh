#!/usr/bin/env bash
# Build the real node binaries the end-to-end harness needs, from the Go module proxy only
# (modules by path and exact version; never from a repository fetched from GitHub), cached between
# runs.
#
#   e2e/build-binaries.sh            build what is missing, print the paths (KEY=path lines)
#   e2e/build-binaries.sh --env      same, but print only `export KEY=path` lines (for eval)
#
# Cache: ${SWITCHYARD_E2E_CACHE:-~/.cache/switchyard-e2e}/<name>/bin/<binary>; a build is skipped
# when its directory holds the binary and a BUILD-OK stamp naming the same inputs (for chaind: a
# hash of e2e/chaind's sources and the line's go.mod/go.sum, so an edit rebuilds).
#
# What is built:
#   chaind-v0.50.9          our own chain daemon (e2e/chaind) on SDK v0.50.9 / CometBFT 0.38: the
#                           chain's genesis binary; registers no upgrade handler
#   chaind-v0.50.9-patch1   the same code, version string v0.50.9-patch1 (an emergency patch
#                           stand-in for a manual upgrade at a height); a relink only
#   chaind-v0.53.8          SDK v0.53.8 / CometBFT 0.38; registers handler v050-to-v053
#   chaind-v0.53.8-nover    the same v0.53 code, but no usable SDK version anywhere: built in a Go
#                           workspace whose second module is a local copy of the SDK module (taken
#                           from the module cache), so the Go build info says
#                           `dep github.com/cosmos/cosmos-sdk (devel)` and `version --long` reports
#                           cosmos_sdk_version "(devel)"; version string "dev-nover" (no semver)
#   chaind-v0.53.8-patch2   the v0.53 code, version string v0.53.8-patch2; a relink only
#   chaind-v0.54.4          SDK v0.54.4 / CometBFT 0.39; registers handler v053-to-v054
#   wasmd-v0.55.1, wasmd-v0.60.8, wasmd-v0.61.14
#                           CosmWasm's wasmd (SDK v0.50.12 -> v0.53.6 via its real "v0.60"
#                           upgrade; v0.61.14 for a manual upgrade), from the module proxy
#   cosmovisor-v1.5.0       [COSMOVISOR_VERSION] for the side-by-side comparison
#   simd-v0.45.16, simd-v0.46.16, simd-v0.46.16-patch1
#                           the older pair (simd from the SDK's root module, Tendermint 0.34),
#                           only with E2E_LEGACY=1
#
# Go's module cache and build cache are private to <cache>/.build: the compiled packages are
# emptied after each family of builds, the modules at the end; the patch builds differ from their
# base only in -X strings, so they reuse every compiled package of their family.
# `nice -n 10` (E2E_NICE) keeps other compiles on the machine moving. E2E_BUILD_ONLY="<name> ..."
# builds only those (e.g. to time one build in empty GOMODCACHE/GOCACHE dirs).
set -euo pipefail

E2E_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CHAIND_SRC="$E2E_DIR/chaind"
CACHE="${SWITCHYARD_E2E_CACHE:-$HOME/.cache/switchyard-e2e}"
COSMOVISOR_VERSION="${COSMOVISOR_VERSION:-v1.5.0}"
LEGACY="${E2E_LEGACY:-0}"
SIMD_OLD_VERSION=v0.45.16
SIMD_NEW_VERSION=v0.46.16
NICE="${E2E_NICE:-nice -n 10}"
SDK=github.com/cosmos/cosmos-sdk

# SDK line -> exact SDK version and build tag (the go.mod/go.sum pinning every module of a line
# are e2e/chaind/lines/<line>/)
declare -A LINE_SDK=([v0.50]=v0.50.9 [v0.53]=v0.53.8 [v0.54]=v0.54.4)
declare -A LINE_TAG=([v0.50]=sdk050 [v0.53]=sdk053 [v0.54]=sdk054)

OUT_ENV=0
[ "${1:-}" = "--env" ] && OUT_ENV=1

log() { echo "[build-binaries $(date -u +%H:%M:%S)] $*" >&2; }
die() { echo "[build-binaries] ERROR: $*" >&2; exit 1; }

command -v go >/dev/null || die "go is not installed (need Go >= 1.26 on PATH for SDK v0.54)"
command -v python3 >/dev/null || die "python3 is not installed"
command -v patchelf >/dev/null || die "patchelf is not installed (apt-get install patchelf): wasmd's run path is set with it"
mkdir -p "$CACHE"
# one build at a time per cache (two e2e runs started together would otherwise race)
exec 9>"$CACHE/.lock"
command -v flock >/dev/null && flock 9
export GOTOOLCHAIN=local
# Go's module and build caches for these builds are private to the cache: shared by every line in
# the user's own caches they grew to 16.5 GiB (8.7 of downloaded modules, 7.8 of compiled
# packages), which beside cargo's target/ filled a CI machine's disk. The compiled packages are
# emptied after each family of builds (one SDK line with its relinks, one wasmd pair, ...), which
# share them; the downloaded modules serve every family (downloading them again per family cost
# two minutes each) and are emptied when the script ends. Nothing a built binary runs lives
# there: wasmd's libwasmvm is copied beside it (build_wasmd).
GO_SCRATCH="$CACHE/.build"
export GOMODCACHE="$GO_SCRATCH/go-mod" GOCACHE="$GO_SCRATCH/go-build"
family_done() { # empties the scratch but the downloaded modules
  local d
  for d in "$GO_SCRATCH"/* "$GO_SCRATCH"/.[!.]*; do
    [ -e "$d" ] && [ "$d" != "$GOMODCACHE" ] && rm -rf "$d"
  done
  return 0
}
all_done() { # the module cache is read-only on disk, hence the chmod
  if [ -d "$GO_SCRATCH" ]; then chmod -R u+w "$GO_SCRATCH" && rm -rf "$GO_SCRATCH"; fi
}
trap all_done EXIT
# GOFLAGS from the environment would also apply to the builds here; -mod is set per build
export GOFLAGS="${GOFLAGS:-}"
GOFLAGS="$(echo " $GOFLAGS " | sed -e 's/ -mod=[a-z]* / /g' -e 's/^ *//' -e 's/ *$//')"

# CPU seconds (user + sys) used so far by this script's finished children: builds are reported with
# wall time and CPU time, since on a shared machine the wall time says more about the neighbours
# (sets CPU_NOW; `times` must run in this shell, not in a subshell, to see the children's times)
cpu_now() {
  times >"$CACHE/.times.$$"
  CPU_NOW=$(awk 'NR == 2 { s = 0; for (i = 1; i <= NF; i++) { split($i, b, "m"); s += b[1] * 60 + substr(b[2], 1, length(b[2]) - 1) }; printf "%.0f", s }' "$CACHE/.times.$$")
  rm -f "$CACHE/.times.$$"
}

# E2E_BUILD_ONLY="name ...": build only these cache names (the others are left as they are)
selected() { [ -z "${E2E_BUILD_ONLY:-}" ] || [[ " $E2E_BUILD_ONLY " == *" $1 "* ]]; }

cached() { # <dir> <binary> <stamp-key>: the build is there and was made from the same inputs
  [ -x "$1/bin/$2" ] && [ -f "$1/BUILD-OK" ] && grep -qxF "inputs: $3" "$1/BUILD-OK"
}

stamp() { # <dir> <what> <stamp-key> <t0> <cpu0>: writes BUILD-OK, logs the times
  cpu_now
  local took="$(( $(date +%s) - $4 ))s wall, $(( CPU_NOW - $5 ))s cpu"
  { echo "$2 built $(date -u +%FT%TZ) in $took with $(go version), load $(cut -d' ' -f1-3 /proc/loadavg)"; echo "inputs: $3"; } >"$1/BUILD-OK"
  log "built $2 in $took (load average $(cut -d' ' -f1-3 /proc/loadavg))"
}

# ---------------------------------------------------------------------------------------------
# chaind
# ---------------------------------------------------------------------------------------------
# A hash of what a chaind build of <line> is made from: the Go sources and the line's go.mod/go.sum.
chaind_src_hash() {
  local line=$1
  ( cd "$CHAIND_SRC" && cat ./*.go "lines/$line/go.mod" "lines/$line/go.sum" ) | sha256sum | cut -c1-12
}

# Copies the sources and the line's go.mod/go.sum into a build dir (a stable path per line, so the
# relinks of a line find the same directory).
assemble() {
  local line=$1 dir=$2
  mkdir -p "$dir"
  rm -f "$dir"/*.go
  cp "$CHAIND_SRC"/*.go "$dir/"
  cp "$CHAIND_SRC/lines/$line/go.mod" "$CHAIND_SRC/lines/$line/go.sum" "$dir/"
}

# build_chaind <cache-name> <line> <version-string> [nover]
build_chaind() {
  local name=$1 line=$2 verstr=$3 variant=${4:-}
  selected "$name" || return 0
  local out="$CACHE/$name" sdkver=${LINE_SDK[$line]} tag=${LINE_TAG[$line]}
  local src; src=$(chaind_src_hash "$line")
  local key="chaind $line sdk=$sdkver version=$verstr src=$src $variant"
  if cached "$out" chaind "$key"; then
    log "cached: $out/bin/chaind"; return 0
  fi
  local t0 c0; t0=$(date +%s); cpu_now; c0=$CPU_NOW
  rm -rf "$out"; mkdir -p "$out/bin"
  local ldflags="-s -w -X $SDK/version.Name=chaind -X $SDK/version.AppName=chaind -X $SDK/version.Version=$verstr -X $SDK/version.Commit=$src -X $SDK/version.BuildTags=$tag"
  local bdir="$CACHE/.build/chaind-$line"
  if [ "$variant" = nover ]; then
    # A Go workspace: our module plus a local copy of the SDK module. A workspace module is a main
    # module, so the build info names it `(devel)`, and so does version's cosmos_sdk_version. (A
    # `replace => <local dir>` would not do: build info keeps `dep ... vX` and only the `=>` line
    # says (devel), and the SDK's version command then reports vX.)
    bdir="$CACHE/.build/chaind-$line-nover"
    local sdkdir
    sdkdir=$(go mod download -json "$SDK@$sdkver" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])') \
      || die "go mod download $SDK@$sdkver failed"
    if [ ! -f "$bdir/cosmos-sdk/go.mod" ]; then
      rm -rf "$bdir/cosmos-sdk"; mkdir -p "$bdir"
      cp -r "$sdkdir" "$bdir/cosmos-sdk" && chmod -R u+w "$bdir/cosmos-sdk"
    fi
    assemble "$line" "$bdir/chaind"
    local gover; gover=$(go env GOVERSION); gover=${gover#go}   # >= every module's go line
    printf 'go %s\n\nuse (\n\t./chaind\n\t./cosmos-sdk\n)\n' "$gover" >"$bdir/go.work"
    log "building chaind $verstr ($line code, SDK $sdkver as a local workspace module) -> $out"
    ( cd "$bdir/chaind" && GOWORK="$bdir/go.work" CGO_ENABLED=1 $NICE go build -trimpath -tags "$tag" \
        -ldflags "$ldflags" -o "$out/bin/chaind" . ) >"$out/build.log" 2>&1 \
      || { tail -40 "$out/build.log" >&2; die "build of chaind $verstr failed (log $out/build.log)"; }
  else
    assemble "$line" "$bdir"
    log "building chaind $verstr (SDK $sdkver, tag $tag) -> $out"
    ( cd "$bdir" && GOWORK=off CGO_ENABLED=1 $NICE go build -mod=mod -trimpath -tags "$tag" \
        -ldflags "$ldflags" -o "$out/bin/chaind" . ) >"$out/build.log" 2>&1 \
      || { tail -40 "$out/build.log" >&2; die "build of chaind $verstr failed (log $out/build.log)"; }
  fi
  local got
  got=$("$out/bin/chaind" version --long --output json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])') \
    || die "built chaind $verstr does not run"
  [ "$got" = "$verstr" ] || die "built chaind reports version $got, not $verstr"
  stamp "$out" "chaind $verstr" "$key" "$t0" "$c0"
}

# ---------------------------------------------------------------------------------------------
# cosmovisor and the older simd pair: through a throwaway module that requires the module at that
# version and carries its non-local replace directives
# ---------------------------------------------------------------------------------------------
replaces_of() { # the non-local replace directives of a go.mod, as "old => new version" lines
  python3 - "$1" <<'PY'
import re, sys
text = re.sub(r'//[^\n]*', '', open(sys.argv[1]).read())
lines = []
for block in re.findall(r'^replace\s*\((.*?)^\)', text, re.S | re.M):
    lines += block.splitlines()
lines += re.findall(r'^replace\s+([^(\n][^\n]*)$', text, re.M)
for l in lines:
    l = l.strip()
    if '=>' not in l:
        continue
    old, new = [p.strip() for p in l.split('=>', 1)]
    if not new.split()[0].startswith(('.', '/')):
        print(f"{old.split()[0]} => {new}")
PY
}

# go_build_module <out-dir> <module> <version> <package> <ldflags>
go_build_module() {
  local out=$1 mod=$2 ver=$3 pkg=$4 ldflags=$5
  local dir; dir=$(go mod download -json "$mod@$ver" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])') \
    || die "go mod download $mod@$ver failed"
  local tdir="$CACHE/.build/$(echo "$mod@$ver" | tr '/@' '__')"
  rm -rf "$tdir"; mkdir -p "$tdir" "$out/bin"
  { echo "module switchyard.local/e2ebuild"; echo; echo "go 1.21"; echo; echo "require $mod $ver"
    replaces_of "$dir/go.mod" | sed 's/^/replace /'; } >"$tdir/go.mod"
  local bumps=()
  # Go >= 1.26 needs github.com/bytedance/sonic >= v1.15 (and its loader >= v0.5) where sonic is used
  grep -q 'github.com/bytedance/sonic ' "$dir/go.mod" && bumps=(github.com/bytedance/sonic@v1.15.0 github.com/bytedance/sonic/loader@v0.5.0)
  ( cd "$tdir" && GOWORK=off $NICE go get "$pkg@$ver" "${bumps[@]}" && \
    GOWORK=off CGO_ENABLED=1 $NICE go build -mod=mod -trimpath -ldflags "$ldflags" -o "$out/bin/$(basename "$pkg")" "$pkg" ) \
    >"$out/build.log" 2>&1 || { tail -40 "$out/build.log" >&2; return 1; }
}

build_simd() { # <cache-name> <sdk-version> <version-string>
  local name=$1 sdkver=$2 verstr=$3 out="$CACHE/$1"
  selected "$name" || return 0
  local key="simd sdk=$sdkver version=$verstr"
  if cached "$out" simd "$key"; then log "cached: $out/bin/simd"; return 0; fi
  local t0 c0; t0=$(date +%s); cpu_now; c0=$CPU_NOW
  rm -rf "$out"
  log "building simd $verstr from $SDK@$sdkver (simapp inside the root module) -> $out"
  go_build_module "$out" "$SDK" "$sdkver" "$SDK/simapp/simd" \
    "-s -w -X $SDK/version.Name=sim -X $SDK/version.AppName=simd -X $SDK/version.Version=$verstr -X $SDK/version.Commit=$sdkver" \
    || die "build of simd $verstr failed (log $out/build.log)"
  "$out/bin/simd" version >/dev/null 2>&1 || die "built simd $verstr does not run"
  stamp "$out" "simd $verstr" "$key" "$t0" "$c0"
}

build_cosmovisor() {
  local ver=$1 out="$CACHE/cosmovisor-$1" key="cosmovisor $1"
  selected "cosmovisor-$ver" || return 0
  # e2e/build-cosmovisor.sh (the round-trip test's build, same recipe) stamps without an inputs
  # line: its build counts too, so the two never rebuild (rm -rf) each other's binary
  if cached "$out" cosmovisor "$key" || { [ -x "$out/bin/cosmovisor" ] && grep -q "^cosmovisor $ver built" "$out/BUILD-OK" 2>/dev/null; }; then
    log "cached: $out/bin/cosmovisor"; return 0
  fi
  local t0 c0; t0=$(date +%s); cpu_now; c0=$CPU_NOW
  rm -rf "$out"
  log "building cosmovisor cosmossdk.io/tools/cosmovisor@$ver -> $out"
  go_build_module "$out" cosmossdk.io/tools/cosmovisor "$ver" cosmossdk.io/tools/cosmovisor/cmd/cosmovisor "-s -w" \
    || die "build of cosmovisor $ver failed (log $out/build.log)"
  stamp "$out" "cosmovisor $ver" "$key" "$t0" "$c0"
}

# ---------------------------------------------------------------------------------------------
# wasmd (CosmWasm's reference chain): built inside a writable copy of its own module directory,
# so its go.mod (replace directives, go.sum) is the one its authors pinned; only bytedance/sonic
# is bumped, since the version wasmd pins does not build on Go >= 1.26. The binary links the
# libwasmvm.x86_64.so shipped inside the wasmvm module, copied to <out>/lib (its run path).
# ---------------------------------------------------------------------------------------------
WASMD=github.com/CosmWasm/wasmd
build_wasmd() { # <cache-name> <wasmd module version>
  local name=$1 ver=$2 out="$CACHE/$1"
  selected "$name" || return 0
  local key="wasmd $ver sonic=v1.15.0 lib=beside"
  if cached "$out" wasmd "$key"; then log "cached: $out/bin/wasmd"; return 0; fi
  local t0 c0; t0=$(date +%s); cpu_now; c0=$CPU_NOW
  rm -rf "$out"; mkdir -p "$out/bin"
  local dir; dir=$(go mod download -json "$WASMD@$ver" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])') \
    || die "go mod download $WASMD@$ver failed"
  local bdir="$CACHE/.build/wasmd-$ver"
  rm -rf "$bdir"; mkdir -p "$CACHE/.build"
  cp -r "$dir" "$bdir" && chmod -R u+w "$bdir"
  local verstr=${ver#v}   # wasmd's Makefile strips the v: its nodes report "0.60.8"
  log "building wasmd $verstr from $WASMD@$ver (a writable copy of the module) -> $out"
  ( cd "$bdir" && GOWORK=off go mod edit -require=github.com/bytedance/sonic@v1.15.0 \
      -require=github.com/bytedance/sonic/loader@v0.5.0 && \
    GOWORK=off CGO_ENABLED=1 $NICE go build -mod=mod -trimpath \
      -ldflags "-X $SDK/version.Name=wasm -X $SDK/version.AppName=wasmd -X $SDK/version.Version=$verstr -X $SDK/version.Commit=$ver" \
      -o "$out/bin/wasmd" ./cmd/wasmd ) >"$out/build.log" 2>&1 \
    || { tail -40 "$out/build.log" >&2; die "build of wasmd $ver failed (log $out/build.log)"; }
  local got; got=$("$out/bin/wasmd" version 2>&1) || die "built wasmd $ver does not run: $got"
  [ "$got" = "$verstr" ] || die "built wasmd reports version $got, not $verstr"
  # ldd's whole output first: `ldd | grep -q` fails under pipefail whenever grep's early exit
  # cuts ldd off (SIGPIPE), and it did on a loaded machine with the library found.
  local libs; libs=$(ldd "$out/bin/wasmd") || die "ldd $out/bin/wasmd failed"
  local lib; lib=$(sed -n 's/^[[:space:]]*libwasmvm[^ ]* => \(\/[^ ]*\) .*/\1/p' <<<"$libs")
  [ -f "$lib" ] || die "built wasmd $ver does not find its libwasmvm: $(grep wasmvm <<<"$libs")"
  # The library moves out of the module cache (emptied after the build) to <out>/lib, and the
  # binary's run path with it: the one absolute run path the e2e's unstartable scenario breaks.
  mkdir -p "$out/lib" && cp "$lib" "$out/lib/" && patchelf --set-rpath "$out/lib" "$out/bin/wasmd" \
    || die "moving libwasmvm beside wasmd $ver failed"
  libs=$(ldd "$out/bin/wasmd") || die "ldd $out/bin/wasmd failed"
  grep -qF "=> $out/lib/" <<<"$libs" || die "wasmd $ver does not find libwasmvm in $out/lib: $(grep wasmvm <<<"$libs")"
  rm -rf "$bdir"
  stamp "$out" "wasmd $verstr" "$key" "$t0" "$c0"
}

# cosmovisor first: the cargo round-trip test (tests/cosmovisor_roundtrip.rs) needs it early
# when scripts/test.sh runs this script in the background beside the Rust tests.
# One family_done after each family: the next one starts from an empty Go build cache.
build_cosmovisor "$COSMOVISOR_VERSION"; family_done
V050=${LINE_SDK[v0.50]} V053=${LINE_SDK[v0.53]} V054=${LINE_SDK[v0.54]}
build_chaind "chaind-$V050" v0.50 "$V050"
build_chaind "chaind-$V050-patch1" v0.50 "$V050-patch1"; family_done
build_chaind "chaind-$V053" v0.53 "$V053"
build_chaind "chaind-$V053-patch2" v0.53 "$V053-patch2"
build_chaind "chaind-$V053-nover" v0.53 "dev-nover" nover; family_done
build_chaind "chaind-$V054" v0.54 "$V054"; family_done
WASMD_OLD=v0.55.1 WASMD_NEW=v0.60.8 WASMD_NEXT=v0.61.14
build_wasmd "wasmd-$WASMD_OLD" "$WASMD_OLD"; family_done
build_wasmd "wasmd-$WASMD_NEW" "$WASMD_NEW"
build_wasmd "wasmd-$WASMD_NEXT" "$WASMD_NEXT"; family_done
if [ "$LEGACY" = 1 ]; then
  build_simd "simd-$SIMD_OLD_VERSION" "$SIMD_OLD_VERSION" "$SIMD_OLD_VERSION"; family_done
  build_simd "simd-$SIMD_NEW_VERSION" "$SIMD_NEW_VERSION" "$SIMD_NEW_VERSION"
  build_simd "simd-$SIMD_NEW_VERSION-patch1" "$SIMD_NEW_VERSION" "$SIMD_NEW_VERSION-patch1"; family_done
fi

emit() { if [ $OUT_ENV = 1 ]; then echo "export $1=$2"; else echo "$1=$2"; fi; }
emit E2E_CHAIND_V050 "$CACHE/chaind-$V050/bin/chaind"
emit E2E_CHAIND_V050_PATCH1 "$CACHE/chaind-$V050-patch1/bin/chaind"
emit E2E_CHAIND_V053 "$CACHE/chaind-$V053/bin/chaind"
emit E2E_CHAIND_V053_NOVER "$CACHE/chaind-$V053-nover/bin/chaind"
emit E2E_CHAIND_V053_PATCH2 "$CACHE/chaind-$V053-patch2/bin/chaind"
emit E2E_CHAIND_V054 "$CACHE/chaind-$V054/bin/chaind"
emit E2E_WASMD_OLD "$CACHE/wasmd-$WASMD_OLD/bin/wasmd"
emit E2E_WASMD_NEW "$CACHE/wasmd-$WASMD_NEW/bin/wasmd"
emit E2E_WASMD_NEXT "$CACHE/wasmd-$WASMD_NEXT/bin/wasmd"
emit E2E_COSMOVISOR "$CACHE/cosmovisor-$COSMOVISOR_VERSION/bin/cosmovisor"
emit E2E_COSMOVISOR_VERSION "$COSMOVISOR_VERSION"
if [ "$LEGACY" = 1 ]; then
  emit E2E_SIMD_OLD "$CACHE/simd-$SIMD_OLD_VERSION/bin/simd"
  emit E2E_SIMD_NEW "$CACHE/simd-$SIMD_NEW_VERSION/bin/simd"
  emit E2E_SIMD_PATCH "$CACHE/simd-$SIMD_NEW_VERSION-patch1/bin/simd"
fi
