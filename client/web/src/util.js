// Small DOM and formatting helpers shared by the views.
export function h(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'text') e.textContent = v;
    // CSSOM, not the style attribute: traced's CSP (style-src 'self') blocks those
    else if (k === 'style') e.style.cssText = v;
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const k of kids.flat()) if (k != null) e.append(k);
  return e;
}

// one formatter: toLocaleString builds (or looks up) one per call, and the
// live views format a few dozen numbers per frame
const intFmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
export const fmtInt = (n) => (n == null ? '–' : intFmt.format(Math.round(n)));

export function fmtNs(ns) {
  if (ns == null || !Number.isFinite(ns)) return '–';
  if (ns < 1e3) return `${ns.toFixed(0)} ns`;
  if (ns < 1e6) return `${(ns / 1e3).toFixed(1)} µs`;
  if (ns < 1e9) return `${(ns / 1e6).toFixed(1)} ms`;
  if (ns < 60e9) return `${(ns / 1e9).toFixed(2)} s`;
  return `${Math.floor(ns / 60e9)}m ${((ns % 60e9) / 1e9).toFixed(0)}s`;
}

export function fmtRate(r) {
  if (r >= 1e6) return `${(r / 1e6).toFixed(2)} M/s`;
  if (r >= 1e3) return `${(r / 1e3).toFixed(1)} k/s`;
  return `${r.toFixed(0)} /s`;
}

export function fmtClock(ms) {
  const d = new Date(ms);
  const p = (x) => String(x).padStart(2, '0');
  const today = new Date();
  const time = `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  return d.toDateString() === today.toDateString() ? time
    : `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${time}`;
}

// Split an argument line the way a shell would for simple cases: spaces
// separate, single or double quotes group.
export function splitArgs(s) {
  const out = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  for (let m; (m = re.exec(s));) out.push(m[1] ?? m[2] ?? m[3]);
  return out;
}

// Coalesce work to at most once per animation frame (and at most every
// minMs): live runs change hundreds of times a second, views redraw ~10x.
export function throttle(fn, minMs = 0) {
  let pending = false, last = 0;
  return () => {
    if (pending) return;
    pending = true;
    const wait = Math.max(0, last + minMs - performance.now());
    const go = () => requestAnimationFrame(() => { pending = false; last = performance.now(); fn(); });
    if (wait > 0) setTimeout(go, wait); else go();
  };
}

export function statusClass(s) {
  return { running: 'st-running', ok: 'st-ok', exit: 'st-exit', trap: 'st-bad', fuel: 'st-warn',
    cancelled: 'st-warn', exception: 'st-bad', interrupted: 'st-warn' }[s] || '';
}
