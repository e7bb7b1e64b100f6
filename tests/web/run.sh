#!/usr/bin/env bash
# Browser test of the client (client/web): start `traced` on a free
# loopback port with a temporary data dir and the built client, and drive
# Debian's chromium with playwright-core (tests/web/test.mjs says what is
# checked). Screenshots go to $WEB_ARTIFACTS (default: a temp dir, printed);
# with UPDATE_README_IMG=1 the run view's also replaces
# docs/img/run-view.png, the README's picture (a test run never writes
# into the source tree otherwise).
#
#   tests/web/run.sh BUILD_DIR
#   WEB_DIST=DIR tests/web/run.sh BUILD_DIR   # test another build of the client
#
# Needs chromium (scripts/setup.sh installs it). Without it the test is
# skipped, loudly, except in CI ($CI set), where it fails.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=$(cd "${1:?usage: run.sh BUILD_DIR}" && pwd)
traced=$build/traced
chromium=${CHROMIUM:-/usr/bin/chromium}
tmp=$(mktemp -d)
artifacts=${WEB_ARTIFACTS:-$tmp/artifacts}
pid=""

cleanup() {
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    fi
    if [[ -z "${WEB_ARTIFACTS:-}" && -d "$artifacts" ]]; then
        keep=$(mktemp -d /tmp/traced-web-artifacts.XXXXXX)
        cp -r "$artifacts"/. "$keep"/ 2>/dev/null
        echo "screenshots: $keep"
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

if [[ ! -x "$chromium" ]]; then
    if [[ -n "${CI:-}" ]]; then
        echo "FAIL chromium not installed at $chromium (scripts/setup.sh installs it)"
        exit 1
    fi
    echo "skipped: chromium not installed at $chromium (scripts/setup.sh installs it)"
    exit 0
fi
[[ -x "$traced" ]] || { echo "$traced was not built"; exit 1; }
command -v node >/dev/null || { echo "node not found"; exit 1; }

# The built client; build it if the release build did not. $WEB_DIST
# points the test at another build of it (a build of a changed copy).
dist=${WEB_DIST:-$repo/client/web/dist}
if [[ -n "${WEB_DIST:-}" && ! -f "$dist/index.html" ]]; then
    echo "FAIL WEB_DIST=$dist has no index.html"; exit 1
fi
if [[ ! -f "$dist/index.html" ]]; then
    echo "building the client (client/web)"
    (cd "$repo/client/web" && { [[ -d node_modules ]] || npm install --no-audit --no-fund; } &&
        npm run build) >"$tmp/client-build.log" 2>&1 ||
        { cat "$tmp/client-build.log"; echo "FAIL client build"; exit 1; }
fi
if [[ ! -d "$here/node_modules/playwright-core" || ! -d "$here/node_modules/ws" ]]; then
    (cd "$here" && npm ci --no-audit --no-fund >"$tmp/npm.log" 2>&1) ||
        { cat "$tmp/npm.log"; echo "FAIL npm ci in tests/web"; exit 1; }
fi
wat2wasm --debug-names "$here/demo.wat" -o "$tmp/demo.wasm" || exit 1
# Level lines (test.mjs part 5): lines_demo.c built with -g, its directory
# given to traced as --source-dir so that the page gets the real source.
# Skipped (LINES_WASM empty) when clang cannot build wasm32-wasi, except
# under CI.
mkdir -p "$tmp/src"
cp "$here/lines_demo.c" "$tmp/src/"
export LINES_WASM="" LINES_SRC="$tmp/src/lines_demo.c"
if (cd "$tmp/src" && clang --target=wasm32-wasi --sysroot=/usr -g -O0 \
        lines_demo.c -o "$tmp/lines_demo.wasm") 2>"$tmp/cc.err"; then
    LINES_WASM=$tmp/lines_demo.wasm
elif [[ -n "${CI:-}" ]]; then
    echo "FAIL clang cannot build wasm32-wasi: $(head -c 300 "$tmp/cc.err")"; exit 1
else
    echo "NOTE: level lines part skipped: clang cannot build wasm32-wasi (install clang, lld, wasi-libc)"
fi

"$traced" --listen 127.0.0.1:0 --data "$tmp/data" --port-file "$tmp/port" \
    --static "$dist" --heartbeat-ms 1000 --source-dir "$tmp/src" --quiet >"$tmp/traced.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
    [[ -s "$tmp/port" ]] && break
    sleep 0.05
done
port=$(cat "$tmp/port" 2>/dev/null)
[[ -n "$port" ]] || { echo "FAIL traced did not start"; cat "$tmp/traced.log"; exit 1; }

rc=0
readme_img=""
[[ "${UPDATE_README_IMG:-0}" == 1 ]] && readme_img="$repo/docs/img/run-view.png"
timeout 150 node "$here/test.mjs" "http://127.0.0.1:$port" "$tmp/demo.wasm" "$artifacts" \
    "$readme_img" || rc=$?
if [[ $rc -eq 124 ]]; then echo "FAIL the browser test timed out"; fi
if [[ $rc -ne 0 ]]; then
    echo "--- traced log"
    tail -n 30 "$tmp/traced.log"
fi
exit $rc
