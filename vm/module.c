/*
 * Modules: the load pipeline (decode -> validate -> compile), freeing,
 * and the read-only introspection API of vm.h.
 *
 * A module is immutable once vm_module_new() returns it; every pointer the
 * introspection functions hand out is borrowed from it and lives until
 * vm_module_free().
 */
#include <stdlib.h>
#include <string.h>

#include "module_int.h"

int vm_module_new(const uint8_t *bytes, size_t len,
                  const vm_load_options *opts, vm_module **out, char *err,
                  size_t errlen)
{
    vm_module *m;
    int rc;

    if (err && errlen)
        err[0] = '\0';
    if (!out || (!bytes && len))
        return vm__error(err, errlen, VM_ERR_ARG,
                         "vm_module_new: NULL bytes or out");
    *out = NULL;

    m = vm__calloc(1, sizeof *m);
    if (!m)
        return vm__error(err, errlen, VM_ERR_NOMEM, "out of memory");
    /* The module keeps its own copy: bodies, data segments and custom
     * sections point into it. */
    m->bytes = vm__malloc(len);
    if (!m->bytes) {
        rc = vm__error(err, errlen, VM_ERR_NOMEM, "out of memory");
        goto fail_bytes;
    }
    if (len)
        memcpy(m->bytes, bytes, len);
    m->len = len;
    m->features = opts ? opts->features : VM_FEATURES_DEFAULT;

    if ((rc = vm__decode(m, err, errlen)) < 0)
        goto fail_stage;
    if ((rc = vm__validate(m, err, errlen)) < 0)
        goto fail_stage;
    /* A binary-format rule, checked late on purpose: the spec tests
     * expect a module that is also invalid to fail validation. */
    if (m->uses_data_index && !m->has_datacount) {
        rc = vm__error(err, errlen, VM_ERR_MALFORMED,
                       "data count section required (memory.init or "
                       "data.drop without a data count section)");
        goto fail_stage;
    }
    if ((rc = vm__compile(m, err, errlen)) < 0)
        goto fail_stage;
    *out = m;
    return 0;

fail_stage:
    vm__module_release(m);
    vm__free(m->bytes);
fail_bytes:
    vm__free(m);
    return rc;
}

void vm_module_free(vm_module *m)
{
    if (!m)
        return;
    vm__module_release(m);
    vm__free(m->bytes);
    vm__free(m);
}

/* Safe on a module that decode left half-built: every count is set
 * together with its array and unset entries are zero. */
void vm__module_release(vm_module *m)
{
    for (uint32_t i = 0; m->types && i < m->ntypes; i++)
        vm__free(m->types[i].types);
    vm__free(m->types);

    for (uint32_t i = 0; m->imports && i < m->nimports; i++) {
        vm__free(m->imports[i].module);
        vm__free(m->imports[i].name);
    }
    vm__free(m->imports);

    /* m->funcs is allocated by the function section just before the
     * index space sets nfuncs_total; bodies (local_types, code) exist
     * only once both do. */
    if (m->funcs && m->func_type_idx) {
        for (uint32_t i = 0; i < m->nfuncs_total - m->nfuncs_imported; i++) {
            vm__free(m->funcs[i].local_types);
            if (m->funcs[i].code)
                vm__code_free(m->funcs[i].code);
        }
    }
    vm__free(m->funcs);
    vm__free(m->func_type_idx);
    vm__free(m->tables);
    vm__free(m->mems);
    vm__free(m->global_types);
    vm__free(m->globals);
    vm__free(m->tag_type_idx);

    for (uint32_t i = 0; m->exports && i < m->nexports; i++)
        vm__free(m->exports[i].name);
    vm__free(m->exports);

    for (uint32_t i = 0; m->elems && i < m->nelems; i++)
        vm__free(m->elems[i].items);
    vm__free(m->elems);
    vm__free(m->datas);
    vm__free(m->func_declared);

    for (uint32_t i = 0; m->customs && i < m->ncustoms; i++)
        vm__free(m->customs[i].name);
    vm__free(m->customs);

    vm__free(m->names.module);
    for (uint32_t i = 0; m->names.funcs && i < m->nfuncs_total; i++)
        vm__free(m->names.funcs[i]);
    vm__free(m->names.funcs);
    for (uint32_t i = 0; m->names.locals && i < m->nfuncs_total; i++) {
        for (uint32_t k = 0; m->names.nlocal_names && m->names.locals[i] &&
                             k < m->names.nlocal_names[i];
             k++)
            vm__free(m->names.locals[i][k].name);
        vm__free(m->names.locals[i]);
    }
    vm__free(m->names.locals);
    vm__free(m->names.nlocal_names);
    vm__free(m->step_points);

    /* Leave bytes/len/features: the caller owns the copy. */
    {
        uint8_t *bytes = m->bytes;
        size_t len = m->len;
        uint32_t features = m->features;

        memset(m, 0, sizeof *m);
        m->bytes = bytes;
        m->len = len;
        m->features = features;
    }
}

/* ---- Introspection ----------------------------------------------------- */

static void functype_view(const vm_module *m, uint32_t type_idx,
                          vm_functype_view *out)
{
    memset(out, 0, sizeof *out);
    if (type_idx < m->ntypes) {
        const vm__functype *t = &m->types[type_idx];

        out->nparams = t->nparams;
        out->nresults = t->nresults;
        out->params = vm__functype_params(t);
        out->results = vm__functype_results(t);
    }
}

static void limits_desc(const vm__limits *l, vm_limits_desc *out)
{
    out->min = l->min;
    out->max = l->max;
    out->has_max = l->has_max;
}

uint32_t vm_module_import_count(const vm_module *m)
{
    return m ? m->nimports : 0;
}

int vm_module_import(const vm_module *m, uint32_t i, vm_extern_desc *out)
{
    const vm__import *im;

    if (!m || !out)
        return VM_ERR_ARG;
    if (i >= m->nimports)
        return VM_ERR_NOT_FOUND;
    im = &m->imports[i];
    memset(out, 0, sizeof *out);
    out->module = im->module;
    out->name = im->name;
    out->kind = im->kind;
    switch (im->kind) {
    case VM_EXTERN_FUNC:
        functype_view(m, im->desc.func_type, &out->func);
        break;
    case VM_EXTERN_TABLE:
        out->elem_type = (vm_valtype)im->desc.table.elem_type;
        limits_desc(&im->desc.table.limits, &out->limits);
        break;
    case VM_EXTERN_MEMORY:
        limits_desc(&im->desc.memory, &out->limits);
        break;
    case VM_EXTERN_GLOBAL:
        out->global_type = (vm_valtype)im->desc.global.type;
        out->global_mutable = im->desc.global.mut;
        break;
    case VM_EXTERN_TAG:
        functype_view(m, im->desc.tag_type, &out->func);
        break;
    }
    return 0;
}

uint32_t vm_module_export_count(const vm_module *m)
{
    return m ? m->nexports : 0;
}

int vm_module_export(const vm_module *m, uint32_t i, vm_extern_desc *out)
{
    const vm__export *ex;
    uint32_t idx;

    if (!m || !out)
        return VM_ERR_ARG;
    if (i >= m->nexports)
        return VM_ERR_NOT_FOUND;
    ex = &m->exports[i];
    idx = ex->index;
    memset(out, 0, sizeof *out);
    out->name = ex->name;
    out->kind = ex->kind;
    /* Indices were validated; the checks keep a bad module from reading
     * out of bounds all the same. */
    switch (ex->kind) {
    case VM_EXTERN_FUNC:
        if (idx < m->nfuncs_total)
            functype_view(m, m->func_type_idx[idx], &out->func);
        break;
    case VM_EXTERN_TABLE:
        if (idx < m->ntables_total) {
            out->elem_type = (vm_valtype)m->tables[idx].elem_type;
            limits_desc(&m->tables[idx].limits, &out->limits);
        }
        break;
    case VM_EXTERN_MEMORY:
        if (idx < m->nmems_total)
            limits_desc(&m->mems[idx], &out->limits);
        break;
    case VM_EXTERN_GLOBAL:
        if (idx < m->nglobals_total) {
            out->global_type = (vm_valtype)m->global_types[idx].type;
            out->global_mutable = m->global_types[idx].mut;
        }
        break;
    case VM_EXTERN_TAG:
        if (idx < m->ntags_total)
            functype_view(m, m->tag_type_idx[idx], &out->func);
        break;
    }
    return 0;
}

uint32_t vm_module_func_count(const vm_module *m)
{
    return m ? m->nfuncs_total : 0;
}

int vm_module_func_type(const vm_module *m, uint32_t funcidx,
                        vm_functype_view *out)
{
    if (!m || !out)
        return VM_ERR_ARG;
    if (funcidx >= m->nfuncs_total || m->func_type_idx[funcidx] >= m->ntypes)
        return VM_ERR_NOT_FOUND;
    functype_view(m, m->func_type_idx[funcidx], out);
    return 0;
}

const char *vm_module_name(const vm_module *m)
{
    return m ? m->names.module : NULL;
}

const char *vm_module_func_name(const vm_module *m, uint32_t funcidx)
{
    if (!m || !m->names.funcs || funcidx >= m->nfuncs_total)
        return NULL;
    return m->names.funcs[funcidx];
}

const char *vm_module_local_name(const vm_module *m, uint32_t funcidx,
                                 uint32_t localidx)
{
    const vm__local_name *list;
    uint32_t lo = 0, hi;

    if (!m || !m->names.locals || funcidx >= m->nfuncs_total)
        return NULL;
    list = m->names.locals[funcidx];
    hi = m->names.nlocal_names[funcidx];
    /* Sorted by index (decode sorts them). */
    while (list && lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;

        if (list[mid].idx == localidx)
            return list[mid].name;
        if (list[mid].idx < localidx)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

uint32_t vm_module_custom_count(const vm_module *m)
{
    return m ? m->ncustoms : 0;
}

int vm_module_custom(const vm_module *m, uint32_t i, const char **name,
                     const uint8_t **data, size_t *len)
{
    if (!m)
        return VM_ERR_ARG;
    if (i >= m->ncustoms)
        return VM_ERR_NOT_FOUND;
    if (name)
        *name = m->customs[i].name;
    if (data)
        *data = m->customs[i].data;
    if (len)
        *len = m->customs[i].len;
    return 0;
}

/* ---- Step points -------------------------------------------------------- */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return (x > y) - (x < y);
}

int vm_module_set_step_points(vm_module *m, const uint32_t *offsets,
                              uint32_t n)
{
    uint32_t *pts, k = 0;

    if (!m || (n && !offsets) || m->step_points)
        return VM_ERR_ARG;
    if (n == 0)
        return 0;
    pts = vm__malloc((size_t)n * sizeof *pts);
    if (!pts)
        return VM_ERR_NOMEM;
    memcpy(pts, offsets, (size_t)n * sizeof *pts);
    qsort(pts, n, sizeof *pts, cmp_u32);
    for (uint32_t i = 0; i < n; i++)
        if (k == 0 || pts[k - 1] != pts[i])
            pts[k++] = pts[i];
    m->step_points = pts;
    m->nstep_points = k;
    return 0;
}

const uint32_t *vm_module_step_points(const vm_module *m, uint32_t *n)
{
    *n = m ? m->nstep_points : 0;
    return m ? m->step_points : NULL;
}
