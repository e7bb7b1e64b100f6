// One run's events in the browser, built to hold millions: fixed-size
// chunks of typed arrays (one slot per event, no object per op; a payload
// — arguments, results, output text — is a string id into one table), and
// the call tree as parallel typed arrays that grow by doubling. Everything
// the views show (counters, stack at any event, histogram, flame chart) is
// derived from these incrementally as events arrive.
import { T } from './decode.js';

const CHUNK_BITS = 16;
const CHUNK = 1 << CHUNK_BITS;
const MASK = CHUNK - 1;

function grow(arr, n) {
  const out = new arr.constructor(n);
  out.set(arr);
  return out;
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
    this.end = null;       // run_end payload
    this.endIndex = -1;
    // call tree: node 0 is the synthetic root (the run)
    this.ncap = 1024;
    this.nFunc = new Uint32Array(this.ncap);
    this.nDepth = new Uint16Array(this.ncap);
    this.nStart = new Int32Array(this.ncap);   // event index of the call
    this.nEnd = new Int32Array(this.ncap);     // event index of the return, -1 open
    this.nParent = new Int32Array(this.ncap);
    this.nFirst = new Int32Array(this.ncap);
    this.nLast = new Int32Array(this.ncap);
    this.nNext = new Int32Array(this.ncap);
    this.nKids = new Uint32Array(this.ncap);
    this.nFlags = new Uint8Array(this.ncap);   // 1 host, 2 unwound (trap/end)
    this.nResId = new Int32Array(this.ncap);  // node -> results text (string id)
    this.nodes = 1;
    this.nStart[0] = 0; this.nEnd[0] = -1; this.nParent[0] = -1;
    this.nFirst[0] = -1; this.nLast[0] = -1; this.nNext[0] = -1;
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
  result(n) { const v = this.nResId[n]; return v > 0 ? this.strs[v] : undefined; }

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

  newNode(func, depth, index, host) {
    if (this.nodes === this.ncap) {
      const n = this.ncap * 2;
      for (const k of ['nFunc', 'nDepth', 'nStart', 'nEnd', 'nParent', 'nFirst', 'nLast', 'nNext', 'nKids', 'nFlags', 'nResId'])
        this[k] = grow(this[k], n);
      this.ncap = n;
    }
    const id = this.nodes++, p = this.top;
    this.nFunc[id] = func; this.nDepth[id] = depth; this.nStart[id] = index;
    this.nEnd[id] = -1; this.nParent[id] = p; this.nFirst[id] = -1;
    this.nLast[id] = -1; this.nNext[id] = -1; this.nKids[id] = 0; this.nFlags[id] = host ? 1 : 0;
    this.nResId[id] = 0;
    if (this.nLast[p] >= 0) this.nNext[this.nLast[p]] = id; else this.nFirst[p] = id;
    this.nLast[p] = id;
    this.nKids[p]++;
    this.top = id;
    return id;
  }

  closeTop(index, results, flags) {
    const id = this.top;
    if (id === 0) return;
    this.nEnd[id] = index;
    this.nFlags[id] |= flags;
    if (results) this.nResId[id] = this.strId(results, true);
    this.top = this.nParent[id];
  }

  // Append one event. seq below nextSeq is a duplicate (ignored); above it
  // is a gap the daemon promised never to leave: it is shown as a loss.
  add(type, seq, t, a, b, payload) {
    if (seq < this.nextSeq) return;
    if (seq > this.nextSeq) this.add(T.loss, this.nextSeq, t, seq - this.nextSeq, 0, 'gap');
    const i = this.count;
    const c = this.chunkFor(i), k = i & MASK;
    c.type[k] = type; c.t[k] = t; c.a[k] = a; c.b[k] = b; c.p[k] = 0;
    switch (type) {
      case T.op:
        this.c.ops++;
        if (a < 256) this.opHist[a]++;
        else this.opHistPrefixed.set(a, (this.opHistPrefixed.get(a) || 0) + 1);
        break;
      case T.call: case T.host_call: {
        const host = type === T.host_call;
        // a host frame is one deeper than its caller; depth is not in the event
        const depth = host ? this.nDepth[this.top] + 1 : b;
        if (!host) {
          // unwinding we did not see (a throw caught above): pop to depth-1
          while (this.top !== 0 && this.nDepth[this.top] >= depth) this.closeTop(i, null, 2);
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
          while (this.top !== 0 && this.nDepth[this.top] > b) this.closeTop(i, null, 2);
          this.closeTop(i, payload, 0);
        } else if (this.nFlags[this.top] & 1) {
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
      case T.run_start: this.start = payload; this.setPayload(c, k, i, payload, false); break;
      case T.run_end:
        while (this.top !== 0) this.closeTop(i, null, 2);
        this.end = payload; this.endIndex = i; this.setPayload(c, k, i, payload, false);
        break;
      default:
        this.setPayload(c, k, i, payload, true);
    }
    c.frame[k] = this.top;
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
      let kid = this.nLast[n];
      if (kid >= 0 && this.nEnd[kid] === i) n = kid;
    }
    for (; n > 0; n = this.nParent[n]) out.push(n);
    return out.reverse();
  }

  // Node whose call event is at index i, or -1.
  nodeAtCall(i) {
    const ty = this.type(i);
    return ty === T.call || ty === T.host_call ? this.frameAt(i) : -1;
  }

  // First node whose call is at or after index i (nodes are in call order).
  firstNodeFrom(i) {
    let lo = 1, hi = this.nodes;
    while (lo < hi) { const m = (lo + hi) >> 1; if (this.nStart[m] < i) lo = m + 1; else hi = m; }
    return lo;
  }

  // Next / previous call event from index i (exclusive); -1 when none.
  nextCall(i) {
    const n = this.firstNodeFrom(i + 1);
    return n < this.nodes ? this.nStart[n] : -1;
  }
  prevCall(i) {
    const n = this.firstNodeFrom(i) - 1;
    return n >= 1 ? this.nStart[n] : -1;
  }

  counters() {
    if (this.end) return { ...this.c, ...this.end.counters, outputs: this.c.outputs };
    return this.c;
  }
}
