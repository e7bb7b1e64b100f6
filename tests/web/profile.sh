#!/usr/bin/env bash
# Diagnostics (not part of the test): start traced like run.sh, run
# profile.mjs (a Chrome trace of the fast run and of the jumps after it)
# and analyze-trace.mjs. WEB_DIST=DIR profiles another build of the client;
# SAMPLER=0 leaves out the JS sampling profiler, LIGHT=1 records the
# timeline alone (the least overhead: CPU times closest to the test's),
# NOTRACE=1 records nothing (the figures without the recording's cost).
#   tests/web/profile.sh BUILD_DIR OUT_DIR [FAST_ARGS [LEVEL [WARM_ARGS|-]]]
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=$(cd "${1:?usage: profile.sh BUILD_DIR OUT_DIR}" && pwd)
out=${2:?OUT_DIR}; shift 2
tmp=$(mktemp -d)
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$tmp"' EXIT
wat2wasm --debug-names "$here/demo.wat" -o "$tmp/demo.wasm" || exit 1
"$build/traced" --listen 127.0.0.1:0 --data "$tmp/data" --port-file "$tmp/port" \
    --static "${WEB_DIST:-$repo/client/web/dist}" --heartbeat-ms 1000 --quiet >"$tmp/traced.log" 2>&1 &
pid=$!
for _ in $(seq 100); do [[ -s "$tmp/port" ]] && break; sleep 0.05; done
rm -f "$out/trace.json"
timeout 120 node "$here/profile.mjs" "http://127.0.0.1:$(cat "$tmp/port")" "$tmp/demo.wasm" "$out" "$@" &&
    { [[ ! -f "$out/trace.json" ]] || node "$here/analyze-trace.mjs" "$out/trace.json" 40; }
