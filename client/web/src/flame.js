// The call flame chart (an icicle: depth grows downwards) over the event
// index axis, drawn on a canvas from the trace's node arrays. A node
// narrower than a pixel is drawn as a sliver and its whole subtree skipped
// (a subtree is a contiguous range of node ids: ids are in call order), so
// a render costs O(visible nodes), not O(calls).
import { h } from './util.js';

const ROW = 15;

const colors = new Map();
export function funcColor(f, host) {
  if (host) return 'hsl(200 30% 45%)';
  let c = colors.get(f);
  if (c === undefined) {
    const hue = (f * 137.508) % 360;
    c = `hsl(${hue.toFixed(0)} 55% 52%)`;
    if (colors.size < 100000) colors.set(f, c);
  }
  return c;
}

// The chart is two canvases: the base (the calls, the loss marks) and an
// overlay on top with the cursor. A cursor move redraws the overlay alone
// (one line). The base is rendered into an offscreen buffer in bounded
// slices (work(), called from the view's animation frames with a
// deadline) and copied onto the visible canvas when complete, so a
// million-call chart never makes one long task and never shows half drawn.
// It is rendered again only when what it shows changed: the events held,
// the visible range, the size, the names.
export class Flame {
  constructor({ trace, name, onPick, onDirty }) {
    this.trace = trace;
    this.name = name;
    this.onPick = onPick;
    this.onDirty = onDirty || (() => {}); // the base wants work() calls
    this.x0 = 0; this.x1 = 0;        // wanted index range (zoomed), else all
    this.zoomed = false;
    this.cursor = -1;
    this.gen = 0;                    // bumped by invalidate(true): names changed
    this.canvas = h('canvas', { class: 'flame-canvas' });
    this.over = h('canvas', { class: 'flame-canvas flame-over' });
    this.buf = document.createElement('canvas');
    this.tip = h('div', { class: 'flame-tip' });
    this.el = h('div', { class: 'flame' }, this.canvas, this.over, this.tip);
    this.over.addEventListener('wheel', (e) => this.wheel(e), { passive: false });
    this.over.addEventListener('click', (e) => this.click(e));
    this.over.addEventListener('dblclick', () => { this.zoomed = false; this.invalidate(); });
    this.over.addEventListener('mousemove', (e) => this.hover(e));
    this.over.addEventListener('mouseleave', () => { this.tip.style.display = 'none'; });
    this.W = 0; this.H = 0; // cached: drawing never forces a layout
    this.job = null;        // the base render in progress
    this.shown = null;      // what the base canvas shows: {key, x0, x1, sx, all}
    this.stale = true;      // the base may be out of date (see key())
    this.overAt = null;     // what the overlay shows: [x, W, H]
    this.overlayDue = false; // the overlay waits for work() (see finish())
    new ResizeObserver((es) => {
      this.W = Math.floor(es[0].contentRect.width); this.H = Math.floor(es[0].contentRect.height);
      this.invalidate();
    }).observe(this.el);
  }

  range() {
    const n = Math.max(1, this.trace.count);
    if (!this.zoomed) { this.x0 = 0; this.x1 = n; }
    return [this.x0, this.x1];
  }

  // the range the canvas shows (clicks and hovers map through it)
  shownRange() { return this.shown ? [this.shown.x0, this.shown.x1] : this.range(); }

  // What the base shows, equal keys, equal pictures: the data (events,
  // loss marks) and the geometry (range asked for, size, names).
  geom() {
    const r = this.zoomed ? `${this.x0}:${this.x1}` : 'all';
    return `${r}:${this.W}:${this.H}:${window.devicePixelRatio || 1}:${this.gen}`;
  }
  key() { return `${this.trace.count}:${this.trace.lossIdx.length}:${this.geom()}`; }

  // The base is to be rendered again (when its key changed, or `force`).
  invalidate(force = false) {
    if (force) this.gen++;
    this.stale = true;
    this.onDirty();
  }

  // A base render is wanted or under way.
  get busy() {
    return this.job !== null || this.overlayDue || (this.stale && (!this.shown || this.shown.key !== this.key()));
  }

  setCursor(i) {
    this.cursor = i;
    this.drawOverlay();
  }

  wheel(e) {
    e.preventDefault();
    const [x0, x1] = this.range();
    const rect = this.over.getBoundingClientRect();
    const fx = (e.clientX - rect.left) / rect.width;
    const at = x0 + fx * (x1 - x0);
    if (e.shiftKey || Math.abs(e.deltaX) > Math.abs(e.deltaY)) {
      const d = ((e.shiftKey ? e.deltaY : e.deltaX) / rect.width) * (x1 - x0);
      this.x0 = x0 + d; this.x1 = x1 + d;
    } else {
      const k = Math.exp(e.deltaY * 0.002);
      this.x0 = at - (at - x0) * k; this.x1 = at + (x1 - at) * k;
    }
    const n = Math.max(1, this.trace.count);
    if (this.x1 - this.x0 < 8) { const m = (this.x0 + this.x1) / 2; this.x0 = m - 4; this.x1 = m + 4; }
    this.x0 = Math.max(0, this.x0); this.x1 = Math.min(n, this.x1);
    this.zoomed = !(this.x0 <= 0 && this.x1 >= n);
    this.invalidate();
  }

  nodeAt(e) {
    const rect = this.over.getBoundingClientRect();
    const [x0, x1] = this.shownRange();
    const idx = x0 + ((e.clientX - rect.left) / rect.width) * (x1 - x0);
    const depth = Math.floor((e.clientY - rect.top - 2) / ROW) + 1;
    const stack = this.trace.stackAt(Math.min(this.trace.count - 1, Math.floor(idx)));
    return { idx: Math.floor(idx), node: stack[depth - 1] ?? -1 };
  }

  click(e) {
    const { idx, node } = this.nodeAt(e);
    if (this.onPick) this.onPick(node > 0 ? this.trace.nStart(node) : idx);
  }

  hover(e) {
    const { node } = this.nodeAt(e);
    const t = this.trace;
    if (node <= 0) { this.tip.style.display = 'none'; return; }
    const end = t.nEnd(node) < 0 ? t.count - 1 : t.nEnd(node);
    this.tip.textContent = `${this.name(t.nFunc(node))}  #${t.seqOf(t.nStart(node))}…${t.seqOf(end)}  ` +
      `${(end - t.nStart(node) + 1).toLocaleString('en-US')} events`;
    this.tip.style.display = 'block';
    this.tip.style.left = `${Math.min(e.offsetX + 12, this.W - 260)}px`;
    this.tip.style.top = `${e.offsetY + 12}px`;
  }

  // size a canvas to the panel (a resize clears it); false when hidden
  fit(c) {
    const dpr = window.devicePixelRatio || 1, W = this.W, H = this.H;
    if (!W || !H) return false;
    if (c.width !== W * dpr || c.height !== H * dpr) {
      c.width = W * dpr; c.height = H * dpr;
      if (c !== this.buf) { c.style.width = `${W}px`; c.style.height = `${H}px`; }
    }
    return true;
  }

  // The cursor line, on the overlay, in the range the base shows (at its
  // right edge when the base shows the whole run and the cursor is on an
  // event newer than the base: a live run between two renders).
  drawOverlay() {
    const c = this.over, s = this.shown;
    // nothing drawn yet: the overlay's canvas and context wait too (the
    // page's first frames have enough to do)
    if (!s) return;
    let x = -1;
    if (this.cursor >= s.x0) {
      if (this.cursor <= s.x1) x = (this.cursor - s.x0) * s.sx;
      else if (s.all) x = this.W - 1.5;
    }
    const at = this.overAt;
    if (at && at[0] === x && at[1] === this.W && at[2] === this.H) return;
    if (!this.fit(c)) return;
    this.overAt = [x, this.W, this.H];
    const dpr = window.devicePixelRatio || 1;
    const g = c.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, this.W, this.H);
    if (x >= 0) {
      g.fillStyle = '#f5d90a';
      g.fillRect(x, 0, 1.5, this.H);
    }
  }

  // Render the base until `deadline` (performance.now() ms). Returns true
  // while more remains (call again in a later frame). A render whose range
  // or size is no longer wanted starts over; one that is only behind the
  // live data finishes, and the next starts after it.
  work(deadline) {
    if (this.overlayDue && !this.job) { this.overlayDue = false; this.drawOverlay(); return this.busy; }
    const key = this.key();
    if (this.job && this.job.geom !== this.geom()) this.job = null;
    if (!this.job) {
      if (!this.stale && this.shown) return false;
      this.stale = false;
      if (this.shown && this.shown.key === key) return false;
      if (!this.start(key)) return false;
    }
    if (!this.run(deadline)) return true;
    this.finish();
    return this.busy;
  }

  // a new render of the whole base into the buffer
  start(key) {
    const t = this.trace, b = this.buf;
    if (!this.fit(b)) return false;
    const [x0, x1] = this.range();
    const W = this.W, H = this.H, dpr = window.devicePixelRatio || 1;
    const g = b.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, W, H);
    g.font = '11px ui-monospace, SFMono-Regular, Menlo, monospace';
    g.textBaseline = 'middle';
    // count: the events this render shows (the trace grows under it; a
    // call still open at `count` is drawn to the end)
    const count = t.count;
    // ancestors of the first visible event, then every node starting in view
    const anc = count ? t.stackAt(Math.min(count - 1, Math.floor(x0))).filter((n) => t.nStart(n) < x0) : [];
    this.job = {
      key, geom: this.geom(), g, x0, x1, W, H, count,
      sx: W / Math.max(1e-9, x1 - x0), anc, k: 0,
      n: count ? t.firstNodeFrom(Math.floor(x0)) : t.nodes, nodes: t.nodes,
      // Calls narrower than a pixel: at most one 1-px mark per pixel
      // column and depth (thousands of tiny calls side by side cost one
      // column each, not one fillRect and one colour parse each).
      lastPx: new Float64Array(Math.ceil(H / ROW) + 2).fill(-1), lastStyle: '',
    };
    return true;
  }

  drawNode(j, n) {
    const t = this.trace, g = j.g;
    const s = t.nStart(n), end = t.nEnd(n), e = end < 0 || end >= j.count ? j.count : end + 1;
    const a = Math.max(0, (s - j.x0) * j.sx), b = Math.min(j.W, (e - j.x0) * j.sx);
    const d = t.nDepth(n) - 1;
    const y = 2 + d * ROW;
    if (y > j.H) return;
    if (b - a < 1) {
      const px = Math.floor(a);
      if (px <= j.lastPx[d]) return;
      j.lastPx[d] = px;
    } else j.lastPx[d] = Math.max(j.lastPx[d], Math.floor(b) - 1);
    const w = Math.max(b - a, 1);
    const style = funcColor(t.nFunc(n), t.nFlags(n) & 1);
    if (style !== j.lastStyle) { g.fillStyle = style; j.lastStyle = style; }
    g.fillRect(a, y, w - (w > 3 ? 1 : 0), ROW - 1);
    if (w > 40) {
      g.fillStyle = '#0b0f14';
      const label = this.name(t.nFunc(n));
      g.save(); g.beginPath(); g.rect(a, y, w - 2, ROW); g.clip();
      g.fillText(label, a + 3, y + ROW / 2);
      g.restore();
      j.lastStyle = '';
    }
  }

  // one slice of the render; true when the nodes are all drawn
  run(deadline) {
    const t = this.trace, j = this.job;
    for (; j.k < j.anc.length; j.k++) this.drawNode(j, j.anc[j.k]);
    let n = j.n, steps = 0;
    while (n < j.nodes && t.nStart(n) < j.x1) {
      if ((++steps & 255) === 0 && performance.now() >= deadline) { j.n = n; return false; }
      this.drawNode(j, n);
      const end = t.nEnd(n);
      const e = end < 0 || end >= j.count ? j.count : end;
      // under a pixel: its callees cannot be seen, skip the subtree (the
      // node after it is its next sibling, or found from its return)
      if ((e - t.nStart(n)) * j.sx < 1 && end >= 0 && end < j.count) {
        const next = t.nNext(n);
        n = next > n ? next : Math.max(n + 1, t.firstNodeFrom(end));
      } else n++;
    }
    j.n = n;
    return true;
  }

  // the last of a render: loss marks and notes, then onto the visible canvas
  finish() {
    const t = this.trace, j = this.job, g = j.g;
    this.job = null;
    for (const li of t.lossIdx) {
      if (li < j.x0 || li > j.x1 || li >= j.count) continue;
      g.fillStyle = '#e5484d';
      g.fillRect((li - j.x0) * j.sx, 0, 2, j.H);
    }
    if (t.nodes <= 1) {
      g.fillStyle = '#6b7785';
      g.fillText('no calls recorded (yet)', 8, 12);
    }
    if (!this.fit(this.canvas)) return;
    const v = this.canvas.getContext('2d');
    v.setTransform(1, 0, 0, 1, 0, 0);
    v.clearRect(0, 0, this.canvas.width, this.canvas.height);
    v.drawImage(this.buf, 0, 0);
    this.shown = { key: j.key, x0: j.x0, x1: j.x1, sx: j.sx, all: j.geom.startsWith('all:') };
    // the first picture's overlay is drawn in the next frame (work())
    if (this.overAt) this.drawOverlay(); else this.overlayDue = true;
  }
}
