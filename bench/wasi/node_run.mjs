// Run a WASI preview1 command under Node's WASI (V8: a JIT, not an
// interpreter), as the peer of `traced run` in scripts/bench-wasi.sh:
//
//   node --no-warnings bench/wasi/node_run.mjs FILE.wasm [ARGS...]
//
// No preopened directories and an empty environment (the kernels need
// neither); stdio is the process's. Exits with the program's exit code.
import { readFile } from 'node:fs/promises';
import process from 'node:process';
import { WASI } from 'node:wasi';

const [file, ...args] = process.argv.slice(2);
if (!file) {
    process.stderr.write('usage: node_run.mjs FILE.wasm [ARGS...]\n');
    process.exit(2);
}
const wasi = new WASI({
    version: 'preview1',
    args: [file, ...args],
    env: {},
    preopens: {},
    returnOnExit: true,
});
const module = await WebAssembly.compile(await readFile(file));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
process.exitCode = wasi.start(instance);
