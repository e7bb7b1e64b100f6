// The browser test of traced's client (tests/web/run.sh starts traced and
// calls this): headless Debian chromium driven by playwright-core.
//
//   node test.mjs BASE_URL DEMO_WASM ARTIFACTS_DIR [README_IMG]
//
// 1. submits demo.wasm from the page (file picker), watches the live view
//    grow while the run goes on, drops the WebSocket mid-run and checks the
//    page resumes without gap or duplicate (its count ends equal to the
//    daemon's);
// 2. scrubs back to a known seq and checks the call stack shown there
//    against one computed independently from the daemon's JSON stream
//    (npm ws, not the page's binary decoder); checks stdout;
// 3. screenshots the run view and the runs view;
// 4. submits a fast run past a million events (>= 1 M at >= 100 k
//    events/s) and checks that the page keeps up (its event count equals
//    GET /api/runs/ID) and stays responsive (every 'longtask' < 200 ms,
//    during the run and after it); then scrolls the event log to the top,
//    the middle and the end, jumps to a late seq through the seq box and
//    the scrubber (a mouse click), times each in the page (action to the
//    frame that shows it, < 200 ms), checks the rows, call stacks and the
//    call tree's selected row shown against the daemon's JSON stream, that
//    the flame chart caught up with the run, and bounds the page's memory
//    (JS heap + array buffers per event, DOM nodes). Prints the figures on
//    a MEASURED line.
// 3c. (with $LINES_WASM, lines_demo.c built with -g by run.sh, which starts
//    traced with --source-dir at its directory, $LINES_SRC) submits it at
//    level lines from the page, jumps to known step seqs (from the JSON
//    stream) and checks that the Source panel highlights that line of the
//    real source, that the call stack shows each frame's file:line, that
//    the event log names steps file:line, that stepping by event walks to
//    the next step's line, and that a step in a file the daemon does not
//    serve (libc's) shows file:LINE with the "not available" note.
import { chromium } from 'playwright-core';
import WebSocket from 'ws';
import { mkdtempSync, rmSync, copyFileSync, mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';

const [base, demoWasm, artifacts, readmeImg] = process.argv.slice(2);
if (!base || !demoWasm || !artifacts) {
  console.error('usage: node test.mjs BASE_URL DEMO_WASM ARTIFACTS_DIR [README_IMG]');
  process.exit(2);
}
mkdirSync(artifacts, { recursive: true });

let checks = 0, failures = 0;
function check(name, cond, detail = '') {
  checks++;
  if (cond) console.log(`ok   ${name}`);
  else { failures++; console.log(`FAIL ${name}${detail ? ': ' + detail : ''}`); }
  return cond;
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(what, fn, ms = 20000, every = 50) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(every);
  }
}
const api = async (path) => (await fetch(base + path)).json();
const num = (s) => Number(String(s).replace(/[^0-9]/g, ''));

// Every event of a finished run, as the daemon's JSON form, through a
// client the page has nothing to do with: onEvent(e) for each, in seq
// order; resolves to their number.
function streamJson(run, onEvent) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(base.replace(/^http/, 'ws') + '/ws');
    let n = 0;
    const timer = setTimeout(() => { ws.terminate(); reject(new Error('ws timeout')); }, 60000);
    ws.on('open', () => ws.send(JSON.stringify({ type: 'subscribe', run, from: 'start', format: 'json' })));
    ws.on('message', (data) => {
      const m = JSON.parse(data.toString());
      if (m.type === 'events') { for (const e of m.events) onEvent(e); n += m.events.length; }
      else if (m.type === 'end') { clearTimeout(timer); ws.close(); resolve(n); }
      else if (m.type === 'error') { clearTimeout(timer); ws.close(); reject(new Error(m.error)); }
    });
    ws.on('error', reject);
  });
}
async function jsonEvents(run) {
  const events = [];
  await streamJson(run, (e) => events.push(e));
  return events;
}

// The call stack as the daemon's JSON events describe it, independent of
// the page's store: feed every event in order to shownAt(e), which returns
// the open frames (outermost first) the page must show with the cursor on
// e. A call shows its callee; a return still shows the frame it returns
// from (popped only after).
class Stacks {
  constructor() { this.st = []; }
  shownAt(e) {
    const st = this.st;
    if (e.type === 'call') { while (st.length && st[st.length - 1].depth >= e.depth) st.pop(); st.push(e); }
    else if (e.type === 'host_call') st.push({ ...e, host: true, depth: (st.length ? st[st.length - 1].depth : 0) + 1 });
    const shown = st.slice();
    if (e.type === 'return') { while (st.length && st[st.length - 1].depth > e.depth) st.pop(); st.pop(); }
    else if (e.type === 'host_return' && st.length && st[st.length - 1].host) st.pop();
    return shown;
  }
}

// Page memory per event of the fast run: JS heap + array buffers after a
// full GC, over the events held. The store's design (docs/client.md) is
// 25 B an event and 43 B a call node in typed arrays (4 of them its last
// step, for level lines): ~48 B an event for this run (a call every other
// event), plus a few MB that do not grow with the run. Measured ~62; a JS
// object per event (>= 50 B in V8) breaks it.
const BOUND_B_PER_EVENT = 100;
const fib = (n) => (n < 2 ? n : fib(n - 1) + fib(n - 2));
const profile = mkdtempSync(join(tmpdir(), 'traced-chromium-'));
const ctx = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1600, height: 960 },
});
const page = ctx.pages()[0] || await ctx.newPage();
const pageErrors = [];
page.on('pageerror', (e) => pageErrors.push(String(e)));
page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(m.text()); });
await page.addInitScript(() => {
  window.__longtasks = [];
  window.__longtaskEntries = []; // [start, duration]: diagnostics only
  new PerformanceObserver((l) => {
    for (const e of l.getEntries()) { window.__longtasks.push(e.duration); window.__longtaskEntries.push([e.startTime, e.duration]); }
  })
    .observe({ type: 'longtask', buffered: true });
  // ms from t0 to the first animation frame at which ok() holds (-1: not
  // within 5 s): how long an action takes to show its result
  window.__untilFrame = (t0, ok) => new Promise((resolve) => {
    const poll = () => {
      if (ok()) resolve(performance.now() - t0);
      else if (performance.now() - t0 > 5000) resolve(-1);
      else requestAnimationFrame(poll);
    };
    requestAnimationFrame(poll);
  });
});

async function submitFromPage(args, level = 'calls', wasm = demoWasm) {
  await page.goto(base + '/#/');
  await page.waitForSelector('[data-testid=submit-file]');
  await page.setInputFiles('[data-testid=submit-file]', wasm);
  await page.fill('[data-testid=submit-args]', args);
  await page.selectOption('[data-testid=submit-level]', level);
  await page.click('[data-testid=submit]');
  await page.waitForURL(/#\/run\/\d+/, { timeout: 10000 });
  return Number(page.url().match(/#\/run\/(\d+)/)[1]);
}
const pageCount = async () => num(await page.textContent('[data-testid=count-events]'));
const cursorSeq = async () => num(await page.textContent('[data-testid=cursor-seq]'));
// click a replay control, then wait for the cursor to move (views update
// on the next animation frame)
async function clickMove(testid) {
  const before = await cursorSeq();
  await page.click(`[data-testid=${testid}]`);
  return until(`the cursor to leave ${before}`, async () => { const c = await cursorSeq(); return c !== before ? c : 0; }, 3000)
    .catch(() => before);
}

// Diagnostics for the fast run's long tasks (they do not change any check):
// what the page ran in each — the run view's phases and the socket's
// messages — printed as NOTE lines.
function recordPhases() {
  const w = window;
  w.__phases = [];
  const rec = (t, name) => w.__phases.push([t, performance.now() - t, name]);
  const app = w.__traced, proto = app.view && Object.getPrototypeOf(app.view);
  if (proto && proto.update && !proto.__diag) {
    proto.__diag = true;
    for (const name of ['update', 'updatePanels', 'updateHeavy', 'build', 'destroy']) {
      const f = proto[name];
      if (!f) continue;
      proto[name] = function (...a) {
        const t = performance.now();
        try { return f.apply(this, a); } finally { rec(t, name + (name === 'updateHeavy' ? a[0] : '')); }
      };
    }
  }
  const c = app.conn;
  if (!c.__diag) {
    c.__diag = true;
    const orig = c.receive.bind(c);
    c.receive = (m) => { const t = performance.now(); try { orig(m); } finally { rec(t, typeof m.data === 'string' ? `json message ${(m.data.match(/"type":"(\w+)"/) || [])[1]}` : 'binary message'); } };
    const route = app.route.bind(app);
    app.route = () => { const t = performance.now(); try { route(); } finally { rec(t, 'route'); } };
  }
}
async function explainLongTasks() {
  const { lts, phases } = await page.evaluate(() => ({
    lts: (window.__longtaskEntries || []).slice(), phases: (window.__phases || []).slice() }));
  for (const [s0, d] of lts) {
    const inside = phases.filter(([t, pd]) => t + pd >= s0 && t <= s0 + d);
    const sum = {};
    for (const [, pd, n] of inside) sum[n] = (sum[n] || 0) + pd;
    console.log(`NOTE long task ${d.toFixed(0)} ms at ${s0.toFixed(0)}: script ` +
      (Object.entries(sum).map(([n, v]) => `${n} ${v.toFixed(1)} ms`).join(', ') || 'none of the page\'s own'));
  }
}

try {
  // ---- 1. a run that lasts a few seconds, watched live ---------------------
  const LINES = 24, FIBN = 5;
  const id = await submitFromPage(`${LINES} 18000000 ${FIBN}`);
  check('submitted from the page (file picker) and opened its view', id > 0, `run ${id}`);
  await page.waitForSelector('[data-testid=conn].conn-open', { timeout: 10000 });
  const seen = [];
  let liveUpdates = 0;
  for (let k = 0; k < 60 && seen.length < 4; k++) {
    const n = await pageCount();
    const meta = await api(`/api/runs/${id}`);
    if (meta.status !== 'running') break;
    if (!seen.length || n > seen[seen.length - 1]) { seen.push(n); if (seen.length > 1) liveUpdates++; }
    await sleep(150);
  }
  check('the live view grows while the run is running', liveUpdates >= 2, `counts seen: ${seen.join(', ')}`);
  const liveOut = await page.textContent('[data-testid=stdout]');
  check('stdout shows up while the run goes on', /line 00000 fib/.test(liveOut), JSON.stringify(liveOut.slice(0, 80)));
  // drop the socket mid-run: the page reconnects and resumes from its next seq
  const before = await pageCount();
  await page.evaluate(() => window.__traced.conn.bounce());
  await page.waitForSelector('[data-testid=conn].conn-open', { timeout: 10000 });
  check('the page reconnects by itself', true, `had ${before} events`);
  await until('the run to end', async () => (await api(`/api/runs/${id}`)).status !== 'running', 30000, 100);
  const meta = await api(`/api/runs/${id}`);
  check('demo run ends ok', meta.status === 'ok', meta.status);
  await until('the page to show every event', async () => (await pageCount()) === meta.events, 10000)
    .catch(() => {});
  check(`page event count equals the daemon's after a reconnect (${meta.events})`,
    (await pageCount()) === meta.events, `page ${await pageCount()}`);
  await page.waitForSelector('[data-testid=run-status].st-ok', { timeout: 5000 });

  // stdout, against what the program must print
  const want = Array.from({ length: LINES }, (_, i) =>
    `line ${String(i).padStart(5, '0')} fib ${String(fib(FIBN)).padStart(6, '0')}\n`).join('');
  // the output panel redraws a few times a second: give it one beat
  await until('stdout complete', async () => (await page.textContent('[data-testid=stdout]')) === want, 3000).catch(() => {});
  const out = await page.textContent('[data-testid=stdout]');
  check('stdout is exactly what the program printed', out === want,
    `got ${JSON.stringify(out.slice(0, 60))}… (${out.length} chars, want ${want.length})`);

  // ---- 2. scrub back to a known seq: the call stack there ---------------------
  const events = await jsonEvents(id);
  check('independent JSON stream has every event', events.length === meta.events, `${events.length}`);
  const listing = await api(`/api/runs/${id}/listing`);
  const names = (listing.funcs || []).map((f) => f.name);
  check('listing endpoint names the functions', names.includes('fib') && names.includes('_start'), names.join(','));
  const calls = events.filter((e) => e.type === 'call');
  let target, expectStack = [];
  if (calls.length) {
    // the first call three frames deep into fib: _start > fib > fib > fib
    const deep = calls.find((e) => e.depth >= 4) || calls[calls.length - 1];
    target = deep.seq + 1; // the event after it: the callee is on the stack
    const stacks = new Stacks();
    let st = [];
    for (const e of events) {
      if (e.seq > target) break;
      st = stacks.shownAt(e);
    }
    expectStack = st.map((e) => names[e.func] || `func[${e.func}]`);
  } else {
    console.log('NOTE: the daemon produced no call events (the VM tracer hooks are not in yet):');
    console.log('      the stack check becomes "no frame" and the event at the seq is checked instead');
    target = events.filter((e) => e.type === 'output')[2].seq;
  }
  // leave the end, then jump there through the seq box
  await page.click('[data-testid=prev-event]');
  await page.fill('[data-testid=seq-input]', String(target));
  await page.click('[data-testid=seq-go]');
  await until('the cursor to move', async () => num(await page.textContent('[data-testid=cursor-seq]')) === target, 5000);
  check(`cursor at seq ${target}`, num(await page.textContent('[data-testid=cursor-seq]')) === target);
  const shown = await page.$$eval('[data-testid=stack] .frame', (fs) => fs.map((f) => f.dataset.func).reverse());
  if (calls.length) {
    check(`call stack at seq ${target} is ${expectStack.join(' > ')}`,
      JSON.stringify(shown) === JSON.stringify(expectStack), `page shows ${shown.join(' > ')}`);
    // one call back, one forward: the cursor lands on call events
    const back = await clickMove('prev-call');
    check('step one call back lands on a call', events[back] && events[back].type === 'call', `seq ${back}`);
    const fwd = await clickMove('next-call');
    check('step one call forward lands on the next call', events[fwd] && events[fwd].type === 'call' && fwd > back, `seq ${fwd}`);
    await page.fill('[data-testid=seq-input]', String(target));
    await page.click('[data-testid=seq-go]');
    await until('the cursor back at the target', async () => (await cursorSeq()) === target, 3000);
  } else {
    check(`no call stack at seq ${target} (no call events)`, shown.length === 0, shown.join(' > '));
    const info = await page.textContent('[data-testid=cursor-info]');
    const line = events[target].text.trim();
    check(`the event at seq ${target} is the third output line`, info.includes(line), info);
  }
  check('step one event forward', (await clickMove('next-event')) === target + 1);
  check('step one event back', (await clickMove('prev-event')) === target);
  await sleep(300);
  await page.screenshot({ path: join(artifacts, 'run-view.png') });
  check('screenshot of the run view', true, join(artifacts, 'run-view.png'));

  // ---- 3. the runs view ------------------------------------------------------
  await page.goto(base + '/#/');
  await page.waitForSelector(`[data-testid=runs-table] tr[data-run="${id}"]`);
  const row = await page.textContent(`[data-testid=runs-table] tr[data-run="${id}"]`);
  check('runs view lists the run with its status and events', row.includes('ok') && row.includes(meta.events.toLocaleString('en-US')), row);
  await page.screenshot({ path: join(artifacts, 'runs-view.png') });
  check('screenshot of the runs view', true, join(artifacts, 'runs-view.png'));

  // ---- 3b. level ops: opcode histogram and the current listing line ---------------
  const oid = await submitFromPage('6 3000 7', 'ops');
  await until('the ops run to end', async () => (await api(`/api/runs/${oid}`)).status !== 'running', 30000, 100);
  const om = await api(`/api/runs/${oid}`);
  await until('the page to get the ops run', async () => (await pageCount()) === om.events, 15000).catch(() => {});
  check(`ops run: page has all ${om.events} events`, (await pageCount()) === om.events, `${await pageCount()}`);
  if (om.counters.ops > 0) {
    await page.waitForSelector('[data-testid=histogram] .bar-row', { timeout: 5000 });
    const top = await page.$$eval('[data-testid=histogram] .bar-label', (ls) => ls.map((l) => l.textContent));
    check('opcode histogram names opcodes', top.includes('local.get') && top.includes('br_if'), top.slice(0, 6).join(' '));
    // the 2000th op of the run: the listing line shown must be its offset's
    const oevents = await jsonEvents(oid);
    const op = oevents.filter((e) => e.type === 'op')[2000];
    await page.fill('[data-testid=seq-input]', String(op.seq));
    await page.click('[data-testid=seq-go]');
    await until('the cursor at the op', async () => (await cursorSeq()) === op.seq, 3000);
    await sleep(200);
    const line = await page.textContent('.p-src .vrow.sel').catch(() => '');
    const hex = op.offset.toString(16).padStart(6, '0') + ':';
    check(`source shows the op's line (offset ${hex})`, line.includes(hex), line);
    await page.screenshot({ path: join(artifacts, 'run-view-ops.png') });
  } else {
    console.log('NOTE: no op events at level ops (the op hook is not in yet): histogram not checked');
  }
  if (readmeImg) { // the README's picture: the ops run (histogram, listing line) when there is one
    mkdirSync(dirname(readmeImg), { recursive: true });
    copyFileSync(join(artifacts, om.counters.ops > 0 ? 'run-view-ops.png' : 'run-view.png'), readmeImg);
  }

  // ---- 3c. level lines: real sources, file:line in the stack and the log ------------
  if (process.env.LINES_WASM) {
    const src = (await readFile(process.env.LINES_SRC, 'utf8')).split('\n');
    const lineOf = (needle) => src.findIndex((l) => l.includes(needle)) + 1;
    const yLine = lineOf('square: first line'), rLine = lineOf('square: second line'), callLine = lineOf('main: the call');
    const lid = await submitFromPage('', 'lines', process.env.LINES_WASM);
    await until('the lines run to end', async () => (await api(`/api/runs/${lid}`)).status !== 'running', 30000, 100);
    const lm = await api(`/api/runs/${lid}`);
    check('lines run exits 0', lm.status === 'exit' && lm.exit_code === 0 || lm.status === 'ok', `${lm.status} ${lm.exit_code}`);
    await until('the page to get the lines run', async () => (await pageCount()) === lm.events, 15000).catch(() => {});
    const levents = await jsonEvents(lid);
    const files = levents[0].files || [];
    const fi = files.findIndex((f) => f.endsWith('/lines_demo.c'));
    check('run_start names lines_demo.c in its file table', fi >= 0, files.join(', '));
    // the second call of square (i = 1): its first step, and the next step
    const steps = levents.filter((e) => e.type === 'step');
    const ys = steps.filter((e) => e.file === fi && e.line === yLine);
    const y = ys[1];
    check(`steps on square's first line (${ys.length} >= 2)`, ys.length >= 2);
    const goto = async (seq) => {
      await page.fill('[data-testid=seq-input]', String(seq));
      await page.click('[data-testid=seq-go]');
      await until(`the cursor at ${seq}`, async () => (await cursorSeq()) === seq, 3000);
    };
    const selRow = () => page.textContent('.p-src .vrow.sel').catch(() => '');
    if (y) {
      await goto(y.seq);
      const sel = await until('the source line', async () => { const t = await selRow(); return t.includes('x * x') ? t : ''; }, 3000).catch(() => '');
      check(`seq ${y.seq}: the Source panel highlights line ${yLine} of the real source`,
        sel.includes(src[yLine - 1].trim()) && sel.trim().startsWith(String(yLine)), JSON.stringify(sel));
      const note = await page.textContent('.p-src header .note');
      check('the Source panel names the file', note.includes('lines_demo.c'), note);
      const locs = await page.$$eval('[data-testid=stack] .frame', (fs) => fs.map((f) => `${f.dataset.func}@${f.dataset.loc}`));
      check(`the stack shows each frame's file:line (square at ${yLine}, main at ${callLine})`,
        locs[0] === `square@lines_demo.c:${yLine}` &&
        /main@lines_demo\.c:(\d+)$/.exec(locs[1] || '')?.[1] === String(callLine), locs.join(' | '));
      const info = await page.textContent('[data-testid=cursor-info]');
      check('the event at the cursor reads step lines_demo.c:LINE', info.includes(`step lines_demo.c:${yLine}`), info);
      const logRow = await page.textContent('[data-testid=event-log] .vrow.sel').catch(() => '');
      check('the event log shows the step as lines_demo.c:LINE', logRow.includes(`lines_demo.c:${yLine}`), logRow);
      await page.screenshot({ path: join(artifacts, 'run-view-lines.png') });
      // stepping by event: to the next step event, whose line is square's second
      const next = steps[steps.indexOf(y) + 1];
      let at = y.seq;
      for (let k = 0; k < 20 && at < next.seq; k++) at = await clickMove('next-event');
      const sel2 = await until('the next line', async () => { const t = await selRow(); return t.includes(src[next.line - 1].trim()) ? t : ''; }, 3000).catch(() => '');
      check(`stepping by event walks to the next step (seq ${next.seq}, line ${next.line})`,
        at === next.seq && next.line === rLine && sel2.trim().startsWith(String(rLine)), `at ${at}: ${JSON.stringify(sel2)}`);
    }
    // a step in a file the daemon does not serve: file:LINE and the note
    const other = steps.find((e) => e.file !== fi);
    if (other) {
      await goto(other.seq);
      const base = files[other.file].slice(files[other.file].lastIndexOf('/') + 1);
      const text = await until('the note', async () => { const t = await page.textContent('.p-src .vlist, .p-src').catch(() => ''); return t.includes('not available') ? t : ''; }, 3000).catch(() => '');
      check(`a step in ${base} (not served) shows ${base}:${other.line} and says the source is not available`,
        text.includes(`${base}:${other.line}`) && text.includes('--source-dir'), JSON.stringify(text.slice(0, 200)));
      await page.screenshot({ path: join(artifacts, 'run-view-lines-not-served.png') });
    } else console.log('NOTE: every step is in lines_demo.c: the not-available note is not checked');
  } else console.log('NOTE: level lines part skipped (no LINES_WASM: clang cannot build wasm32-wasi)');

  // ---- 4. a fast run past a million events: responsive, keeping up, usable --------
  // 6000 lines of fib(9): ~1.37 M events (229 a line) in a few seconds.
  const fastArgs = calls.length ? '6000 0 9' : '1200000 0 1';
  await page.evaluate(() => { window.__longtasks.length = 0; window.__longtaskEntries.length = 0; });
  await page.evaluate(recordPhases);
  // the renderer main thread's CPU time (CDP Performance.ThreadTime) over
  // the run, against wall time: on a loaded machine a long task is mostly
  // time the thread waited for a core, and this says how much
  const cdp = await ctx.newCDPSession(page);
  await cdp.send('Performance.enable');
  const metrics = async () => Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value]));
  const m0 = await metrics();
  const fid = await submitFromPage(fastArgs);
  const t0 = Date.now();
  await until('the fast run to end', async () => (await api(`/api/runs/${fid}`)).ended_ns > 0, 60000, 100);
  const fm = await api(`/api/runs/${fid}`);
  const secs = (fm.ended_ns - fm.created_ns) / 1e9;
  const rate = fm.events / secs;
  check(`fast run: ${fm.events} events (>= 1000000) in ${secs.toFixed(2)} s = ${Math.round(rate)} events/s (>= 100000)`,
    fm.events >= 1e6 && rate >= 100000);
  await until('the page to catch up', async () => (await pageCount()) >= fm.events, 30000, 50).catch(() => {});
  const caught = (Date.now() - t0) / 1000;
  const pc = await pageCount();
  check(`page shows the daemon's event count at the end (${pc} = ${fm.events}, ${caught.toFixed(1)} s after submit)`, pc === fm.events);
  check('no loss in the fast run', num(await page.textContent('[data-testid=count-loss]')) === 0);
  const m1 = await metrics();
  const cpuNote = `renderer main thread ${(m1.ThreadTime - m0.ThreadTime).toFixed(2)} s CPU, tasks ` +
    `${(m1.TaskDuration - m0.TaskDuration).toFixed(2)} s, in ${(m1.Timestamp - m0.Timestamp).toFixed(2)} s wall; ` +
    `load average ${(await readFile('/proc/loadavg', 'utf8').catch(() => '?')).split(' ').slice(0, 3).join(' ')}`;
  console.log(`NOTE ${cpuNote}`);
  await sleep(500);
  const long = await page.evaluate(() => window.__longtasks.splice(0));
  await explainLongTasks();
  await page.evaluate(() => { window.__longtaskEntries.length = 0; });
  const worst = long.length ? Math.max(...long) : 0;
  check(`page responsive during the run: ${long.length} long tasks, longest ${worst.toFixed(0)} ms (< 200 ms)`, worst < 200,
    long.map((x) => x.toFixed(0)).join(', '));

  // After the run: scroll the event log to the top, the middle and the end,
  // jump through the seq box and the scrubber. Each is timed in the page,
  // from the action to the animation frame that shows its result; the rows
  // and stacks shown are checked against the daemon's JSON stream below.
  const N = fm.events;
  const scrollLog = (where) => page.evaluate(async (where) => {
    const el = document.querySelector('[data-testid=event-log]');
    // the first row shown: the list hides the rows it does not need
    // (display none) and keeps their old text, so the first row in the
    // document may be a hidden one that never changes
    const first = () => {
      const r = [...el.querySelectorAll('.vrow')].find((x) => x.style.display !== 'none');
      return r ? Number(r.querySelector('.c-seq').textContent) : -1;
    };
    const before = first();
    const max = el.scrollHeight - el.clientHeight;
    const t0 = performance.now();
    el.scrollTop = where === 'top' ? 0 : where === 'end' ? max : max / 2;
    const ms = await window.__untilFrame(t0, () => first() !== before);
    return { ms, fraction: max > 0 ? el.scrollTop / max : 0 };
  }, where);
  const logRows = () => page.$$eval('[data-testid=event-log] .vrow', (rs) => rs.filter((r) => r.style.display !== 'none')
    .map((r) => ({ seq: Number(r.querySelector('.c-seq').textContent), type: r.querySelector('.c-type').textContent,
      main: r.querySelector('.c-main').textContent, sel: r.classList.contains('sel') })));
  const shownStack = () => page.$$eval('[data-testid=stack] .frame', (fs) => fs.map((f) => f.dataset.func).reverse());
  // the call tree opens along the stack after a jump (over a few frames
  // when that opens many rows): the seq of its selected row, the cursor's
  // call, once there is one at or before the cursor (-1: none within 5 s)
  const treeSel = (atMost) => page.waitForFunction((atMost) => {
    const m = document.querySelector('[data-testid=call-tree] .vrow.sel .meta');
    const seq = m && Number((m.textContent.match(/#(\d+)$/) || [])[1]);
    return seq >= 0 && seq <= atMost ? seq : 0;
  }, atMost, { timeout: 5000 }).then((h) => h.jsonValue()).catch(() => -1);
  const timings = {};
  const views = {}; // what the page showed: checked against the daemon's events
  // the log follows the live run: it starts at the end
  const endRows = await logRows();
  check(`the event log ends at the last event (seq ${N - 1})`, endRows.length > 0 && endRows[endRows.length - 1].seq === N - 1,
    `last row ${endRows.length ? endRows[endRows.length - 1].seq : 'none'}`);
  const top = await scrollLog('top');
  views.top = await logRows();
  timings['scroll to top'] = top.ms;
  check(`scroll the log to the top: first row seq 0 (${top.ms.toFixed(0)} ms)`, top.ms >= 0 && views.top[0].seq === 0,
    `first row ${views.top[0] && views.top[0].seq}`);
  const mid = await scrollLog('middle');
  views.mid = await logRows();
  timings['scroll to middle'] = mid.ms;
  const midWant = Math.round(mid.fraction * (N - views.mid.length));
  check(`scroll the log to the middle: first row seq ${views.mid[0] && views.mid[0].seq} ≈ ${midWant} (${mid.ms.toFixed(0)} ms)`,
    mid.ms >= 0 && Math.abs(views.mid[0].seq - midWant) <= views.mid.length);
  const end = await scrollLog('end');
  views.end = await logRows();
  timings['scroll to end'] = end.ms;
  const endLast = views.end.length ? views.end[views.end.length - 1].seq : -1;
  check(`scroll the log to the end: last row seq ${endLast} = ${N - 1} (${end.ms.toFixed(0)} ms)`, end.ms >= 0 && endLast === N - 1);
  // a late seq through the seq box: cursor, log row and stack
  const seqTarget = N - 1 - 4321;
  const jump = await page.evaluate(async (target) => {
    document.querySelector('[data-testid=seq-input]').value = String(target);
    const t0 = performance.now();
    document.querySelector('[data-testid=seq-go]').click();
    return window.__untilFrame(t0, () => {
      const sel = document.querySelector('[data-testid=event-log] .vrow.sel .c-seq');
      return document.querySelector('[data-testid=cursor-seq]').textContent === String(target) &&
        sel && sel.textContent === String(target);
    });
  }, seqTarget);
  timings['seq-box jump'] = jump;
  views.jump = await logRows();
  views.jumpStack = await shownStack();
  views.jumpTree = await treeSel(seqTarget);
  check(`jump to seq ${seqTarget} (seq box): cursor and selected log row there (${jump.toFixed(0)} ms)`, jump >= 0);
  // the scrubber, clicked at 93 % of its width like a user would
  await page.evaluate(() => {
    const s = document.querySelector('[data-testid=scrubber]');
    window.__scrub = null;
    s.addEventListener('input', () => {
      const t0 = performance.now(), want = String(window.__traced.view.trace.seqOf(Number(s.value)));
      window.__untilFrame(t0, () => {
        const sel = document.querySelector('[data-testid=event-log] .vrow.sel .c-seq');
        return document.querySelector('[data-testid=cursor-seq]').textContent === want && sel && sel.textContent === want;
      }).then((ms) => { window.__scrub = { ms, seq: Number(want) }; });
    }, { once: true, capture: true });
  });
  const box = await page.locator('[data-testid=scrubber]').boundingBox();
  await page.mouse.click(box.x + box.width * 0.93, box.y + box.height / 2);
  const scrub = await until('the scrubber jump', () => page.evaluate(() => window.__scrub), 8000);
  timings['scrubber jump'] = scrub.ms;
  views.scrubStack = await shownStack();
  views.scrubTree = await treeSel(scrub.seq);
  check(`scrubber jump to seq ${scrub.seq} (${(100 * scrub.seq / N).toFixed(0)} % of the run): cursor and log row there (${scrub.ms.toFixed(0)} ms)`,
    scrub.ms >= 0 && scrub.seq > N * 0.8);
  for (const [what, ms] of Object.entries(timings))
    check(`${what} responds within 200 ms (${ms.toFixed(0)} ms)`, ms >= 0 && ms < 200);

  // the daemon's JSON stream, read once: the stacks at both targets and the
  // events behind every row shown above
  const wantRows = new Map();
  for (const v of [views.top, views.mid, views.end, views.jump]) for (const r of v) wantRows.set(r.seq, null);
  const stacks = new Stacks(), stackAt = new Map([[seqTarget, null], [scrub.seq, null]]), topAt = new Map();
  const tj = Date.now();
  const streamed = await streamJson(fid, (e) => {
    if (wantRows.has(e.seq)) wantRows.set(e.seq, e);
    const st = stacks.shownAt(e);
    if (stackAt.has(e.seq)) {
      stackAt.set(e.seq, st.map((f) => names[f.func] || `func[${f.func}]`));
      topAt.set(e.seq, st.length ? st[st.length - 1].seq : -1);
    }
  });
  console.log(`NOTE the daemon's JSON stream of the fast run: ${streamed} events in ${((Date.now() - tj) / 1000).toFixed(1)} s`);
  check('independent JSON stream of the fast run has every event', streamed === N, `${streamed}`);
  const rowOk = (r) => {
    const e = wantRows.get(r.seq);
    if (!e || e.type !== r.type) return false;
    return e.func === undefined || !/call|return/.test(e.type) || r.main.startsWith(names[e.func] || `func[${e.func}]`);
  };
  for (const [what, rows] of [['top', views.top], ['middle', views.mid], ['end', views.end], [`seq ${seqTarget}`, views.jump]]) {
    const bad = rows.filter((r, k) => !rowOk(r) || (k > 0 && r.seq !== rows[k - 1].seq + 1));
    check(`log rows at the ${what} are the daemon's events (${rows.length} rows, seq ${rows[0].seq}…${rows[rows.length - 1].seq})`,
      rows.length > 10 && bad.length === 0, bad.slice(0, 2).map((r) => JSON.stringify(r) + ' vs ' + JSON.stringify(wantRows.get(r.seq))).join(' | '));
  }
  for (const [seq, shown] of [[seqTarget, views.jumpStack], [scrub.seq, views.scrubStack]]) {
    const want = stackAt.get(seq) || [];
    check(`call stack at seq ${seq} is the daemon's (${want.length} frames: ${want.slice(-3).join(' > ')})`,
      want.length > 0 && JSON.stringify(shown) === JSON.stringify(want), `page shows ${shown.join(' > ')}`);
  }
  for (const [seq, shown] of [[seqTarget, views.jumpTree], [scrub.seq, views.scrubTree]]) {
    const want = topAt.get(seq);
    check(`call tree at seq ${seq}: opened along the stack, its selected row is the call at seq ${want}`,
      want >= 0 && shown === want, `selected row #${shown}`);
  }
  // the flame chart renders in slices, between the other frames: it has
  // caught up with the whole run (what its picture shows: its key)
  const flameKey = () => page.evaluate(() => { const f = window.__traced.view.flame; return f.busy ? '' : (f.shown || {}).key || ''; });
  await until('the flame chart to catch up', async () => (await flameKey()).startsWith(`${N}:`), 5000).catch(() => {});
  const fk = await flameKey();
  check(`flame chart shows the whole run (${N} events)`, fk.startsWith(`${N}:`), `rendered: ${fk}`);
  const after = await page.evaluate(() => window.__longtasks.slice());
  await explainLongTasks();
  const worstAfter = after.length ? Math.max(...after) : 0;
  check(`page responsive after the run (scrolls, jumps): ${after.length} long tasks, longest ${worstAfter.toFixed(0)} ms (< 200 ms)`,
    worstAfter < 200, after.map((x) => x.toFixed(0)).join(', '));

  // memory: the JS heap and the typed arrays' backing stores after a full
  // GC, and the trace's own typed arrays
  await cdp.send('HeapProfiler.collectGarbage');
  const heap = await cdp.send('Runtime.getHeapUsage');
  const dom = await cdp.send('Memory.getDOMCounters');
  const { n: storeBytes, elements, texts } = await page.evaluate(() => {
    let n = 0;
    const add = (o) => { for (const v of Object.values(o)) if (ArrayBuffer.isView(v)) n += v.byteLength; };
    const t = window.__traced.view.trace;
    add(t);
    for (const c of t.chunks) add(c);
    for (const c of t.nc || []) add(c);
    let texts = 0;
    for (const w = document.createTreeWalker(document, NodeFilter.SHOW_TEXT); w.nextNode();) texts++;
    return { n, elements: document.getElementsByTagName('*').length, texts };
  });
  const MB = (x) => `${(x / 2 ** 20).toFixed(1)} MB`;
  const total = heap.usedSize + (heap.backingStorageSize || 0);
  console.log(`NOTE memory at ${N} events: JS heap used ${MB(heap.usedSize)} of ${MB(heap.totalSize)}, ` +
    `array buffers ${MB(heap.backingStorageSize || 0)}, the trace's typed arrays ${MB(storeBytes)} ` +
    `(${(storeBytes / N).toFixed(1)} B/event), ${(total / N).toFixed(0)} B/event in all; DOM nodes ${dom.nodes} ` +
    `(${elements} elements and ${texts} text nodes in the document)`);
  // the DOM is one screen of rows per list, whatever the run's size
  check(`page memory bounded: ${(total / N).toFixed(0)} B/event (< ${BOUND_B_PER_EVENT}), ` +
    `${elements + texts} DOM nodes in the document (< 3000)`, total / N < BOUND_B_PER_EVENT && elements + texts < 3000);
  console.log(`MEASURED fast run: ${N} events, ${Math.round(rate)} events/s, page caught up ${caught.toFixed(1)} s after submit; ` +
    `longest long task ${worst.toFixed(0)} ms during, ${worstAfter.toFixed(0)} ms after; ` +
    Object.entries(timings).map(([k, v]) => `${k} ${v.toFixed(0)} ms`).join(', ') +
    `; heap ${MB(heap.usedSize)} + array buffers ${MB(heap.backingStorageSize || 0)}; ${cpuNote}`);
  await page.screenshot({ path: join(artifacts, 'fast-run.png') });
  check('no errors in the page', pageErrors.length === 0, pageErrors.slice(0, 3).join(' | '));
} catch (e) {
  check('test ran to the end', false, e.stack || String(e));
  await page.screenshot({ path: join(artifacts, 'failure.png') }).catch(() => {});
} finally {
  await ctx.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(`\nweb tests: ${checks - failures} of ${checks} passed`);
process.exit(failures ? 1 : 0);
