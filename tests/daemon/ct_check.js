// Check a CodeTracer trace directory against the format rules of
// docs/codetracer.md (the same rules as check_dir in
// tests/unit/protocol/test_codetracer.c): trace.json is valid JSON, an
// array of records with exactly one key each; Path, Function, Type and
// VariableName ids are declared before use; <toplevel> is function 0 and
// None type 0; floats are strings; every Call has its Return; Steps and
// Functions point at lines of the listing in files/; trace_metadata.json
// and trace_paths.json agree.
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

const s = {records: 0, paths: 0, functions: 0, types: 0, vars: 0, calls: 0,
           returns: 0, steps: 0, events: 0, values: 0, error_returns: 0};
let nlines = 0, depth = 0;
const isInt = (x) => Number.isInteger(x);

function checkValue(v, where) {
    if (!v || typeof v.kind !== 'string') fail(`${where}: value without kind`);
    if (!isInt(v.type_id) || v.type_id >= s.types)
        fail(`${where}: value of kind ${v.kind} has an undeclared type`);
    switch (v.kind) {
    case 'Int': if (!isInt(v.i)) fail(`${where}: Int without i`); break;
    case 'Float': if (typeof v.f !== 'string') fail(`${where}: floats are strings`); break;
    case 'Raw': if (typeof v.r !== 'string') fail(`${where}: Raw without r`); break;
    case 'Error': if (typeof v.msg !== 'string') fail(`${where}: Error without msg`); break;
    case 'Tuple':
        if (!Array.isArray(v.elements)) fail(`${where}: Tuple without elements`);
        v.elements.forEach((e) => checkValue(e, where));
        break;
    case 'None': break;
    default: fail(`${where}: unknown value kind ${v.kind}`);
    }
}
function checkLine(line, where) {
    if (!isInt(line) || line < 1 || line > nlines)
        fail(`${where}: line ${line} is not in the listing (${nlines} lines)`);
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
            nlines = fs.readFileSync(local, 'utf8').split('\n').length;
            if (paths[0] !== v) fail('trace_paths.json[0] is not the first Path');
        }
        s.paths++;
        break;
    }
    case 'Function':
        if (!isInt(v.path_id) || v.path_id >= s.paths) fail(`${where}: bad path_id`);
        checkLine(v.line, where);
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
        checkLine(v.line, where);
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
