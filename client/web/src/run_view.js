// The run view: live counters, output, call tree, event log, listing,
// opcode histogram, activity and flame charts, and the replay cursor that
// ties them together. Every panel reads the Trace (store.js); nothing here
// holds per-event objects.
import uPlot from 'uplot';
import { T, TYPE_NAMES } from './decode.js';
import { Trace, BIN_NS } from './store.js';
import { VList } from './vlist.js';
import { Flame, funcColor } from './flame.js';
import { OPCODE_NAMES } from './gen/opcodes.js';
import { h, fmtInt, fmtNs, fmtRate, fmtClock, statusClass } from './util.js';

const SPEEDS = [10, 100, 1000, 10000, 100000];
const OUT_LINES = 400; // output lines kept in the DOM (the event log has them all)
const LIGHT_MS = 120;  // the light update (counters, cursor, log, tree, stack, source, output)
// ... and at most 1/LIGHT_SHARE of the main thread's time: when its two
// frames take longer (a loaded machine: the page's thread waits for a
// core, up to LIGHT_MAX_MS), live updates come further apart. A thread
// that runs less is preempted less in the middle of a task.
const LIGHT_SHARE = 10;
const LIGHT_MAX_MS = 400;
const HEAVY_MS = 500;  // the heavy panels (histogram, activity chart, flame chart)
// Work that can be cut (the flame chart's render, opening the call tree)
// runs in slices of at most SLICE_MS of script per animation frame: with
// the page's share of a loaded 2-core machine, a task's wall time is many
// times its CPU time, and the test bounds every task's wall time (200 ms).
const SLICE_MS = 4;
// New calls added to the call tree's rows per light update (flattenTree).
const FLAT_NODES = 32768;

function countNl(s) {
  let n = 0;
  for (let i = s.indexOf('\n'); i >= 0; i = s.indexOf('\n', i + 1)) n++;
  return n || 1;
}

export function opName(op) {
  const n = OPCODE_NAMES.get(op);
  if (n) return n;
  return op >= 2 ** 24 ? `0x${Math.floor(op / 2 ** 24).toString(16)} ${op % 2 ** 24}` : `0x${op.toString(16)}`;
}

function panel(title, body, extra = null, cls = '') {
  return h('section', { class: `panel ${cls}` },
    h('header', {}, h('h2', { text: title }), extra), body);
}

export class RunView {
  constructor(app, id) {
    this.app = app;
    this.id = id;
    this.trace = new Trace(id);
    this.meta = null;
    this.listing = null;
    // the Source panel's rows: the listing's lines, or at level lines the
    // current step's source file (or a note that it is not served)
    this.srcText = null;
    this.srcMsg = false;         // srcText is a note, not a file: no line numbers
    this.srcFile = -1;           // file index shown (level lines)
    this.sources = null;         // GET /sources: [{index, path, available}], once
    this.fileText = new Map();   // file index -> lines array | 'loading' | 'missing'
    this.stackSteps = [];        // step event per stack frame at the cursor (level lines)
    this.cursor = -1;
    this.follow = true;
    this.playing = false;
    this.speed = 1000;
    this.ended = false;
    this.treeOpen = new Map();   // node -> bool (explicit), default by depth
    this.treeRows = new Int32Array(0);
    this.treeCount = 0;
    this.treeJob = null;         // an expansion of the tree in progress (openTree)
    this.treeScrollTo = -1;      // node to scroll the tree to once the job is done
    this.stack = [];             // the call stack at the cursor (node ids, outermost first)
    this.rateSamples = [];       // [ms, count] for events/s
    this.binX = new Float64Array(0); // activity chart: bin start, s
    this.plottedBins = '';
    this.outShown = 0;
    this.build();
    // One animation-frame pass does the drawing, and each pass does one
    // bounded piece of work: half of the light update, a slice of the
    // call tree's opening or of the flame chart's render, or one heavy
    // panel. A frame that did all of it (plus the layout and paint it
    // causes) was the long task of a fast run (tests/web: 'longtask' <
    // 200 ms).
    this.dirty = false;        // light update wanted
    this.heavyDirty = false;   // heavy panels wanted
    this.heavyStep = 0;        // next heavy panel of a pass in progress (0: none)
    this.panelsDue = false;    // the second half of the light update
    this.panelsMoved = false;  // ... after a cursor move
    this.lightAt = -1e9; this.heavyAt = -1e9;
    this.lightCost = 0;        // the light update's two frames, ms of script (wall, averaged)
    this.lightCostA = 0;       // ... its first frame's, the last time
    this.raf = 0; this.timer = 0;
    this.refresh = () => { this.dirty = true; this.kick(); };
    this.heavy = () => { this.heavyDirty = true; this.kick(); };
    this.app.conn.subscribe(this.trace, {
      onEvents: () => { this.refresh(); this.heavy(); },
      onEnd: () => { this.ended = true; this.refresh(); this.heavy(); this.loadMeta(); },
      onStatus: () => this.loadMeta(),
    });
    this.loadMeta();
    this.loadListing();
    this.rateTimer = setInterval(() => this.sampleRate(), 250);
    this.keys = (e) => this.key(e);
    window.addEventListener('keydown', this.keys);
  }

  kick() {
    if (this.raf || this.dead) return;
    const now = performance.now();
    let due = Infinity;
    if (this.dirty) due = this.lightAt + this.lightMs();
    if (this.heavyStep || this.panelsDue || this.treeJob || this.flame.busy) due = now;
    else if (this.heavyDirty) due = Math.min(due, this.heavyAt + HEAVY_MS);
    if (due === Infinity) return;
    if (due - now > 4) {
      if (this.timer && this.timerDue <= due) return;
      clearTimeout(this.timer);
      this.timerDue = due;
      this.timer = setTimeout(() => { this.timer = 0; this.kick(); }, due - now);
      return;
    }
    clearTimeout(this.timer);
    this.timer = 0;
    this.raf = requestAnimationFrame(() => { this.raf = 0; this.frame(); });
  }

  // the time between live light updates (see LIGHT_SHARE)
  lightMs() { return Math.min(LIGHT_MAX_MS, Math.max(LIGHT_MS, LIGHT_SHARE * this.lightCost)); }

  // In order: the second half of a light update, a light update (a move
  // by the user makes it due at once), a slice of the tree's opening, a
  // slice of the flame chart's render, a heavy panel.
  frame() {
    const now = performance.now();
    if (this.panelsDue) {
      this.panelsDue = false;
      this.updatePanels();
      const cost = this.lightCostA + performance.now() - now;
      this.lightCost = this.lightCost * 0.7 + cost * 0.3;
    } else if (this.dirty && now - this.lightAt >= this.lightMs() - 4) {
      this.dirty = false;
      this.lightAt = now;
      this.update();
      this.lightCostA = performance.now() - now;
    } else if (this.treeJob) {
      if (this.treeWork(now + SLICE_MS)) this.treeDone();
    } else if (this.flame.busy) {
      this.flame.work(now + SLICE_MS);
    } else if (this.heavyStep || (this.heavyDirty && now - this.heavyAt >= HEAVY_MS - 4)) {
      if (!this.heavyStep) { this.heavyDirty = false; this.heavyAt = now; this.heavyStep = 1; }
      this.updateHeavy(this.heavyStep, now);
      this.heavyStep = this.heavyStep === 3 ? 0 : this.heavyStep + 1;
    }
    this.kick();
  }

  destroy() {
    this.dead = true;
    if (this.raf) cancelAnimationFrame(this.raf);
    clearTimeout(this.timer);
    this.app.conn.unsubscribe(this.id);
    clearInterval(this.rateTimer);
    window.removeEventListener('keydown', this.keys);
    this.playing = false;
    if (this.plot) this.plot.destroy();
  }

  async loadMeta() {
    try {
      const r = await fetch(this.app.api(`/api/runs/${this.id}`));
      if (r.ok) this.setMeta(await r.json());
      else setText(this.title, `run ${this.id}: ${r.status}`);
    } catch { /* the connection indicator says it */ }
  }

  setMeta(m) {
    this.meta = m;
    this.refresh();
  }

  async loadListing() {
    try {
      const r = await fetch(this.app.api(`/api/runs/${this.id}/listing`));
      if (!r.ok) { if (!this.trace.lines) this.srcNote.textContent = 'no listing for this run'; return; }
      const j = await r.json();
      this.listing = { ...j, lineText: j.text.split('\n'), names: j.funcs.map((f) => f.name),
        funcLine: j.funcs.map((f) => f.line) };
      if (!this.trace.lines) {
        this.setSrcText(this.listing.lineText, false);
        this.curLine = -1;
        this.srcNote.textContent = `${j.module} · ${fmtInt(this.listing.lineText.length)} lines`;
      }
      this.flame.invalidate(true); // its labels are names
      this.refresh();
      this.heavy();
    } catch { /* retried on next visit */ }
  }

  fname(f) {
    const names = this.listing && this.listing.names;
    if (names && names[f]) return names[f].replace(/^func\[\d+\] ?/, '') || `func[${f}]`;
    return `func[${f}]`;
  }

  // ---- sources (level lines) ------------------------------------------------

  // the last part of file i's path (run_start's file table)
  fileBase(i) {
    const files = this.trace.start && this.trace.start.files;
    const p = files && files[i];
    return p ? p.slice(p.lastIndexOf('/') + 1) || p : `file ${i}`;
  }

  // "file.c:LINE" of step event s, '' for none
  stepLoc(s) { return s >= 0 ? `${this.fileBase(this.trace.a(s))}:${this.trace.b(s)}` : ''; }

  setSrcText(text, msg) {
    if (this.srcText === text) return;
    this.srcText = text;
    this.srcMsg = msg;
    this.srcList.setCount(text ? text.length : 0);
    this.srcDirty = true;
  }

  // The list of the run's sources, once; then the text of each file the
  // cursor reaches, once (the daemon serves a file only under its
  // --source-dir: docs/daemon.md).
  async loadSources() {
    if (this.sources) return;
    this.sources = [];
    try {
      const r = await fetch(this.app.api(`/api/runs/${this.id}/sources`));
      if (r.ok) this.sources = (await r.json()).files;
    } catch { /* shown as not available */ }
    this.sourcesLoaded = true;
    this.srcDirty = true;
    this.refresh();
  }

  async loadFile(i) {
    this.fileText.set(i, 'loading');
    let text = 'missing';
    try {
      const r = await fetch(this.app.api(`/api/runs/${this.id}/sources/${i}`));
      if (r.ok) text = (await r.text()).replace(/\n$/, '').split('\n');
    } catch { /* not available */ }
    this.fileText.set(i, text);
    this.srcFile = -2; // shown again
    this.refresh();
  }

  // Level lines: show file (index, -1 none) in the Source panel with line
  // highlighted; returns the row to highlight (1-based, 0 none).
  showFile(file, line) {
    if (file < 0) {
      if (this.srcFile >= 0 && !this.srcMsg) return 0; // keep the file, no line
      this.srcFile = -1;
      this.setSrcText(['no source line at this event yet'], true);
      this.srcNote.textContent = 'level lines';
      return 0;
    }
    if (!this.sources) { this.loadSources(); }
    const info = this.sources && this.sources.find((f) => f.index === file);
    let text = this.fileText.get(file);
    if (text === undefined && (info || this.sourcesLoaded)) {
      if (info && info.available) { this.loadFile(file); text = 'loading'; } else { text = 'missing'; this.fileText.set(file, text); }
    }
    const base = this.fileBase(file);
    if (Array.isArray(text)) {
      if (this.srcFile !== file) {
        this.srcFile = file;
        this.setSrcText(text, false);
        this.srcNote.textContent = `${base} · ${fmtInt(text.length)} lines`;
        this.srcNote.title = info ? info.path : '';
      }
      return line;
    }
    // not (yet) served: say where the cursor is
    this.srcFile = file;
    const key = `${file}:${line}:${text}`;
    if (this.srcMsg && this.srcText && this.srcText.key === key) return 1;
    const what = text === 'missing'
      ? ['', 'source not available: the daemon serves', 'a run\'s sources only from its source dirs;', 'start traced with --source-dir DIR', '(a directory holding this file)']
      : ['loading the source…'];
    this.setSrcText([`${base}:${line}`, ...what], true);
    this.srcText.key = key;
    this.srcNote.textContent = text === 'missing' ? 'source not available' : 'loading…';
    this.srcNote.title = info ? info.path : '';
    return 1;
  }

  // the step event the Source panel shows at the cursor: the innermost
  // frame's that has one
  cursorStep() {
    const st = this.stackSteps;
    for (let k = st.length - 1; k >= 0; k--) if (st[k] >= 0) return st[k];
    return -1;
  }

  // ---- layout ---------------------------------------------------------------

  build() {
    const t = this.trace;
    this.title = h('span', { class: 'run-title', text: `run ${this.id}` });
    this.badge = h('span', { class: 'badge' });
    this.sub = h('span', { class: 'run-sub' });
    const cancel = h('button', { class: 'btn small', text: 'Cancel run', 'data-testid': 'cancel',
      onclick: () => fetch(this.app.api(`/api/runs/${this.id}/cancel`), { method: 'POST' }) });
    this.cancelBtn = cancel;
    const head = h('div', { class: 'run-head' }, this.title, this.badge, this.sub, h('span', { class: 'grow' }), cancel);

    const ctr = (key, label, tip) => {
      const v = h('b', { 'data-testid': `count-${key}`, text: '0' });
      return [h('div', { class: `ctr ctr-${key}`, title: tip || label }, h('span', { text: label }), v), v];
    };
    this.ctr = {};
    const strip = h('div', { class: 'counters' });
    for (const [k, l, tip] of [['events', 'events', 'events received by this page / events the run has'],
      ['rate', 'events/s'], ['ops', 'ops'], ['calls', 'calls'], ['host_calls', 'host calls'],
      ['max_depth', 'max depth'], ['throws', 'throws'], ['traps', 'traps'],
      ['loss', 'loss', 'events lost (loss markers in the stream)'], ['duration', 'run time']]) {
      const [el, v] = ctr(k, l, tip);
      this.ctr[k] = v;
      strip.append(el);
    }

    // replay bar
    const btn = (label, title, fn, testid) => h('button', { class: 'btn icon', title, text: label, onclick: fn, 'data-testid': testid });
    this.playBtn = btn('▶', 'play / pause (space)', () => this.togglePlay(), 'play');
    this.speedSel = h('select', { class: 'speed', title: 'playback speed', onchange: (e) => { this.speed = Number(e.target.value); } },
      SPEEDS.map((s) => h('option', { value: s, text: `${fmtInt(s)} ev/s`, selected: s === this.speed })));
    this.followBox = h('input', { type: 'checkbox', checked: true, 'data-testid': 'follow',
      onchange: (e) => this.setFollow(e.target.checked) });
    this.seqInput = h('input', { class: 'seq-input', type: 'text', placeholder: 'seq', 'data-testid': 'seq-input',
      onkeydown: (e) => { if (e.key === 'Enter') this.gotoSeq(); } });
    this.scrub = h('input', { type: 'range', class: 'scrub', min: 0, max: 0, value: 0, 'data-testid': 'scrubber',
      oninput: (e) => this.setCursor(Number(e.target.value), { user: true }) });
    this.lossMarks = h('div', { class: 'loss-marks' });
    this.cursorInfo = h('span', { class: 'cursor-info', 'data-testid': 'cursor-info' });
    this.cursorSeq = h('b', { 'data-testid': 'cursor-seq', text: '–' });
    const replay = h('div', { class: 'replay' },
      btn('«', 'previous call (shift+←)', () => this.stepCall(-1), 'prev-call'),
      btn('‹', 'previous event (←)', () => this.step(-1), 'prev-event'),
      this.playBtn,
      btn('›', 'next event (→)', () => this.step(1), 'next-event'),
      btn('»', 'next call (shift+→)', () => this.stepCall(1), 'next-call'),
      this.speedSel,
      h('label', { class: 'follow', title: 'keep the cursor on the newest event' }, this.followBox, ' follow live'),
      h('span', { class: 'seq-at' }, 'seq ', this.cursorSeq),
      this.seqInput, h('button', { class: 'btn small', text: 'Go', 'data-testid': 'seq-go', onclick: () => this.gotoSeq() }),
      h('div', { class: 'scrub-wrap' }, this.scrub, this.lossMarks),
      this.cursorInfo);

    // call stack at the cursor
    this.stackEl = h('div', { class: 'stack', 'data-testid': 'stack' });
    // call tree
    // the lists draw in the light update's frames (see update()), a new
    // size too: the run view's first frame lays them out, the next two
    // fill them
    const resized = () => { this.srcDirty = true; this.lightAt = -1e9; this.refresh(); };
    this.tree = new VList({ rowHeight: 18, className: 'tree', render: (r, i) => this.renderTreeRow(r, i),
      onClick: (i, e) => this.treeClick(i, e), onResize: resized });
    this.tree.el.setAttribute('data-testid', 'call-tree');
    // event log
    this.log = new VList({ rowHeight: 18, className: 'log', render: (r, i) => this.renderLogRow(r, i),
      onClick: (i) => { this.setFollow(false); this.setCursor(i, { user: true, from: 'log' }); }, onResize: resized });
    this.log.el.setAttribute('data-testid', 'event-log');
    // listing
    this.srcNote = h('span', { class: 'note', text: 'loading listing…' });
    this.srcList = new VList({ rowHeight: 16, className: 'src', render: (r, i) => this.renderSrcRow(r, i), onResize: resized });
    // output
    // column-reverse keeps the scroll anchored at the bottom without
    // writing scrollTop (which would force a layout on every update)
    this.outPre = h('pre', { 'data-testid': 'stdout' });
    this.out = h('div', { class: 'output' }, this.outPre);
    this.outNote = h('span', { class: 'note' });
    // charts
    this.flame = new Flame({ trace: t, name: (f) => this.fname(f), onDirty: () => this.kick(),
      onPick: (i) => { this.setFollow(false); this.setCursor(i, { user: true }); } });
    this.hist = h('div', { class: 'hist', 'data-testid': 'histogram' });
    this.histNote = h('span', { class: 'note' });
    this.rateEl = h('div', { class: 'rate-chart' });

    this.el = h('div', { class: 'run-view' },
      head, strip, replay,
      h('div', { class: 'grid' },
        panel('Call stack at cursor', this.stackEl, null, 'p-stack'),
        panel('Call tree', this.tree.el, h('span', { class: 'note', text: 'click: jump · ▸ expand' }), 'p-tree'),
        panel('Events', this.log.el, h('span', { class: 'note', text: 'click a row to move the cursor' }), 'p-log'),
        panel('Source', this.srcList.el, this.srcNote, 'p-src'),
        panel('Output', this.out, this.outNote, 'p-out'),
        panel('Calls over time', this.flame.el, h('span', { class: 'note', text: 'wheel: zoom · shift+wheel: pan · dbl-click: reset' }), 'p-flame'),
        panel('Opcodes', this.hist, this.histNote, 'p-hist'),
        panel('Activity (events / 100 ms of run time)', this.rateEl, null, 'p-rate')));
  }

  mountChart() {
    if (this.plot || !this.rateEl.clientWidth) return;
    const css = getComputedStyle(document.documentElement);
    const fg = css.getPropertyValue('--muted').trim() || '#888';
    const grid = css.getPropertyValue('--line').trim() || '#333';
    const axis = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid }, font: '10px system-ui' };
    this.plot = new uPlot({
      width: this.rateEl.clientWidth, height: Math.max(80, this.rateEl.clientHeight - 28),
      legend: { show: true, live: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: false } },
      axes: [{ ...axis, values: (u, v) => v.map((x) => `${x.toFixed(1)}s`) }, { ...axis, size: 48, values: (u, v) => v.map((x) => (x >= 1000 ? `${x / 1000}k` : x)) }],
      series: [{ label: 'run time' },
        { label: 'all', stroke: '#7c9cff', width: 1.5, fill: 'rgba(124,156,255,0.12)' },
        { label: 'calls', stroke: '#3dd68c', width: 1 },
        { label: 'ops', stroke: '#f5a524', width: 1 }],
    }, [[], [], [], []], this.rateEl);
    new ResizeObserver(() => {
      if (this.rateEl.clientWidth) this.plot.setSize({ width: this.rateEl.clientWidth, height: Math.max(80, this.rateEl.clientHeight - 28) });
    }).observe(this.rateEl);
  }

  // ---- cursor and replay -------------------------------------------------------

  setFollow(on) {
    this.follow = on;
    this.followBox.checked = on;
    if (on) { this.playing = false; this.setCursor(this.trace.count - 1); }
    this.refresh();
  }

  setCursor(i, { user = false, from = '' } = {}) {
    const t = this.trace;
    if (!t.count) return;
    i = Math.max(0, Math.min(t.count - 1, Math.round(i)));
    if (user && i !== t.count - 1 && this.follow) { this.follow = false; this.followBox.checked = false; }
    this.cursor = i;
    this.cursorMoved = true;
    this.fromLog = from === 'log';
    // a move by the user is drawn on the next frame, not throttled like
    // live updates (lightMs())
    if (user) this.lightAt = -1e9;
    this.refresh();
  }

  step(d) { this.setFollow(false); this.setCursor((this.cursor < 0 ? 0 : this.cursor) + d, { user: true }); }

  stepCall(d) {
    this.setFollow(false);
    const t = this.trace, at = Math.max(0, this.cursor);
    const j = d > 0 ? t.nextCall(at) : t.prevCall(at);
    if (j >= 0) this.setCursor(j, { user: true });
  }

  gotoSeq() {
    const v = this.seqInput.value.trim();
    if (!/^\d+$/.test(v)) return;
    this.setFollow(false);
    this.setCursor(this.trace.indexOfSeq(Number(v)), { user: true });
  }

  togglePlay() {
    this.playing = !this.playing;
    if (this.playing) {
      if (this.follow) this.setFollow(false);
      if (this.cursor >= this.trace.count - 1) this.setCursor(0);
      let last = performance.now(), acc = 0;
      const tick = (now) => {
        if (!this.playing) return;
        acc += ((now - last) / 1000) * this.speed;
        last = now;
        if (acc >= 1) {
          const n = Math.floor(acc); acc -= n;
          const next = this.cursor + n;
          if (next >= this.trace.count - 1) {
            this.setCursor(this.trace.count - 1);
            if (this.ended) { this.playing = false; this.refresh(); return; }
          } else this.setCursor(next);
        }
        requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
    }
    this.refresh();
  }

  key(e) {
    if (e.target.tagName === 'INPUT' && e.target.type !== 'range' && e.target.type !== 'checkbox') return;
    if (e.key === 'ArrowLeft') { e.shiftKey ? this.stepCall(-1) : this.step(-1); e.preventDefault(); }
    else if (e.key === 'ArrowRight') { e.shiftKey ? this.stepCall(1) : this.step(1); e.preventDefault(); }
    else if (e.key === ' ' && e.target.tagName !== 'BUTTON') { this.togglePlay(); e.preventDefault(); }
    else if (e.key === 'End') this.setFollow(true);
  }

  // ---- rows --------------------------------------------------------------------

  describe(i) {
    const t = this.trace, ty = t.type(i), a = t.a(i), p = t.payload(i);
    switch (ty) {
      case T.call: return [`${this.fname(a)}(${p || ''})`, `depth ${t.b(i)}`];
      case T.return: return [`${this.fname(a)} → ${p || '()'}`, `depth ${t.b(i)}`];
      case T.host_call: return [`${this.fname(a)}(${p || ''})`, 'host'];
      case T.host_return: return [`${this.fname(a)} → ${p || '()'}`, 'host'];
      case T.op: return [opName(a), `@${t.b(i).toString(16).padStart(6, '0')}`];
      case T.output: return [JSON.stringify(p.length > 200 ? p.slice(0, 200) + '…' : p).slice(1, -1), a === 2 ? 'stderr' : 'stdout'];
      case T.trap: return [p, `code ${a}`];
      case T.throw: return [`tag ${a} (${p || ''})`, ''];
      case T.loss: return [`${fmtInt(a)} events lost${p === 'gap' ? ' (gap)' : ''}`, ''];
      case T.run_start: return [`${p.module} ${p.args.join(' ')}`, p.level];
      case T.run_end: return [`${p.status}${p.status === 'exit' ? ' ' + p.exitCode : ''}${p.results ? ' ' + p.results : ''}`, ''];
      case T.step: return [`${this.fileBase(a)}:${t.b(i)}`, this.stackFuncAt(i)];
      default: return ['', ''];
    }
  }

  // Rows keep their child spans: re-rendering sets text, never rebuilds
  // elements (less garbage and style work at 10 updates a second).
  renderLogRow(r, i) {
    const t = this.trace, ty = t.type(i), sel = i === this.cursor;
    if (r._i === i && r._v === this.fnVersion && r._c === sel) return;
    r._i = i; r._v = this.fnVersion; r._c = sel;
    if (!r._k) {
      r._k = ['c-seq', 'c-t', 'c-type', 'c-main', 'c-side'].map((c) => h('span', { class: c }));
      r.append(...r._k);
    }
    const [main, side] = this.describe(i);
    const k = r._k;
    r.className = `vrow ev-${TYPE_NAMES[ty]}${sel ? ' sel' : ''}`;
    k[0].textContent = t.seqOf(i);
    k[1].textContent = fmtNs(t.time(i));
    k[2].textContent = TYPE_NAMES[ty];
    k[3].textContent = main;
    k[4].textContent = side;
    const pad = ty === T.call || ty === T.return ? `${Math.min(t.b(i), 40) * 6}px` : '';
    if (k[3]._pad !== pad) { k[3]._pad = pad; k[3].style.paddingLeft = pad; }
  }

  treeDefaultOpen(n) { return this.trace.nDepth(n) <= 2 && this.trace.nKids(n) <= 2000; }
  isOpen(n) { const v = this.treeOpen.get(n); return v === undefined ? this.treeDefaultOpen(n) : v; }

  // The open part of the tree as rows -> node. Node ids are in call
  // order, which is the tree's preorder, so the rows are the visible nodes
  // in id order and new calls only append: a live update visits the new
  // nodes alone. An expansion (openTree) inserts the rows of one subtree,
  // a collapse removes them. `full` (a node whose default open state
  // flipped, see treeDefaultOpen) walks the open tree again. While an
  // expansion is in progress new calls wait (its walk covers the nodes
  // that were there when it started).
  flattenTree(full = false, all = false) {
    const t = this.trace;
    if (this.treeJob) { if (!full) return; this.treeJob = null; }
    if (!this.treeVis || this.treeVis.length < t.ncap) {
      const cap = Math.max(t.ncap, 2 * (this.treeVis ? this.treeVis.length : 0));
      const vis = new Uint8Array(cap), openAt = new Uint8Array(cap);
      if (this.treeVis) { vis.set(this.treeVis); openAt.set(this.treeOpenAt); }
      this.treeVis = vis; this.treeOpenAt = openAt;
    }
    const vis = this.treeVis, openAt = this.treeOpenAt;
    let rows = this.treeRows, k = this.treeCount, upto = t.nodes;
    if (!full && this.treeNodes !== undefined) {
      // At most FLAT_NODES new nodes a frame (unless `all`: the cursor
      // moved and the tree must show its stack), the rest at the next
      // light update: a run delivered at ~3 M events/s brought a few
      // hundred thousand new calls per frame, and one frame took 110 ms.
      if (!all) upto = Math.min(t.nodes, this.treeNodes + FLAT_NODES);
      if (upto < t.nodes) this.refresh();
      for (let n = this.treeNodes; n < upto; n++) {
        const p = t.nParent(n);
        let show = p === 0;
        if (!show && vis[p]) {
          const o = this.isOpen(p) ? 1 : 0;
          if (o !== openAt[p]) return this.flattenTree(true);
          show = o === 1;
        }
        if (!show) continue;
        if (k === rows.length) rows = grow32(rows);
        rows[k++] = n;
        vis[n] = 1;
        openAt[n] = this.isOpen(n) ? 1 : 0;
      }
    } else {
      vis.fill(0);
      k = 0;
      const stack = [];
      let n = t.nFirst(0);
      while (n >= 0 || stack.length) {
        if (n < 0) { n = t.nNext(stack.pop()); continue; }
        if (k === rows.length) rows = grow32(rows);
        rows[k++] = n;
        vis[n] = 1;
        const o = this.isOpen(n);
        openAt[n] = o ? 1 : 0;
        if (t.nFirst(n) >= 0 && o) { stack.push(n); n = t.nFirst(n); } else n = t.nNext(n);
      }
    }
    this.treeNodes = upto;
    this.treeRows = rows;
    this.treeCount = k;
    this.tree.setCount(k);
  }

  // Open node n's rows (n is shown and now open): walk its subtree's open
  // part in slices (treeWork, until `deadline` per slice), then insert the
  // rows after n's. A node with a million callees costs a million steps,
  // spread over frames, not one long task.
  openTree(n, deadline) {
    const t = this.trace;
    this.treeJob = { n, limit: this.treeNodes, out: new Int32Array(256), k: 0, stack: [],
      cur: t.nFirst(n) };
    return this.treeWork(deadline);
  }

  // Finish an expansion now (before a change of the rows it would undo).
  finishTreeJob() { if (this.treeJob) this.treeWork(Infinity); }

  // A slice of the expansion in progress; true when it is done. The walk
  // marks its nodes shown as it goes (nothing reads the marks while an
  // expansion is in progress: flattenTree waits, a collapse finishes it
  // first), so that inserting the rows at the end is two array moves.
  treeWork(deadline) {
    const t = this.trace, j = this.treeJob, limit = j.limit, stack = j.stack;
    const vis = this.treeVis, openAt = this.treeOpenAt;
    let cur = j.cur, out = j.out, k = j.k, steps = 0;
    for (;;) {
      if (cur < 0 || cur >= limit) { // nodes from limit on come in through flattenTree
        if (!stack.length) break;
        cur = t.nNext(stack.pop());
        continue;
      }
      if ((++steps & 255) === 0 && performance.now() >= deadline) {
        j.cur = cur; j.out = out; j.k = k;
        return false;
      }
      if (k === out.length) out = grow32(out);
      out[k++] = cur;
      const open = this.isOpen(cur);
      vis[cur] = 1;
      openAt[cur] = open ? 1 : 0;
      const first = t.nFirst(cur);
      if (first >= 0 && open) { stack.push(cur); cur = first; } else cur = t.nNext(cur);
    }
    this.treeJob = null;
    const r = this.treeRowOf(j.n);
    if (r < 0) for (let x = 0; x < k; x++) vis[out[x]] = 0; // not shown after all
    else {
      let rows = this.treeRows;
      while (rows.length < this.treeCount + k) rows = grow32(rows);
      rows.copyWithin(r + 1 + k, r + 1, this.treeCount);
      rows.set(out.subarray(0, k), r + 1);
      openAt[j.n] = 1;
      this.treeRows = rows;
      this.treeCount += k;
      this.tree.setCount(this.treeCount);
    }
    return true;
  }

  // An expansion finished in a frame of its own: scroll to the cursor's
  // call if it waited for the rows, and draw them.
  treeDone() {
    if (this.treeScrollTo >= 0) {
      const row = this.treeRowOf(this.treeScrollTo);
      this.treeScrollTo = -1;
      if (row >= 0) this.tree.scrollToIndex(row, 'nearest');
    }
    this.tree.draw();
  }

  // Remove node n's rows below it (n is shown and open; no job pending).
  collapseTree(n) {
    const t = this.trace;
    this.treeOpen.set(n, false);
    const r = this.treeRowOf(n);
    if (r < 0) return;
    // the subtree is the node ids up to the first call after its return
    // (all later ones while it is open)
    const end = t.nEnd(n) < 0 ? t.nodes : t.firstNodeFrom(t.nEnd(n));
    const rows = this.treeRows, vis = this.treeVis;
    let lo = r + 1, hi = this.treeCount;
    while (lo < hi) { const m = (lo + hi) >> 1; if (rows[m] < end) lo = m + 1; else hi = m; }
    for (let x = r + 1; x < lo; x++) vis[rows[x]] = 0;
    rows.copyWithin(r + 1, lo, this.treeCount);
    this.treeCount -= lo - r - 1;
    this.treeOpenAt[n] = 0;
    this.tree.setCount(this.treeCount);
  }

  // row of node n in the tree, -1 when not shown (rows ascend by node id)
  treeRowOf(n) {
    const rows = this.treeRows;
    let lo = 0, hi = this.treeCount - 1;
    while (lo <= hi) {
      const m = (lo + hi) >> 1;
      if (rows[m] === n) return m;
      if (rows[m] < n) lo = m + 1; else hi = m - 1;
    }
    return -1;
  }

  // A row is re-filled only when what it shows changed (the same text
  // written again still costs its layout).
  renderTreeRow(r, i) {
    const t = this.trace, n = this.treeRows[i];
    const open = this.isOpen(n), kids = t.nKids(n);
    const onStack = this.stackSet && this.stackSet.has(n);
    const state = `${open ? 1 : 0}${onStack ? 1 : 0}${this.stackTop === n ? 1 : 0}${this.fnVersion}` +
      `${t.nEnd(n) < 0 ? (this.ended ? 'x' : 'o') : 'c'}:${kids}`;
    if (r._n === n && r._s === state) return;
    r._n = n; r._s = state;
    r.className = `vrow${onStack ? ' on-stack' : ''}${this.stackTop === n ? ' sel' : ''}`;
    if (!r._k) {
      r._k = ['twisty', 'sw', 'fn', 'args', 'res', 'meta'].map((c) => h('span', { class: c }));
      r.append(...r._k);
    }
    const k = r._k;
    const args = t.payload(t.nStart(n)) || '';
    const res = t.nEnd(n) < 0 ? (this.ended ? ' ✕' : ' …') : (t.nFlags(n) & 2 ? ' ⤺ unwound' : ` → ${t.result(n) || '()'}`);
    r.style.paddingLeft = `${4 + Math.min(t.nDepth(n) - 1, 60) * 12}px`;
    k[0].textContent = kids ? (open ? '▾' : '▸') : ' ';
    k[1].style.background = funcColor(t.nFunc(n), t.nFlags(n) & 1);
    k[2].textContent = this.fname(t.nFunc(n));
    k[3].textContent = `(${args})`;
    k[4].textContent = res;
    k[5].textContent = `${kids ? fmtInt(kids) + ' calls · ' : ''}#${t.seqOf(t.nStart(n))}`;
  }

  treeClick(i, e) {
    const n = this.treeRows[i];
    if (e.target.classList.contains('twisty')) {
      if (!this.trace.nKids(n)) return;
      this.finishTreeJob();
      this.flattenTree(false, true);
      if (this.isOpen(n)) this.collapseTree(n);
      else {
        this.treeOpen.set(n, true);
        this.openTree(n, performance.now() + SLICE_MS);
      }
      this.tree.draw();
      this.kick();
      return;
    }
    this.setFollow(false);
    this.setCursor(this.trace.nStart(n), { user: true });
  }

  srcLine() {
    const L = this.listing, t = this.trace, i = this.cursor;
    if (!L || i < 0) return 0;
    if (t.type(i) === T.op) {
      const off = t.b(i), o = L.offsets;
      let lo = 0, hi = o.length - 1;
      while (lo < hi) { const m = (lo + hi + 1) >> 1; if (o[m] <= off) lo = m; else hi = m - 1; }
      if (o[lo] === off) return L.lines[lo];
    }
    const st = t.stackAt(i);
    if (st.length) return L.funcLine[t.nFunc(st[st.length - 1])] || 0;
    return 0;
  }

  renderSrcRow(r, i) {
    const text = this.srcText;
    const line = i + 1, sel = line === this.curLine;
    if (r._i === i && r._c === sel && r._l === text) return;
    r._i = i; r._c = sel; r._l = text;
    r.className = `vrow${sel ? ' sel' : ''}${this.srcMsg ? ' note-row' : ''}`;
    if (!r._k) { r._k = [h('span', { class: 'ln' }), h('span', { class: 'code' })]; r.append(...r._k); }
    r._k[0].textContent = this.srcMsg ? '' : line;
    r._k[1].textContent = text && text[i] != null ? text[i] : '';
  }

  // the function of the frame an event happened in (the step's)
  stackFuncAt(i) {
    const n = this.trace.frameAt(i);
    return n > 0 ? this.fname(this.trace.nFunc(n)) : '';
  }

  // ---- updates -----------------------------------------------------------------

  sampleRate() {
    const now = performance.now();
    this.rateSamples.push([now, this.trace.count]);
    while (this.rateSamples.length > 2 && now - this.rateSamples[0][0] > 1000) this.rateSamples.shift();
  }

  rate() {
    const s = this.rateSamples;
    if (s.length < 2) return 0;
    const [t0, c0] = s[0], [t1, c1] = s[s.length - 1];
    return t1 > t0 ? ((c1 - c0) * 1000) / (t1 - t0) : 0;
  }

  // The light update, in two animation frames. This one: first what the
  // cursor, the log and the stack are to show and where the log scrolls
  // (no DOM writes), then the log's scroll write (a scrollTop write lays
  // out whatever is dirty, synchronously: done before anything else is
  // dirtied, it lays out only the list, which is contain: strict), then
  // the DOM writes of the header, counters, replay bar, log and stack,
  // laid out once by the browser after the frame. The next frame
  // (updatePanels) does the call tree, source, output and the flame
  // chart's cursor. Each half redraws a few hundred text boxes, and their
  // layout is most of a frame's time. A move by the user is drawn at the
  // next frame (setCursor), not lightMs() after the last update.
  update() {
    const t = this.trace, m = this.meta;
    if (this.follow && t.count) this.cursor = t.count - 1;
    const cursorMoved = this.cursorMoved;
    this.cursorMoved = false;
    // ---- model
    this.log.setCount(t.count);
    if (this.follow) this.log.scrollToIndex(t.count - 1, 'end');
    else if (cursorMoved && !this.fromLog) this.log.scrollToIndex(this.cursor, 'nearest');
    this.stack = this.cursor >= 0 ? t.stackAt(this.cursor) : [];
    this.stackSteps = t.stepsAt(this.cursor, this.stack);
    // ---- scroll writes
    this.log.applyScroll();
    // ---- DOM writes
    // header
    const status = this.ended ? (t.end ? t.end.status : (m && m.status)) : (m ? m.status : 'connecting');
    setText(this.title, `run ${this.id}${m ? ' · ' + m.module : ''}`);
    const badgeCls = `badge ${statusClass(status)}`;
    if (this.badge.className !== badgeCls) this.badge.className = badgeCls;
    setText(this.badge, status || '');
    this.badge.setAttribute('data-testid', 'run-status');
    if (m) {
      const what = m.invoke ? `${m.invoke}(${m.args.join(', ')})` : `_start ${m.args.join(' ')}`;
      setText(this.sub, `${what} · level ${m.level} · started ${fmtClock(m.created_ns / 1e6)}` +
        (m.error ? ` · ${m.error}` : '') + (m.reason ? ` · ${m.reason}` : ''));
      const show = m.status === 'running' && !this.ended ? '' : 'none';
      if (this.cancelBtn.style.display !== show) this.cancelBtn.style.display = show;
    }
    // counters
    const c = t.counters();
    const total = this.app.conn.subs.get(this.id)?.total;
    setText(this.ctr.events, fmtInt(t.count));
    const tip = total != null ? `the daemon had ${fmtInt(total)} when this page subscribed` : '';
    if (this.ctr.events.title !== tip) this.ctr.events.title = tip;
    setText(this.ctr.rate, fmtRate(this.ended ? 0 : this.rate()));
    for (const k of ['ops', 'calls', 'host_calls', 'max_depth', 'throws', 'traps']) setText(this.ctr[k], fmtInt(c[k]));
    setText(this.ctr.loss, fmtInt(t.lost));
    this.ctr.loss.parentNode.classList.toggle('alarm', t.lost > 0);
    setText(this.ctr.duration, t.count ? fmtNs(t.time(t.count - 1)) : '–');
    // replay bar
    const max = String(Math.max(0, t.count - 1));
    if (this.scrub.max !== max) this.scrub.max = max;
    if (this.cursor >= 0 && this.scrub.value !== String(this.cursor)) this.scrub.value = this.cursor;
    setText(this.playBtn, this.playing ? '❚❚' : '▶');
    setText(this.cursorSeq, this.cursor >= 0 ? String(t.seqOf(this.cursor)) : '–');
    if (this.cursor >= 0) {
      const [main] = this.describe(this.cursor);
      setText(this.cursorInfo, `${TYPE_NAMES[t.type(this.cursor)]} ${main}`.slice(0, 120));
    }
    if (this.lossDrawn !== t.lossIdx.length) {
      this.lossDrawn = t.lossIdx.length;
      this.lossMarks.innerHTML = '';
      for (const li of t.lossIdx) this.lossMarks.append(h('i', { style: `left:${(li / Math.max(1, t.count)) * 100}%`, title: `loss at #${t.seqOf(li)}` }));
    }
    this.log.draw();
    this.renderStack(this.stack);
    this.app.setTitle(`run ${this.id} · ${status || ''}`);
    this.panelsDue = true;
    this.panelsMoved = this.panelsMoved || cursorMoved;
  }

  // The second half of the light update, a frame of its own: the call
  // tree (opened along the stack after a move, see openTree), the source
  // line, the output and the flame chart's cursor. First the model, then
  // the scroll writes, then the other DOM writes (see update()).
  updatePanels() {
    const t = this.trace, stack = this.stack;
    const cursorMoved = this.panelsMoved;
    this.panelsMoved = false;
    // ---- model
    this.stackSet = new Set(stack);
    const top = stack.length ? stack[stack.length - 1] : -1;
    this.stackTop = top;
    // all of them after a move: the tree opens along the new stack
    this.flattenTree(false, cursorMoved);
    // open the tree along the stack so the cursor's call is visible (not
    // while following a live run: that would open every call as it
    // comes). The outermost node opened now holds the others: one
    // expansion of it shows them all.
    if (cursorMoved && stack.length) {
      if (this.treeJob) { this.finishTreeJob(); this.flattenTree(false, true); }
      let first = -1;
      for (const n of stack) {
        if (t.nKids(n) && !this.isOpen(n)) { this.treeOpen.set(n, true); if (first < 0) first = n; }
      }
      this.treeScrollTo = top;
      if (first >= 0) this.openTree(first, performance.now() + SLICE_MS);
    } else if (this.follow && this.treeCount !== this.treeFollowed && !this.treeJob) {
      this.treeFollowed = this.treeCount;
      this.tree.scrollToIndex(this.treeCount - 1, 'end');
    }
    if (this.treeScrollTo >= 0 && !this.treeJob) {
      const row = this.treeRowOf(this.treeScrollTo);
      this.treeScrollTo = -1;
      if (row >= 0) this.tree.scrollToIndex(row, 'nearest');
    }
    // level lines: the current step's source file and line; else the
    // listing's line
    const textWas = this.srcText && this.srcText.key ? this.srcText.key : this.srcText;
    const line = t.lines ? this.showFile(this.cursorStep() >= 0 ? t.a(this.cursorStep()) : -1,
      this.cursorStep() >= 0 ? t.b(this.cursorStep()) : 0) : this.srcLine();
    const textNow = this.srcText && this.srcText.key ? this.srcText.key : this.srcText;
    const textMoved = textWas !== textNow;
    if (textMoved) this.srcDirty = true;
    const lineMoved = line !== this.curLine || textMoved;
    if (lineMoved) {
      this.curLine = line;
      if (line) this.srcList.scrollToIndex(line - 1, 'nearest');
    }
    // ---- scroll writes
    this.tree.applyScroll();
    this.srcList.applyScroll();
    // ---- DOM writes
    this.tree.draw();
    if (lineMoved || this.srcDirty) { this.srcDirty = false; this.srcList.draw(); }
    // output: the last OUT_LINES lines as one text node, rebuilt at most
    // a few times a second; scrolling state comes from the scroll event,
    // so no layout is forced here
    if (t.output.length !== this.outShown && performance.now() - (this.outAt || 0) > 300) {
      this.outAt = performance.now();
      this.outShown = t.output.length;
      const parts = [];
      let lines = 0, k = t.output.length - 1;
      for (; k >= 0 && lines < OUT_LINES; k--) { parts.push(t.output[k]); lines += countNl(t.output[k].text); }
      parts.reverse();
      const frag = document.createDocumentFragment();
      if (k >= 0) frag.append(h('span', { class: 'note', text: `… ${fmtInt(k + 1)} earlier writes not shown\n` }));
      let run = '', fd = 1;
      const flush = () => { if (run) frag.append(fd === 2 ? h('span', { class: 'stderr', text: run }) : document.createTextNode(run)); run = ''; };
      for (const o of parts) { if (o.fd !== fd) { flush(); fd = o.fd; } run += o.text; }
      flush();
      this.outPre.replaceChildren(frag);
      setText(this.outNote, `${fmtInt(t.c.outputs)} writes · ${fmtInt(t.outputBytes)} bytes`);
    } else if (t.output.length !== this.outShown) this.refresh();
    // the cursor is the flame chart's overlay: its calls are not redrawn
    this.flame.setCursor(this.cursor);
  }

  // The call stack at the cursor, innermost first. Rows are kept and only
  // re-filled when their frame changes (following a live run, the stack
  // changes at every update).
  renderStack(stack) {
    const t = this.trace, el = this.stackEl;
    if (!stack.length) {
      const msg = t.count ? 'no wasm frame at this event' : 'waiting for events…';
      if (!this.stackEmpty || el.firstChild !== this.stackEmpty || el.childNodes.length !== 1) {
        this.stackEmpty = h('div', { class: 'empty' });
        el.replaceChildren(this.stackEmpty);
      }
      setText(this.stackEmpty, msg);
      return;
    }
    if (this.stackEmpty && this.stackEmpty.parentNode === el) this.stackEmpty.remove();
    const pool = this.stackPool || (this.stackPool = []);
    while (pool.length < stack.length) {
      const r = h('div', { class: 'frame', onclick: () => { this.setFollow(false); this.setCursor(t.nStart(r._n), { user: true }); } });
      r._k = [h('span', { class: 'depth' }), h('span', { class: 'sw' }), h('span', { class: 'fn' }),
        h('span', { class: 'args' }), h('span', { class: 'meta' }), h('span', { class: 'loc' })];
      r.append(...r._k);
      pool.push(r);
    }
    while (el.childNodes.length > stack.length) el.lastChild.remove();
    while (el.childNodes.length < stack.length) el.append(pool[el.childNodes.length]);
    for (let k = 0; k < stack.length; k++) {
      const n = stack[stack.length - 1 - k], r = pool[k], isTop = k === 0;
      const s = this.stackSteps[stack.length - 1 - k] ?? -1;
      if (r._n === n && r._v === this.fnVersion && r._top === isTop && r._s === s) continue;
      r._n = n; r._v = this.fnVersion; r._top = isTop; r._s = s;
      const name = this.fname(t.nFunc(n));
      r.className = isTop ? 'frame top' : 'frame';
      r.dataset.func = name;
      r._k[0].textContent = t.nDepth(n);
      r._k[1].style.background = funcColor(t.nFunc(n), t.nFlags(n) & 1);
      r._k[2].textContent = name;
      r._k[3].textContent = `(${t.payload(t.nStart(n)) || ''})`;
      r._k[4].textContent = `#${t.seqOf(t.nStart(n))}`;
      // level lines: where the frame is (its last step at the cursor)
      r._k[5].textContent = this.stepLoc(s);
      r.dataset.loc = this.stepLoc(s);
    }
  }

  // The heavy panels, one per animation frame: 1 the opcode histogram,
  // 2 the activity chart, 3 the flame chart (its first slice; frame()
  // gives it the next ones while it is busy).
  updateHeavy(step, now = performance.now()) {
    const t = this.trace;
    if (step === 1) this.renderHist();
    else if (step === 2) {
      this.mountChart();
      // the activity bins are the store's (counted as events arrive)
      const b = t.bins, n = b.n;
      if (this.binX.length < n) {
        this.binX = new Float64Array(Math.max(n, this.binX.length * 2));
        for (let k = 0; k < this.binX.length; k++) this.binX[k] = (k * BIN_NS) / 1e9;
      }
      const key = `${n}:${t.count}`;
      if (this.plot && key !== this.plottedBins) {
        this.plottedBins = key;
        this.plot.setData([this.binX.subarray(0, n), b.all.subarray(0, n), b.calls.subarray(0, n), b.ops.subarray(0, n)]);
      }
    } else {
      this.flame.invalidate();
      this.flame.work(now + SLICE_MS);
    }
  }

  // the top 40 opcodes; rows are kept and re-filled
  renderHist() {
    const t = this.trace, el = this.hist;
    const key = `${t.c.ops}:${t.start ? t.start.level : ''}`;
    if (key === this.histKey) return;
    this.histKey = key;
    const entries = [];
    for (let k = 0; k < 256; k++) if (t.opHist[k]) entries.push([k, t.opHist[k]]);
    for (const [k, v] of t.opHistPrefixed) entries.push([k, v]);
    entries.sort((x, y) => y[1] - x[1]);
    const max = entries.length ? entries[0][1] : 1;
    setText(this.histNote, entries.length ? `${entries.length} distinct · ${fmtInt(t.c.ops)} ops` : '');
    if (!entries.length) {
      el.replaceChildren(h('div', { class: 'empty', text: t.start && t.start.level !== 'ops' ? 'no op events: submit at level "ops" to see opcodes' : 'no op events yet' }));
      return;
    }
    const pool = this.histPool || (this.histPool = []);
    const shown = entries.slice(0, 40);
    while (pool.length < shown.length) {
      const r = h('div', { class: 'bar-row' });
      r._k = [h('span', { class: 'bar-label' }), h('i'), h('span', { class: 'bar-val' })];
      r.append(r._k[0], h('span', { class: 'bar' }, r._k[1]), r._k[2]);
      pool.push(r);
    }
    if (el.firstChild && !el.firstChild.classList.contains('bar-row')) el.replaceChildren();
    while (el.childNodes.length > shown.length) el.lastChild.remove();
    while (el.childNodes.length < shown.length) el.append(pool[el.childNodes.length]);
    shown.forEach(([k, v], j) => {
      const r = pool[j], name = opName(k);
      r.title = `${name}: ${fmtInt(v)}`;
      setText(r._k[0], name);
      r._k[1].style.width = `${((v / max) * 100).toFixed(1)}%`;
      setText(r._k[2], fmtInt(v));
    });
  }

  // names arrived (listing): rows must be re-rendered
  get fnVersion() { return this.listing ? 1 : 0; }
}

// textContent only when it changed: an unchanged write still dirties layout
function setText(el, s) {
  if (el._text !== s) { el._text = s; el.textContent = s; }
}

function grow32(a) {
  const b = new Int32Array(Math.max(1024, a.length * 2));
  b.set(a);
  return b;
}
