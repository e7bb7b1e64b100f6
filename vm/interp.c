/*
 * The interpreter: runs the register-style internal code that compile.c
 * produces (code_int.h describes the frame layout, iops.def the
 * instructions). All dispatch lives in this file.
 *
 * Dispatch. Every handler is written once, between HANDLE_OP(name) and
 * NEXT(len). With VM_COMPUTED_GOTO (the default under GCC and Clang) a
 * handler is a label, the threaded opcode word holds the label's offset
 * from l_base, and NEXT jumps straight to the next handler (one indirect
 * branch per handler, which the branch predictor learns per site). With
 * VM_COMPUTED_GOTO=0 the same bodies become the cases of one switch and
 * the opcode word holds the VM_IOP_* number itself (WAMR's pattern).
 *
 * Hot state kept in locals for the whole run: pc, fp (the frame's slot
 * 0), words (the running function's code, for branch targets), inst and
 * its memory 0's base and size. The memory may move or grow during any
 * call (the callee, a host function, or another instance sharing the
 * memory may grow it) and on memory.grow, so membase/memsize are reloaded
 * after every call returns and after memory.grow.
 *
 * Frames. struct vm__frame records the caller's state; the store's
 * frames[] array grows on demand up to limits.max_call_depth. Each
 * vm__interp_call pushes one frame for the function it enters and returns
 * when the depth drops back to where it started, so host -> wasm -> host
 * re-entry nests naturally, each level on its own C stack frame.
 *
 * Fuel. When fuel is off the store keeps s->fuel at INT64_MAX, so FUEL is
 * one subtract and one sign test on a local copy of the counter (written
 * back around host calls and on the way out); the slow path tells "out of
 * fuel" from "fuel off" by s->fuel_on and refills in the latter case. The
 * cancel flag is read at the same point with a relaxed load (a plain load
 * on x86-64 and AArch64), so a cancel lands within one FUEL window (the
 * compiler puts one at each function entry and loop header).
 *
 * Traps. A trap raised here writes the spec's message to s->trap_msg,
 * followed by the function and the wasm byte offset (from the code's
 * srcmap); codes from host functions pass through untouched. Either way
 * s->depth and s->stack_top are back where this call found them.
 *
 * Values are little-endian in slots and in linear memory; the memory
 * helpers below assume a little-endian host.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "traced/wire.h"

#include "code_int.h"
#include "runtime_int.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "interp.c assumes a little-endian host"
#endif

/* The caller's state, saved by a call and restored by its return. */
struct vm__frame {
    const uint32_t *pc;    /* the caller's next instruction */
    vm__slot *fp;          /* the caller's frame */
    const vm__code *code;  /* the caller's code */
    vm_instance *inst;     /* the caller's instance */
};

/* ---- Value helpers ---------------------------------------------------- */

static inline float f32_of(uint32_t bits)
{
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static inline double f64_of(uint64_t bits)
{
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

static inline uint32_t bits_f32(float f)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    return bits;
}

static inline uint64_t bits_f64(double d)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    return bits;
}

/*
 * fmin/fmax are not the wasm operators: wasm propagates NaN (as an
 * arithmetic NaN: a + b quiets it and keeps a canonical input canonical)
 * and orders -0 below +0. Equal operands can only differ in the sign of
 * zero, so OR-ing the bits gives min's -0 and AND-ing gives max's +0.
 */
static inline uint32_t f32_min(uint32_t a, uint32_t b)
{
    float x = f32_of(a), y = f32_of(b);
    if (isnan(x) || isnan(y))
        return bits_f32(x + y);
    if (x == y)
        return a | b;
    return x < y ? a : b;
}

static inline uint32_t f32_max(uint32_t a, uint32_t b)
{
    float x = f32_of(a), y = f32_of(b);
    if (isnan(x) || isnan(y))
        return bits_f32(x + y);
    if (x == y)
        return a & b;
    return x > y ? a : b;
}

static inline uint64_t f64_min(uint64_t a, uint64_t b)
{
    double x = f64_of(a), y = f64_of(b);
    if (isnan(x) || isnan(y))
        return bits_f64(x + y);
    if (x == y)
        return a | b;
    return x < y ? a : b;
}

static inline uint64_t f64_max(uint64_t a, uint64_t b)
{
    double x = f64_of(a), y = f64_of(b);
    if (isnan(x) || isnan(y))
        return bits_f64(x + y);
    if (x == y)
        return a & b;
    return x > y ? a : b;
}

/*
 * Rounding to an integral value. libm returns a signalling NaN as it came
 * (glibc's floorf(sNaN) keeps the quiet bit clear), but wasm wants an
 * arithmetic NaN, so NaN goes through an addition, which quiets it.
 */
static inline float round_f32(float x, int how)
{
    if (isnan(x))
        return x + x;
    switch (how) {
    case 0: return ceilf(x);
    case 1: return floorf(x);
    case 2: return truncf(x);
    default: return rintf(x); /* ties to even in the default mode */
    }
}

static inline double round_f64(double x, int how)
{
    if (isnan(x))
        return x + x;
    switch (how) {
    case 0: return ceil(x);
    case 1: return floor(x);
    case 2: return trunc(x);
    default: return rint(x);
    }
}

enum { ROUND_CEIL, ROUND_FLOOR, ROUND_TRUNC, ROUND_NEAREST };

/*
 * Saturating truncations (trunc_sat): NaN gives 0, values beyond the
 * range clamp. Bounds are exact powers of two, representable in both
 * float widths; the f64 -> i32 bounds are the first values whose
 * truncation leaves the range.
 */
static inline int32_t sat_i32_f32(float x)
{
    if (isnan(x))
        return 0;
    if (x < -0x1p31f)
        return INT32_MIN;
    if (x >= 0x1p31f)
        return INT32_MAX;
    return (int32_t)x;
}

static inline uint32_t sat_u32_f32(float x)
{
    if (!(x > -1.0f))
        return 0; /* NaN too */
    if (x >= 0x1p32f)
        return UINT32_MAX;
    return (uint32_t)x;
}

static inline int32_t sat_i32_f64(double x)
{
    if (isnan(x))
        return 0;
    if (x <= -2147483649.0)
        return INT32_MIN;
    if (x >= 2147483648.0)
        return INT32_MAX;
    return (int32_t)x;
}

static inline uint32_t sat_u32_f64(double x)
{
    if (!(x > -1.0))
        return 0;
    if (x >= 4294967296.0)
        return UINT32_MAX;
    return (uint32_t)x;
}

static inline int64_t sat_i64_f32(float x)
{
    if (isnan(x))
        return 0;
    if (x < -0x1p63f)
        return INT64_MIN;
    if (x >= 0x1p63f)
        return INT64_MAX;
    return (int64_t)x;
}

static inline uint64_t sat_u64_f32(float x)
{
    if (!(x > -1.0f))
        return 0;
    if (x >= 0x1p64f)
        return UINT64_MAX;
    return (uint64_t)x;
}

static inline int64_t sat_i64_f64(double x)
{
    if (isnan(x))
        return 0;
    if (x < -0x1p63)
        return INT64_MIN;
    if (x >= 0x1p63)
        return INT64_MAX;
    return (int64_t)x;
}

static inline uint64_t sat_u64_f64(double x)
{
    if (!(x > -1.0))
        return 0;
    if (x >= 0x1p64)
        return UINT64_MAX;
    return (uint64_t)x;
}

/* A failed trapping truncation: NaN is an invalid conversion, anything
 * else is out of range. */
static inline int trunc_error(double x)
{
    return isnan(x) ? VM_ERR_TRAP_INVALID_CONV : VM_ERR_TRAP_INT_OVERFLOW;
}

static inline uint32_t rotl32(uint32_t x, uint32_t k)
{
    k &= 31;
    return (x << k) | (x >> ((32 - k) & 31));
}

static inline uint32_t rotr32(uint32_t x, uint32_t k)
{
    k &= 31;
    return (x >> k) | (x << ((32 - k) & 31));
}

static inline uint64_t rotl64(uint64_t x, uint64_t k)
{
    k &= 63;
    return (x << k) | (x >> ((64 - k) & 63));
}

static inline uint64_t rotr64(uint64_t x, uint64_t k)
{
    k &= 63;
    return (x >> k) | (x << ((64 - k) & 63));
}

/* Unaligned little-endian memory access. */
static inline uint64_t load_u64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline uint32_t load_u32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint16_t load_u16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static inline void store_u64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static inline void store_u32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void store_u16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }

/* ---- Frames ----------------------------------------------------------- */

static uint32_t max_call_depth(const vm_store *s)
{
    uint32_t limit = s->limits.max_call_depth ? s->limits.max_call_depth
                                              : VM_DEFAULT_CALL_DEPTH;

    /* A sink's entries hold depths up to VM_SINK_MAX_DEPTH. */
    if (s->tracer && s->tracer->sink && limit > VM_SINK_MAX_DEPTH)
        limit = VM_SINK_MAX_DEPTH;
    return limit;
}

/* End of the frames a call may use: what is allocated, within the limit. */
static inline struct vm__frame *frames_end(const vm_store *s)
{
    uint32_t limit = max_call_depth(s);
    return s->frames + (s->frames_cap < limit ? s->frames_cap : limit);
}

/*
 * Make room for one more frame: called when depth == frames_cap. Past the
 * store's depth limit the call stack is exhausted.
 */
static __attribute__((noinline)) int grow_frames(vm_store *s)
{
    uint32_t limit = max_call_depth(s), cap;
    struct vm__frame *frames;

    if (s->depth >= limit)
        return VM_ERR_TRAP_EXHAUSTION;
    if (s->depth < s->frames_cap)
        return 0; /* room after all (the limit was raised) */
    cap = s->frames_cap ? s->frames_cap * 2 : 64;
    if (cap > limit || cap < s->frames_cap)
        cap = limit;
    frames = vm__realloc(s->frames, (size_t)cap * sizeof *frames);
    if (!frames)
        return VM_ERR_NOMEM;
    s->frames = frames;
    s->frames_cap = cap;
    return 0;
}

/* ---- Traps ------------------------------------------------------------ */

/*
 * Write a trap's message: the spec's text (what), then where it happened
 * when that is known: the function (index and name-section name) and the
 * byte offset in the module of the wasm instruction, from the code's
 * srcmap. Only the trap path pays for this.
 */
static __attribute__((noinline, cold)) void
trap_message(vm_store *s, const char *what, const vm_instance *inst,
             const vm__code *code, const uint32_t *pc)
{
    const vm_module *m = inst ? inst->module : NULL;
    uint32_t word, lo, hi, idx = UINT32_MAX;
    const char *name = NULL;
    int n;

    n = snprintf(s->trap_msg, sizeof s->trap_msg, "%s", what);
    if (!m || !code || !pc || n < 0 || (size_t)n >= sizeof s->trap_msg)
        return;
    idx = code->func_idx; /* also right for a tracing variant */
    if (idx < m->nfuncs_imported || idx >= m->nfuncs_total)
        return;
    name = vm_module_func_name(m, idx);
    /* The last srcmap pair at or before the trapping instruction. */
    word = (uint32_t)(pc - code->words);
    lo = 0;
    hi = code->nsrcmap;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (code->srcmap[2 * mid] <= word)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        snprintf(s->trap_msg + n, sizeof s->trap_msg - (size_t)n,
                 " (in func %u%s%s%s)", idx, name ? " \"" : "",
                 name ? name : "", name ? "\"" : "");
    else
        snprintf(s->trap_msg + n, sizeof s->trap_msg - (size_t)n,
                 " (in func %u%s%s%s at offset 0x%x)", idx,
                 name ? " \"" : "", name ? name : "", name ? "\"" : "",
                 code->srcmap[2 * (lo - 1) + 1]);
}

/* ---- Exceptions ------------------------------------------------------- */

/*
 * The handler for an exception with this tag raised at word of code, or
 * NULL (code_int.h describes the table). Only the throwing path pays.
 */
static __attribute__((noinline)) const vm__handler *
find_handler(const vm__code *code, const vm_instance *inst, uint32_t word,
             const struct vm__exn *e)
{
    uint32_t limit = UINT32_MAX;

    for (uint32_t i = 0; i < code->nhandlers; i++) {
        const vm__handler *h = &code->handlers[i];
        if (word < h->start || word >= h->end || h->depth >= limit)
            continue;
        switch (h->kind) {
        case VM_HANDLER_CATCH:
            if (inst->tags[h->tag] == e->tag)
                return h;
            break;
        case VM_HANDLER_CATCH_ALL:
            return h;
        default: /* delegate: on to the tries around its label */
            limit = h->exn_slot;
            break;
        }
    }
    return NULL;
}

/* ---- The dispatch loop ------------------------------------------------ */

#if VM_COMPUTED_GOTO
#define HANDLE_OP(name) L_##name:
#define NEXT(len)                                                           \
    do {                                                                    \
        pc += (len);                                                        \
        goto *(&&l_base + (int32_t)*pc);                                    \
    } while (0)
#else
#define HANDLE_OP(name) case VM_IOP_##name:
#define NEXT(len)                                                           \
    do {                                                                    \
        pc += (len);                                                        \
        goto l_base;                                                        \
    } while (0)
#endif

/* Branch to word index t of the running function. */
#define JUMP(t)                                                             \
    do {                                                                    \
        pc = words + (t);                                                   \
        NEXT(0);                                                            \
    } while (0)

/* Stop with a trap (or FUEL/CANCELLED) raised here: the message is ours. */
#define TRAP(code)                                                          \
    do {                                                                    \
        rc = (code);                                                        \
        goto trap;                                                          \
    } while (0)

/* Operand k of the current instruction (1-based word after the opcode),
 * read as a slot of the given type, or written. i32/f32 live in the low
 * 32 bits; writers zero-extend, readers truncate. */
#define SLOT(k) fp[pc[k]]
#define I32(k) ((uint32_t)SLOT(k))
#define S32(k) ((int32_t)(uint32_t)SLOT(k))
#define I64(k) ((uint64_t)SLOT(k))
#define S64(k) ((int64_t)SLOT(k))
#define F32(k) f32_of((uint32_t)SLOT(k))
#define F64(k) f64_of(SLOT(k))
#define SET_I32(k, v) (SLOT(k) = (uint32_t)(v))
#define SET_I64(k, v) (SLOT(k) = (uint64_t)(v))
#define SET_F32(k, v) (SLOT(k) = bits_f32(v))
#define SET_F64(k, v) (SLOT(k) = bits_f64(v))

/* Effective address of a load/store: the u32 address in operand k plus
 * the memarg offset in word 3 (both layouts put it there). 33 bits. */
#define EA(k) ((uint64_t)I32(k) + pc[3])

#define LOAD_MEM()                                                          \
    do {                                                                    \
        vm_memory *m0_ = inst->mem0;                                        \
        membase = m0_ ? m0_->data : NULL;                                   \
        memsize = m0_ ? m0_->size : 0;                                      \
    } while (0)

#if defined(__clang__)
#define VM_NOCLONE __attribute__((noinline))
#else
#define VM_NOCLONE __attribute__((noinline, noclone))
#endif

/* ---- Tracing ---------------------------------------------------------- */

/*
 * The hooks run_traced calls (vm.h, "Tracing"). They are out of line so
 * that the traced loop stays close to the plain one; run_plain never
 * calls them. A hook the tracer leaves NULL costs one test.
 */
enum { TRACE_TAIL = 1, TRACE_UNWOUND = 2 };

/* The body run_traced runs for wasm function f. */
static inline const vm__code *code_variant(vm_func *f, unsigned which)
{
    const vm__code *v = f->variant[which];

    if (__builtin_expect(!v, 0))
        v = f->variant[which] = vm__code_variant(f, which);
    return v;
}

/* ---- The trace sink (vm.h, "Trace sinks") ------------------------------- */

/*
 * The clock moved (sink_room checks it before an op or step run's entry
 * and before a call or return entry the gate sent to sink_slow): tick,
 * and when the time moved too, a time entry, with room for it and the
 * `need` bytes of the entry that follows, so that a batch never ends in a
 * time entry.
 */
static __attribute__((noinline)) void sink_tick(vm_trace_sink *k,
                                                size_t need)
{
    uint64_t w = VM_SINK_TIME;

    k->tick(k);
    if (k->t == k->prev_t)
        return;
    if ((size_t)(k->end - k->pos) < need + 16)
        k->make_room(k, need + 16); /* a new batch starts at t */
    if (k->t == k->prev_t)
        return;
    memcpy(k->pos, &w, 8);
    w = k->t - k->prev_t;
    memcpy(k->pos + 8, &w, 8);
    k->pos += 16;
    k->prev_t = k->t;
}

/*
 * The gate (vm.h, "Trace sinks"): NULL takes the next call or return
 * entry to sink_slow. Owner callbacks may take the entries or move the
 * buffer, so after one the gate is closed until the next entry re-arms it.
 * The one store that closes it, the VM's and vm_trace_sink_poke's (a
 * plain store on x86).
 */
static inline void sink_close_gate(vm_trace_sink *k)
{
    __atomic_store_n(&k->gate, (uint8_t *)NULL, __ATOMIC_RELEASE);
}

/* Room for an entry of `need` bytes and the 16 more vm.h promises (a
 * valueless call or return entry writes one slot beyond itself), after
 * the clock check. */
static inline uint8_t *sink_room(vm_trace_sink *k, size_t need)
{
    if (__builtin_expect(
            __atomic_load_n(k->clock, __ATOMIC_RELAXED) != k->clock_seen, 0)) {
        sink_tick(k, need + 16);
        sink_close_gate(k);
    }
    if (__builtin_expect((size_t)(k->end - k->pos) < need + 16, 0)) {
        k->make_room(k, need + 16);
        sink_close_gate(k);
    }
    return k->pos;
}

/* A two-word entry: an op run, a step run. */
static void sink_put2(vm_trace_sink *k, uint64_t w0, uint64_t w1)
{
    uint8_t *p = sink_room(k, 16);

    memcpy(p, &w0, 8);
    memcpy(p + 8, &w1, 8);
    k->pos = p + 16;
}

/*
 * The run in progress as its entry, taken off the sink first so that a
 * tick or make_room on the way (the owner seals and calls
 * vm_trace_sink_flush) finds none: an op run as VM_SINK_OPS, a step run
 * as VM_SINK_STEPS. Each stands for count events.
 */
static inline __attribute__((always_inline)) void
sink_flush_run(vm_trace_sink *k)
{
    uint32_t start, n;

    if (k->op_count) {
        start = k->op_start;
        n = k->op_count;
        k->op_count = 0;
        k->op_next = UINT32_MAX; /* no run: the next op starts one */
        sink_put2(k, VM_SINK_OPS | (uint64_t)start << 32, n);
        k->nops += n;
    } else if (k->step_end) {
        start = k->step_start;
        n = k->step_end - 1 - start;
        k->step_end = 0; /* no run: the next step starts one */
        sink_put2(k, VM_SINK_STEPS | (uint64_t)start << 32, n);
        k->nsteps += n;
    } else {
        return;
    }
    k->count += n;
}

void vm_trace_sink_flush(vm_trace_sink *k)
{
    sink_flush_run(k);
}

void vm_trace_sink_poke(vm_trace_sink *k)
{
    sink_close_gate(k);
}

/* The instruction at offset runs and does not continue the op run: write
 * the run (or a step run), start another, which the next call or return
 * entry writes first (the gate sends it to sink_slow). */
static __attribute__((noinline)) void sink_op_break(vm_trace_sink *k,
                                                    uint32_t offset)
{
    vm_trace_sink_flush(k);
    k->op_start = offset;
    k->op_count = 1;
    sink_close_gate(k);
}

static void trace_call(vm_store *s, vm_func *f, uint32_t depth,
                       const vm__slot *fp);
static void trace_return(vm_store *s, vm_instance *inst,
                         const vm__code *code, uint32_t depth,
                         const vm__slot *fp, int how);

/*
 * A call or return entry found the gate closed: the run in progress goes
 * first, then the clock check and room for len bytes; the gate opens at
 * end - 16 first, so that a callback on the way (which closes it) or a
 * poke from now on sends the next entry here again. run_traced's stand-in
 * sink (a tracer without a sink: no make_room, user the store) never
 * opens: its entry goes to the call or return hook instead (inst: the
 * frame's instance, whose function the entry names), and false says that
 * there is nothing to write.
 */
static __attribute__((noinline)) bool sink_slow(vm_trace_sink *k, size_t len,
                                                uint64_t w0,
                                                const vm__slot *vals,
                                                vm_instance *inst)
{
    if (!k->make_room) {
        unsigned kind = VM_SINK_KIND(w0);
        bool one = kind == VM_SINK_CALL1 || kind == VM_SINK_RETURN1;
        vm_func *f = inst->funcs[one ? VM_SINK1_FUNC(w0) : VM_SINK_FUNC(w0)];
        uint32_t depth = one ? VM_SINK1_DEPTH(w0) : VM_SINK_DEPTH(w0);

        if (kind == VM_SINK_CALL || kind == VM_SINK_CALL1)
            trace_call(k->user, f, depth, vals);
        else
            trace_return(k->user, inst, f->code, depth, vals, 0);
        return false;
    }
    __atomic_store_n(&k->gate, k->end - 16, __ATOMIC_RELAXED);
    sink_flush_run(k);
    sink_room(k, len);
    return true;
}

/*
 * Where an entry of len bytes (word w0, its values at vals, a frame of
 * inst) goes: *at. The gate check stands for the clock, the room and the
 * run in progress. False when there is nothing to write (the stand-in
 * sink called a hook instead).
 */
static inline bool sink_entry_at(vm_trace_sink *k, size_t len, uint64_t w0,
                                 const vm__slot *vals, vm_instance *inst,
                                 uint8_t **at)
{
    uint8_t *p = k->pos;

    /* In integers: the stand-in's pos is NULL. */
    if (__builtin_expect((uintptr_t)p + len >
                             (uintptr_t)__atomic_load_n(&k->gate,
                                                        __ATOMIC_RELAXED),
                         0)) {
        if (!sink_slow(k, len, w0, vals, inst))
            return false;
        p = k->pos;
    }
    *at = p;
    return true;
}

/*
 * A call or return entry in the general form: word w0 (kind, slots,
 * function and depth) and the len - 8 bytes of value slots at vals. The
 * first slot is copied as a word whatever the count (vals has slack
 * after it, and the gate leaves 16 bytes), a second as another, more
 * with memcpy. Measured on the kernels: two slots always, or both as
 * one 16-byte copy, made fib or hash slower (docs/vm.md, "Trace sinks").
 */
static inline void sink_frame(vm_trace_sink *k, uint64_t w0, size_t len,
                              const vm__slot *vals, vm_instance *inst)
{
    uint8_t *p;
    uint64_t a, b;

    if (!sink_entry_at(k, len, w0, vals, inst, &p))
        return;
    memcpy(p, &w0, 8);
    a = vals[0];
    memcpy(p + 8, &a, 8);
    if (__builtin_expect(len > 16, 0)) {
        if (len == 24) {
            b = vals[1];
            memcpy(p + 16, &b, 8);
        } else {
            memcpy(p + 8, vals, len - 8);
        }
    }
    k->pos = p + len;
    k->count++;
}

/* A one-word entry (VM_SINK_CALL1, VM_SINK_RETURN1): w, whose value is
 * vals[0]. */
static inline void sink_word(vm_trace_sink *k, uint64_t w,
                             const vm__slot *vals, vm_instance *inst)
{
    uint8_t *p;

    if (!sink_entry_at(k, 8, w, vals, inst, &p))
        return;
    memcpy(p, &w, 8);
    k->pos = p + 8;
    k->count++;
}

/*
 * A call (ret false) or return entry of c's frame at depth, its values at
 * fp: one word (VM_SINK_CALL1, VM_SINK_RETURN1: the value's low 32 bits
 * into the high half) where it applies, else the general form. The
 * fields are read in the branch taken: passed in, GCC loaded them all
 * first (fib: 5 instructions a call more).
 */
static inline void sink_frame_entry(vm_trace_sink *k, const vm__code *c,
                                    bool ret, uint32_t depth,
                                    const vm__slot *fp, vm_instance *inst)
{
    if (depth < (ret ? c->sink_ret1_depths : c->sink_call1_depths))
        sink_word(k,
                  (ret ? c->sink_ret1 : c->sink_call1) |
                      (uint64_t)depth << 16 | (uint64_t)fp[0] << 32,
                  fp, inst);
    else
        sink_frame(k,
                   (ret ? c->sink_ret : c->sink_call) | (uint64_t)depth << 36,
                   ret ? c->sink_ret_len : c->sink_call_len, fp, inst);
}

/* A call of c (of instance inst) with its arguments at fp. */
static inline void sink_call(vm_trace_sink *k, const vm__code *c,
                             vm_instance *inst, uint32_t depth,
                             const vm__slot *fp)
{
    k->calls++;
    if (depth > k->max_depth)
        k->max_depth = depth;
    sink_frame_entry(k, c, false, depth, fp, inst);
}

/* A return of c (of instance inst) with its results at fp. */
static inline void sink_ret(vm_trace_sink *k, const vm__code *c,
                            vm_instance *inst, uint32_t depth,
                            const vm__slot *fp)
{
    sink_frame_entry(k, c, true, depth, fp, inst);
}

/* A frame at depth starts running stepped code (TRACE_FRAME): no line
 * yet, so its first step point with a line steps. */
static inline void sink_frame_start(vm_trace_sink *k, uint32_t depth)
{
    if (depth < k->frame_cap)
        k->frame_line[depth] = VM_SINK_NO_LINE;
}

/* A return without values: a tail call's, an unwound frame's. */
static void sink_ret_none(vm_trace_sink *k, const vm__code *c,
                          uint32_t depth)
{
    static const vm__slot none[2];

    sink_frame(k,
               VM_SINK_RETURN_NONE | (uint64_t)c->func_idx << 16 |
                   (uint64_t)depth << 36,
               8, none, NULL);
}

/* A step at point that does not continue the step run: write the run in
 * progress, start another. */
static __attribute__((noinline)) void sink_step_break(vm_trace_sink *k,
                                                      uint32_t point)
{
    vm_trace_sink_flush(k);
    k->step_start = point;
    k->step_end = point + 2; /* one step so far */
    sink_close_gate(k);
}

/* Step point `point` reached in the frame at depth: a step when it moves
 * the frame to another line, which continues the step run or starts one.
 * Inline in the TRACE_STEP handler: statements come every few
 * instructions. */
static inline void sink_step(vm_trace_sink *k, uint32_t point,
                             uint32_t depth)
{
    uint32_t line = k->step_line[point];

    if (line == VM_SINK_NO_LINE)
        return; /* a point that never steps */
    if (depth < k->frame_cap) {
        if (k->frame_line[depth] == line)
            return;
        k->frame_line[depth] = line;
    }
    if (point + 1 == k->step_end) /* the run goes on: one compare */
        k->step_end++;
    else
        sink_step_break(k, point);
}

static void trace_call(vm_store *s, vm_func *f, uint32_t depth,
                       const vm__slot *fp)
{
    const vm_tracer *t = s->tracer;
    vm_trace_frame fr;

    if (t->sink) {
        sink_call(t->sink, (const vm__code *)f->code, f->inst, depth, fp);
        return;
    }
    if (!t->call)
        return;
    fr.func = f;
    fr.instance = f->inst;
    fr.func_idx = f->func_idx;
    fr.depth = depth;
    fr.unwound = false;
    fr.tail = false;
    fr.vals.count = f->type->nparams;
    fr.vals.types = vm__functype_params(f->type);
    fr.vals.slots = fp;
    t->call(t->user, &fr);
}

/* The frame running code of inst at depth ends; its results are at fp,
 * or there are none (fp NULL: a tail call or unwinding, per how). */
static void trace_return(vm_store *s, vm_instance *inst,
                         const vm__code *code, uint32_t depth,
                         const vm__slot *fp, int how)
{
    const vm_tracer *t = s->tracer;
    vm_trace_frame fr;
    vm_func *f;

    if (t->sink) {
        if (fp)
            sink_ret(t->sink, code, inst, depth, fp);
        else
            sink_ret_none(t->sink, code, depth);
        return;
    }
    if (!t->ret)
        return;
    f = inst->funcs[code->func_idx];
    fr.func = f;
    fr.instance = inst;
    fr.func_idx = code->func_idx;
    fr.depth = depth;
    fr.unwound = (how & TRACE_UNWOUND) != 0;
    fr.tail = (how & TRACE_TAIL) != 0;
    fr.vals.count = fp ? f->type->nresults : 0;
    fr.vals.types = vm__functype_results(f->type);
    fr.vals.slots = fp;
    t->ret(t->user, &fr);
}

/* A host function's index among the caller's imports, or UINT32_MAX. */
static uint32_t host_import_idx(const vm_func *f, const vm_instance *caller)
{
    if (!caller)
        return UINT32_MAX;
    for (uint32_t i = 0; i < caller->module->nfuncs_imported; i++)
        if (caller->funcs[i] == f)
            return i;
    return UINT32_MAX;
}

static void host_frame(vm_trace_frame *fr, vm_func *f, vm_instance *caller,
                       uint32_t depth)
{
    fr->func = f;
    fr->instance = caller;
    fr->func_idx = host_import_idx(f, caller);
    fr->depth = depth;
    fr->unwound = false;
    fr->tail = false;
}

void vm__trace_host_call(vm_store *s, vm_func *f, vm_instance *caller,
                         uint32_t depth, const vm__slot *sp)
{
    const vm_tracer *t = s->tracer;
    vm_trace_frame fr;

    if (!t->host_call)
        return;
    host_frame(&fr, f, caller, depth);
    fr.vals.count = f->type->nparams;
    fr.vals.types = vm__functype_params(f->type);
    fr.vals.slots = sp;
    t->host_call(t->user, &fr);
}

/* Fire the trap hook for rc unless a nested run already did. */
static void trace_trap(vm_store *s, int rc)
{
    const vm_tracer *t = s->tracer;

    if (rc == VM_ERR_EXCEPTION || rc == VM_ERR_EXIT || s->trace_trap_fired)
        return;
    s->trace_trap_fired = true;
    if (t->trap)
        t->trap(t->user, rc, s->trap_msg[0] ? s->trap_msg : vm_strerror(rc));
}

void vm__trace_host_return(vm_store *s, vm_func *f, vm_instance *caller,
                           uint32_t depth, const vm__slot *sp, int rc)
{
    const vm_tracer *t = s->tracer;
    vm_trace_frame fr;

    if (rc)
        trace_trap(s, rc); /* before the returns it unwinds */
    else
        s->trace_trap_fired = false; /* the host handled a nested one */
    if (!t->host_return)
        return;
    host_frame(&fr, f, caller, depth);
    fr.unwound = rc != 0;
    fr.vals.count = rc ? 0 : f->type->nresults;
    fr.vals.types = vm__functype_results(f->type);
    fr.vals.slots = sp;
    t->host_return(t->user, &fr);
}

void vm__trace_throw(vm_store *s, const vm_instance *inst,
                     const struct vm__exn *e)
{
    const vm_tracer *t = s->tracer;
    vm_trace_throw th;

    if (!t || !t->throw_)
        return;
    th.tag = e->tag;
    th.instance = inst;
    th.tag_idx = UINT32_MAX;
    for (uint32_t i = 0; inst && i < inst->module->ntags_total; i++) {
        if (inst->tags[i] == e->tag) {
            th.tag_idx = i;
            break;
        }
    }
    th.payload.types = vm__tag_params(s, e->tag, &th.payload.count);
    th.payload.slots = e->payload;
    t->throw_(t->user, &th);
}

/*
 * A traced run is failing with rc: the trap hook (once), then an unwound
 * ret for each wasm frame this run still has, innermost first: the
 * running one (code of inst; unless it already had its ret), then the
 * callers the frame records between fr_entry and fr hold.
 */
static __attribute__((noinline, cold)) void
trace_fail(vm_store *s, int rc, const struct vm__frame *fr_entry,
           const struct vm__frame *fr, vm_instance *inst,
           const vm__code *code, bool top_returned)
{
    trace_trap(s, rc);
    if (fr == fr_entry)
        return;
    if (!top_returned)
        trace_return(s, inst, code, (uint32_t)(fr - s->frames), NULL,
                     TRACE_UNWOUND);
    for (const struct vm__frame *r = fr - 1; r > fr_entry; r--)
        trace_return(s, r->inst, r->code, (uint32_t)(r - s->frames), NULL,
                     TRACE_UNWOUND);
}

#define VM_TRACED 0
#define RUN run_plain
#include "interp_run.h"
#undef RUN
#undef VM_TRACED

#define VM_TRACED 1
#define RUN run_traced
#include "interp_run.h"
#undef RUN
#undef VM_TRACED

const uint32_t *vm__interp_dispatch(void)
{
    const uint32_t *table = NULL;
    run_plain(NULL, NULL, NULL, &table);
    return table;
}

const uint32_t *vm__interp_dispatch_traced(void)
{
    const uint32_t *table = NULL;
    run_traced(NULL, NULL, NULL, &table);
    return table;
}

int vm__interp_call(vm_store *s, vm_func *f, vm__slot *sp)
{
    if (!f->inst) {
        /* A host function called directly: nothing of ours to unwind;
         * only keep a re-entrant call from landing on its values. */
        vm__slot *saved_top = s->stack_top;
        uint32_t n = 0, i;
        int rc;
        for (i = 0; i < f->type->nparams; i++)
            n += vm__type_slots(vm__functype_params(f->type)[i]);
        uint32_t nres = 0;
        for (i = 0; i < f->type->nresults; i++)
            nres += vm__type_slots(vm__functype_results(f->type)[i]);
        s->stack_top = sp + (n > nres ? n : nres);
        if (s->tracer)
            vm__trace_host_call(s, f, NULL, s->depth, sp);
        rc = vm__host_call(s, f, NULL, sp);
        if (s->tracer)
            vm__trace_host_return(s, f, NULL, s->depth, sp, rc);
        s->stack_top = saved_top;
        return rc;
    }
    /* One test per call: an untraced call runs the loop it always ran. */
    if (s->tracer)
        return run_traced(s, f, sp, NULL);
    return run_plain(s, f, sp, NULL);
}
