#!/usr/bin/env bash
# The demo: install what is missing, build the release flavour and run a
# small module with `traced run` (fib(30) prints i32:832040). When the
# daemon exists this script will start it instead.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

scripts/setup.sh -q
scripts/build.sh release

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
wat2wasm tests/demo/fib.wat -o "$tmp/fib.wasm"

echo "\$ traced run fib.wasm --invoke fib 30"
build/release/traced run "$tmp/fib.wasm" --invoke fib 30
