// traced's browser client: two views behind a hash router (#/ the runs,
// #/run/ID one run), one WebSocket for the page, and the connection
// indicator in the top bar.
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { Conn } from './conn.js';
import { RunsView } from './runs_view.js';
import { RunView } from './run_view.js';
import { h } from './util.js';

class App {
  constructor() {
    this.conn = new Conn();
    this.view = null;
    this.connEl = h('span', { class: 'conn', 'data-testid': 'conn' });
    this.errEl = h('span', { class: 'conn-err' });
    this.conn.onState = (s) => this.showConn(s);
    this.conn.onError = (e) => { this.errEl.textContent = e; setTimeout(() => { this.errEl.textContent = ''; }, 6000); };
    const theme = localStorage.getItem('traced-theme') || 'dark';
    document.documentElement.dataset.theme = theme;
    const nav = h('nav', { class: 'top' },
      h('a', { class: 'brand', href: '#/' }, h('span', { class: 'logo', text: '◆' }), 'traced'),
      h('a', { href: '#/', class: 'nav-runs', text: 'Runs' }),
      this.crumb = h('span', { class: 'crumb' }),
      h('span', { class: 'grow' }), this.errEl, this.connEl,
      h('button', { class: 'btn icon', title: 'light / dark', text: '◐', onclick: () => {
        const t = document.documentElement.dataset.theme === 'dark' ? 'light' : 'dark';
        document.documentElement.dataset.theme = t;
        localStorage.setItem('traced-theme', t);
      } }));
    this.main = h('main', {});
    document.body.append(nav, this.main);
    window.addEventListener('hashchange', () => this.route());
    this.route();
    this.showConn(this.conn.state);
    window.__traced = this; // for tests and the console
  }

  api(path) {
    const token = new URLSearchParams(location.search).get('token');
    if (!token) return path;
    return path + (path.includes('?') ? '&' : '?') + 'token=' + encodeURIComponent(token);
  }

  showConn(s) {
    const label = { open: 'connected', connecting: 'connecting…', retrying: `reconnecting (attempt ${this.conn.reconnects})` }[s] || s;
    this.connEl.className = `conn conn-${s}`;
    this.connEl.textContent = label;
    this.connEl.title = s === 'open' ? 'live WebSocket to traced; streams resume from their last seq after a drop' : 'the page reconnects by itself';
  }

  setTitle(t) { document.title = `${t} — traced`; }

  route() {
    const m = location.hash.match(/^#\/run\/(\d+)/);
    if (this.view) { this.view.destroy(); this.view = null; }
    this.main.innerHTML = '';
    if (m) {
      this.view = new RunView(this, Number(m[1]));
      this.crumb.textContent = `› run ${m[1]}`;
    } else {
      this.view = new RunsView(this);
      this.crumb.textContent = '';
      this.setTitle('runs');
    }
    this.main.append(this.view.el);
    if (this.view.update) requestAnimationFrame(() => this.view.update());
  }
}

new App();
