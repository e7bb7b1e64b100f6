// Binary frames of a binary subscription (docs/daemon.md, "WebSocket
// protocol"): "TRCB", 4 zero bytes, the run id (u64 LE), then records in the
// binary encoding of docs/protocol.md §2, delta state reset at the frame
// start. Records go straight into a Trace (store.js): op events, the bulk of
// a fast run, allocate nothing.

export const T = {
  run_start: 1, call: 2, return: 3, host_call: 4, host_return: 5, op: 6,
  throw: 7, trap: 8, output: 9, step: 10, loss: 11, run_end: 12,
};
export const TYPE_NAMES = ['?', 'run_start', 'call', 'return', 'host_call',
  'host_return', 'op', 'throw', 'trap', 'output', 'step', 'loss', 'run_end'];
export const STATUS_NAMES = ['ok', 'trap', 'exit', 'fuel', 'cancelled', 'exception'];
const LEVELS = ['?', 'calls', 'ops', 'lines'];

const utf8 = new TextDecoder('utf-8');
const f32 = new Float32Array(1), f32u = new Uint32Array(f32.buffer);
const f64 = new Float64Array(1), f64u = new Uint32Array(f64.buffer);

// A cursor over one frame. Varints are read as Numbers (exact to 2^53:
// seqs, times, offsets); i64 values take the BigInt path when they are long.
class Reader {
  constructor(buf, pos) { this.b = buf; this.p = pos; }
  u8() {
    if (this.p >= this.b.length) throw new RangeError('truncated');
    return this.b[this.p++];
  }
  uv() {
    const b = this.b;
    let r = 0, mul = 1, x;
    do {
      if (this.p >= b.length) throw new RangeError('truncated');
      x = b[this.p++];
      r += (x & 0x7f) * mul;
      mul *= 128;
    } while (x & 0x80);
    return r;
  }
  sv() {
    const n = this.uv();
    return n % 2 === 0 ? n / 2 : -(n + 1) / 2;
  }
  // svarint as an exact decimal string (i64 values)
  svBig() {
    const start = this.p;
    let len = 0;
    while (this.b[start + len] & 0x80) len++;
    if (len < 7) return String(this.sv());
    let n = 0n, shift = 0n;
    for (let i = 0; i <= len; i++) {
      n |= BigInt(this.b[this.p++] & 0x7f) << shift;
      shift += 7n;
    }
    return String((n & 1n) ? -((n + 1n) >> 1n) : n >> 1n);
  }
  bytes(n) {
    if (this.p + n > this.b.length) throw new RangeError('truncated');
    const s = this.b.subarray(this.p, this.p + n);
    this.p += n;
    return s;
  }
  // Short ASCII strings (most output lines, names) skip TextDecoder, whose
  // per-call cost dominated decoding at 100 k output events/s.
  str() {
    const b = this.bytes(this.uv());
    if (b.length > 256) return utf8.decode(b);
    for (let i = 0; i < b.length; i++) if (b[i] & 0x80) return utf8.decode(b);
    return String.fromCharCode.apply(null, b);
  }
  u32le() {
    const b = this.bytes(4);
    return (b[0] | b[1] << 8 | b[2] << 16) + b[3] * 2 ** 24;
  }
  u64le() { const lo = this.u32le(); return lo + this.u32le() * 2 ** 32; }
  // vals: count, then per value a type code and payload -> "i32:5, f64:1.5"
  vals() {
    const n = this.uv();
    if (n === 0) return '';
    // one small i32 (fib(i32:3)): a cached string, no garbage per event
    if (n === 1 && this.b[this.p] === 0x7f) { this.p++; return i32Text(this.sv()); }
    let s = this.val();
    for (let i = 1; i < n; i++) s += ', ' + this.val();
    return intern(s);
  }
  val() {
    const code = this.u8();
    switch (code) {
      case 0x7f: return 'i32:' + this.sv();
      case 0x7e: return 'i64:' + this.svBig();
      case 0x7d: f32u[0] = this.u32le(); return 'f32:' + fmtFloat(f32[0], 9);
      case 0x7c: f64u[0] = this.u32le(); f64u[1] = this.u32le();
        return 'f64:' + fmtFloat(f64[0], 17);
      case 0x7b: {
        const b = this.bytes(16);
        let h = '';
        for (const x of b) h += x.toString(16).padStart(2, '0');
        return 'v128:' + h;
      }
      case 0x70: case 0x6f: {
        const id = this.uv();
        return (code === 0x70 ? 'funcref:' : 'externref:') + (id === 0 ? 'null' : id - 1);
      }
      default: throw new RangeError('unknown value type 0x' + code.toString(16));
    }
  }
}

// Argument lists repeat (fib(i32:3) a hundred thousand times): keep one
// string per distinct text, so that a long trace holds few live strings and
// the major GC stays short. Bounded: past the cap new texts are not kept.
const interned = new Map();
function intern(s) {
  const k = interned.get(s);
  if (k !== undefined) return k;
  if (interned.size < 200000) interned.set(s, s);
  return s;
}

const i32Small = [];
function i32Text(v) {
  if (v < -1024 || v >= 65536) return intern('i32:' + v);
  const k = v + 1024;
  return i32Small[k] || (i32Small[k] = 'i32:' + v);
}

function fmtFloat(x, digits) {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  return String(Number(x.toPrecision(digits)));
}

// Decode one binary frame into trace. Returns the number of events added;
// throws on a malformed frame (the caller reconnects from trace.nextSeq).
export function decodeFrame(ab, trace) {
  const buf = new Uint8Array(ab);
  if (buf.length < 16 || buf[0] !== 0x54 || buf[1] !== 0x52 || buf[2] !== 0x43 || buf[3] !== 0x42)
    throw new Error('not a TRCB frame');
  const r = new Reader(buf, 16);
  let nextSeq = 0, prevT = 0, prevOff = 0, n = 0;
  while (r.p < buf.length) {
    const type = r.u8();
    const seq = nextSeq + r.sv();
    const t = prevT + r.sv();
    let a = 0, b = 0, payload = null, count = 1;
    switch (type) {
      case T.run_start: {
        const runId = r.u64le(), wallNs = r.uv(), level = LEVELS[r.u8()] || '?';
        r.bytes(32);
        const module = r.str(), argc = r.uv(), nimports = r.uv();
        // Level lines only: the source file table steps index (protocol.md).
        const nfiles = level === 'lines' ? r.uv() : 0;
        const args = [], imports = [], files = [];
        for (let i = 0; i < argc; i++) args.push(r.str());
        for (let i = 0; i < nimports; i++) imports.push({ module: r.str(), name: r.str() });
        for (let i = 0; i < nfiles; i++) files.push(r.str());
        payload = { runId, wallNs, level, module, args, imports, files };
        break;
      }
      case T.call: case T.return: case T.host_call: case T.host_return:
        a = r.uv(); b = r.uv(); payload = r.vals();
        break;
      case T.op: {
        a = r.u8();
        if (a >= 0xfb && a <= 0xfe) a = a * 2 ** 24 + r.uv();
        b = prevOff + r.sv();
        prevOff = b;
        break;
      }
      case T.throw: a = r.uv(); payload = r.vals(); break;
      case T.trap: a = r.sv(); payload = r.str(); break;
      case T.output: a = r.uv(); payload = r.str(); break;
      case T.step: a = r.uv(); b = r.uv(); r.uv(); break;
      case T.loss: count = r.uv(); a = count; break;
      case T.run_end: {
        const status = STATUS_NAMES[r.u8()] || '?';
        const exitCode = r.sv(), results = r.vals();
        const c = {};
        for (const k of ['ops', 'calls', 'host_calls', 'max_depth', 'throws', 'traps']) c[k] = r.uv();
        payload = { status, exitCode, results, counters: c };
        break;
      }
      default: throw new Error('unknown event type ' + type);
    }
    trace.add(type, seq, t, a, b, payload);
    nextSeq = seq + count;
    prevT = t;
    n++;
  }
  return n;
}
