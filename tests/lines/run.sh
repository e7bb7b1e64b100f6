#!/usr/bin/env bash
# The lines tier: record C programs built with -g -O0 at the `lines` level
# (`traced run --trace-dir DIR --level lines`) and compare the call tree
# with its step lines, as `tracectl tail --file --module` prints it, with
# the hand-checked expectations beside this script:
#
#   lines.c  (no libc, --invoke)   run_fib.tree  recursion
#                                  sum_to.tree   a loop (one step per line
#                                                change, not per row)
#                                  trap_in.tree  a trap three frames deep
#                                  run_typed.tree  DWARF-typed arguments
#   hello.c  (WASI, printf)        hello.tree    main's and square's steps
#                                  with the output, libc's own lines
#                                  filtered out (they depend on the libc)
#
# Also: every call has its return (a trap unwinds them all), a module
# without DWARF is refused at the lines level, and `traced run --trace
# --level lines` counts steps.
#
#   tests/lines/run.sh BUILD_DIR      (e.g. build/release)
#
# Needs clang with the wasm32 and wasm32-wasi targets and wasi-libc
# (Debian: clang, lld, wasi-libc); skipped with a message without them,
# except under CI=1. Exits 1 if anything failed.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=$(cd "${1:?usage: tests/lines/run.sh BUILD_DIR}" && pwd)
traced=$build/traced
tracectl=$build/tracectl

[[ -x "$traced" && -x "$tracectl" ]] ||
    { echo "lines: $traced or $tracectl was not built"; exit 1; }
if ! echo 'int main(void){return 0;}' |
    clang --target=wasm32-wasi --sysroot=/usr -x c - -o /dev/null 2>/dev/null
then
    if [[ "${CI:-}" == 1 ]]; then
        echo "lines: FAILED: clang cannot build for wasm32-wasi"
        exit 1
    fi
    echo "lines: SKIPPED: clang cannot build for wasm32-wasi (install clang, lld, wasi-libc)"
    exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
ok() { echo "ok   $1"; passed=$((passed + 1)); }
bad() { echo "FAIL $1"; failed=$((failed + 1)); }

exports=(run_fib sum_to trap_in run_typed)
clang --target=wasm32 -nostdlib -g -O0 -Wl,--no-entry \
    "${exports[@]/#/-Wl,--export=}" "$here/lines.c" -o "$tmp/lines.wasm" &&
clang --target=wasm32 -nostdlib -O0 -Wl,--no-entry \
    "${exports[@]/#/-Wl,--export=}" "$here/lines.c" -o "$tmp/nodebug.wasm" &&
clang --target=wasm32-wasi --sysroot=/usr -g -O0 "$here/hello.c" \
    -o "$tmp/hello.wasm" || { echo "lines: cannot build the programs"; exit 1; }

# record NAME WASM ARGS...: record into $tmp/NAME; the tree into
# $tmp/NAME.tree and the JSON lines into $tmp/NAME.jsonl.
record() {
    local name=$1 wasm=$2
    shift 2
    rm -rf "$tmp/$name"
    "$traced" run --trace-dir "$tmp/$name" --level lines "$wasm" "$@" \
        >"$tmp/$name.out" 2>&1
    "$tracectl" tail --file "$tmp/$name/stream.trace" --no-follow \
        --module "$wasm" >"$tmp/$name.tree"
    "$tracectl" tail --file "$tmp/$name/stream.trace" --no-follow \
        --format jsonl >"$tmp/$name.jsonl"
}

# Every call has exactly one return, in a finished run.
balanced() {
    local calls returns
    calls=$(grep -c '"type":"call"' "$1")
    returns=$(grep -c '"type":"return"' "$1")
    [[ "$calls" -gt 0 && "$calls" == "$returns" ]] &&
        grep -q '"type":"run_end"' "$1"
}

check() {
    local name=$1 want=$2 got=$3
    if diff -u "$want" "$got" >"$tmp/diff"; then
        ok "$name"
    else
        bad "$name"
        cat "$tmp/diff"
    fi
}

for case in "run_fib 3" "sum_to 3" "trap_in 1" "run_typed"; do
    set -- $case
    record "$1" "$tmp/lines.wasm" --invoke "$@"
    check "$1: steps" "$here/$1.tree" "$tmp/$1.tree"
    if balanced "$tmp/$1.jsonl"; then
        ok "$1: every call returns"
    else
        bad "$1: every call returns"
    fi
done

record hello "$tmp/hello.wasm"
grep -E 'hello\.c:|\[fd|^end|^run' "$tmp/hello.tree" | sed 's/^ *//' \
    >"$tmp/hello.mine"
check "hello: steps and output" "$here/hello.tree" "$tmp/hello.mine"
if balanced "$tmp/hello.jsonl"; then
    ok "hello: every call returns"
else
    bad "hello: every call returns"
fi
# run_start carries the file table the steps index.
if grep -q '"files":\[[^]]*hello\.c"' "$tmp/hello.jsonl"; then
    ok "hello: run_start has the file table"
else
    bad "hello: run_start has the file table"
fi

# Without DWARF the lines level refuses the module, saying why.
if "$traced" run --trace-dir "$tmp/nodebug" --level lines \
        "$tmp/nodebug.wasm" --invoke sum_to 3 2>"$tmp/err" >/dev/null; then
    bad "no DWARF: refused"
else
    if grep -q "needs DWARF line info" "$tmp/err"; then
        ok "no DWARF: refused"
    else
        bad "no DWARF: refused (message: $(cat "$tmp/err"))"
    fi
fi

# The counting tracer counts step points reached: sum_to(3) reaches the
# statement rows of lines 19, 20 and 21 (i = 0), then 22 and 21 (i++)
# three times, then 23 (the loop test has no statement row): 10.
"$traced" run --trace --level lines "$tmp/lines.wasm" --invoke sum_to 3 \
    2>"$tmp/counts" >/dev/null
if grep -q "calls=1 .* steps=10$" "$tmp/counts"; then
    ok "--trace --level lines counts steps"
else
    bad "--trace --level lines counts steps: $(cat "$tmp/counts")"
fi

echo "lines: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
