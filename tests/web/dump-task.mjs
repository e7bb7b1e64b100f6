// Diagnostics: print the event tree (depth <= D, events >= MIN ms) of the
// renderer main thread's K longest tasks in a Chrome trace.
//   node dump-task.mjs trace.json [K] [D] [MIN_MS]
import { readFileSync } from 'node:fs';
const [file, K = '3', D = '6', M = '0.5'] = process.argv.slice(2);
const ev = JSON.parse(readFileSync(file, 'utf8')).traceEvents;
const names = new Map();
for (const e of ev) if (e.ph === 'M' && e.name === 'thread_name') names.set(`${e.pid}:${e.tid}`, e.args.name);
const cnt = new Map();
for (const e of ev) { const k = `${e.pid}:${e.tid}`; if (names.get(k) === 'CrRendererMain') cnt.set(k, (cnt.get(k) || 0) + 1); }
const main = [...cnt].sort((a, b) => b[1] - a[1])[0][0];
const xs = [], open = [];
for (const e of ev.filter((e) => `${e.pid}:${e.tid}` === main).sort((a, b) => a.ts - b.ts)) {
  if (e.ph === 'X') xs.push(e); else if (e.ph === 'B') open.push(e);
  else if (e.ph === 'E') { const b = open.pop(); if (b) xs.push({ ...b, dur: e.ts - b.ts, tdur: e.tts - b.tts }); }
}
xs.sort((a, b) => a.ts - b.ts || b.dur - a.dur);
const tasks = xs.filter((e) => e.name === 'ThreadControllerImpl::RunTask' || e.name === 'RunTask').sort((a, b) => b.dur - a.dur).slice(0, Number(K));
for (const tk of tasks) {
  const inner = xs.filter((e) => e.ts >= tk.ts && e.ts + (e.dur || 0) <= tk.ts + tk.dur);
  const stack = [];
  console.log('');
  for (const e of inner) {
    while (stack.length && e.ts >= stack[stack.length - 1]) stack.pop();
    if (stack.length < Number(D) && (e.dur || 0) >= Number(M) * 1000) {
      const d = e.args && (e.args.data || e.args.beginData);
      let extra = '';
      if (d && d.functionName) extra = ` ${d.functionName}:${d.lineNumber}`;
      if (d && d.type) extra += ` [${d.type}]`;
      if (e.args && e.args.beginData && e.args.beginData.dirtyObjects) extra += ` dirty=${e.args.beginData.dirtyObjects}/${e.args.beginData.totalObjects}`;
      if (e.args && e.args.elementCount) extra += ` elements=${e.args.elementCount}`;
      console.log(`${'  '.repeat(stack.length)}${(e.dur / 1000).toFixed(1)} ms (cpu ${e.tdur ? (e.tdur / 1000).toFixed(1) : '?'}) ${e.name}${extra}`);
    }
    stack.push(e.ts + (e.dur || 0));
  }
}
