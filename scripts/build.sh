#!/usr/bin/env bash
# Configure and build one flavour of traced into build/<flavour>.
#
#   scripts/build.sh [release|asan|switch|fuzz|tsan]   (default: release)
#
#   release  optimised, computed-goto dispatch; and the browser client
#   asan     AddressSanitizer + UBSan, Debug at -O1
#   switch   the portable switch dispatch (same handlers, other build)
#   fuzz     libFuzzer targets with sanitizers (needs clang)
#   tsan     ThreadSanitizer, only the concurrent code's tests (the ring)
#
# Warnings are errors in every flavour. BUILD_JOBS overrides the job count.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
flavour=${1:-release}
targets=()
jobs=${BUILD_JOBS:-$(nproc 2>/dev/null || echo 2)}

case "$flavour" in
release) args=(-DCMAKE_BUILD_TYPE=Release) ;;
asan)    args=(-DCMAKE_BUILD_TYPE=Debug -DTRACED_SANITIZE=ON
               "-DCMAKE_C_FLAGS_DEBUG=-g -O1") ;;
switch)  args=(-DCMAKE_BUILD_TYPE=Release -DTRACED_SWITCH_DISPATCH=ON) ;;
tsan)    args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DTRACED_TSAN=ON)
         targets=(--target ring_stress test_proto test_vm) ;;
fuzz)    args=(-DCMAKE_BUILD_TYPE=Debug -DTRACED_FUZZ=ON -DTRACED_SANITIZE=ON
               -DCMAKE_C_COMPILER=clang "-DCMAKE_C_FLAGS_DEBUG=-g -O1") ;;
*) echo "usage: scripts/build.sh [release|asan|switch|fuzz|tsan]" >&2; exit 2 ;;
esac

build="$repo/build/$flavour"
cmake -S "$repo" -B "$build" -DTRACED_WERROR=ON "${args[@]}" >/dev/null
cmake --build "$build" -j "$jobs" "${targets[@]}"

# The release flavour also builds the browser client (client/web -> dist/,
# which traced serves by default from the source tree; docs/client.md).
if [[ "$flavour" == release ]]; then
    if command -v npm >/dev/null; then
        web="$repo/client/web"
        [[ -d "$web/node_modules" ]] || (cd "$web" && npm ci --no-audit --no-fund --loglevel=error)
        (cd "$web" && npm run --silent build >/dev/null)
        echo "client: $web/dist"
    else
        echo "npm not found: the browser client (client/web) was not built" >&2
    fi
fi
