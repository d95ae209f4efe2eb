#!/usr/bin/env bash
# Backup time on a data folder of many small files (issue 24 #9): switchyard's backup
# (`backup::take`, everything on disk when it returns) against `cp -a` of the same folder (what
# cosmovisor does; no flush) and `cp -a` + `sync`, on the same filesystem, in the same run, after
# dropping the page cache (root) before each run. Writes bench/small_files.md. Rerunnable:
#   bench/small_files.sh                    # 12 000 files of 1-16 KiB, 5 runs of each
#   FILES=50000 RUNS=3 bench/small_files.sh
#   BENCH_DIR=/mnt/xfs bench/small_files.sh # on another filesystem (default: ./target)
# Needs: cargo, coreutils, findmnt.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
FILES=${FILES:-12000}
RUNS=${RUNS:-5}
OUT=${OUT:-bench/small_files.md}
BENCH_DIR=${BENCH_DIR:-$repo/target}
mkdir -p "$BENCH_DIR"
work=$(mktemp -d "$BENCH_DIR/small-files-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
log() { printf '== %s\n' "$*" >&2; }

log "building the backup bench (release)"
nice cargo bench -q -p switchyard-store --bench backup --no-run --locked 2>/dev/null

# Small files the node may change in place (so copied, never linked): 40 folders of them, sizes
# 1-16 KiB, plus one small LevelDB-shaped database.
data=$work/home/data
mkdir -p "$data/app.db"
head -c $((64 << 20)) /dev/urandom >"$work/seed"
log "writing $FILES small files in $data"
python3 - "$data" "$FILES" "$work/seed" <<'PY'
import os, sys
data, n, seed = sys.argv[1], int(sys.argv[2]), open(sys.argv[3], 'rb').read()
for i in range(n):
    d = os.path.join(data, 'wasm', f'{i % 40:02d}')
    os.makedirs(d, exist_ok=True)
    size = 1024 + (i * 7919) % (15 * 1024)
    off = (i * 104729) % (len(seed) - size)
    with open(os.path.join(d, f'{i:06d}.bin'), 'wb') as f:
        f.write(seed[off:off + size])
for i in range(20):
    with open(os.path.join(data, 'app.db', f'{100 + i:06d}.ldb'), 'wb') as f:
        f.write(seed[i << 20:(i + 1) << 20])
for name, body in [('CURRENT', b'MANIFEST-000002\n'), ('MANIFEST-000002', seed[:4096]), ('000003.log', seed[:65536])]:
    with open(os.path.join(data, 'app.db', name), 'wb') as f:
        f.write(body)
PY
sync

drop_caches() { sync; if echo 3 >/proc/sys/vm/drop_caches 2>/dev/null; then echo true; else echo false; fi; }
median() { sort -g | awk '{ a[NR] = $1 } END { m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%.3f", m }'; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b - a) / 1e9 }'; }

bench_bin=$(ls -t target/release/deps/backup-* | grep -v '\.d$' | head -1)
# One switchyard run and one cp -a run after the other, RUNS times, so that a change in the
# machine's load hits both alike; once with the page cache dropped before each run (cold), once
# without (warm: the folder was just read).
sy_cold=() cp_cold=() cps_cold=() sy_warm=() cp_warm=() cps_warm=()
one_sy() { # one_sy DROP(1|0) -> seconds
    BACKUP_BENCH_HOME=$work/home BACKUP_BENCH_RUNS=1 BACKUP_BENCH_DROP_CACHES=$1 "$bench_bin" |
        sed -n 's/^switchyard-backup .* secs=\([^ ]*\).*/\1/p'
}
one_cp() { # one_cp DROP(1|0) -> "cp_secs cp_sync_secs"
    [ "$1" = 1 ] && drop_caches >/dev/null
    local t0 t1 t2
    t0=$(date +%s%N)
    cp -a "$data" "$work/cp-copy"
    t1=$(date +%s%N)
    sync
    t2=$(date +%s%N)
    rm -rf "$work/cp-copy"
    sync
    echo "$(secs "$t0" "$t1") $(secs "$t0" "$t2")"
}
cold=$(drop_caches)
for mode in cold warm; do
    drop=1
    [ "$mode" = warm ] && drop=0
    log "$mode: switchyard backup and cp -a, x$RUNS each, interleaved"
    [ "$mode" = warm ] && { cp -a "$data" "$work/cp-copy"; rm -rf "$work/cp-copy"; sync; }
    for _ in $(seq "$RUNS"); do
        s=$(one_sy "$drop")
        read -r c cs <<<"$(one_cp "$drop")"
        echo "switchyard $s  cp -a $c  cp -a+sync $cs" >&2
        if [ "$mode" = cold ]; then sy_cold+=("$s"); cp_cold+=("$c"); cps_cold+=("$cs"); else sy_warm+=("$s"); cp_warm+=("$c"); cps_warm+=("$cs"); fi
    done
done
lines=$(BACKUP_BENCH_HOME=$work/home BACKUP_BENCH_RUNS=1 BACKUP_BENCH_DROP_CACHES=0 "$bench_bin" | grep '^switchyard-backup')
copied=$(sed -n 's/.* copied_files=\([^ ]*\).*/\1/p' <<<"$lines")
linked=$(sed -n 's/.* linked_files=\([^ ]*\).*/\1/p' <<<"$lines")
med() { printf '%s\n' "$@" | median; }
csv() { local IFS=,; echo "$*"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
sy_c=$(med "${sy_cold[@]}"); cp_c=$(med "${cp_cold[@]}"); cps_c=$(med "${cps_cold[@]}")
sy_w=$(med "${sy_warm[@]}"); cp_w=$(med "${cp_warm[@]}"); cps_w=$(med "${cps_warm[@]}")
fs_type=$(findmnt -no FSTYPE -T "$data" 2>/dev/null || stat -f -c %T "$data")
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)

cat >"$OUT" <<MD
# Backup time on many small files (switchyard vs \`cp -a\`)

A data folder of ${FILES} small files (1-16 KiB, in 40 folders; files the node may change in
place, so the backup copies them) and one small database (20 linked tables). switchyard's backup
(\`backup::take\`: copies made by 4 threads with \`copy_file_range\`, the file list written,
then one \`syncfs\` of the target filesystem, where it used to \`fsync\` every file) against
\`cp -a\` of the same folder, on the same ${fs_type} filesystem, one run of each after the other,
${RUNS} times; cold: the page cache dropped before each run (possible here: ${cold}); warm: not.

| | cold, median | cold runs (s) | warm, median | warm runs (s) |
| --- | --- | --- | --- | --- |
| switchyard backup (on disk when it returns) | **${sy_c} s** | $(csv "${sy_cold[@]}") | **${sy_w} s** | $(csv "${sy_warm[@]}") |
| \`cp -a\` (no flush) | ${cp_c} s | $(csv "${cp_cold[@]}") | ${cp_w} s | $(csv "${cp_warm[@]}") |
| \`cp -a\` then \`sync\` | ${cps_c} s | $(csv "${cps_cold[@]}") | ${cps_w} s | $(csv "${cps_warm[@]}") |

switchyard copied ${copied} files and linked ${linked}. Against \`cp -a\`: **$(ratio "$sy_c" "$cp_c")x**
cold, **$(ratio "$sy_w" "$cp_w")x** warm (goal <= 1x); against \`cp -a\` + \`sync\` (the copy on
disk, as switchyard's is): $(ratio "$sy_c" "$cps_c")x cold, $(ratio "$sy_w" "$cps_w")x warm.

\`syncfs\` writes out everything dirty on the backup's filesystem, not only the backup: on a
filesystem that other programs are writing to at the same time, the backup waits for their data
too (the node itself is stopped while a backup runs).

Machine: ${cpu}; $(nproc) cores; Linux $(uname -r); load average at the end
$(cut -d' ' -f1-3 /proc/loadavg) (shared with other builds). Measured $(date -u +%Y-%m-%dT%H:%M:%SZ)
with \`FILES=${FILES} RUNS=${RUNS} bench/small_files.sh\`.
MD
cat "$OUT"
