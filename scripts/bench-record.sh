#!/usr/bin/env bash
# What recording costs: each kernel run untraced and recorded
# (traced run --trace-dir) at a level, both in one measurement.
#
# Usage: scripts/bench-record.sh [--runs N] [--no-build] [--level L]...
#                                [--dir DIR] [KERNEL...]
#
#   --runs N     timed runs per command (default 5, at least 3)
#   --no-build   do not (re)build build/release
#   --level L    calls, ops or lines (repeatable; default calls and ops)
#   --dir DIR    where the recorded runs write their streams (default
#                /dev/shm when it is a writable tmpfs, else a directory
#                made with mktemp)
#   KERNEL...    only these kernels (names of bench/kernels/*.wat)
#
# Levels calls and ops run bench/kernels/*.wat (`--invoke run`, as
# scripts/bench.sh builds them). Level lines runs the same kernels in
# C, bench/wasi/kernels.c built with -g (one repetition: `-- -n 1 NAME`),
# since it needs DWARF; its untraced peer is that module, untraced.
#
# For every kernel and level the two commands take turns, one warm-up run
# each, then N rounds of (untraced, recorded), each recorded run into an
# empty directory; the table reports the medians of both, the ratio of
# the medians, the events recorded (from the stream's index), the
# stream's bytes, and bytes per event; at level ops also the instructions
# executed (run_end's counter, read with tracectl) and bytes per
# instruction. Taking turns keeps a change in the machine's speed (this
# sandbox's vCPUs drift by tens of percent over minutes) out of the
# ratio; a tmpfs keeps one run's disk write-back, and the discard of the
# stream the benchmark deletes, out of the next run's time (what is
# measured is recording: encoding and writing into the page cache).
# Environment: TRACED (default build/release/traced), TRACECTL (default:
# beside TRACED), WAT2WASM (default wat2wasm), CLANG (default clang).
#
# Output: a markdown table per level on stdout; progress on stderr. Exits 1
# when a recorded run fails or records no events, 2 on a usage or setup
# error.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/bench/out
TRACED=${TRACED:-$ROOT/build/release/traced}
TRACECTL=${TRACECTL:-$(dirname "$TRACED")/tracectl}
WAT2WASM=${WAT2WASM:-wat2wasm}
CLANG=${CLANG:-clang}
runs=5
build=1
levels=()
selected=()
dir=

usage() { sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0"; }
die() { echo "bench-record.sh: $*" >&2; exit 2; }
log() { echo "bench-record.sh: $*" >&2; }

while [ $# -gt 0 ]; do
    case $1 in
    --runs)
        [ $# -ge 2 ] || die "--runs needs a number"
        runs=$2
        shift
        ;;
    --no-build) build=0 ;;
    --dir)
        [ $# -ge 2 ] || die "--dir needs a directory"
        dir=$2
        shift
        ;;
    --level)
        [ $# -ge 2 ] || die "--level needs calls, ops or lines"
        case $2 in calls | ops | lines) levels+=("$2") ;;
        *) die "unknown level $2" ;; esac
        shift
        ;;
    -h | --help) usage; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) selected+=("$1") ;;
    esac
    shift
done
[ "$runs" -ge 3 ] 2>/dev/null || die "--runs must be at least 3"
[ ${#levels[@]} -gt 0 ] || levels=(calls ops)

if [ $build = 1 ]; then
    log "building build/release"
    "$ROOT/scripts/build.sh" release >&2 || die "build failed"
fi
[ -x "$TRACED" ] || die "no $TRACED"

kernels=()
if [ ${#selected[@]} -gt 0 ]; then
    kernels=("${selected[@]}")
else
    for f in "$ROOT"/bench/kernels/*.wat; do
        kernels+=("$(basename "$f" .wat)")
    done
fi
mkdir -p "$OUT"
tmp=$(mktemp -d)
if [ -z "$dir" ] && [ -d /dev/shm ] && [ -w /dev/shm ] &&
    [ "$(stat -f -c %T /dev/shm)" = tmpfs ]; then
    dir=/dev/shm
fi
if [ -n "$dir" ]; then
    rec_dir=$(mktemp -d "$dir/bench-record.XXXXXX") || die "cannot write in $dir"
else
    rec_dir=$tmp
fi
trap 'rm -rf "$tmp" "$rec_dir"' EXIT
log "streams go to $rec_dir"

# One run of the command in $@, output discarded: its wall time in
# seconds on stdout (bash's EPOCHREALTIME, microseconds).
LC_NUMERIC=C
time_run() {
    local t0 t1
    t0=$EPOCHREALTIME
    "$@" >/dev/null 2>"$tmp/err" || return 1
    t1=$EPOCHREALTIME
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f\n", b - a }'
}

# median of the numbers on stdin, one a line
median() {
    sort -g | awk '{ v[NR] = $1 } END {
        if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# Untraced and recorded ($1 and $2, word-split) in turns: one warm-up
# each, then $runs rounds. Sets t0 and t1 to the medians; the last
# recorded run's stream stays in $rec_dir/d. Returns 1 when a run fails.
take_turns() {
    local plain=$1 rec=$2 i a b
    : >"$tmp/t0"
    : >"$tmp/t1"
    for ((i = 0; i <= runs; i++)); do
        a=$(time_run $plain) || return 1
        rm -rf "$rec_dir/d"
        b=$(time_run $rec) || return 1
        if [ "$i" -gt 0 ]; then
            echo "$a" >>"$tmp/t0"
            echo "$b" >>"$tmp/t1"
        fi
    done
    t0=$(median <"$tmp/t0")
    t1=$(median <"$tmp/t1")
}

# Events in a stream: the last index entry's first seq + count (docs/
# protocol.md section 5: 16-byte header, 24-byte entries).
events_of() {
    local idx=$1.idx size last
    size=$(stat -c %s "$idx")
    [ "$size" -ge 40 ] || { echo 0; return; }
    last=$((size - 24))
    local first count
    first=$(od -An -t u8 -j "$last" -N 8 "$idx" | tr -d ' ')
    count=$(od -An -t u4 -j $((last + 16)) -N 4 "$idx" | tr -d ' ')
    echo $((first + count))
}

status=0
for level in "${levels[@]}"; do
    sum_bytes=0
    sum_ops=0
    geo=0
    nk=0
    echo
    echo "### level $level"
    echo
    if [ "$level" = ops ]; then
        echo "| kernel | untraced (s) | recorded (s) | ratio | events | stream bytes | bytes/event | ops | bytes/op |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    else
        echo "| kernel | untraced (s) | recorded (s) | ratio | events | stream bytes | bytes/event |"
        echo "|---|---:|---:|---:|---:|---:|---:|"
    fi
    if [ "$level" = lines ]; then
        module=$OUT/kernels-g.wasm
        if [ ! -f "$module" ] || [ "$ROOT/bench/wasi/kernels.c" -nt "$module" ]; then
            log "building $module"
            "$CLANG" --target=wasm32-wasi --sysroot=/usr -O2 -g -msimd128 \
                -ffp-contract=off "$ROOT/bench/wasi/kernels.c" -o "$module" ||
                die "cannot build $module (clang with wasm32-wasi and wasi-libc)"
        fi
    fi
    for k in "${kernels[@]}"; do
        if [ "$level" = lines ]; then
            plain="$TRACED run $module -- -n 1 $k"
            rec="$TRACED run --trace-dir $rec_dir/d --level lines $module -- -n 1 $k"
        else
            wat=$ROOT/bench/kernels/$k.wat
            [ -f "$wat" ] || die "no kernel $k"
            if [ ! -f "$OUT/$k.wasm" ] || [ "$wat" -nt "$OUT/$k.wasm" ]; then
                "$WAT2WASM" "$wat" -o "$OUT/$k.wasm" ||
                    die "wat2wasm $k failed"
            fi
            plain="$TRACED run $OUT/$k.wasm --invoke run"
            rec="$TRACED run --trace-dir $rec_dir/d --level $level $OUT/$k.wasm --invoke run"
        fi
        log "$level $k"
        if ! take_turns "$plain" "$rec"; then
            log "$level $k: a run failed: $(tail -3 "$tmp/err")"
            status=1
            continue
        fi
        ev=$(events_of "$rec_dir/d/stream.trace")
        bytes=$(stat -c %s "$rec_dir/d/stream.trace")
        [ "$ev" -gt 0 ] || { log "$level $k: no events recorded"; status=1; }
        extra=""
        if [ "$level" = ops ]; then
            # run_end is the last event; its counters hold the ops.
            ops=$("$TRACECTL" tail --file "$rec_dir/d/stream.trace" --no-follow \
                --from $((ev - 1)) --format jsonl | tail -1 |
                sed -n 's/.*"ops":\([0-9]*\).*/\1/p')
            [ -n "$ops" ] && [ "$ops" -gt 0 ] || { log "$level $k: no ops counted"; status=1; ops=0; }
            extra=$(awk -v n="$bytes" -v o="$ops" 'BEGIN {
                printf " %d | %.2f |", o, (o > 0 ? n / o : 0) }')
            sum_bytes=$((sum_bytes + bytes))
            sum_ops=$((sum_ops + ops))
        fi
        geo=$(awk -v g="$geo" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", g + log(b / a) }')
        nk=$((nk + 1))
        awk -v k="$k" -v a="$t0" -v b="$t1" -v e="$ev" -v n="$bytes" \
            -v x="$extra" 'BEGIN {
            printf "| %s | %.3f | %.3f | %.2fx | %d | %d | %.2f |%s\n",
                k, a, b, b / a, e, n, (e > 0 ? n / e : 0), x }'
    done
    echo
    if [ "$nk" -gt 0 ]; then
        awk -v g="$geo" -v n="$nk" 'BEGIN {
            printf "geometric mean of the ratios: %.2fx\n", exp(g / n) }'
    fi
    if [ "$level" = ops ] && [ "$sum_ops" -gt 0 ]; then
        awk -v b="$sum_bytes" -v o="$sum_ops" 'BEGIN {
            printf "all kernels: %d stream bytes for %d ops, %.2f bytes an op\n", b, o, b / o }'
    fi
done
echo
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); $(date -u '+%Y-%m-%d %H:%M UTC')"
exit $status
