// Compare a CodeTracer directory written from a `lines` recording of a
// module with DWARF with the recording itself (tests/lines/run.sh):
//
//   node ct_lines.js CTDIR STREAM.jsonl [TREE]
//
// STREAM.jsonl is the stream as `tracectl tail --format jsonl` prints it.
// Checks, on top of tests/daemon/ct_check.js's format rules:
//   - the source Steps (every Step of a source path except a call's entry
//     Step, the one right before its Call) are the stream's step events,
//     in order, at (run_start's path of the step's file, line);
//   - each stdout/stderr Event has the stream's output text and comes after
//     the Step of the step event that preceded the output in the stream;
//   - one Call per call and host call, plus <toplevel>;
//   - every source path that can be read here has a byte-equal copy at
//     files/ + its path, and the paths that steps name are not missing.
// With TREE, also writes the call tree: each Call with its Function's
// place and its typed arguments, and its Return's value, one per line
// (run.sh compares it with the hand-checked .ct files).
//
// Prints "ok: N steps, N outputs, N calls" and exits 0, or the first
// difference and exits 1.
'use strict';
const fs = require('fs');
const path = require('path');

const [ctdir, jsonl, treeOut] = process.argv.slice(2);
function fail(msg) {
    console.log(`ct_lines ${ctdir}: ${msg}`);
    process.exit(1);
}

const recs = JSON.parse(fs.readFileSync(path.join(ctdir, 'trace.json'), 'utf8'));
const meta = JSON.parse(fs.readFileSync(path.join(ctdir, 'trace_metadata.json'), 'utf8'));
const stream = fs.readFileSync(jsonl, 'utf8').split('\n').filter((l) => l)
    .map((l) => JSON.parse(l));
const missing = new Set(meta.missing_sources || []);

const key = (r) => Object.keys(r)[0];
const paths = [], functions = [], types = [], vars = [];
for (const r of recs) {
    const k = key(r), v = r[k];
    if (k === 'Path') paths.push(v);
    else if (k === 'Function') functions.push(v);
    else if (k === 'Type') types.push(v);
    else if (k === 'VariableName') vars.push(v);
}

// The stream's steps and outputs; an output remembers the step before it.
const runStart = stream.find((e) => e.type === 'run_start');
if (!runStart || !Array.isArray(runStart.files)) fail('no run_start file table');
const want = [], wantOut = [];
let calls = 0, last = null;
for (const e of stream) {
    if (e.type === 'step') {
        last = `${runStart.files[e.file]}:${e.line}`;
        want.push(last);
    } else if (e.type === 'output') {
        wantOut.push({after: last, text: e.text, fd: e.fd});
    } else if (e.type === 'call' || e.type === 'host_call') {
        calls++;
    }
}

// The same from the CodeTracer records.
const got = [], gotOut = [];
let gotCalls = 0;
last = null;
recs.forEach((r, i) => {
    const k = key(r), v = r[k];
    if (k === 'Step' && v.path_id > 0 &&
        !(i + 1 < recs.length && key(recs[i + 1]) === 'Call')) {
        last = `${paths[v.path_id]}:${v.line}`;
        got.push(last);
    } else if (k === 'Event' && v.kind === 0) {
        gotOut.push({after: last, text: v.content,
                     fd: v.metadata === 'stderr' ? 2 : 1});
    } else if (k === 'Call') {
        gotCalls++;
    }
});

for (let i = 0; i < Math.max(want.length, got.length); i++)
    if (want[i] !== got[i])
        fail(`source step ${i}: stream ${want[i]}, CodeTracer ${got[i]}`);
if (wantOut.length !== gotOut.length)
    fail(`${wantOut.length} outputs in the stream, ${gotOut.length} Events`);
wantOut.forEach((o, i) => {
    const g = gotOut[i];
    if (g.text !== o.text || g.fd !== o.fd)
        fail(`output ${i}: ${JSON.stringify(g.text)}, want ${JSON.stringify(o.text)}`);
    if (g.after !== o.after)
        fail(`output ${i} comes after step ${g.after}, want ${o.after}`);
});
if (gotCalls !== calls + 1)
    fail(`${gotCalls} Calls for ${calls} calls and host calls (+ <toplevel>)`);

// Sources: copies of what can be read here; the stepped files present.
const mirror = (p) => path.join(ctdir, 'files', ...p.split('/')
    .filter((c) => c !== '' && c !== '.').map((c) => (c === '..' ? '__' : c)));
const stepped = new Set(got.map((s) => s.replace(/:\d+$/, '')));
paths.forEach((p, id) => {
    if (id === 0) return;
    let orig = null;
    try {
        if (path.isAbsolute(p)) orig = fs.readFileSync(p);
    } catch (e) { /* not here: must be listed as missing */ }
    if (orig === null) {
        if (!missing.has(p)) fail(`${p} cannot be read and is not missing_sources`);
        if (stepped.has(p) && path.basename(p) === 'lines.c')
            fail(`${p} is stepped into but missing`);
        return;
    }
    if (missing.has(p)) fail(`${p} is readable but listed as missing`);
    let copy;
    try {
        copy = fs.readFileSync(mirror(p));
    } catch (e) {
        fail(`no copy of ${p} in files/`);
    }
    if (!copy.equals(orig)) fail(`files/ copy of ${p} differs from it`);
});

// The call tree with typed values.
function value(v) {
    const t = types[v.type_id];
    const tn = t ? ` <${t.lang_type}>` : '';
    switch (v.kind) {
    case 'Int': return `Int ${v.i}${tn}`;
    case 'Float': return `Float ${JSON.stringify(v.f)}${tn}`;
    case 'Bool': return `Bool ${v.b}${tn}`;
    case 'String': return `String ${JSON.stringify(v.text)}${tn}`;
    case 'Raw': return `Raw ${JSON.stringify(v.r)}${tn}`;
    case 'Error': return `Error ${JSON.stringify(v.msg)}`;
    case 'None': return 'None';
    default: return `${v.kind}${tn}`;
    }
}
if (treeOut) {
    const out = [];
    let depth = 0;
    for (const r of recs) {
        const k = key(r), v = r[k];
        const pad = '  '.repeat(depth);
        if (k === 'Call') {
            const f = functions[v.function_id];
            const args = v.args.map((a) => `${vars[a.variable_id]}=${value(a.value)}`);
            const where = v.function_id === 0 ? ''
                : ` @${path.basename(paths[f.path_id])}:${f.line}`;
            out.push(`${pad}${f.name}(${args.join(', ')})${where} {`);
            depth++;
        } else if (k === 'Return') {
            depth--;
            out.push(`${'  '.repeat(depth)}} = ${value(v.return_value)}`);
        }
    }
    fs.writeFileSync(treeOut, out.join('\n') + '\n');
}
console.log(`ok: ${got.length} steps, ${gotOut.length} outputs, ${gotCalls} calls`);
