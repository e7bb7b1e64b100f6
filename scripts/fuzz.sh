#!/usr/bin/env bash
# Fuzz the VM with libFuzzer (tests/fuzz/fuzz_vm.c) for SECONDS (default 60).
#
# Usage: scripts/fuzz.sh [SECONDS] [-- extra libFuzzer flags]
#
# Builds build/fuzz with clang, AddressSanitizer + UBSan and libFuzzer
# coverage on the library, seeds tests/fuzz/corpus (gitignored) with every
# module wast2json makes from ../shared/wasm-testsuite/core (when present)
# and the benchmark kernels, then runs with -max_total_time=SECONDS,
# -timeout=10, -rss_limit_mb=2048 on one worker. The corpus grows between
# runs; delete tests/fuzz/corpus to start over.
#
# Exit status: 0 when the run ended without a finding, 1 when libFuzzer
# found a crash, leak, timeout or OOM (the input is copied to
# tests/regression/fuzz/ with a note to make it a regression test), 2 on a
# setup error.
#
# Environment: CC (default clang), TRACED_FUZZ_FEATURES (passed through to
# the target, see tests/fuzz/fuzz_vm.c), WASM_TESTSUITE (default
# ../shared/wasm-testsuite relative to the repository). FUZZ_CFLAGS adds
# compiler flags and then builds into build/fuzz-custom instead, e.g.
# FUZZ_CFLAGS=-fno-sanitize=pointer-overflow to fuzz past a known finding
# while its fix is pending.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
FUZZ_CFLAGS=${FUZZ_CFLAGS:-}
if [ -n "$FUZZ_CFLAGS" ]; then
    BUILD=$ROOT/build/fuzz-custom
else
    BUILD=$ROOT/build/fuzz
fi
CORPUS=$ROOT/tests/fuzz/corpus
REGRESSION=$ROOT/tests/regression/fuzz
TESTSUITE=${WASM_TESTSUITE:-$ROOT/../shared/wasm-testsuite}
CC=${CC:-clang}

die() { echo "fuzz.sh: $*" >&2; exit 2; }
log() { echo "fuzz.sh: $*" >&2; }

seconds=60
if [ $# -gt 0 ] && [ "$1" != -- ]; then
    seconds=$1
    shift
fi
case $seconds in '' | *[!0-9]*) die "SECONDS must be a number, got '$seconds'" ;; esac
[ $# -eq 0 ] || { [ "$1" = -- ] && shift; }
extra=("$@")

command -v "$CC" >/dev/null || die "$CC not found (the fuzz build needs clang)"

# ---- build ------------------------------------------------------------------
log "building $BUILD with $CC (ASan + UBSan + libFuzzer)"
# The same configuration as `scripts/build.sh fuzz`, so the two share
# build/fuzz without reconfiguring each other.
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_C_COMPILER="$CC" -DTRACED_WERROR=ON \
    -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_C_FLAGS_DEBUG=-g -O1" \
    -DTRACED_FUZZ=ON -DTRACED_SANITIZE=ON "-DTRACED_FUZZ_CFLAGS=$FUZZ_CFLAGS" >&2 ||
    die "cmake configure failed"
# Only the fuzz targets: the rest of the tree is not needed here.
cmake --build "$BUILD" -j "$(nproc)" --target fuzz_vm >&2 || die "build failed"
TARGET=$BUILD/fuzz_vm

# ---- corpus -----------------------------------------------------------------
mkdir -p "$CORPUS"
seed_count() { find "$CORPUS" -maxdepth 1 -type f | wc -l; }
if [ "$(seed_count)" -eq 0 ]; then
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    if [ -d "$TESTSUITE/core" ] && command -v wast2json >/dev/null; then
        log "seeding from $TESTSUITE/core"
        # wast2json names each module after its script (NAME.N.wasm), so one
        # directory holds them all without clashes, and one mv moves them:
        # no process per module (there are about 4,600).
        for wast in "$TESTSUITE"/core/*.wast; do
            name=$(basename "$wast" .wast)
            # Some scripts use proposals this wabt does not know; skip them.
            wast2json --enable-all "$wast" -o "$work/$name.json" \
                >/dev/null 2>&1 || continue
        done
        # Binary modules only (.wat text modules from assert_malformed are
        # not binaries).
        find "$work" -maxdepth 1 -name '*.wasm' -exec mv -t "$CORPUS" {} +
    else
        log "no $TESTSUITE/core or no wast2json: seeding from the kernels only"
    fi
    if command -v wat2wasm >/dev/null; then
        for wat in "$ROOT"/bench/kernels/*.wat; do
            wat2wasm "$wat" -o "$CORPUS/bench-$(basename "$wat" .wat).wasm" ||
                log "wat2wasm failed on $wat"
        done
    fi
    log "seeded $(seed_count) inputs"
else
    log "reusing corpus $CORPUS ($(seed_count) inputs)"
fi

# ---- run --------------------------------------------------------------------
artifacts=$(mktemp -d)
fuzzlog=$artifacts/fuzz.log
log "fuzzing for ${seconds}s"
set +e
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    "$TARGET" "$CORPUS" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$artifacts/" -print_final_stats=1 "${extra[@]}" \
    2>&1 | tee "$fuzzlog" >&2
status=${PIPESTATUS[0]}
set -e

found=$(find "$artifacts" -type f ! -name fuzz.log | sort)
if [ -z "$found" ] && [ "$status" -eq 0 ]; then
    log "no findings in ${seconds}s"
    rm -rf "$artifacts"
    exit 0
fi

mkdir -p "$REGRESSION"
for f in $found; do
    # crash-<sha1>, leak-<sha1>, timeout-<sha1>, oom-<sha1>, slow-unit-<sha1>
    dest=$REGRESSION/$(basename "$f").wasm
    if [ -e "$dest" ]; then
        # Same bytes as a finding already saved: keep its (edited) note.
        log "known finding again: $dest"
        continue
    fi
    cp "$f" "$dest"
    {
        echo "Found by scripts/fuzz.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ)" \
            "(libFuzzer exit $status)."
        echo "Reproduce: $TARGET $dest"
        echo "TODO: turn this into a regression test named after what it"
        echo "catches (tests/regression/<name>.wat or a unit test), then"
        echo "delete this note."
        echo
        echo "Report (first lines and the VM frames):"
        grep -E 'runtime error|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|contract broken|SUMMARY' \
            "$fuzzlog" | head -n 5
        grep -E '^ +#[0-9]+ .* /.*/(vm|tests/fuzz)/' "$fuzzlog" | head -n 5
        if command -v wasm2wat >/dev/null &&
            wasm2wat --enable-all "$dest" -o "$artifacts/input.wat" 2>/dev/null; then
            echo
            echo "Input as text (wasm2wat, first 40 lines):"
            head -n 40 "$artifacts/input.wat"
        fi
    } >"$dest.txt"
    log "finding saved as $dest (reproduce: $TARGET $dest)"
done
rm -rf "$artifacts"
if [ "$status" -eq 0 ]; then
    # Artifacts without a failing exit status are slow units only.
    log "libFuzzer reported slow inputs but no failure"
    exit 0
fi
exit 1
