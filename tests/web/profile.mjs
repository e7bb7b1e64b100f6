// Diagnostics (not part of the test): submit the web test's fast run from
// the page with a Chrome trace recording, then attribute every long task
// (> 50 ms RunTask on the renderer main thread) to what ran inside it.
//
//   node profile.mjs BASE_URL DEMO_WASM OUT_DIR [ARGS]
//
// tests/web/profile.sh BUILD_DIR starts traced and calls this.
import { chromium } from 'playwright-core';
import { writeFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [base, demoWasm, out, fastArgs = '1500 0 9', level = 'calls', warm = '6 3000 7'] = process.argv.slice(2);
mkdirSync(out, { recursive: true });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const api = async (p) => (await fetch(base + p)).json();
const profile = mkdtempSync(join(tmpdir(), 'traced-chromium-'));
const ctx = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1600, height: 960 },
});
const page = ctx.pages()[0] || await ctx.newPage();
await page.addInitScript(() => {
  window.__longtasks = [];
  new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__longtasks.push([e.startTime, e.duration]); })
    .observe({ type: 'longtask', buffered: true });
});
async function submit(args, lvl) {
  await page.goto(base + '/#/');
  await page.waitForSelector('[data-testid=submit-file]');
  await page.setInputFiles('[data-testid=submit-file]', demoWasm);
  await page.fill('[data-testid=submit-args]', args);
  await page.selectOption('[data-testid=submit-level]', lvl);
  await page.click('[data-testid=submit]');
  await page.waitForURL(/#\/run\/\d+/, { timeout: 10000 });
  return Number(page.url().match(/#\/run\/(\d+)/)[1]);
}
const count = async () => Number(String(await page.textContent('[data-testid=count-events]')).replace(/[^0-9]/g, ''));
// like the test: an ops run first (a big trace the page lets go of)
if (warm !== '-') {
  const w = await submit(warm, 'ops');
  for (;;) { const m = await api(`/api/runs/${w}`); if (m.status !== 'running' && (await count()) >= m.events) break; await sleep(100); }
}
const cdp = await page.context().newCDPSession(page);
// the renderer main thread's CPU time over the recording, to set against
// the trace's (the recording's own cost shows as the difference)
await cdp.send('Performance.enable');
const threadTime = async () => (await cdp.send('Performance.getMetrics')).metrics.find((m) => m.name === 'ThreadTime').value;
const cpu0 = await threadTime();
const chunks = [];
cdp.on('Tracing.dataCollected', (e) => chunks.push(...e.value));
const done = new Promise((r) => cdp.once('Tracing.tracingComplete', r));
// NOTRACE=1: no recording, only the figures below (the recording's cost is
// the difference)
const tracing = process.env.NOTRACE !== '1';
if (tracing) await cdp.send('Tracing.start', {
  transferMode: 'ReportEvents',
  // LIGHT=1: the timeline alone (tasks, script, style, layout, paint), whose
  // own overhead is small: for CPU times near what the test sees
  traceConfig: { includedCategories: process.env.LIGHT === '1' ? ['devtools.timeline', 'disabled-by-default-devtools.timeline'] : ['devtools.timeline',
    'disabled-by-default-devtools.timeline', 'v8', 'v8.execute', 'blink.user_timing', 'disabled-by-default-v8.gc',
    'blink', 'cc', 'loading'].concat(process.env.SAMPLER === '0' ? [] : ['disabled-by-default-v8.cpu_profiler']) },
});
await page.evaluate(() => {
  window.__longtasks.length = 0;
  // time each binary message's handling (decode into the store)
  // which phase of the view each frame ran (RunView methods, wrapped)
  window.__phases = [];
  const proto = Object.getPrototypeOf(window.__traced.view);
  for (const name of ['update', 'updatePanels', 'updateHeavy', 'treeWork', 'build', 'mountChart']) {
    const f = proto[name];
    if (!f || f.__wrapped) continue;
    proto[name] = function (...a) {
      const t = performance.now();
      try { return f.apply(this, a); } finally {
        window.__phases.push([t, performance.now() - t, name + (name === 'updateHeavy' ? a[0] : '')]);
      }
    };
    proto[name].__wrapped = true;
  }
  const c = window.__traced.conn, orig = c.receive.bind(c);
  window.__rx = { n: 0, bytes: 0, max: 0, slow: [] };
  c.receive = (m) => {
    const t = performance.now();
    orig(m);
    const d = performance.now() - t, r = window.__rx;
    if (typeof m.data !== 'string') { r.n++; r.bytes += m.data.byteLength; r.max = Math.max(r.max, m.data.byteLength); }
    if (d > 3) r.slow.push([Math.round(t), +d.toFixed(1), typeof m.data === 'string' ? 'json' : m.data.byteLength]);
  };
});
const fid = await submit(fastArgs, level);
for (;;) { const m = await api(`/api/runs/${fid}`); if (m.ended_ns > 0 && (await count()) >= m.events) break; await sleep(100); }
await sleep(600);
// the jumps of the test, traced too: the seq box (a late seq), a click at
// 93 % of the scrubber, then a few cursor steps; each timed to the frame
// that shows it
const jumps = {};
const frameAfter = (ok) => page.evaluate((ok) => new Promise((resolve) => {
  const t0 = window.__jumpT0, f = new Function(`return (${ok})`)();
  const poll = () => { if (f()) resolve(performance.now() - t0); else if (performance.now() - t0 > 5000) resolve(-1); else requestAnimationFrame(poll); };
  requestAnimationFrame(poll);
}), ok);
const selIs = String((want) => document.querySelector('[data-testid=cursor-seq]').textContent === want &&
  (document.querySelector('[data-testid=event-log] .vrow.sel .c-seq') || {}).textContent === want);
{
  const n = await count(), target = n - 1 - 4321;
  await page.evaluate((target) => {
    document.querySelector('[data-testid=seq-input]').value = String(target);
    window.__jumpT0 = performance.now();
    document.querySelector('[data-testid=seq-go]').click();
  }, target);
  jumps['seq box'] = await frameAfter(`() => (${selIs})('${target}')`);
  await sleep(300);
  await page.evaluate(() => document.querySelector('[data-testid=scrubber]').addEventListener('input', () => { window.__jumpT0 = performance.now(); }, { once: true, capture: true }));
  const box = await page.locator('[data-testid=scrubber]').boundingBox();
  await page.mouse.click(box.x + box.width * 0.93, box.y + box.height / 2);
  jumps.scrubber = await frameAfter(`() => (${selIs})(String(window.__traced.view.trace.seqOf(window.__traced.view.cursor)))`);
  await sleep(300);
  for (let k = 0; k < 5; k++) { await page.keyboard.press('Shift+ArrowRight'); await sleep(60); }
  await sleep(300);
}
console.log('jumps (ms to the frame that shows them):', JSON.stringify(jumps));
console.log(`renderer main thread CPU over the recording: ${(await threadTime() - cpu0).toFixed(2)} s`);
const lts = await page.evaluate(() => window.__longtasks.slice());
const phases = await page.evaluate(() => window.__phases);
for (const [s0, d] of lts) {
  const inside = phases.filter(([t]) => t >= s0 - 1 && t <= s0 + d).map(([t, pd, n]) => `${n} ${pd.toFixed(1)}`);
  console.log(`long task ${d.toFixed(0)} ms at ${s0.toFixed(0)}: ${inside.join(', ') || '(no view phase)'}`);
}
const by = {};
for (const [, pd, n] of phases) { const b = by[n] || (by[n] = [0, 0, 0]); b[0]++; b[1] += pd; b[2] = Math.max(b[2], pd); }
for (const [n, [k, sum, mx]] of Object.entries(by)) console.log(`phase ${n}: ${k} calls, mean ${(sum / k).toFixed(1)} ms, max ${mx.toFixed(1)} ms (script only)`);
if (tracing) {
  await cdp.send('Tracing.end');
  await done;
  writeFileSync(join(out, 'trace.json'), JSON.stringify({ traceEvents: chunks }));
}
console.log('messages:', JSON.stringify(await page.evaluate(() => window.__rx)));
console.log(`longtasks (page): ${lts.map(([s, d]) => `${d.toFixed(0)}@${s.toFixed(0)}`).join(' ')}`);
await ctx.close();
rmSync(profile, { recursive: true, force: true });
