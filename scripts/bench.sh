#!/usr/bin/env bash
# Benchmark the traced VM against wabt's wasm-interp on bench/kernels/*.wat.
#
# Usage: scripts/bench.sh [--quick] [--runs N] [--interp-only] [--no-build]
#                         [KERNEL...]
#
#   --quick        3 timed runs per peer instead of 5 (the minimum for a median)
#   --runs N       N timed runs per peer (N >= 3)
#   --interp-only  time wasm-interp alone (while traced cannot run yet); the
#                  checksums are still checked against bench/kernels/expected.txt
#   --no-build     do not (re)build build/release
#   KERNEL...      only these kernels (names of bench/kernels/*.wat)
#
# Environment: TRACED (default build/release/traced), WASM_INTERP (default
# wasm-interp), WAT2WASM (default wat2wasm).
#
# For every kernel both peers run in the same measurement (one hyperfine
# invocation with both commands, or an interleaved loop timed with date when
# hyperfine is missing), after one warm-up run each. The reported time is the
# median wall-clock time. Each peer's checksum must equal the one in
# bench/kernels/expected.txt (computed natively by bench/kernels/reference.c);
# the script exits 1 when any differs, 2 on a usage or setup error.
#
# Output: a markdown table (kernel | wasm-interp (s) | traced (s) | speedup)
# and the geometric mean of the speedups, on stdout; progress on stderr.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
KERNELS_DIR=$ROOT/bench/kernels
OUT=$ROOT/bench/out
EXPECTED=$KERNELS_DIR/expected.txt
TRACED=${TRACED:-$ROOT/build/release/traced}
WASM_INTERP=${WASM_INTERP:-wasm-interp}
WAT2WASM=${WAT2WASM:-wat2wasm}

runs=5
interp_only=0
build=1
selected=()

usage() { sed -n '2,24s/^# \{0,1\}//p' "$0"; }
die() { echo "bench.sh: $*" >&2; exit 2; }
log() { echo "bench.sh: $*" >&2; }

while [ $# -gt 0 ]; do
    case $1 in
    --quick) runs=3 ;;
    --runs)
        [ $# -ge 2 ] || die "--runs needs a number"
        runs=$2
        shift
        ;;
    --interp-only) interp_only=1 ;;
    --no-build) build=0 ;;
    -h | --help) usage; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) selected+=("$1") ;;
    esac
    shift
done
case $runs in '' | *[!0-9]*) die "--runs needs a number" ;; esac
[ "$runs" -ge 3 ] || die "--runs must be at least 3 (a median of fewer is noise)"

command -v "$WAT2WASM" >/dev/null || die "$WAT2WASM not found (apt-get install wabt)"
command -v "$WASM_INTERP" >/dev/null || die "$WASM_INTERP not found (apt-get install wabt)"
[ -r "$EXPECTED" ] || die "missing $EXPECTED"

# ---- build ------------------------------------------------------------------
if [ "$interp_only" = 0 ] && [ "$build" = 1 ]; then
    if [ -x "$ROOT/scripts/build.sh" ]; then
        log "building release with scripts/build.sh"
        "$ROOT/scripts/build.sh" release >&2 || die "release build failed"
    else
        log "building release with cmake into build/release"
        if ! cmake -S "$ROOT" -B "$ROOT/build/release" \
            -DCMAKE_BUILD_TYPE=Release >&2 ||
            ! cmake --build "$ROOT/build/release" -j "$(nproc)" >&2; then
            die "release build failed"
        fi
    fi
fi
if [ "$interp_only" = 0 ] && [ ! -x "$TRACED" ]; then
    die "$TRACED not found or not executable (build failed? try --interp-only)"
fi

# ---- kernels ----------------------------------------------------------------
if [ ${#selected[@]} -eq 0 ]; then
    for f in "$KERNELS_DIR"/*.wat; do
        selected+=("$(basename "$f" .wat)")
    done
fi
mkdir -p "$OUT"
for k in "${selected[@]}"; do
    [ -r "$KERNELS_DIR/$k.wat" ] || die "no kernel $KERNELS_DIR/$k.wat"
    if [ ! "$OUT/$k.wasm" -nt "$KERNELS_DIR/$k.wat" ]; then
        "$WAT2WASM" "$KERNELS_DIR/$k.wat" -o "$OUT/$k.wasm" ||
            die "$WAT2WASM failed on $k.wat"
    fi
done

# Normalise "TYPE:VALUE" to unsigned decimal, the way wasm-interp prints
# integers, so that a signed printout from traced compares equal.
normalise() {
    local type=${1%%:*} value=${1#*:}
    case $value in
    -*)
        case $type in
        i32) value=$((value & 0xffffffff)) ;;
        i64) value=$(printf '%u' "$value") ;;
        esac
        ;;
    esac
    echo "$type:$value"
}

# Checksum printed by one peer, normalised; empty when it printed none.
checksum_interp() {
    "$WASM_INTERP" "$OUT/$1.wasm" --run-all-exports 2>&1 |
        sed -n 's/^run() => \([if][36][24]:-\{0,1\}[0-9]*\)$/\1/p' | head -n1
}
checksum_traced() {
    "$TRACED" run "$OUT/$1.wasm" --invoke run 2>&1 |
        sed -n 's/^\([if][36][24]:-\{0,1\}[0-9]*\)$/\1/p' | head -n1
}

expected_of() {
    awk -v k="$1" '$1 == k { print $2 ":" $3 }' "$EXPECTED"
}

# median of the numbers on stdin
median() {
    sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) exit 1
        if (NR % 2) printf "%.3f\n", v[(NR + 1) / 2]
        else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

now() { date +%s.%N; }

# time_peers KERNEL: prints "interp_median traced_median" (traced "-" when
# --interp-only). Both peers are measured in the same run, interleaved.
time_peers() {
    local k=$1 wasm=$OUT/$1.wasm
    local cmd_i="$WASM_INTERP $wasm --run-all-exports"
    local cmd_t="$TRACED run $wasm --invoke run"
    if command -v hyperfine >/dev/null; then
        local json
        json=$(mktemp)
        if [ "$interp_only" = 1 ]; then
            hyperfine -N -i --warmup 1 --runs "$runs" --export-json "$json" \
                --style none "$cmd_i" >/dev/null
        else
            hyperfine -N -i --warmup 1 --runs "$runs" --export-json "$json" \
                --style none "$cmd_i" "$cmd_t" >/dev/null
        fi
        # One "median" per command, in command order.
        local medians
        read -r -a medians < <(
            sed -n 's/^ *"median": *\([0-9.eE+-]*\),\{0,1\}$/\1/p' "$json" |
                awk '{ printf "%.3f ", $1 } END { print "" }')
        rm -f "$json"
        echo "${medians[0]:--} ${medians[1]:--}"
    else
        local ti=() tt=() t0 i
        "$WASM_INTERP" "$wasm" --run-all-exports >/dev/null 2>&1 || true
        [ "$interp_only" = 1 ] || "$TRACED" run "$wasm" --invoke run >/dev/null 2>&1 || true
        for ((i = 0; i < runs; i++)); do
            t0=$(now)
            "$WASM_INTERP" "$wasm" --run-all-exports >/dev/null 2>&1 || true
            ti+=("$(echo "$(now) - $t0" | bc)")
            if [ "$interp_only" = 0 ]; then
                t0=$(now)
                "$TRACED" run "$wasm" --invoke run >/dev/null 2>&1 || true
                tt+=("$(echo "$(now) - $t0" | bc)")
            fi
        done
        local mi mt=-
        mi=$(printf '%s\n' "${ti[@]}" | median)
        [ "$interp_only" = 1 ] || mt=$(printf '%s\n' "${tt[@]}" | median)
        echo "$mi $mt"
    fi
}

# ---- run --------------------------------------------------------------------
failed=0
rows=()
speedups=()
log "$(uname -srm), $(nproc) cores, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
log "$runs timed runs per peer after 1 warm-up; median wall-clock time"
for k in "${selected[@]}"; do
    want=$(expected_of "$k")
    [ -n "$want" ] || { log "$k: no expected checksum in $EXPECTED"; failed=1; }
    got_i=$(checksum_interp "$k")
    got_i=${got_i:+$(normalise "$got_i")}
    note=
    if [ "$got_i" != "$want" ]; then
        log "$k: wasm-interp printed '${got_i:-nothing}', expected '$want'"
        failed=1
        note=" (wasm-interp checksum wrong)"
    fi
    if [ "$interp_only" = 0 ]; then
        got_t=$(checksum_traced "$k")
        got_t=${got_t:+$(normalise "$got_t")}
        if [ "$got_t" != "$want" ]; then
            log "$k: traced printed '${got_t:-nothing}', expected '$want'"
            "$TRACED" run "$OUT/$k.wasm" --invoke run 2>&1 | head -n5 >&2 || true
            failed=1
            note="$note (traced checksum wrong)"
        fi
    fi
    log "$k: checksum $want; timing"
    read -r ti tt < <(time_peers "$k")
    speedup=-
    if [ "$tt" != - ] && [ -z "$note" ]; then
        speedup=$(awk -v a="$ti" -v b="$tt" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
        speedups+=("$speedup")
    fi
    shown=$speedup
    [ "$speedup" = - ] || shown="${speedup}x"
    rows+=("| $k | $ti | $tt | $shown$note |")
done

echo "| kernel | wasm-interp (s) | traced (s) | speedup |"
echo "|---|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
if [ ${#speedups[@]} -gt 0 ]; then
    geomean=$(printf '%s\n' "${speedups[@]}" |
        awk '{ s += log($1) } END { printf "%.2f", exp(s / NR) }')
    echo
    echo "Geometric mean speedup: ${geomean}x over ${#speedups[@]} kernels" \
        "(target: >= 5x on every kernel, >= 8x geomean)"
fi
if [ "$failed" != 0 ]; then
    log "checksum mismatch: see above"
    exit 1
fi
