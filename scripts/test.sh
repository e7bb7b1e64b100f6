#!/usr/bin/env bash
# The whole test run (README: "Test"): install what is missing, build the
# release, asan and switch flavours, and run every tier in each:
#
#   unit         build/<flavour>/test_vm and every other test_* (Check)
#   spec core    traced-spec over the spec suite's core/*.wast (SIMD too),
#                then again with --trace ops and --trace steps (the
#                instrumented and stepped code variants)
#   proposals    tail-call and exception-handling (must pass)
#   regression   tests/regression/*.wast and *.wat, through traced-spec
#   demo         traced run of tests/demo/fib.wat prints i32:832040
#
# and once: the ring stress tests (10^8 events in the release build, 10^7
# under ThreadSanitizer, lossless and lossy, one event per record and in
# batch records), a 60-second fuzz run (scripts/fuzz.sh 60) when that script and
# clang exist, every tests/*/run.sh (given the release build dir), and
# tests/daemon/valgrind.sh (the daemon under memcheck) when valgrind exists.
#
# The spec suite is $WASM_TESTSUITE, by default ../shared/wasm-testsuite
# beside the repo; when it is absent the spec tiers are skipped, loudly.
# tests/spec/xfail.txt, when present, lists known spec failures (a ratchet
# while the VM is written; traced-spec reports entries that now pass).
#
# Ends with "N passed, N failed" over the tiers; exits 1 if any failed.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo" || exit 1
suite=${WASM_TESTSUITE:-$repo/../shared/wasm-testsuite}
read -ra flavours <<<"${TEST_FLAVOURS:-release asan switch}"

passed=0
failed=0
failed_tiers=()

# tier NAME COMMAND...: run one tier and record its outcome.
tier() {
    local name=$1
    shift
    echo
    echo "=== $name"
    if "$@"; then
        passed=$((passed + 1))
        echo "=== ok: $name"
        return 0
    else
        failed=$((failed + 1))
        failed_tiers+=("$name")
        echo "=== FAILED: $name"
        return 1
    fi
}

# no_crash COMMAND...: the command may report failures (exit 1) but must
# not crash: traced-spec exits 3 when the VM died, a signal gives >128.
no_crash() {
    local rc=0
    "$@" || rc=$?
    if [[ $rc -ne 0 && $rc -ne 1 ]]; then
        echo "exit status $rc: crash or sanitizer report"
        return 1
    fi
    [[ $rc -eq 0 ]] || echo "(failures above are expected for now; no crash)"
    return 0
}

# run_built PROGRAM ARGS...: a tier whose program was not built fails, it is not skipped.
run_built() {
    if [[ ! -x "$1" ]]; then
        echo "$1 was not built"
        return 1
    fi
    "$@"
}

# One Check suite of a built test binary: run_suite SUITE BINARY ARGS...
run_suite() {
    local suite=$1
    shift
    CK_RUN_SUITE=$suite run_built "$@"
}

demo() {
    local bin=$1 tmp out=""
    tmp=$(mktemp -d)
    wat2wasm tests/demo/fib.wat -o "$tmp/fib.wasm" &&
        out=$("$bin" run "$tmp/fib.wasm" --invoke fib 30)
    local rc=$?
    rm -rf "$tmp"
    echo "$out"
    [[ $rc -eq 0 && "$out" == "i32:832040" ]]
}

if ! scripts/setup.sh -q; then
    echo "setup failed" >&2
    exit 1
fi

# Sanitizer reports must fail the run; leaks are checked (LSan) at exit.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1}

xfail=()
[[ -f tests/spec/xfail.txt ]] && xfail=(--xfail tests/spec/xfail.txt)

core=()
if [[ -d "$suite/core" ]]; then
    for f in "$suite"/core/*.wast; do
        core+=("$f")
    done
else
    echo "spec suite not found at $suite (set WASM_TESTSUITE): spec tiers skipped"
fi
regression=()
for f in tests/regression/*.wast tests/regression/*.wat; do
    if [[ -e "$f" ]]; then
        regression+=("$f")
    fi
done

# spec_traced SPEC: the core scripts with --trace ops, then --trace steps.
spec_traced() {
    run_built "$1" --trace ops "${xfail[@]}" "${core[@]}" &&
        run_built "$1" --trace steps "${xfail[@]}" "${core[@]}"
}

for flavour in "${flavours[@]}"; do
    b=build/$flavour
    if ! tier "$flavour: build" scripts/build.sh "$flavour"; then
        echo "(the other $flavour tiers are not run: the build failed)"
        continue
    fi
    tier "$flavour: unit test_vm" run_built "$b/test_vm"
    for t in "$b"/test_*; do
        if [[ -x "$t" && "$t" != "$b/test_vm" ]]; then
            tier "$flavour: unit $(basename "$t")" "$t"
        fi
    done
    if [[ ${#core[@]} -gt 0 ]]; then
        tier "$flavour: spec core" run_built "$b/traced-spec" "${xfail[@]}" "${core[@]}"
        # The same scripts through the instrumented and the stepped code
        # variants (every offset a step point), hooks checked for balance.
        tier "$flavour: spec core, traced (ops, steps)" spec_traced "$b/traced-spec"
        tier "$flavour: spec tail-call" run_built "$b/traced-spec" \
            --enable-tail-call "$suite"/proposals/tail-call/*.wast
        tier "$flavour: spec exceptions" run_built "$b/traced-spec" \
            --enable-exceptions "$suite"/proposals/exception-handling/*.wast
    fi
    if [[ ${#regression[@]} -gt 0 ]]; then
        tier "$flavour: regression" run_built "$b/traced-spec" "${regression[@]}"
    fi
    tier "$flavour: demo (traced run fib 30)" demo "$b/traced"
done

# The ring is the one lock-free structure: stress it at full size in the
# release build and under ThreadSanitizer (docs/protocol.md, "The ring").
tier "release: ring stress 10^8" run_built build/release/ring_stress 100000000 both
tier "release: ring stress 10^8, batches" run_built build/release/ring_stress 100000000 both 0 batches
tier "release: ring stress 10^8, sink records" run_built build/release/ring_stress 100000000 both 0 sinks
if tier "tsan: build" scripts/build.sh tsan; then
    tier "tsan: unit test_proto" run_built build/tsan/test_proto
    # The trace sink's gate is shared with the owner's ticker (vm.h).
    tier "tsan: unit test_vm trace" run_suite trace build/tsan/test_vm
    tier "tsan: ring stress 10^7" run_built build/tsan/ring_stress 10000000 both
    tier "tsan: ring stress 10^7, batches" run_built build/tsan/ring_stress 10000000 both 0 batches
    tier "tsan: ring stress 10^7, sink records" run_built build/tsan/ring_stress 10000000 both 0 sinks
fi

if [[ -x scripts/fuzz.sh ]]; then
    if command -v clang >/dev/null; then
        tier "fuzz (60 s)" scripts/fuzz.sh 60
    else
        echo "clang not found: fuzz smoke run skipped"
    fi
fi
for t in tests/*/run.sh; do
    if [[ -x "$t" ]]; then
        tier "$t" "$t" "$repo/build/release"
    fi
done
# The daemon under valgrind memcheck (errors and leaks fail it; ~20 s).
if command -v valgrind >/dev/null; then
    tier "tests/daemon/valgrind.sh" tests/daemon/valgrind.sh "$repo/build/release"
else
    echo "valgrind not found: daemon memcheck skipped"
fi

echo
if [[ $failed -gt 0 ]]; then
    printf 'failed tier: %s\n' "${failed_tiers[@]}"
fi
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
