/*
 * traced: the command. Subcommands are a table; `run` loads a module,
 * instantiates it and calls one export. The daemon joins the table later.
 *
 * Exit status: 0 success; 1 the module failed (unreadable, malformed,
 * invalid, unlinkable, trapped, out of fuel); 2 usage error.
 */
#include <errno.h>
#include <stdbool.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <traced/vm.h>

#include "cli_values.h"

#ifndef TRACED_VERSION
#define TRACED_VERSION "0.0.0"
#endif

#define EXIT_USAGE 2

typedef struct subcommand {
    const char *name;
    int (*main)(int argc, char **argv); /* argv[0] is the subcommand */
    const char *synopsis;
    const char *summary;
} subcommand;

static int cmd_run(int argc, char **argv);

static const subcommand subcommands[] = {
    {"run", cmd_run,
     "run [--fuel N] [--max-pages N] [--max-depth N] FILE.wasm "
     "--invoke NAME [ARG...]",
     "call an exported function and print its results"},
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
            "\nexit status: 0 ok, 1 the module failed or trapped, 2 usage\n");
}

/* ---- run ------------------------------------------------------------- */

typedef struct run_args {
    const char *path;
    const char *invoke;
    char **args; /* borrowed from argv */
    int nargs;
    vm_store_limits limits;
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
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "traced: run: unknown option %s\n", a);
            return -1;
        } else if (!ra->path) {
            ra->path = a;
        } else {
            fprintf(stderr, "traced: run: unexpected argument %s (arguments "
                            "go after --invoke NAME)\n", a);
            return -1;
        }
    }
    if (!ra->path || !ra->invoke) {
        fprintf(stderr, "traced: run: usage: traced %s\n",
                subcommands[0].synopsis);
        return -1;
    }
    return 0;
}

static int read_file(const char *path, uint8_t **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0, r;
    bool failed = false;

    if (!f)
        return -1;
    do {
        if (n == cap) {
            uint8_t *nb = realloc(buf, cap = cap ? cap * 2 : 65536);

            if (!nb) {
                errno = ENOMEM;
                failed = true;
                break;
            }
            buf = nb;
        }
        r = fread(buf + n, 1, cap - n, f);
        n += r;
    } while (r > 0);
    if (failed || ferror(f)) {
        int saved = errno ? errno : EIO;

        fclose(f);
        free(buf);
        errno = saved;
        return -1;
    }
    fclose(f);
    *out = buf;
    *len = n;
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
    int rc, status = 1;

    if (parse_run_args(argc, argv, &ra) < 0)
        return EXIT_USAGE;

    if (read_file(ra.path, &bytes, &len) < 0) {
        fprintf(stderr, "traced: cannot read %s: %s\n", ra.path,
                strerror(errno));
        return 1;
    }
    rc = vm_module_new(bytes, len, NULL, &module, err, sizeof err);
    free(bytes);
    if (rc) {
        fprintf(stderr, "traced: %s: %s: %s\n", ra.path, vm_strerror(rc),
                *err ? err : vm_err_name(rc));
        return 1;
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
    if ((rc = vm_instance_new(store, module, NULL, 0, &inst, err,
                              sizeof err))) {
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
    rc = vm_func_call(store, ext.of.func, args, ft.nparams, results,
                      ft.nresults, err, sizeof err);
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
    status = fflush(stdout) == 0 ? 0 : 1;

fail_vals:
    free(results);
    free(args);
fail_store:
    vm_store_free(store);
fail_module:
    vm_module_free(module);
    return status;
}

/* ---- main ------------------------------------------------------------ */

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
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
