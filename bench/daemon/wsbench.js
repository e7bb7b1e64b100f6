// WebSocket clients for scripts/bench-daemon.sh (docs/performance.md,
// "Daemon"). Uses the `ws` package pinned in tests/daemon/package.json
// (run with NODE_PATH=tests/daemon/node_modules).
//
//   node wsbench.js latency URL RUN [MAX_S]   subscribe from "now" (JSON);
//       for each event: receive CLOCK_MONOTONIC - (start_monotonic_ns + t),
//       start_monotonic_ns from the `subscribed` message; prints one JSON
//       line {events, p50_ms, p90_ms, p99_ms, max_ms, ...}
//   node wsbench.js count URL RUN [MAX_S]     subscribe from "start" (JSON,
//       or binary with WSBENCH_FORMAT=binary), retrying while the run does
//       not exist yet; counts events and checks that their seqs run from 0
//       to the end's next_seq without a gap or a duplicate; prints
//       {events, complete, first_ms, seconds, events_per_s, ...}.
//       WSBENCH_READY=PATH: create PATH once connected.
//   node wsbench.js stall URL RUN [MAX_S]     a raw TCP client: WebSocket
//       handshake, subscribe from "start", then never reads again; exits
//       after MAX_S seconds (or when killed)
//
// URL is ws://127.0.0.1:PORT/ws. Every mode gives up after MAX_S seconds
// (default 120) with exit 1. process.hrtime.bigint() is libuv's uv_hrtime,
// CLOCK_MONOTONIC on Linux, the clock the daemon's run thread stamps with.
'use strict';
const net = require('net');

const [mode, url, runArg, maxArg] = process.argv.slice(2);
const run = Number(runArg);
const maxS = Number(maxArg || 120);
// count mode: WSBENCH_FORMAT=binary subscribes in binary; WSBENCH_READY=PATH
// is created once the socket is open (the script waits for every client).
const format = process.env.WSBENCH_FORMAT === 'binary' ? 'binary' : 'json';
const readyFile = process.env.WSBENCH_READY || null;
const fail = (msg) => { console.error('wsbench: ' + msg); process.exit(1); };
if (!url || !Number.isInteger(run)) fail('usage: wsbench.js MODE URL RUN [MAX_S]');
setTimeout(() => fail(mode + ': timed out after ' + maxS + ' s'), maxS * 1000).unref();
const now = () => process.hrtime.bigint();

function pct(sorted, p) {
  if (!sorted.length) return null;
  const i = Math.min(sorted.length - 1, Math.ceil(p / 100 * sorted.length) - 1);
  return sorted[Math.max(0, i)];
}

// Walk the records of a binary frame (docs/protocol.md §2; the delta
// state starts at zero in each frame): {n, first, next, gaps}, where gaps
// counts records whose seq is not the previous record's next seq.
function decodeBinary(buf) {
  if (buf.length < 16 || buf.toString('latin1', 0, 4) !== 'TRCB') fail('not a TRCB frame');
  let i = 16, n = 0, first = null, next = 0, gaps = 0;
  const u8 = () => { if (i >= buf.length) fail('truncated record'); return buf[i++]; };
  const varint = () => { // up to 64 bits, as a BigInt only when needed
    let v = 0, mul = 1, b;
    do { b = u8(); v += (b & 0x7f) * mul; mul *= 128; } while (b & 0x80);
    return v;
  };
  const svarint = () => { const z = varint(); return z % 2 ? -(z + 1) / 2 : z / 2; };
  const skip = (k) => { i += k; if (i > buf.length) fail('truncated record'); };
  const str = () => skip(varint());
  const vals = () => {
    for (let k = varint(); k > 0; k--) {
      const t = u8();
      if (t === 0x7f || t === 0x7e) varint();
      else if (t === 0x7d) skip(4);
      else if (t === 0x7c) skip(8);
      else if (t === 0x7b) skip(16);
      else if (t === 0x70 || t === 0x6f) varint();
      else fail('value type ' + t);
    }
  };
  while (i < buf.length) {
    const type = u8();
    const seq = next + svarint();
    svarint(); // t
    let count = 1;
    switch (type) {
      case 1: skip(8); varint(); u8(); skip(32); str(); {
        const argc = varint(), nimp = varint();
        for (let k = 0; k < argc; k++) str();
        for (let k = 0; k < nimp; k++) { str(); str(); }
      } break;
      case 2: case 3: case 4: case 5: varint(); varint(); vals(); break;
      case 6: { const op = u8(); if (op >= 0xfb && op <= 0xfe) varint(); svarint(); } break;
      case 7: varint(); vals(); break;
      case 8: svarint(); str(); break;
      case 9: varint(); str(); break;
      case 10: varint(); varint(); varint(); break;
      case 11: count = varint(); break;
      case 12: u8(); svarint(); vals(); for (let k = 0; k < 6; k++) varint(); break;
      default: fail('record type ' + type);
    }
    if (first === null) first = seq;
    else if (seq !== next) gaps++;
    next = seq + count;
    n++;
  }
  return { n, first, next, gaps };
}

if (mode === 'latency') {
  const WebSocket = require('ws');
  const ws = new WebSocket(url, { perMessageDeflate: false });
  let start = null;   // BigInt, ns
  const lat = [];     // ms, one per event
  let frames = 0, firstSeq = null, lastSeq = null;
  // The run may not exist yet (the script starts us before it submits)
  // or not have started (no run_start drained): subscribe again every
  // 10 ms, at most 3000 times; a new subscription replaces the old one.
  let tries = 0;
  const subscribe = () => {
    if (++tries > 3000) fail('the run did not start');
    ws.send(JSON.stringify({ type: 'subscribe', run, from: 'now', format: 'json' }));
  };
  ws.on('open', subscribe);
  ws.on('message', (data, isBinary) => {
    const recv = now();  // before parsing: when the frame reached us
    if (isBinary) fail('binary frame');
    const m = JSON.parse(String(data));
    if (m.type === 'subscribed') {
      if (m.start_monotonic_ns === undefined) {
        if (m.status !== 'running') fail('run ' + run + ' is ' + m.status);
        setTimeout(subscribe, 10);
        return;
      }
      start = BigInt(m.start_monotonic_ns);
    } else if (m.type === 'error' && m.code === 'unknown_run') {
      setTimeout(subscribe, 10);
    } else if (m.type === 'events') {
      if (start === null) return; // an earlier subscription's batch
      frames++;
      for (const e of m.events) {
        if (firstSeq === null) firstSeq = e.seq;
        lastSeq = e.seq;
        lat.push(Number(recv - (start + BigInt(e.t))) / 1e6);
      }
    } else if (m.type === 'end') {
      if (start === null) return;
      const s = lat.slice().sort((a, b) => a - b);
      const r = (x) => x === null ? null : Math.round(x * 1000) / 1000;
      console.log(JSON.stringify({
        mode, run, events: lat.length, frames, first_seq: firstSeq,
        last_seq: lastSeq, p50_ms: r(pct(s, 50)), p90_ms: r(pct(s, 90)),
        p99_ms: r(pct(s, 99)), max_ms: r(s[s.length - 1] ?? null),
        min_ms: r(s[0] ?? null) }));
      ws.close();
      process.exit(0);
    } else if (m.type === 'error') {
      fail('error ' + m.code + ': ' + m.error);
    }
  });
  ws.on('error', (e) => fail(e.message));
} else if (mode === 'count') {
  const WebSocket = require('ws');
  const ws = new WebSocket(url, { perMessageDeflate: false });
  const t0 = now();
  let events = 0, frames = 0, bytes = 0, first = null, last = null;
  let next = null, gaps = 0;
  const SEQ = Buffer.from('{"seq":');
  // The run may not exist yet (the script can start its clients before
  // it submits, so that their start-up is not measured against the
  // run): subscribe again every 10 ms until it does, 3000 times at most.
  let tries = 0;
  const subscribe = () => {
    if (++tries > 3000) fail('run ' + run + ' did not appear');
    ws.send(JSON.stringify({ type: 'subscribe', run, from: 'start', format }));
  };
  ws.on('open', () => {
    subscribe();
    if (readyFile) require('fs').writeFileSync(readyFile, '');
  });
  ws.on('message', (data, isBinary) => {
    const recv = now();
    if (isBinary) {
      if (format !== 'binary') fail('binary frame on a json subscription');
      const r = decodeBinary(data);
      frames++;
      bytes += data.length;
      gaps += r.gaps;
      if (r.n) {
        if (r.first !== (next === null ? 0 : next)) gaps++;
        next = r.next;
        if (first === null) first = recv;
        last = recv;
        events += r.n;
      }
      return;
    }
    // An events frame starts with {"type":"events"; count its events
    // without parsing the whole frame: each event object starts with
    // {"seq": (values inside events are {"type":...}).
    if (data.length > 16 && data.toString('latin1', 0, 16) === '{"type":"events"') {
      frames++;
      bytes += data.length;
      let i = data.indexOf(SEQ), n = 0, seq = null;
      const firstIdx = i;
      while (i >= 0) {
        n++;
        const j = i;
        i = data.indexOf(SEQ, i + 7);
        if (i < 0) seq = parseInt(data.toString('latin1', j + 7, j + 27), 10);
      }
      if (n) {
        const s0 = parseInt(data.toString('latin1', firstIdx + 7, firstIdx + 27), 10);
        if (s0 !== (next === null ? 0 : next)) gaps++;
        if (seq - s0 + 1 !== n) gaps++;
        next = seq + 1;
        if (first === null) first = recv;
        last = recv;
        events += n;
      }
      return;
    }
    const m = JSON.parse(String(data));
    if (m.type === 'end') {
      const secs = first === null ? 0 : Number(last - first) / 1e9;
      console.log(JSON.stringify({
        mode, run, events, frames, bytes, gaps, next_seq: m.next_seq,
        complete: gaps === 0 && next === m.next_seq,
        first_ms: first === null ? null : Number(first - t0) / 1e6,
        // CLOCK_MONOTONIC, comparable across processes (aggregates)
        first_abs_ms: first === null ? null : Number(first) / 1e6,
        last_abs_ms: last === null ? null : Number(last) / 1e6,
        seconds: secs, events_per_s: secs > 0 ? Math.round(events / secs) : null }));
      ws.close();
      process.exit(0);
    } else if (m.type === 'error' && m.code === 'unknown_run') {
      setTimeout(subscribe, 10);
    } else if (m.type === 'error') {
      fail('error ' + m.code + ': ' + m.error);
    }
  });
  ws.on('error', (e) => fail(e.message));
} else if (mode === 'stall') {
  const u = new URL(url);
  const s = net.connect(Number(u.port), u.hostname, () => {
    s.write('GET ' + u.pathname + u.search + ' HTTP/1.1\r\nHost: 127.0.0.1\r\n' +
            'Upgrade: websocket\r\nConnection: Upgrade\r\n' +
            'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' +
            'Sec-WebSocket-Version: 13\r\n\r\n');
  });
  s.once('data', (d) => {
    if (!String(d).startsWith('HTTP/1.1 101')) fail('no upgrade: ' + d);
    // One masked text frame (client frames must be masked) and then
    // never read again: the kernel buffers fill and the daemon sees a
    // client that does not drain.
    const payload = Buffer.from(JSON.stringify(
      { type: 'subscribe', run, from: 'start', format: 'json' }));
    if (payload.length > 125) fail('payload too long');
    const mask = Buffer.from([0x11, 0x22, 0x33, 0x44]);
    const masked = Buffer.from(payload.map((b, i) => b ^ mask[i & 3]));
    s.write(Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]));
    s.pause();
    console.error('wsbench: stalled client subscribed to run ' + run);
  });
  s.on('error', (e) => fail(e.message));
  setTimeout(() => { s.destroy(); process.exit(0); }, maxS * 1000 - 100);
} else {
  fail('unknown mode ' + mode);
}
