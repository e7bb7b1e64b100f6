/*
 * The dispatch loop of interp.c, compiled twice: interp.c includes this
 * file once with VM_TRACED 0 (run_plain, what untraced calls run) and once
 * with VM_TRACED 1 (run_traced, which calls the store's vm_tracer hooks).
 * Only interp.c includes it; it relies on interp.c's helpers and macros.
 * Each copy has its own dispatch table, so code threaded for one cannot
 * run in the other: run_traced runs the tracing variants of the function
 * bodies (code_int.h, vm__code_variant). With VM_TRACED 0 every TRACE_*
 * macro expands to nothing: an untraced run executes what it executed
 * before tracing existed.
 */

/*
 * Run wasm function f with its frame at sp, or, when table_out is not
 * NULL, only hand out the dispatch table. The table holds label offsets,
 * which are only stable if this function is never inlined or cloned.
 */
static VM_NOCLONE int RUN(vm_store *s, vm_func *f, vm__slot *sp,
                          const uint32_t **table_out)
{
#if VM_COMPUTED_GOTO
    static const uint32_t dispatch_table[VM_IOP_COUNT] = {
#define IOP(name, layout, comment)                                          \
    [VM_IOP_##name] = (uint32_t)(&&L_##name - &&l_base),
#include "iops.def"
#undef IOP
    };
#else
    static const uint32_t dispatch_table[VM_IOP_COUNT] = {
#define IOP(name, layout, comment) [VM_IOP_##name] = VM_IOP_##name,
#include "iops.def"
#undef IOP
    };
#endif
    const uint32_t *pc;
    const uint32_t *words;
    const vm__code *code;
    vm__slot *fp;
    vm_instance *inst;
    uint8_t *membase;
    uint64_t memsize;
    uint32_t entry_depth;
    /*
     * The frame stack, kept in locals: fr is the next free frame
     * (s->frames + depth), fr_entry the frame this call pushed first and
     * fr_cap the end of what is allocated. s->depth is only written back
     * where someone else may look (host calls, growth, the way out), and
     * the three are re-derived after anything that may move s->frames.
     * Measured with cachegrind on fib(30) (2.7M calls): this and the
     * pointer loops in enter_wasm and RETURN took the run from 359.7M to
     * 328.7M instructions (-9%); qsort -4%. run_traced names fr's
     * register (VM_TRACED_FR_REG): left to itself, GCC keeps fr on the
     * stack there (it does not in run_plain), a load and a store more per
     * call and return (docs/performance.md, "Recording cost per level").
     */
#if VM_TRACED && defined(VM_TRACED_FR_REG)
    register struct vm__frame *fr __asm__(VM_TRACED_FR_REG);
#else
    struct vm__frame *fr;
#endif
    struct vm__frame *fr_entry, *fr_cap;
    vm__slot *saved_top;
    vm_func *callee;
    vm__slot *callee_fp;
    int64_t fuel; /* s->fuel, kept local; written back before host calls
                     and on the way out */
    int rc;
#if VM_TRACED
    /* The hooks, and which variant of each body runs: the instrumented
     * one only when someone wants every op, the stepped one only when
     * someone wants steps. top_returned: the running
     * frame already had its ret (a tail call to a host that failed). */
    const vm_tracer *tr;
    /* tr->sink, kept local, or without one the stand-in: no buffer and
     * no make_room, so its gate never opens and every call and return
     * entry's slow path hands the event to the hooks (sink_slow). A call
     * or return costs one gate compare either way, and the loop has no
     * second path to keep registers for. */
    vm_trace_sink *sink;
    vm_trace_sink *step_sink; /* the sink when it takes steps */
    vm_trace_sink *op_sink;   /* the sink when it takes ops */
    unsigned variant;
    bool top_returned = false;
#endif

    if (table_out) {
        *table_out = dispatch_table;
        return 0;
    }
#if VM_TRACED
    tr = s->tracer;
    sink = tr->sink;
    if (!sink) {
        s->stand_in = (vm_trace_sink){0};
        s->stand_in.user = s;
        sink = &s->stand_in;
    }
    step_sink = tr->sink && tr->sink->step_line ? tr->sink : NULL;
    op_sink = tr->sink && tr->sink->ops ? tr->sink : NULL;
    variant = (tr->op || op_sink ? VM_CODE_INSTRUMENTED : VM_CODE_TRACED) |
              (tr->step || step_sink ? VM_CODE_STEPPED : VM_CODE_TRACED);
#endif

    if (!s->frames && (rc = grow_frames(s)) != 0)
        return rc; /* keeps the frame pointers below off NULL */
    entry_depth = s->depth;
    saved_top = s->stack_top;
    pc = NULL;
    words = NULL;
    code = NULL;
    fp = sp;
    inst = NULL;
    membase = NULL;
    memsize = 0;
    callee = f;
    callee_fp = sp;
    fuel = s->fuel;
    fr = s->frames + entry_depth;
    fr_entry = fr;
    fr_cap = frames_end(s);
    goto enter_wasm;

    /*
     * Calls. callee and callee_fp are set and pc points past the call
     * instruction. A wasm callee gets a frame (depth and value-stack
     * checked), zeroed locals and its constants; a host callee runs
     * with stack_top above this frame so that it may call back in.
     */
call:
    if (!callee->inst) {
        uint32_t depth = (uint32_t)(fr - s->frames);
        s->stack_top = fp + code->frame_slots;
        s->fuel = fuel;
        s->depth = depth;
#if VM_TRACED
        vm__trace_host_call(s, callee, inst, depth, callee_fp);
#endif
        rc = vm__host_call(s, callee, inst, callee_fp);
#if VM_TRACED
        vm__trace_host_return(s, callee, inst, depth, callee_fp, rc);
#endif
        /* The host may have run wasm (growing s->frames) or set the fuel. */
        fuel = s->fuel;
        fr = s->frames + depth;
        fr_entry = s->frames + entry_depth;
        fr_cap = frames_end(s);
        if (rc) {
            if (rc == VM_ERR_EXCEPTION)
                goto unwind; /* thrown through the host function */
            goto fail;
        }
        LOAD_MEM();
        NEXT(0);
    }
enter_wasm: {
        const vm__code *cc = callee->code;
        vm__slot *dst, *end;
        const vm__slot *src;

#if VM_TRACED
        cc = code_variant(callee, variant);
        if (!cc) {
            rc = VM_ERR_NOMEM;
            goto trap_call;
        }
#endif

        if (__builtin_expect(fr >= fr_cap, 0)) {
            uint32_t depth = (uint32_t)(fr - s->frames);
            s->depth = depth;
            rc = grow_frames(s);
            if (rc)
                goto trap_call;
            fr = s->frames + depth;
            fr_entry = s->frames + entry_depth;
            fr_cap = frames_end(s);
        }
        if (callee_fp + cc->frame_slots > s->stack_end) {
            rc = VM_ERR_TRAP_EXHAUSTION;
            goto trap_call;
        }
        fr->pc = pc;
        fr->fp = fp;
        fr->code = code;
        fr->inst = inst;
        fr++;
        fp = callee_fp;
        code = cc;
        words = cc->words;
        if (callee->inst != inst) {
            inst = callee->inst;
            LOAD_MEM();
        }
        /* Zero the declared locals, then copy the constant pool in. */
        dst = fp + cc->nparam_slots;
        end = fp + cc->nlocal_slots;
        while (dst < end)
            *dst++ = 0;
        src = cc->consts;
        end = dst + cc->nconsts;
        while (dst < end)
            *dst++ = *src++;
#if VM_TRACED
        /* The sink's record inline: a call out of the loop here made
         * recorded calls cost a third more (docs/performance.md). */
        sink_call(sink, cc, inst, (uint32_t)(fr - s->frames), fp);
#endif
        pc = words;
        NEXT(0);
    }

    /*
     * Tail calls: callee and callee_fp (where the arguments are) are set
     * and pc points past the instruction. A wasm callee takes over this
     * frame: its params move down to slot 0 and the frame record stays,
     * so it returns straight to our caller and the depth does not grow.
     * A host callee is called as CALL does, then its results are
     * returned as RETURN does.
     */
tail_call:
    if (__builtin_expect(!callee->inst, 0)) {
        uint32_t depth = (uint32_t)(fr - s->frames);
        const vm__slot *src, *end;
        vm__slot *dst;

        s->stack_top = fp + code->frame_slots;
        s->fuel = fuel;
        s->depth = depth;
#if VM_TRACED
        /* This frame ends here (the host's results become its own). */
        trace_return(s, inst, code, depth, NULL, TRACE_TAIL);
        top_returned = true;
        vm__trace_host_call(s, callee, inst, depth - 1, callee_fp);
#endif
        rc = vm__host_call(s, callee, inst, callee_fp);
#if VM_TRACED
        vm__trace_host_return(s, callee, inst, depth - 1, callee_fp, rc);
#endif
        fuel = s->fuel;
        fr = s->frames + depth;
        fr_entry = s->frames + entry_depth;
        fr_cap = frames_end(s);
        if (rc) {
#if VM_TRACED
            if (rc == VM_ERR_EXCEPTION)
                goto unwind_pop; /* this frame is already gone */
#else
            if (rc == VM_ERR_EXCEPTION)
                goto unwind_caller; /* this frame is already gone */
#endif
            goto fail;
        }
#if VM_TRACED
        top_returned = false;
#endif
        src = callee_fp;
        end = src + code->nresult_slots;
        dst = fp;
        while (src < end)
            *dst++ = *src++;
        if (--fr == fr_entry)
            goto done;
        pc = fr->pc;
        fp = fr->fp;
        code = fr->code;
        inst = fr->inst;
        words = code->words;
        LOAD_MEM();
        NEXT(0);
    } else {
        const vm__code *cc = callee->code;
        vm__slot *dst, *end;
        const vm__slot *src;

#if VM_TRACED
        cc = code_variant(callee, variant);
        if (!cc) {
            rc = VM_ERR_NOMEM;
            goto trap_call;
        }
#endif
        if (fp + cc->frame_slots > s->stack_end) {
            rc = VM_ERR_TRAP_EXHAUSTION;
            goto trap_call;
        }
#if VM_TRACED
        trace_return(s, inst, code, (uint32_t)(fr - s->frames), NULL,
                     TRACE_TAIL);
#endif
        /* Ascending is safe: callee_fp >= fp. */
        src = callee_fp;
        dst = fp;
        end = fp + cc->nparam_slots;
        while (dst < end)
            *dst++ = *src++;
        code = cc;
        words = cc->words;
        if (callee->inst != inst) {
            inst = callee->inst;
            LOAD_MEM();
        }
        end = fp + cc->nlocal_slots;
        while (dst < end)
            *dst++ = 0;
        src = cc->consts;
        end = dst + cc->nconsts;
        while (dst < end)
            *dst++ = *src++;
#if VM_TRACED
        trace_call(s, callee, (uint32_t)(fr - s->frames), fp);
#endif
        pc = words;
        NEXT(0);
    }

    /*
     * Exceptions. s->exn is in flight and pc points past the instruction
     * that raised it (throw, rethrow, or the call it came out of), so
     * pc - 1 is inside it. Search the running function's handler table
     * (code_int.h), then pop frames and search each caller's, across
     * instances (tags compare by identity), down to the frame this run
     * entered at; beyond that the exception is the caller's, returned as
     * VM_ERR_EXCEPTION. Traps never come here: they are not catchable.
     */
unwind: {
        const vm__handler *h =
            find_handler(code, inst, (uint32_t)(pc - words) - 1, s->exn);
        if (h) {
            struct vm__exn *e = s->exn;
            if (h->kind == VM_HANDLER_CATCH)
                memcpy(fp + h->slot, e->payload,
                       (size_t)e->nslots * sizeof(vm__slot));
            fp[h->exn_slot] = (vm__slot)(uintptr_t)e;
            e->home = &fp[h->exn_slot];
            s->exn = NULL;
            pc = words + h->target;
            LOAD_MEM(); /* a callee we unwound may have grown memory */
            NEXT(0);
        }
    }
#if !VM_TRACED
unwind_caller:
#else
    trace_return(s, inst, code, (uint32_t)(fr - s->frames), NULL,
                 TRACE_UNWOUND);
unwind_pop:
    top_returned = false;
#endif
    if (--fr == fr_entry) {
        rc = VM_ERR_EXCEPTION;
        s->trap_msg[0] = '\0';
        goto fail;
    }
    pc = fr->pc;
    fp = fr->fp;
    code = fr->code;
    inst = fr->inst;
    words = code->words;
    goto unwind;

    /* The handlers. Nothing falls through to l_base: every way in is a
     * NEXT, which in the computed goto build jumps from l_base to the
     * handler whose offset the opcode word holds. */
l_base:
#if !VM_COMPUTED_GOTO
    switch ((vm__iop)*pc) {
#endif

    /* ---- Control ------------------------------------------------------ */

    /* unreachable: trap. */
    HANDLE_OP(UNREACHABLE) {
        TRAP(VM_ERR_TRAP_UNREACHABLE);
    }
    /* Charge i units of fuel; stop when out of fuel or cancelled. */
    HANDLE_OP(FUEL) {
        fuel -= pc[1];
        if (__builtin_expect(fuel < 0, 0)) {
            if (s->fuel_on) {
                fuel = 0;
                TRAP(VM_ERR_FUEL);
            }
            fuel = INT64_MAX; /* fuel off: keep the counter far away */
        }
        if (atomic_load_explicit(&s->cancel, memory_order_relaxed))
            TRAP(VM_ERR_CANCELLED);
        NEXT(2);
    }
    /* Copy one slot (a value moving at a merge point). */
    HANDLE_OP(COPY) {
        SLOT(1) = SLOT(2);
        NEXT(3);
    }
    /* Copy a v128 (two slots). */
    HANDLE_OP(COPY2) {
        vm__slot lo = fp[pc[2]], hi = fp[pc[2] + 1];
        fp[pc[1]] = lo;
        fp[pc[1] + 1] = hi;
        NEXT(3);
    }
    /* br: unconditional jump. */
    HANDLE_OP(BR) {
        JUMP(pc[1]);
    }
    /* br_if: jump when the i32 condition is nonzero. */
    HANDLE_OP(BR_IF) {
        if (I32(1))
            JUMP(pc[2]);
        NEXT(3);
    }
    /* if (negated br_if): jump when the i32 condition is zero. */
    HANDLE_OP(BR_UNLESS) {
        if (!I32(1))
            JUMP(pc[2]);
        NEXT(3);
    }
    /* br_table: jump to target[index], the last target when out of range. */
    HANDLE_OP(BR_TABLE) {
        uint32_t idx = I32(1), n = pc[2];
        if (idx >= n)
            idx = n - 1;
        JUMP(pc[3 + idx]);
    }
    /* return: results to slots [0, n), pop the frame, resume the caller. */
    HANDLE_OP(RETURN) {
        const vm__slot *src = fp + pc[1], *end = src + pc[2];
        vm__slot *dst = fp;
        while (src < end)
            *dst++ = *src++;
#if VM_TRACED
        sink_ret(sink, code, inst, (uint32_t)(fr - s->frames), fp);
#endif
        if (--fr == fr_entry)
            goto done;
        pc = fr->pc;
        fp = fr->fp;
        code = fr->code;
        inst = fr->inst;
        words = code->words;
        LOAD_MEM();
        NEXT(0);
    }
    /* call: invoke function f of this instance, frame at slot a. */
    HANDLE_OP(CALL) {
        callee = inst->funcs[pc[1]];
        callee_fp = fp + pc[2];
        pc += 3;
        goto call;
    }
    /* call_indirect: table T's element at slot s, checked against type y. */
    HANDLE_OP(CALL_INDIRECT) {
        vm_table *t = inst->tables[pc[2]];
        uint32_t idx = I32(3);
        if (idx >= t->size) {
            rc = VM_ERR_TRAP_UNDEF_ELEM;
            goto trap_elem;
        }
        callee = t->elems[idx];
        if (!callee) {
            rc = VM_ERR_TRAP_UNINIT_ELEM;
            goto trap_elem;
        }
        if (callee->type_id != inst->type_ids[pc[1]])
            TRAP(VM_ERR_TRAP_INDIRECT_TYPE);
        callee_fp = fp + pc[4];
        pc += 5;
        goto call;
    }
    /* return_call: call f in place of this function (see tail_call). */
    HANDLE_OP(RETURN_CALL) {
        callee = inst->funcs[pc[1]];
        callee_fp = fp + pc[2];
        pc += 3;
        goto tail_call;
    }
    /* return_call_indirect: checked as call_indirect, then a tail call. */
    HANDLE_OP(RETURN_CALL_INDIRECT) {
        vm_table *t = inst->tables[pc[2]];
        uint32_t idx = I32(3);
        if (idx >= t->size) {
            rc = VM_ERR_TRAP_UNDEF_ELEM;
            goto trap_elem;
        }
        callee = t->elems[idx];
        if (!callee) {
            rc = VM_ERR_TRAP_UNINIT_ELEM;
            goto trap_elem;
        }
        if (callee->type_id != inst->type_ids[pc[1]])
            TRAP(VM_ERR_TRAP_INDIRECT_TYPE);
        callee_fp = fp + pc[4];
        pc += 5;
        goto tail_call;
    }
    /* throw: a new exception with tag i and the payload at s; unwind. */
    HANDLE_OP(THROW) {
        if (!vm__exn_new(s, inst->tags[pc[1]], fp + pc[2], pc[3],
                         fp + code->frame_slots))
            TRAP(VM_ERR_NOMEM);
#if VM_TRACED
        vm__trace_throw(s, inst, s->exn);
#endif
        pc += 4;
        goto unwind;
    }
    /* rethrow: throw the caught exception (slot s) again, as a copy. */
    HANDLE_OP(RETHROW) {
        const struct vm__exn *e = (const struct vm__exn *)(uintptr_t)SLOT(1);
        if (!vm__exn_new(s, e->tag, e->payload, e->nslots,
                         fp + code->frame_slots))
            TRAP(VM_ERR_NOMEM);
#if VM_TRACED
        vm__trace_throw(s, inst, s->exn);
#endif
        pc += 2;
        goto unwind;
    }

    /* ---- Parametric and variables ------------------------------------- */

    /* select: s1 if the i32 condition s3 is nonzero, else s2. */
    HANDLE_OP(SELECT) {
        SLOT(1) = I32(4) ? SLOT(2) : SLOT(3);
        NEXT(5);
    }
    /* select on v128 operands. */
    HANDLE_OP(SELECT2) {
        uint32_t from = I32(4) ? pc[2] : pc[3];
        vm__slot lo = fp[from], hi = fp[from + 1];
        fp[pc[1]] = lo;
        fp[pc[1] + 1] = hi;
        NEXT(5);
    }
    /* global.get */
    HANDLE_OP(GLOBAL_GET) {
        SLOT(1) = inst->globals[pc[2]]->val[0];
        NEXT(3);
    }
    /* global.set */
    HANDLE_OP(GLOBAL_SET) {
        inst->globals[pc[1]]->val[0] = SLOT(2);
        NEXT(3);
    }
    /* global.get of a v128 global. */
    HANDLE_OP(GLOBAL_GET2) {
        const vm_global *g = inst->globals[pc[2]];
        fp[pc[1]] = g->val[0];
        fp[pc[1] + 1] = g->val[1];
        NEXT(3);
    }
    /* global.set of a v128 global. */
    HANDLE_OP(GLOBAL_SET2) {
        vm_global *g = inst->globals[pc[1]];
        g->val[0] = fp[pc[2]];
        g->val[1] = fp[pc[2] + 1];
        NEXT(3);
    }
    /* i32.const (and f32.const by its bits). */
    HANDLE_OP(I32_CONST) {
        SET_I32(1, pc[2]);
        NEXT(3);
    }
    /* i64.const (and f64.const by its bits), low word first. */
    HANDLE_OP(I64_CONST) {
        SET_I64(1, (uint64_t)pc[2] | (uint64_t)pc[3] << 32);
        NEXT(4);
    }

    /* ---- Memory: size, grow, bulk ------------------------------------ */

    /* memory.size: current pages of memory 0. */
    HANDLE_OP(MEMORY_SIZE) {
        SET_I32(1, inst->mem0->pages);
        NEXT(2);
    }
    /* memory.grow: old page count, or -1 when the memory cannot grow. */
    HANDLE_OP(MEMORY_GROW) {
        int64_t old = vm__memory_grow(inst->mem0, I32(2));
        SET_I32(1, (uint32_t)(int32_t)old);
        LOAD_MEM();
        NEXT(3);
    }
    /* memory.init: copy n bytes of data segment x from src to dst. */
    HANDLE_OP(MEMORY_INIT) {
        uint64_t dst = I32(2), src = I32(3), n = I32(4);
        if (src + n > inst->data_len[pc[1]] || dst + n > memsize)
            TRAP(VM_ERR_TRAP_MEM_OOB);
        if (n)
            memcpy(membase + dst, inst->module->datas[pc[1]].bytes + src, n);
        NEXT(5);
    }
    /* data.drop: segment x now has length 0. */
    HANDLE_OP(DATA_DROP) {
        inst->data_len[pc[1]] = 0;
        NEXT(2);
    }
    /* memory.copy: n bytes from src to dst; the ranges may overlap. */
    HANDLE_OP(MEMORY_COPY) {
        uint64_t dst = I32(1), src = I32(2), n = I32(3);
        if (src + n > memsize || dst + n > memsize)
            TRAP(VM_ERR_TRAP_MEM_OOB);
        if (n)
            memmove(membase + dst, membase + src, n);
        NEXT(4);
    }
    /* memory.fill: n bytes at dst set to the low byte of the value. */
    HANDLE_OP(MEMORY_FILL) {
        uint64_t dst = I32(1), n = I32(3);
        if (dst + n > memsize)
            TRAP(VM_ERR_TRAP_MEM_OOB);
        if (n)
            memset(membase + dst, (uint8_t)I32(2), n);
        NEXT(4);
    }

    /* ---- Tables and references --------------------------------------- */

    /* table.get: element i of table T. */
    HANDLE_OP(TABLE_GET) {
        const vm_table *t = inst->tables[pc[2]];
        uint32_t i = I32(3);
        if (i >= t->size)
            TRAP(VM_ERR_TRAP_TABLE_OOB);
        SLOT(1) = (uintptr_t)t->elems[i];
        NEXT(4);
    }
    /* table.set: element i of table T = the reference in s2. */
    HANDLE_OP(TABLE_SET) {
        vm_table *t = inst->tables[pc[1]];
        uint32_t i = I32(2);
        if (i >= t->size)
            TRAP(VM_ERR_TRAP_TABLE_OOB);
        t->elems[i] = (void *)(uintptr_t)SLOT(3);
        NEXT(4);
    }
    /* table.init: copy n references of elem segment x to table T. */
    HANDLE_OP(TABLE_INIT) {
        vm_table *t = inst->tables[pc[2]];
        uint32_t x = pc[1];
        uint64_t dst = I32(3), src = I32(4), n = I32(5);
        if (src + n > inst->elem_len[x] || dst + n > t->size)
            TRAP(VM_ERR_TRAP_TABLE_OOB);
        if (n)
            memcpy(t->elems + dst, inst->elem_refs[x] + src,
                   n * sizeof *t->elems);
        NEXT(6);
    }
    /* elem.drop: segment x now has length 0. */
    HANDLE_OP(ELEM_DROP) {
        inst->elem_len[pc[1]] = 0;
        NEXT(2);
    }
    /* table.copy: n references from table T2 to table T1; may overlap. */
    HANDLE_OP(TABLE_COPY) {
        vm_table *td = inst->tables[pc[1]];
        const vm_table *ts = inst->tables[pc[2]];
        uint64_t dst = I32(3), src = I32(4), n = I32(5);
        if (src + n > ts->size || dst + n > td->size)
            TRAP(VM_ERR_TRAP_TABLE_OOB);
        if (n)
            memmove(td->elems + dst, ts->elems + src, n * sizeof *td->elems);
        NEXT(6);
    }
    /* table.grow: old size, or -1 when the table cannot grow. */
    HANDLE_OP(TABLE_GROW) {
        int64_t old = vm__table_grow(inst->tables[pc[2]], I32(4),
                                     (void *)(uintptr_t)SLOT(3));
        SET_I32(1, (uint32_t)(int32_t)old);
        NEXT(5);
    }
    /* table.size */
    HANDLE_OP(TABLE_SIZE) {
        SET_I32(1, inst->tables[pc[2]]->size);
        NEXT(3);
    }
    /* table.fill: n elements from i set to the reference in s2. */
    HANDLE_OP(TABLE_FILL) {
        vm_table *t = inst->tables[pc[1]];
        uint64_t i = I32(2), n = I32(4), k;
        void *ref = (void *)(uintptr_t)SLOT(3);
        if (i + n > t->size)
            TRAP(VM_ERR_TRAP_TABLE_OOB);
        for (k = 0; k < n; k++)
            t->elems[i + k] = ref;
        NEXT(5);
    }
    /* ref.null */
    HANDLE_OP(REF_NULL) {
        SLOT(1) = 0;
        NEXT(2);
    }
    /* ref.is_null */
    HANDLE_OP(REF_IS_NULL) {
        SET_I32(1, SLOT(2) == 0);
        NEXT(3);
    }
    /* ref.func: the function instance f of this instance. */
    HANDLE_OP(REF_FUNC) {
        SLOT(1) = (uintptr_t)inst->funcs[pc[2]];
        NEXT(3);
    }

    /* ---- Loads: trap unless [ea, ea + size) lies inside memory 0 ------ */

    /* i32.load */
    HANDLE_OP(I32_LOAD) {
        uint64_t ea = EA(2);
        if (ea + 4 > memsize)
            TRAP(VM_ERR_TRAP_MEM_OOB);
        SET_I32(1, load_u32(membase + ea));
        NEXT(4);
    }
    /* i64.load */
    HANDLE_OP(I64_LOAD) {
        uint64_t ea = EA(2);
        if (ea + 8 > memsize)
            TRAP(VM_ERR_TRAP_MEM_OOB);
        SET_I64(1, load_u64(membase + ea));
        NEXT(4);
    }
    /* f32.load (bits, NaN payloads kept) */
    HANDLE_OP(F32_LOAD) {
        uint64_t ea = EA(2);
        if (ea + 4 > memsize)
            TRAP(VM_ERR_TRAP_MEM_OOB);
        SET_I32(1, load_u32(membase + ea));
        NEXT(4);
    }
    /* f64.load (bits, NaN payloads kept) */
    HANDLE_OP(F64_LOAD) {
        uint64_t ea = EA(2);
        if (ea + 8 > memsize)
            TRAP(VM_ERR_TRAP_MEM_OOB);
        SET_I64(1, load_u64(membase + ea));
        NEXT(4);
    }
    /* i32.load8_s */
    HANDLE_OP(I32_LOAD8_S) {
        uint64_t ea = EA(2);
        if (ea + 1 > memsize)
            TRAP(VM_ERR_TRAP_MEM_OOB);
        SET_I32(1, (int32_t)(int8_t)membase[ea]);
        NEXT(4);
    }
    /* i32.load8_u */
    HANDLE_OP(I32_LOAD8_U) {
        uint64_t ea = EA(2);
        if (ea + 1 > memsize)
            TRAP(VM_ERR_TRAP_MEM_OOB);
        SET_I32(1, membase[ea]);
        NEXT(4);
    }
    /* i32.load16_s */
    HANDLE_OP(I32_LOAD16_S) {
        uint64_t ea = EA(2);
        if (ea + 2 > memsize)
            TRAP(VM_ERR_TRAP_MEM_OOB);
        SET_I32(1, (int32_t)(int16_t)load_u16(membase + ea));
        NEXT(4);
    }
    /* i32.load16_u */
    HANDLE_OP(I32_LOAD16_U) {
        uint64_t ea = EA(2);
        if (ea + 2 > memsize)
            TRAP(VM_ERR_TRAP_MEM_OOB);
        SET_I32(1, load_u16(membase + ea));
        NEXT(4);
    }
    /* i64.load8_s */
    HANDLE_OP(I64_LOAD8_S) {
        uint64_t ea = EA(2);
        if (ea + 1 > memsize)
            TRAP(VM_ERR_TRAP_MEM_OOB);
        SET_I64(1, (int64_t)(int8_t)membase[ea]);
        NEXT(4);
    }
    /* i64.load8_u */
    HANDLE_OP(I64_LOAD8_U) {
        uint64_t ea = EA(2);
        if (ea + 1 > memsize)
            TRAP(VM_ERR_TRAP_MEM_OOB);
        SET_I64(1, membase[ea]);
        NEXT(4);
    }
    /* i64.load16_s */
    HANDLE_OP(I64_LOAD16_S) {
        uint64_t ea = EA(2);
        if (ea + 2 > memsize)
            TRAP(VM_ERR_TRAP_MEM_OOB);
        SET_I64(1, (int64_t)(int16_t)load_u16(membase + ea));
        NEXT(4);
    }
    /* i64.load16_u */
    HANDLE_OP(I64_LOAD16_U) {
        uint64_t ea = EA(2);
        if (ea + 2 > memsize)
            TRAP(VM_ERR_TRAP_MEM_OOB);
        SET_I64(1, load_u16(membase + ea));
        NEXT(4);
    }
    /* i64.load32_s */
    HANDLE_OP(I64_LOAD32_S) {
        uint64_t ea = EA(2);
        if (ea + 4 > memsize)
            TRAP(VM_ERR_TRAP_MEM_OOB);
        SET_I64(1, (int64_t)(int32_t)load_u32(membase + ea));
        NEXT(4);
    }
    /* i64.load32_u */
    HANDLE_OP(I64_LOAD32_U) {
        uint64_t ea = EA(2);
        if (ea + 4 > memsize)
            TRAP(VM_ERR_TRAP_MEM_OOB);
        SET_I64(1, load_u32(membase + ea));
        NEXT(4);
    }

    /* ---- Stores: address in s1, value in s2 --------------------------- */

    /* i32.store */
    HANDLE_OP(I32_STORE) {
        uint64_t ea = EA(1);
        if (ea + 4 > memsize)
            TRAP(VM_ERR_TRAP_MEM_OOB);
        store_u32(membase + ea, I32(2));
        NEXT(4);
    }
    /* i64.store */
    HANDLE_OP(I64_STORE) {
        uint64_t ea = EA(1);
        if (ea + 8 > memsize)
            TRAP(VM_ERR_TRAP_MEM_OOB);
        store_u64(membase + ea, I64(2));
        NEXT(4);
    }
    /* f32.store (bits) */
    HANDLE_OP(F32_STORE) {
        uint64_t ea = EA(1);
        if (ea + 4 > memsize)
            TRAP(VM_ERR_TRAP_MEM_OOB);
        store_u32(membase + ea, I32(2));
        NEXT(4);
    }
    /* f64.store (bits) */
    HANDLE_OP(F64_STORE) {
        uint64_t ea = EA(1);
        if (ea + 8 > memsize)
            TRAP(VM_ERR_TRAP_MEM_OOB);
        store_u64(membase + ea, I64(2));
        NEXT(4);
    }
    /* i32.store8: the low byte. */
    HANDLE_OP(I32_STORE8) {
        uint64_t ea = EA(1);
        if (ea + 1 > memsize)
            TRAP(VM_ERR_TRAP_MEM_OOB);
        membase[ea] = (uint8_t)I32(2);
        NEXT(4);
    }
    /* i32.store16: the low two bytes. */
    HANDLE_OP(I32_STORE16) {
        uint64_t ea = EA(1);
        if (ea + 2 > memsize)
            TRAP(VM_ERR_TRAP_MEM_OOB);
        store_u16(membase + ea, (uint16_t)I32(2));
        NEXT(4);
    }
    /* i64.store8: the low byte. */
    HANDLE_OP(I64_STORE8) {
        uint64_t ea = EA(1);
        if (ea + 1 > memsize)
            TRAP(VM_ERR_TRAP_MEM_OOB);
        membase[ea] = (uint8_t)I64(2);
        NEXT(4);
    }
    /* i64.store16: the low two bytes. */
    HANDLE_OP(I64_STORE16) {
        uint64_t ea = EA(1);
        if (ea + 2 > memsize)
            TRAP(VM_ERR_TRAP_MEM_OOB);
        store_u16(membase + ea, (uint16_t)I64(2));
        NEXT(4);
    }
    /* i64.store32: the low four bytes. */
    HANDLE_OP(I64_STORE32) {
        uint64_t ea = EA(1);
        if (ea + 4 > memsize)
            TRAP(VM_ERR_TRAP_MEM_OOB);
        store_u32(membase + ea, (uint32_t)I64(2));
        NEXT(4);
    }

    /* ---- i32 comparisons ---------------------------------------------- */

    /* i32.eqz */
    HANDLE_OP(I32_EQZ) { SET_I32(1, I32(2) == 0); NEXT(3); }
    /* i32.eq */
    HANDLE_OP(I32_EQ) { SET_I32(1, I32(2) == I32(3)); NEXT(4); }
    /* i32.ne */
    HANDLE_OP(I32_NE) { SET_I32(1, I32(2) != I32(3)); NEXT(4); }
    /* i32.lt_s */
    HANDLE_OP(I32_LT_S) { SET_I32(1, S32(2) < S32(3)); NEXT(4); }
    /* i32.lt_u */
    HANDLE_OP(I32_LT_U) { SET_I32(1, I32(2) < I32(3)); NEXT(4); }
    /* i32.gt_s */
    HANDLE_OP(I32_GT_S) { SET_I32(1, S32(2) > S32(3)); NEXT(4); }
    /* i32.gt_u */
    HANDLE_OP(I32_GT_U) { SET_I32(1, I32(2) > I32(3)); NEXT(4); }
    /* i32.le_s */
    HANDLE_OP(I32_LE_S) { SET_I32(1, S32(2) <= S32(3)); NEXT(4); }
    /* i32.le_u */
    HANDLE_OP(I32_LE_U) { SET_I32(1, I32(2) <= I32(3)); NEXT(4); }
    /* i32.ge_s */
    HANDLE_OP(I32_GE_S) { SET_I32(1, S32(2) >= S32(3)); NEXT(4); }
    /* i32.ge_u */
    HANDLE_OP(I32_GE_U) { SET_I32(1, I32(2) >= I32(3)); NEXT(4); }

    /* ---- i64 comparisons ---------------------------------------------- */

    /* i64.eqz */
    HANDLE_OP(I64_EQZ) { SET_I32(1, I64(2) == 0); NEXT(3); }
    /* i64.eq */
    HANDLE_OP(I64_EQ) { SET_I32(1, I64(2) == I64(3)); NEXT(4); }
    /* i64.ne */
    HANDLE_OP(I64_NE) { SET_I32(1, I64(2) != I64(3)); NEXT(4); }
    /* i64.lt_s */
    HANDLE_OP(I64_LT_S) { SET_I32(1, S64(2) < S64(3)); NEXT(4); }
    /* i64.lt_u */
    HANDLE_OP(I64_LT_U) { SET_I32(1, I64(2) < I64(3)); NEXT(4); }
    /* i64.gt_s */
    HANDLE_OP(I64_GT_S) { SET_I32(1, S64(2) > S64(3)); NEXT(4); }
    /* i64.gt_u */
    HANDLE_OP(I64_GT_U) { SET_I32(1, I64(2) > I64(3)); NEXT(4); }
    /* i64.le_s */
    HANDLE_OP(I64_LE_S) { SET_I32(1, S64(2) <= S64(3)); NEXT(4); }
    /* i64.le_u */
    HANDLE_OP(I64_LE_U) { SET_I32(1, I64(2) <= I64(3)); NEXT(4); }
    /* i64.ge_s */
    HANDLE_OP(I64_GE_S) { SET_I32(1, S64(2) >= S64(3)); NEXT(4); }
    /* i64.ge_u */
    HANDLE_OP(I64_GE_U) { SET_I32(1, I64(2) >= I64(3)); NEXT(4); }

    /* ---- Float comparisons: IEEE, so any NaN operand gives 0 (ne: 1) -- */

    /* f32.eq */
    HANDLE_OP(F32_EQ) { SET_I32(1, F32(2) == F32(3)); NEXT(4); }
    /* f32.ne */
    HANDLE_OP(F32_NE) { SET_I32(1, F32(2) != F32(3)); NEXT(4); }
    /* f32.lt */
    HANDLE_OP(F32_LT) { SET_I32(1, F32(2) < F32(3)); NEXT(4); }
    /* f32.gt */
    HANDLE_OP(F32_GT) { SET_I32(1, F32(2) > F32(3)); NEXT(4); }
    /* f32.le */
    HANDLE_OP(F32_LE) { SET_I32(1, F32(2) <= F32(3)); NEXT(4); }
    /* f32.ge */
    HANDLE_OP(F32_GE) { SET_I32(1, F32(2) >= F32(3)); NEXT(4); }
    /* f64.eq */
    HANDLE_OP(F64_EQ) { SET_I32(1, F64(2) == F64(3)); NEXT(4); }
    /* f64.ne */
    HANDLE_OP(F64_NE) { SET_I32(1, F64(2) != F64(3)); NEXT(4); }
    /* f64.lt */
    HANDLE_OP(F64_LT) { SET_I32(1, F64(2) < F64(3)); NEXT(4); }
    /* f64.gt */
    HANDLE_OP(F64_GT) { SET_I32(1, F64(2) > F64(3)); NEXT(4); }
    /* f64.le */
    HANDLE_OP(F64_LE) { SET_I32(1, F64(2) <= F64(3)); NEXT(4); }
    /* f64.ge */
    HANDLE_OP(F64_GE) { SET_I32(1, F64(2) >= F64(3)); NEXT(4); }

    /* ---- i32 arithmetic (unsigned C arithmetic: wraps, no UB) --------- */

    /* i32.clz: leading zero bits; 32 for 0. */
    HANDLE_OP(I32_CLZ) {
        uint32_t x = I32(2);
        SET_I32(1, x ? (uint32_t)__builtin_clz(x) : 32u);
        NEXT(3);
    }
    /* i32.ctz: trailing zero bits; 32 for 0. */
    HANDLE_OP(I32_CTZ) {
        uint32_t x = I32(2);
        SET_I32(1, x ? (uint32_t)__builtin_ctz(x) : 32u);
        NEXT(3);
    }
    /* i32.popcnt */
    HANDLE_OP(I32_POPCNT) { SET_I32(1, __builtin_popcount(I32(2))); NEXT(3); }
    /* i32.add */
    HANDLE_OP(I32_ADD) { SET_I32(1, I32(2) + I32(3)); NEXT(4); }
    /* i32.sub */
    HANDLE_OP(I32_SUB) { SET_I32(1, I32(2) - I32(3)); NEXT(4); }
    /* i32.mul */
    HANDLE_OP(I32_MUL) { SET_I32(1, I32(2) * I32(3)); NEXT(4); }
    /* i32.div_s: traps on /0 and on INT32_MIN / -1 (overflow). */
    HANDLE_OP(I32_DIV_S) {
        int32_t a = S32(2), b = S32(3);
        if (b == 0)
            TRAP(VM_ERR_TRAP_DIV_ZERO);
        if (a == INT32_MIN && b == -1)
            TRAP(VM_ERR_TRAP_INT_OVERFLOW);
        SET_I32(1, a / b);
        NEXT(4);
    }
    /* i32.div_u: traps on /0. */
    HANDLE_OP(I32_DIV_U) {
        uint32_t b = I32(3);
        if (b == 0)
            TRAP(VM_ERR_TRAP_DIV_ZERO);
        SET_I32(1, I32(2) / b);
        NEXT(4);
    }
    /* i32.rem_s: traps on /0; INT32_MIN rem -1 is 0 (C leaves it UB). */
    HANDLE_OP(I32_REM_S) {
        int32_t a = S32(2), b = S32(3);
        if (b == 0)
            TRAP(VM_ERR_TRAP_DIV_ZERO);
        SET_I32(1, b == -1 ? 0 : a % b);
        NEXT(4);
    }
    /* i32.rem_u: traps on /0. */
    HANDLE_OP(I32_REM_U) {
        uint32_t b = I32(3);
        if (b == 0)
            TRAP(VM_ERR_TRAP_DIV_ZERO);
        SET_I32(1, I32(2) % b);
        NEXT(4);
    }
    /* i32.and */
    HANDLE_OP(I32_AND) { SET_I32(1, I32(2) & I32(3)); NEXT(4); }
    /* i32.or */
    HANDLE_OP(I32_OR) { SET_I32(1, I32(2) | I32(3)); NEXT(4); }
    /* i32.xor */
    HANDLE_OP(I32_XOR) { SET_I32(1, I32(2) ^ I32(3)); NEXT(4); }
    /* i32.shl: shift count mod 32. */
    HANDLE_OP(I32_SHL) { SET_I32(1, I32(2) << (I32(3) & 31)); NEXT(4); }
    /* i32.shr_s: arithmetic shift, count mod 32 (GCC: >> on signed is arithmetic). */
    HANDLE_OP(I32_SHR_S) { SET_I32(1, S32(2) >> (I32(3) & 31)); NEXT(4); }
    /* i32.shr_u: logical shift, count mod 32. */
    HANDLE_OP(I32_SHR_U) { SET_I32(1, I32(2) >> (I32(3) & 31)); NEXT(4); }
    /* i32.rotl */
    HANDLE_OP(I32_ROTL) { SET_I32(1, rotl32(I32(2), I32(3))); NEXT(4); }
    /* i32.rotr */
    HANDLE_OP(I32_ROTR) { SET_I32(1, rotr32(I32(2), I32(3))); NEXT(4); }

    /* ---- i64 arithmetic ----------------------------------------------- */

    /* i64.clz: 64 for 0. */
    HANDLE_OP(I64_CLZ) {
        uint64_t x = I64(2);
        SET_I64(1, x ? (uint64_t)__builtin_clzll(x) : 64u);
        NEXT(3);
    }
    /* i64.ctz: 64 for 0. */
    HANDLE_OP(I64_CTZ) {
        uint64_t x = I64(2);
        SET_I64(1, x ? (uint64_t)__builtin_ctzll(x) : 64u);
        NEXT(3);
    }
    /* i64.popcnt */
    HANDLE_OP(I64_POPCNT) { SET_I64(1, __builtin_popcountll(I64(2))); NEXT(3); }
    /* i64.add */
    HANDLE_OP(I64_ADD) { SET_I64(1, I64(2) + I64(3)); NEXT(4); }
    /* i64.sub */
    HANDLE_OP(I64_SUB) { SET_I64(1, I64(2) - I64(3)); NEXT(4); }
    /* i64.mul */
    HANDLE_OP(I64_MUL) { SET_I64(1, I64(2) * I64(3)); NEXT(4); }
    /* i64.div_s: traps on /0 and on INT64_MIN / -1. */
    HANDLE_OP(I64_DIV_S) {
        int64_t a = S64(2), b = S64(3);
        if (b == 0)
            TRAP(VM_ERR_TRAP_DIV_ZERO);
        if (a == INT64_MIN && b == -1)
            TRAP(VM_ERR_TRAP_INT_OVERFLOW);
        SET_I64(1, a / b);
        NEXT(4);
    }
    /* i64.div_u: traps on /0. */
    HANDLE_OP(I64_DIV_U) {
        uint64_t b = I64(3);
        if (b == 0)
            TRAP(VM_ERR_TRAP_DIV_ZERO);
        SET_I64(1, I64(2) / b);
        NEXT(4);
    }
    /* i64.rem_s: traps on /0; INT64_MIN rem -1 is 0. */
    HANDLE_OP(I64_REM_S) {
        int64_t a = S64(2), b = S64(3);
        if (b == 0)
            TRAP(VM_ERR_TRAP_DIV_ZERO);
        SET_I64(1, b == -1 ? 0 : a % b);
        NEXT(4);
    }
    /* i64.rem_u: traps on /0. */
    HANDLE_OP(I64_REM_U) {
        uint64_t b = I64(3);
        if (b == 0)
            TRAP(VM_ERR_TRAP_DIV_ZERO);
        SET_I64(1, I64(2) % b);
        NEXT(4);
    }
    /* i64.and */
    HANDLE_OP(I64_AND) { SET_I64(1, I64(2) & I64(3)); NEXT(4); }
    /* i64.or */
    HANDLE_OP(I64_OR) { SET_I64(1, I64(2) | I64(3)); NEXT(4); }
    /* i64.xor */
    HANDLE_OP(I64_XOR) { SET_I64(1, I64(2) ^ I64(3)); NEXT(4); }
    /* i64.shl: count mod 64. */
    HANDLE_OP(I64_SHL) { SET_I64(1, I64(2) << (I64(3) & 63)); NEXT(4); }
    /* i64.shr_s: arithmetic, count mod 64. */
    HANDLE_OP(I64_SHR_S) { SET_I64(1, S64(2) >> (I64(3) & 63)); NEXT(4); }
    /* i64.shr_u: logical, count mod 64. */
    HANDLE_OP(I64_SHR_U) { SET_I64(1, I64(2) >> (I64(3) & 63)); NEXT(4); }
    /* i64.rotl */
    HANDLE_OP(I64_ROTL) { SET_I64(1, rotl64(I64(2), I64(3))); NEXT(4); }
    /* i64.rotr */
    HANDLE_OP(I64_ROTR) { SET_I64(1, rotr64(I64(2), I64(3))); NEXT(4); }

    /* ---- f32 arithmetic: abs/neg/copysign are bit operations ---------- */

    /* f32.abs: clear the sign bit (NaN payload kept). */
    HANDLE_OP(F32_ABS) { SET_I32(1, I32(2) & 0x7fffffffu); NEXT(3); }
    /* f32.neg: flip the sign bit. */
    HANDLE_OP(F32_NEG) { SET_I32(1, I32(2) ^ 0x80000000u); NEXT(3); }
    /* f32.ceil */
    HANDLE_OP(F32_CEIL) { SET_F32(1, round_f32(F32(2), ROUND_CEIL)); NEXT(3); }
    /* f32.floor */
    HANDLE_OP(F32_FLOOR) { SET_F32(1, round_f32(F32(2), ROUND_FLOOR)); NEXT(3); }
    /* f32.trunc */
    HANDLE_OP(F32_TRUNC) { SET_F32(1, round_f32(F32(2), ROUND_TRUNC)); NEXT(3); }
    /* f32.nearest: round half to even (rint in the default rounding mode). */
    HANDLE_OP(F32_NEAREST) { SET_F32(1, round_f32(F32(2), ROUND_NEAREST)); NEXT(3); }
    /* f32.sqrt */
    HANDLE_OP(F32_SQRT) { SET_F32(1, sqrtf(F32(2))); NEXT(3); }
    /* f32.add */
    HANDLE_OP(F32_ADD) { SET_F32(1, F32(2) + F32(3)); NEXT(4); }
    /* f32.sub */
    HANDLE_OP(F32_SUB) { SET_F32(1, F32(2) - F32(3)); NEXT(4); }
    /* f32.mul */
    HANDLE_OP(F32_MUL) { SET_F32(1, F32(2) * F32(3)); NEXT(4); }
    /* f32.div */
    HANDLE_OP(F32_DIV) { SET_F32(1, F32(2) / F32(3)); NEXT(4); }
    /* f32.min: NaN propagates; -0 < +0. */
    HANDLE_OP(F32_MIN) { SET_I32(1, f32_min(I32(2), I32(3))); NEXT(4); }
    /* f32.max: NaN propagates; +0 > -0. */
    HANDLE_OP(F32_MAX) { SET_I32(1, f32_max(I32(2), I32(3))); NEXT(4); }
    /* f32.copysign: magnitude of s1, sign of s2. */
    HANDLE_OP(F32_COPYSIGN) {
        SET_I32(1, (I32(2) & 0x7fffffffu) | (I32(3) & 0x80000000u));
        NEXT(4);
    }

    /* ---- f64 arithmetic ----------------------------------------------- */

    /* f64.abs */
    HANDLE_OP(F64_ABS) { SET_I64(1, I64(2) & 0x7fffffffffffffffu); NEXT(3); }
    /* f64.neg */
    HANDLE_OP(F64_NEG) { SET_I64(1, I64(2) ^ 0x8000000000000000u); NEXT(3); }
    /* f64.ceil */
    HANDLE_OP(F64_CEIL) { SET_F64(1, round_f64(F64(2), ROUND_CEIL)); NEXT(3); }
    /* f64.floor */
    HANDLE_OP(F64_FLOOR) { SET_F64(1, round_f64(F64(2), ROUND_FLOOR)); NEXT(3); }
    /* f64.trunc */
    HANDLE_OP(F64_TRUNC) { SET_F64(1, round_f64(F64(2), ROUND_TRUNC)); NEXT(3); }
    /* f64.nearest: round half to even. */
    HANDLE_OP(F64_NEAREST) { SET_F64(1, round_f64(F64(2), ROUND_NEAREST)); NEXT(3); }
    /* f64.sqrt */
    HANDLE_OP(F64_SQRT) { SET_F64(1, sqrt(F64(2))); NEXT(3); }
    /* f64.add */
    HANDLE_OP(F64_ADD) { SET_F64(1, F64(2) + F64(3)); NEXT(4); }
    /* f64.sub */
    HANDLE_OP(F64_SUB) { SET_F64(1, F64(2) - F64(3)); NEXT(4); }
    /* f64.mul */
    HANDLE_OP(F64_MUL) { SET_F64(1, F64(2) * F64(3)); NEXT(4); }
    /* f64.div */
    HANDLE_OP(F64_DIV) { SET_F64(1, F64(2) / F64(3)); NEXT(4); }
    /* f64.min: NaN propagates; -0 < +0. */
    HANDLE_OP(F64_MIN) { SET_I64(1, f64_min(I64(2), I64(3))); NEXT(4); }
    /* f64.max: NaN propagates; +0 > -0. */
    HANDLE_OP(F64_MAX) { SET_I64(1, f64_max(I64(2), I64(3))); NEXT(4); }
    /* f64.copysign */
    HANDLE_OP(F64_COPYSIGN) {
        SET_I64(1, (I64(2) & 0x7fffffffffffffffu) |
                       (I64(3) & 0x8000000000000000u));
        NEXT(4);
    }

    /* ---- Conversions -------------------------------------------------- */

    /* i32.wrap_i64: the low 32 bits. */
    HANDLE_OP(I32_WRAP_I64) { SET_I32(1, (uint32_t)I64(2)); NEXT(3); }
    /* i32.trunc_f32_s: NaN or trunc(x) outside [-2^31, 2^31) traps. */
    HANDLE_OP(I32_TRUNC_F32_S) {
        float x = F32(2);
        if (!(x >= -0x1p31f && x < 0x1p31f))
            TRAP(trunc_error(x));
        SET_I32(1, (int32_t)x);
        NEXT(3);
    }
    /* i32.trunc_f32_u: NaN or trunc(x) outside [0, 2^32) traps. */
    HANDLE_OP(I32_TRUNC_F32_U) {
        float x = F32(2);
        if (!(x > -1.0f && x < 0x1p32f))
            TRAP(trunc_error(x));
        SET_I32(1, (uint32_t)x);
        NEXT(3);
    }
    /* i32.trunc_f64_s: NaN or x outside (-2^31 - 1, 2^31) traps. */
    HANDLE_OP(I32_TRUNC_F64_S) {
        double x = F64(2);
        if (!(x > -2147483649.0 && x < 2147483648.0))
            TRAP(trunc_error(x));
        SET_I32(1, (int32_t)x);
        NEXT(3);
    }
    /* i32.trunc_f64_u: NaN or x outside (-1, 2^32) traps. */
    HANDLE_OP(I32_TRUNC_F64_U) {
        double x = F64(2);
        if (!(x > -1.0 && x < 4294967296.0))
            TRAP(trunc_error(x));
        SET_I32(1, (uint32_t)x);
        NEXT(3);
    }
    /* i64.extend_i32_s */
    HANDLE_OP(I64_EXTEND_I32_S) { SET_I64(1, (int64_t)S32(2)); NEXT(3); }
    /* i64.extend_i32_u */
    HANDLE_OP(I64_EXTEND_I32_U) { SET_I64(1, I32(2)); NEXT(3); }
    /* i64.trunc_f32_s: NaN or x outside [-2^63, 2^63) traps. */
    HANDLE_OP(I64_TRUNC_F32_S) {
        float x = F32(2);
        if (!(x >= -0x1p63f && x < 0x1p63f))
            TRAP(trunc_error(x));
        SET_I64(1, (int64_t)x);
        NEXT(3);
    }
    /* i64.trunc_f32_u: NaN or x outside (-1, 2^64) traps. */
    HANDLE_OP(I64_TRUNC_F32_U) {
        float x = F32(2);
        if (!(x > -1.0f && x < 0x1p64f))
            TRAP(trunc_error(x));
        SET_I64(1, (uint64_t)x);
        NEXT(3);
    }
    /* i64.trunc_f64_s: NaN or x outside [-2^63, 2^63) traps. */
    HANDLE_OP(I64_TRUNC_F64_S) {
        double x = F64(2);
        if (!(x >= -0x1p63 && x < 0x1p63))
            TRAP(trunc_error(x));
        SET_I64(1, (int64_t)x);
        NEXT(3);
    }
    /* i64.trunc_f64_u: NaN or x outside (-1, 2^64) traps. */
    HANDLE_OP(I64_TRUNC_F64_U) {
        double x = F64(2);
        if (!(x > -1.0 && x < 0x1p64))
            TRAP(trunc_error(x));
        SET_I64(1, (uint64_t)x);
        NEXT(3);
    }
    /* f32.convert_i32_s: round to nearest even. */
    HANDLE_OP(F32_CONVERT_I32_S) { SET_F32(1, (float)S32(2)); NEXT(3); }
    /* f32.convert_i32_u */
    HANDLE_OP(F32_CONVERT_I32_U) { SET_F32(1, (float)I32(2)); NEXT(3); }
    /* f32.convert_i64_s */
    HANDLE_OP(F32_CONVERT_I64_S) { SET_F32(1, (float)S64(2)); NEXT(3); }
    /* f32.convert_i64_u: one correctly rounded conversion (GCC keeps the
     * sticky bit when the value exceeds INT64_MAX). */
    HANDLE_OP(F32_CONVERT_I64_U) { SET_F32(1, (float)I64(2)); NEXT(3); }
    /* f32.demote_f64: round to nearest even; NaN stays NaN. */
    HANDLE_OP(F32_DEMOTE_F64) { SET_F32(1, (float)F64(2)); NEXT(3); }
    /* f64.convert_i32_s: exact. */
    HANDLE_OP(F64_CONVERT_I32_S) { SET_F64(1, (double)S32(2)); NEXT(3); }
    /* f64.convert_i32_u: exact. */
    HANDLE_OP(F64_CONVERT_I32_U) { SET_F64(1, (double)I32(2)); NEXT(3); }
    /* f64.convert_i64_s */
    HANDLE_OP(F64_CONVERT_I64_S) { SET_F64(1, (double)S64(2)); NEXT(3); }
    /* f64.convert_i64_u */
    HANDLE_OP(F64_CONVERT_I64_U) { SET_F64(1, (double)I64(2)); NEXT(3); }
    /* f64.promote_f32: exact; NaN stays NaN. */
    HANDLE_OP(F64_PROMOTE_F32) { SET_F64(1, (double)F32(2)); NEXT(3); }
    /* i32.reinterpret_f32: bits unchanged. */
    HANDLE_OP(I32_REINTERPRET_F32) { SET_I32(1, I32(2)); NEXT(3); }
    /* i64.reinterpret_f64: bits unchanged. */
    HANDLE_OP(I64_REINTERPRET_F64) { SET_I64(1, I64(2)); NEXT(3); }
    /* f32.reinterpret_i32: bits unchanged. */
    HANDLE_OP(F32_REINTERPRET_I32) { SET_I32(1, I32(2)); NEXT(3); }
    /* f64.reinterpret_i64: bits unchanged. */
    HANDLE_OP(F64_REINTERPRET_I64) { SET_I64(1, I64(2)); NEXT(3); }
    /* i32.extend8_s */
    HANDLE_OP(I32_EXTEND8_S) { SET_I32(1, (int32_t)(int8_t)I32(2)); NEXT(3); }
    /* i32.extend16_s */
    HANDLE_OP(I32_EXTEND16_S) { SET_I32(1, (int32_t)(int16_t)I32(2)); NEXT(3); }
    /* i64.extend8_s */
    HANDLE_OP(I64_EXTEND8_S) { SET_I64(1, (int64_t)(int8_t)I64(2)); NEXT(3); }
    /* i64.extend16_s */
    HANDLE_OP(I64_EXTEND16_S) { SET_I64(1, (int64_t)(int16_t)I64(2)); NEXT(3); }
    /* i64.extend32_s */
    HANDLE_OP(I64_EXTEND32_S) { SET_I64(1, (int64_t)(int32_t)I64(2)); NEXT(3); }
    /* i32.trunc_sat_f32_s: NaN -> 0, clamps to [INT32_MIN, INT32_MAX]. */
    HANDLE_OP(I32_TRUNC_SAT_F32_S) { SET_I32(1, sat_i32_f32(F32(2))); NEXT(3); }
    /* i32.trunc_sat_f32_u: NaN -> 0, clamps to [0, UINT32_MAX]. */
    HANDLE_OP(I32_TRUNC_SAT_F32_U) { SET_I32(1, sat_u32_f32(F32(2))); NEXT(3); }
    /* i32.trunc_sat_f64_s */
    HANDLE_OP(I32_TRUNC_SAT_F64_S) { SET_I32(1, sat_i32_f64(F64(2))); NEXT(3); }
    /* i32.trunc_sat_f64_u */
    HANDLE_OP(I32_TRUNC_SAT_F64_U) { SET_I32(1, sat_u32_f64(F64(2))); NEXT(3); }
    /* i64.trunc_sat_f32_s */
    HANDLE_OP(I64_TRUNC_SAT_F32_S) { SET_I64(1, sat_i64_f32(F32(2))); NEXT(3); }
    /* i64.trunc_sat_f32_u */
    HANDLE_OP(I64_TRUNC_SAT_F32_U) { SET_I64(1, sat_u64_f32(F32(2))); NEXT(3); }
    /* i64.trunc_sat_f64_s */
    HANDLE_OP(I64_TRUNC_SAT_F64_S) { SET_I64(1, sat_i64_f64(F64(2))); NEXT(3); }
    /* i64.trunc_sat_f64_u */
    HANDLE_OP(I64_TRUNC_SAT_F64_U) { SET_I64(1, sat_u64_f64(F64(2))); NEXT(3); }

    /* ---- Superinstructions: compare two i32 slots and branch ---------- */

    /* br_if (i32.eq s1 s2) */
    HANDLE_OP(BR_IF_I32_EQ) { if (I32(1) == I32(2)) JUMP(pc[3]); NEXT(4); }
    /* br_unless (i32.eq s1 s2) */
    HANDLE_OP(BR_UNLESS_I32_EQ) { if (!(I32(1) == I32(2))) JUMP(pc[3]); NEXT(4); }
    /* br_if (i32.ne s1 s2) */
    HANDLE_OP(BR_IF_I32_NE) { if (I32(1) != I32(2)) JUMP(pc[3]); NEXT(4); }
    /* br_unless (i32.ne s1 s2) */
    HANDLE_OP(BR_UNLESS_I32_NE) { if (!(I32(1) != I32(2))) JUMP(pc[3]); NEXT(4); }
    /* br_if (i32.lt_s s1 s2) */
    HANDLE_OP(BR_IF_I32_LT_S) { if (S32(1) < S32(2)) JUMP(pc[3]); NEXT(4); }
    /* br_unless (i32.lt_s s1 s2) */
    HANDLE_OP(BR_UNLESS_I32_LT_S) { if (!(S32(1) < S32(2))) JUMP(pc[3]); NEXT(4); }
    /* br_if (i32.lt_u s1 s2) */
    HANDLE_OP(BR_IF_I32_LT_U) { if (I32(1) < I32(2)) JUMP(pc[3]); NEXT(4); }
    /* br_unless (i32.lt_u s1 s2) */
    HANDLE_OP(BR_UNLESS_I32_LT_U) { if (!(I32(1) < I32(2))) JUMP(pc[3]); NEXT(4); }
    /* br_if (i32.gt_s s1 s2) */
    HANDLE_OP(BR_IF_I32_GT_S) { if (S32(1) > S32(2)) JUMP(pc[3]); NEXT(4); }
    /* br_unless (i32.gt_s s1 s2) */
    HANDLE_OP(BR_UNLESS_I32_GT_S) { if (!(S32(1) > S32(2))) JUMP(pc[3]); NEXT(4); }
    /* br_if (i32.gt_u s1 s2) */
    HANDLE_OP(BR_IF_I32_GT_U) { if (I32(1) > I32(2)) JUMP(pc[3]); NEXT(4); }
    /* br_unless (i32.gt_u s1 s2) */
    HANDLE_OP(BR_UNLESS_I32_GT_U) { if (!(I32(1) > I32(2))) JUMP(pc[3]); NEXT(4); }
    /* br_if (i32.le_s s1 s2) */
    HANDLE_OP(BR_IF_I32_LE_S) { if (S32(1) <= S32(2)) JUMP(pc[3]); NEXT(4); }
    /* br_unless (i32.le_s s1 s2) */
    HANDLE_OP(BR_UNLESS_I32_LE_S) { if (!(S32(1) <= S32(2))) JUMP(pc[3]); NEXT(4); }
    /* br_if (i32.le_u s1 s2) */
    HANDLE_OP(BR_IF_I32_LE_U) { if (I32(1) <= I32(2)) JUMP(pc[3]); NEXT(4); }
    /* br_unless (i32.le_u s1 s2) */
    HANDLE_OP(BR_UNLESS_I32_LE_U) { if (!(I32(1) <= I32(2))) JUMP(pc[3]); NEXT(4); }
    /* br_if (i32.ge_s s1 s2) */
    HANDLE_OP(BR_IF_I32_GE_S) { if (S32(1) >= S32(2)) JUMP(pc[3]); NEXT(4); }
    /* br_unless (i32.ge_s s1 s2) */
    HANDLE_OP(BR_UNLESS_I32_GE_S) { if (!(S32(1) >= S32(2))) JUMP(pc[3]); NEXT(4); }
    /* br_if (i32.ge_u s1 s2) */
    HANDLE_OP(BR_IF_I32_GE_U) { if (I32(1) >= I32(2)) JUMP(pc[3]); NEXT(4); }
    /* br_unless (i32.ge_u s1 s2) */
    HANDLE_OP(BR_UNLESS_I32_GE_U) { if (!(I32(1) >= I32(2))) JUMP(pc[3]); NEXT(4); }
    /* br_if (i32.eqz s): jump when the slot is zero. */
    HANDLE_OP(BR_IF_I32_EQZ) { if (!I32(1)) JUMP(pc[2]); NEXT(3); }

    /* ---- Tracing ------------------------------------------------------ */

    /* The wasm instruction pc[1] at module offset pc[2] runs next (the
     * next one in the binary is at pc[3]); only instrumented code
     * (VM_CODE_INSTRUMENTED) has these, and only run_traced runs it. */
    HANDLE_OP(TRACE_OP) {
#if VM_TRACED
        if (op_sink) {
            /* Most ops continue the run: a compare and an add. */
            if (pc[2] == op_sink->op_next)
                op_sink->op_count++;
            else
                sink_op_break(op_sink, pc[2]);
            op_sink->op_next = pc[3];
        } else {
            tr->op(tr->user, pc[1], pc[2]);
        }
#endif
        NEXT(4);
    }

    /* Control reached the step point at module offset pc[1] (index pc[2]
     * among the module's points) in the frame at depth fr - s->frames
     * (as trace_call counts it); only
     * stepped code (VM_CODE_STEPPED) has these, and only run_traced runs
     * it, with a step hook set or a sink that takes steps (vm.h,
     * "Trace sinks"). */
    HANDLE_OP(TRACE_STEP) {
#if VM_TRACED
        if (step_sink)
            sink_step(step_sink, pc[2], (uint32_t)(fr - s->frames));
        else
            tr->step(tr->user, pc[1], pc[2], (uint32_t)(fr - s->frames));
#endif
        NEXT(3);
    }

    /* A frame starts running stepped code (word 0 of every stepped body;
     * nothing branches to it): with a sink that takes steps, the frame at
     * depth fr - s->frames has no line yet (sink_step). */
    HANDLE_OP(TRACE_FRAME) {
#if VM_TRACED
        if (step_sink)
            sink_frame_start(step_sink, (uint32_t)(fr - s->frames));
#endif
        NEXT(1);
    }

    /* ---- SIMD (0xFD): the v128 handlers, in their own file ------------- */
#include "interp_simd.h"

#if !VM_COMPUTED_GOTO
    case VM_IOP_COUNT:
        break;
    }
    /* An opcode word that is not a VM_IOP_*: the compiler's bug. */
    TRAP(VM_ERR_TRAP_UNREACHABLE);
#endif

done:
    s->fuel = fuel;
    s->depth = entry_depth;
    s->stack_top = saved_top;
    return 0;

trap_elem: {
        /* call_indirect's element traps name the element, as the spec's
         * reference interpreter does ("uninitialized element 2"). */
        char what[64];
        snprintf(what, sizeof what, "%s %u", vm_strerror(rc), I32(3));
        trap_message(s, what, inst, code, pc);
        goto fail;
    }
trap_call:
    /* A call that could not get its frame: pc is already past the call
     * instruction; step back into it so that it is the one reported. */
    if (pc)
        pc--;
trap:
    /* A trap raised here: the spec's message and where. */
    trap_message(s, vm_strerror(rc), inst, code, pc);
fail:
    /* Raised here or passed up from a host function or a nested call. */
#if VM_TRACED
    trace_fail(s, rc, fr_entry, fr, inst, code, top_returned);
#endif
    s->fuel = fuel;
    s->depth = entry_depth;
    s->stack_top = saved_top;
    return rc;
}

