/*
 * Runtime objects: stores, instances and the objects they hold, and the
 * contract between runtime.c (instantiation, the public call API) and
 * interp.c (execution). Private to vm/.
 */
#ifndef TRACED_VM_RUNTIME_INT_H
#define TRACED_VM_RUNTIME_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "module_int.h"

/*
 * A value slot. Every value takes one 8-byte slot except v128, which takes
 * two consecutive slots (low 8 bytes first). i32 and f32 live in the low 32
 * bits; the high 32 bits are unspecified (readers truncate, writers may
 * leave garbage). Floats are stored as their bit patterns. References are
 * pointers (uintptr_t); 0 is null. For funcref the pointer is a vm_func *.
 */
typedef uint64_t vm__slot;

/* Slots a value of this type takes: 2 for v128, else 1. */
static inline uint32_t vm__type_slots(uint8_t t)
{
    return t == VM_V128 ? 2u : 1u;
}

/* A function instance: wasm (inst != NULL) or host (host != NULL). */
struct vm_func {
    uint32_t type_id;           /* store-interned; equal ids = equal types */
    const vm__functype *type;   /* module's, or host_type below */
    vm_instance *inst;          /* defining instance; NULL for host */
    uint32_t func_idx;          /* index in the defining module */
    const struct vm__code *code; /* compiled body; wasm functions only */
    /* code's tracing variants (code_int.h, VM_CODE_*), as run_traced
     * found them: a call reaches the callee's body in one load from f, as
     * run_plain does through code, not two (code, then its variants):
     * fib recorded at level calls 187 -> 180 ms (docs/performance.md).
     * Each NULL until first traced use; the store's thread only. */
    const struct vm__code *variant[4];
    vm_host_fn host;
    void *host_user;
    char *host_name;            /* owned; host functions only */
    vm__functype host_type;     /* owned types array; host functions only */
};

struct vm_memory {
    uint8_t *data;     /* size bytes; may move when the memory grows */
    uint64_t size;     /* bytes = pages * 64 KiB */
    uint32_t pages;
    uint32_t max_pages; /* effective cap: declared max and store limit */
    bool has_max;       /* declared max (for import matching) */
    uint32_t decl_max;  /* declared max when has_max */
};

struct vm_table {
    uint8_t elem_type; /* VM_FUNCREF or VM_EXTERNREF */
    uint32_t size;
    uint32_t max;      /* declared max when has_max */
    bool has_max;
    void **elems;      /* size entries; NULL is the null reference */
};

struct vm_global {
    uint8_t type; /* vm_valtype */
    bool mut;
    vm__slot val[2]; /* v128 uses both */
};

struct vm_instance {
    vm_store *store;
    const vm_module *module;
    vm_func **funcs;     /* module->nfuncs_total */
    vm_table **tables;   /* module->ntables_total */
    vm_memory **mems;    /* module->nmems_total */
    vm_memory *mem0;     /* mems[0] or NULL: the interpreter's fast path */
    vm_global **globals; /* module->nglobals_total */
    void **tags;         /* module->ntags_total; identity objects */
    uint32_t *type_ids;  /* module->ntypes: store-interned ids */
    /* Segment state. A dropped (or applied active) segment has length 0. */
    uint32_t *data_len;    /* module->ndatas: current length */
    uint32_t *elem_len;    /* module->nelems: current length */
    void ***elem_refs;     /* module->nelems: evaluated references */
    vm_func *defined;      /* storage of the defined function instances */
};

/* What a host function sees; lives on the C stack of the interpreter. */
struct vm_host_call {
    vm_store *store;
    vm_func *callee;
    vm_instance *caller; /* instance whose code made the call, or NULL */
};

struct vm__frame; /* defined by interp.c */

/*
 * An exception (exception handling): the tag it was thrown with (an
 * identity object, compared by pointer) and its payload in slot encoding.
 * throw allocates one; the catch that takes it stores its address in a
 * hidden frame slot (for rethrow) and records that slot as its home. A
 * record is live while it is the store's current exception (in flight,
 * or escaped to the API caller) or while its home slot, within the live
 * part of the value stack, still holds it; vm__exn_new sweeps the others
 * when the store's table of records fills up. rethrow throws a copy, so
 * that a record only ever has one home.
 */
struct vm__exn {
    void *tag;          /* runtime.c's struct vm__tag */
    vm__slot *home;     /* the catch's hidden slot, or NULL */
    uint32_t nslots;    /* payload slots */
    vm__slot payload[]; /* nslots */
};

struct vm_store {
    vm_store_limits limits; /* with defaults applied */
    /* run_traced's sink for a tracer without one (interp_run.h): here,
     * not in run_traced's frame, whose size moved the loop's stack slots
     * and made level ops 10% slower (docs/vm.md, "Trace sinks"). */
    vm_trace_sink stand_in;

    /* Fuel: when fuel_on, fuel counts down; running out stops the call
     * with VM_ERR_FUEL. cancel is the one cross-thread field. */
    bool fuel_on;
    int64_t fuel;
    atomic_bool cancel;

    /* Value stack: slots [stack, stack_end); stack_top is the first free
     * slot between calls (re-entrant host -> wasm calls continue above). */
    vm__slot *stack, *stack_end, *stack_top;
    /* Call frames (interp.c's layout): depth in use, capacity. */
    struct vm__frame *frames;
    uint32_t depth, frames_cap;

    /* Interned function types: call_indirect compares ids. */
    vm__functype *types;
    uint32_t ntypes, types_cap;
    /* Added by runtime.c: open-addressing hash over types (entries are
     * id + 1, 0 = empty; type_index_cap a power of two or 0) so that
     * interning a module with many types stays linear. runtime.c only. */
    uint32_t *type_index;
    uint32_t type_index_cap;

    /* Everything the store owns, freed by vm_store_free. */
    void **owned;
    size_t nowned, owned_cap;
    vm_instance **instances;
    size_t ninstances, instances_cap;

    /* Added by runtime.c: nesting of vm_func_call (host -> wasm calls
     * re-enter it); 0 between calls. runtime.c only. */
    uint32_t api_calls;

    int32_t exit_code;
    char trap_msg[256]; /* detail of the last trap, "" when none */

    /* Exception handling: the current exception (in flight, or the one
     * that escaped the last call; NULL when none) and every record not
     * yet freed (see struct vm__exn). runtime.c allocates and sweeps. */
    struct vm__exn *exn;
    struct vm__exn **exns;
    uint32_t nexns, exns_cap;

    /* Tracing: the hooks of the traced call in progress (borrowed, NULL
     * when untraced), and whether the error now leaving the interpreter
     * has had its trap hook (so that nested runs fire it once). */
    const vm_tracer *tracer;
    bool trace_trap_fired;
};

/* Tracer hooks shared by interp.c and runtime.c (interp.c): a host
 * function's call and return, and a throw. */
void vm__trace_host_call(vm_store *s, vm_func *f, vm_instance *caller,
                         uint32_t depth, const vm__slot *sp);
void vm__trace_host_return(vm_store *s, vm_func *f, vm_instance *caller,
                           uint32_t depth, const vm__slot *sp, int rc);
void vm__trace_throw(vm_store *s, const vm_instance *inst,
                     const struct vm__exn *e);
/* Parameter types of a tag (runtime.c): their codes, *count of them. */
const uint8_t *vm__tag_params(const vm_store *s, const void *tag,
                              uint32_t *count);

/*
 * Make a new exception with tag and nslots of payload copied from payload
 * and make it the store's current exception (s->exn). live_end is the end
 * of the live value stack (the thrower's frame end): records whose home
 * slot lies beyond it, or no longer holds them, are freed by the sweep.
 * Returns NULL when out of memory.
 */
struct vm__exn *vm__exn_new(vm_store *s, void *tag, const vm__slot *payload,
                            uint32_t nslots, const vm__slot *live_end);

/* Intern a function type; returns its id or a negative error. */
int64_t vm__store_type_id(vm_store *s, const vm__functype *t);

/*
 * Run f (wasm or host) with its arguments in sp[0..] (slot encoding, each
 * parameter at its slot offset) and leave its results in sp[0..]. sp must
 * lie within the store's stack with room for the function's frame. Returns
 * 0 or a negative VM_ERR_* (a trap, FUEL, CANCELLED, EXIT, EXCEPTION); on
 * a trap s->trap_msg may hold detail. Implemented by interp.c.
 */
int vm__interp_call(vm_store *s, vm_func *f, vm__slot *sp);

/* Call a host function with slot-encoded args/results (used by interp.c
 * and runtime.c; converts to vm_val and back). */
int vm__host_call(vm_store *s, vm_func *f, vm_instance *caller,
                  vm__slot *sp);

/* Memory growth shared by memory.grow and vm_memory_grow: returns the old
 * page count or -1. May move mem->data. */
int64_t vm__memory_grow(vm_memory *mem, uint32_t delta_pages);
/* Table growth shared by table.grow and the API; -1 on failure. */
int64_t vm__table_grow(vm_table *t, uint32_t delta, void *init);

/* Slot <-> vm_val conversion; *nslots advanced by the value's width. */
void vm__val_to_slots(const vm_val *v, vm__slot *slots);
void vm__slots_to_val(uint8_t type, const vm__slot *slots, vm_val *v);

#endif /* TRACED_VM_RUNTIME_INT_H */
