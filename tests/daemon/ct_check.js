// Check a CodeTracer trace directory against the format rules of
// docs/codetracer.md (the same rules as check_dir in
// tests/unit/protocol/test_codetracer.c): trace.json is valid JSON, an
// array of records with exactly one key each; Path, Function, Type and
// VariableName ids are declared before use; <toplevel> is function 0 and
// None type 0; floats are strings; every Call has its Return; Steps and
// Functions point at lines of the file their path names: the listing
// (Path 0, files/NAME.wat) or, for a module with DWARF, a source copied to
// files/ + its path (docs/codetracer.md, "Sources"), unless
// trace_metadata.json lists it in missing_sources; trace_paths.json lists
// the Paths in order.
//
// Usage: node ct_check.js DIR   prints {"calls":N,"returns":N,...} and
// exits 0, or prints the first violation and exits 1.
'use strict';
const fs = require('fs');
const path = require('path');

const dir = process.argv[2];
function fail(msg) {
    console.log(`ct_check ${dir}: ${msg}`);
    process.exit(1);
}
function load(name) {
    let text;
    try {
        text = fs.readFileSync(path.join(dir, name), 'utf8');
    } catch (e) {
        fail(`${name}: ${e.message}`);
    }
    try {
        return JSON.parse(text);
    } catch (e) {
        fail(`${name} is not valid JSON: ${e.message}`);
    }
}

const records = load('trace.json');
const meta = load('trace_metadata.json');
const paths = load('trace_paths.json');
if (!Array.isArray(records)) fail('trace.json is not an array');
if (typeof meta.program !== 'string' || typeof meta.workdir !== 'string' ||
    !Array.isArray(meta.args))
    fail('trace_metadata.json lacks program, workdir or args');
if (!Array.isArray(paths)) fail('trace_paths.json is not an array');

const missing = new Set(meta.missing_sources || []);
const s = {records: 0, paths: 0, functions: 0, types: 0, vars: 0, calls: 0,
           returns: 0, steps: 0, events: 0, values: 0, error_returns: 0,
           sources: 0, missing: 0};
const nlines = []; // by path id; null: a missing source (lines unchecked)
let depth = 0;
const countLines = (file) => fs.readFileSync(file, 'utf8').split('\n').length;
// Where the writer copies a source: files/ + its components, "" and "."
// dropped and ".." spelled "__".
const mirror = (p) => path.join(dir, 'files', ...p.split('/')
    .filter((c) => c !== '' && c !== '.').map((c) => (c === '..' ? '__' : c)));
const isInt = (x) => Number.isInteger(x);

function checkValue(v, where) {
    if (!v || typeof v.kind !== 'string') fail(`${where}: value without kind`);
    if (!isInt(v.type_id) || v.type_id >= s.types)
        fail(`${where}: value of kind ${v.kind} has an undeclared type`);
    switch (v.kind) {
    case 'Int': if (!isInt(v.i)) fail(`${where}: Int without i`); break;
    case 'Float': if (typeof v.f !== 'string') fail(`${where}: floats are strings`); break;
    case 'Raw': if (typeof v.r !== 'string') fail(`${where}: Raw without r`); break;
    case 'Bool': if (typeof v.b !== 'boolean') fail(`${where}: Bool without b`); break;
    case 'String': if (typeof v.text !== 'string') fail(`${where}: String without text`); break;
    case 'Error': if (typeof v.msg !== 'string') fail(`${where}: Error without msg`); break;
    case 'Tuple':
        if (!Array.isArray(v.elements)) fail(`${where}: Tuple without elements`);
        v.elements.forEach((e) => checkValue(e, where));
        break;
    case 'None': break;
    default: fail(`${where}: unknown value kind ${v.kind}`);
    }
}
function checkLine(pathId, line, where) {
    if (!isInt(line) || line < 1) fail(`${where}: line ${line}`);
    const n = nlines[pathId];
    if (n !== null && line > n)
        fail(`${where}: line ${line} is not in path ${pathId} (${n} lines)`);
}

records.forEach((rec, i) => {
    const where = `record ${i}`;
    if (rec === null || typeof rec !== 'object' || Array.isArray(rec) ||
        Object.keys(rec).length !== 1)
        fail(`${where} does not have exactly one key`);
    const key = Object.keys(rec)[0], v = rec[key];
    s.records++;
    switch (key) {
    case 'Path': {
        if (typeof v !== 'string') fail(`${where}: Path is not a string`);
        if (s.paths === 0) {
            // The listing: the daemon's absolute path; this copy of it is
            // files/<its name> wherever the directory now is.
            const local = path.join(dir, 'files', path.basename(v));
            if (path.basename(path.dirname(v)) !== 'files' || !fs.existsSync(local))
                fail(`${where}: Path ${v} has no file in files/`);
            nlines.push(countLines(local));
        } else if (fs.existsSync(mirror(v))) {
            nlines.push(countLines(mirror(v)));
            s.sources++;
        } else if (missing.has(v)) {
            nlines.push(null);
            s.missing++;
        } else {
            fail(`${where}: Path ${v} has no copy in files/ and is not in missing_sources`);
        }
        if (paths[s.paths] !== v) fail(`trace_paths.json[${s.paths}] is not Path ${s.paths}`);
        s.paths++;
        break;
    }
    case 'Function':
        if (!isInt(v.path_id) || v.path_id >= s.paths) fail(`${where}: bad path_id`);
        checkLine(v.path_id, v.line, where);
        if (typeof v.name !== 'string') fail(`${where}: Function without name`);
        if (s.functions === 0 && v.name !== '<toplevel>')
            fail('function 0 is not <toplevel>');
        s.functions++;
        break;
    case 'Type':
        if (!isInt(v.kind) || typeof v.lang_type !== 'string' ||
            typeof v.specific_info !== 'object')
            fail(`${where}: bad Type`);
        if (s.types === 0 && (v.lang_type !== 'None' || v.kind !== 30))
            fail('type 0 is not None');
        s.types++;
        break;
    case 'VariableName':
        if (typeof v !== 'string') fail(`${where}: bad VariableName`);
        s.vars++;
        break;
    case 'Value':
        if (!isInt(v.variable_id) || v.variable_id >= s.vars)
            fail(`${where}: undeclared variable`);
        checkValue(v.value, where);
        s.values++;
        break;
    case 'Call':
        if (!isInt(v.function_id) || v.function_id >= s.functions)
            fail(`${where}: undeclared function`);
        if (!Array.isArray(v.args)) fail(`${where}: Call without args`);
        v.args.forEach((a) => {
            if (!isInt(a.variable_id) || a.variable_id >= s.vars)
                fail(`${where}: undeclared argument variable`);
            checkValue(a.value, where);
        });
        s.calls++;
        depth++;
        break;
    case 'Return':
        if (depth === 0) fail(`${where}: Return without Call`);
        depth--;
        checkValue(v.return_value, where);
        if (v.return_value.kind === 'Error') s.error_returns++;
        s.returns++;
        break;
    case 'Step':
        if (!isInt(v.path_id) || v.path_id >= s.paths) fail(`${where}: bad path_id`);
        checkLine(v.path_id, v.line, where);
        s.steps++;
        break;
    case 'Event':
        if (!isInt(v.kind) || typeof v.metadata !== 'string' ||
            typeof v.content !== 'string')
            fail(`${where}: bad Event`);
        s.events++;
        break;
    default:
        fail(`${where}: unexpected record ${key}`);
    }
});
if (depth !== 0) fail(`${depth} Calls without a Return`);
if (paths.length !== s.paths) fail('trace_paths.json does not list every Path');
if (s.records === 0) fail('no records');
console.log(JSON.stringify(s));
