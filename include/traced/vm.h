/*
 * traced VM: a WebAssembly 2.0 interpreter library.
 *
 * Pipeline: bytes -> decode -> validate -> compile (pre-decode) -> module.
 * A module is immutable once built and may be instantiated many times.
 * Instances, host functions, memories, tables and globals live in a store;
 * the store owns them all and frees them together. A store is used by one
 * thread at a time (the thread that runs its code); distinct stores are
 * independent and may run on different threads.
 *
 * Errors: every function that can fail returns int, 0 on success and a
 * negative VM_ERR_* code otherwise; detail goes into a caller buffer
 * (char *err, size_t errlen, which may be NULL/0). The library never prints
 * and never exits.
 */
#ifndef TRACED_VM_H
#define TRACED_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes: X(NAME, value, message). Trap messages are the spec's. */
#define VM_ERRORS(X)                                                        \
    X(OK, 0, "success")                                                     \
    X(NOMEM, -1, "out of memory")                                           \
    X(ARG, -2, "invalid argument")                                          \
    X(MALFORMED, -3, "malformed module")                                    \
    X(INVALID, -4, "invalid module")                                        \
    X(UNLINKABLE, -5, "incompatible import")                                \
    X(NOT_FOUND, -6, "not found")                                           \
    X(LIMIT, -7, "implementation limit exceeded")                           \
    X(TRAP_UNREACHABLE, -20, "unreachable")                                 \
    X(TRAP_MEM_OOB, -21, "out of bounds memory access")                     \
    X(TRAP_TABLE_OOB, -22, "out of bounds table access")                    \
    X(TRAP_DIV_ZERO, -23, "integer divide by zero")                         \
    X(TRAP_INT_OVERFLOW, -24, "integer overflow")                           \
    X(TRAP_INVALID_CONV, -25, "invalid conversion to integer")              \
    X(TRAP_UNDEF_ELEM, -26, "undefined element")                            \
    X(TRAP_UNINIT_ELEM, -27, "uninitialized element")                       \
    X(TRAP_INDIRECT_TYPE, -28, "indirect call type mismatch")               \
    X(TRAP_NULL_REF, -29, "null reference")                                 \
    X(TRAP_EXHAUSTION, -30, "call stack exhausted")                         \
    X(TRAP_HOST, -31, "host function trapped")                              \
    X(FUEL, -40, "fuel exhausted")                                          \
    X(EXCEPTION, -41, "uncaught exception")                                 \
    X(EXIT, -42, "program exited")                                          \
    X(CANCELLED, -43, "cancelled")

enum {
#define VM_X_ENUM(name, value, msg) VM_ERR_##name = value,
    VM_ERRORS(VM_X_ENUM)
#undef VM_X_ENUM
};

/* Static strings; an unknown code gives "unknown error" / "UNKNOWN". */
const char *vm_strerror(int err);
const char *vm_err_name(int err);
/* True for the VM_ERR_TRAP_* codes. */
bool vm_err_is_trap(int err);

/* Value types, with their binary encodings. */
typedef enum vm_valtype {
    VM_I32 = 0x7f,
    VM_I64 = 0x7e,
    VM_F32 = 0x7d,
    VM_F64 = 0x7c,
    VM_V128 = 0x7b,
    VM_FUNCREF = 0x70,
    VM_EXTERNREF = 0x6f,
} vm_valtype;

const char *vm_valtype_name(vm_valtype t); /* "i32", "funcref", ... */

/*
 * A typed value. Floats are carried as their bit patterns so that NaN
 * payloads survive every path (f32_bits / f64_bits). A reference is a
 * pointer: for funcref a vm_func * (borrowed from the store), for externref
 * any host pointer; NULL is the null reference.
 */
typedef struct vm_val {
    vm_valtype type;
    union {
        int32_t i32;
        int64_t i64;
        uint32_t f32_bits;
        uint64_t f64_bits;
        uint8_t v128[16];
        void *ref;
    } of;
} vm_val;

/* Opaque handles. */
typedef struct vm_module vm_module;
typedef struct vm_store vm_store;
typedef struct vm_instance vm_instance;
typedef struct vm_func vm_func;
typedef struct vm_table vm_table;
typedef struct vm_memory vm_memory;
typedef struct vm_global vm_global;

typedef enum vm_extern_kind {
    VM_EXTERN_FUNC = 0,
    VM_EXTERN_TABLE = 1,
    VM_EXTERN_MEMORY = 2,
    VM_EXTERN_GLOBAL = 3,
    VM_EXTERN_TAG = 4,
} vm_extern_kind;

/* An external value: what an export is and what an import is given.
 * The pointers are borrowed from the store that owns the object. */
typedef struct vm_extern {
    vm_extern_kind kind;
    union {
        vm_func *func;
        vm_table *table;
        vm_memory *memory;
        vm_global *global;
        void *tag;
    } of;
} vm_extern;

/* Feature switches for decoding and validation (bit set). */
enum {
    /* 1u << 0 was SIMD, which is Wasm 2.0 core and always on. */
    VM_FEATURE_TAIL_CALL = 1u << 1,
    VM_FEATURE_EXCEPTIONS = 1u << 2,
};
#define VM_FEATURES_DEFAULT 0u

typedef struct vm_load_options {
    uint32_t features; /* VM_FEATURE_* bits; 0 = Wasm 2.0 core */
} vm_load_options;

/* ---- Modules ---------------------------------------------------------- */

/*
 * Decode, validate and compile a binary module. The bytes are copied; the
 * caller keeps ownership of its buffer. On failure returns VM_ERR_MALFORMED
 * (the binary encoding is wrong), VM_ERR_INVALID (it does not validate),
 * VM_ERR_LIMIT or VM_ERR_NOMEM, with a message that names the section,
 * function and byte offset where possible. opts may be NULL.
 */
int vm_module_new(const uint8_t *bytes, size_t len,
                  const vm_load_options *opts, vm_module **out, char *err,
                  size_t errlen);
void vm_module_free(vm_module *m);

/* Import and export descriptions; strings are borrowed from the module. */
typedef struct vm_functype_view {
    uint32_t nparams, nresults;
    const uint8_t *params;  /* vm_valtype codes, borrowed */
    const uint8_t *results; /* vm_valtype codes, borrowed */
} vm_functype_view;

typedef struct vm_limits_desc {
    uint32_t min, max;
    bool has_max;
} vm_limits_desc;

typedef struct vm_extern_desc {
    const char *module; /* imports only; borrowed */
    const char *name;   /* borrowed */
    vm_extern_kind kind;
    vm_functype_view func;   /* FUNC, and TAG (its parameters) */
    vm_valtype elem_type;    /* TABLE */
    vm_limits_desc limits;   /* TABLE, MEMORY */
    vm_valtype global_type;  /* GLOBAL */
    bool global_mutable;     /* GLOBAL */
} vm_extern_desc;

uint32_t vm_module_import_count(const vm_module *m);
int vm_module_import(const vm_module *m, uint32_t i, vm_extern_desc *out);
uint32_t vm_module_export_count(const vm_module *m);
int vm_module_export(const vm_module *m, uint32_t i, vm_extern_desc *out);

/* Functions of the module's index space (imports first). */
uint32_t vm_module_func_count(const vm_module *m);
int vm_module_func_type(const vm_module *m, uint32_t funcidx,
                        vm_functype_view *out);
/* Name from the name section, or NULL; borrowed from the module. */
const char *vm_module_name(const vm_module *m);
const char *vm_module_func_name(const vm_module *m, uint32_t funcidx);
const char *vm_module_local_name(const vm_module *m, uint32_t funcidx,
                                 uint32_t localidx);
/* Custom sections, in file order; data borrowed from the module. */
uint32_t vm_module_custom_count(const vm_module *m);
int vm_module_custom(const vm_module *m, uint32_t i, const char **name,
                     const uint8_t **data, size_t *len);

/* ---- Stores and limits ------------------------------------------------ */

typedef struct vm_store_limits {
    uint32_t max_memory_pages; /* cap on any memory's pages; 0 = 65536 */
    uint32_t max_call_depth;   /* wasm frames; 0 = default (10000) */
    uint32_t stack_slots;      /* value stack, 8-byte slots; 0 = default */
    uint64_t fuel;             /* instruction budget; 0 = unlimited */
} vm_store_limits;

/* limits may be NULL for defaults. */
int vm_store_new(const vm_store_limits *limits, vm_store **out);
void vm_store_free(vm_store *s);
/* Fuel left (UINT64_MAX when unlimited); set it between calls. */
uint64_t vm_store_fuel(const vm_store *s);
void vm_store_set_fuel(vm_store *s, uint64_t fuel);
/* Ask a running call to stop with VM_ERR_CANCELLED at its next fuel
 * check. The one function here that another thread may call. */
void vm_store_cancel(vm_store *s);

/* ---- Host functions ---------------------------------------------------- */

/* What a host function sees of its caller; valid during the call only. */
typedef struct vm_host_call vm_host_call;

void *vm_host_call_user(const vm_host_call *c);
/* The calling instance's memory 0, or NULL. */
vm_memory *vm_host_call_memory(const vm_host_call *c);
vm_instance *vm_host_call_instance(const vm_host_call *c);
/* Set the message of the trap the host is about to return. */
void vm_host_call_set_error(vm_host_call *c, const char *msg);

/* Return 0, or a negative VM_ERR_* code (a trap, VM_ERR_EXIT, ...).
 * results has room for the function type's results. */
typedef int (*vm_host_fn)(vm_host_call *c, const vm_val *args,
                          vm_val *results);

/* The types arrays are copied. name is for diagnostics; copied. */
int vm_func_new_host(vm_store *s, const vm_valtype *params, uint32_t nparams,
                     const vm_valtype *results, uint32_t nresults,
                     vm_host_fn fn, void *user, const char *name,
                     vm_func **out);
int vm_func_type(const vm_func *f, vm_functype_view *out);

/* ---- Memories, tables, globals ---------------------------------------- */

int vm_memory_new(vm_store *s, uint32_t min_pages, uint32_t max_pages,
                  bool has_max, vm_memory **out);
/* Base pointer and byte size; valid until the memory grows. */
uint8_t *vm_memory_data(vm_memory *mem);
uint64_t vm_memory_size(const vm_memory *mem);
uint32_t vm_memory_pages(const vm_memory *mem);
/* Returns the old page count, or -1 when it cannot grow. */
int64_t vm_memory_grow(vm_memory *mem, uint32_t delta_pages);

int vm_table_new(vm_store *s, vm_valtype elem, uint32_t min, uint32_t max,
                 bool has_max, void *init, vm_table **out);
uint32_t vm_table_size(const vm_table *t);
int vm_table_get(const vm_table *t, uint32_t i, vm_val *out);
int vm_table_set(vm_table *t, uint32_t i, const vm_val *v);

int vm_global_new(vm_store *s, const vm_val *init, bool mutable_,
                  vm_global **out);
void vm_global_get(const vm_global *g, vm_val *out);
int vm_global_set(vm_global *g, const vm_val *v); /* ARG if immutable */

/* ---- Instances -------------------------------------------------------- */

/*
 * Instantiate: link imports (one vm_extern per module import, in order,
 * type-checked: VM_ERR_UNLINKABLE on a mismatch), initialise globals,
 * tables and memories, apply active segments and run the start function.
 * A trap during segment initialisation or in the start function is
 * returned as that trap; the store keeps whatever the partial
 * instantiation already wrote to imported objects, as the spec says.
 * The module must outlive the store's use of the instance.
 */
int vm_instance_new(vm_store *s, const vm_module *m, const vm_extern *imports,
                    uint32_t nimports, vm_instance **out, char *err,
                    size_t errlen);
const vm_module *vm_instance_module(const vm_instance *inst);
int vm_instance_export(const vm_instance *inst, const char *name,
                       vm_extern *out);
/* The same for a name of len bytes, which may contain NUL (wasm names
 * can). Added by runtime.c for the spec suite's names.wast. */
int vm_instance_export_n(const vm_instance *inst, const char *name,
                         size_t len, vm_extern *out);
/* Function of the instance's index space. */
vm_func *vm_instance_func(const vm_instance *inst, uint32_t funcidx);

/*
 * Call a function (wasm or host). Arguments are checked against its type
 * (VM_ERR_ARG on a mismatch). Returns 0 with results filled, or a trap /
 * VM_ERR_FUEL / VM_ERR_CANCELLED / VM_ERR_EXIT / VM_ERR_EXCEPTION (see
 * vm_store_exception) with a message in err.
 */
int vm_func_call(vm_store *s, vm_func *f, const vm_val *args, uint32_t nargs,
                 vm_val *results, uint32_t nresults, char *err, size_t errlen);

/* ---- Tracing ----------------------------------------------------------- */

/*
 * A tracer: optional callbacks (NULL = not interested) and a user pointer,
 * given per invocation to vm_func_call_traced, vm_instance_new_traced (the
 * start function) or vm_wasi_run_start_traced. The store holds it for the
 * duration of that call only; a host function that calls back into wasm
 * with plain vm_func_call while it runs is traced by the same tracer.
 * Calls made without a tracer run the untraced dispatch loop and pay
 * nothing for tracing (docs/vm.md, "Tracing").
 *
 * Hooks run on the thread running the call, in execution order, and must
 * not call into the store (no vm_func_call, no growth); everything they
 * are passed is borrowed and valid during the callback only.
 *
 *   op           every executed wasm instruction, before it executes:
 *                VM_TRACE_OPCODE(prefix, sub) (a one-byte opcode is its
 *                byte) and its byte offset in the module. Markers (else,
 *                end) fire when control falls into them; a branch lands
 *                past its label's marker. Setting op switches the call to
 *                instrumented code (several times slower).
 *   call         a wasm frame was pushed: args readable.
 *   ret          a wasm frame was popped: results readable; unwound when
 *                an exception, a trap or an exit popped it (no values),
 *                tail when a tail call replaced it (no values; the
 *                callee's call follows at the same depth).
 *   host_call    a host function is about to run (no frame): args.
 *   host_return  it returned: results, or unwound when it failed.
 *   throw_       a throw, rethrow or vm_host_call_throw raised tag.
 *   trap         the call is ending with error code (a trap, FUEL,
 *                CANCELLED; not EXCEPTION or EXIT), fired once where it
 *                is raised, before the unwound returns.
 *   step         control reached a step point of the running function's
 *                module (vm_module_set_step_points): its byte offset in
 *                the module, before the instruction there runs, its
 *                index in vm_module_step_points, and the running frame's
 *                depth (as call's). Fires on
 *                fallthrough and where a branch lands on the point
 *                (docs/vm.md, "Step points"). Setting step switches the
 *                call to stepped code, which costs a marker at each point
 *                and nothing elsewhere; a module without step points runs
 *                its plain traced code.
 *
 * Every call has exactly one ret and every host_call one host_return, so
 * consumers can always balance the tree.
 */
#define VM_TRACE_OPCODE(prefix, sub)                                        \
    (((uint32_t)(prefix) << 24) | (uint32_t)(sub))

/* Values in the slot encoding (8-byte slots, v128 takes two). */
typedef struct vm_trace_vals {
    uint32_t count;          /* values */
    const uint8_t *types;    /* count vm_valtype codes; borrowed */
    const uint64_t *slots;   /* their slots; borrowed */
} vm_trace_vals;

/* Value i of vals (VM_ERR_ARG when out of range). */
int vm_trace_vals_get(const vm_trace_vals *vals, uint32_t i, vm_val *out);

/* What call, ret, host_call and host_return see. */
typedef struct vm_trace_frame {
    vm_func *func;               /* borrowed from the store */
    const vm_instance *instance; /* wasm: the defining instance; host: the
                                    calling instance, NULL from the API */
    /* wasm: index in the defining module; host: index of the import in
     * the calling module, UINT32_MAX when unknown (API, table of another
     * instance). */
    uint32_t func_idx;
    /* Wasm frames on the store's stack: for call/ret including this one
     * (the outermost frame is 1); for host calls the frames below it. */
    uint32_t depth;
    bool unwound;      /* ret/host_return: popped without results */
    bool tail;         /* ret: replaced by a tail call */
    vm_trace_vals vals; /* call/host_call: args; ret/host_return: results */
} vm_trace_frame;

/* What throw_ sees. */
typedef struct vm_trace_throw {
    void *tag;                   /* identity object; borrowed */
    const vm_instance *instance; /* the throwing instance, NULL for a host */
    uint32_t tag_idx;            /* in that instance, or UINT32_MAX */
    vm_trace_vals payload;
} vm_trace_throw;

/*
 * A trace sink: the calls, returns, op runs and step runs of a traced
 * call, written by the VM itself as fixed-layout entries, the cheapest
 * thing it can write (docs/vm.md, "Trace sinks"). With tracer->sink set,
 * the VM does not call the call and ret hooks (nor step, when the sink
 * takes steps, nor op, when it takes ops): it appends an entry at
 * sink->pos and counts the events it stands for. The owner hands the
 * entries between two resets of the buffer to its ring as one record
 * (proto_ring_push_sink), and the ring's consumer turns them into an
 * ordinary batch record (docs/protocol.md, "Sink records") with the
 * function types of the module (proto_sink.h): the VM pays for a call a
 * few stores, the consumer thread for its encoding. The other hooks fire
 * as usual; the owner takes the entries written so far before it emits
 * anything else, so order is kept.
 *
 * An entry is one or more 8-byte words in host byte order (written with
 * memcpy: pos need not be aligned). Word 0's low 4 bits are the kind:
 *   - VM_SINK_CALL, VM_SINK_RETURN, VM_SINK_RETURN_NONE: word 0 also
 *     holds the value slots that follow (VM_SINK_NSLOTS), the function's
 *     index in its module (VM_SINK_FUNC) and the frame's depth
 *     (VM_SINK_DEPTH; the outermost frame is 1); then the arguments (a
 *     call) or the results (a return) in the VM's slot encoding
 *     (vm_trace_vals). A return without values (a tail call's or an
 *     unwound frame's) is VM_SINK_RETURN_NONE with no slots.
 *   - VM_SINK_CALL1, VM_SINK_RETURN1: the same call or return in one
 *     word, for a function whose parameters (results) are one i32 or
 *     f32, of index below 4096, at a depth below 65536: the function
 *     (VM_SINK1_FUNC, bits 4-15), the depth (VM_SINK1_DEPTH, bits 16-31)
 *     and the value's 32 bits (VM_SINK1_VALUE, bits 32-63; the type is
 *     the function's). The VM writes these whenever they apply: half the
 *     bytes and one store fewer than the general form.
 *   - VM_SINK_OPS: an op run, its first instruction's module offset in
 *     word 0's high 32 bits, word 1 the number of instructions.
 *   - VM_SINK_STEPS: a step run, its first step point in word 0's high 32
 *     bits, word 1 the number of steps.
 *   - VM_SINK_TIME: word 1 is t - prev_t: the entries after it happened
 *     that much later than those before it (no event of its own).
 * With a sink the VM allows at most VM_SINK_MAX_DEPTH frames (a deeper
 * call traps with call stack exhaustion, as at any depth limit).
 *
 * Before each entry the VM
 *   - reads *clock (relaxed; a word the owner's ticker advances) and,
 *     when it is not clock_seen, calls tick, which sets clock_seen and
 *     may move t (never below prev_t) and take the entries (a batch that
 *     is old enough); when t moved, the VM writes a VM_SINK_TIME entry and
 *     sets prev_t = t, so a batch never ends in one;
 *   - calls make_room when fewer than the entry's bytes plus 16 are left
 *     before end (the VM may write 16 bytes of slots beyond a short
 *     entry); make_room must take the entries and leave that much room;
 *   - writes the entry, advances pos and adds its events to count.
 * For a call or return entry (the frequent ones) all of that but the
 * write is one compare against gate: an entry that ends at or below gate
 * has its room and nothing to do first. The VM opens the gate at
 * end - 16 when it has done the rest, and closes it (NULL) when it starts
 * a run and after any tick or make_room; vm_trace_sink_poke closes it
 * from any thread. So a ticker pokes the sink after it advances *clock,
 * or the VM sees the new time only at its next make_room; and an owner
 * that moves pos or end outside tick and make_room (it takes the entries
 * before another event, say) pokes it too. A poke that lands while the
 * VM opens the gate may be lost: the VM then sees that tick at the next
 * poke, so a ticker that pokes at every advance keeps the time at most
 * one period late.
 *
 * Steps (step_line non-NULL): at a step point the VM emits a step when
 * the point's line id (step_line[point]) differs from the frame's current
 * one (frame_line[depth]; a frame's start sets it to VM_SINK_NO_LINE, "no
 * line yet"; frames deeper than frame_cap always step); a point whose id is
 * VM_SINK_NO_LINE never steps (a row of line 0, say). Steps at points
 * that follow each other (i, i + 1, ...) make one VM_SINK_STEPS entry,
 * written when the run breaks or before any other entry; a reader maps
 * the points to source lines with the module's DWARF. Without step_line,
 * steps go to the step hook.
 *
 * Ops (ops true): instead of calling the op hook, the VM counts runs of
 * executed instructions that follow each other in the module binary
 * (each starts where the previous one ends) and writes each run as one
 * VM_SINK_OPS entry when the run breaks (a branch taken, a call, a
 * return) or before any other entry. A reader expands a run against the
 * module's code, as Intel PT's decoder does. A run in progress (ops or
 * steps) is not in the buffer yet: the owner calls vm_trace_sink_flush
 * before it takes the entries.
 *
 * Everything is the owner's (caller-allocated, borrowed by the VM for the
 * traced call) and touched on the calling thread only, except *clock and
 * gate.
 */
#define VM_SINK_NO_LINE UINT32_MAX

enum {
    VM_SINK_CALL = 1,
    VM_SINK_RETURN = 2,
    VM_SINK_RETURN_NONE = 3,
    VM_SINK_OPS = 4,
    VM_SINK_STEPS = 5,
    VM_SINK_TIME = 6,
    VM_SINK_CALL1 = 7,
    VM_SINK_RETURN1 = 8,
};
#define VM_SINK_KIND(w) ((unsigned)((w) & 0xfu))
#define VM_SINK_NSLOTS(w) ((uint32_t)((w) >> 4) & 0xfffu)
#define VM_SINK_FUNC(w) ((uint32_t)((w) >> 16) & 0xfffffu)
#define VM_SINK_DEPTH(w) ((uint32_t)((w) >> 36))
#define VM_SINK_MAX_DEPTH ((1u << 28) - 1)
#define VM_SINK1_FUNC(w) ((uint32_t)((w) >> 4) & 0xfffu)
#define VM_SINK1_DEPTH(w) ((uint32_t)((w) >> 16) & 0xffffu)
#define VM_SINK1_VALUE(w) ((uint32_t)((w) >> 32))
#define VM_SINK1_FUNCS 0x1000u  /* functions below this index */
#define VM_SINK1_DEPTHS 0x10000u /* depths below this */

typedef struct vm_trace_sink vm_trace_sink;
struct vm_trace_sink {
    uint8_t *pos, *end;        /* the buffer's free space */
    /* end - 16 or NULL (closed), read and written with __atomic builtins
     * only: the VM's; owners leave it, but for vm_trace_sink_poke. An
     * owner starts it NULL. */
    uint8_t *gate;
    uint32_t count;            /* events written since the owner's reset */
    uint64_t t, prev_t;        /* the time now; that of the last entry */
    const uint64_t *clock;     /* the ticker word (never NULL) */
    uint64_t clock_seen;
    void (*tick)(vm_trace_sink *s);
    void (*make_room)(vm_trace_sink *s, size_t need);
    /* Counted by the VM over the whole traced call: calls (wasm frames
     * pushed) and the deepest frame's depth. */
    uint64_t calls;
    uint32_t max_depth;
    /* Steps: per step point (vm_module_step_points index) its line id;
     * per depth the frame's line id; the step run in progress (points
     * from step_start to step_end - 2; step_end is the next point
     * expected plus one, 0 when there is no run) and the steps counted. */
    const uint32_t *step_line;
    uint32_t *frame_line;
    uint32_t frame_cap;        /* frame_line's entries; 0 without step_line */
    uint32_t step_start, step_end;
    uint64_t nsteps;
    /* Ops: the run in progress (op_count instructions from op_start, the
     * next one expected at op_next, UINT32_MAX or 0 when there is none)
     * and the ops counted. At most one of the two runs is in progress;
     * starting one closes the gate. The VM's; owners leave them. */
    bool ops;
    uint32_t op_start, op_count, op_next;
    uint64_t nops;
    void *user;                /* the owner's */
};

/* Write the op or step run in progress (if any) as its entry: the owner
 * calls it before taking the entries. */
void vm_trace_sink_flush(vm_trace_sink *s);

/* Close s's gate (any thread): before its next call or return entry the
 * VM checks the clock and the room again. */
void vm_trace_sink_poke(vm_trace_sink *s);

typedef struct vm_tracer {
    void *user;
    vm_trace_sink *sink; /* NULL: every event goes to the hooks */
    void (*op)(void *user, uint32_t opcode, uint32_t offset);
    void (*call)(void *user, const vm_trace_frame *f);
    void (*ret)(void *user, const vm_trace_frame *f);
    void (*host_call)(void *user, const vm_trace_frame *f);
    void (*host_return)(void *user, const vm_trace_frame *f);
    void (*throw_)(void *user, const vm_trace_throw *t);
    void (*trap)(void *user, int code, const char *message);
    void (*step)(void *user, uint32_t offset, uint32_t point,
                 uint32_t depth);
} vm_tracer;

/*
 * Step points of module m: byte offsets in the module of wasm
 * instructions (a debug line table's statement rows, say) where a
 * tracer's step hook fires. offsets are copied; any order, duplicates
 * allowed; an offset where no instruction of a defined function starts
 * never fires. Set them once, before the first traced call with a step
 * hook (stepped code is compiled with them on first use and cached in the
 * module) and before other threads use m: VM_ERR_ARG when m already has
 * step points, VM_ERR_NOMEM.
 */
int vm_module_set_step_points(vm_module *m, const uint32_t *offsets,
                              uint32_t n);
/* The module's step points, sorted and unique, borrowed from m; *n gets
 * their count. NULL and 0 when it has none. */
const uint32_t *vm_module_step_points(const vm_module *m, uint32_t *n);

/* vm_func_call with tracer t (borrowed for the call; NULL = untraced). */
int vm_func_call_traced(vm_store *s, vm_func *f, const vm_val *args,
                        uint32_t nargs, vm_val *results, uint32_t nresults,
                        const vm_tracer *t, char *err, size_t errlen);

/* vm_instance_new, its start function traced by t (NULL = untraced). */
int vm_instance_new_traced(vm_store *s, const vm_module *m,
                           const vm_extern *imports, uint32_t nimports,
                           const vm_tracer *t, vm_instance **out, char *err,
                           size_t errlen);

/*
 * The counting tracer: totals of a traced run. max_depth counts wasm
 * frames only. vm_trace_counts_init zeroes c and sets t's callbacks to
 * count into c (op too when with_ops; without it the run keeps the fast
 * code and ops stays 0).
 */
typedef struct vm_trace_counts {
    uint64_t ops, calls, host_calls, throws, traps;
    uint32_t max_depth;
    uint64_t steps;
    bool with_steps; /* steps are counted (vm_trace_counts_with_steps) */
} vm_trace_counts;

void vm_trace_counts_init(vm_tracer *t, vm_trace_counts *c, bool with_ops);
/* After vm_trace_counts_init: count step events too (sets t->step, so
 * the run uses stepped code where its modules have step points). */
void vm_trace_counts_with_steps(vm_tracer *t, vm_trace_counts *c);
/* "trace: ops=N calls=N host_calls=N max_depth=N throws=N traps=N", then
 * " steps=N" when steps are counted; snprintf-style; returns the length
 * it needed. */
size_t vm_trace_counts_format(const vm_trace_counts *c, char *buf,
                              size_t len);

/* ---- Tags and exceptions (VM_FEATURE_EXCEPTIONS) ---------------------- */

/*
 * A tag is an identity object (void *): catch compares tags by pointer, so
 * an imported tag is the very object its exporter defined. Exported tags
 * are vm_extern of kind VM_EXTERN_TAG; vm_tag_new makes one for a host to
 * give as an import. The store owns tags; the types array is copied.
 */
int vm_tag_new(vm_store *s, const vm_valtype *params, uint32_t nparams,
               void **out);
/* The tag's parameter types (out->nresults = 0); borrowed from the store. */
int vm_tag_type(const vm_store *s, const void *tag, vm_functype_view *out);

/*
 * An exception that no handler catches ends vm_func_call with
 * VM_ERR_EXCEPTION ("uncaught exception: tag ..."). The store keeps it
 * until the next outermost vm_func_call: this reads its tag (borrowed) and
 * up to max payload values; *npayload gets the tag's parameter count. Any
 * of tag, payload, npayload may be NULL. VM_ERR_NOT_FOUND when the store
 * holds no exception.
 */
int vm_store_exception(const vm_store *s, void **tag, vm_val *payload,
                       uint32_t max, uint32_t *npayload);

/*
 * For a host function: make an exception with this tag and payload (typed
 * as the tag's parameters; copied), then return VM_ERR_EXCEPTION to throw
 * it into the calling wasm code. A host that gets VM_ERR_EXCEPTION from a
 * nested vm_func_call may also just return it to let it propagate.
 */
int vm_host_call_throw(vm_host_call *c, void *tag, const vm_val *payload,
                       uint32_t npayload);

/* Exit code set by a host function that returned VM_ERR_EXIT. */
void vm_host_call_set_exit(vm_host_call *c, int32_t code);
int32_t vm_store_exit_code(const vm_store *s);

#ifdef __cplusplus
}
#endif

#endif /* TRACED_VM_H */
