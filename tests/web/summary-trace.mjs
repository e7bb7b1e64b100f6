// Diagnostics: one line per renderer-main task >= MIN ms (wall) in a Chrome
// trace: start, wall and cpu time, and the cpu of its phases (script in
// rAF / message / timer callbacks, style+layout, resize observers, paint,
// commit wall time, GC).   node summary-trace.mjs trace.json [MIN_MS]
import { readFileSync } from 'node:fs';
const [file, M = '30'] = process.argv.slice(2);
const ev = JSON.parse(readFileSync(file, 'utf8')).traceEvents;
const names = new Map();
for (const e of ev) if (e.ph === 'M' && e.name === 'thread_name') names.set(`${e.pid}:${e.tid}`, e.args.name);
const cnt = new Map();
for (const e of ev) { const k = `${e.pid}:${e.tid}`; if (names.get(k) === 'CrRendererMain') cnt.set(k, (cnt.get(k) || 0) + 1); }
const main = [...cnt].sort((a, b) => b[1] - a[1])[0][0];
const xs = ev.filter((e) => `${e.pid}:${e.tid}` === main && e.ph === 'X').sort((a, b) => a.ts - b.ts);
const tasks = xs.filter((e) => e.name === 'ThreadControllerImpl::RunTask' || e.name === 'RunTask');
const t0 = tasks.length ? tasks[0].ts : 0;
const phases = { js: /^(FireAnimationFrame|TimerFire|FunctionCall|EventDispatch)$/, style: /^UpdateLayoutTree$/, layout: /^Layout$/,
  ro: /^LocalFrameView::NotifyResizeObservers$/, paint: /^Paint$/, commit: /^Commit$/, gc: /^(MinorGC|MajorGC)$/ };
let j = 0;
for (const tk of tasks) {
  if (tk.dur < Number(M) * 1000) continue;
  while (j < xs.length && xs[j].ts < tk.ts) j++;
  const sum = {};
  const seenEnd = {};
  for (let i = j; i < xs.length && xs[i].ts < tk.ts + tk.dur; i++) {
    const e = xs[i];
    for (const [k, re] of Object.entries(phases)) {
      if (!re.test(e.name)) continue;
      if ((seenEnd[k] || 0) > e.ts) continue; // nested same phase
      seenEnd[k] = e.ts + e.dur;
      sum[k] = (sum[k] || 0) + (k === 'commit' ? e.dur : (e.tdur ?? e.dur));
    }
  }
  const f = (k) => `${k} ${((sum[k] || 0) / 1000).toFixed(1)}`;
  console.log(`${((tk.ts - t0) / 1000).toFixed(0).padStart(6)} ms  wall ${(tk.dur / 1000).toFixed(1).padStart(6)}  cpu ${((tk.tdur || 0) / 1000).toFixed(1).padStart(5)} | ` +
    ['js', 'style', 'layout', 'ro', 'paint', 'gc'].map(f).join('  ') + `  (commit wall ${((sum.commit || 0) / 1000).toFixed(1)})`);
}
