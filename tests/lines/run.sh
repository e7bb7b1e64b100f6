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
# CodeTracer output from DWARF (docs/codetracer.md): every recording is
# also made with --codetracer, and `traced export` converts its stream;
# both directories pass tests/daemon/ct_check.js's format checks, and
# ct_lines.js checks them against the stream (source Steps = step events,
# output after the right Step, a Call per call, files/ copies byte-equal
# to the sources) and writes the typed call tree, compared with the
# hand-checked run_fib.ct, trap_in.ct (every frame gets its Return) and
# run_typed.ct (DWARF-typed arguments and results). --sources takes a
# bundle's copy first. Needs node; skipped without it, except under CI=1.
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
    "$traced" run --trace-dir "$tmp/$name" --level lines --codetracer \
        "$wasm" "$@" >"$tmp/$name.out" 2>&1
    "$tracectl" tail --file "$tmp/$name/stream.trace" --no-follow \
        --module "$wasm" >"$tmp/$name.tree"
    # With the module, step runs come out as their step events.
    "$tracectl" tail --file "$tmp/$name/stream.trace" --no-follow \
        --module "$wasm" --format jsonl >"$tmp/$name.jsonl"
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

have_node=0
if command -v node >/dev/null; then
    have_node=1
elif [[ "${CI:-}" == 1 ]]; then
    bad "CodeTracer checks: node is missing"
else
    echo "lines: CodeTracer checks SKIPPED: node is missing"
fi

# codetracer NAME WASM: the live CodeTracer directory of recording NAME and
# its export from the stream are valid, agree with the stream and with each
# other; the typed call tree matches $here/NAME.ct when there is one.
codetracer() {
    local name=$1 wasm=$2 ct=$tmp/$1/codetracer ex=$tmp/$1.export
    [[ $have_node == 1 ]] || return 0
    if node "$here/../daemon/ct_check.js" "$ct" >"$tmp/ct.out" &&
        node "$here/ct_lines.js" "$ct" "$tmp/$name.jsonl" "$tmp/$name.ct" \
            >>"$tmp/ct.out"; then
        ok "$name: CodeTracer trace is valid and follows the stream"
    else
        bad "$name: CodeTracer trace is valid and follows the stream"
        cat "$tmp/ct.out"
    fi
    if [[ -f "$here/$name.ct" ]]; then
        check "$name: CodeTracer calls, typed values and returns" \
            "$here/$name.ct" "$tmp/$name.ct"
    fi
    # The export writes the same records (but for the listing's Path,
    # which names the directory).
    if "$traced" export "$tmp/$name/stream.trace" --codetracer "$ex" \
            --module "$wasm" 2>"$tmp/export.err" &&
        node "$here/../daemon/ct_check.js" "$ex" >"$tmp/ct.out" &&
        diff <(sed 2d "$ct/trace.json") <(sed 2d "$ex/trace.json") \
            >"$tmp/diff" &&
        diff -r -x '*.wat' "$ct/files" "$ex/files" >>"$tmp/diff"; then
        ok "$name: traced export writes the same CodeTracer trace"
    else
        bad "$name: traced export writes the same CodeTracer trace"
        cat "$tmp/export.err" "$tmp/ct.out" "$tmp/diff"
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
    codetracer "$1" "$tmp/lines.wasm"
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
codetracer hello "$tmp/hello.wasm"
# run_start carries the file table the steps index.
if grep -q '"files":\[[^]]*hello\.c"' "$tmp/hello.jsonl"; then
    ok "hello: run_start has the file table"
else
    bad "hello: run_start has the file table"
fi

# A source bundle comes first: its lines.c (found by the path's suffix)
# is the copy in files/, and the recording still checks out against it.
if [[ $have_node == 1 ]]; then
    mkdir -p "$tmp/bundle/lines"
    sed 's|^/\* tests/lines|/* (bundled) tests/lines|' "$here/lines.c" \
        >"$tmp/bundle/lines/lines.c"
    rm -rf "$tmp/bundled"
    lines_c=$(cd "$here" && pwd)/lines.c
    if "$traced" export "$tmp/sum_to/stream.trace" --codetracer \
            "$tmp/bundled" --module "$tmp/lines.wasm" \
            --sources "$tmp/bundle" 2>"$tmp/export.err" &&
        cmp -s "$tmp/bundle/lines/lines.c" "$tmp/bundled/files$lines_c" &&
        node "$here/../daemon/ct_check.js" "$tmp/bundled" >/dev/null; then
        ok "export --sources: the bundle's copy is in files/"
    else
        bad "export --sources: the bundle's copy is in files/"
        cat "$tmp/export.err"
    fi
    if "$traced" export "$tmp/sum_to/stream.trace" --codetracer \
            "$tmp/bundled" --module "$tmp/lines.wasm" \
            --sources "$tmp/no-such-dir" 2>"$tmp/export.err"; then
        bad "export --sources with no such directory fails"
    elif grep -q "source bundle" "$tmp/export.err"; then
        ok "export --sources with no such directory fails"
    else
        bad "export --sources with no such directory fails: $(cat "$tmp/export.err")"
    fi
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
