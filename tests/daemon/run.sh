#!/usr/bin/env bash
# Black-box tests of the daemon: start `traced` on a free loopback port with
# a temporary data dir and talk to it only as clients do (tracectl, curl,
# and the npm `ws` package). Usage: tests/daemon/run.sh BUILD_DIR
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=$(cd "${1:?usage: run.sh BUILD_DIR}" && pwd)
traced=$build/traced
ctl_bin=$build/tracectl
ctl() { timeout 30 "$ctl_bin" "$@"; }
ctl=ctl
tmp=$(mktemp -d)
pid=""
failures=0
checks=0

cleanup() {
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

ok() { checks=$((checks + 1)); echo "ok   $*"; }
bad() { checks=$((checks + 1)); failures=$((failures + 1)); echo "FAIL $*"; }
check() { # check NAME COMMAND...
    local name=$1
    shift
    if "$@"; then ok "$name"; else bad "$name"; fi
}

for t in "$traced" "$ctl_bin"; do
    [[ -x "$t" ]] || { echo "$t was not built"; exit 1; }
done
for m in spin chatty; do
    wat2wasm "$here/$m.wat" -o "$tmp/$m.wasm" || exit 1
done
wat2wasm "$here/../demo/fib.wat" -o "$tmp/fib.wasm" || exit 1

# start [OPTIONS...]: the daemon on a free port, data in $tmp/data.
start() {
    rm -f "$tmp/port"
    "$traced" --listen 127.0.0.1:0 --data "$tmp/data" --port-file "$tmp/port" \
        --max-module-bytes 65536 --heartbeat-ms 500 --sub-queue 64 "$@" \
        >>"$tmp/traced.log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do
        [[ -s "$tmp/port" ]] && break
        sleep 0.05
    done
    port=$(cat "$tmp/port" 2>/dev/null)
    export TRACED_URL=http://127.0.0.1:$port
    [[ -n "$port" ]]
}

# wait_done RUN: until the run has left "running" (10 s at most).
wait_done() {
    for _ in $(seq 200); do
        "$ctl" status "$1" 2>/dev/null | grep -q '"status": "running"' || return 0
        sleep 0.05
    done
    return 1
}
field() { # field RUN KEY: a top-level string or number of the run's JSON
    "$ctl" status "$1" | sed -n "s/^  \"$2\": \"\{0,1\}\([^\",]*\).*/\1/p"
}
# seqs FILE: the seq of each JSON event line
seqs() { sed -n 's/^{"seq":\([0-9]*\),.*/\1/p' "$1"; }
# complete FILE NOUT: the jsonl stream is whole: seqs 0, 1, 2, ... without
# a gap, NOUT output events, run_end last. (How many events in all depends
# on the calls the program makes, which the tracer hooks record.)
complete() {
    seqs "$1" | awk '$1 != n { exit 1 } { n++ } END { exit n == 0 }' &&
        test "$(grep -c '"type":"output"' "$1")" -eq "$2" &&
        tail -n 1 "$1" | grep -q '"type":"run_end"'
}
file_seqs() { # file_seqs RUN: seqs persisted in the run's stream file
    timeout 20 "$ctl_bin" tail --file "$tmp/data/runs/$1/stream.trace" --no-follow \
        --format jsonl >"$tmp/f$1.jsonl"
    seqs "$tmp/f$1.jsonl"
}
http() { # http METHOD PATH [curl args]: prints "STATUS BODY"
    local m=$1 p=$2
    shift 2
    curl -s -o "$tmp/body" -w '%{http_code}' -X "$m" "$@" "$TRACED_URL$p"
    echo " $(cat "$tmp/body")"
}

check "daemon starts on a free port" start

# ---- basic API --------------------------------------------------------------
id=$("$ctl" submit "$tmp/fib.wasm" --invoke fib 20)
check "submit --invoke prints the run id" test "$id" = 1
wait_done "$id"
check "fib run ends ok" test "$(field "$id" status)" = ok
check "fib result recorded" grep -q '"value": "6765"' <("$ctl" status "$id")
check "ls lists the run" grep -q "^1 .*ok" <("$ctl" ls)

id=$("$ctl" submit "$tmp/chatty.wasm" -- 300 0)
"$ctl" tail "$id" --format jsonl >"$tmp/t.jsonl"
check "tail of a WASI run exits 0 with its status ok" test $? -eq 0
check "tail gets every event (300 outputs)" complete "$tmp/t.jsonl" 300
check "tail equals the file" cmp -s <(seqs "$tmp/t.jsonl") <(file_seqs "$id")
"$ctl" tail "$id" --format jsonl --binary >"$tmp/b.jsonl"
check "binary frames carry the same stream" cmp -s "$tmp/t.jsonl" "$tmp/b.jsonl"
check "tree format shows output" grep -q '^ *\[fd 1\] line 00299' <("$ctl" tail "$id")
check "tree format shows the calls" grep -q '^ *host .*fd_write(' <("$ctl" tail "$id")
"$ctl" tail "$id" --format jsonl --from 290 >"$tmp/r.jsonl"
check "tail --from 290 starts at 290" test "$(seqs "$tmp/r.jsonl" | head -1)" = 290

# ---- CodeTracer output --------------------------------------------------------
# native_calls RUN: call and host_call events in the run's stream file
native_calls() {
    timeout 20 "$ctl_bin" tail --file "$tmp/data/runs/$1/stream.trace" --no-follow \
        --format jsonl | grep -c '"type":"\(call\|host_call\)"'
}
# ct_ok DIR RUN: DIR passes the format checks (ct_check.js) and has one
# Call per call and host_call of the run's stream, plus <toplevel>'s, each
# with its Return.
ct_ok() {
    node "$here/ct_check.js" "$1" >"$tmp/ct.stats" || { cat "$tmp/ct.stats"; return 1; }
    local n c r
    n=$(native_calls "$2")
    c=$(sed -n 's/.*"calls":\([0-9]*\).*/\1/p' "$tmp/ct.stats")
    r=$(sed -n 's/.*"returns":\([0-9]*\).*/\1/p' "$tmp/ct.stats")
    [[ -n "$c" && "$n" -gt 0 && "$c" -eq $((n + 1)) && "$r" -eq "$c" ]] ||
        { echo "calls: stream $n, CodeTracer Calls $c Returns $r"; return 1; }
}
ct_state() { "$ctl" status "$1" | sed -n 's/^    "state": "\(.*\)",*$/\1/p'; }
wait_ct() { # wait_ct RUN: until its CodeTracer output is complete (10 s)
    for _ in $(seq 200); do
        [[ "$(ct_state "$1")" == complete ]] && return 0
        sleep 0.05
    done
    return 1
}
# no_path FILE: trace.json without its Path records (they name the run's dir)
no_path() { grep -v '^{"Path":' "$1"; }

live=$("$ctl" submit "$tmp/chatty.wasm" --codetracer -- 200 0)
wait_done "$live"
check "a run submitted with --codetracer writes its trace live" \
    grep -q '"live": true' <("$ctl" status "$live")
wait_ct "$live"
check "its live CodeTracer directory is complete, valid, one Call per call" \
    ct_ok "$tmp/data/runs/$live/codetracer" "$live"
"$ctl" codetracer "$live" -o "$tmp/ct_live" >/dev/null
check "tracectl codetracer downloads and extracts it" ct_ok "$tmp/ct_live" "$live"
curl -s -D "$tmp/ct.hdr" -o "$tmp/live.tar" "$TRACED_URL/api/runs/$live/codetracer"
check "the download is application/x-tar named run-$live-codetracer.tar" \
    grep -qi "content-disposition: attachment; filename=\"run-$live-codetracer.tar\"" "$tmp/ct.hdr"
grep -qi '^content-type: application/x-tar' "$tmp/ct.hdr" || bad "content-type x-tar"
mkdir -p "$tmp/tar_live" && tar -xf "$tmp/live.tar" -C "$tmp/tar_live"
check "tar -x extracts the same trace" ct_ok "$tmp/tar_live" "$live"
check "tar and tracectl give the same trace.json" \
    cmp -s "$tmp/tar_live/trace.json" "$tmp/ct_live/trace.json"

conv=$("$ctl" submit "$tmp/chatty.wasm" -- 200 0)
wait_done "$conv"
check "a run without --codetracer has none" test "$(ct_state "$conv")" = none
# Two clients at once: one conversion serves both.
"$ctl" codetracer "$conv" -o "$tmp/ct_conv" >/dev/null &
curl -s -o "$tmp/conv.tar" "$TRACED_URL/api/runs/$conv/codetracer" &
wait $(jobs -p | grep -v "^$pid\$") 2>/dev/null
check "its trace is converted on demand (tracectl)" ct_ok "$tmp/ct_conv" "$conv"
mkdir -p "$tmp/tar_conv" && tar -xf "$tmp/conv.tar" -C "$tmp/tar_conv"
check "and by a concurrent curl, the same" \
    cmp -s "$tmp/tar_conv/trace.json" "$tmp/ct_conv/trace.json"
check "one conversion served both" \
    test "$(grep -c "run $conv: CodeTracer trace converted" "$tmp/traced.log")" -eq 1
check "the conversion is cached (status complete, converted)" \
    grep -q '"source": "converted"' <("$ctl" status "$conv")
check "converted and live traces of the same run agree" \
    cmp -s <(no_path "$tmp/ct_conv/trace.json") <(no_path "$tmp/ct_live/trace.json")

id=$("$ctl" submit "$tmp/spin.wasm" --codetracer --invoke spin 1000000000000)
sleep 0.2
check "a running run's trace: 409 run_in_progress" \
    grep -q '^409 .*run_in_progress' <(http GET "/api/runs/$id/codetracer")
"$ctl" cancel "$id" >/dev/null
wait_done "$id"
"$ctl" codetracer "$id" -o "$tmp/ct_spin" >/dev/null
check "a cancelled run's trace closes its frames" ct_ok "$tmp/ct_spin" "$id"
check "codetracer of an unknown run: 404 unknown_run" \
    grep -q '^404 .*unknown_run' <(http GET /api/runs/4242/codetracer)
"$ctl" codetracer 4242 -o "$tmp/ct_none" 2>/dev/null
check "tracectl codetracer of an unknown run fails" test $? -eq 1
rm "$tmp/data/runs/1/module.wasm" # fib, recorded without CodeTracer
check "no module.wasm kept: 404 no_module" \
    grep -q '^404 .*no_module' <(http GET /api/runs/1/codetracer)
check "codetracer=maybe: 400" grep -q '^400 .*codetracer' \
    <(http POST '/api/runs?codetracer=maybe' --data-binary @"$tmp/fib.wasm")

# tracectl extracts safely: archives from a fake daemon with an entry
# outside DIR, an absolute one, a link.
python3 - "$tmp" <<'PY'
import io, sys, tarfile
tmp = sys.argv[1]
for kind in ("dotdot", "abs", "link"):
    with tarfile.open(f"{tmp}/{kind}.tar", "w", format=tarfile.USTAR_FORMAT) as t:
        i = tarfile.TarInfo({"dotdot": "files/../../escaped", "abs": "/tmp/escaped",
                             "link": "files/m.wat"}[kind])
        if kind == "link":
            i.type, i.linkname = tarfile.SYMTYPE, "/etc/passwd"
            t.addfile(i)
        else:
            i.size = 3
            t.addfile(i, io.BytesIO(b"bad"))
PY
for kind in dotdot abs link; do
    node -e '
        const fs = require("fs"), body = fs.readFileSync(process.argv[1]);
        const srv = require("http").createServer((q, r) => {
            r.writeHead(200, {"content-type": "application/x-tar",
                              "content-length": body.length});
            r.end(body);
        }).listen(0, "127.0.0.1", () => {
            fs.writeFileSync(process.argv[2], String(srv.address().port));
        });
        setTimeout(() => srv.close(), 5000).unref();
        process.on("SIGTERM", () => process.exit(0));' "$tmp/$kind.tar" "$tmp/fake.port" &
    fake=$!
    for _ in $(seq 100); do [[ -s "$tmp/fake.port" ]] && break; sleep 0.05; done
    out=$(timeout 10 "$ctl_bin" --url "http://127.0.0.1:$(cat "$tmp/fake.port")" \
        codetracer 1 -o "$tmp/evil/x" 2>&1)
    rc=$?
    kill "$fake" 2>/dev/null; wait "$fake" 2>/dev/null; rm -f "$tmp/fake.port"
    check "tracectl refuses a tar entry ($kind): $out" \
        test $rc -eq 1 -a ! -e "$tmp/evil/escaped" -a ! -L "$tmp/evil/x/files/m.wat"
done

# ---- limits and cancel ------------------------------------------------------
id=$("$ctl" submit "$tmp/spin.wasm" --invoke spin 1000000000000)
sleep 0.2
check "long run is running" test "$(field "$id" status)" = running
"$ctl" cancel "$id" >/dev/null
wait_done "$id"
check "cancelled run says so" test "$(field "$id" status)" = cancelled
check "cancel of a finished run is 409" grep -q '^409' <(http POST "/api/runs/$id/cancel")
id=$("$ctl" submit "$tmp/spin.wasm" --wall-ms 200 --invoke spin 1000000000000)
wait_done "$id"
check "wall-time limit ends the run" test "$(field "$id" reason)" = wall_time
id=$("$ctl" submit "$tmp/spin.wasm" --fuel 10000 --invoke spin 1000000000000)
wait_done "$id"
check "fuel limit ends the run" test "$(field "$id" status)" = fuel

# ---- bad input --------------------------------------------------------------
echo "not wasm at all" >"$tmp/junk"
check "not wasm: 400 bad_module" grep -q '^400 .*bad_module' \
    <(http POST /api/runs --data-binary @"$tmp/junk")
head -c 30 "$tmp/chatty.wasm" >"$tmp/trunc.wasm"
check "truncated module: 400 with the VM's message" grep -q '^400 .*malformed' \
    <(http POST /api/runs --data-binary @"$tmp/trunc.wasm")
head -c 100000 /dev/zero >"$tmp/big"
check "over the size limit: 413" grep -q '^413 .*too_large' \
    <(http POST /api/runs --data-binary @"$tmp/big")
check "bad invoke argument: 400" grep -q '^400 .*bad_arguments' \
    <(http POST '/api/runs?invoke=fib&arg=xyz' --data-binary @"$tmp/fib.wasm")
check "unknown run: 404" grep -q '^404 .*unknown_run' <(http GET /api/runs/4242)
check "unknown level: 400" grep -q '^400' \
    <(http POST '/api/runs?level=loud' --data-binary @"$tmp/fib.wasm")
"$ctl" tail 4242 >/dev/null 2>&1
check "tail of an unknown run fails" test $? -eq 1
http GET / >"$tmp/index"
# the built client (client/web/dist) when there is one, else the placeholder
check "/ serves the browser client or its placeholder" grep -q '<title>traced' "$tmp/index"

# ---- WebSocket: a client we did not write -----------------------------------
if [[ ! -d "$here/node_modules/ws" ]]; then
    (cd "$here" && npm ci --no-audit --no-fund >/dev/null 2>&1)
fi
if [[ -d "$here/node_modules/ws" ]]; then
    id=2 # the 300-line chatty run
    node "$here/ws_client.js" "ws://127.0.0.1:$port/ws" errors-and-subscribe "$id" >"$tmp/node.seqs"
    check "ws: errors for bad JSON, unknown type, unknown run; then events" test $? -eq 0
    check "ws (npm ws) gets exactly the persisted stream" cmp -s "$tmp/node.seqs" <(file_seqs "$id")
    node "$here/ws_client.js" "ws://127.0.0.1:$port/ws" vanish
    check "a client vanishing mid-frame" test $? -eq 0
    check "daemon keeps serving after it" grep -q '^200' <(http GET /api/runs)
else
    bad "npm ws package not installed (npm ci in tests/daemon)"
fi

# ---- concurrent runs, three subscribers each --------------------------------
# Baseline: one run with nobody watching.
id=$("$ctl" submit "$tmp/chatty.wasm" -- 3000 60000)
wait_done "$id"
base_ms=$(( ($(field "$id" ended_ns) - $(field "$id" created_ns)) / 1000000 ))
runs=()
for i in 1 2 3 4; do
    runs+=("$("$ctl" submit "$tmp/chatty.wasm" -- 3000 60000)")
done
# A live run's subscribers cannot end before it does: four runs at once
# take ~28 s under ASan on a loaded machine, past ctl's 30 s for a tail.
for r in "${runs[@]}"; do
    timeout 120 "$ctl_bin" tail "$r" --format jsonl >"$tmp/s$r.a" &
    timeout 120 "$ctl_bin" tail "$r" --format jsonl --delay-ms 20 >"$tmp/s$r.c" &
done
sleep 0.3
for r in "${runs[@]}"; do
    timeout 120 "$ctl_bin" tail "$r" --format jsonl --from 0 --binary >"$tmp/s$r.b" &
done
wait $(jobs -p | grep -v "^$pid\$") 2>/dev/null
rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
for r in "${runs[@]}"; do
    file_seqs "$r" >"$tmp/f$r.seqs"
    check "run $r: every event persisted" complete "$tmp/f$r.jsonl" 3000
    for s in a b c; do
        check "run $r subscriber $s got exactly the file's stream" \
            cmp -s <(seqs "$tmp/s$r.$s") "$tmp/f$r.seqs"
    done
    ms=$(( ($(field "$r" ended_ns) - $(field "$r" created_ns)) / 1000000 ))
    # Four runs share two cores with their subscribers: allow for that.
    check "run $r (${ms} ms, alone ${base_ms} ms) not held up by the slow reader" \
        test "$ms" -lt $((base_ms * 6 + 2000))
done
check "daemon peak memory ${rss} KiB stays bounded" test "${rss:-999999}" -lt 262144

# ---- eight subscribers of a fast run share its frames ----------------------
# fib(21): ~71k events in a fraction of a second (70 frames). Four JSON and
# four binary subscribers from the start, joining while it runs: each must
# get exactly the file's stream, event for event and byte for byte
# (tracectl prints both formats through the same JSON encoder, so this
# also checks the daemon's own JSON writer against the protocol
# library's). 120 s: eight clients parsing every event are slow under ASan.
id=$("$ctl" submit "$tmp/fib.wasm" --invoke fib 21)
fan=()
for i in 1 2 3 4; do
    timeout 120 "$ctl_bin" tail "$id" --format jsonl >"$tmp/fan$id.j$i" &
    fan+=($!)
    timeout 120 "$ctl_bin" tail "$id" --format jsonl --binary >"$tmp/fan$id.b$i" &
    fan+=($!)
done
wait "${fan[@]}"
wait_done "$id"
file_seqs "$id" >/dev/null
check "fast run: every event persisted ($(wc -l <"$tmp/f$id.jsonl") events)" \
    test "$(wc -l <"$tmp/f$id.jsonl")" -gt 70000
for i in 1 2 3 4; do
    for f in j b; do
        check "fast run: subscriber $f$i got exactly the file's events" \
            cmp -s "$tmp/fan$id.$f$i" "$tmp/f$id.jsonl"
    done
done

# ---- reconnect and resume ---------------------------------------------------
r=${runs[0]}
"$ctl" tail "$r" --format jsonl 2>/dev/null | head -n 1000 >"$tmp/part1"
last=$(seqs "$tmp/part1" | tail -1)
"$ctl" tail "$r" --format jsonl --from $((last + 1)) >"$tmp/part2"
check "resume from last+1 continues exactly" \
    cmp -s <(cat "$tmp/part1" "$tmp/part2" | seqs /dev/stdin) "$tmp/f$r.seqs"

# ---- tail --file while another process writes -------------------------------
id=$("$ctl" submit "$tmp/chatty.wasm" -- 2000 100000)
sleep 0.05
"$ctl" tail --file "$tmp/data/runs/$id/stream.trace" --format jsonl >"$tmp/ff.jsonl"
check "tail --file follows a growing file to run_end" \
    complete "$tmp/ff.jsonl" 2000

# ---- a WASI C program's stdout streams live to submit --follow -------------
# slow_lines.c writes 5 lines 300 ms apart (nanosleep) and exits 3. Each line
# of `tracectl submit --follow` is stamped when it arrives: the lines must
# come in over the run, not in a burst at its end, then the run's end; the
# stdout must equal the native build's, and tracectl exit with the code.
wasi_cc=(clang --target=wasm32-wasi --sysroot=/usr -O2 -Wall -Wextra -Werror -Wl,--strip-all)
if "${wasi_cc[@]}" "$here/slow_lines.c" -o "$tmp/slow_lines.wasm" 2>"$tmp/cc.err" &&
    cc -O2 -Wall -Wextra -Werror "$here/slow_lines.c" -o "$tmp/slow_lines"; then
    "$tmp/slow_lines" 5 0 3 >"$tmp/slow.native"
    # stamp: "MICROSECONDS LINE" for every line read, as it arrives.
    stamp() { while IFS= read -r l; do echo "${EPOCHREALTIME/./} $l"; done; }
    ctl submit "$tmp/slow_lines.wasm" --follow -- 5 300 3 | stamp >"$tmp/slow.follow"
    rc=${PIPESTATUS[0]}
    check "submit --follow exits with the program's exit code (3, got $rc)" test "$rc" -eq 3
    sed -n 's/^[0-9]* *\[fd 1\] //p' "$tmp/slow.follow" >"$tmp/slow.stdout"
    check "submit --follow shows the whole stdout, as native" \
        cmp -s "$tmp/slow.stdout" "$tmp/slow.native"
    at() { # at REGEX: arrival time (ms) of the first line matching it
        awk -v re="$1" '$0 ~ re { printf "%.0f\n", $1 / 1000; exit }' "$tmp/slow.follow"
    }
    t1=$(at '\[fd 1\] slow line 1$') t3=$(at '\[fd 1\] slow line 3$')
    t5=$(at '\[fd 1\] slow line 5$') tend=$(at '^[0-9]+ end: ')
    # Nominal: line 1 at 0 ms, line 3 at 600, line 5 at 1200, the end right
    # after. A stream held back until the end would put them all together.
    check "line 1 arrives well before the end ($((tend - t1)) ms, want >= 600)" \
        test -n "$t1" -a -n "$tend" -a $((${tend:-0} - ${t1:-0})) -ge 600
    check "lines arrive spread over the run (1->3 $((t3 - t1)) ms, 3->5 $((t5 - t3)) ms)" \
        test -n "$t3" -a -n "$t5" -a $((${t3:-0} - ${t1:-0})) -ge 300 \
        -a $((${t5:-0} - ${t3:-0})) -ge 300
    id=$(sed -n '1s/^[0-9]* //p' "$tmp/slow.follow")
    check "the run's status is exit with code 3" \
        test "$(field "$id" status) $(field "$id" exit_code)" = "exit 3"
    ctl submit "$tmp/slow_lines.wasm" --follow -- 1 0 0 >/dev/null
    check "submit --follow of a program that exits 0 exits 0" test $? -eq 0
else
    bad "build slow_lines.c for wasm32-wasi and natively (clang, lld, wasi-libc): $(head -c 300 "$tmp/cc.err")"
fi

# ---- SIGTERM: flush and exit 0 ----------------------------------------------
id=$("$ctl" submit "$tmp/spin.wasm" --invoke spin 1000000000000)
sleep 0.1
kill -TERM "$pid"
wait "$pid"
check "SIGTERM exits 0" test $? -eq 0
pid=""
check "SIGTERM cancelled the run (meta)" grep -q '"reason": "shutdown"' "$tmp/data/runs/$id/meta.json"

# ---- SIGKILL mid-run, restart: interrupted ---------------------------------
start --token s3cret
export TRACED_TOKEN=s3cret
id=$("$ctl" submit "$tmp/chatty.wasm" --codetracer -- 100000 100000)
sleep 0.5
kill -KILL "$pid"
wait "$pid" 2>/dev/null
pid=""
start --token s3cret --codetracer
check "killed run is listed as interrupted" test "$(field "$id" status)" = interrupted
timeout 20 "$ctl_bin" tail --file "$tmp/data/runs/$id/stream.trace" --no-follow \
    --format jsonl >"$tmp/k.jsonl" 2>/dev/null
n=$(seqs "$tmp/k.jsonl" | wc -l)
check "its stream reads cleanly to the last chunk ($n events)" test "$n" -gt 0
"$ctl" tail "$id" --format jsonl >"$tmp/k2.jsonl"
check "subscribing to it replays the same events" cmp -s <(seqs "$tmp/k.jsonl") <(seqs "$tmp/k2.jsonl")
check "earlier runs are still listed" test "$("$ctl" ls | wc -l)" -gt 10
check "its live trace.json was repaired into valid JSON" node -e \
    'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))' \
    "$tmp/data/runs/$id/codetracer/trace.json"
check "and is marked incomplete" test "$(ct_state "$id")" = incomplete
"$ctl" codetracer "$id" -o "$tmp/ct_killed" >/dev/null
check "its download is converted from the stream, every frame closed" \
    ct_ok "$tmp/ct_killed" "$id"
dflt=$("$ctl" submit "$tmp/chatty.wasm" -- 20 0)
wait_done "$dflt"
wait_ct "$dflt"
check "traced --codetracer: a run submitted without the option is traced live" \
    grep -q '"source": "live"' <("$ctl" status "$dflt")

# ---- tokens ------------------------------------------------------------------
check "no token: 401" grep -q '^401 .*unauthorized' <(http GET /api/runs)
check "wrong token: 401" grep -q '^401' <(http GET /api/runs -H 'Authorization: Bearer nope')
check "Bearer token: 200" grep -q '^200' <(http GET /api/runs -H 'Authorization: Bearer s3cret')
check "?token=: 200" grep -q '^200' <(http GET '/api/runs?token=s3cret')
if [[ -d "$here/node_modules/ws" ]]; then
    check "ws without token: 401" node "$here/ws_client.js" "ws://127.0.0.1:$port/ws" expect-status 401
    check "ws with ?token=: subscribes" node "$here/ws_client.js" \
        "ws://127.0.0.1:$port/ws?token=s3cret" errors-and-subscribe 2 >/dev/null
fi
check "non-loopback without --token is refused" \
    grep -q 'needs --token' <(env -u TRACED_TOKEN timeout 5 "$traced" \
        --listen 0.0.0.0:0 --data "$tmp/x" 2>&1)

kill -INT "$pid"
wait "$pid"
check "SIGINT exits 0" test $? -eq 0
pid=""

# ---- sources of a -g run (--source-dir) ---------------------------------------
# A C program built with -g from three files: src/main.c (under the source
# dir), src/../outside/dotdot.c (a `..` escape) and src/link/via_link.c
# (src/link -> outside, a symlink escape). clang keeps those spellings in
# the DWARF paths (relative to the cwd, which becomes comp_dir).
unset TRACED_TOKEN
mkdir -p "$tmp/srcs/src" "$tmp/srcs/outside"
ln -s "$tmp/srcs/outside" "$tmp/srcs/src/link"
cat >"$tmp/srcs/src/main.c" <<'C'
int dotdot(int);
int via_link(int);

static int square(int x)
{
    int y = x * x;
    return y;
}

int main(void)
{
    int s = 0;
    for (int i = 0; i < 3; i++)
        s += square(i);
    s += dotdot(s);
    s += via_link(s);
    return s != 24;
}
C
echo 'int dotdot(int x) { return x + 1; }' >"$tmp/srcs/outside/dotdot.c"
echo 'int via_link(int x) { return x + 2; }' >"$tmp/srcs/outside/via_link.c"
if (cd "$tmp/srcs" && clang --target=wasm32-wasi --sysroot=/usr -g -O0 \
        src/main.c src/../outside/dotdot.c src/link/via_link.c \
        -o "$tmp/srcs.wasm") 2>"$tmp/cc.err"; then
    start --source-dir "$tmp/srcs/src" --max-module-bytes 1048576
    id=$("$ctl" submit "$tmp/srcs.wasm" --level lines)
    wait_done "$id"
    check "-g program at level lines exits 0" test "$(field "$id" exit_code)" = 0
    http GET "/api/runs/$id/sources" >"$tmp/srcs.list"
    # index_of NAME: the file table index of the path ending in NAME
    index_of() {
        node -e 'const j = JSON.parse(require("fs").readFileSync(0, "utf8")
            .replace(/^\d+ /, "")); const f = j.files.find(f =>
            f.path.endsWith(process.argv[1])); console.log(f ? f.index +
            " " + f.available : "none")' "$1" <"$tmp/srcs.list"
    }
    check "sources: 200 with the file table" grep -q '^200 {"files":\[' "$tmp/srcs.list"
    read -r mi mav <<<"$(index_of /src/main.c)"
    read -r di dav <<<"$(index_of /src/../outside/dotdot.c)"
    read -r li lav <<<"$(index_of /src/link/via_link.c)"
    check "sources: main.c available, the .. and symlink escapes not" \
        test "$mav $dav $lav" = "true false false"
    curl -s -o "$tmp/main.got" -w '%{http_code} %{content_type}' \
        "$TRACED_URL/api/runs/$id/sources/$mi" >"$tmp/main.status"
    check "a file under --source-dir is served byte-equal as text/plain" \
        grep -q '^200 text/plain' "$tmp/main.status"
    check "  (its bytes)" cmp -s "$tmp/main.got" "$tmp/srcs/src/main.c"
    check "a file outside the source dirs (libc's) is refused: 404 not_available" \
        grep -q '^404 .*"code":"not_available"' <(http GET "/api/runs/$id/sources/0")
    check "a .. escape is refused: 404 not_available" \
        grep -q '^404 .*--source-dir' <(http GET "/api/runs/$id/sources/$di")
    check "a symlink escape is refused: 404 not_available" \
        grep -q '^404 .*"code":"not_available"' <(http GET "/api/runs/$id/sources/$li")
    check "unknown file index: 404 unknown_file" \
        grep -q '^404 .*unknown_file' <(http GET "/api/runs/$id/sources/4000000")
    check "bad file index: 404" grep -q '^404' <(http GET "/api/runs/$id/sources/-1")
    check "sources of an unknown run: 404 unknown_run" \
        grep -q '^404 .*unknown_run' <(http GET "/api/runs/99999/sources")
    check "a module without DWARF has no files" \
        grep -q '^200 {"files":\[\]}' <(http GET "/api/runs/$dflt/sources")
    kill -INT "$pid"
    wait "$pid"
    pid=""
    start --max-module-bytes 1048576
    http GET "/api/runs/$id/sources" >"$tmp/srcs.list"
    check "without --source-dir nothing is available" \
        grep -q '^200 .*"available":false' "$tmp/srcs.list"
    check "  (no file is)" test "$(grep -c '"available":true' "$tmp/srcs.list")" = 0
    check "without --source-dir main.c is refused" \
        grep -q '^404 .*not_available' <(http GET "/api/runs/$id/sources/$mi")
    check "--source-dir that is not a directory is refused at start" \
        grep -q 'source-dir.*not a directory' <(timeout 5 "$traced" --listen 127.0.0.1:0 \
            --data "$tmp/x2" --source-dir "$tmp/srcs/src/main.c" 2>&1)
    kill -INT "$pid"
    wait "$pid"
    pid=""
elif [[ "${CI:-}" == 1 ]]; then
    bad "build the -g sources program for wasm32-wasi: $(head -c 300 "$tmp/cc.err")"
else
    echo "skip sources: clang cannot build wasm32-wasi (install clang, lld, wasi-libc)"
fi

echo
echo "daemon tests: $((checks - failures)) of $checks passed"
if [[ $failures -gt 0 ]]; then
    echo "--- traced log"
    tail -n 30 "$tmp/traced.log"
fi
[[ $failures -eq 0 ]]
