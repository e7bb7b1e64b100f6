#!/usr/bin/env bash
# Measure the daemon (docs/performance.md, "Daemon"): latency from an event
# produced to a WebSocket client receiving it, events/s delivered to 1 and
# 16 clients (JSON and binary) and the run's duration meanwhile, the
# daemon's memory with one stalled client, and a valgrind pass. Every daemon is started on 127.0.0.1:0 with a temporary data dir
# and killed by its PID; every loop is bounded in count and time.
#
# Usage: scripts/bench-daemon.sh [--build DIR] [--quick] [WHAT...]
#   WHAT: latency throughput memory valgrind (default: the first three)
#   --build DIR  where traced and tracectl are (default build-dperf; built
#                with -DCMAKE_BUILD_TYPE=Release if missing)
#   --quick      smaller runs (a smoke test of the tools, not figures)
#
# Environment: NODE (default node), VALGRIND_BUILD (build for valgrind,
# default the --build dir; RelWithDebInfo gives file:line in reports).
#
# Tools: bench/daemon/calls.wat (call + return at a rate set by a spin
# count), tests/daemon/chatty.wat (a WASI program writing lines),
# bench/daemon/wsbench.js (the clients; the `ws` package from
# tests/daemon/node_modules, `npm ci` there). Latency needs the
# `start_monotonic_ns` key of the `subscribed` message (daemon/ws.c).
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$root/build-dperf
quick=0
what=()
while (($#)); do
    case $1 in
    --build) build=$2; shift 2 ;;
    --quick) quick=1; shift ;;
    latency | throughput | memory | valgrind) what+=("$1"); shift ;;
    -h | --help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "bench-daemon.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
((${#what[@]})) || what=(latency throughput memory)
node=${NODE:-node}
export NODE_PATH=$root/tests/daemon/node_modules
wsbench=$root/bench/daemon/wsbench.js

if [[ ! -x $build/traced || ! -x $build/tracectl ]]; then
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null &&
        cmake --build "$build" -j2 --target traced tracectl >/dev/null || exit 2
fi
[[ -d $NODE_PATH/ws ]] || { echo "run npm ci in tests/daemon first" >&2; exit 2; }

tmp=$(mktemp -d /tmp/bench-daemon.XXXXXX)
pid=""
kids=()
cleanup() {
    for k in "${kids[@]}"; do kill "$k" 2>/dev/null; done
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
log() { echo "bench-daemon: $*" >&2; }
load() { uptime | sed 's/.*load average: //'; }

wat2wasm "$root/bench/daemon/calls.wat" -o "$tmp/calls.wasm" || exit 2
wat2wasm "$root/tests/daemon/chatty.wat" -o "$tmp/chatty.wasm" || exit 2

# start [PREFIX...] -- [OPTIONS...]: a daemon on a free port, fresh data dir.
start() {
    local pre=()
    while (($#)) && [[ $1 != -- ]]; do pre+=("$1"); shift; done
    (($#)) && shift
    rm -rf "$tmp/data" "$tmp/port"
    "${pre[@]}" "$build/traced" --listen 127.0.0.1:0 --data "$tmp/data" \
        --port-file "$tmp/port" --quiet "$@" >>"$tmp/traced.log" 2>&1 &
    pid=$!
    for _ in $(seq 600); do # valgrind starts slowly: 30 s at most
        [[ -s $tmp/port ]] && break
        sleep 0.05
    done
    port=$(cat "$tmp/port" 2>/dev/null)
    [[ -n $port ]] || { log "daemon did not start"; cat "$tmp/traced.log" >&2; exit 1; }
    export TRACED_URL=http://127.0.0.1:$port
    wsurl=ws://127.0.0.1:$port/ws
}
# stop: SIGTERM, wait up to 60 s, then SIGKILL. Sets stop_rc.
stop() {
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid"
    stop_rc=$?
    pid=""
}
ctl() { timeout 30 "$build/tracectl" "$@"; }
# wait_done RUN SECONDS
wait_done() {
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        grep -q '"status":"running"\|"status": "running"' \
            "$tmp/data/runs/$1/meta.json" 2>/dev/null || return 0
        sleep 0.1
    done
    return 1
}
rss() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null; }
hwm() { awk '/^VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null; }

# ---- latency ---------------------------------------------------------------
# Module, args and a label; one run each, one client subscribed from "now"
# 0.3 s after the submit (so start_monotonic_ns is known).
latency() {
    local scale=1
    ((quick)) && scale=10
    echo "### latency (calls level, one JSON client; load $(load))"
    echo
    echo "| events | rate | run | events measured | p50 ms | p90 ms | p99 ms | max ms |"
    echo "|---|---|---|---|---|---|---|---|"
    start --
    # calls.wat run N SPIN: spin 400000 ~ 1.2 ms a call (this machine)
    local cases=(
        "output+host calls (WASI line every ~1 ms)|chatty.wasm|-- $((3000 / scale)) 400000"
        "call/return, ~2k events/s|calls.wasm|--invoke run $((3000 / scale)) 400000"
        "call/return, ~20k events/s|calls.wasm|--invoke run $((30000 / scale)) 40000"
        "call/return, ~200k events/s|calls.wasm|--invoke run $((300000 / scale)) 4000"
    )
    local next=1
    for c in "${cases[@]}"; do
        IFS='|' read -r label mod args <<<"$c"
        local id out cpid
        # The client first (it waits for run $next to exist and start),
        # so that it sees the run from its first events.
        timeout 200 "$node" "$wsbench" latency "$wsurl" "$next" 190 >"$tmp/lat.out" &
        cpid=$!
        kids=("$cpid")
        sleep 0.7
        # shellcheck disable=SC2086
        id=$(ctl submit "$tmp/$mod" $args) || { log "submit failed"; exit 1; }
        [[ $id == "$next" ]] || { log "run id $id, expected $next"; exit 1; }
        next=$((next + 1))
        wait "$cpid"
        kids=()
        out=$(cat "$tmp/lat.out")
        wait_done "$id" 30
        log "latency $label: $out"
        echo "$out" | "$node" -e '
            const fs = require("fs");
            const o = JSON.parse(fs.readFileSync(0, "utf8"));
            const [label, meta] = process.argv.slice(1);
            const m = JSON.parse(fs.readFileSync(meta, "utf8"));
            const secs = (m.ended_ns - m.created_ns) / 1e9;
            console.log(`| ${label} | ${Math.round(m.events / secs)}/s | ${m.events} in ${secs.toFixed(1)} s | ${o.events} | ${o.p50_ms} | ${o.p90_ms} | ${o.p99_ms} | ${o.max_ms} |`);
        ' "$label" "$tmp/data/runs/$id/meta.json"
    done
    stop
    echo
}

# ---- throughput -----------------------------------------------------------
# calls.wasm run N 0 (as fast as the VM goes) with 0, 1 and 16 clients, in
# JSON and in binary. The clients start first and connect, each waiting
# for the run to exist (so that 16 Node start-ups are not measured against
# the run), then the script submits; each subscribes from the start,
# checks every seq arrives once and in order, and times first to last
# frame. "run s" is the run's submit -> persisted time: with clients it
# should stay that of the run alone (docs/daemon.md, "Recording has
# priority").
throughput() {
    local calls=1000000
    ((quick)) && calls=100000
    echo "### throughput (calls.wasm run $calls 0: $((2 * calls + 4)) events)"
    echo
    echo "| format | clients | per client events/s (min / median / max) | aggregate events/s | run s | all complete | load (1 min) |"
    echo "|---|---:|---|---:|---:|---|---:|"
    local fmt n
    for fmt in json binary; do
        for n in 0 1 16; do
            [[ $fmt == binary && $n == 0 ]] && continue # same as json's
            throughput_case "$fmt" "$n"
        done
    done
    echo
}
throughput_case() { # throughput_case FORMAT CLIENTS
    local fmt=$1 n=$2 id i l
    start --
    l=$(load | cut -d, -f1)
    kids=()
    rm -f "$tmp"/count.* "$tmp"/ready.*
    for ((i = 0; i < n; i++)); do
        WSBENCH_FORMAT=$fmt WSBENCH_READY=$tmp/ready.$i \
            timeout 300 "$node" "$wsbench" count "$wsurl" 1 290 >"$tmp/count.$i" &
        kids+=($!)
    done
    for _ in $(seq 600); do # 30 s at most for the clients to connect
        (($(find "$tmp" -maxdepth 1 -name 'ready.*' | wc -l) >= n)) && break
        sleep 0.05
    done
    sleep 0.3
    id=$(ctl submit "$tmp/calls.wasm" --invoke run "$calls" 0)
    [[ $id == 1 ]] || { log "run id $id, expected 1"; exit 1; }
    for k in "${kids[@]}"; do wait "$k"; done
    kids=()
    wait_done "$id" 60
    ((n)) && log "throughput $fmt $n clients: $(cat "$tmp"/count.*)"
    "$node" -e '
        const fs = require("fs");
        const [fmt, n, dir, meta, load] = process.argv.slice(1);
        const m = JSON.parse(fs.readFileSync(meta, "utf8"));
        const wall = ((m.ended_ns - m.created_ns) / 1e9).toFixed(2);
        if (+n === 0) {
          console.log(`| - | 0 | - | - | ${wall} | - | ${load} |`);
          process.exit(0);
        }
        const rs = [];
        for (let i = 0; i < +n; i++) {
          try { rs.push(JSON.parse(fs.readFileSync(`${dir}/count.${i}`, "utf8"))); } catch (e) {}
        }
        const rates = rs.map((r) => r.events_per_s).sort((a, b) => a - b);
        const first = Math.min(...rs.map((r) => r.first_abs_ms));
        const last = Math.max(...rs.map((r) => r.last_abs_ms));
        const total = rs.reduce((s, r) => s + r.events, 0);
        const agg = Math.round(total / ((last - first) / 1000));
        const ok = rs.length === +n && rs.every((r) => r.complete);
        const per = +n === 1 ? `${rates[0]}`
          : `${rates[0]} / ${rates[Math.floor(rates.length / 2)]} / ${rates[rates.length - 1]}`;
        console.log(`| ${fmt} | ${n} | ${per} | ${agg} | ${wall} | ${ok ? "yes" : "NO (" + rs.length + " reported)"} | ${load} |`);
    ' "$fmt" "$n" "$tmp" "$tmp/data/runs/$id/meta.json" "$l"
    rm -f "$tmp"/count.* "$tmp"/ready.*
    stop
}

# ---- memory -----------------------------------------------------------------
# One run, sampled every 0.2 s (at most 300 s): with and without a client
# that subscribes from the start and never reads.
memory_case() { # memory_case LABEL STALL(0|1) SUBMIT-ARGS...
    local label=$1 stall=$2
    shift 2
    start -- "${mem_opts[@]}"
    local base id spid="" max=0 r i
    base=$(rss)
    id=$(ctl submit "$@")
    if ((stall)); then
        timeout 330 "$node" "$wsbench" stall "$wsurl" "$id" 320 2>>"$tmp/stall.log" &
        spid=$!
        kids=("$spid")
    fi
    for ((i = 0; i < 1500; i++)); do
        r=$(rss)
        ((r > max)) && max=$r
        grep -q '"status": *"running"' "$tmp/data/runs/$id/meta.json" 2>/dev/null || break
        sleep 0.2
    done
    local after ev
    after=$(rss)
    ev=$(sed -n 's/.*"events": *\([0-9]*\).*/\1/p' "$tmp/data/runs/$id/meta.json" | head -1)
    local h
    h=$(hwm)
    if [[ -n $spid ]]; then kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null; fi
    kids=()
    stop
    echo "| $label | $ev | $((base / 1024)) | $((max / 1024)) | $((h / 1024)) | $((after / 1024)) |"
}
memory() {
    local fast=2000000 slow=400000
    ((quick)) && fast=200000 slow=40000
    mem_opts=()
    echo "### memory (VmRSS sampled every 0.2 s; MiB; load $(load))"
    echo
    echo "| case | events | RSS idle | max RSS sampled | VmHWM | RSS at end |"
    echo "|---|---|---|---|---|---|"
    memory_case "fast run (calls.wasm run $fast 0), no client" 0 \
        "$tmp/calls.wasm" --invoke run "$fast" 0
    memory_case "fast run, one stalled client" 1 \
        "$tmp/calls.wasm" --invoke run "$fast" 0
    memory_case "steady run (calls.wasm run $slow 4000, ~90k ev/s here), no client" 0 \
        "$tmp/calls.wasm" --invoke run "$slow" 4000
    memory_case "steady run, one stalled client" 1 \
        "$tmp/calls.wasm" --invoke run "$slow" 4000
    echo
}

# ---- valgrind ------------------------------------------------------------------
valgrind_check() {
    local vb=${VALGRIND_BUILD:-$build}
    local saved=$build
    build=$vb
    echo "### valgrind ($vb/traced; load $(load))"
    echo
    start timeout 300 valgrind --leak-check=full --show-leak-kinds=definite,indirect \
        --errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
        --log-file="$tmp/valgrind.log" --
    local ids=() id
    ids+=("$(ctl submit "$tmp/calls.wasm" --invoke run 2000 0)")
    ids+=("$(ctl submit "$tmp/chatty.wasm" -- 50 0)")
    for id in "${ids[@]}"; do wait_done "$id" 60; done
    timeout 60 "$node" "$wsbench" count "$wsurl" "${ids[0]}" 50 >/dev/null ||
        log "valgrind: count client failed"
    timeout 60 "$build/tracectl" tail "${ids[1]}" --format jsonl >/dev/null ||
        log "valgrind: tail failed"
    # one run still going at SIGTERM (cancelled with reason shutdown),
    # a live subscriber to it, and a stalled client
    id=$(ctl submit "$tmp/calls.wasm" --invoke run 100000000 400)
    sleep 1
    timeout 60 "$node" "$wsbench" count "$wsurl" "$id" 50 >/dev/null &
    local c1=$!
    timeout 60 "$node" "$wsbench" stall "$wsurl" "$id" 50 2>/dev/null &
    local c2=$!
    kids=("$c1" "$c2")
    sleep 2
    stop
    kill "$c2" 2>/dev/null
    wait "$c1" "$c2" 2>/dev/null
    kids=()
    echo "exit status under valgrind: $stop_rc (0 clean, 99 errors or leaks)"
    ((stop_rc == 0)) || status=1
    echo
    echo '```'
    for id in "${ids[@]}" "$id"; do
        echo "run $id: $("$node" -e '
            const m = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
            console.log(`status ${m.status} reason "${m.reason || ""}" events ${m.events}`);' \
            "$tmp/data/runs/$id/meta.json")"
    done
    grep -E "ERROR SUMMARY|definitely lost|indirectly lost|possibly lost|still reachable|All heap blocks|in use at exit|Invalid|uninitialised|Mismatched" \
        "$tmp/valgrind.log" | sed 's/^==[0-9]*== //' | sort | uniq -c
    echo '```'
    cp "$tmp/valgrind.log" "${VALGRIND_LOG:-/tmp/bench-daemon-valgrind.log}"
    log "full valgrind log: ${VALGRIND_LOG:-/tmp/bench-daemon-valgrind.log}"
    build=$saved
}

status=0
echo "## bench-daemon $(date -u +%FT%TZ), $(nproc) cores, build $build"
echo
for w in "${what[@]}"; do
    case $w in
    valgrind) valgrind_check ;;
    *) "$w" ;;
    esac
done
exit $status
