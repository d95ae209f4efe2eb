#!/usr/bin/env bash
# Build only the real cosmovisor (default v1.5.0) from the Go module proxy, into the same cache
# and with the same stamp as e2e/build-binaries.sh, and print its path. Used by the cosmovisor
# round-trip test (tests/cosmovisor_roundtrip.rs), which needs cosmovisor but not simd.
#
#   e2e/build-cosmovisor.sh [VERSION]
#
# Cache: ${SWITCHYARD_E2E_CACHE:-~/.cache/switchyard-e2e}/cosmovisor-<version>/bin/cosmovisor; skipped
# when that binary and its BUILD-OK stamp exist. cosmovisor v1.5.0's go.mod has no replace
# directives, so a throwaway module that requires it is the whole recipe.
set -euo pipefail

VER="${1:-${COSMOVISOR_VERSION:-v1.5.0}}"
CACHE="${SWITCHYARD_E2E_CACHE:-$HOME/.cache/switchyard-e2e}"
OUT="$CACHE/cosmovisor-$VER"
NICE="${E2E_NICE:-nice -n 10}"
MOD=cosmossdk.io/tools/cosmovisor

die() { echo "[build-cosmovisor] ERROR: $*" >&2; exit 1; }
command -v go >/dev/null || die "go is not installed (need Go >= 1.21 on PATH)"
cached() { [ -x "$OUT/bin/cosmovisor" ] && [ -f "$OUT/BUILD-OK" ]; }
# Cached: no lock needed (the stamp is written last), so a long build of something else in the
# same cache does not hold this up.
if cached; then echo "$OUT/bin/cosmovisor"; exit 0; fi
mkdir -p "$CACHE"
# One build at a time per cache, shared with build-binaries.sh; look again once it is ours.
exec 9>"$CACHE/.lock"
command -v flock >/dev/null && flock 9
if cached; then echo "$OUT/bin/cosmovisor"; exit 0; fi
export GOFLAGS="${GOFLAGS:-} -mod=mod" GOTOOLCHAIN=local
t0=$(date +%s)
tdir=$(mktemp -d "${TMPDIR:-/tmp}/switchyard-cosmovisor-build.XXXXXX")
# Go's module and build caches are private to this build and go with it (as in build-binaries.sh:
# the downloads and compiled packages of a Cosmos build are gigabytes); the module cache is
# read-only on disk, hence the chmod.
export GOMODCACHE="$tdir/go-mod" GOCACHE="$tdir/go-build"
trap 'chmod -R u+w "$tdir" 2>/dev/null; rm -rf "$tdir"' EXIT
dir=$(go mod download -json "$MOD@$VER" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("Dir") or ""); sys.exit(0 if d.get("Dir") else 1)') \
  || die "go mod download $MOD@$VER failed (is that version served by the proxy?)"
if grep -q '^replace' "$dir/go.mod"; then
  die "$MOD@$VER has replace directives; build it with e2e/build-binaries.sh instead"
fi
printf 'module switchyard.local/cosmovisorbuild\n\ngo 1.21\n\nrequire %s %s\n' "$MOD" "$VER" >"$tdir/go.mod"
bumps=()
# Go >= 1.26 needs github.com/bytedance/sonic >= v1.15 (and its loader >= v0.5) where sonic is used.
if grep -q 'github.com/bytedance/sonic ' "$dir/go.mod"; then
  bumps=(github.com/bytedance/sonic@v1.15.0 github.com/bytedance/sonic/loader@v0.5.0)
fi
rm -rf "$OUT"; mkdir -p "$OUT/bin"
(
  cd "$tdir"
  $NICE go get "$MOD/cmd/cosmovisor@$VER" "${bumps[@]}" >"$tdir/get.log" 2>&1 || { tail -30 "$tdir/get.log" >&2; exit 1; }
  CGO_ENABLED=1 $NICE go build -trimpath -ldflags "-s -w" -o "$OUT/bin/cosmovisor" "$MOD/cmd/cosmovisor" \
    >"$tdir/build.log" 2>&1 || { tail -40 "$tdir/build.log" >&2; exit 1; }
) || die "build of cosmovisor $VER failed"
"$OUT/bin/cosmovisor" version --cosmovisor-only >/dev/null 2>&1 || die "the built cosmovisor does not run"
echo "cosmovisor $VER built $(date -u +%FT%TZ) in $(( $(date +%s) - t0 ))s with $(go version)" >"$OUT/BUILD-OK"
echo "$OUT/bin/cosmovisor"
