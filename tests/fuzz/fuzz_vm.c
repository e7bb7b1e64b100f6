/*
 * libFuzzer target for the whole VM pipeline, through the public API only.
 *
 * The input is a module binary. It goes through vm_module_new (decode,
 * validate, compile); if it loads, the module's introspection API is walked
 * (its DWARF debug info too, vm_debug.h),
 * the module is instantiated in a fresh store whose every import is met by a
 * stand-in of the right type (host functions that return zeros, fresh
 * memories, tables and globals), and every exported function is called with
 * zero arguments of its parameter types. The store is small and bounded
 * (fuel, memory pages, call depth) so that no input can hang or exhaust the
 * machine; a loop that runs out of fuel is an ordinary outcome.
 *
 * Besides crashes, leaks and sanitizer reports, the target aborts when the
 * VM breaks a documented contract: an error code outside the documented set,
 * an error message that is not NUL-terminated inside its buffer, or results
 * whose types differ from the function type.
 *
 * Environment (read once, in LLVMFuzzerInitialize):
 *   TRACED_FUZZ_FEATURES  vm_load_options.features as a number (default 0,
 *                         i.e. Wasm 2.0, SIMD included); e.g. 6 turns on
 *                         tail calls and exceptions.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <traced/vm.h>
#include <traced/vm_debug.h>

/* Store limits for every input: small enough that the worst input still
 * finishes well inside libFuzzer's -timeout and -rss_limit_mb. */
enum {
    FUZZ_FUEL = 100000,
    FUZZ_MAX_PAGES = 16,
    FUZZ_CALL_DEPTH = 200,
    /* Stand-in tables larger than this are not made; the input is only
     * loaded, not instantiated. */
    FUZZ_MAX_TABLE = 10000,
    FUZZ_ERRLEN = 256,
};

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t load_features;

/* A broken contract: report it and abort so libFuzzer keeps the input. */
static void contract_failed(const char *what, int rc)
{
    fprintf(stderr, "fuzz_vm: contract broken: %s (rc %d, %s)\n", what, rc,
            vm_err_name(rc));
    abort();
}

static void check_errbuf(const char *err, const char *where)
{
    if (memchr(err, '\0', FUZZ_ERRLEN) == NULL)
        contract_failed(where, 0);
}

static vm_val zero_of(vm_valtype type)
{
    vm_val v;
    memset(&v, 0, sizeof v);
    v.type = type;
    return v;
}

/* The stand-in for every imported function: the user pointer is the
 * import's function type (borrowed from the module, which outlives the
 * store), and the results are zeros of its result types. */
static int zero_host_fn(vm_host_call *c, const vm_val *args, vm_val *results)
{
    const vm_functype_view *type = vm_host_call_user(c);
    (void)args;
    for (uint32_t i = 0; i < type->nresults; i++)
        results[i] = zero_of((vm_valtype)type->results[i]);
    return 0;
}

/* Make a stand-in for import desc in store s. Returns 0, or non-zero when
 * no reasonable stand-in exists (the input is then not instantiated). */
static int make_import(vm_store *s, const vm_extern_desc *desc,
                       const vm_functype_view *type_slot, vm_extern *out)
{
    out->kind = desc->kind;
    switch (desc->kind) {
    case VM_EXTERN_FUNC: {
        vm_valtype params[desc->func.nparams + 1];
        vm_valtype results[desc->func.nresults + 1];
        for (uint32_t i = 0; i < desc->func.nparams; i++)
            params[i] = (vm_valtype)desc->func.params[i];
        for (uint32_t i = 0; i < desc->func.nresults; i++)
            results[i] = (vm_valtype)desc->func.results[i];
        return vm_func_new_host(s, params, desc->func.nparams, results,
                                desc->func.nresults, zero_host_fn,
                                (void *)type_slot, desc->name, &out->of.func);
    }
    case VM_EXTERN_TABLE:
        if (desc->limits.min > FUZZ_MAX_TABLE)
            return 1;
        return vm_table_new(s, desc->elem_type, desc->limits.min,
                            desc->limits.max, desc->limits.has_max, NULL,
                            &out->of.table);
    case VM_EXTERN_MEMORY:
        if (desc->limits.min > FUZZ_MAX_PAGES)
            return 1;
        /* A smaller maximum still matches the import (limits subtyping),
         * and keeps the stand-in inside the store's page cap. */
        return vm_memory_new(s, desc->limits.min,
                             desc->limits.has_max &&
                                     desc->limits.max < FUZZ_MAX_PAGES
                                 ? desc->limits.max
                                 : FUZZ_MAX_PAGES,
                             desc->limits.has_max, &out->of.memory);
    case VM_EXTERN_GLOBAL: {
        vm_val init = zero_of(desc->global_type);
        return vm_global_new(s, &init, desc->global_mutable,
                             &out->of.global);
    }
    case VM_EXTERN_TAG:
    default:
        return 1; /* the public API has no way to make a tag */
    }
}

/* Walk the read-only module API; nothing here may fail on a loaded module
 * except with a documented code. */
static void inspect(const vm_module *m)
{
    vm_extern_desc desc;
    vm_functype_view ft;
    uint32_t n;

    n = vm_module_import_count(m);
    for (uint32_t i = 0; i < n; i++)
        if (vm_module_import(m, i, &desc) != 0)
            contract_failed("vm_module_import in range", -1);
    n = vm_module_export_count(m);
    for (uint32_t i = 0; i < n; i++)
        if (vm_module_export(m, i, &desc) != 0)
            contract_failed("vm_module_export in range", -1);
    (void)vm_module_import(m, vm_module_import_count(m), &desc);
    (void)vm_module_export(m, vm_module_export_count(m), &desc);

    n = vm_module_func_count(m);
    for (uint32_t i = 0; i < n; i++) {
        if (vm_module_func_type(m, i, &ft) != 0)
            contract_failed("vm_module_func_type in range", -1);
        (void)vm_module_func_name(m, i);
        (void)vm_module_local_name(m, i, 0);
    }
    (void)vm_module_func_type(m, n, &ft);
    (void)vm_module_name(m);

    n = vm_module_custom_count(m);
    for (uint32_t i = 0; i < n; i++) {
        const char *name;
        const uint8_t *bytes;
        size_t len;
        if (vm_module_custom(m, i, &name, &bytes, &len) != 0)
            contract_failed("vm_module_custom in range", -1);
    }
}

/* Load the module's DWARF, if any, and walk every table and lookup: a
 * malformed section must be an error, never a bad read. */
static void inspect_debug(const vm_module *m)
{
    char err[FUZZ_ERRLEN];
    vm_debug *d = NULL;
    const vm_debug_row *rows;
    size_t n;
    int rc;

    memset(err, 0x55, sizeof err);
    err[sizeof err - 1] = '\0';
    rc = vm_debug_new(m, &d, err, sizeof err);
    check_errbuf(err, "vm_debug_new message terminated");
    if (rc != 0) {
        if (rc != VM_ERR_NOT_FOUND && rc != VM_ERR_MALFORMED &&
            rc != VM_ERR_LIMIT && rc != VM_ERR_NOMEM)
            contract_failed("vm_debug_new error code", rc);
        if (d != NULL)
            contract_failed("vm_debug_new failed but set out", rc);
        return;
    }
    rows = vm_debug_rows(d, &n);
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && rows[i].offset < rows[i - 1].offset)
            contract_failed("debug rows sorted by offset", 0);
        if (rows[i].file != VM_DEBUG_NONE &&
            !vm_debug_file_path(d, rows[i].file))
            contract_failed("debug row file in the file table", 0);
        (void)vm_debug_row_at(d, rows[i].offset);
        (void)vm_debug_step_at(d, rows[i].offset);
        (void)vm_debug_subprogram_at(d, rows[i].offset);
    }
    for (uint32_t i = 0; i < vm_debug_func_count(d); i++) {
        const vm_debug_row *steps;
        (void)vm_debug_func(d, i);
        (void)vm_debug_func_steps(d, i, &steps, &n);
    }
    for (uint32_t i = 0; i < vm_debug_subprogram_count(d); i++) {
        const vm_debug_subprogram *s = vm_debug_subprogram_get(d, i);
        (void)vm_debug_type_resolve(d, s->return_type);
        for (uint32_t k = 0; k < s->nparams; k++)
            (void)vm_debug_type_resolve(d, s->params[k].type);
        for (uint32_t k = 0; k < s->nvars; k++)
            (void)vm_debug_type_resolve(d, s->vars[k].type);
    }
    for (uint32_t i = 0; i < vm_debug_type_count(d); i++)
        (void)vm_debug_type_resolve(d, i);
    vm_debug_free(d);
}

static void call_exports(vm_store *s, const vm_module *m, vm_instance *inst)
{
    uint32_t n = vm_module_export_count(m);
    char err[FUZZ_ERRLEN];

    for (uint32_t i = 0; i < n; i++) {
        vm_extern_desc desc;
        vm_extern ext;
        vm_functype_view ft;

        if (vm_module_export(m, i, &desc) != 0 || desc.kind != VM_EXTERN_FUNC)
            continue;
        int rc = vm_instance_export(inst, desc.name, &ext);
        /* A Wasm name may contain U+0000; the C API sees it cut at the
         * NUL, and a lookup by the shortened name may rightly fail. */
        if (rc == VM_ERR_NOT_FOUND)
            continue;
        if (rc != 0) {
            fprintf(stderr, "fuzz_vm: export %u \"%s\"\n", i, desc.name);
            contract_failed("vm_instance_export of a module export", rc);
        }
        if (ext.kind != VM_EXTERN_FUNC)
            contract_failed("exported function kind", (int)ext.kind);
        rc = vm_func_type(ext.of.func, &ft);
        if (rc != 0)
            contract_failed("vm_func_type of an exported function", rc);

        vm_val args[ft.nparams + 1];
        vm_val results[ft.nresults + 1];
        for (uint32_t k = 0; k < ft.nparams; k++)
            args[k] = zero_of((vm_valtype)ft.params[k]);
        memset(results, 0, sizeof results);

        /* Each call gets the full budget, as an embedder would give it. */
        vm_store_set_fuel(s, FUZZ_FUEL);
        memset(err, 0x55, sizeof err);
        err[sizeof err - 1] = '\0';
        rc = vm_func_call(s, ext.of.func, args, ft.nparams, results,
                              ft.nresults, err, sizeof err);
        check_errbuf(err, "vm_func_call message terminated");
        if (rc == 0) {
            for (uint32_t k = 0; k < ft.nresults; k++)
                if (results[k].type != (vm_valtype)ft.results[k])
                    contract_failed("result type matches function type", 0);
        } else if (!vm_err_is_trap(rc) && rc != VM_ERR_FUEL &&
                   rc != VM_ERR_EXIT && rc != VM_ERR_LIMIT &&
                   rc != VM_ERR_NOMEM && rc != VM_ERR_EXCEPTION) {
            contract_failed("vm_func_call error code", rc);
        }
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *features = getenv("TRACED_FUZZ_FEATURES");
    (void)argc;
    (void)argv;
    if (features != NULL)
        load_features = (uint32_t)strtoul(features, NULL, 0);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vm_load_options opts = {.features = load_features};
    vm_store_limits limits = {
        .max_memory_pages = FUZZ_MAX_PAGES,
        .max_call_depth = FUZZ_CALL_DEPTH,
        .fuel = FUZZ_FUEL,
    };
    char err[FUZZ_ERRLEN];
    vm_module *m = NULL;
    vm_store *s = NULL;
    vm_instance *inst = NULL;
    vm_extern *imports = NULL;
    vm_functype_view *import_types = NULL;
    int rc;

    memset(err, 0x55, sizeof err);
    err[sizeof err - 1] = '\0';
    rc = vm_module_new(data, size, &opts, &m, err, sizeof err);
    check_errbuf(err, "vm_module_new message terminated");
    if (rc != 0) {
        if (rc != VM_ERR_MALFORMED && rc != VM_ERR_INVALID &&
            rc != VM_ERR_LIMIT && rc != VM_ERR_NOMEM)
            contract_failed("vm_module_new error code", rc);
        return 0;
    }

    inspect(m);
    inspect_debug(m);

    if (vm_store_new(&limits, &s) != 0)
        goto out; /* out of memory: nothing to test */

    uint32_t nimports = vm_module_import_count(m);
    imports = calloc(nimports + 1, sizeof *imports);
    import_types = calloc(nimports + 1, sizeof *import_types);
    if (imports == NULL || import_types == NULL)
        goto out;
    for (uint32_t i = 0; i < nimports; i++) {
        vm_extern_desc desc;
        if (vm_module_import(m, i, &desc) != 0)
            goto out;
        import_types[i] = desc.func;
        if (make_import(s, &desc, &import_types[i], &imports[i]) != 0)
            goto out; /* e.g. a memory larger than the store allows */
    }

    memset(err, 0x55, sizeof err);
    err[sizeof err - 1] = '\0';
    rc = vm_instance_new(s, m, imports, nimports, &inst, err, sizeof err);
    check_errbuf(err, "vm_instance_new message terminated");
    if (rc != 0) {
        if (!vm_err_is_trap(rc) && rc != VM_ERR_UNLINKABLE &&
            rc != VM_ERR_FUEL && rc != VM_ERR_LIMIT && rc != VM_ERR_NOMEM &&
            rc != VM_ERR_EXIT && rc != VM_ERR_EXCEPTION)
            contract_failed("vm_instance_new error code", rc);
        goto out;
    }
    if (vm_instance_module(inst) != m)
        contract_failed("vm_instance_module", 0);

    call_exports(s, m, inst);

out:
    free(import_types);
    free(imports);
    if (s != NULL)
        vm_store_free(s); /* frees the instance and every stand-in */
    vm_module_free(m);
    return 0;
}
