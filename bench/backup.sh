#!/usr/bin/env bash
# Backup time and the downtime it adds to a swap, on a data folder shaped like a real node's:
# switchyard's snapshot against `cp -a` of the same tree (what cosmovisor does: a full copy),
# on the same filesystem, in the same run. Writes bench/backup.md (machine noted). Rerunnable:
#   bench/backup.sh                          # ~10 GiB data folder, 3 runs of each
#   SIZE_GIB=2 RUNS=5 bench/backup.sh
#   BENCH_DIR=/mnt/xfs bench/backup.sh       # on another filesystem (default: ./target)
#   SIZE_GIB=2 SHAPE_GIB=10 bench/backup.sh  # little disk: see SHAPE_GIB below
#
# Rounds: (1) SIZE_GIB of real data with a lightly used consensus WAL: switchyard vs cp -a
# (with and without a final sync), and the swap downtime with the backup on and off through the
# real binary and a fake node; (2) with SHAPE_GIB, the same switchyard measurements on a folder
# of that apparent size whose table files are sparse: switchyard never reads a table (it links
# it), so its cost is the same as on real tables, while cp -a would skip the holes, so cp -a is
# not run there and its time is extrapolated from round 1's throughput (and marked so); (3) the
# round 2 folder (else round 1's) with a full 1 GiB consensus WAL (BUSY_WAL_MIB; 0 skips it).
#
# Needs: cargo, python3, coreutils, findmnt; root to drop the page cache before each run
# (otherwise the runs are warm-cache, and the report says so). Checks free disk space first.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

SIZE_GIB=${SIZE_GIB:-10}
SHAPE_GIB=${SHAPE_GIB:-}
RUNS=${RUNS:-3}
BUSY_WAL_MIB=${BUSY_WAL_MIB:-960}
OUT=${OUT:-bench/backup.md}
BENCH_DIR=${BENCH_DIR:-$repo/target}
mkdir -p "$BENCH_DIR"

log() { printf '== %s\n' "$*" >&2; }

# Space: round 1's data and its cp -a copy (with the extra WAL, twice, when round 3 runs on
# it); with SHAPE_GIB, round 1 is removed before the sparse folder (small) gets the extra WAL.
if [ -n "$SHAPE_GIB" ]; then
    need_mib=$((SIZE_GIB * 2048 > 256 + BUSY_WAL_MIB ? SIZE_GIB * 2048 : 256 + BUSY_WAL_MIB))
else
    need_mib=$(((SIZE_GIB * 1024 + BUSY_WAL_MIB) * 2))
fi
need_mib=$((need_mib + 512))
free_mib=$(($(df -Pk "$BENCH_DIR" | awk 'NR == 2 { print $4 }') / 1024))
if [ "$free_mib" -lt "$need_mib" ]; then
    echo "bench/backup.sh: $BENCH_DIR has $free_mib MiB free and this run needs $need_mib MiB; use a smaller SIZE_GIB (with SHAPE_GIB for the large shape) or another BENCH_DIR" >&2
    exit 1
fi
work=$(mktemp -d "$BENCH_DIR/backup-bench.XXXXXX")
cleanup() { rm -rf "$work"; }
trap cleanup EXIT

log "building switchyard and the backup bench (release)"
nice cargo build -q --release --locked --bin switchyard
nice cargo bench -q -p switchyard-store --bench backup --no-run --locked 2>/dev/null
SY=$repo/target/release/switchyard

drop_caches() {
    sync
    if echo 3 >/proc/sys/vm/drop_caches 2>/dev/null; then echo yes; else echo no; fi
}
median() { sort -g | awk '{ a[NR] = $1 } END { m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%.3f", m }'; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
join() { local IFS=,; echo "$*"; }
gib() { awk -v b="$1" 'BEGIN { printf "%.2f GiB", b / 1073741824 }'; }
mibs() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
ok() { awk -v a="$1" -v b="$2" 'BEGIN { print (a <= b) ? "met" : "NOT met" }'; }

seed=$work/seed
head -c $((64 << 20)) /dev/urandom >"$seed"

# ---- the data folder -------------------------------------------------------------------------
# Table files (hard-linked by switchyard): goleveldb's 2 MiB .ldb tables in application.db and
# state.db, 2-8 MiB in tx_index.db, PebbleDB-style 16-64 MiB .sst in blockstore.db. Files that
# may change in place (copied): per database a write-ahead log (4 MiB for goleveldb's write
# buffer, 16 MiB for Pebble), MANIFEST, LOG, CURRENT, LOCK (OPTIONS for Pebble); the consensus
# WAL (a 6 MiB head and five rotated 10 MiB segments); the validator state.
make_data() { # make_data DATA GIB sparse|real
    local data=$1 mib=$(($2 * 1024)) kind=$3
    mkdir -p "$data"
    tables() { # tables DB EXT BUDGET_MIB SIZES_MIB...
        local db=$1 ext=$2 budget=$3
        shift 3
        local sizes=("$@") used=0 i=0 n=100 s f
        mkdir -p "$data/$db"
        while [ "$used" -lt "$budget" ]; do
            s=${sizes[$((i % ${#sizes[@]}))]}
            f="$data/$db/$(printf '%06d' $n).$ext"
            if [ "$kind" = sparse ]; then truncate -s $((s << 20)) "$f"; else head -c $((s << 20)) "$seed" >"$f"; fi
            used=$((used + s)); i=$((i + 1)); n=$((n + 1))
        done
    }
    tables application.db ldb $((mib * 55 / 100)) 2
    tables blockstore.db sst $((mib * 25 / 100)) 16 32 64
    tables state.db ldb $((mib * 10 / 100)) 2
    tables tx_index.db ldb $((mib * 9 / 100)) 2 4 8
    tables evidence.db ldb 1 1
    tables snapshots/metadata.db ldb 1 1
    local db
    for db in application.db state.db tx_index.db evidence.db snapshots/metadata.db; do
        head -c $((4 << 20)) "$seed" >"$data/$db/000099.log"
        head -c $((2 << 20)) "$seed" >"$data/$db/MANIFEST-000098"
        head -c $((1 << 20)) "$seed" >"$data/$db/LOG"
        echo MANIFEST-000098 >"$data/$db/CURRENT"
        : >"$data/$db/LOCK"
    done
    head -c $((16 << 20)) "$seed" >"$data/blockstore.db/000099.log"
    head -c $((1 << 20)) "$seed" >"$data/blockstore.db/MANIFEST-000098"
    head -c 2048 "$seed" >"$data/blockstore.db/OPTIONS-000097"
    echo MANIFEST-000098 >"$data/blockstore.db/CURRENT"
    : >"$data/blockstore.db/LOCK"
    mkdir -p "$data/cs.wal"
    head -c $((6 << 20)) "$seed" >"$data/cs.wal/wal"
    local i
    for i in 0 1 2 3 4; do head -c $((10 << 20)) "$seed" >"$data/cs.wal/wal.00$i"; done
    echo '{"height":"4","round":0,"step":3}' >"$data/priv_validator_state.json"
    sync
}
add_busy_wal() { # add_busy_wal DATA MIB: more rotated 10 MiB consensus WAL segments
    local i
    for i in $(seq 5 $(($2 / 10 + 4))); do head -c $((10 << 20)) "$seed" >"$1/cs.wal/wal.$(printf '%03d' "$i")"; done
    sync
}

# ---- the swap's downtime through the real binary -----------------------------------------------
# A fake node (tests/fixtures/fakenode) on the data folder halts for plan v2 at height 5;
# switchyard stops it, backs up (or not), runs pre-upgrade, switches `current` and starts v2.
# Measured from switchyard's own log: "old node stopped" -> "started node" (the v2 binary).
fake=$repo/tests/fixtures/fakenode
mkbin() { # mkbin ID HANDLES
    mkdir -p "$work/bins/$1"
    printf '#!/bin/sh\nFAKE_ID=%s\nFAKE_HANDLES="%s"\nFAKE_SDK=v0.50.10\nFAKE_DIR=%s\n. %s/node.sh\n' \
        "$1" "$2" "$fake" "$fake" >"$work/bins/$1/fakend"
    chmod +x "$work/bins/$1/fakend"
}
mkbin genesis ""
mkbin v2 v2
swap_downtime() { # swap_downtime DATA on|off -> seconds
    local data=$1 mode=$2 h=$work/swap-home
    rm -rf "$h"
    mkdir -p "$h/fake"
    echo "v2 5" >"$h/fake/plan"
    mv "$data" "$h/data"
    local skip=false
    [ "$mode" = off ] && skip=true
    local envs=(env -i PATH="$PATH" DAEMON_HOME="$h" DAEMON_NAME=fakend DAEMON_POLL_INTERVAL=50ms
        COSMOVISOR_COLOR_LOGS=false COSMOVISOR_TIMEFORMAT_LOGS=rfc3339nano
        SWITCHYARD_WATCH_CHAIN=false UNSAFE_SKIP_BACKUP=$skip)
    "${envs[@]}" "$SY" init "$work/bins/genesis/fakend" >/dev/null 2>&1
    "${envs[@]}" "$SY" add-upgrade v2 "$work/bins/v2/fakend" >/dev/null 2>&1
    drop_caches >/dev/null
    "${envs[@]}" "$SY" run start --home "$h" >"$h/switchyard.log" 2>&1 &
    local pid=$!
    while ! grep -q '^7 v2$' "$h/fake/executed.log" 2>/dev/null; do
        if ! kill -0 "$pid" 2>/dev/null; then
            cat "$h/switchyard.log" >&2
            return 1
        fi
        sleep 0.1
    done
    kill -TERM "$pid"
    wait "$pid" || true
    python3 - "$h/switchyard.log" <<'PY'
import re, sys, datetime
stop = start = None
for line in open(sys.argv[1]):
    m = re.match(r'(\S+)\s', line)
    if not m:
        continue
    try:
        ts = datetime.datetime.fromisoformat(m.group(1)[:26] + m.group(1)[29:])
    except ValueError:
        continue
    if 'old node stopped' in line and stop is None:
        stop = ts
    elif 'started node' in line and stop is not None and start is None:
        start = ts
print(f"{(start - stop).total_seconds():.4f}")
PY
    mv "$h/data" "$data"
    rm -f "$data/height" "$data/upgrade-info.json" "$data/applied_v2"
    rm -rf "$h"
}

# ---- one round -----------------------------------------------------------------------------------
# measure DATA cp|nocp: sets the M_* variables.
measure() {
    local data=$1 with_cp=$2
    M_bytes=$(du -sb --apparent-size "$data" | cut -f1)
    M_disk=$(du -s -B1 "$data" | cut -f1)
    M_files=$(find "$data" -type f | wc -l)
    log "switchyard backup x$RUNS ($(gib "$M_bytes"))"
    local lines sy first
    lines=$(BACKUP_BENCH_HOME=$(dirname "$data") BACKUP_BENCH_RUNS=$RUNS \
        nice cargo bench -q -p switchyard-store --bench backup --locked 2>/dev/null)
    echo "$lines" >&2
    sy=$(grep '^switchyard-backup' <<<"$lines")
    first=$(head -1 <<<"$sy")
    M_sy_runs=$(field secs <<<"$sy" | paste -sd, -)
    M_sy_med=$(field secs <<<"$sy" | median)
    M_cold=$(field cold_cache <<<"$first")
    M_linked_files=$(field linked_files <<<"$first")
    M_linked_bytes=$(field linked_bytes <<<"$first")
    M_copied_files=$(field copied_files <<<"$first")
    M_copied_bytes=$(field copied_bytes <<<"$first")
    M_cloned_files=$(field cloned_files <<<"$first")
    local est
    est=$(grep '^switchyard-estimate' <<<"$lines")
    M_est_cold=$(field cold_secs <<<"$est")
    M_est_warm=$(field warm_secs <<<"$est")

    M_with_cp=$with_cp
    if [ "$with_cp" = cp ]; then
        log "cp -a x$RUNS"
        local cp_times=() cps_times=() t0 t1 t2
        for _ in $(seq "$RUNS"); do
            drop_caches >/dev/null
            t0=$(date +%s%N)
            cp -a "$data" "$work/cp-copy"
            t1=$(date +%s%N)
            sync
            t2=$(date +%s%N)
            cp_times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')")
            cps_times+=("$(awk -v a="$t0" -v b="$t2" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')")
            rm -rf "$work/cp-copy"
            sync
        done
        M_cp_runs=$(join "${cp_times[@]}")
        M_cps_runs=$(join "${cps_times[@]}")
        M_cp_med=$(printf '%s\n' "${cp_times[@]}" | median)
        M_cps_med=$(printf '%s\n' "${cps_times[@]}" | median)
    else
        # From the real-data round's throughput (bytes per second of cp -a, and with sync).
        M_cp_runs="extrapolated from round 1"
        M_cps_runs=$M_cp_runs
        M_cp_med=$(awk -v b="$M_bytes" -v t="$CP_BPS" 'BEGIN { printf "%.3f", b / t }')
        M_cps_med=$(awk -v b="$M_bytes" -v t="$CPS_BPS" 'BEGIN { printf "%.3f", b / t }')
    fi
    M_ratio=$(awk -v a="$M_sy_med" -v b="$M_cp_med" 'BEGIN { printf "%.4f", a / b }')
    M_ratio_sync=$(awk -v a="$M_sy_med" -v b="$M_cps_med" 'BEGIN { printf "%.4f", a / b }')

    log "swap downtime with the backup on and off x$RUNS"
    local on=() off=()
    for _ in $(seq "$RUNS"); do
        on+=("$(swap_downtime "$data" on)")
        off+=("$(swap_downtime "$data" off)")
    done
    M_on_runs=$(join "${on[@]}")
    M_off_runs=$(join "${off[@]}")
    M_on_med=$(printf '%s\n' "${on[@]}" | median)
    M_off_med=$(printf '%s\n' "${off[@]}" | median)
    M_added=$(awk -v a="$M_on_med" -v b="$M_off_med" 'BEGIN { printf "%.3f", a - b }')
}

round_md() { # round_md TITLE NOTE
    local est=""
    [ "$M_with_cp" = cp ] || est=" (extrapolated)"
    cat <<MD
## $1

$2

Data folder: $(gib "$M_bytes") in ${M_files} files ($(gib "$M_disk") on disk). switchyard linked
${M_linked_files} table files ($(gib "$M_linked_bytes")) and copied ${M_copied_files} files
($(mibs "$M_copied_bytes")); ${M_cloned_files} were cloned (FICLONE; ${fs_type} cannot clone).
Page cache dropped before each run: ${M_cold}.

| | median | runs (s) |
| --- | --- | --- |
| switchyard backup (\`backup::take\`, fsyncs included) | **${M_sy_med} s** | ${M_sy_runs} |
| \`cp -a\` (cosmovisor's full copy; no fsync)${est} | ${M_cp_med} s | ${M_cp_runs} |
| \`cp -a\` then \`sync\` (the copy on disk)${est} | ${M_cps_med} s | ${M_cps_runs} |
| swap downtime, backup on ("old node stopped" to "started node") | ${M_on_med} s | ${M_on_runs} |
| swap downtime, backup off (\`UNSAFE_SKIP_BACKUP=true\`) | ${M_off_med} s | ${M_off_runs} |

- switchyard / \`cp -a\`${est}: **${M_ratio}x** (goal <= 0.02x: $(ok "$M_ratio" 0.02)); against
  \`cp -a\` + \`sync\`: ${M_ratio_sync}x.
- Downtime the backup adds to a swap (on minus off): **${M_added} s** (goal <= 1 s for 10 GiB:
  $(ok "$M_added" 1)).
- \`backup::estimate\` (the walk + statvfs \`plan\` and metrics call): ${M_est_cold} s with a
  cold cache, ${M_est_warm} s warm.
MD
}

# ---- the rounds --------------------------------------------------------------------------------
real=$work/real/data
log "writing a ${SIZE_GIB} GiB node-shaped data folder in $real"
make_data "$real" "$SIZE_GIB" real
fs_type=$(findmnt -no FSTYPE -T "$real" 2>/dev/null || stat -f -c %T "$real")
measure "$real" cp
CP_BPS=$(awk -v b="$M_bytes" -v t="$M_cp_med" 'BEGIN { printf "%.0f", b / t }')
CPS_BPS=$(awk -v b="$M_bytes" -v t="$M_cps_med" 'BEGIN { printf "%.0f", b / t }')
report=$(round_md "${SIZE_GIB} GiB of real data, 56 MiB of consensus WAL" \
    "Both tools on the same data; cp -a read ${CP_BPS} bytes/s here (with sync: ${CPS_BPS}).")

busy_on=$real
busy_cp=cp
if [ -n "$SHAPE_GIB" ]; then
    rm -rf "$work/real"
    shape=$work/shape/data
    log "writing a ${SHAPE_GIB} GiB node-shaped data folder with sparse table files in $shape"
    make_data "$shape" "$SHAPE_GIB" sparse
    measure "$shape" nocp
    report+=$'\n\n'$(round_md "${SHAPE_GIB} GiB shape (sparse table files), 56 MiB of consensus WAL" \
        "The same shape at ${SHAPE_GIB} GiB, its table files sparse: switchyard only links them, so its time is what it is on real tables; cp -a would skip the holes, so its time is extrapolated from round 1's throughput.")
    busy_on=$shape
    busy_cp=nocp
fi
if [ "$BUSY_WAL_MIB" -gt 0 ]; then
    log "adding ${BUSY_WAL_MIB} MiB of rotated consensus WAL segments"
    add_busy_wal "$busy_on" "$BUSY_WAL_MIB"
    measure "$busy_on" "$busy_cp"
    report+=$'\n\n'$(round_md "The same with a full consensus WAL (+${BUSY_WAL_MIB} MiB)" \
        "CometBFT keeps up to 1 GiB of consensus WAL in \`data/cs.wal/\` in 10 MiB segments; on a busy chain it is full. Only the head segment is ever written; the closed ones are never changed again, so switchyard links them and copies the head.")
fi

# ---- report ----------------------------------------------------------------------------------
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
mem=$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
cat >"$OUT" <<MD
# Backup time (switchyard snapshot vs \`cp -a\`)

Before a swap, cosmovisor copies all of \`data/\`; switchyard hard-links the databases' table
files (never changed in place, only deleted) and copies only the files that may change in place
(\`crates/store/src/backup/\`). This measures both on the same ${fs_type} filesystem, in the same
run, on data folders shaped like a real node's, each run after dropping the page cache. Median
of ${RUNS} runs each. The swap downtime is measured through the real binary and a fake node
(\`tests/fixtures/fakenode\`) on the same data folder.

Shape: goleveldb-style 2 MiB \`.ldb\` tables (application.db 55% of the size, state.db 10%),
2-8 MiB in tx_index.db (9%), 16-64 MiB \`.sst\` in blockstore.db (25%); per database a
write-ahead log (4 MiB, 16 MiB for the Pebble-style one), MANIFEST, LOG, CURRENT, LOCK; the
consensus WAL; the validator state.

${report}

What a backup costs is the bytes it copies plus one link per table file; it does not grow with
the size of the tables. A backup folder on another filesystem (\`DAEMON_DATA_BACKUP_DIR\` on
another disk) cannot link and costs a full copy, like cosmovisor's.

Machine: ${cpu}; $(nproc) cores; ${mem} RAM; Linux $(uname -r); ${fs_type} on
$(df --output=source "$BENCH_DIR" | tail -1); load average at the end $(cut -d' ' -f1-3 /proc/loadavg)
(the machine is shared with other builds). Measured $(date -u +%Y-%m-%dT%H:%M:%SZ) with
\`SIZE_GIB=${SIZE_GIB} SHAPE_GIB=${SHAPE_GIB} RUNS=${RUNS} BUSY_WAL_MIB=${BUSY_WAL_MIB} bench/backup.sh\`.
MD
cat "$OUT"
