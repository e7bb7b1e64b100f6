// The runs view: every run the daemon knows, newest first, live (the
// WebSocket's runs messages for status changes, a 1 s poll of
// GET /api/runs for the counters of running runs), and the submit form.
import { h, fmtInt, fmtNs, fmtClock, splitArgs, statusClass } from './util.js';

export class RunsView {
  constructor(app) {
    this.app = app;
    this.runs = new Map();
    this.build();
    app.conn.onRuns = (list) => { this.runs.clear(); for (const r of list) this.runs.set(r.id, r); this.render(); };
    app.conn.onRun = (r) => { this.runs.set(r.id, r); this.render(); };
    app.conn.subscribeRuns(true);
    this.poll();
    this.timer = setInterval(() => this.poll(), 1000);
  }

  destroy() {
    clearInterval(this.timer);
    this.app.conn.subscribeRuns(false);
    this.app.conn.onRuns = () => {};
    this.app.conn.onRun = () => {};
  }

  async poll(force) {
    const running = [...this.runs.values()].some((r) => r.status === 'running');
    if (!force && this.runs.size && !running) { this.render(); return; }
    try {
      const r = await fetch(this.app.api('/api/runs'));
      if (!r.ok) return;
      const j = await r.json();
      this.runs.clear();
      for (const x of j.runs) this.runs.set(x.id, x);
      this.render();
    } catch { /* connection indicator */ }
  }

  build() {
    this.file = h('input', { type: 'file', accept: '.wasm,application/wasm', 'data-testid': 'submit-file',
      onchange: () => { const f = this.file.files[0]; if (f && !this.name.value) this.name.placeholder = f.name; } });
    this.name = h('input', { type: 'text', placeholder: 'module name', 'data-testid': 'submit-name' });
    this.invoke = h('input', { type: 'text', placeholder: '_start (WASI)', 'data-testid': 'submit-invoke' });
    this.args = h('input', { type: 'text', placeholder: 'arguments, space separated', 'data-testid': 'submit-args' });
    this.level = h('select', { 'data-testid': 'submit-level' },
      h('option', { value: 'calls', text: 'calls' }), h('option', { value: 'ops', text: 'ops' }),
      h('option', { value: 'lines', text: 'lines' }));
    this.fuel = h('input', { type: 'text', placeholder: 'fuel', class: 'narrow', 'data-testid': 'submit-fuel' });
    this.wall = h('input', { type: 'text', placeholder: 'wall ms', class: 'narrow', 'data-testid': 'submit-wall' });
    this.msg = h('span', { class: 'submit-msg', 'data-testid': 'submit-msg' });
    this.open = h('input', { type: 'checkbox', checked: true });
    const form = h('form', { class: 'submit', onsubmit: (e) => { e.preventDefault(); this.submit(); } },
      h('label', { class: 'file' }, this.file),
      h('label', {}, h('span', { text: 'invoke' }), this.invoke),
      h('label', { class: 'wide' }, h('span', { text: 'args' }), this.args),
      h('label', {}, h('span', { text: 'level' }), this.level),
      h('label', {}, h('span', { text: 'name' }), this.name),
      h('label', {}, h('span', { text: 'limits' }), this.fuel, this.wall),
      h('label', { class: 'check', title: 'open the run view after submitting' }, this.open, ' open'),
      h('button', { class: 'btn primary', type: 'submit', text: 'Run', 'data-testid': 'submit' }),
      this.msg);
    this.tbody = h('tbody', {});
    const cols = ['#', 'status', 'module', 'call', 'level', 'started', 'duration', 'events', 'ops', 'calls', ''];
    this.table = h('table', { class: 'runs', 'data-testid': 'runs-table' },
      h('thead', {}, h('tr', {}, cols.map((c) => h('th', { text: c })))), this.tbody);
    this.empty = h('div', { class: 'empty big', text: 'No runs yet. Pick a .wasm module above and press Run.' });
    this.el = h('div', { class: 'runs-view' },
      h('section', { class: 'panel' }, h('header', {}, h('h2', { text: 'Submit a module' })), form),
      h('section', { class: 'panel grow' }, h('header', {}, h('h2', { text: 'Runs' }), h('span', { class: 'note', 'data-testid': 'runs-note' })),
        h('div', { class: 'table-wrap' }, this.table, this.empty)));
  }

  async submit() {
    const f = this.file.files[0];
    if (!f) { this.msg.textContent = 'choose a .wasm file first'; this.msg.className = 'submit-msg err'; return; }
    const q = new URLSearchParams();
    q.set('level', this.level.value);
    q.set('name', this.name.value.trim() || f.name);
    if (this.invoke.value.trim()) q.set('invoke', this.invoke.value.trim());
    for (const a of splitArgs(this.args.value)) q.append('arg', a);
    if (this.fuel.value.trim()) q.set('fuel', this.fuel.value.trim());
    if (this.wall.value.trim()) q.set('wall_ms', this.wall.value.trim());
    this.msg.textContent = 'submitting…';
    this.msg.className = 'submit-msg';
    try {
      const r = await fetch(this.app.api(`/api/runs?${q}`), { method: 'POST', body: await f.arrayBuffer(),
        headers: { 'content-type': 'application/wasm' } });
      const j = await r.json();
      if (!r.ok) { this.msg.textContent = `${r.status} ${j.code}: ${j.error}`; this.msg.className = 'submit-msg err'; return; }
      this.msg.textContent = `run ${j.id} started`;
      this.runs.set(j.id, j);
      this.render();
      if (this.open.checked) location.hash = `#/run/${j.id}`;
    } catch (e) {
      this.msg.textContent = `failed: ${e.message}`;
      this.msg.className = 'submit-msg err';
    }
  }

  render() {
    const list = [...this.runs.values()].sort((a, b) => b.id - a.id);
    this.empty.style.display = list.length ? 'none' : '';
    const now = Date.now();
    const rows = list.map((r) => {
      const start = r.created_ns / 1e6;
      const dur = r.ended_ns ? (r.ended_ns - r.created_ns) : (r.status === 'running' ? (now - start) * 1e6 : null);
      const call = r.invoke ? `${r.invoke}(${r.args.join(', ')})` : `_start ${r.args.join(' ')}`;
      return h('tr', { 'data-run': r.id, onclick: () => { location.hash = `#/run/${r.id}`; } },
        h('td', { class: 'num', text: r.id }),
        h('td', {}, h('span', { class: `badge ${statusClass(r.status)}`, text: r.status, title: r.error || r.reason || '' })),
        h('td', { class: 'mod', text: r.module }),
        h('td', { class: 'call', text: call, title: call }),
        h('td', { text: r.level }),
        h('td', { text: fmtClock(start) }),
        h('td', { class: 'num', text: fmtNs(dur) }),
        h('td', { class: 'num', text: fmtInt(r.events) }),
        h('td', { class: 'num', text: fmtInt(r.counters.ops) }),
        h('td', { class: 'num', text: fmtInt(r.counters.calls) }),
        h('td', {}, h('a', { href: `#/run/${r.id}`, text: 'open →' })));
    });
    this.tbody.replaceChildren(...rows);
    const live = list.filter((r) => r.status === 'running').length;
    this.el.querySelector('[data-testid=runs-note]').textContent = `${list.length} runs${live ? ` · ${live} running` : ''}`;
  }
}
