/*
 * Compiled function bodies: the contract between compile.c (which
 * translates validated wasm into this form once, at load time) and
 * interp.c (which runs it). Private to vm/. docs/vm.md describes it.
 *
 * The internal code is register-style. A frame is an array of 8-byte
 * slots (runtime_int.h's vm__slot) laid out as
 *
 *     [0, nparam_slots)               parameters
 *     [nparam_slots, nlocal_slots)    declared locals (then the hidden
 *                                     exception slots of try blocks),
 *                                     zeroed at entry
 *     [nlocal_slots, +nconsts)        constant pool, copied in at entry
 *     [temp_base, frame_slots)        operand stack: wasm stack height h
 *                                     (counted in slots) lives at
 *                                     temp_base + h
 *
 * with temp_base = nlocal_slots + nconsts. Instructions name operands by
 * slot index, so local.get and constants cost nothing: the compiler reads
 * the local's or the constant's slot directly. Values move only where
 * control flow merges (block ends, branches, calls, returns) or where a
 * local that the virtual stack still refers to is overwritten.
 *
 * Calls: a callee's frame begins at the caller's slot where its first
 * argument sits (temp_base + height of the first argument), so arguments
 * are passed in place and results come back in place (Lua's convention).
 * A function returns with its results moved to slots [0, nresult_slots).
 */
#ifndef TRACED_VM_CODE_INT_H
#define TRACED_VM_CODE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "runtime_int.h"

typedef enum vm__iop {
#define IOP(name, layout, comment) VM_IOP_##name,
#include "iops.def"
#undef IOP
    VM_IOP_COUNT
} vm__iop;

/* Layout strings of iops.def, indexed by vm__iop (defined in compile.c). */
extern const char *const vm__iop_layout[VM_IOP_COUNT];
extern const char *const vm__iop_name[VM_IOP_COUNT];

typedef struct vm__code {
    uint32_t *words;        /* the instruction stream; owned */
    uint32_t nwords;
    uint32_t nparam_slots;  /* slots taken by the parameters */
    uint32_t nresult_slots; /* slots taken by the results */
    uint32_t nlocal_slots;  /* parameters + declared + hidden locals */
    uint32_t nconsts;       /* constant pool slots */
    vm__slot *consts;       /* nconsts values; owned */
    uint32_t temp_base;     /* nlocal_slots + nconsts */
    uint32_t frame_slots;   /* temp_base + maximum operand stack slots */
    /*
     * Map from internal code back to the wasm body, for traps, the tracer
     * and debug info: sorted pairs (word index of an instruction, byte
     * offset of the wasm instruction it came from, relative to the start
     * of the module). nsrcmap pairs; owned.
     */
    uint32_t *srcmap;
    uint32_t nsrcmap;
    /* Exception handlers (see vm__handler); NULL / 0 without try. */
    struct vm__handler *handlers;
    uint32_t nhandlers;
    uint32_t func_idx;      /* the function's index in its module */
    /* Word 0 of this function's trace sink entries (vm.h, "Trace
     * sinks") but for the depth: VM_SINK_CALL with its parameter slots,
     * VM_SINK_RETURN with its result slots. */
    uint64_t sink_call, sink_ret;
    /* Those entries' bytes, word 0 and the slots (8 + 8 per slot). */
    uint32_t sink_call_len, sink_ret_len;
    /* The one-word forms (VM_SINK_CALL1, VM_SINK_RETURN1) but for depth
     * and value, and the depths below which they apply: VM_SINK1_DEPTHS,
     * or 0 where they do not (not one i32 or f32, an index of 4096 or
     * more), so that the choice is one compare. */
    uint64_t sink_call1, sink_ret1;
    uint32_t sink_call1_depths, sink_ret1_depths;
    /*
     * The tracing variants of this body (interp.c's run_traced has its
     * own dispatch table, so it cannot run these words), indexed by a
     * set of VM_CODE_* bits: VM_CODE_TRACED (none), the same code
     * threaded for run_traced; VM_CODE_INSTRUMENTED, with a TRACE_OP
     * before every wasm instruction; VM_CODE_STEPPED, with a TRACE_STEP
     * at every step point of the module (docs/vm.md, "Step points") and
     * a TRACE_FRAME at word 0;
     * both bits, both markers. Compiled on first traced use by
     * vm__code_variant and published with a compare-and-swap, so stores
     * on several threads may share the module; owned, freed with this
     * code. Always NULL in a variant.
     */
    _Atomic(struct vm__code *) variants[4];
} vm__code;

enum {
    VM_CODE_TRACED = 0,
    VM_CODE_INSTRUMENTED = 1,
    VM_CODE_STEPPED = 2,
    VM_CODE_VARIANTS = 4
};
_Static_assert(sizeof ((struct vm_func *)0)->variant ==
                   VM_CODE_VARIANTS * sizeof(const struct vm__code *),
               "vm_func caches every variant");

/*
 * The variant (VM_CODE_*) of wasm function f's body, compiling it on
 * first use (compile.c); NULL when out of memory.
 */
const vm__code *vm__code_variant(const struct vm_func *f, unsigned which);

/*
 * One catch clause (or delegate) of a try: the unwinder looks up the word
 * index of the raising instruction (a throw, rethrow, or a call that
 * propagated an exception) in the running function's table. Entries are
 * in the order their try bodies close, so inner tries come before the
 * tries around them, and one try's clauses are contiguous in clause
 * order: the first entry that covers the word and matches wins.
 *
 * depth is the number of try bodies around this try's body. A DELEGATE
 * entry that matches sets a limit: from there on only entries with depth
 * below limit count (the tries around delegate's label); limit 0 passes
 * the exception to the caller.
 */
enum vm__handler_kind {
    VM_HANDLER_CATCH,     /* tag matches: payload to slot, go to target */
    VM_HANDLER_CATCH_ALL, /* any exception: go to target */
    VM_HANDLER_DELEGATE,  /* rethrow to the tries below limit */
};

typedef struct vm__handler {
    uint32_t start, end;  /* try body: words [start, end) */
    uint8_t kind;         /* enum vm__handler_kind */
    uint32_t depth;       /* try bodies around this one */
    uint32_t tag;         /* CATCH: tag index in the instance */
    uint32_t target;      /* CATCH*: word index of the handler code */
    uint32_t slot;        /* CATCH: first payload slot */
    uint32_t exn_slot;    /* CATCH*: hidden slot that keeps the exception
                             for rethrow; DELEGATE: the limit */
} vm__handler;

/*
 * Debugging aid (compile.c): disassemble code into buf, snprintf-style
 * (always NUL-terminated when len > 0); returns the length it needed.
 * Slots print as l<n> (param/local slot), #<value> (pool constant) or
 * t<n> (temp at height n); branch targets as @<word>. Added by the
 * compiler engineer for tests/unit/vm/test_compile.c.
 */
size_t vm__code_dump(const vm__code *code, char *buf, size_t len);

/*
 * Threading. The compiler emits VM_IOP_* numbers in each opcode word and
 * records where every instruction starts; when a function is complete it
 * replaces each opcode word w by vm__interp_dispatch()[w]. In the computed
 * goto build that value is the handler's label offset from a base label;
 * in the switch build it is the opcode itself. The table is constant and
 * built into interp.c.
 */
const uint32_t *vm__interp_dispatch(void);
/* The same for run_traced, which runs the tracing variants. */
const uint32_t *vm__interp_dispatch_traced(void);

#endif /* TRACED_VM_CODE_INT_H */
