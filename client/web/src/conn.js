// The page's one WebSocket to traced (docs/daemon.md, "WebSocket
// protocol"). It reconnects by itself with backoff, watches heartbeats (a
// silent socket is declared dead after three missed beats), and on every
// (re)connect replays what the page wants: the runs list and each run
// subscription from the run's next seq, so the stream resumes exactly.
import { decodeFrame } from './decode.js';

export class Conn {
  constructor() {
    this.ws = null;
    this.state = 'connecting';   // connecting | open | retrying
    this.retryMs = 250;
    this.retryAt = 0;
    this.heartbeatMs = 5000;
    this.lastRx = 0;
    this.wantRuns = false;
    this.subs = new Map();       // run id -> {trace, onEvents, onEnd, onStatus}
    this.onState = () => {};
    this.onRuns = () => {};
    this.onRun = () => {};
    this.onError = () => {};
    this.reconnects = 0;
    this.connect();
    this.watchdog = setInterval(() => this.watch(), 1000);
  }

  url() {
    const u = new URL('/ws', location.href);
    u.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const token = new URLSearchParams(location.search).get('token');
    if (token) u.searchParams.set('token', token);
    return u.href;
  }

  setState(s) { this.state = s; this.onState(s); }

  connect() {
    this.setState(this.reconnects ? 'retrying' : 'connecting');
    let ws;
    try { ws = new WebSocket(this.url()); } catch { this.scheduleRetry(); return; }
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    ws.onopen = () => {
      this.retryMs = 250;
      this.lastRx = performance.now();
      this.setState('open');
      if (this.wantRuns) this.send({ type: 'subscribe_runs' });
      for (const [id, s] of this.subs) this.sendSubscribe(id, s);
    };
    ws.onmessage = (m) => this.receive(m);
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.scheduleRetry();
    };
    ws.onerror = () => {};
  }

  scheduleRetry() {
    this.reconnects++;
    this.retryAt = performance.now() + this.retryMs;
    this.setState('retrying');
    setTimeout(() => this.connect(), this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, 4000);
  }

  watch() {
    if (this.ws && this.state === 'open' &&
        performance.now() - this.lastRx > 3 * this.heartbeatMs + 1000) {
      const ws = this.ws;
      this.ws = null;
      ws.close();
      this.scheduleRetry();
    }
  }

  // Drop the socket on purpose (the reconnect button, and tests).
  bounce() {
    if (this.ws) { const ws = this.ws; this.ws = null; ws.close(); this.scheduleRetry(); }
  }

  send(msg) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  sendSubscribe(id, s) {
    if (s.ended) return;
    this.send({ type: 'subscribe', run: id, from: s.trace.nextSeq, format: 'binary' });
  }

  subscribeRuns(on) {
    this.wantRuns = on;
    this.send({ type: on ? 'subscribe_runs' : 'unsubscribe_runs' });
  }

  subscribe(trace, handlers) {
    const s = { trace, ended: false, ...handlers };
    this.subs.set(trace.runId, s);
    this.sendSubscribe(trace.runId, s);
  }

  unsubscribe(id) {
    if (this.subs.delete(id)) this.send({ type: 'unsubscribe', run: id });
  }

  receive(m) {
    this.lastRx = performance.now();
    if (typeof m.data !== 'string') {
      const dv = new DataView(m.data);
      const id = dv.getUint32(8, true) + dv.getUint32(12, true) * 2 ** 32;
      const s = this.subs.get(id);
      if (!s) return;
      try {
        decodeFrame(m.data, s.trace);
      } catch (e) {
        this.onError(`bad frame for run ${id}: ${e.message}`);
        this.bounce(); // resume from the last good seq
        return;
      }
      s.onEvents && s.onEvents();
      return;
    }
    let msg;
    try { msg = JSON.parse(m.data); } catch { return; }
    const s = msg.run != null ? this.subs.get(msg.run) : null;
    switch (msg.type) {
      case 'hello': this.heartbeatMs = msg.heartbeat_ms || 5000; break;
      case 'runs': this.onRuns(msg.runs); break;
      case 'run': this.onRun(msg.run); break;
      case 'subscribed': if (s) { s.status = msg.status; s.total = msg.next_seq; s.onStatus && s.onStatus(msg.status); } break;
      case 'status': if (s) { s.status = msg.status; s.onStatus && s.onStatus(msg.status); } break;
      case 'end': if (s) { s.ended = true; s.status = msg.status; s.total = msg.next_seq; s.onEnd && s.onEnd(msg); } break;
      case 'error': this.onError(`${msg.code}: ${msg.error}`); break;
      default: break;
    }
  }
}
