// Diagnostics: attribute long tasks in a Chrome trace (profile.mjs's
// trace.json). For each RunTask > MIN ms on the renderer main thread:
// its duration, what kind of task it was, the top-level JS entry, time in
// GC, style/layout/paint, and (with the sampling profiler) self time by
// function.   node analyze-trace.mjs trace.json [MIN_MS]
import { readFileSync } from 'node:fs';
const [file, minArg = '50'] = process.argv.slice(2);
const MIN = Number(minArg) * 1000;
const ev = JSON.parse(readFileSync(file, 'utf8')).traceEvents;
// renderer main thread: the one with CrRendererMain
const names = new Map();
for (const e of ev) if (e.ph === 'M' && e.name === 'thread_name') names.set(`${e.pid}:${e.tid}`, e.args.name);
const mains = [...names].filter(([, n]) => n === 'CrRendererMain').map(([k]) => k);
// pick the renderer main with the most events
const cnt = new Map();
for (const e of ev) { const k = `${e.pid}:${e.tid}`; if (mains.includes(k)) cnt.set(k, (cnt.get(k) || 0) + 1); }
const main = [...cnt].sort((a, b) => b[1] - a[1])[0][0];
const mine = ev.filter((e) => `${e.pid}:${e.tid}` === main && (e.ph === 'X' || e.ph === 'B' || e.ph === 'E')).sort((a, b) => a.ts - b.ts);
// B/E -> X
const open = [];
const xs = [];
for (const e of mine) {
  if (e.ph === 'X') xs.push(e);
  else if (e.ph === 'B') open.push(e);
  else if (e.ph === 'E') { const b = open.pop(); if (b) xs.push({ ...b, ph: 'X', dur: e.ts - b.ts }); }
}
xs.sort((a, b) => a.ts - b.ts || b.dur - a.dur);
const tasks = xs.filter((e) => (e.name === 'RunTask' || e.name === 'ThreadControllerImpl::RunTask') && e.dur >= MIN);
// cpu profile samples
const prof = new Map(); let samples = [];
for (const e of ev) {
  if (e.name === 'ProfileChunk' && `${e.pid}:${e.tid}` === main || e.name === 'ProfileChunk') {
    const d = e.args && e.args.data; if (!d) continue;
    const cp = d.cpuProfile || {};
    for (const n of cp.nodes || []) prof.set(n.id, n);
    if (cp.samples) { let t = (prof.__t ?? 0); const td = d.timeDeltas || [];
      for (let i = 0; i < cp.samples.length; i++) { t += td[i] || 0; samples.push([t, cp.samples[i]]); } prof.__t = t; }
  }
}
const pstart = ev.find((e) => e.name === 'Profile');
const t0 = pstart ? pstart.args.data.startTime : 0;
const fnOf = (id) => { const n = prof.get(id); if (!n) return '?'; const cf = n.callFrame; return `${cf.functionName || '(anon)'}:${cf.lineNumber}:${cf.columnNumber}`; };
const parentOf = new Map(); for (const [id, n] of prof) if (n && n.parent) parentOf.set(id, n.parent);
let allTot = 0;
for (const tk of tasks) {
  const inner = xs.filter((e) => e.ts >= tk.ts && e.ts + (e.dur || 0) <= tk.ts + tk.dur && e !== tk);
  const sum = new Map();
  const add = (k, d) => sum.set(k, (sum.get(k) || 0) + d);
  // top-level children only for kinds; GC anywhere
  let gc = 0;
  for (const e of inner) {
    if (/GC|Scavenge|MarkCompact|Mark|Sweep/.test(e.name) && /^(V8\.GC|MajorGC|MinorGC|BlinkGC)/.test(e.name)) { add('gc:' + e.name, e.dur); }
  }
  const top = [];
  let end = -1;
  for (const e of inner) { if (e.ts >= end) { top.push(e); end = e.ts + (e.dur || 0); } }
  for (const e of top) {
    let k = e.name;
    const d = e.args && e.args.data;
    if (d && d.functionName) k += ` ${d.functionName}:${d.lineNumber}`;
    if (d && d.type) k += ` [${d.type}]`;
    add('top:' + k, e.dur);
    // second level
    const sub = inner.filter((x) => x !== e && x.ts >= e.ts && x.ts + (x.dur || 0) <= e.ts + e.dur);
    let end2 = -1;
    for (const x of sub) { if (x.ts >= end2) { let k2 = x.name; const d2 = x.args && x.args.data; if (d2 && d2.functionName) k2 += ` ${d2.functionName}:${d2.lineNumber}`; add('  ' + k + ' > ' + k2, x.dur); end2 = x.ts + (x.dur || 0); } }
  }
  // samples inside the task: self by function and inclusive by function
  const self = new Map(), incl = new Map();
  let ns = 0;
  for (const [t, id] of samples) {
    const ts = t0 + t; if (ts < tk.ts || ts > tk.ts + tk.dur) continue; ns++;
    const f = fnOf(id); self.set(f, (self.get(f) || 0) + 1);
    const seen = new Set(); for (let n = id; n; n = parentOf.get(n)) { const g = fnOf(n); if (!seen.has(g)) { seen.add(g); incl.set(g, (incl.get(g) || 0) + 1); } }
  }
  console.log(`\n=== task ${(tk.dur / 1000).toFixed(1)} ms at ${((tk.ts - tasks[0].ts) / 1000).toFixed(0)} ms (thread time ${tk.tdur ? (tk.tdur / 1000).toFixed(1) : '?'} ms)`);
  for (const [k, d] of [...sum].sort((a, b) => b[1] - a[1]).slice(0, 18)) console.log(`  ${(d / 1000).toFixed(1).padStart(7)} ms  ${k}`);
  if (ns) {
    console.log(`  samples ${ns}; self top:`);
    for (const [k, c] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 10)) console.log(`     ${String(c).padStart(4)}  ${k}`);
    console.log(`  inclusive top:`);
    for (const [k, c] of [...incl].sort((a, b) => b[1] - a[1]).slice(0, 14)) console.log(`     ${String(c).padStart(4)}  ${k}`);
  }
  allTot += tk.dur;
}
// overall: task count by duration
const all = xs.filter((e) => e.name === 'RunTask' || e.name === 'ThreadControllerImpl::RunTask');
const buckets = [5, 10, 20, 50, 100, 200, 1e9].map((b) => [b, all.filter((e) => e.dur < b * 1000).length]);
console.log('\ntasks below N ms:', buckets.map(([b, c]) => `${b}:${c}`).join(' '), 'total', all.length);
