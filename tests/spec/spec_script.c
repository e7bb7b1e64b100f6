/*
 * One wast2json script, run in a fresh store: modules, named modules,
 * registrations, the spectest host module and every assertion kind.
 *
 * Every command is counted once as passed, failed or skipped. A failure
 * is recorded with its line so the report can list it; failures listed
 * in the xfail file are counted as xfailed instead, and xfail entries of
 * this file that did not fail are counted as xpassed and reported.
 */
#include "spec.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MSG_LEN 1024

/* A module instance with a script name ("$M") or a registered name. */
typedef struct named_instance {
    char *name;
    vm_instance *inst;
} named_instance;

typedef struct spectest_item {
    const char *name;
    vm_extern ext;
} spectest_item;

typedef struct note {
    long line;
    bool is_failure; /* else a skip or an xfail, shown with -v */
    char *text;
} note;

typedef struct script {
    const spec_options *opt;
    const char *display;
    char *dir; /* directory of the JSON file, where its modules are */
    uint32_t features;
    spec_progress *progress;

    vm_store *store;
    vm_module **modules; /* every module loaded; freed after the store */
    size_t nmodules, capmodules;
    named_instance *named; /* "$M" -> instance */
    size_t nnamed, capnamed;
    named_instance *registered; /* register "as" -> instance */
    size_t nregistered, capregistered;
    vm_instance *current; /* the last module defined, or NULL */
    spectest_item spectest[13]; /* 7 functions, 4 globals, table, memory */
    size_t nspectest; /* 0 until first imported */

    note *notes;
    size_t nnotes, capnotes;
    bool *xfail_hit; /* per opt->xfail entry */

    /* --trace: the checking tracer (trace_check below). */
    vm_tracer tracer;
    struct trace_check {
        uint32_t depth, host_depth; /* open wasm frames, host calls */
        bool tail;                  /* the last event was a tail ret */
        char bad[160];              /* first inconsistency, "" if none */
    } check;
} script;

/*
 * --trace: every call's depth is one above the open frames, every ret
 * closes the innermost one (a tail ret is followed by the callee's call
 * at the same depth), host calls nest, and an invocation ends balanced.
 * The first violation is kept and turns the invocation into a failure.
 */
static void check_fail(struct trace_check *k, const char *what,
                       uint32_t got, uint32_t want)
{
    if (!k->bad[0])
        snprintf(k->bad, sizeof k->bad, "tracer: %s (depth %u, expected %u)",
                 what, got, want);
}

static void check_op(void *user, uint32_t opcode, uint32_t offset)
{
    (void)user;
    (void)opcode;
    (void)offset;
}

/* --trace steps: every offset is a point (point == offset), and a step
 * runs in the innermost open frame. */
static void check_step(void *user, uint32_t offset, uint32_t point,
                       uint32_t depth)
{
    struct trace_check *k = user;

    if (point != offset)
        check_fail(k, "step point index", point, offset);
    if (depth != k->depth)
        check_fail(k, "step", depth, k->depth);
}

static void check_call(void *user, const vm_trace_frame *f)
{
    struct trace_check *k = user;

    if (f->depth != k->depth + 1)
        check_fail(k, "call", f->depth, k->depth + 1);
    k->depth = f->depth;
    k->tail = false;
}

static void check_ret(void *user, const vm_trace_frame *f)
{
    struct trace_check *k = user;

    if (k->tail)
        check_fail(k, "tail ret not followed by call", f->depth, k->depth);
    if (f->depth != k->depth)
        check_fail(k, "ret", f->depth, k->depth);
    k->depth = f->depth - 1;
    k->tail = f->tail;
}

static void check_host_call(void *user, const vm_trace_frame *f)
{
    struct trace_check *k = user;

    if (f->depth != k->depth)
        check_fail(k, "host_call", f->depth, k->depth);
    k->host_depth++;
}

static void check_host_return(void *user, const vm_trace_frame *f)
{
    struct trace_check *k = user;

    if (f->depth != k->depth || k->host_depth == 0)
        check_fail(k, "host_return", f->depth, k->depth);
    k->host_depth--;
    k->tail = false;
}

static const vm_tracer *trace_begin(script *sc)
{
    if (!sc->opt->trace)
        return NULL;
    memset(&sc->check, 0, sizeof sc->check);
    memset(&sc->tracer, 0, sizeof sc->tracer);
    sc->tracer.user = &sc->check;
    sc->tracer.op = sc->opt->trace == 2 ? check_op : NULL;
    sc->tracer.step = sc->opt->trace == 3 ? check_step : NULL;
    sc->tracer.call = check_call;
    sc->tracer.ret = check_ret;
    sc->tracer.host_call = check_host_call;
    sc->tracer.host_return = check_host_return;
    return &sc->tracer;
}

/* After a traced call: the first inconsistency, or NULL. */
static const char *trace_end(script *sc)
{
    struct trace_check *k = &sc->check;

    if (!sc->opt->trace)
        return NULL;
    if (!k->bad[0] && (k->depth || k->host_depth || k->tail))
        snprintf(k->bad, sizeof k->bad,
                 "tracer: unbalanced at the end (%u frames, %u host calls)",
                 k->depth, k->host_depth);
    return k->bad[0] ? k->bad : NULL;
}

/* Grow an array of `size`-byte items to hold one more. */
static void *grow(void *arr, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return arr;
    *cap = *cap ? *cap * 2 : 16;
    arr = realloc(arr, *cap * size);
    if (!arr) {
        fprintf(stderr, "traced-spec: out of memory\n");
        exit(2);
    }
    return arr;
}

static char *xstrdup(const char *s)
{
    char *d = strdup(s);

    if (!d) {
        fprintf(stderr, "traced-spec: out of memory\n");
        exit(2);
    }
    return d;
}

static const char *jstr(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static void add_note(script *sc, long line, bool is_failure, const char *fmt,
                     ...) __attribute__((format(printf, 4, 5)));

static void add_note(script *sc, long line, bool is_failure, const char *fmt,
                     ...)
{
    char text[2 * MSG_LEN];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    sc->notes = grow(sc->notes, &sc->capnotes, sc->nnotes, sizeof *sc->notes);
    sc->notes[sc->nnotes++] = (note){line, is_failure, xstrdup(text)};
}

static long xfail_index(const script *sc, long line)
{
    for (size_t i = 0; i < sc->opt->nxfail; i++)
        if (sc->opt->xfail[i].line == line &&
            strcmp(sc->opt->xfail[i].file, sc->display) == 0)
            return (long)i;
    return -1;
}

static void pass(script *sc)
{
    sc->progress->counts.passed++;
}

static void skip(script *sc, long line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void skip(script *sc, long line, const char *fmt, ...)
{
    char what[2 * MSG_LEN];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    sc->progress->counts.skipped++;
    add_note(sc, line, false, "skipped: %s", what);
}

/* A failed command; one listed in the xfail file is counted apart. */
static void fail(script *sc, long line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(script *sc, long line, const char *fmt, ...)
{
    char what[2 * MSG_LEN];
    va_list ap;
    long xi = xfail_index(sc, line);

    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (xi >= 0) {
        sc->progress->counts.xfailed++;
        sc->xfail_hit[xi] = true;
        add_note(sc, line, false, "xfail: %s", what);
    } else {
        sc->progress->counts.failed++;
        add_note(sc, line, true, "%s", what);
    }
}

/* ---- the spectest module -------------------------------------------- */

static void print_args(script *sc, const char *name, const vm_val *args,
                       unsigned nargs)
{
    char buf[128];

    if (!sc->opt->verbose)
        return;
    printf("  spectest.%s(", name);
    for (unsigned i = 0; i < nargs; i++) {
        spec_val_format(&args[i], buf, sizeof buf);
        printf("%s%s", i ? ", " : "", buf);
    }
    printf(")\n");
}

#define SPECTEST_PRINT(name, n)                                             \
    static int spectest_##name(vm_host_call *c, const vm_val *args,         \
                               vm_val *results)                             \
    {                                                                       \
        print_args(vm_host_call_user(c), #name, args, n);                   \
        return 0;                                                           \
    }
SPECTEST_PRINT(print, 0)
SPECTEST_PRINT(print_i32, 1)
SPECTEST_PRINT(print_i64, 1)
SPECTEST_PRINT(print_f32, 1)
SPECTEST_PRINT(print_f64, 1)
SPECTEST_PRINT(print_i32_f32, 2)
SPECTEST_PRINT(print_f64_f64, 2)
#undef SPECTEST_PRINT

static int spectest_add_func(script *sc, const char *name,
                             const vm_valtype *params, uint32_t nparams,
                             vm_host_fn fn)
{
    spectest_item *it = &sc->spectest[sc->nspectest];
    int rc;

    it->name = name;
    it->ext.kind = VM_EXTERN_FUNC;
    rc = vm_func_new_host(sc->store, params, nparams, NULL, 0, fn, sc, name,
                          &it->ext.of.func);
    if (rc == 0)
        sc->nspectest++;
    return rc;
}

static int spectest_add_global(script *sc, const char *name, vm_val v)
{
    spectest_item *it = &sc->spectest[sc->nspectest];
    int rc;

    it->name = name;
    it->ext.kind = VM_EXTERN_GLOBAL;
    rc = vm_global_new(sc->store, &v, false, &it->ext.of.global);
    if (rc == 0)
        sc->nspectest++;
    return rc;
}

/* Build the spectest externs in this file's store, once. */
static int spectest_build(script *sc, char *err, size_t errlen)
{
    static const vm_valtype i32[] = {VM_I32}, i64[] = {VM_I64},
                            f32[] = {VM_F32}, f64[] = {VM_F64},
                            i32_f32[] = {VM_I32, VM_F32},
                            f64_f64[] = {VM_F64, VM_F64};
    float f32_666 = 666.6f;
    double f64_666 = 666.6;
    vm_val v;
    spectest_item *it;
    int rc;

    if (sc->nspectest)
        return 0;
    if ((rc = spectest_add_func(sc, "print", NULL, 0, spectest_print)) ||
        (rc = spectest_add_func(sc, "print_i32", i32, 1,
                                spectest_print_i32)) ||
        (rc = spectest_add_func(sc, "print_i64", i64, 1,
                                spectest_print_i64)) ||
        (rc = spectest_add_func(sc, "print_f32", f32, 1,
                                spectest_print_f32)) ||
        (rc = spectest_add_func(sc, "print_f64", f64, 1,
                                spectest_print_f64)) ||
        (rc = spectest_add_func(sc, "print_i32_f32", i32_f32, 2,
                                spectest_print_i32_f32)) ||
        (rc = spectest_add_func(sc, "print_f64_f64", f64_f64, 2,
                                spectest_print_f64_f64)))
        goto fail;

    v = (vm_val){.type = VM_I32, .of.i32 = 666};
    if ((rc = spectest_add_global(sc, "global_i32", v)))
        goto fail;
    v = (vm_val){.type = VM_I64, .of.i64 = 666};
    if ((rc = spectest_add_global(sc, "global_i64", v)))
        goto fail;
    v = (vm_val){.type = VM_F32};
    memcpy(&v.of.f32_bits, &f32_666, sizeof f32_666);
    if ((rc = spectest_add_global(sc, "global_f32", v)))
        goto fail;
    v = (vm_val){.type = VM_F64};
    memcpy(&v.of.f64_bits, &f64_666, sizeof f64_666);
    if ((rc = spectest_add_global(sc, "global_f64", v)))
        goto fail;

    it = &sc->spectest[sc->nspectest];
    it->name = "table";
    it->ext.kind = VM_EXTERN_TABLE;
    if ((rc = vm_table_new(sc->store, VM_FUNCREF, 10, 20, true, NULL,
                           &it->ext.of.table)))
        goto fail;
    sc->nspectest++;

    it = &sc->spectest[sc->nspectest];
    it->name = "memory";
    it->ext.kind = VM_EXTERN_MEMORY;
    if ((rc = vm_memory_new(sc->store, 1, 2, true, &it->ext.of.memory)))
        goto fail;
    sc->nspectest++;
    return 0;

fail:
    snprintf(err, errlen, "cannot build the spectest module: %s",
             vm_strerror(rc));
    return rc;
}

/* ---- modules and instances -------------------------------------------- */

static vm_instance *find_named(const named_instance *arr, size_t n,
                               const char *name)
{
    for (size_t i = n; i-- > 0;) /* the latest definition wins */
        if (strcmp(arr[i].name, name) == 0)
            return arr[i].inst;
    return NULL;
}

static int read_file(const char *path, uint8_t **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0;

    if (!f)
        return -1;
    for (;;) {
        if (n == cap) {
            uint8_t *nb;

            cap = cap ? cap * 2 : 4096;
            nb = realloc(buf, cap);
            if (!nb)
                break;
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    if (ferror(f) || n > cap) {
        fclose(f);
        free(buf);
        return -1;
    }
    fclose(f);
    *out = buf;
    *len = n;
    return 0;
}

/* Load a module file named by the script. The module is kept (and freed
 * after the store) so that instances may refer to it. */
/* --trace steps: make every byte offset of m (len bytes) a step point, so
 * that every instruction has a marker; m is freed on failure. */
static int all_step_points(vm_module **m, size_t len, char *err,
                           size_t errlen)
{
    uint32_t *all = malloc((len + 1) * sizeof *all);
    int rc;

    for (size_t k = 0; all && k < len; k++)
        all[k] = (uint32_t)k;
    rc = all ? vm_module_set_step_points(*m, all, (uint32_t)len)
             : VM_ERR_NOMEM;
    free(all);
    if (rc) {
        snprintf(err, errlen, "runner cannot set step points: %s",
                 vm_strerror(rc));
        vm_module_free(*m);
        *m = NULL;
    }
    return rc;
}

static int load_module(script *sc, const char *filename, vm_module **out,
                       char *err, size_t errlen)
{
    char path[4096];
    uint8_t *bytes = NULL;
    size_t len = 0;
    vm_load_options lo = {.features = sc->features};
    int rc;

    *out = NULL;
    if (!filename) {
        snprintf(err, errlen, "command has no module filename");
        return VM_ERR_ARG;
    }
    int n = snprintf(path, sizeof path, "%s/%s", sc->dir, filename);

    if (n < 0 || (size_t)n >= sizeof path ||
        read_file(path, &bytes, &len) < 0) {
        snprintf(err, errlen, "runner cannot read %.900s", path);
        return VM_ERR_NOT_FOUND;
    }
    err[0] = '\0';
    rc = vm_module_new(bytes, len, &lo, out, err, errlen);
    if (rc == 0 && sc->opt->trace == 3)
        rc = all_step_points(out, len, err, errlen);
    free(bytes);
    if (rc == 0) {
        sc->modules = grow(sc->modules, &sc->capmodules, sc->nmodules,
                           sizeof *sc->modules);
        sc->modules[sc->nmodules++] = *out;
    }
    return rc;
}

static int resolve_import(script *sc, const vm_extern_desc *d, vm_extern *out,
                          char *err, size_t errlen)
{
    vm_instance *inst;
    int rc;

    if (strcmp(d->module, "spectest") == 0) {
        if ((rc = spectest_build(sc, err, errlen)))
            return rc;
        for (size_t i = 0; i < sc->nspectest; i++) {
            if (strcmp(sc->spectest[i].name, d->name) == 0) {
                *out = sc->spectest[i].ext;
                return 0;
            }
        }
    } else if ((inst = find_named(sc->registered, sc->nregistered,
                                  d->module)) &&
               vm_instance_export(inst, d->name, out) == 0) {
        return 0;
    }
    snprintf(err, errlen, "unknown import \"%s\" \"%s\"", d->module,
             d->name);
    return VM_ERR_UNLINKABLE;
}

static int instantiate(script *sc, const vm_module *m, vm_instance **out,
                       char *err, size_t errlen)
{
    uint32_t n = vm_module_import_count(m);
    vm_extern *imports = calloc(n ? n : 1, sizeof *imports);
    int rc = 0;

    if (!imports)
        return VM_ERR_NOMEM;
    for (uint32_t i = 0; i < n; i++) {
        vm_extern_desc d;

        if ((rc = vm_module_import(m, i, &d))) {
            snprintf(err, errlen, "vm_module_import(%" PRIu32 "): %s", i,
                     vm_strerror(rc));
            goto out;
        }
        if ((rc = resolve_import(sc, &d, &imports[i], err, errlen)))
            goto out;
    }
    if (sc->opt->fuel)
        vm_store_set_fuel(sc->store, sc->opt->fuel);
    err[0] = '\0';
    rc = vm_instance_new_traced(sc->store, m, imports, n, trace_begin(sc),
                                out, err, errlen);
    if (trace_end(sc)) {
        snprintf(err, errlen, "%s", sc->check.bad);
        rc = VM_ERR_ARG;
    }
out:
    free(imports);
    return rc;
}

/* "NAME: message" for a VM error, falling back to the code's text. */
static const char *describe(int rc, const char *msg, char *buf, size_t len)
{
    snprintf(buf, len, "%s: %s", vm_err_name(rc),
             msg && *msg ? msg : vm_strerror(rc));
    return buf;
}

/* ---- actions --------------------------------------------------------- */

typedef struct action_result {
    int rc;
    char err[MSG_LEN];
    vm_val *results;
    uint32_t nresults;
} action_result;

/*
 * Run an invoke or get. Returns 0 when the action could be attempted (its
 * outcome is in r->rc), -1 when the script itself is at fault or the
 * target is missing, -2 when the API cannot express the action (message
 * in why).
 */
static int run_action(script *sc, const json_t *action, action_result *r,
                      char *why, size_t whylen)
{
    const char *type = jstr(action, "type");
    const char *modname = jstr(action, "module");
    const char *field = jstr(action, "field");
    vm_instance *inst = sc->current;
    vm_extern ext;
    int rc;

    memset(r, 0, sizeof *r);
    if (modname)
        inst = find_named(sc->named, sc->nnamed, modname);
    if (!inst) {
        snprintf(why, whylen, "no module %s to act on",
                 modname ? modname : "(current)");
        return -1;
    }
    /* Export names may contain NUL bytes (names.wast): ask by length. */
    if (!field ||
        vm_instance_export_n(
            inst, field,
            json_string_length(json_object_get(action, "field")), &ext) != 0) {
        snprintf(why, whylen, "no export \"%s\"", field ? field : "?");
        return -1;
    }

    if (type && strcmp(type, "get") == 0) {
        if (ext.kind != VM_EXTERN_GLOBAL) {
            snprintf(why, whylen, "export \"%s\" is not a global", field);
            return -1;
        }
        r->results = calloc(1, sizeof *r->results);
        if (!r->results)
            return -1;
        r->nresults = 1;
        vm_global_get(ext.of.global, &r->results[0]);
        return 0;
    }
    if (!type || strcmp(type, "invoke") != 0) {
        snprintf(why, whylen, "unknown action type \"%s\"",
                 type ? type : "?");
        return -1;
    }
    if (ext.kind != VM_EXTERN_FUNC) {
        snprintf(why, whylen, "export \"%s\" is not a function", field);
        return -1;
    }

    const json_t *jargs = json_object_get(action, "args");
    size_t nargs = json_array_size(jargs);
    vm_val *args = calloc(nargs ? nargs : 1, sizeof *args);
    vm_functype_view ft;

    if (!args)
        return -1;
    for (size_t i = 0; i < nargs; i++) {
        char perr[128];

        if (spec_val_parse(json_array_get(jargs, i), &args[i], perr,
                           sizeof perr) < 0) {
            snprintf(why, whylen, "argument %zu: %s", i, perr);
            free(args);
            return -1;
        }
    }
    if ((rc = vm_func_type(ext.of.func, &ft))) {
        snprintf(why, whylen, "vm_func_type: %s", vm_strerror(rc));
        free(args);
        return -1;
    }
    r->nresults = ft.nresults;
    r->results = calloc(ft.nresults ? ft.nresults : 1, sizeof *r->results);
    if (!r->results) {
        free(args);
        return -1;
    }
    if (sc->opt->fuel)
        vm_store_set_fuel(sc->store, sc->opt->fuel);
    r->rc = vm_func_call_traced(sc->store, ext.of.func, args,
                                (uint32_t)nargs, r->results, r->nresults,
                                trace_begin(sc), r->err, sizeof r->err);
    if (trace_end(sc)) {
        snprintf(r->err, sizeof r->err, "%s", sc->check.bad);
        r->rc = VM_ERR_ARG; /* no assertion expects this one */
    }
    free(args);
    return 0;
}

/* Does the expected text match a VM message? The spec's text must be a
 * prefix of our message or of the error code's own text. */
static bool trap_text_matches(const char *expected, int rc, const char *msg)
{
    size_t n = expected ? strlen(expected) : 0;

    return !expected || strncmp(msg, expected, n) == 0 ||
           strncmp(vm_strerror(rc), expected, n) == 0;
}

/* ---- commands -------------------------------------------------------- */

static void cmd_module(script *sc, const json_t *cmd, long line)
{
    const char *name = jstr(cmd, "name");
    char err[MSG_LEN], d[MSG_LEN + 64];
    vm_module *m;
    vm_instance *inst;
    int rc;

    sc->current = NULL;
    if ((rc = load_module(sc, jstr(cmd, "filename"), &m, err, sizeof err))) {
        fail(sc, line, "module: load failed: %s",
             describe(rc, err, d, sizeof d));
        return;
    }
    if ((rc = instantiate(sc, m, &inst, err, sizeof err))) {
        fail(sc, line, "module: instantiation failed: %s",
             describe(rc, err, d, sizeof d));
        return;
    }
    sc->current = inst;
    if (name) {
        sc->named = grow(sc->named, &sc->capnamed, sc->nnamed,
                         sizeof *sc->named);
        sc->named[sc->nnamed++] = (named_instance){xstrdup(name), inst};
    }
    pass(sc);
}

static void cmd_register(script *sc, const json_t *cmd, long line)
{
    const char *as = jstr(cmd, "as");
    const char *name = jstr(cmd, "name");
    vm_instance *inst =
        name ? find_named(sc->named, sc->nnamed, name) : sc->current;

    if (!as || !inst) {
        fail(sc, line, "register: no module %s to register",
             name ? name : "(current)");
        return;
    }
    sc->registered = grow(sc->registered, &sc->capregistered,
                          sc->nregistered, sizeof *sc->registered);
    sc->registered[sc->nregistered++] = (named_instance){xstrdup(as), inst};
    pass(sc);
}

/* Run the command's action; on a runner-side problem it fails the
 * command and returns false. */
static bool act(script *sc, const json_t *cmd, long line, const char *kind,
                action_result *r)
{
    char why[MSG_LEN];

    int rc = run_action(sc, json_object_get(cmd, "action"), r, why,
                        sizeof why);

    if (rc == -2)
        skip(sc, line, "%s: %s", kind, why);
    else if (rc < 0)
        fail(sc, line, "%s: %s", kind, why);
    return rc == 0;
}

static const char *action_name(const json_t *cmd)
{
    const char *f = jstr(json_object_get(cmd, "action"), "field");

    return f ? f : "?";
}

static void cmd_action(script *sc, const json_t *cmd, long line)
{
    action_result r;
    char d[MSG_LEN + 64];

    if (!act(sc, cmd, line, "action", &r))
        return;
    if (r.rc)
        fail(sc, line, "action \"%s\": %s", action_name(cmd),
             describe(r.rc, r.err, d, sizeof d));
    else
        pass(sc);
    free(r.results);
}

static void cmd_assert_return(script *sc, const json_t *cmd, long line)
{
    const json_t *expected = json_object_get(cmd, "expected");
    size_t nexpected = json_array_size(expected);
    action_result r;
    char d[MSG_LEN + 64];

    if (!act(sc, cmd, line, "assert_return", &r))
        return;
    if (r.rc) {
        fail(sc, line, "assert_return \"%s\": %s", action_name(cmd),
             describe(r.rc, r.err, d, sizeof d));
        goto out;
    }
    if (nexpected != r.nresults) {
        fail(sc, line,
             "assert_return \"%s\": %zu results expected, function has "
             "%" PRIu32,
             action_name(cmd), nexpected, r.nresults);
        goto out;
    }
    for (uint32_t i = 0; i < r.nresults; i++) {
        char why[600];

        if (!spec_val_match(json_array_get(expected, i), &r.results[i], why,
                            sizeof why)) {
            fail(sc, line, "assert_return \"%s\": result %" PRIu32 ": %s",
                 action_name(cmd), i, why);
            goto out;
        }
    }
    pass(sc);
out:
    free(r.results);
}

static void returned_normally(script *sc, const json_t *cmd, long line,
                              const char *kind, const action_result *r)
{
    char buf[256] = "";

    if (r->nresults > 0)
        spec_val_format(&r->results[0], buf, sizeof buf);
    fail(sc, line, "%s \"%s\": returned normally%s%s, expected \"%s\"", kind,
         action_name(cmd), r->nresults ? " with " : "", buf,
         jstr(cmd, "text") ? jstr(cmd, "text") : "an exception");
}

static void cmd_assert_trap_module(script *sc, const json_t *cmd, long line,
                                   const char *kind);

static void cmd_assert_trap(script *sc, const json_t *cmd, long line)
{
    const char *text = jstr(cmd, "text");
    action_result r;
    char d[MSG_LEN + 64];

    if (json_object_get(cmd, "filename")) {
        cmd_assert_trap_module(sc, cmd, line, "assert_trap");
        return;
    }
    if (!act(sc, cmd, line, "assert_trap", &r))
        return;
    if (r.rc == 0)
        returned_normally(sc, cmd, line, "assert_trap", &r);
    else if (!vm_err_is_trap(r.rc))
        fail(sc, line, "assert_trap \"%s\": expected trap \"%s\", got %s",
             action_name(cmd), text ? text : "?",
             describe(r.rc, r.err, d, sizeof d));
    else if (!trap_text_matches(text, r.rc, r.err))
        fail(sc, line,
             "assert_trap \"%s\": trap text: expected \"%s\", got \"%s\"",
             action_name(cmd), text, r.err);
    else
        pass(sc);
    free(r.results);
}

static void cmd_assert_exhaustion(script *sc, const json_t *cmd, long line)
{
    const char *text = jstr(cmd, "text");
    action_result r;
    char d[MSG_LEN + 64];

    if (!act(sc, cmd, line, "assert_exhaustion", &r))
        return;
    if (r.rc == 0)
        returned_normally(sc, cmd, line, "assert_exhaustion", &r);
    else if (r.rc != VM_ERR_TRAP_EXHAUSTION)
        fail(sc, line, "assert_exhaustion \"%s\": expected \"%s\", got %s",
             action_name(cmd), text ? text : "?",
             describe(r.rc, r.err, d, sizeof d));
    else if (!trap_text_matches(text, r.rc, r.err))
        fail(sc, line,
             "assert_exhaustion \"%s\": text: expected \"%s\", got \"%s\"",
             action_name(cmd), text, r.err);
    else
        pass(sc);
    free(r.results);
}

/* Exception handling is issue 3: until the VM reports uncaught exceptions
 * this fails, which is the honest state. */
static void cmd_assert_exception(script *sc, const json_t *cmd, long line)
{
    action_result r;
    char d[MSG_LEN + 64];

    if (!act(sc, cmd, line, "assert_exception", &r))
        return;
    if (r.rc == 0)
        returned_normally(sc, cmd, line, "assert_exception", &r);
    else if (r.rc != VM_ERR_EXCEPTION)
        fail(sc, line, "assert_exception \"%s\": expected an exception, got %s",
             action_name(cmd), describe(r.rc, r.err, d, sizeof d));
    else
        pass(sc);
    free(r.results);
}

/*
 * Does our message carry the spec's text? The proposal repositories' scripts
 * were written for wabt and append wabt's own detail after ": " ("type
 * mismatch: instruction requires [i32] but stack has []"); the spec's text
 * is what comes before it, and only that is compared.
 */
static bool module_text_matches(const char *expected, const char *msg)
{
    const char *colon = strstr(expected, ": ");
    size_t n = colon ? (size_t)(colon - expected) : strlen(expected);

    for (const char *p = msg; (p = strchr(p, expected[0])) != NULL; p++)
        if (strncmp(p, expected, n) == 0)
            return true;
    return n == 0;
}

/*
 * Commands whose binary, as wast2json writes it, is not the module the
 * script means, so the script's expected text cannot apply to it. The
 * error category is still checked; only the text comparison is waived,
 * and the runner says so in verbose output.
 */
static const struct {
    const char *file;
    long line;
    const char *why;
} text_waivers[] = {
    {"select.wast", 324,
     "wast2json 1.0.32 writes 'select (result)' as a plain select (0x1b); "
     "its empty operands are a type mismatch, not a result arity"},
};

static const char *text_waiver(const script *sc, long line)
{
    size_t dn = strlen(sc->display);

    for (size_t i = 0; i < sizeof text_waivers / sizeof text_waivers[0];
         i++) {
        size_t fn = strlen(text_waivers[i].file);

        if (text_waivers[i].line == line && dn >= fn &&
            strcmp(sc->display + dn - fn, text_waivers[i].file) == 0)
            return text_waivers[i].why;
    }
    return NULL;
}

/* assert_invalid and assert_malformed: loading must fail with `want`,
 * and the spec's text must appear in our message. */
static void cmd_assert_bad_module(script *sc, const json_t *cmd, long line,
                                  const char *kind, int want)
{
    const char *text = jstr(cmd, "text");
    const char *mtype = jstr(cmd, "module_type");
    char err[MSG_LEN], d[MSG_LEN + 64];
    vm_module *m;
    int rc;

    if (mtype && strcmp(mtype, "binary") != 0) {
        skip(sc, line, "%s \"%s\": %s-format module (the VM reads binary "
                       "modules only)",
             kind, text ? text : "?", mtype);
        return;
    }
    rc = load_module(sc, jstr(cmd, "filename"), &m, err, sizeof err);
    if (rc == 0)
        fail(sc, line, "%s: module loaded, expected %s \"%s\"", kind,
             vm_err_name(want), text ? text : "?");
    else if (rc != want)
        fail(sc, line, "%s: expected %s \"%s\", got %s", kind,
             vm_err_name(want), text ? text : "?",
             describe(rc, err, d, sizeof d));
    else if (text && !module_text_matches(text, err) &&
             !text_waiver(sc, line))
        fail(sc, line, "%s: message: expected \"%s\", got \"%s\"", kind, text,
             err);
    else {
        if (text && !module_text_matches(text, err) && sc->opt->verbose)
            printf("  line %ld: text \"%s\" not compared: %s\n", line, text,
                   text_waiver(sc, line));
        pass(sc);
    }
}

static void cmd_assert_invalid(script *sc, const json_t *cmd, long line)
{
    cmd_assert_bad_module(sc, cmd, line, "assert_invalid", VM_ERR_INVALID);
}

static void cmd_assert_malformed(script *sc, const json_t *cmd, long line)
{
    cmd_assert_bad_module(sc, cmd, line, "assert_malformed",
                          VM_ERR_MALFORMED);
}

/* Load a module that must load fine before its instantiation is tested. */
static bool load_for_instantiation(script *sc, const json_t *cmd, long line,
                                   const char *kind, vm_module **m)
{
    char err[MSG_LEN], d[MSG_LEN + 64];
    int rc = load_module(sc, jstr(cmd, "filename"), m, err, sizeof err);

    if (rc)
        fail(sc, line, "%s: module failed to load: %s", kind,
             describe(rc, err, d, sizeof d));
    return rc == 0;
}

static void cmd_assert_unlinkable(script *sc, const json_t *cmd, long line)
{
    const char *text = jstr(cmd, "text");
    char err[MSG_LEN], d[MSG_LEN + 64];
    vm_module *m;
    vm_instance *inst;
    int rc;

    if (!load_for_instantiation(sc, cmd, line, "assert_unlinkable", &m))
        return;
    rc = instantiate(sc, m, &inst, err, sizeof err);
    if (rc == 0)
        fail(sc, line, "assert_unlinkable: instantiated, expected \"%s\"",
             text ? text : "?");
    else if (rc != VM_ERR_UNLINKABLE)
        fail(sc, line, "assert_unlinkable: expected UNLINKABLE \"%s\", got %s",
             text ? text : "?", describe(rc, err, d, sizeof d));
    else
        pass(sc);
}

static void cmd_assert_trap_module(script *sc, const json_t *cmd, long line,
                                   const char *kind)
{
    const char *text = jstr(cmd, "text");
    char err[MSG_LEN], d[MSG_LEN + 64];
    vm_module *m;
    vm_instance *inst;
    int rc;

    if (!load_for_instantiation(sc, cmd, line, kind, &m))
        return;
    rc = instantiate(sc, m, &inst, err, sizeof err);
    if (rc == 0)
        fail(sc, line, "%s: instantiated, expected trap \"%s\"", kind,
             text ? text : "?");
    else if (!vm_err_is_trap(rc))
        fail(sc, line, "%s: expected trap \"%s\", got %s", kind,
             text ? text : "?", describe(rc, err, d, sizeof d));
    else if (!trap_text_matches(text, rc, err))
        fail(sc, line, "%s: trap text: expected \"%s\", got \"%s\"", kind,
             text, err);
    else
        pass(sc);
}

static void cmd_assert_uninstantiable(script *sc, const json_t *cmd,
                                      long line)
{
    cmd_assert_trap_module(sc, cmd, line, "assert_uninstantiable");
}

static const struct {
    const char *type;
    void (*run)(script *sc, const json_t *cmd, long line);
} commands[] = {
    {"module", cmd_module},
    {"register", cmd_register},
    {"action", cmd_action},
    {"assert_return", cmd_assert_return},
    {"assert_trap", cmd_assert_trap},
    {"assert_exhaustion", cmd_assert_exhaustion},
    {"assert_exception", cmd_assert_exception},
    {"assert_invalid", cmd_assert_invalid},
    {"assert_malformed", cmd_assert_malformed},
    {"assert_unlinkable", cmd_assert_unlinkable},
    {"assert_uninstantiable", cmd_assert_uninstantiable},
};

static void run_command(script *sc, const json_t *cmd)
{
    const char *type = jstr(cmd, "type");
    long line = (long)json_integer_value(json_object_get(cmd, "line"));

    sc->progress->current_line = line;
    for (size_t i = 0; type && i < sizeof commands / sizeof commands[0];
         i++) {
        if (strcmp(commands[i].type, type) == 0) {
            commands[i].run(sc, cmd, line);
            sc->progress->current_line = 0;
            return;
        }
    }
    skip(sc, line, "unknown command type \"%s\"", type ? type : "?");
    sc->progress->current_line = 0;
}

/* ---- the report ------------------------------------------------------ */

static void report(const script *sc)
{
    const spec_counts *c = &sc->progress->counts;
    unsigned shown = 0, hidden = 0;

    if (c->failed == 0)
        printf("PASS %s  (%u passed", sc->display, c->passed);
    else
        printf("FAIL %s  (%u passed, %u failed, %u skipped", sc->display,
               c->passed, c->failed, c->skipped);
    if (c->failed == 0 && c->skipped)
        printf(", %u skipped", c->skipped);
    if (c->xfailed)
        printf(", %u xfail", c->xfailed);
    if (c->xpassed)
        printf(", %u xpass", c->xpassed);
    printf(")\n");

    for (size_t i = 0; i < sc->nnotes; i++) {
        const note *n = &sc->notes[i];

        if (n->is_failure) {
            if (sc->opt->verbose || shown < sc->opt->max_shown) {
                printf("  line %ld: %s\n", n->line, n->text);
                shown++;
            } else {
                hidden++;
            }
        } else if (sc->opt->verbose) {
            printf("  line %ld: %s\n", n->line, n->text);
        }
    }
    if (hidden)
        printf("  ... and %u more failures (-v shows all)\n", hidden);
    for (size_t i = 0; i < sc->opt->nxfail; i++) {
        if (!sc->xfail_hit[i] &&
            strcmp(sc->opt->xfail[i].file, sc->display) == 0)
            printf("  XPASS line %ld: listed in %s but did not fail; remove "
                   "the entry\n",
                   sc->opt->xfail[i].line, sc->opt->xfail_path);
    }
}

static void script_close(script *sc)
{
    /* The store first: its instances refer to the modules. */
    if (sc->store)
        vm_store_free(sc->store);
    for (size_t i = 0; i < sc->nmodules; i++)
        vm_module_free(sc->modules[i]);
    free(sc->modules);
    for (size_t i = 0; i < sc->nnamed; i++)
        free(sc->named[i].name);
    free(sc->named);
    for (size_t i = 0; i < sc->nregistered; i++)
        free(sc->registered[i].name);
    free(sc->registered);
    for (size_t i = 0; i < sc->nnotes; i++)
        free(sc->notes[i].text);
    free(sc->notes);
    free(sc->xfail_hit);
    free(sc->dir);
}

int spec_run_script(const spec_options *opt, const char *json_path,
                    const char *display, uint32_t features,
                    spec_progress *progress)
{
    script sc = {.opt = opt, .display = display, .features = features,
                 .progress = progress};
    json_error_t jerr;
    json_t *root, *commands_json;
    char *slash;
    int rc;

    root = json_load_file(json_path, JSON_ALLOW_NUL, &jerr);
    if (!root) {
        printf("ERROR %s  (cannot parse %s: line %d: %s)\n", display,
               json_path, jerr.line, jerr.text);
        return -1;
    }
    commands_json = json_object_get(root, "commands");
    if (!json_is_array(commands_json)) {
        printf("ERROR %s  (%s has no \"commands\" array)\n", display,
               json_path);
        json_decref(root);
        return -1;
    }
    sc.dir = xstrdup(json_path);
    slash = strrchr(sc.dir, '/');
    if (slash)
        *slash = '\0';
    else
        strcpy(sc.dir, ".");
    sc.xfail_hit = calloc(opt->nxfail ? opt->nxfail : 1, 1);
    if (!sc.xfail_hit || (rc = vm_store_new(NULL, &sc.store))) {
        printf("ERROR %s  (cannot create a store)\n", display);
        script_close(&sc);
        json_decref(root);
        return -1;
    }

    for (size_t i = 0; i < json_array_size(commands_json); i++)
        run_command(&sc, json_array_get(commands_json, i));

    for (size_t i = 0; i < opt->nxfail; i++)
        if (!sc.xfail_hit[i] && strcmp(opt->xfail[i].file, display) == 0)
            progress->counts.xpassed++;
    report(&sc);
    script_close(&sc);
    json_decref(root);
    return 0;
}
