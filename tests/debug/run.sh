#!/usr/bin/env bash
# The debug-info tier: build tests/debug/*.c for wasm32-wasi with DWARF 4
# and 5 at -O0 and DWARF 5 at -O2, and compare the line table that
# `traced debuginfo --lines` reads (vm/dwarf*.c) with llvm-dwarfdump's
# --debug-line for each program, row by row (address, line, column, file
# name, discriminator, flags; rows sorted, as our table is sorted by
# address and dwarfdump prints table order). Then check that each program
# maps every one of its own functions to a subprogram.
#
#   tests/debug/run.sh BUILD_DIR      (e.g. build/release)
#
# Needs clang with the wasm32-wasi target and wasi-libc (Debian: clang,
# lld, wasi-libc) and llvm-dwarfdump (llvm-14); when they are missing the
# tier is skipped with a message, except under CI=1, where setup installs
# them and their absence fails. Exits 1 if anything failed.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=$(cd "${1:?usage: tests/debug/run.sh BUILD_DIR}" && pwd)
traced=$build/traced
WASI_CFLAGS=(--target=wasm32-wasi --sysroot=/usr -g -Wall -Wextra -Werror)

skip() {
    if [[ "${CI:-}" == 1 ]]; then
        echo "debug: FAILED: $1 (CI=1: setup installs it)"
        exit 1
    fi
    echo "debug: SKIPPED: $1"
    exit 0
}

[[ -x "$traced" ]] || { echo "debug: $traced was not built"; exit 1; }
if ! echo 'int main(void){return 0;}' |
    clang "${WASI_CFLAGS[@]}" -x c - -o /dev/null 2>/dev/null; then
    skip "clang cannot build for wasm32-wasi (install clang, lld, wasi-libc)"
fi
dwarfdump=${LLVM_DWARFDUMP:-}
if [[ -z "$dwarfdump" ]]; then
    for d in llvm-dwarfdump-14 llvm-dwarfdump; do
        if command -v "$d" >/dev/null; then
            dwarfdump=$d
            break
        fi
    done
fi
[[ -n "$dwarfdump" ]] || skip "llvm-dwarfdump not found (install llvm-14)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
ok() { echo "ok   $1"; passed=$((passed + 1)); }
bad() { echo "FAIL $1"; failed=$((failed + 1)); }

# llvm-dwarfdump --debug-line, as `traced debuginfo --lines` prints rows:
#   line 0xADDRESS LINE COLUMN FILENAME DISCRIMINATOR FLAGS...
# The file column is resolved through each table's file_names (the
# basename of its name; v4 indices start at 1, v5 at 0).
dwarfdump_lines() {
    "$dwarfdump" --debug-line "$1" | awk '
        /^debug_line\[/ { delete names; v5 = 0 }
        /^ *version: 5/ { v5 = 1 }
        /^file_names\[ *[0-9]+\]:/ {
            s = $0; sub(/^file_names\[ */, "", s); sub(/\].*/, "", s); cur = s + 0
        }
        /^ *name: "/ {
            n = $0; sub(/^ *name: "/, "", n); sub(/"$/, "", n)
            sub(/.*\//, "", n); names[cur] = n
        }
        /^0x[0-9a-f]+ / {
            # 0x + 16 hex digits; ours are 32-bit (8 digits)
            addr = substr($1, 3, 8) == "00000000" ? "0x" substr($1, 11) : $1
            flags = ""
            for (i = 7; i <= NF; i++) flags = flags " " $i
            f = ($4 in names) ? names[$4] : "?"
            printf "line %s %d %d %s %d%s\n", addr, $2, $3, f, $6, flags
        }'
}

for src in "$here"/*.c; do
    name=$(basename "$src" .c)
    for variant in v4:"-O0 -gdwarf-4" v5:"-O0 -gdwarf-5" O2:"-O2 -gdwarf-5"; do
        tag=${variant%%:*}
        read -ra flags <<<"${variant#*:}"
        wasm=$tmp/$name-$tag.wasm
        if ! clang "${WASI_CFLAGS[@]}" "${flags[@]}" "$src" -o "$wasm"; then
            bad "$name-$tag: build"
            continue
        fi
        dwarfdump_lines "$wasm" | LC_ALL=C sort >"$tmp/want"
        if ! "$traced" debuginfo --lines "$wasm" >"$tmp/got.raw"; then
            bad "$name-$tag: traced debuginfo failed"
            continue
        fi
        LC_ALL=C sort "$tmp/got.raw" >"$tmp/got"
        rows=$(wc -l <"$tmp/want")
        if [[ "$rows" -lt 10 ]]; then
            bad "$name-$tag: llvm-dwarfdump printed only $rows rows"
        elif diff -u "$tmp/want" "$tmp/got" >"$tmp/diff"; then
            ok "$name-$tag: $rows line rows match llvm-dwarfdump"
        else
            bad "$name-$tag: line rows differ from llvm-dwarfdump (- dwarfdump, + traced)"
            head -20 "$tmp/diff"
        fi
        # Every subprogram of the program's own source maps to a function.
        if "$traced" debuginfo --funcs "$wasm" |
            grep "^func .* $name\.c:" | grep -q '\[-\]'; then
            bad "$name-$tag: a subprogram of $name.c has no function index"
        else
            ok "$name-$tag: subprograms of $name.c map to functions"
        fi
    done
done

echo "debug: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
