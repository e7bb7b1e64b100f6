/*
 * traced: the command. Subcommands are a table; `run` loads a module,
 * instantiates it and calls one export, or with no --invoke runs it as a
 * WASI command (_start, wasi_snapshot_preview1). The daemon joins the
 * table later.
 *
 * Exit status of a WASI command: the program's proc_exit code (0 when
 * _start returns; the OS keeps the low 8 bits); EXIT_WASI_TRAP (70,
 * EX_SOFTWARE) when it traps, runs out of fuel or is cancelled, with the
 * message on stderr; 1 when it cannot be loaded or linked; 2 usage.
 *
 * Exit status with --invoke: 0 success; 1 the module failed (unreadable, malformed,
 * invalid, unlinkable, trapped, out of fuel); 2 usage error.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <traced/vm.h>
#include <traced/wasi.h>

#include "cli_values.h"
#include "debuginfo.h"
#include "dmn.h"
#include "export.h"
#include "lines.h"
#include "record.h"

#ifndef TRACED_VERSION
#define TRACED_VERSION "0.0.0"
#endif

#define EXIT_USAGE 2
#define EXIT_WASI_TRAP 70 /* EX_SOFTWARE: the WASI program trapped */

typedef struct subcommand {
    const char *name;
    int (*main)(int argc, char **argv); /* argv[0] is the subcommand */
    const char *synopsis;
    const char *summary;
} subcommand;

static int cmd_run(int argc, char **argv);

static const subcommand subcommands[] = {
    {"run", cmd_run,
     "run [--fuel N] [--max-pages N] [--max-depth N] [TRACING] FILE.wasm "
     "--invoke NAME [ARG...]\n"
     "  traced run [--fuel N] [--dir HOST[:GUEST]]... [--env K=V]... "
     "FILE.wasm [-- ARG...]",
     "call an exported function and print its results; without --invoke,\n"
     "      run a WASI command (its _start) with ARGs as its arguments"},
    {"serve", dmn_serve_main,
     "[serve] [--listen HOST:PORT] [--data DIR] [--token T] ...",
     "start the daemon (the default without a command; traced serve\n"
     "      --help lists its options, docs/daemon.md describes it)"},
    {"export", dmn_export_main,
     "export STREAM --codetracer DIR --module FILE.wasm",
     "convert a native trace file into a CodeTracer trace directory\n"
     "      (traced export --help; docs/codetracer.md)"},
    {"debuginfo", dmn_debuginfo_main, "debuginfo [--lines|--funcs|...] FILE.wasm",
     "print a module's DWARF debug info (docs/vm.md, \"Debug info\")"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: traced COMMAND [ARGS...]\n"
               "       traced --help | --version\n\ncommands:\n");
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
        fprintf(f, "  traced %s\n      %s\n", subcommands[i].synopsis,
                subcommands[i].summary);
    fprintf(f,
            "\nrun:\n"
            "  ARGs are parsed by the function's parameter types: 30, -1,\n"
            "  0x10, 1.5, inf, nan:0x200000, or typed as i32:30. Each result\n"
            "  is printed as TYPE:VALUE on its own line, as wabt prints it.\n"
            "  --fuel N       stop after about N instructions (default: no "
            "limit)\n"
            "  --max-pages N  cap any memory at N 64 KiB pages\n"
            "  --max-depth N  cap the call depth at N frames\n"
            "  --trace        count ops, calls, host calls, depth, throws and\n"
            "                 traps; print them to stderr (docs/vm.md, "
            "\"Tracing\")\n"
            "  --trace-dir DIR  record the run into DIR (stream.trace + .idx)\n"
            "  --level calls|ops|lines  what --trace-dir records (default\n"
            "                 calls; lines needs DWARF: a module built with -g);\n"
            "                 with --trace, lines counts steps instead of ops\n"
            "  --codetracer   with --trace-dir, also DIR/codetracer, live\n"
            "  --sources DIR  with --codetracer, look for the sources the\n"
            "                 DWARF names in DIR first (by path suffix)\n"
            "  --dir HOST[:GUEST]  (WASI) preopen directory HOST, seen by the\n"
            "                 program as GUEST (default HOST); nothing else of\n"
            "                 the file system is reachable\n"
            "  --env K=V      (WASI) an environment variable (none by default)\n"
            "\nexit status: with --invoke 0 ok, 1 the module failed or trapped;\n"
            "a WASI command's exit code, %d when it trapped, 1 when it could\n"
            "not be loaded or linked; 2 usage\n", EXIT_WASI_TRAP);
}

/* ---- run ------------------------------------------------------------- */

#define MAX_WASI_ITEMS 256 /* --dir and --env, each */

typedef struct run_args {
    const char *path;
    const char *invoke;
    char **args; /* borrowed from argv: --invoke's, or after -- for WASI */
    int nargs;
    vm_store_limits limits;
    /* WASI mode (no --invoke); strings borrowed from argv, except that
     * preopen paths point into dir_specs, which main frees. */
    vm_wasi_preopen preopens[MAX_WASI_ITEMS];
    char *dir_specs[MAX_WASI_ITEMS];
    size_t npreopens;
    const char *env[MAX_WASI_ITEMS];
    size_t nenv;
    /* Tracing: --trace counts; --trace-dir records at level. */
    bool trace;
    const char *trace_dir;
    proto_level level;
    bool level_given;
    bool codetracer;
    const char *ct_sources; /* --sources */
} run_args;

static int parse_count(const char *opt, const char *s, uint64_t max,
                       uint64_t *out)
{
    char *end;

    errno = 0;
    if (s && *s >= '0' && *s <= '9') {
        *out = strtoull(s, &end, 10);
        if (!errno && !*end && *out <= max)
            return 0;
    }
    fprintf(stderr, "traced: %s needs a number up to %" PRIu64 ", not %s\n",
            opt, max, s ? s : "nothing");
    return -1;
}

static int parse_run_args(int argc, char **argv, run_args *ra)
{
    uint64_t n;

    memset(ra, 0, sizeof *ra);
    ra->level = PROTO_LEVEL_CALLS;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(a, "--invoke") == 0) {
            if (!v) {
                fprintf(stderr, "traced: --invoke needs a function name\n");
                return -1;
            }
            ra->invoke = v;
            /* Everything after the name is an argument, so that -1 is a
             * number and not an option. */
            ra->args = argv + i + 2;
            ra->nargs = argc - (i + 2);
            break;
        } else if (strcmp(a, "--fuel") == 0) {
            if (parse_count(a, v, UINT64_MAX, &n) < 0)
                return -1;
            ra->limits.fuel = n;
            i++;
        } else if (strcmp(a, "--max-pages") == 0) {
            if (parse_count(a, v, 65536, &n) < 0)
                return -1;
            ra->limits.max_memory_pages = (uint32_t)n;
            i++;
        } else if (strcmp(a, "--max-depth") == 0) {
            if (parse_count(a, v, UINT32_MAX, &n) < 0)
                return -1;
            ra->limits.max_call_depth = (uint32_t)n;
            i++;
        } else if (strcmp(a, "--dir") == 0) {
            char *spec, *colon;

            if (!v || !*v || ra->npreopens == MAX_WASI_ITEMS) {
                fprintf(stderr, "traced: --dir needs HOST[:GUEST] (at most "
                                "%d)\n", MAX_WASI_ITEMS);
                return -1;
            }
            spec = strdup(v);
            if (!spec) {
                fprintf(stderr, "traced: out of memory\n");
                return -1;
            }
            ra->dir_specs[ra->npreopens] = spec;
            colon = strchr(spec, ':');
            if (colon)
                *colon = '\0';
            ra->preopens[ra->npreopens].host_path = spec;
            ra->preopens[ra->npreopens].guest_path =
                colon && colon[1] ? colon + 1 : spec;
            ra->npreopens++;
            i++;
        } else if (strcmp(a, "--trace") == 0) {
            ra->trace = true;
        } else if (strcmp(a, "--trace-dir") == 0) {
            if (!v || !*v) {
                fprintf(stderr, "traced: --trace-dir needs a directory\n");
                return -1;
            }
            ra->trace_dir = v;
            i++;
        } else if (strcmp(a, "--level") == 0) {
            if (v && strcmp(v, "calls") == 0) {
                ra->level = PROTO_LEVEL_CALLS;
            } else if (v && strcmp(v, "ops") == 0) {
                ra->level = PROTO_LEVEL_OPS;
            } else if (v && strcmp(v, "lines") == 0) {
                ra->level = PROTO_LEVEL_LINES;
            } else {
                fprintf(stderr, "traced: --level is calls, ops or lines\n");
                return -1;
            }
            ra->level_given = true;
            i++;
        } else if (strcmp(a, "--codetracer") == 0) {
            ra->codetracer = true;
        } else if (strcmp(a, "--sources") == 0) {
            if (!v || !*v) {
                fprintf(stderr, "traced: --sources needs a directory\n");
                return -1;
            }
            ra->ct_sources = v;
            i++;
        } else if (strcmp(a, "--env") == 0) {
            if (!v || !strchr(v, '=') || ra->nenv == MAX_WASI_ITEMS) {
                fprintf(stderr, "traced: --env needs K=V (at most %d)\n",
                        MAX_WASI_ITEMS);
                return -1;
            }
            ra->env[ra->nenv++] = v;
            i++;
        } else if (strcmp(a, "--") == 0) {
            /* The WASI program's own arguments. */
            ra->args = argv + i + 1;
            ra->nargs = argc - (i + 1);
            break;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "traced: run: unknown option %s\n", a);
            return -1;
        } else if (!ra->path) {
            ra->path = a;
        } else {
            fprintf(stderr, "traced: run: unexpected argument %s (arguments "
                            "go after --invoke NAME, or after -- for a "
                            "WASI command)\n", a);
            return -1;
        }
    }
    if (!ra->path) {
        fprintf(stderr, "traced: run: usage: traced %s\n",
                subcommands[0].synopsis);
        return -1;
    }
    if (ra->trace && ra->trace_dir) {
        fprintf(stderr, "traced: run: --trace and --trace-dir do not "
                        "combine\n");
        return -1;
    }
    if (ra->codetracer && !ra->trace_dir) {
        fprintf(stderr, "traced: run: --codetracer needs --trace-dir\n");
        return -1;
    }
    if (ra->ct_sources && !ra->codetracer) {
        fprintf(stderr, "traced: run: --sources needs --codetracer\n");
        return -1;
    }
    if (ra->invoke && (ra->npreopens || ra->nenv)) {
        fprintf(stderr, "traced: run: --dir and --env are for WASI commands "
                        "(without --invoke)\n");
        return -1;
    }
    return 0;
}


static const char *kind_name(vm_extern_kind k)
{
    static const char *const names[] = {"function", "table", "memory",
                                        "global", "tag"};

    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "?";
}

/* "(i32, f64)" */
static void format_types(char *buf, size_t len, const uint8_t *types,
                         uint32_t n)
{
    size_t used = (size_t)snprintf(buf, len, "(");

    for (uint32_t i = 0; i < n && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s",
                                 i ? ", " : "",
                                 vm_valtype_name((vm_valtype)types[i]));
    if (used < len)
        snprintf(buf + used, len - used, ")");
}

/* The failure message of a call or instantiation. */
static void report_failure(const run_args *ra, int rc, const char *msg)
{
    const char *text = msg && *msg ? msg : vm_strerror(rc);

    if (vm_err_is_trap(rc))
        fprintf(stderr, "traced: trap: %s\n", text);
    else if (rc == VM_ERR_FUEL)
        fprintf(stderr, "traced: fuel exhausted (--fuel %" PRIu64 ")\n",
                ra->limits.fuel);
    else
        fprintf(stderr, "traced: %s: %s\n", ra->path, text);
}

static void free_run_args(run_args *ra)
{
    for (size_t i = 0; i < ra->npreopens; i++)
        free(ra->dir_specs[i]);
    ra->npreopens = 0;
}

/* ---- tracing --------------------------------------------------------- */

/*
 * The run's tracing, whichever was asked: the counting tracer (--trace)
 * or a recording (--trace-dir). tracer is what the VM calls get (NULL
 * when neither).
 */
typedef struct run_trace {
    const vm_tracer *tracer;
    vm_tracer counting;
    vm_trace_counts counts;
    dmn_recording *rec;
    dmn_lines lines; /* level lines: the module's step points */
    bool have_lines;
} run_trace;

static void trace_lines_close(run_trace *rt)
{
    if (rt->have_lines)
        dmn_lines_close(&rt->lines);
    rt->have_lines = false;
}

static int trace_begin(run_trace *rt, const run_args *ra,
                       vm_module *module, const uint8_t *bytes,
                       size_t len)
{
    proto_run_start rs = {0};
    dmn_recording_opts o = {0};
    const char *base = strrchr(ra->path, '/');
    char err[512] = "";
    int rc;

    memset(rt, 0, sizeof *rt);
    if ((ra->trace || ra->trace_dir) && ra->level == PROTO_LEVEL_LINES) {
        if (dmn_lines_init(&rt->lines, module, err, sizeof err) != 0) {
            fprintf(stderr, "traced: %s: %s\n", ra->path, err);
            return -1;
        }
        rt->have_lines = true;
    }
    if (ra->trace) {
        /* Ops by default; --level lines counts steps instead (and
         * --level calls neither). */
        vm_trace_counts_init(&rt->counting, &rt->counts,
                             !ra->level_given || ra->level == PROTO_LEVEL_OPS);
        if (rt->have_lines)
            vm_trace_counts_with_steps(&rt->counting, &rt->counts);
        rt->tracer = &rt->counting;
    }
    if (!ra->trace_dir)
        return 0;
    if (dmn_run_start_lists(&rs, ra->path, ra->args, (uint32_t)ra->nargs,
                            module) != 0) {
        fprintf(stderr, "traced: out of memory\n");
        trace_lines_close(rt);
        return -1;
    }
    if (rt->have_lines)
        dmn_lines_run_start(&rt->lines, &rs);
    rs.run_id = 1;
    rs.wall_ns = dmn_wall_ns();
    rs.level = ra->level;
    rs.module.ptr = base ? base + 1 : ra->path;
    rs.module.len = (uint32_t)strlen(rs.module.ptr);
    proto_sha256(bytes, len, rs.hash);
    o.dir = ra->trace_dir;
    o.run_start = &rs;
    o.codetracer = ra->codetracer;
    o.ct_sources = ra->ct_sources;
    o.module = module;
    o.lines = rt->have_lines ? &rt->lines : NULL;
    rc = dmn_recording_start(&o, &rt->rec, err, sizeof err);
    dmn_run_start_lists_free(&rs);
    if (rc) {
        fprintf(stderr, "traced: --trace-dir: %s\n", err);
        trace_lines_close(rt);
        return -1;
    }
    rt->tracer = dmn_recording_tracer(rt->rec);
    return 0;
}

/* WASI output, recorded as output events (and still written out). */
static void trace_output(void *user, int stream, const uint8_t *bytes,
                         size_t len)
{
    dmn_tracer_output(user, (uint32_t)stream, bytes, len);
}

/* End the run's tracing: print the counts, or finish the recording.
 * Returns -1 when the recording could not be written. */
static int trace_end(run_trace *rt, int rc, const char *msg,
                     int32_t exit_code, const vm_val *results,
                     uint32_t nresults)
{
    char line[256], err[512] = "";
    proto_val pv[16];
    uint32_t n = nresults < 16 ? nresults : 16;
    int written;

    if (rt->tracer == &rt->counting) {
        vm_trace_counts_format(&rt->counts, line, sizeof line);
        fprintf(stderr, "%s\n", line);
    }
    if (!rt->rec) {
        trace_lines_close(rt);
        return 0;
    }
    for (uint32_t i = 0; i < n; i++)
        pv[i] = proto_val_from_vm(&results[i]);
    written = dmn_recording_finish(rt->rec, rc, msg,
                                   dmn_status_of(rc, exit_code), exit_code,
                                   pv, rc ? 0 : n, err, sizeof err);
    trace_lines_close(rt);
    if (written != 0) {
        fprintf(stderr, "traced: --trace-dir: %s\n", err);
        return -1;
    }
    return 0;
}

/*
 * Run a WASI command: the guest gets FILE as argv[0], the ARGs after --,
 * the --env variables, the --dir preopens and our stdio. Returns the exit
 * status (see the top of the file).
 */
static int run_wasi(const run_args *ra, const vm_module *module,
                    run_trace *rt)
{
    const char **gargv;
    vm_wasi_config cfg;
    vm_store *store = NULL;
    vm_wasi *wasi = NULL;
    char err[512] = "";
    int32_t code = 0;
    int rc, status = 1;

    gargv = calloc((size_t)ra->nargs + 2, sizeof *gargv);
    if (!gargv) {
        fprintf(stderr, "traced: out of memory\n");
        return 1;
    }
    gargv[0] = ra->path;
    for (int i = 0; i < ra->nargs; i++)
        gargv[i + 1] = ra->args[i];
    /* A closed stdout is errno `pipe` for the guest, not our death. */
    signal(SIGPIPE, SIG_IGN);
    if ((rc = vm_store_new(&ra->limits, &store))) {
        fprintf(stderr, "traced: cannot create a store: %s\n",
                vm_strerror(rc));
        goto fail_store;
    }
    vm_wasi_config_default(&cfg);
    cfg.argv = gargv;
    cfg.argc = (size_t)ra->nargs + 1;
    cfg.envp = ra->env;
    cfg.envc = ra->nenv;
    cfg.preopens = ra->preopens;
    cfg.npreopens = ra->npreopens;
    if (rt->rec) {
        cfg.on_output = trace_output;
        cfg.user = dmn_recording_producer(rt->rec);
    }
    if ((rc = vm_wasi_new(store, &cfg, &wasi, err, sizeof err))) {
        fprintf(stderr, "traced: %s\n", err);
        goto fail_wasi;
    }
    rc = vm_wasi_run_start_traced(wasi, module, &code, NULL, rt->tracer, err,
                                  sizeof err);
    if (trace_end(rt, rc, err, rc ? 0 : code, NULL, 0) != 0 && rc == 0)
        code = 1;
    rt->rec = NULL;
    rt->tracer = NULL;
    if (rc == 0) {
        status = (int)((uint32_t)code & 0xff);
    } else if (vm_err_is_trap(rc) || rc == VM_ERR_FUEL ||
               rc == VM_ERR_CANCELLED || rc == VM_ERR_EXCEPTION) {
        report_failure(ra, rc, err);
        status = EXIT_WASI_TRAP;
    } else {
        fprintf(stderr, "traced: %s: %s\n", ra->path,
                *err ? err : vm_strerror(rc));
    }
    vm_wasi_free(wasi);
fail_wasi:
    vm_store_free(store);
fail_store:
    if (rt->tracer) /* never started: end the recording all the same */
        trace_end(rt, rc ? rc : VM_ERR_ARG, NULL, 0, NULL, 0);
    free(gargv);
    return status;
}

static int cmd_run(int argc, char **argv)
{
    run_args ra;
    uint8_t *bytes = NULL;
    size_t len = 0;
    char err[512] = "";
    vm_module *module = NULL;
    vm_store *store = NULL;
    vm_instance *inst;
    vm_extern ext;
    vm_functype_view ft;
    vm_val *args = NULL, *results = NULL;
    run_trace rt;
    bool trace_failed = false;
    int rc, status = 1;

    memset(&rt, 0, sizeof rt);
    if (parse_run_args(argc, argv, &ra) < 0) {
        free_run_args(&ra);
        return EXIT_USAGE;
    }

    if (cli_read_file(ra.path, &bytes, &len) < 0) {
        fprintf(stderr, "traced: cannot read %s: %s\n", ra.path,
                strerror(errno));
        free_run_args(&ra);
        return 1;
    }
    rc = vm_module_new(bytes, len, NULL, &module, err, sizeof err);
    if (rc) {
        free(bytes);
        fprintf(stderr, "traced: %s: %s: %s\n", ra.path, vm_strerror(rc),
                *err ? err : vm_err_name(rc));
        free_run_args(&ra);
        return 1;
    }
    rc = trace_begin(&rt, &ra, module, bytes, len);
    free(bytes);
    if (rc) {
        vm_module_free(module);
        free_run_args(&ra);
        return 1;
    }
    if (!ra.invoke) {
        status = run_wasi(&ra, module, &rt);
        goto fail_module;
    }
    if (vm_module_import_count(module) > 0) {
        vm_extern_desc d;

        if (vm_module_import(module, 0, &d) == 0)
            fprintf(stderr,
                    "traced: %s: unresolved import \"%s\" \"%s\" (%s); "
                    "traced run provides no imports yet\n",
                    ra.path, d.module, d.name, kind_name(d.kind));
        else
            fprintf(stderr, "traced: %s: the module has imports; traced run "
                            "provides none yet\n", ra.path);
        goto fail_module;
    }
    if ((rc = vm_store_new(&ra.limits, &store))) {
        fprintf(stderr, "traced: cannot create a store: %s\n",
                vm_strerror(rc));
        goto fail_module;
    }
    if ((rc = vm_instance_new_traced(store, module, NULL, 0, rt.tracer, &inst,
                                     err, sizeof err))) {
        report_failure(&ra, rc, err);
        goto fail_store;
    }
    if (vm_instance_export(inst, ra.invoke, &ext) != 0) {
        fprintf(stderr, "traced: %s: no export named \"%s\"\n", ra.path,
                ra.invoke);
        goto fail_store;
    }
    if (ext.kind != VM_EXTERN_FUNC) {
        fprintf(stderr, "traced: %s: export \"%s\" is a %s, not a function\n",
                ra.path, ra.invoke, kind_name(ext.kind));
        goto fail_store;
    }
    if ((rc = vm_func_type(ext.of.func, &ft))) {
        fprintf(stderr, "traced: %s: %s\n", ra.invoke, vm_strerror(rc));
        goto fail_store;
    }
    if ((uint32_t)ra.nargs != ft.nparams) {
        char types[256];

        format_types(types, sizeof types, ft.params, ft.nparams);
        fprintf(stderr, "traced: %s takes %" PRIu32 " argument%s %s, got %d\n",
                ra.invoke, ft.nparams, ft.nparams == 1 ? "" : "s", types,
                ra.nargs);
        status = EXIT_USAGE;
        goto fail_store;
    }
    args = calloc(ft.nparams ? ft.nparams : 1, sizeof *args);
    results = calloc(ft.nresults ? ft.nresults : 1, sizeof *results);
    if (!args || !results) {
        fprintf(stderr, "traced: out of memory\n");
        goto fail_vals;
    }
    for (uint32_t i = 0; i < ft.nparams; i++) {
        if (cli_value_parse(ra.args[i], (vm_valtype)ft.params[i], &args[i],
                            err, sizeof err)) {
            fprintf(stderr, "traced: %s argument %" PRIu32 ": %s\n",
                    ra.invoke, i + 1, err);
            status = EXIT_USAGE;
            goto fail_vals;
        }
    }
    err[0] = '\0';
    rc = vm_func_call_traced(store, ext.of.func, args, ft.nparams, results,
                             ft.nresults, rt.tracer, err, sizeof err);
    trace_failed = trace_end(&rt, rc, err,
                             rc == VM_ERR_EXIT ? vm_store_exit_code(store)
                                               : 0,
                             results, ft.nresults) != 0;
    rt.tracer = NULL;
    rt.rec = NULL;
    if (rc == VM_ERR_EXIT) {
        status = vm_store_exit_code(store);
        goto fail_vals;
    }
    if (rc) {
        report_failure(&ra, rc, err);
        goto fail_vals;
    }
    for (uint32_t i = 0; i < ft.nresults; i++) {
        char buf[128];

        cli_value_format(&results[i], buf, sizeof buf);
        printf("%s\n", buf);
    }
    status = fflush(stdout) == 0 && !trace_failed ? 0 : 1;

fail_vals:
    free(results);
    free(args);
fail_store:
    vm_store_free(store);
fail_module:
    if (rt.tracer) /* the call never ran: still end the recording */
        trace_end(&rt, rc ? rc : VM_ERR_ARG, err, 0, NULL, 0);
    vm_module_free(module);
    free_run_args(&ra);
    return status;
}

/* ---- main ------------------------------------------------------------ */

int main(int argc, char **argv)
{
    /* No command, or only options: the daemon. */
    if (argc < 2 || (argv[1][0] == '-' && strcmp(argv[1], "--help") != 0 &&
                     strcmp(argv[1], "-h") != 0 &&
                     strcmp(argv[1], "--version") != 0))
        return dmn_serve_main(argc, argv);
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("traced %s\n", TRACED_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
        if (strcmp(argv[1], subcommands[i].name) == 0)
            return subcommands[i].main(argc - 1, argv + 1);
    fprintf(stderr, "traced: unknown command \"%s\" (traced --help lists "
                    "them)\n", argv[1]);
    return EXIT_USAGE;
}
