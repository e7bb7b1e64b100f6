#!/usr/bin/env bash
# The WASI tier: build our C programs for wasm32-wasi and natively, run
# each natively and under the VM in fresh temp directories, and compare
# stdout, stderr, the exit code and the files they leave (a listing with
# sizes, checksums and symlink targets). Then the WASI-only checks: the
# sandbox escape program against expected/escape.out, a trap's exit
# status, an unresolved import, the output callback's order, and the C
# API test (wasi-api-test, when built: it needs Check).
#
#   tests/wasi/run.sh BUILD_DIR      (e.g. build/release)
#
# The runner is BUILD_DIR/traced when its `run` knows WASI (--dir), else
# BUILD_DIR/wasi-run; WASI_RUNNER overrides. Needs clang with the
# wasm32-wasi target and wasi-libc (Debian: clang, lld, wasi-libc); when
# they are missing the tier is skipped, loudly. Exits 1 if anything failed.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=$(cd "${1:?usage: tests/wasi/run.sh BUILD_DIR}" && pwd)
WASI_CFLAGS=(--target=wasm32-wasi --sysroot=/usr -O2 -Wall -Wextra -Werror)
NATIVE_CFLAGS=(-O2 -Wall -Wextra -Werror)
TRAP_STATUS=70 # what the runner returns when the program traps

if [[ -n "${WASI_RUNNER:-}" ]]; then
    read -ra runner <<<"$WASI_RUNNER"
elif "$build/traced" --help 2>&1 | grep -q -- '--dir'; then
    runner=("$build/traced" run)
elif [[ -x "$build/wasi-run" ]]; then
    runner=("$build/wasi-run")
else
    echo "wasi: neither $build/traced (with WASI) nor $build/wasi-run was built"
    exit 1
fi
echo "wasi: runner: ${runner[*]}"

if ! echo 'int main(void){return 0;}' |
    clang "${WASI_CFLAGS[@]}" -x c - -o /dev/null 2>/dev/null; then
    echo "wasi: SKIPPED: clang cannot build for wasm32-wasi (install clang, lld, wasi-libc)"
    exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin" "$tmp/out"
passed=0
failed=0

ok() { echo "ok   $1"; passed=$((passed + 1)); }
bad() { echo "FAIL $1"; failed=$((failed + 1)); }

# A deterministic listing of a directory tree: type, path, and for files
# the size and a checksum, for symlinks the target. Modes and times are
# left out (the VM creates files 0666 & ~umask, as wasmtime does).
listing() {
    (cd "$1" && find . -mindepth 1 | LC_ALL=C sort | while IFS= read -r f; do
        if [[ -L "$f" ]]; then
            echo "L $f -> $(readlink "$f")"
        elif [[ -d "$f" ]]; then
            echo "D $f"
        else
            echo "F $f $(stat -c %s "$f") $(sha256sum <"$f" | cut -c1-16)"
        fi
    done)
}

for src in "$here"/src/*.c "$here"/wasm_only/*.c; do
    name=$(basename "$src" .c)
    clang "${WASI_CFLAGS[@]}" "$src" -o "$tmp/bin/$name.wasm" ||
        bad "build $name.wasm"
    if [[ "$src" == "$here"/src/* ]]; then
        cc "${NATIVE_CFLAGS[@]}" "$src" -o "$tmp/bin/$name.native" ||
            bad "build $name.native"
    fi
done

# compare CASE PROGRAM STDIN [ARGS...]: native and WASI runs must agree.
# The environment is GREETING=hello only, on both sides.
compare() {
    local case=$1 prog=$2 input=$3
    shift 3
    local n="$tmp/run/$case.native" w="$tmp/run/$case.wasi" o="$tmp/out/$case"
    local nrc wrc why=""
    mkdir -p "$n" "$w" "$o"
    (cd "$n" && env -i GREETING=hello "$tmp/bin/$prog.native" "$@" \
        <"$input" >"$o/native.stdout" 2>"$o/native.stderr")
    nrc=$?
    (cd "$w" && "${runner[@]}" "$tmp/bin/$prog.wasm" --dir . --env GREETING=hello \
        -- "$@" <"$input" >"$o/wasi.stdout" 2>"$o/wasi.stderr")
    wrc=$?
    listing "$n" >"$o/native.files"
    listing "$w" >"$o/wasi.files"
    [[ $nrc -eq $wrc ]] || why+=" exit $nrc vs $wrc;"
    for part in stdout stderr files; do
        cmp -s "$o/native.$part" "$o/wasi.$part" || why+=" $part differs;"
    done
    if [[ -z "$why" ]]; then
        ok "$case (native = wasi, exit $nrc)"
    else
        bad "$case:$why"
        for part in stdout stderr files; do
            diff -u "$o/native.$part" "$o/wasi.$part" | head -20
        done
    fi
}

printf 'first line\nsecond, with more words\n\nlast line without newline' >"$tmp/stdin.txt"
: >"$tmp/empty.txt"

if [[ -f "$tmp/bin/hello.native" ]]; then
    compare hello hello "$tmp/stdin.txt"
    compare hello-empty-stdin hello "$tmp/empty.txt"
    compare args args_env "$tmp/empty.txt" one "two words" "" '$HOME' ünïcödé
    compare exit-5 args_env "$tmp/empty.txt" exit 5
    compare return-9 args_env "$tmp/empty.txt" return 9
    compare exit-300 args_env "$tmp/empty.txt" exit 300
    compare files files "$tmp/empty.txt"
    compare clocks clocks "$tmp/stdin.txt"
fi

# The sandbox: SANDBOX is preopened as /sandbox; OUTSIDE must be untouched.
if [[ -f "$tmp/bin/escape.wasm" ]]; then
    e="$tmp/run/escape"
    mkdir -p "$e/sandbox" "$e/outside"
    echo "secret" >"$e/outside/secret.txt"
    listing "$e/outside" >"$tmp/out/outside.before"
    (cd "$e" && "${runner[@]}" "$tmp/bin/escape.wasm" --dir sandbox:/sandbox \
        >"$tmp/out/escape.stdout" 2>"$tmp/out/escape.stderr" </dev/null)
    rc=$?
    listing "$e/outside" >"$tmp/out/outside.after"
    if [[ $rc -eq 0 ]] && diff -u "$here/expected/escape.out" "$tmp/out/escape.stdout"; then
        ok "escape: every refusal has the expected errno"
    else
        bad "escape: exit $rc or output differs from expected/escape.out"
        cat "$tmp/out/escape.stderr"
    fi
    if cmp -s "$tmp/out/outside.before" "$tmp/out/outside.after"; then
        ok "escape: nothing outside the preopen changed"
    else
        bad "escape: the outside directory changed"
        diff -u "$tmp/out/outside.before" "$tmp/out/outside.after"
    fi
fi

# A trap: abort() is `unreachable`; the runner says so and exits 70.
if [[ -f "$tmp/bin/args_env.wasm" ]]; then
    "${runner[@]}" "$tmp/bin/args_env.wasm" -- abort >/dev/null 2>"$tmp/out/trap.stderr"
    rc=$?
    if [[ $rc -eq $TRAP_STATUS ]] && grep -q unreachable "$tmp/out/trap.stderr"; then
        ok "trap: exit $TRAP_STATUS with the trap message"
    else
        bad "trap: exit $rc, stderr: $(cat "$tmp/out/trap.stderr")"
    fi
fi

# An import that is not WASI fails to link, naming it.
if [[ -f "$tmp/bin/unresolved.wasm" ]]; then
    "${runner[@]}" "$tmp/bin/unresolved.wasm" >/dev/null 2>"$tmp/out/unresolved.stderr"
    rc=$?
    if [[ $rc -ne 0 && $rc -ne $TRAP_STATUS ]] &&
        grep -q 'env.not_a_wasi_function' "$tmp/out/unresolved.stderr"; then
        ok "unresolved import: refused, named (exit $rc)"
    else
        bad "unresolved import: exit $rc, stderr: $(cat "$tmp/out/unresolved.stderr")"
    fi
fi

# The output callback sees stdout and stderr writes in program order
# (wasi-run --capture prints each callback record as "STREAM| bytes").
if [[ -x "$build/wasi-run" && -f "$tmp/bin/hello.wasm" ]]; then
    "$build/wasi-run" --capture "$tmp/bin/hello.wasm" <"$tmp/empty.txt" \
        >"$tmp/out/capture.stdout" 2>"$tmp/out/capture.stderr"
    order=$(grep -o -e '1| hello' -e '2| to stderr' -e '1| puts line' -e '1| raw write' \
        "$tmp/out/capture.stdout" | tr '\n' ',')
    if [[ "$order" == "1| hello,2| to stderr,1| puts line,1| raw write," &&
        ! -s "$tmp/out/capture.stderr" ]]; then
        ok "output callback: in order, capture-only writes nothing else"
    else
        bad "output callback: order [$order], stderr $(wc -c <"$tmp/out/capture.stderr") bytes"
    fi
fi

# The C API: callback order, renumbered streams, overrides, OOM (Check).
if [[ -x "$build/wasi-api-test" && -f "$tmp/bin/api_probe.wasm" ]]; then
    if "$build/wasi-api-test" "$tmp/bin/api_probe.wasm"; then
        ok "C API (wasi-api-test)"
    else
        bad "C API (wasi-api-test)"
    fi
fi

echo "wasi: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
