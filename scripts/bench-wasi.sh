#!/usr/bin/env bash
# Benchmark the kernels as WASI programs: native vs traced vs Node's WASI.
#
# Usage: scripts/bench-wasi.sh [--quick] [--runs N] [--reps R] [--no-build]
#                              [KERNEL...]
#
#   --quick      3 timed runs per peer instead of 5
#   --runs N     N timed runs per peer (N >= 3)
#   --reps R     each timed run computes the kernel R times (default 10;
#                clang -O2 code is much faster than the hand-written .wat,
#                and one repetition would mostly time Node's start-up)
#   --no-build   do not (re)build build/release (use $TRACED as it is)
#   KERNEL...    only these kernels (names in bench/kernels/expected.txt, or
#                startup: no work, the start-up baseline; the default is all
#                of them after startup)
#
# Environment: TRACED (default build/release/traced), NODE (default node),
# CC (default cc), WASI_CC (default clang), HYPERFINE (default hyperfine;
# a name that is not a command selects the date-timed loop).
#
# bench/wasi/kernels.c (the C transcriptions of bench/kernels/*.wat, one
# program taking the kernel name as argv[1]) is built twice into
# bench/out/wasi/: for wasm32-wasi with clang -O2 -msimd128, and natively
# with $CC -O2. Each kernel then runs under three peers:
#
#   native   bench/out/wasi/kernels -n R KERNEL          (machine code, cc -O2)
#   traced   $TRACED run kernels.wasm -- -n R KERNEL     (our interpreter)
#   node     node bench/wasi/node_run.mjs kernels.wasm -n R KERNEL  (V8: a JIT)
#
# Every peer's "KERNEL CHECKSUM" line must match bench/kernels/expected.txt,
# or the script exits 1 (2 on a usage or setup error). The three peers are
# timed in the same measurement (one hyperfine invocation with all three
# commands, or an interleaved loop timed with date when hyperfine is
# missing), after one warm-up each; the figure is the median wall-clock
# time of the whole process, start-up included (Node's is ~40 ms).
#
# Output: a markdown table (kernel | native | traced | node | traced/native |
# traced/node) and the geometric means of the ratios, on stdout; progress on
# stderr.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SRC=$ROOT/bench/wasi/kernels.c
NODE_RUN=$ROOT/bench/wasi/node_run.mjs
OUT=$ROOT/bench/out/wasi
EXPECTED=$ROOT/bench/kernels/expected.txt
TRACED=${TRACED:-$ROOT/build/release/traced}
NODE=${NODE:-node}
CC=${CC:-cc}
WASI_CC=${WASI_CC:-clang}
HYPERFINE=${HYPERFINE:-hyperfine}

runs=5
reps=10
build=1
selected=()

usage() { sed -n '2,39s/^# \{0,1\}//p' "$0"; }
die() { echo "bench-wasi.sh: $*" >&2; exit 2; }
log() { echo "bench-wasi.sh: $*" >&2; }

while [ $# -gt 0 ]; do
    case $1 in
    --quick) runs=3 ;;
    --runs)
        [ $# -ge 2 ] || die "--runs needs a number"
        runs=$2
        shift
        ;;
    --reps)
        [ $# -ge 2 ] || die "--reps needs a number"
        reps=$2
        shift
        ;;
    --no-build) build=0 ;;
    -h | --help) usage; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) selected+=("$1") ;;
    esac
    shift
done
case $runs in '' | *[!0-9]*) die "--runs needs a number" ;; esac
case $reps in '' | 0 | *[!0-9]*) die "--reps needs a number >= 1" ;; esac
[ "$runs" -ge 3 ] || die "--runs must be at least 3 (a median of fewer is noise)"
[ -r "$EXPECTED" ] || die "missing $EXPECTED"
command -v "$NODE" >/dev/null || die "$NODE not found (Node >= 20 has node:wasi)"
command -v "$CC" >/dev/null || die "$CC not found"
command -v "$WASI_CC" >/dev/null || die "$WASI_CC not found (apt-get install clang lld wasi-libc)"

# ---- build ------------------------------------------------------------------
if [ "$build" = 1 ]; then
    log "building release with scripts/build.sh"
    "$ROOT/scripts/build.sh" release >&2 || die "release build failed"
fi
[ -x "$TRACED" ] || die "$TRACED not found or not executable"

mkdir -p "$OUT"
WARN=(-Wall -Wextra -Werror -ffp-contract=off)
deps=("$SRC" "$ROOT/bench/kernels/reference.c" "$ROOT/bench/kernels/reference_simd.c")
stale() { # stale TARGET: older than a source, or missing
    local d
    [ -e "$1" ] || return 0
    for d in "${deps[@]}"; do [ "$d" -nt "$1" ] && return 0; done
    return 1
}
if stale "$OUT/kernels.wasm"; then
    log "building kernels.wasm ($WASI_CC --target=wasm32-wasi -O2 -msimd128)"
    "$WASI_CC" --target=wasm32-wasi --sysroot=/usr -O2 -msimd128 "${WARN[@]}" \
        "$SRC" -o "$OUT/kernels.wasm" || die "wasm32-wasi build failed"
fi
if stale "$OUT/kernels"; then
    log "building native kernels ($CC -O2)"
    "$CC" -O2 "${WARN[@]}" "$SRC" -o "$OUT/kernels" || die "native build failed"
fi

if [ ${#selected[@]} -eq 0 ]; then
    read -r -a selected < <(awk '!/^#/ && NF { printf "%s ", $1 } END { print "" }' "$EXPECTED")
    selected=(startup "${selected[@]}")
fi

expected_of() {
    if [ "$1" = startup ]; then echo 0; return; fi
    awk -v k="$1" '$1 == k { print $3 }' "$EXPECTED"
}

# The command line of peer P (native, traced, node) for kernel K.
cmd_of() {
    case $1 in
    native) echo "$OUT/kernels -n $reps $2" ;;
    traced) echo "$TRACED run $OUT/kernels.wasm -- -n $reps $2" ;;
    node) echo "$NODE --no-warnings $NODE_RUN $OUT/kernels.wasm -n $reps $2" ;;
    esac
}
peers=(native traced node)
# run_peer P K: run the peer's command (paths contain no blanks).
run_peer() {
    local c
    read -r -a c <<<"$(cmd_of "$1" "$2")"
    "${c[@]}"
}

# checksum P K: the value the peer printed for the kernel, empty if none.
checksum() {
    run_peer "$1" "$2" 2>/dev/null | awk -v k="$2" '$1 == k { print $2; exit }'
}

median() {
    sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) exit 1
        if (NR % 2) printf "%.3f\n", v[(NR + 1) / 2]
        else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
now() { date +%s.%N; }

# time_peers K: prints the three medians, in the order of $peers.
time_peers() {
    local k=$1 p
    if command -v "$HYPERFINE" >/dev/null; then
        local json cmds=()
        json=$(mktemp)
        for p in "${peers[@]}"; do cmds+=("$(cmd_of "$p" "$k")"); done
        "$HYPERFINE" -N --warmup 1 --runs "$runs" --export-json "$json" \
            --style none "${cmds[@]}" >/dev/null || log "$k: hyperfine failed"
        sed -n 's/^ *"median": *\([0-9.eE+-]*\),\{0,1\}$/\1/p' "$json" |
            awk '{ printf "%.3f ", $1 } END { print "" }'
        rm -f "$json"
    else
        local i t0 tn=() tt=() tj=()
        for p in "${peers[@]}"; do run_peer "$p" "$k" >/dev/null 2>&1; done
        for ((i = 0; i < runs; i++)); do
            t0=$(now); run_peer native "$k" >/dev/null 2>&1; tn+=("$(echo "$(now) - $t0" | bc)")
            t0=$(now); run_peer traced "$k" >/dev/null 2>&1; tt+=("$(echo "$(now) - $t0" | bc)")
            t0=$(now); run_peer node "$k" >/dev/null 2>&1; tj+=("$(echo "$(now) - $t0" | bc)")
        done
        echo "$(printf '%s\n' "${tn[@]}" | median) $(printf '%s\n' "${tt[@]}" | median)" \
            "$(printf '%s\n' "${tj[@]}" | median)"
    fi
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
geomean() { awk '{ s += log($1) } END { if (NR) printf "%.2f", exp(s / NR) }'; }

# ---- run --------------------------------------------------------------------
failed=0
rows=()
r_native=()
r_node=()
log "$(uname -srm), $(nproc) cores, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
log "$("$NODE" --version) (V8 $("$NODE" -p process.versions.v8)), $("$CC" --version | head -n1)"
log "$runs timed runs per peer after 1 warm-up, $reps repetitions of the kernel each; median wall-clock time"
for k in "${selected[@]}"; do
    want=$(expected_of "$k")
    [ -n "$want" ] || die "no kernel $k in $EXPECTED"
    bad=
    for p in "${peers[@]}"; do
        got=$(checksum "$p" "$k" || true)
        if [ "$got" != "$want" ]; then
            log "$k: $p printed '${got:-nothing}', expected '$want'"
            bad="$bad $p"
            failed=1
        fi
    done
    log "$k: checksum $want from all peers${bad:+ except$bad}; timing"
    read -r tn tt tj < <(time_peers "$k")
    tn=${tn:--} tt=${tt:--} tj=${tj:--}
    if [ -n "$bad" ] || [ "$k" = startup ]; then
        [ "$k" != startup ] || k="(startup: no work)"
        rows+=("| $k | $tn | $tt | $tj | - | - |")
        continue
    fi
    rn=$(ratio "$tt" "$tn")
    rj=$(ratio "$tt" "$tj")
    r_native+=("$rn")
    r_node+=("$rj")
    rows+=("| $k | $tn | $tt | $tj | ${rn}x | ${rj}x |")
done

echo "| kernel | native (s) | traced (s) | node (s) | traced/native | traced/node |"
echo "|---|---:|---:|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
if [ ${#r_native[@]} -gt 0 ]; then
    echo
    echo "Geometric means over ${#r_native[@]} kernels:" \
        "traced/native $(printf '%s\n' "${r_native[@]}" | geomean)x," \
        "traced/node $(printf '%s\n' "${r_node[@]}" | geomean)x" \
        "(lower is better for traced)"
fi
if [ "$failed" != 0 ]; then
    log "checksum mismatch: see above"
    exit 1
fi
