/*
 * The decoded module: what decode.c produces, validate.c checks,
 * compile.c translates and runtime.c instantiates. Private to vm/.
 *
 * Ownership: everything hangs off the vm_module and is freed by
 * vm_module_free(). Byte ranges (code bodies, data segments, custom
 * sections) point into m->bytes, the module's own copy of the binary.
 * Strings are NUL-terminated copies (names may contain NUL bytes in the
 * binary; name_len keeps the true length for exact import matching).
 */
#ifndef TRACED_VM_MODULE_INT_H
#define TRACED_VM_MODULE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "traced/vm.h"

/* Implementation limits (checked by the decoder; VM_ERR_LIMIT or
 * MALFORMED as the spec requires). Overridable in vm_config.h. */
#include "vm_config.h"

typedef struct vm__functype {
    uint32_t nparams, nresults;
    uint8_t *types; /* nparams params then nresults results (vm_valtype) */
} vm__functype;

static inline const uint8_t *vm__functype_params(const vm__functype *t)
{
    return t->types;
}
static inline const uint8_t *vm__functype_results(const vm__functype *t)
{
    return t->types + t->nparams;
}

typedef struct vm__limits {
    uint32_t min, max;
    bool has_max;
} vm__limits;

typedef struct vm__tabletype {
    uint8_t elem_type; /* VM_FUNCREF or VM_EXTERNREF */
    vm__limits limits;
} vm__tabletype;

typedef struct vm__globaltype {
    uint8_t type; /* vm_valtype */
    bool mut;
} vm__globaltype;

/*
 * A constant expression, Wasm 2.0 form: exactly one of these instructions
 * followed by end. (Extended constant expressions are not in 2.0.)
 */
typedef enum vm__const_kind {
    VM_CONST_I32,
    VM_CONST_I64,
    VM_CONST_F32,
    VM_CONST_F64,
    VM_CONST_V128,
    VM_CONST_REF_NULL,   /* value.ref_type says which */
    VM_CONST_REF_FUNC,   /* index = funcidx */
    VM_CONST_GLOBAL_GET, /* index = globalidx */
    /* Well-formed but not a constant instruction, or more than one
     * instruction: the validator rejects it ("constant expression
     * required"); index holds the offending opcode's vm__opcode. */
    VM_CONST_INVALID,
} vm__const_kind;

typedef struct vm__constexpr {
    vm__const_kind kind;
    uint32_t index;  /* REF_FUNC, GLOBAL_GET */
    uint8_t ref_type; /* REF_NULL */
    union {
        uint32_t i32;
        uint64_t i64;
        uint32_t f32_bits;
        uint64_t f64_bits;
        uint8_t v128[16];
    } value;
    size_t offset; /* byte offset of the expression, for messages */
} vm__constexpr;

typedef struct vm__import {
    char *module, *name;
    uint32_t module_len, name_len;
    vm_extern_kind kind;
    union {
        uint32_t func_type; /* FUNC: typeidx */
        vm__tabletype table;
        vm__limits memory;
        vm__globaltype global;
        uint32_t tag_type; /* TAG: typeidx */
    } desc;
} vm__import;

typedef struct vm__export {
    char *name;
    uint32_t name_len;
    vm_extern_kind kind;
    uint32_t index;
} vm__export;

/* A run of locals of one type, as in the binary. */
typedef struct vm__local_run {
    uint32_t count;
    uint8_t type;
} vm__local_run;

struct vm__code; /* compiled form, defined by compile.c's header */

/* A function defined by the module (not imported). */
typedef struct vm__func {
    uint32_t type_idx;
    uint32_t nlocals;        /* declared locals, excluding params */
    uint8_t *local_types;    /* nlocals entries, expanded */
    const uint8_t *body;     /* first instruction, after the locals */
    size_t body_len;         /* up to and including the final end */
    size_t body_offset;      /* offset of body in m->bytes, for messages */
    struct vm__code *code;   /* set by compile.c; owned by the module */
} vm__func;

typedef struct vm__global {
    vm__globaltype type;
    vm__constexpr init;
} vm__global;

typedef enum vm__segment_mode {
    VM_SEG_ACTIVE,
    VM_SEG_PASSIVE,
    VM_SEG_DECLARATIVE, /* element segments only */
} vm__segment_mode;

typedef struct vm__elem {
    vm__segment_mode mode;
    uint8_t elem_type;    /* VM_FUNCREF or VM_EXTERNREF */
    uint32_t table_idx;   /* ACTIVE */
    vm__constexpr offset; /* ACTIVE */
    uint32_t count;
    vm__constexpr *items; /* count items: REF_FUNC, REF_NULL or GLOBAL_GET */
} vm__elem;

typedef struct vm__data {
    vm__segment_mode mode;
    uint32_t mem_idx;     /* ACTIVE */
    vm__constexpr offset; /* ACTIVE */
    const uint8_t *bytes; /* into m->bytes */
    uint32_t len;
} vm__data;

typedef struct vm__custom {
    char *name;
    const uint8_t *data; /* into m->bytes: the payload after the name */
    size_t len;
} vm__custom;

typedef struct vm__local_name {
    uint32_t idx;
    char *name;
} vm__local_name;

/* Parsed "name" custom section. A malformed name section is ignored (as
 * the spec says of custom sections) and leaves these empty. */
typedef struct vm__names {
    char *module;              /* or NULL */
    char **funcs;              /* nfuncs_total entries, NULL where unnamed */
    uint32_t *nlocal_names;    /* per function (index space), or NULL */
    vm__local_name **locals;   /* per function: sorted by idx */
} vm__names;

struct vm_module {
    uint8_t *bytes; /* owned copy of the binary */
    size_t len;
    uint32_t features; /* VM_FEATURE_* used to load it */

    uint32_t ntypes;
    vm__functype *types;

    uint32_t nimports;
    vm__import *imports;

    /* Index spaces: imports come first in each. */
    uint32_t nfuncs_imported, nfuncs_total;
    uint32_t *func_type_idx; /* nfuncs_total entries: typeidx of each */
    vm__func *funcs;         /* nfuncs_total - nfuncs_imported entries */

    uint32_t ntables_imported, ntables_total;
    vm__tabletype *tables; /* ntables_total entries (imports first) */

    uint32_t nmems_imported, nmems_total;
    vm__limits *mems; /* nmems_total entries (imports first) */

    uint32_t nglobals_imported, nglobals_total;
    vm__globaltype *global_types; /* nglobals_total entries */
    vm__global *globals;          /* defined: nglobals_total - imported */

    uint32_t ntags_imported, ntags_total;
    uint32_t *tag_type_idx; /* ntags_total entries: typeidx of each */

    uint32_t nexports;
    vm__export *exports;

    bool has_start;
    uint32_t start;

    uint32_t nelems;
    vm__elem *elems;

    bool has_datacount;
    uint32_t datacount;
    /* Some body uses memory.init or data.drop (set by the decoder). Without
     * a data count section that is malformed; vm_module_new reports it
     * after validation so that an also-invalid module reports that. */
    bool uses_data_index;
    uint32_t ndatas;
    vm__data *datas;

    /* Functions referenced outside function bodies (exports, elements,
     * global initialisers): ref.func in a body may only name these.
     * nfuncs_total entries, set by the decoder. */
    bool *func_declared;

    uint32_t ncustoms;
    vm__custom *customs;
    vm__names names;

    /* Step points (vm_module_set_step_points): sorted, unique module
     * offsets; owned. Set once, before stepped code is compiled. */
    uint32_t *step_points;
    uint32_t nstep_points;
};

/* Pipeline stages, each returning 0 or a VM_ERR_* with a message. */
int vm__decode(vm_module *m, char *err, size_t errlen);
int vm__validate(vm_module *m, char *err, size_t errlen);
int vm__compile(vm_module *m, char *err, size_t errlen);
/* Free what decode/compile allocated inside m (not m itself). */
void vm__module_release(vm_module *m);
void vm__code_free(struct vm__code *code);

/* Formatting helper for stage messages: writes into err, returns code. */
int vm__error(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Allocation wrapper for vm/: the one place tests inject out-of-memory. */
void *vm__malloc(size_t n);
void *vm__calloc(size_t n, size_t size);
void *vm__realloc(void *p, size_t n);
void vm__free(void *p);
char *vm__strndup(const char *s, size_t n);

#endif /* TRACED_VM_MODULE_INT_H */
