/*
 * The runtime: stores and the objects they own (function, memory, table,
 * global and tag instances), instantiation and linking, host functions and
 * the public call API. Execution itself is interp.c's (vm__interp_call);
 * this file prepares the stack for it and converts values at the boundary.
 *
 * Ownership. A store owns everything created in it and frees it all in
 * vm_store_free(): the instances (with their arrays and the storage of
 * their defined functions), and the standalone objects on s->owned
 * (host functions, memories, tables, globals, tags, and blocks of
 * instance globals). An instance's memories, tables and globals are store
 * objects, not instance parts, because other instances may import them and
 * the spec lets them outlive a failed instantiation.
 */
#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime_int.h"

/* ---- Store-owned objects ---------------------------------------------- */

/*
 * s->owned is a plain pointer array, so each entry carries its kind in the
 * low bits of the pointer: every object comes from malloc, whose alignment
 * leaves at least three bits free. One list keeps "free everything" a loop
 * and lets a failed instantiation discard what it created with one mark.
 */
enum owned_kind {
    OWN_BLOB = 0,   /* plain allocation: vm__free it */
    OWN_FUNC = 1,   /* host function */
    OWN_MEMORY = 2,
    OWN_TABLE = 3,
    OWN_GLOBAL = 4,
    OWN_KIND_MASK = 7,
};
_Static_assert(alignof(max_align_t) >= 8, "owned kinds need 3 pointer bits");

/*
 * A tag instance (exception handling) is an identity object: throw and
 * catch compare pointers. It records its interned type id so that an
 * imported tag can be type-checked. Stored as OWN_BLOB.
 */
struct vm__tag {
    uint32_t type_id;
    const vm_instance *inst; /* defining instance; NULL: vm_tag_new */
    uint32_t idx;            /* tag index in inst's module */
};

static void free_func(vm_func *f)
{
    vm__free(f->host_name);
    vm__free(f->host_type.types);
    vm__free(f);
}

static void free_memory(vm_memory *mem)
{
    vm__free(mem->data);
    vm__free(mem);
}

static void free_table(vm_table *t)
{
    vm__free(t->elems);
    vm__free(t);
}

static void free_owned(void *tagged)
{
    uintptr_t bits = (uintptr_t)tagged;
    void *obj = (void *)(bits & ~(uintptr_t)OWN_KIND_MASK);

    switch ((enum owned_kind)(bits & OWN_KIND_MASK)) {
    case OWN_FUNC:
        free_func(obj);
        break;
    case OWN_MEMORY:
        free_memory(obj);
        break;
    case OWN_TABLE:
        free_table(obj);
        break;
    case OWN_GLOBAL:
    case OWN_BLOB:
    default:
        vm__free(obj);
        break;
    }
}

/* Make room for one more owned entry, so that registering an object after
 * creating it cannot fail (and the object cannot leak). */
static int owned_reserve(vm_store *s)
{
    size_t cap;
    void **p;

    if (s->nowned < s->owned_cap)
        return 0;
    cap = s->owned_cap ? s->owned_cap * 2 : 16;
    p = vm__realloc(s->owned, cap * sizeof *p);
    if (!p)
        return VM_ERR_NOMEM;
    s->owned = p;
    s->owned_cap = cap;
    return 0;
}

/* Caller has called owned_reserve() since the last own(). */
static void own(vm_store *s, enum owned_kind kind, void *obj)
{
    s->owned[s->nowned++] = (void *)((uintptr_t)obj | (uintptr_t)kind);
}

/* Free the objects registered since mark (a failed instantiation's). */
static void owned_discard(vm_store *s, size_t mark)
{
    while (s->nowned > mark)
        free_owned(s->owned[--s->nowned]);
}

/* ---- Values ----------------------------------------------------------- */

static bool valtype_ok(int t)
{
    switch (t) {
    case VM_I32:
    case VM_I64:
    case VM_F32:
    case VM_F64:
    case VM_V128:
    case VM_FUNCREF:
    case VM_EXTERNREF:
        return true;
    }
    return false;
}

static bool reftype_ok(int t)
{
    return t == VM_FUNCREF || t == VM_EXTERNREF;
}

/* Encode v as a value of type t (the caller's declared type wins over
 * v->type, which a host function may have left unset). */
static void val_to_slots_as(uint8_t t, const vm_val *v, vm__slot *slots)
{
    switch (t) {
    case VM_I32:
        slots[0] = (uint32_t)v->of.i32;
        break;
    case VM_I64:
        slots[0] = (uint64_t)v->of.i64;
        break;
    case VM_F32:
        slots[0] = v->of.f32_bits;
        break;
    case VM_F64:
        slots[0] = v->of.f64_bits;
        break;
    case VM_V128:
        /* Low 8 bytes first; the host is little-endian like wasm. */
        memcpy(&slots[0], v->of.v128, 8);
        memcpy(&slots[1], v->of.v128 + 8, 8);
        break;
    default: /* references */
        slots[0] = (uintptr_t)v->of.ref;
        break;
    }
}

void vm__val_to_slots(const vm_val *v, vm__slot *slots)
{
    val_to_slots_as((uint8_t)v->type, v, slots);
}

void vm__slots_to_val(uint8_t type, const vm__slot *slots, vm_val *v)
{
    memset(v, 0, sizeof *v);
    v->type = (vm_valtype)type;
    switch (type) {
    case VM_I32:
        v->of.i32 = (int32_t)(uint32_t)slots[0];
        break;
    case VM_I64:
        v->of.i64 = (int64_t)slots[0];
        break;
    case VM_F32:
        v->of.f32_bits = (uint32_t)slots[0];
        break;
    case VM_F64:
        v->of.f64_bits = slots[0];
        break;
    case VM_V128:
        memcpy(v->of.v128, &slots[0], 8);
        memcpy(v->of.v128 + 8, &slots[1], 8);
        break;
    default:
        v->of.ref = (void *)(uintptr_t)slots[0];
        break;
    }
}

static uint32_t types_slots(const uint8_t *types, uint32_t n)
{
    uint32_t slots = 0;

    for (uint32_t i = 0; i < n; i++)
        slots += vm__type_slots(types[i]);
    return slots;
}

/* ---- Type interning ---------------------------------------------------- */

static uint32_t functype_hash(const vm__functype *t)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    uint32_t n = t->nparams + t->nresults;

    h = (h ^ t->nparams) * 16777619u;
    h = (h ^ t->nresults) * 16777619u;
    for (uint32_t i = 0; i < n; i++)
        h = (h ^ t->types[i]) * 16777619u;
    return h;
}

static bool functype_eq(const vm__functype *a, const vm__functype *b)
{
    return a->nparams == b->nparams && a->nresults == b->nresults &&
           memcmp(a->types, b->types, a->nparams + a->nresults) == 0;
}

static int type_index_rehash(vm_store *s, uint32_t cap)
{
    uint32_t *index = vm__calloc(cap, sizeof *index);

    if (!index)
        return VM_ERR_NOMEM;
    for (uint32_t id = 0; id < s->ntypes; id++) {
        uint32_t h = functype_hash(&s->types[id]) & (cap - 1);

        while (index[h])
            h = (h + 1) & (cap - 1);
        index[h] = id + 1;
    }
    vm__free(s->type_index);
    s->type_index = index;
    s->type_index_cap = cap;
    return 0;
}

int64_t vm__store_type_id(vm_store *s, const vm__functype *t)
{
    uint32_t mask, h, n = t->nparams + t->nresults;
    vm__functype copy;
    int rc;

    /* Keep the load factor at most 1/2, counting the entry we may add. */
    if ((uint64_t)(s->ntypes + 1) * 2 > s->type_index_cap) {
        if (s->type_index_cap >= (1u << 31))
            return VM_ERR_LIMIT;
        rc = type_index_rehash(s, s->type_index_cap ? s->type_index_cap * 2
                                                    : 64);
        if (rc)
            return rc;
    }
    mask = s->type_index_cap - 1;
    for (h = functype_hash(t) & mask; s->type_index[h]; h = (h + 1) & mask) {
        uint32_t id = s->type_index[h] - 1;

        if (functype_eq(&s->types[id], t))
            return id;
    }

    if (s->ntypes == s->types_cap) {
        uint32_t cap = s->types_cap ? s->types_cap * 2 : 16;
        vm__functype *p = vm__realloc(s->types, (size_t)cap * sizeof *p);

        if (!p)
            return VM_ERR_NOMEM;
        s->types = p;
        s->types_cap = cap;
    }
    copy.nparams = t->nparams;
    copy.nresults = t->nresults;
    copy.types = vm__malloc(n);
    if (!copy.types)
        return VM_ERR_NOMEM;
    if (n)
        memcpy(copy.types, t->types, n);
    s->types[s->ntypes] = copy;
    s->type_index[h] = s->ntypes + 1;
    return s->ntypes++;
}

/* ---- Stores ----------------------------------------------------------- */

int vm_store_new(const vm_store_limits *limits, vm_store **out)
{
    vm_store *s;

    if (!out)
        return VM_ERR_ARG;
    *out = NULL;
    s = vm__calloc(1, sizeof *s);
    if (!s)
        goto fail_store;
    if (limits)
        s->limits = *limits;
    if (s->limits.max_memory_pages == 0 ||
        s->limits.max_memory_pages > VM_MAX_PAGES)
        s->limits.max_memory_pages = VM_MAX_PAGES;
    if (s->limits.max_call_depth == 0)
        s->limits.max_call_depth = VM_DEFAULT_CALL_DEPTH;
    if (s->limits.stack_slots == 0)
        s->limits.stack_slots = VM_DEFAULT_STACK_SLOTS;

    /* Allocated now rather than on first call so that a call never fails
     * for want of memory half-way; untouched pages of a large malloc cost
     * nothing on the systems we run on. */
    /* Two slots of slack after the end: a trace sink copies two whole
     * slots for entries of fewer (interp.c, sink_frame). */
    s->stack = vm__malloc(((size_t)s->limits.stack_slots + 2) *
                          sizeof(vm__slot));
    if (!s->stack)
        goto fail_stack;
    s->stack_end = s->stack + s->limits.stack_slots;
    s->stack_top = s->stack;

    /* Frames are interp.c's layout; it allocates them on first use. */
    s->frames = NULL;
    s->frames_cap = 0;

    vm_store_set_fuel(s, s->limits.fuel ? s->limits.fuel : UINT64_MAX);
    atomic_init(&s->cancel, false);
    *out = s;
    return 0;

fail_stack:
    vm__free(s);
fail_store:
    return VM_ERR_NOMEM;
}

static void instance_free(vm_instance *inst)
{
    const vm_module *m = inst->module;

    if (inst->elem_refs)
        for (uint32_t i = 0; i < m->nelems; i++)
            vm__free(inst->elem_refs[i]);
    vm__free(inst->elem_refs);
    vm__free(inst->elem_len);
    vm__free(inst->data_len);
    vm__free(inst->type_ids);
    vm__free(inst->tags);
    vm__free(inst->globals);
    vm__free(inst->mems);
    vm__free(inst->tables);
    vm__free(inst->funcs);
    vm__free(inst->defined);
    vm__free(inst);
}

void vm_store_free(vm_store *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->ninstances; i++)
        instance_free(s->instances[i]);
    vm__free(s->instances);
    owned_discard(s, 0);
    vm__free(s->owned);
    for (uint32_t i = 0; i < s->ntypes; i++)
        vm__free(s->types[i].types);
    vm__free(s->types);
    vm__free(s->type_index);
    for (uint32_t i = 0; i < s->nexns; i++)
        vm__free(s->exns[i]);
    vm__free(s->exns);
    vm__free(s->frames);
    vm__free(s->stack);
    vm__free(s);
}

uint64_t vm_store_fuel(const vm_store *s)
{
    if (!s->fuel_on)
        return UINT64_MAX;
    return s->fuel < 0 ? 0 : (uint64_t)s->fuel;
}

/*
 * UINT64_MAX (what vm_store_fuel reports when unlimited) turns metering
 * off; any other value turns it on with that budget. When off, fuel stays
 * at INT64_MAX so the interpreter's unconditional subtract-and-test at
 * FUEL points never fires in practice.
 */
void vm_store_set_fuel(vm_store *s, uint64_t fuel)
{
    if (fuel == UINT64_MAX) {
        s->fuel_on = false;
        s->fuel = INT64_MAX;
    } else {
        s->fuel_on = true;
        s->fuel = fuel > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)fuel;
    }
}

/*
 * The request stays pending until a call reports VM_ERR_CANCELLED, so a
 * cancel that lands between two calls stops the next one rather than being
 * lost (a watchdog cannot tell the two cases apart). Relaxed is enough:
 * nothing else is published with the flag.
 */
void vm_store_cancel(vm_store *s)
{
    atomic_store_explicit(&s->cancel, true, memory_order_relaxed);
}

int32_t vm_store_exit_code(const vm_store *s)
{
    return s->exit_code;
}

/* ---- Tags and exceptions ---------------------------------------------- */

int vm_tag_new(vm_store *s, const vm_valtype *params, uint32_t nparams,
               void **out)
{
    struct vm__tag *tag;
    vm__functype t = {.nparams = nparams, .nresults = 0};
    int64_t id;
    int rc;

    if (!s || !out || (nparams && !params))
        return VM_ERR_ARG;
    *out = NULL;
    if (nparams > VM_MAX_PARAMS)
        return VM_ERR_LIMIT;
    for (uint32_t i = 0; i < nparams; i++)
        if (!valtype_ok(params[i]))
            return VM_ERR_ARG;
    rc = owned_reserve(s);
    if (rc)
        goto fail_reserve;
    rc = VM_ERR_NOMEM;
    tag = vm__calloc(1, sizeof *tag);
    if (!tag)
        goto fail_tag;
    t.types = vm__malloc(nparams ? nparams : 1);
    if (!t.types)
        goto fail_types;
    for (uint32_t i = 0; i < nparams; i++)
        t.types[i] = (uint8_t)params[i];
    id = vm__store_type_id(s, &t); /* copies t.types */
    vm__free(t.types);
    if (id < 0) {
        rc = (int)id;
        goto fail_types;
    }
    tag->type_id = (uint32_t)id;
    own(s, OWN_BLOB, tag);
    *out = tag;
    return 0;

fail_types:
    vm__free(tag);
fail_tag:
fail_reserve:
    return rc;
}

int vm_tag_type(const vm_store *s, const void *tag, vm_functype_view *out)
{
    const struct vm__tag *t = tag;
    const vm__functype *ft;

    if (!s || !t || !out || t->type_id >= s->ntypes)
        return VM_ERR_ARG;
    ft = &s->types[t->type_id];
    out->nparams = ft->nparams;
    out->nresults = 0;
    out->params = vm__functype_params(ft);
    out->results = NULL;
    return 0;
}

/* Is e still needed? See struct vm__exn. */
static bool exn_live(const vm_store *s, const struct vm__exn *e,
                     const vm__slot *live_end)
{
    return e == s->exn ||
           (e->home && e->home >= s->stack && e->home < live_end &&
            *e->home == (vm__slot)(uintptr_t)e);
}

struct vm__exn *vm__exn_new(vm_store *s, void *tag, const vm__slot *payload,
                            uint32_t nslots, const vm__slot *live_end)
{
    struct vm__exn *e;

    if (s->nexns == s->exns_cap) {
        /* Sweep; grow when more than half is still live, so that the
         * sweeps cost O(1) per throw, amortized. */
        uint32_t n = 0;
        for (uint32_t i = 0; i < s->nexns; i++) {
            if (exn_live(s, s->exns[i], live_end))
                s->exns[n++] = s->exns[i];
            else
                vm__free(s->exns[i]);
        }
        s->nexns = n;
        if (n * 2 > s->exns_cap || s->exns_cap == 0) {
            uint32_t cap = s->exns_cap ? s->exns_cap * 2 : 16;
            struct vm__exn **p;
            if (cap < s->exns_cap)
                return NULL;
            p = vm__realloc(s->exns, (size_t)cap * sizeof *p);
            if (!p)
                return NULL;
            s->exns = p;
            s->exns_cap = cap;
        }
    }
    e = vm__malloc(sizeof *e + (size_t)nslots * sizeof(vm__slot));
    if (!e)
        return NULL;
    e->tag = tag;
    e->home = NULL;
    e->nslots = nslots;
    if (nslots)
        memcpy(e->payload, payload, (size_t)nslots * sizeof(vm__slot));
    s->exns[s->nexns++] = e;
    s->exn = e;
    return e;
}

int vm_store_exception(const vm_store *s, void **tag, vm_val *payload,
                       uint32_t max, uint32_t *npayload)
{
    const struct vm__exn *e;
    const struct vm__tag *t;
    const vm__functype *ft;
    uint32_t k = 0;

    if (!s)
        return VM_ERR_ARG;
    e = s->exn;
    if (!e)
        return VM_ERR_NOT_FOUND;
    t = e->tag;
    ft = &s->types[t->type_id];
    if (tag)
        *tag = e->tag;
    if (npayload)
        *npayload = ft->nparams;
    for (uint32_t i = 0; i < ft->nparams && i < max && payload; i++) {
        uint8_t type = vm__functype_params(ft)[i];
        vm__slots_to_val(type, e->payload + k, &payload[i]);
        k += vm__type_slots(type);
    }
    return 0;
}

int vm_host_call_throw(vm_host_call *c, void *tag, const vm_val *payload,
                       uint32_t npayload)
{
    vm_store *s = c->store;
    const struct vm__tag *t = tag;
    const vm__functype *ft;
    vm__slot slots[2 * 16] = {0}, *buf = slots;
    uint32_t n = 0;
    int rc = 0;

    if (!t || t->type_id >= s->ntypes)
        return VM_ERR_ARG;
    ft = &s->types[t->type_id];
    if (npayload != ft->nparams || (npayload && !payload))
        return VM_ERR_ARG;
    for (uint32_t i = 0; i < npayload; i++) {
        if (payload[i].type != (vm_valtype)vm__functype_params(ft)[i])
            return VM_ERR_ARG;
        n += vm__type_slots(vm__functype_params(ft)[i]);
    }
    if (n > sizeof slots / sizeof slots[0] &&
        !(buf = vm__malloc((size_t)n * sizeof *buf)))
        return VM_ERR_NOMEM;
    n = 0;
    for (uint32_t i = 0; i < npayload; i++) {
        vm__val_to_slots(&payload[i], buf + n);
        n += vm__type_slots(payload[i].type);
    }
    if (!vm__exn_new(s, tag, buf, n, s->stack_top))
        rc = VM_ERR_NOMEM;
    else if (s->tracer)
        vm__trace_throw(s, NULL, s->exn);
    if (buf != slots)
        vm__free(buf);
    return rc;
}

/* ---- Host functions ---------------------------------------------------- */

void *vm_host_call_user(const vm_host_call *c)
{
    return c->callee->host_user;
}

vm_memory *vm_host_call_memory(const vm_host_call *c)
{
    return c->caller ? c->caller->mem0 : NULL;
}

vm_instance *vm_host_call_instance(const vm_host_call *c)
{
    return c->caller;
}

void vm_host_call_set_error(vm_host_call *c, const char *msg)
{
    snprintf(c->store->trap_msg, sizeof c->store->trap_msg, "%s",
             msg ? msg : "");
}

void vm_host_call_set_exit(vm_host_call *c, int32_t code)
{
    c->store->exit_code = code;
}

int vm_func_new_host(vm_store *s, const vm_valtype *params, uint32_t nparams,
                     const vm_valtype *results, uint32_t nresults,
                     vm_host_fn fn, void *user, const char *name,
                     vm_func **out)
{
    vm_func *f;
    int64_t id;
    int rc;

    if (!s || !fn || !out || (nparams && !params) || (nresults && !results))
        return VM_ERR_ARG;
    *out = NULL;
    if (nparams > VM_MAX_PARAMS || nresults > VM_MAX_RESULTS)
        return VM_ERR_LIMIT;
    for (uint32_t i = 0; i < nparams; i++)
        if (!valtype_ok(params[i]))
            return VM_ERR_ARG;
    for (uint32_t i = 0; i < nresults; i++)
        if (!valtype_ok(results[i]))
            return VM_ERR_ARG;

    rc = owned_reserve(s);
    if (rc)
        goto fail_reserve;
    rc = VM_ERR_NOMEM;
    f = vm__calloc(1, sizeof *f);
    if (!f)
        goto fail_func;
    f->host_type.nparams = nparams;
    f->host_type.nresults = nresults;
    f->host_type.types = vm__malloc(nparams + nresults);
    if (!f->host_type.types)
        goto fail_types;
    for (uint32_t i = 0; i < nparams; i++)
        f->host_type.types[i] = (uint8_t)params[i];
    for (uint32_t i = 0; i < nresults; i++)
        f->host_type.types[nparams + i] = (uint8_t)results[i];
    if (name) {
        f->host_name = vm__strndup(name, strlen(name));
        if (!f->host_name)
            goto fail_name;
    }
    id = vm__store_type_id(s, &f->host_type);
    if (id < 0) {
        rc = (int)id;
        goto fail_type_id;
    }
    f->type_id = (uint32_t)id;
    f->type = &f->host_type;
    f->host = fn;
    f->host_user = user;
    own(s, OWN_FUNC, f);
    *out = f;
    return 0;

fail_type_id:
    vm__free(f->host_name);
fail_name:
    vm__free(f->host_type.types);
fail_types:
    vm__free(f);
fail_func:
fail_reserve:
    return rc;
}

int vm_func_type(const vm_func *f, vm_functype_view *out)
{
    if (!f || !out)
        return VM_ERR_ARG;
    out->nparams = f->type->nparams;
    out->nresults = f->type->nresults;
    out->params = vm__functype_params(f->type);
    out->results = vm__functype_results(f->type);
    return 0;
}

/* Host errors must be VM_ERR_* codes; anything else becomes a host trap
 * so that callers can always switch on the code. */
static bool is_known_error(int rc)
{
    switch (rc) {
#define VM_X_CASE(name, value, msg) case value:
        VM_ERRORS(VM_X_CASE)
#undef VM_X_CASE
        return true;
    }
    return false;
}

/* Arrays of vm_val for a host call: on the C stack when small. */
#define HOST_INLINE_VALS 16

int vm__host_call(vm_store *s, vm_func *f, vm_instance *caller, vm__slot *sp)
{
    const vm__functype *t = f->type;
    const uint8_t *ptypes = vm__functype_params(t);
    const uint8_t *rtypes = vm__functype_results(t);
    vm_val args_inline[HOST_INLINE_VALS], results_inline[HOST_INLINE_VALS];
    vm_val *args = args_inline, *results = results_inline;
    vm_host_call call = {.store = s, .callee = f, .caller = caller};
    uint32_t pslots, rslots, k;
    vm__slot *saved_top, *live_end;
    int rc;

    if (t->nparams > HOST_INLINE_VALS) {
        args = vm__malloc(t->nparams * sizeof *args);
        if (!args) {
            rc = VM_ERR_NOMEM;
            goto fail_args;
        }
    }
    if (t->nresults > HOST_INLINE_VALS) {
        results = vm__malloc(t->nresults * sizeof *results);
        if (!results) {
            rc = VM_ERR_NOMEM;
            goto fail_results;
        }
    }
    k = 0;
    for (uint32_t i = 0; i < t->nparams; i++) {
        vm__slots_to_val(ptypes[i], sp + k, &args[i]);
        k += vm__type_slots(ptypes[i]);
    }
    pslots = k;
    for (uint32_t i = 0; i < t->nresults; i++) {
        memset(&results[i], 0, sizeof results[i]);
        results[i].type = (vm_valtype)rtypes[i];
    }
    rslots = types_slots(rtypes, t->nresults);

    /* A host function may call back into wasm (vm_func_call); that call
     * must start above everything live, which includes this call's slots
     * (the results land there). */
    saved_top = s->stack_top;
    live_end = sp + (pslots > rslots ? pslots : rslots);
    if (s->stack_top < live_end)
        s->stack_top = live_end;
    s->trap_msg[0] = '\0';
    rc = f->host(&call, args, results);
    s->stack_top = saved_top;

    if (rc == 0) {
        k = 0;
        for (uint32_t i = 0; i < t->nresults; i++) {
            val_to_slots_as(rtypes[i], &results[i], sp + k);
            k += vm__type_slots(rtypes[i]);
        }
    } else if (rc > 0 || !is_known_error(rc) ||
               (rc == VM_ERR_EXCEPTION && !s->exn)) {
        /* VM_ERR_EXCEPTION passes an exception on (one a nested call
         * raised, or vm_host_call_throw's); without one it is a bug. */
        rc = VM_ERR_TRAP_HOST;
    }

    if (results != results_inline)
        vm__free(results);
fail_results:
    if (args != args_inline)
        vm__free(args);
fail_args:
    return rc;
}

/* ---- Memories ---------------------------------------------------------- */

/* Create a memory of min pages whose growth stops at the declared max (if
 * any) and at the store's cap. VM_ERR_LIMIT when min is over the cap. */
static int memory_create(vm_store *s, uint32_t min, uint32_t max,
                         bool has_max, vm_memory **out, char *err,
                         size_t errlen)
{
    uint32_t cap = s->limits.max_memory_pages;
    uint64_t bytes = (uint64_t)min * VM_PAGE_SIZE;
    vm_memory *mem;
    int rc;

    if (min > VM_MAX_PAGES || (has_max && (max > VM_MAX_PAGES || max < min)))
        return vm__error(err, errlen, VM_ERR_ARG,
                         "memory limits %u..%u are not valid", min, max);
    if (has_max && max < cap)
        cap = max;
    if (min > cap)
        return vm__error(err, errlen, VM_ERR_LIMIT,
                         "memory of %u pages exceeds the store limit of %u",
                         min, s->limits.max_memory_pages);
    if (bytes > SIZE_MAX)
        return vm__error(err, errlen, VM_ERR_NOMEM, "memory too large");

    rc = owned_reserve(s);
    if (rc)
        goto fail_reserve;
    rc = VM_ERR_NOMEM;
    mem = vm__calloc(1, sizeof *mem);
    if (!mem)
        goto fail_mem;
    mem->data = vm__calloc((size_t)bytes, 1);
    if (!mem->data)
        goto fail_data;
    mem->size = bytes;
    mem->pages = min;
    mem->max_pages = cap;
    mem->has_max = has_max;
    mem->decl_max = has_max ? max : 0;
    own(s, OWN_MEMORY, mem);
    *out = mem;
    return 0;

fail_data:
    vm__free(mem);
fail_mem:
fail_reserve:
    return vm__error(err, errlen, rc, "cannot allocate memory of %u pages",
                     min);
}

int vm_memory_new(vm_store *s, uint32_t min_pages, uint32_t max_pages,
                  bool has_max, vm_memory **out)
{
    if (!s || !out)
        return VM_ERR_ARG;
    *out = NULL;
    return memory_create(s, min_pages, max_pages, has_max, out, NULL, 0);
}

uint8_t *vm_memory_data(vm_memory *mem)
{
    return mem->data;
}

uint64_t vm_memory_size(const vm_memory *mem)
{
    return mem->size;
}

uint32_t vm_memory_pages(const vm_memory *mem)
{
    return mem->pages;
}

int64_t vm__memory_grow(vm_memory *mem, uint32_t delta_pages)
{
    uint64_t pages = (uint64_t)mem->pages + delta_pages;
    uint64_t bytes = pages * VM_PAGE_SIZE;
    uint32_t old = mem->pages;
    uint8_t *data;

    if (delta_pages == 0)
        return old;
    if (pages > mem->max_pages || bytes > SIZE_MAX)
        return -1;
    /* Failing to get the memory is a failed grow (-1), which the spec
     * allows at any size, not a trap. */
    data = vm__realloc(mem->data, (size_t)bytes);
    if (!data)
        return -1;
    memset(data + mem->size, 0, (size_t)(bytes - mem->size));
    mem->data = data;
    mem->size = bytes;
    mem->pages = (uint32_t)pages;
    return old;
}

int64_t vm_memory_grow(vm_memory *mem, uint32_t delta_pages)
{
    return vm__memory_grow(mem, delta_pages);
}

/* ---- Tables ------------------------------------------------------------ */

static int table_create(vm_store *s, uint8_t elem, uint32_t min, uint32_t max,
                        bool has_max, void *init, vm_table **out, char *err,
                        size_t errlen)
{
    vm_table *t;
    int rc;

    if (!reftype_ok(elem) || (has_max && max < min))
        return vm__error(err, errlen, VM_ERR_ARG, "table type is not valid");
    if (min > VM_MAX_TABLE_SIZE)
        return vm__error(err, errlen, VM_ERR_LIMIT,
                         "table of %u elements exceeds the limit of %u", min,
                         VM_MAX_TABLE_SIZE);
    rc = owned_reserve(s);
    if (rc)
        goto fail_reserve;
    rc = VM_ERR_NOMEM;
    t = vm__calloc(1, sizeof *t);
    if (!t)
        goto fail_table;
    t->elems = vm__calloc(min, sizeof *t->elems);
    if (!t->elems)
        goto fail_elems;
    for (uint32_t i = 0; init && i < min; i++)
        t->elems[i] = init;
    t->elem_type = elem;
    t->size = min;
    t->has_max = has_max;
    t->max = has_max ? max : 0;
    own(s, OWN_TABLE, t);
    *out = t;
    return 0;

fail_elems:
    vm__free(t);
fail_table:
fail_reserve:
    return vm__error(err, errlen, rc, "cannot allocate table of %u elements",
                     min);
}

int vm_table_new(vm_store *s, vm_valtype elem, uint32_t min, uint32_t max,
                 bool has_max, void *init, vm_table **out)
{
    if (!s || !out)
        return VM_ERR_ARG;
    *out = NULL;
    return table_create(s, (uint8_t)elem, min, max, has_max, init, out,
                        NULL, 0);
}

uint32_t vm_table_size(const vm_table *t)
{
    return t->size;
}

/* An index past the end is the same error the instruction would trap
 * with, so embedders can report it in the spec's words. */
int vm_table_get(const vm_table *t, uint32_t i, vm_val *out)
{
    if (!t || !out)
        return VM_ERR_ARG;
    if (i >= t->size)
        return VM_ERR_TRAP_TABLE_OOB;
    memset(out, 0, sizeof *out);
    out->type = (vm_valtype)t->elem_type;
    out->of.ref = t->elems[i];
    return 0;
}

int vm_table_set(vm_table *t, uint32_t i, const vm_val *v)
{
    if (!t || !v || v->type != (vm_valtype)t->elem_type)
        return VM_ERR_ARG;
    if (i >= t->size)
        return VM_ERR_TRAP_TABLE_OOB;
    t->elems[i] = v->of.ref;
    return 0;
}

int64_t vm__table_grow(vm_table *t, uint32_t delta, void *init)
{
    uint64_t size = (uint64_t)t->size + delta;
    uint64_t limit = t->has_max ? t->max : UINT32_MAX;
    uint32_t old = t->size;
    void **elems;

    if (delta == 0)
        return old;
    if (limit > VM_MAX_TABLE_SIZE)
        limit = VM_MAX_TABLE_SIZE;
    if (size > limit)
        return -1;
    elems = vm__realloc(t->elems, (size_t)size * sizeof *elems);
    if (!elems)
        return -1;
    for (uint64_t i = old; i < size; i++)
        elems[i] = init;
    t->elems = elems;
    t->size = (uint32_t)size;
    return old;
}

/* ---- Globals ----------------------------------------------------------- */

int vm_global_new(vm_store *s, const vm_val *init, bool mutable_,
                  vm_global **out)
{
    vm_global *g;
    int rc;

    if (!s || !init || !out || !valtype_ok(init->type))
        return VM_ERR_ARG;
    *out = NULL;
    rc = owned_reserve(s);
    if (rc)
        return rc;
    g = vm__calloc(1, sizeof *g);
    if (!g)
        return VM_ERR_NOMEM;
    g->type = (uint8_t)init->type;
    g->mut = mutable_;
    vm__val_to_slots(init, g->val);
    own(s, OWN_GLOBAL, g);
    *out = g;
    return 0;
}

void vm_global_get(const vm_global *g, vm_val *out)
{
    vm__slots_to_val(g->type, g->val, out);
}

int vm_global_set(vm_global *g, const vm_val *v)
{
    if (!g || !v || !g->mut || v->type != (vm_valtype)g->type)
        return VM_ERR_ARG;
    vm__val_to_slots(v, g->val);
    return 0;
}

/* ---- Calls ------------------------------------------------------------- */

/* Message for a failed call: the code's text, then the trap detail the
 * interpreter or a host function left. The spec suite matches trap text
 * by prefix, so the message always starts with the code's text. */
/* "uncaught exception: tag 1 "e1" of module "m" (i32:7)": the tag by its
 * index, export name and module name where it has them, and the
 * payload. */
static int exception_error(const vm_store *s, char *err, size_t errlen)
{
    const struct vm__exn *e = s->exn;
    const struct vm__tag *t = e->tag;
    const vm__functype *ft = &s->types[t->type_id];
    char buf[200];
    size_t n = 0;
    int w;

#define APPEND(...)                                                         \
    do {                                                                    \
        w = snprintf(buf + n, sizeof buf - n, __VA_ARGS__);                 \
        if (w > 0)                                                          \
            n = n + (size_t)w < sizeof buf ? n + (size_t)w                  \
                                           : sizeof buf - 1;                \
    } while (0)
    if (t->inst) {
        const vm_module *m = t->inst->module;
        APPEND("tag %u", t->idx);
        for (uint32_t i = 0; i < m->nexports; i++) {
            const vm__export *x = &m->exports[i];
            if (x->kind == VM_EXTERN_TAG && x->index == t->idx) {
                APPEND(" \"%.*s\"", (int)(x->name_len > 64 ? 64 : x->name_len),
                       x->name);
                break;
            }
        }
        if (vm_module_name(m))
            APPEND(" of module \"%.64s\"", vm_module_name(m));
    } else {
        APPEND("host tag");
    }
    APPEND(" (");
    for (uint32_t i = 0, k = 0; i < ft->nparams && i < 8; i++) {
        uint8_t type = vm__functype_params(ft)[i];
        uint64_t v = e->payload[k];
        if (type == VM_I32 || type == VM_F32)
            v = (uint32_t)v;
        APPEND("%s%s:0x%llx", i ? " " : "", vm_valtype_name((vm_valtype)type),
               (unsigned long long)v);
        k += vm__type_slots(type);
    }
    APPEND("%s)", ft->nparams > 8 ? " ..." : "");
#undef APPEND
    return vm__error(err, errlen, VM_ERR_EXCEPTION, "%s: %s",
                     vm_strerror(VM_ERR_EXCEPTION), buf);
}

static int call_error(vm_store *s, int rc, char *err, size_t errlen)
{
    const char *what = vm_strerror(rc);

    if (rc == VM_ERR_EXIT)
        return vm__error(err, errlen, rc, "%s with code %d", what,
                         (int)s->exit_code);
    if (rc == VM_ERR_EXCEPTION && s->exn)
        return exception_error(s, err, errlen);
    /* Detail that already starts with the spec's text (the interpreter
     * writes "uninitialized element 2") is the whole message. */
    if (s->trap_msg[0] && strncmp(s->trap_msg, what, strlen(what)) == 0)
        return vm__error(err, errlen, rc, "%s", s->trap_msg);
    if (s->trap_msg[0])
        return vm__error(err, errlen, rc, "%s: %s", what, s->trap_msg);
    return vm__error(err, errlen, rc, "%s", what);
}

const uint8_t *vm__tag_params(const vm_store *s, const void *tag,
                              uint32_t *count)
{
    const struct vm__tag *t = tag;
    const vm__functype *ft;

    if (!t || t->type_id >= s->ntypes) {
        *count = 0;
        return NULL;
    }
    ft = &s->types[t->type_id];
    *count = ft->nparams;
    return vm__functype_params(ft);
}

int vm_trace_vals_get(const vm_trace_vals *vals, uint32_t i, vm_val *out)
{
    uint32_t k = 0;

    if (!vals || !out || i >= vals->count || !vals->slots)
        return VM_ERR_ARG;
    for (uint32_t j = 0; j < i; j++)
        k += vm__type_slots(vals->types[j]);
    vm__slots_to_val(vals->types[i], vals->slots + k, out);
    return 0;
}

int vm_func_call(vm_store *s, vm_func *f, const vm_val *args, uint32_t nargs,
                 vm_val *results, uint32_t nresults, char *err, size_t errlen)
{
    return vm_func_call_traced(s, f, args, nargs, results, nresults, NULL,
                               err, errlen);
}

/*
 * The tracer is the store's for the duration of the call: t, or, for a
 * call without one made while a traced call runs (a host function calling
 * back in), the enclosing call's. The interpreter picks its dispatch loop
 * by it, once per call.
 */
int vm_func_call_traced(vm_store *s, vm_func *f, const vm_val *args,
                        uint32_t nargs, vm_val *results, uint32_t nresults,
                        const vm_tracer *tracer, char *err, size_t errlen)
{
    const vm_tracer *outer_tracer;
    const vm__functype *t;
    const uint8_t *ptypes, *rtypes;
    uint32_t pslots, rslots, k;
    vm__slot *sp;
    int rc;

    if (!s || !f)
        return vm__error(err, errlen, VM_ERR_ARG, "no store or function");
    if (f->inst && f->inst->store != s)
        return vm__error(err, errlen, VM_ERR_ARG,
                         "function belongs to another store");
    t = f->type;
    ptypes = vm__functype_params(t);
    rtypes = vm__functype_results(t);
    if (nargs != t->nparams)
        return vm__error(err, errlen, VM_ERR_ARG,
                         "function takes %u arguments, %u given", t->nparams,
                         nargs);
    if (nargs && !args)
        return vm__error(err, errlen, VM_ERR_ARG, "no arguments given");
    for (uint32_t i = 0; i < nargs; i++)
        if (args[i].type != (vm_valtype)ptypes[i])
            return vm__error(err, errlen, VM_ERR_ARG,
                             "argument %u: expected %s, got %s", i,
                             vm_valtype_name((vm_valtype)ptypes[i]),
                             vm_valtype_name(args[i].type));
    if (nresults < t->nresults || (t->nresults && !results))
        return vm__error(err, errlen, VM_ERR_ARG,
                         "function returns %u results, room for %u given",
                         t->nresults, nresults);

    pslots = types_slots(ptypes, t->nparams);
    rslots = types_slots(rtypes, t->nresults);
    sp = s->stack_top;
    if ((size_t)(s->stack_end - sp) < (pslots > rslots ? pslots : rslots))
        return vm__error(err, errlen, VM_ERR_TRAP_EXHAUSTION,
                         "%s: value stack full",
                         vm_strerror(VM_ERR_TRAP_EXHAUSTION));
    k = 0;
    for (uint32_t i = 0; i < nargs; i++) {
        vm__val_to_slots(&args[i], sp + k);
        k += vm__type_slots(ptypes[i]);
    }

    if (s->api_calls == 0)
        s->exn = NULL; /* the last call's uncaught exception, if any */
    outer_tracer = s->tracer;
    if (tracer)
        s->tracer = tracer;
    else if (s->api_calls == 0)
        s->tracer = NULL;
    s->trace_trap_fired = false;
    s->api_calls++;
    s->trap_msg[0] = '\0';
    rc = vm__interp_call(s, f, sp); /* host functions too */
    s->stack_top = sp;
    s->api_calls--;
    s->tracer = outer_tracer;

    if (rc) {
        /* The outermost call consumes a delivered cancel request; nested
         * ones leave it for the calls above them to see too. */
        if (rc == VM_ERR_CANCELLED && s->api_calls == 0)
            atomic_store_explicit(&s->cancel, false, memory_order_relaxed);
        return call_error(s, rc, err, errlen);
    }
    k = 0;
    for (uint32_t i = 0; i < t->nresults; i++) {
        vm__slots_to_val(rtypes[i], sp + k, &results[i]);
        k += vm__type_slots(rtypes[i]);
    }
    return 0;
}

/* ---- Instances --------------------------------------------------------- */

static const char *kind_name(vm_extern_kind k)
{
    switch (k) {
    case VM_EXTERN_FUNC: return "function";
    case VM_EXTERN_TABLE: return "table";
    case VM_EXTERN_MEMORY: return "memory";
    case VM_EXTERN_GLOBAL: return "global";
    case VM_EXTERN_TAG: return "tag";
    }
    return "unknown";
}

static vm_instance *instance_alloc(vm_store *s, const vm_module *m)
{
    vm_instance *inst = vm__calloc(1, sizeof *inst);

    if (!inst)
        return NULL;
    inst->store = s;
    inst->module = m;
    inst->funcs = vm__calloc(m->nfuncs_total, sizeof *inst->funcs);
    inst->tables = vm__calloc(m->ntables_total, sizeof *inst->tables);
    inst->mems = vm__calloc(m->nmems_total, sizeof *inst->mems);
    inst->globals = vm__calloc(m->nglobals_total, sizeof *inst->globals);
    inst->tags = vm__calloc(m->ntags_total, sizeof *inst->tags);
    inst->type_ids = vm__calloc(m->ntypes, sizeof *inst->type_ids);
    inst->data_len = vm__calloc(m->ndatas, sizeof *inst->data_len);
    inst->elem_len = vm__calloc(m->nelems, sizeof *inst->elem_len);
    inst->elem_refs = vm__calloc(m->nelems, sizeof *inst->elem_refs);
    inst->defined = vm__calloc(m->nfuncs_total - m->nfuncs_imported,
                               sizeof *inst->defined);
    if (!inst->funcs || !inst->tables || !inst->mems || !inst->globals ||
        !inst->tags || !inst->type_ids || !inst->data_len ||
        !inst->elem_len || !inst->elem_refs || !inst->defined) {
        instance_free(inst);
        return NULL;
    }
    return inst;
}

static int intern_types(vm_store *s, vm_instance *inst, char *err,
                        size_t errlen)
{
    const vm_module *m = inst->module;

    for (uint32_t i = 0; i < m->ntypes; i++) {
        int64_t id = vm__store_type_id(s, &m->types[i]);

        if (id < 0)
            return vm__error(err, errlen, (int)id, "cannot intern type %u",
                             i);
        inst->type_ids[i] = (uint32_t)id;
    }
    return 0;
}

/* Spec "import matching" for limits: the provided object's current size
 * covers the required min, and its declared max (if required) is within. */
static bool limits_match(uint32_t have_min, bool have_has_max,
                         uint32_t have_max, const vm__limits *want)
{
    if (have_min < want->min)
        return false;
    if (want->has_max && (!have_has_max || have_max > want->max))
        return false;
    return true;
}

static int link_imports(vm_store *s, vm_instance *inst,
                        const vm_extern *imports, char *err, size_t errlen)
{
    const vm_module *m = inst->module;
    uint32_t nf = 0, nt = 0, nm = 0, ng = 0, ntag = 0;

    for (uint32_t i = 0; i < m->nimports; i++) {
        const vm__import *im = &m->imports[i];
        const vm_extern *ex = &imports[i];
        const char *why = NULL;

        if (ex->kind != im->kind) {
            return vm__error(err, errlen, VM_ERR_UNLINKABLE,
                             "incompatible import type: %s.%s: expected "
                             "%s, got %s", im->module, im->name,
                             kind_name(im->kind), kind_name(ex->kind));
        }
        switch (im->kind) {
        case VM_EXTERN_FUNC: {
            vm_func *f = ex->of.func;

            if (!f)
                why = "null function";
            else if (f->inst && f->inst->store != s)
                why = "function of another store";
            else if (f->type_id != inst->type_ids[im->desc.func_type])
                why = "function type mismatch";
            inst->funcs[nf++] = f;
            break;
        }
        case VM_EXTERN_TABLE: {
            vm_table *t = ex->of.table;

            if (!t)
                why = "null table";
            else if (t->elem_type != im->desc.table.elem_type)
                why = "element type mismatch";
            else if (!limits_match(t->size, t->has_max, t->max,
                                   &im->desc.table.limits))
                why = "table limits mismatch";
            inst->tables[nt++] = t;
            break;
        }
        case VM_EXTERN_MEMORY: {
            vm_memory *mem = ex->of.memory;

            if (!mem)
                why = "null memory";
            else if (!limits_match(mem->pages, mem->has_max, mem->decl_max,
                                   &im->desc.memory))
                why = "memory limits mismatch";
            inst->mems[nm++] = mem;
            break;
        }
        case VM_EXTERN_GLOBAL: {
            vm_global *g = ex->of.global;

            if (!g)
                why = "null global";
            else if (g->type != im->desc.global.type)
                why = "global type mismatch";
            else if (g->mut != im->desc.global.mut)
                why = "global mutability mismatch";
            inst->globals[ng++] = g;
            break;
        }
        case VM_EXTERN_TAG: {
            struct vm__tag *tag = ex->of.tag;

            if (!tag)
                why = "null tag";
            else if (tag->type_id != inst->type_ids[im->desc.tag_type])
                why = "tag type mismatch";
            inst->tags[ntag++] = tag;
            break;
        }
        default:
            why = "unknown import kind";
            break;
        }
        if (why)
            return vm__error(err, errlen, VM_ERR_UNLINKABLE,
                             "incompatible import type: %s.%s: %s",
                             im->module, im->name, why);
    }
    return 0;
}

static void create_funcs(vm_instance *inst)
{
    const vm_module *m = inst->module;
    uint32_t ndefined = m->nfuncs_total - m->nfuncs_imported;

    for (uint32_t i = 0; i < ndefined; i++) {
        vm_func *f = &inst->defined[i];
        uint32_t idx = m->nfuncs_imported + i;
        uint32_t type_idx = m->func_type_idx[idx];

        f->type_id = inst->type_ids[type_idx];
        f->type = &m->types[type_idx];
        f->inst = inst;
        f->func_idx = idx;
        f->code = m->funcs[i].code;
        inst->funcs[idx] = f;
    }
}

/* Evaluate a constant expression in the (partially built) instance. The
 * validator has checked indices and types; the checks here only keep a
 * bad module from crashing the runtime. */
static int eval_const(const vm_instance *inst, const vm__constexpr *e,
                      vm__slot out[2])
{
    const vm_module *m = inst->module;

    out[0] = out[1] = 0;
    switch (e->kind) {
    case VM_CONST_I32:
        out[0] = e->value.i32;
        return 0;
    case VM_CONST_I64:
        out[0] = e->value.i64;
        return 0;
    case VM_CONST_F32:
        out[0] = e->value.f32_bits;
        return 0;
    case VM_CONST_F64:
        out[0] = e->value.f64_bits;
        return 0;
    case VM_CONST_V128:
        memcpy(&out[0], e->value.v128, 8);
        memcpy(&out[1], e->value.v128 + 8, 8);
        return 0;
    case VM_CONST_REF_NULL:
        return 0;
    case VM_CONST_REF_FUNC:
        if (e->index >= m->nfuncs_total || !inst->funcs[e->index])
            return VM_ERR_INVALID;
        out[0] = (uintptr_t)inst->funcs[e->index];
        return 0;
    case VM_CONST_GLOBAL_GET:
        if (e->index >= m->nglobals_total || !inst->globals[e->index])
            return VM_ERR_INVALID;
        out[0] = inst->globals[e->index]->val[0];
        out[1] = inst->globals[e->index]->val[1];
        return 0;
    case VM_CONST_INVALID:
        break;
    }
    return VM_ERR_INVALID;
}

/* The module's globals, in one store-owned block, initialised in order
 * (an initialiser sees the imported globals and the earlier ones). */
static int create_globals(vm_store *s, vm_instance *inst, char *err,
                          size_t errlen)
{
    const vm_module *m = inst->module;
    uint32_t ndefined = m->nglobals_total - m->nglobals_imported;
    vm_global *block;
    int rc;

    if (ndefined == 0)
        return 0;
    rc = owned_reserve(s);
    if (rc)
        return vm__error(err, errlen, rc, "cannot allocate globals");
    block = vm__calloc(ndefined, sizeof *block);
    if (!block)
        return vm__error(err, errlen, VM_ERR_NOMEM,
                         "cannot allocate globals");
    own(s, OWN_BLOB, block);
    for (uint32_t i = 0; i < ndefined; i++) {
        const vm__global *def = &m->globals[i];
        vm_global *g = &block[i];

        g->type = def->type.type;
        g->mut = def->type.mut;
        rc = eval_const(inst, &def->init, g->val);
        if (rc)
            return vm__error(err, errlen, rc,
                             "global %u: bad initialiser",
                             m->nglobals_imported + i);
        inst->globals[m->nglobals_imported + i] = g;
    }
    return 0;
}

static int create_tables_memories(vm_store *s, vm_instance *inst, char *err,
                                  size_t errlen)
{
    const vm_module *m = inst->module;
    int rc;

    for (uint32_t i = m->ntables_imported; i < m->ntables_total; i++) {
        const vm__tabletype *tt = &m->tables[i];

        rc = table_create(s, tt->elem_type, tt->limits.min, tt->limits.max,
                          tt->limits.has_max, NULL, &inst->tables[i], err,
                          errlen);
        if (rc)
            return rc;
    }
    for (uint32_t i = m->nmems_imported; i < m->nmems_total; i++) {
        const vm__limits *l = &m->mems[i];

        rc = memory_create(s, l->min, l->max, l->has_max, &inst->mems[i],
                           err, errlen);
        if (rc)
            return rc;
    }
    inst->mem0 = m->nmems_total ? inst->mems[0] : NULL;
    return 0;
}

static int create_tags(vm_store *s, vm_instance *inst, char *err,
                       size_t errlen)
{
    const vm_module *m = inst->module;

    for (uint32_t i = m->ntags_imported; i < m->ntags_total; i++) {
        struct vm__tag *tag;

        if (owned_reserve(s) || !(tag = vm__calloc(1, sizeof *tag)))
            return vm__error(err, errlen, VM_ERR_NOMEM,
                             "cannot allocate tag %u", i);
        tag->type_id = inst->type_ids[m->tag_type_idx[i]];
        tag->inst = inst;
        tag->idx = i;
        own(s, OWN_BLOB, tag);
        inst->tags[i] = tag;
    }
    return 0;
}

/* Evaluate every element segment's items (the spec does this before any
 * segment is applied) and set the data segments' lengths. */
static int eval_segments(vm_instance *inst, char *err, size_t errlen)
{
    const vm_module *m = inst->module;
    vm__slot v[2];
    int rc;

    for (uint32_t i = 0; i < m->nelems; i++) {
        const vm__elem *e = &m->elems[i];

        inst->elem_refs[i] = vm__calloc(e->count, sizeof(void *));
        if (!inst->elem_refs[i])
            return vm__error(err, errlen, VM_ERR_NOMEM,
                             "cannot allocate element segment %u", i);
        for (uint32_t j = 0; j < e->count; j++) {
            rc = eval_const(inst, &e->items[j], v);
            if (rc)
                return vm__error(err, errlen, rc,
                                 "element segment %u item %u: bad "
                                 "expression", i, j);
            inst->elem_refs[i][j] = (void *)(uintptr_t)v[0];
        }
        inst->elem_len[i] = e->count;
    }
    for (uint32_t i = 0; i < m->ndatas; i++)
        inst->data_len[i] = m->datas[i].len;
    return 0;
}

/* Apply the active segments in order, as the spec's table.init/elem.drop
 * and memory.init/data.drop sequence: a segment out of bounds traps, and
 * what earlier segments wrote stays written. */
static int apply_segments(vm_instance *inst, char *err, size_t errlen)
{
    const vm_module *m = inst->module;
    vm__slot v[2];
    int rc;

    for (uint32_t i = 0; i < m->nelems; i++) {
        const vm__elem *e = &m->elems[i];
        vm_table *t;
        uint32_t offset;

        if (e->mode == VM_SEG_DECLARATIVE) {
            inst->elem_len[i] = 0;
            continue;
        }
        if (e->mode != VM_SEG_ACTIVE)
            continue;
        if (e->table_idx >= m->ntables_total)
            return vm__error(err, errlen, VM_ERR_INVALID,
                             "element segment %u: no table %u", i,
                             e->table_idx);
        rc = eval_const(inst, &e->offset, v);
        if (rc)
            return vm__error(err, errlen, rc,
                             "element segment %u: bad offset", i);
        offset = (uint32_t)v[0];
        t = inst->tables[e->table_idx];
        if ((uint64_t)offset + e->count > t->size)
            return vm__error(err, errlen, VM_ERR_TRAP_TABLE_OOB,
                             "%s: element segment %u at %u+%u, table size "
                             "%u", vm_strerror(VM_ERR_TRAP_TABLE_OOB), i,
                             offset, e->count, t->size);
        if (e->count)
            memcpy(t->elems + offset, inst->elem_refs[i],
                   e->count * sizeof(void *));
        inst->elem_len[i] = 0;
    }
    for (uint32_t i = 0; i < m->ndatas; i++) {
        const vm__data *d = &m->datas[i];
        vm_memory *mem;
        uint32_t offset;

        if (d->mode != VM_SEG_ACTIVE)
            continue;
        if (d->mem_idx >= m->nmems_total)
            return vm__error(err, errlen, VM_ERR_INVALID,
                             "data segment %u: no memory %u", i, d->mem_idx);
        rc = eval_const(inst, &d->offset, v);
        if (rc)
            return vm__error(err, errlen, rc, "data segment %u: bad offset",
                             i);
        offset = (uint32_t)v[0];
        mem = inst->mems[d->mem_idx];
        if ((uint64_t)offset + d->len > mem->size)
            return vm__error(err, errlen, VM_ERR_TRAP_MEM_OOB,
                             "%s: data segment %u at %u+%u, memory size "
                             "%llu", vm_strerror(VM_ERR_TRAP_MEM_OOB), i,
                             offset, d->len, (unsigned long long)mem->size);
        if (d->len)
            memcpy(mem->data + offset, d->bytes, d->len);
        inst->data_len[i] = 0;
    }
    return 0;
}

static int instances_reserve(vm_store *s)
{
    size_t cap;
    vm_instance **p;

    if (s->ninstances < s->instances_cap)
        return 0;
    cap = s->instances_cap ? s->instances_cap * 2 : 8;
    p = vm__realloc(s->instances, cap * sizeof *p);
    if (!p)
        return VM_ERR_NOMEM;
    s->instances = p;
    s->instances_cap = cap;
    return 0;
}

int vm_instance_new(vm_store *s, const vm_module *m, const vm_extern *imports,
                    uint32_t nimports, vm_instance **out, char *err,
                    size_t errlen)
{
    return vm_instance_new_traced(s, m, imports, nimports, NULL, out, err,
                                  errlen);
}

int vm_instance_new_traced(vm_store *s, const vm_module *m,
                           const vm_extern *imports, uint32_t nimports,
                           const vm_tracer *t, vm_instance **out, char *err,
                           size_t errlen)
{
    vm_instance *inst;
    size_t owned_mark;
    int rc;

    if (!s || !m || !out || (nimports && !imports))
        return vm__error(err, errlen, VM_ERR_ARG,
                         "no store, module or output");
    *out = NULL;
    if (nimports != m->nimports)
        return vm__error(err, errlen, VM_ERR_UNLINKABLE,
                         "module has %u imports, %u given", m->nimports,
                         nimports);
    /* Reserve the instance's place in the store first: once segments are
     * applied the instance may be referenced from imported tables, so from
     * then on it must be registered, and registering must not fail. */
    if (instances_reserve(s))
        return vm__error(err, errlen, VM_ERR_NOMEM,
                         "cannot allocate instance");
    inst = instance_alloc(s, m);
    if (!inst)
        return vm__error(err, errlen, VM_ERR_NOMEM,
                         "cannot allocate instance");
    owned_mark = s->nowned;

    rc = intern_types(s, inst, err, errlen);
    if (rc)
        goto fail;
    rc = link_imports(s, inst, imports, err, errlen);
    if (rc)
        goto fail;
    create_funcs(inst);
    rc = create_globals(s, inst, err, errlen);
    if (rc)
        goto fail;
    rc = create_tables_memories(s, inst, err, errlen);
    if (rc)
        goto fail;
    rc = create_tags(s, inst, err, errlen);
    if (rc)
        goto fail;
    rc = eval_segments(inst, err, errlen);
    if (rc)
        goto fail;

    /* Point of no return: from here a failure leaves the instance in the
     * store (imported tables may hold its functions), as the spec says. */
    s->instances[s->ninstances++] = inst;
    rc = apply_segments(inst, err, errlen);
    if (rc)
        return rc;
    if (m->has_start) {
        if (m->start >= m->nfuncs_total)
            return vm__error(err, errlen, VM_ERR_INVALID,
                             "start function %u out of range", m->start);
        rc = vm_func_call_traced(s, inst->funcs[m->start], NULL, 0, NULL, 0,
                                 t, err, errlen);
        if (rc)
            return rc;
    }
    *out = inst;
    return 0;

fail:
    /* Nothing outside the instance refers to what it created yet. */
    owned_discard(s, owned_mark);
    instance_free(inst);
    return rc;
}

const vm_module *vm_instance_module(const vm_instance *inst)
{
    return inst->module;
}

int vm_instance_export(const vm_instance *inst, const char *name,
                       vm_extern *out)
{
    if (!name)
        return VM_ERR_ARG;
    return vm_instance_export_n(inst, name, strlen(name), out);
}

/* A linear scan: exports are looked up once per name by embedders, and a
 * module has few of them compared with the cost of instantiating it. */
int vm_instance_export_n(const vm_instance *inst, const char *name,
                         size_t len, vm_extern *out)
{
    const vm_module *m;

    if (!inst || (len && !name) || !out)
        return VM_ERR_ARG;
    m = inst->module;
    for (uint32_t i = 0; i < m->nexports; i++) {
        const vm__export *e = &m->exports[i];

        if (e->name_len != len || (len && memcmp(e->name, name, len) != 0))
            continue;
        out->kind = e->kind;
        switch (e->kind) {
        case VM_EXTERN_FUNC:
            out->of.func = inst->funcs[e->index];
            return 0;
        case VM_EXTERN_TABLE:
            out->of.table = inst->tables[e->index];
            return 0;
        case VM_EXTERN_MEMORY:
            out->of.memory = inst->mems[e->index];
            return 0;
        case VM_EXTERN_GLOBAL:
            out->of.global = inst->globals[e->index];
            return 0;
        case VM_EXTERN_TAG:
            out->of.tag = inst->tags[e->index];
            return 0;
        }
        return VM_ERR_INVALID;
    }
    return VM_ERR_NOT_FOUND;
}

vm_func *vm_instance_func(const vm_instance *inst, uint32_t funcidx)
{
    if (!inst || funcidx >= inst->module->nfuncs_total)
        return NULL;
    return inst->funcs[funcidx];
}
