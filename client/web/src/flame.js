// The call flame chart (an icicle: depth grows downwards) over the event
// index axis, drawn on a canvas from the trace's node arrays. A node
// narrower than a pixel is drawn as a sliver and its whole subtree skipped
// (a subtree is a contiguous range of node ids: ids are in call order), so
// a frame costs O(visible nodes · log n), not O(calls).
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

export class Flame {
  constructor({ trace, name, onPick }) {
    this.trace = trace;
    this.name = name;
    this.onPick = onPick;
    this.x0 = 0; this.x1 = 0;        // visible index range; x1 = -1: follow all
    this.zoomed = false;
    this.cursor = -1;
    this.canvas = h('canvas', { class: 'flame-canvas' });
    this.tip = h('div', { class: 'flame-tip' });
    this.el = h('div', { class: 'flame' }, this.canvas, this.tip);
    this.canvas.addEventListener('wheel', (e) => this.wheel(e), { passive: false });
    this.canvas.addEventListener('click', (e) => this.click(e));
    this.canvas.addEventListener('dblclick', () => { this.zoomed = false; this.draw(); });
    this.canvas.addEventListener('mousemove', (e) => this.hover(e));
    this.canvas.addEventListener('mouseleave', () => { this.tip.style.display = 'none'; });
    this.W = 0; this.H = 0; // cached: drawing never forces a layout
    new ResizeObserver((es) => {
      this.W = Math.floor(es[0].contentRect.width); this.H = Math.floor(es[0].contentRect.height);
      this.draw();
    }).observe(this.el);
  }

  range() {
    const n = Math.max(1, this.trace.count);
    if (!this.zoomed) { this.x0 = 0; this.x1 = n; }
    return [this.x0, this.x1];
  }

  wheel(e) {
    e.preventDefault();
    const [x0, x1] = this.range();
    const rect = this.canvas.getBoundingClientRect();
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
    this.draw();
  }

  nodeAt(e) {
    const rect = this.canvas.getBoundingClientRect();
    const [x0, x1] = this.range();
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

  draw() {
    const t = this.trace, c = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const W = this.W, H = this.H;
    if (!W || !H) return;
    if (c.width !== W * dpr || c.height !== H * dpr) {
      c.width = W * dpr; c.height = H * dpr;
      c.style.width = `${W}px`; c.style.height = `${H}px`;
    }
    const g = c.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, W, H);
    const [x0, x1] = this.range();
    const sx = W / Math.max(1e-9, x1 - x0);
    g.font = '11px ui-monospace, SFMono-Regular, Menlo, monospace';
    g.textBaseline = 'middle';
    // Calls narrower than a pixel: at most one 1-px mark per pixel column
    // and depth (thousands of tiny calls side by side cost one column
    // each, not one fillRect and one colour parse each).
    const rowsFit = Math.ceil(H / ROW) + 2;
    const lastPx = new Float64Array(rowsFit).fill(-1);
    let lastStyle = '';
    const drawNode = (n) => {
      const s = t.nStart(n), e = t.nEnd(n) < 0 ? t.count : t.nEnd(n) + 1;
      const a = Math.max(0, (s - x0) * sx), b = Math.min(W, (e - x0) * sx);
      const d = t.nDepth(n) - 1;
      const y = 2 + d * ROW;
      if (y > H) return;
      if (b - a < 1) {
        const px = Math.floor(a);
        if (px <= lastPx[d]) return;
        lastPx[d] = px;
      } else lastPx[d] = Math.max(lastPx[d], Math.floor(b) - 1);
      const w = Math.max(b - a, 1);
      const style = funcColor(t.nFunc(n), t.nFlags(n) & 1);
      if (style !== lastStyle) { g.fillStyle = style; lastStyle = style; }
      g.fillRect(a, y, w - (w > 3 ? 1 : 0), ROW - 1);
      if (w > 40) {
        g.fillStyle = '#0b0f14';
        const label = this.name(t.nFunc(n));
        g.save(); g.beginPath(); g.rect(a, y, w - 2, ROW); g.clip();
        g.fillText(label, a + 3, y + ROW / 2);
        g.restore();
        lastStyle = '';
      }
    };
    if (t.count) {
      // ancestors of the first visible event, then every node starting in view
      for (const n of t.stackAt(Math.min(t.count - 1, Math.floor(x0)))) if (t.nStart(n) < x0) drawNode(n);
      let n = t.firstNodeFrom(Math.floor(x0));
      while (n < t.nodes && t.nStart(n) < x1) {
        drawNode(n);
        const e = t.nEnd(n);
        const w = ((e < 0 ? t.count : e) - t.nStart(n)) * sx;
        // under a pixel: its callees cannot be seen, skip the subtree
        n = w < 1 && e >= 0 ? Math.max(n + 1, t.firstNodeFrom(e)) : n + 1;
      }
    }
    for (const li of t.lossIdx) {
      if (li < x0 || li > x1) continue;
      g.fillStyle = '#e5484d';
      g.fillRect((li - x0) * sx, 0, 2, H);
    }
    if (this.cursor >= 0 && this.cursor >= x0 && this.cursor <= x1) {
      g.fillStyle = '#f5d90a';
      g.fillRect((this.cursor - x0) * sx, 0, 1.5, H);
    }
    if (!t.nodes || t.nodes === 1) {
      g.fillStyle = '#6b7785';
      g.fillText('no calls recorded (yet)', 8, 12);
    }
  }
}
