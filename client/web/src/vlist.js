// A virtual list of fixed-height rows: a pool of row elements re-filled on
// scroll, so a million-row list costs the DOM of one screen. Browsers cap
// an element's height (~33 M px in Chromium), so past `maxPx` the scroll
// position is mapped proportionally onto the rows instead of 1:1.
// Hand-rolled on purpose: our rows come from typed arrays by index, and the
// usual libraries want an items array (a million objects) or a framework.
import { h } from './util.js';

export class VList {
  constructor({ rowHeight = 18, render, onClick, onResize, className = '' }) {
    this.rowHeight = rowHeight;
    this.render = render;        // (rowElement, index) => void; sets the row's class too
    this.onClick = onClick;
    // a new height: the owner schedules the draw (so that a page's lists
    // are not all drawn in the frame that first lays them out), else the
    // list draws at once
    this.onResize = onResize;
    this.count = 0;
    this.maxPx = 8e6;
    this.el = h('div', { class: `vlist ${className}` });
    this.spacer = h('div', { class: 'vlist-spacer' });
    this.rows = h('div', { class: 'vlist-rows' });
    this.el.append(this.spacer, this.rows);
    this.pool = [];
    this.first = 0;
    // Geometry is cached (ResizeObserver, scroll events) so that drawing
    // never forces a synchronous layout in the middle of a live update.
    this.height = 0;
    this.st = 0;
    this.pendingScroll = false;
    this.el.addEventListener('scroll', () => {
      const st = this.el.scrollTop;
      if (this.pendingScroll || Math.abs(st - this.st) < 0.5) return; // our own write
      this.st = st;
      this.draw();
    });
    this.rows.addEventListener('click', (e) => {
      const r = e.target.closest('.vrow');
      if (r && this.onClick) this.onClick(Number(r.dataset.i), e);
    });
    new ResizeObserver((es) => {
      this.height = es[0].contentRect.height;
      if (this.onResize) this.onResize(); else this.draw();
    }).observe(this.el);
  }

  get viewRows() { return Math.ceil((this.height || 400) / this.rowHeight) + 1; }
  get scaled() { return this.count * this.rowHeight > this.maxPx; }

  setCount(n) {
    if (n === this.count) return;
    this.count = n;
    this.spacer.style.height = `${Math.min(n * this.rowHeight, this.maxPx)}px`;
  }

  // index of the first visible row from the scroll position
  topIndex() {
    const st = this.st;
    if (!this.scaled) return Math.floor(st / this.rowHeight);
    const maxScroll = Math.max(1, this.maxPx - this.height);
    return Math.floor(Math.min(1, st / maxScroll) * Math.max(0, this.count - this.viewRows + 1));
  }

  scrollToIndex(i, align = 'center') {
    if (i < 0 || i >= this.count) return;
    const vr = this.viewRows;
    const top = this.topIndex();
    if (align === 'nearest' && i >= top && i < top + vr - 2) return;
    const want = align === 'end' ? i - vr + 2 : align === 'center' ? i - (vr >> 1) : i;
    const first = Math.max(0, Math.min(want, this.count - vr + 1));
    let st;
    if (!this.scaled) st = first * this.rowHeight;
    else {
      const maxScroll = Math.max(1, this.maxPx - this.height);
      st = (first / Math.max(1, this.count - vr + 1)) * maxScroll;
    }
    if (Math.abs(st - this.st) >= 1) { this.st = st; this.pendingScroll = true; }
  }

  // Write the scroll position scrollToIndex chose. Writing scrollTop makes
  // the browser lay out whatever is dirty, synchronously: callers do it
  // first in a frame, before other DOM writes (the list itself has
  // contain: strict, so its own spacer change lays out only the list).
  // draw() calls it too (a list scrolled on its own).
  applyScroll() {
    if (!this.pendingScroll) return;
    this.pendingScroll = false;
    this.el.scrollTop = this.st;
  }

  draw() {
    this.applyScroll();
    const vr = this.viewRows;
    while (this.pool.length < vr) {
      const r = h('div', { class: 'vrow' });
      r.style.height = `${this.rowHeight}px`;
      this.pool.push(r);
      this.rows.append(r);
    }
    const first = Math.max(0, Math.min(this.topIndex(), Math.max(0, this.count - vr + 1)));
    this.first = first;
    // the rows element scrolls with the content: keep it at the viewport top
    const y = this.scaled ? this.st : first * this.rowHeight;
    if (y !== this.y) { this.y = y; this.rows.style.transform = `translateY(${y}px)`; }
    for (let k = 0; k < this.pool.length; k++) {
      const r = this.pool[k], i = first + k;
      if (i >= this.count) { if (r._hidden !== true) { r.style.display = 'none'; r._hidden = true; } continue; }
      if (r._hidden !== false) { r.style.display = ''; r._hidden = false; }
      if (r._di !== i) { r.dataset.i = i; r._di = i; }
      this.render(r, i);
    }
  }
}
