// One run's events in the browser, built to hold millions: fixed-size
// chunks of typed arrays (one slot per event, no object per op; a payload
// — arguments, results, output text — is a string id into one table), and
// the call tree as parallel typed arrays, chunked the same way. Everything
// the views show (counters, stack at any event, histogram, flame chart) is
// derived from these incrementally as events arrive.
import { T } from './decode.js';

const CHUNK_BITS = 16;
const CHUNK = 1 << CHUNK_BITS;
const MASK = CHUNK - 1;

// Call tree nodes come in chunks of typed arrays too, NODE_CHUNK nodes
// each, read through nFunc(n)… A tree held as single arrays grown by
// doubling copied a million-call tree's eleven arrays (~40 MB) in one go,
// and with this VM's slow page faults that copy was a 125-250 ms long task
// of the 1.4 M-event web test. (Resizable ArrayBuffers would grow in place,
// but Chromium 156 reads their views 3-4x slower than plain arrays.)
const NODE_BITS = 16;
const NODE_CHUNK = 1 << NODE_BITS;
const NODE_MASK = NODE_CHUNK - 1;

// Activity bins: events per BIN_NS of run time (all, calls, ops), counted
// as events arrive. Binning in the view, a pass over each batch of new
// events, took 25-80 ms of a frame at a million events.
export const BIN_NS = 100e6;
const BIN_MAX = 1 << 22; // ~5 days of run time; later events go to the last bin

function nodeChunk() {
  return {
    func: new Uint32Array(NODE_CHUNK), depth: new Uint16Array(NODE_CHUNK),
    start: new Int32Array(NODE_CHUNK),   // event index of the call
    end: new Int32Array(NODE_CHUNK),     // event index of the return, -1 open
    parent: new Int32Array(NODE_CHUNK),
    first: new Int32Array(NODE_CHUNK), last: new Int32Array(NODE_CHUNK), next: new Int32Array(NODE_CHUNK),
    kids: new Uint32Array(NODE_CHUNK),
    flags: new Uint8Array(NODE_CHUNK),   // 1 host, 2 unwound (trap/end)
    res: new Int32Array(NODE_CHUNK),     // results text (string id)
    step: new Int32Array(NODE_CHUNK),    // index of the frame's last step event so far, -1 none
  };
}

export class Trace {
  constructor(runId) {
    this.runId = runId;
    this.count = 0;        // events held (index space)
    this.nextSeq = 0;      // seq after the last event (what to resume from)
    this.chunks = [];
    // Payloads live off the JS heap's big arrays: a chunk slot holds a
    // string id (0 none) or -1 (an object payload: run_start, run_end, in
    // objPayloads). A JS array with a slot per event (and one per call for
    // the results) made the major GC's pause of a fast run tens of ms.
    this.strs = [undefined]; // id -> string
    this.strIds = new Map(); // string -> id, for the repeating texts (values)
    this.objPayloads = new Map();
    this.lossBreaks = [];  // [{index, seq}] after each loss: seq = index + delta
    this.lost = 0;         // events covered by loss markers
    this.lossIdx = [];     // indexes of loss events (markers in the views)
    // counters computed from the stream (run_end's replace them at the end)
    this.c = { ops: 0, calls: 0, host_calls: 0, max_depth: 0, throws: 0, traps: 0, outputs: 0 };
    this.opHist = new Uint32Array(256);
    this.opHistPrefixed = new Map();
    this.start = null;     // run_start payload
    this.lines = false;    // level lines: per-event step lookups (chunk.ls)
    this.end = null;       // run_end payload
    this.endIndex = -1;
    // call tree: node 0 is the synthetic root (the run); node ids are in
    // call order (the tree's preorder)
    this.nc = [];          // node chunks
    this.ncap = 0;         // nodes the chunks hold
    this.nodes = 0;
    this.newNode(0, 0, 0, false);
    this.bins = { n: 0, all: new Uint32Array(64), calls: new Uint32Array(64), ops: new Uint32Array(64) };
    this.top = 0;          // innermost open node
    this.output = [];      // [{fd, text, index}]
    this.outputBytes = 0;
    this.version = 0;      // bumps on every add: views redraw when it moved
  }

  chunkFor(i) {
    const k = i >>> CHUNK_BITS;
    let c = this.chunks[k];
    if (!c) {
      c = this.chunks[k] = {
        type: new Uint8Array(CHUNK), t: new Float64Array(CHUNK),
        a: new Uint32Array(CHUNK), b: new Uint32Array(CHUNK),
        frame: new Int32Array(CHUNK), // innermost open node after the event
        p: new Int32Array(CHUNK),     // payload: string id, -1 object, 0 none
        // level lines only: the last step event of frame[] at this event
        // (-1 none), so that any frame's line at any event is one lookup
        ls: this.lines ? new Int32Array(CHUNK) : null,
      };
    }
    return c;
  }

  type(i) { return this.chunks[i >>> CHUNK_BITS].type[i & MASK]; }
  time(i) { return this.chunks[i >>> CHUNK_BITS].t[i & MASK]; }
  a(i) { return this.chunks[i >>> CHUNK_BITS].a[i & MASK]; }
  b(i) { return this.chunks[i >>> CHUNK_BITS].b[i & MASK]; }
  frameAt(i) { return this.chunks[i >>> CHUNK_BITS].frame[i & MASK]; }
  payload(i) {
    const v = this.chunks[i >>> CHUNK_BITS].p[i & MASK];
    return v > 0 ? this.strs[v] : v < 0 ? this.objPayloads.get(i) : undefined;
  }
  // call tree node n (0 <= n < nodes)
  nFunc(n) { return this.nc[n >>> NODE_BITS].func[n & NODE_MASK]; }
  nDepth(n) { return this.nc[n >>> NODE_BITS].depth[n & NODE_MASK]; }
  nStart(n) { return this.nc[n >>> NODE_BITS].start[n & NODE_MASK]; }
  nEnd(n) { return this.nc[n >>> NODE_BITS].end[n & NODE_MASK]; }      // -1: open
  nParent(n) { return this.nc[n >>> NODE_BITS].parent[n & NODE_MASK]; } // -1: the root
  nFirst(n) { return this.nc[n >>> NODE_BITS].first[n & NODE_MASK]; }   // first callee, -1 none
  nLast(n) { return this.nc[n >>> NODE_BITS].last[n & NODE_MASK]; }
  nNext(n) { return this.nc[n >>> NODE_BITS].next[n & NODE_MASK]; }    // next sibling, -1 none
  nKids(n) { return this.nc[n >>> NODE_BITS].kids[n & NODE_MASK]; }
  nFlags(n) { return this.nc[n >>> NODE_BITS].flags[n & NODE_MASK]; }  // 1 host, 2 unwound
  nStep(n) { return this.nc[n >>> NODE_BITS].step[n & NODE_MASK]; }     // last step event so far, -1 none
  result(n) { const v = this.nc[n >>> NODE_BITS].res[n & NODE_MASK]; return v > 0 ? this.strs[v] : undefined; }

  // id of a string payload; `shared`: a text that repeats (values), looked
  // up so that it is stored once
  strId(s, shared) {
    if (shared) {
      const k = this.strIds.get(s);
      if (k !== undefined) return k;
    }
    const id = this.strs.length;
    this.strs.push(s);
    if (shared && this.strIds.size < 200000) this.strIds.set(s, id);
    return id;
  }

  setPayload(c, k, i, payload, shared) {
    if (payload == null) return;
    if (typeof payload === 'string') c.p[k] = this.strId(payload, shared);
    else { c.p[k] = -1; this.objPayloads.set(i, payload); }
  }

  // seq <-> index: equal until the first loss event, which takes one index
  // for `count` seqs.
  seqOf(i) {
    const br = this.lossBreaks;
    if (!br.length || i < br[0].index) return i;
    let lo = 0, hi = br.length - 1;
    while (lo < hi) { const m = (lo + hi + 1) >> 1; if (br[m].index <= i) lo = m; else hi = m - 1; }
    return br[lo].seq + (i - br[lo].index);
  }
  indexOfSeq(seq) {
    const br = this.lossBreaks;
    if (!br.length || seq < br[0].seq) return Math.min(seq, Math.max(0, this.count - 1));
    let lo = 0, hi = br.length - 1;
    while (lo < hi) { const m = (lo + hi + 1) >> 1; if (br[m].seq <= seq) lo = m; else hi = m - 1; }
    return Math.min(br[lo].index + (seq - br[lo].seq), this.count - 1);
  }

  // A node for a call at event index; node 0 (the root) has no parent.
  newNode(func, depth, index, host) {
    const id = this.nodes++;
    if (id === this.ncap) { this.nc.push(nodeChunk()); this.ncap += NODE_CHUNK; }
    const c = this.nc[id >>> NODE_BITS], k = id & NODE_MASK;
    const p = id ? this.top : -1;
    c.func[k] = func; c.depth[k] = depth; c.start[k] = index; c.end[k] = -1;
    c.parent[k] = p; c.first[k] = -1; c.last[k] = -1; c.next[k] = -1;
    c.kids[k] = 0; c.flags[k] = host ? 1 : 0; c.res[k] = 0; c.step[k] = -1;
    if (p >= 0) {
      const pc = this.nc[p >>> NODE_BITS], pk = p & NODE_MASK, last = pc.last[pk];
      if (last >= 0) this.nc[last >>> NODE_BITS].next[last & NODE_MASK] = id; else pc.first[pk] = id;
      pc.last[pk] = id;
      pc.kids[pk]++;
    }
    this.top = id;
    return id;
  }

  closeTop(index, results, flags) {
    const id = this.top;
    if (id === 0) return;
    const c = this.nc[id >>> NODE_BITS], k = id & NODE_MASK;
    c.end[k] = index;
    c.flags[k] |= flags;
    if (results) c.res[k] = this.strId(results, true);
    this.top = c.parent[k];
  }

  // Append one event. seq below nextSeq is a duplicate (ignored); above it
  // is a gap the daemon promised never to leave: it is shown as a loss.
  add(type, seq, t, a, b, payload) {
    if (seq < this.nextSeq) return;
    if (seq > this.nextSeq) this.add(T.loss, this.nextSeq, t, seq - this.nextSeq, 0, 'gap');
    const i = this.count;
    const c = this.chunkFor(i), k = i & MASK;
    c.type[k] = type; c.t[k] = t; c.a[k] = a; c.b[k] = b; c.p[k] = 0;
    const bins = this.bins, x = Math.min(BIN_MAX - 1, Math.max(0, Math.floor(t / BIN_NS)));
    if (x >= bins.n) {
      if (x >= bins.all.length) {
        const n = Math.min(BIN_MAX, Math.max(x + 1, bins.all.length * 2));
        for (const key of ['all', 'calls', 'ops']) { const g = new Uint32Array(n); g.set(bins[key]); bins[key] = g; }
      }
      bins.n = x + 1;
    }
    bins.all[x]++;
    if (type === T.call || type === T.host_call) bins.calls[x]++;
    else if (type === T.op) bins.ops[x]++;
    switch (type) {
      case T.op:
        this.c.ops++;
        if (a < 256) this.opHist[a]++;
        else this.opHistPrefixed.set(a, (this.opHistPrefixed.get(a) || 0) + 1);
        break;
      case T.call: case T.host_call: {
        const host = type === T.host_call;
        // a host frame is one deeper than its caller; depth is not in the event
        const depth = host ? this.nDepth(this.top) + 1 : b;
        if (!host) {
          // unwinding we did not see (a throw caught above): pop to depth-1
          while (this.top !== 0 && this.nDepth(this.top) >= depth) this.closeTop(i, null, 2);
          this.c.calls++;
        } else this.c.host_calls++;
        if (depth > this.c.max_depth) this.c.max_depth = depth;
        this.newNode(a, depth, i, host);
        this.setPayload(c, k, i, payload, true);
        break;
      }
      case T.return: case T.host_return: {
        const host = type === T.host_return;
        if (!host) {
          while (this.top !== 0 && this.nDepth(this.top) > b) this.closeTop(i, null, 2);
          this.closeTop(i, payload, 0);
        } else if (this.nFlags(this.top) & 1) {
          this.closeTop(i, payload, 0);
        }
        this.setPayload(c, k, i, payload, true);
        break;
      }
      case T.output:
        this.c.outputs++;
        this.output.push({ fd: a, text: payload, index: i });
        this.outputBytes += payload.length;
        this.setPayload(c, k, i, payload, false);
        break;
      case T.loss:
        this.lost += a;
        this.lossIdx.push(i);
        this.lossBreaks.push({ index: i + 1, seq: seq + a });
        this.setPayload(c, k, i, payload, true);
        break;
      case T.throw: this.c.throws++; this.setPayload(c, k, i, payload, true); break;
      case T.trap: this.c.traps++; this.setPayload(c, k, i, payload, true); break;
      case T.run_start:
        this.start = payload;
        // level lines: step events carry (file, line); the views want
        // every frame's line at any event (stepsAt)
        if (payload && payload.level === 'lines' && !this.lines) {
          this.lines = true;
          for (const ch of this.chunks) if (ch && !ch.ls) ch.ls = new Int32Array(CHUNK).fill(-1);
        }
        this.setPayload(c, k, i, payload, false);
        break;
      case T.step: {
        const top = this.top;
        this.nc[top >>> NODE_BITS].step[top & NODE_MASK] = i;
        this.setPayload(c, k, i, payload, true);
        break;
      }
      case T.run_end:
        while (this.top !== 0) this.closeTop(i, null, 2);
        this.end = payload; this.endIndex = i; this.setPayload(c, k, i, payload, false);
        break;
      default:
        this.setPayload(c, k, i, payload, true);
    }
    c.frame[k] = this.top;
    if (c.ls) c.ls[k] = this.nStep(this.top);
    this.count = i + 1;
    this.nextSeq = seq + (type === T.loss ? a : 1);
    this.version++;
  }

  // The open frames at event i, outermost first (node ids).
  stackAt(i) {
    const out = [];
    if (i < 0 || i >= this.count) return out;
    let n = this.frameAt(i);
    // a return event: show the frame it returns from as still on the stack
    const ty = this.type(i);
    if ((ty === T.return || ty === T.host_return)) {
      // the returning node is the last child of frame whose end is i
      let kid = this.nLast(n);
      if (kid >= 0 && this.nEnd(kid) === i) n = kid;
    }
    for (; n > 0; n = this.nParent(n)) out.push(n);
    return out.reverse();
  }

  // Level lines: for each frame of stack (stackAt(i), outermost first)
  // the index of its last step event at event i, -1 when it has none yet
  // (or the trace is not at level lines). A frame below the top has not
  // run since it called the next one: its line is the one it had at the
  // event before that call.
  stepsAt(i, stack) {
    const out = new Array(stack.length).fill(-1);
    if (!this.lines || i < 0 || i >= this.count) return out;
    const ls = (j) => { const ch = this.chunks[j >>> CHUNK_BITS]; return ch.ls ? ch.ls[j & MASK] : -1; };
    for (let k = 0; k < stack.length; k++) {
      const n = stack[k];
      if (k + 1 < stack.length) {
        const j = this.nStart(stack[k + 1]) - 1;
        if (j >= 0 && this.frameAt(j) === n) out[k] = ls(j);
      } else if (this.frameAt(i) === n) out[k] = ls(i);
      else if (this.nEnd(n) === i) out[k] = this.nStep(n); // its return: its last step
    }
    return out;
  }

  // Node whose call event is at index i, or -1.
  nodeAtCall(i) {
    const ty = this.type(i);
    return ty === T.call || ty === T.host_call ? this.frameAt(i) : -1;
  }

  // First node whose call is at or after index i (nodes are in call order).
  firstNodeFrom(i) {
    let lo = 1, hi = this.nodes;
    while (lo < hi) { const m = (lo + hi) >> 1; if (this.nStart(m) < i) lo = m + 1; else hi = m; }
    return lo;
  }

  // Next / previous call event from index i (exclusive); -1 when none.
  nextCall(i) {
    const n = this.firstNodeFrom(i + 1);
    return n < this.nodes ? this.nStart(n) : -1;
  }
  prevCall(i) {
    const n = this.firstNodeFrom(i) - 1;
    return n >= 1 ? this.nStart(n) : -1;
  }

  counters() {
    if (this.end) return { ...this.c, ...this.end.counters, outputs: this.c.outputs };
    return this.c;
  }
}
