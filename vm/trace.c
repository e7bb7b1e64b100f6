/*
 * The counting tracer (vm.h, "Tracing"): the simplest consumer of the
 * hooks, and what `traced run --trace` prints. The hooks themselves are
 * interp.c's; this file only counts what they report.
 */
#include <stdio.h>
#include <string.h>

#include "traced/vm.h"

static void count_op(void *user, uint32_t opcode, uint32_t offset)
{
    vm_trace_counts *c = user;

    (void)opcode;
    (void)offset;
    c->ops++;
}

static void count_call(void *user, const vm_trace_frame *f)
{
    vm_trace_counts *c = user;

    c->calls++;
    if (f->depth > c->max_depth)
        c->max_depth = f->depth;
}

static void count_host_call(void *user, const vm_trace_frame *f)
{
    vm_trace_counts *c = user;

    (void)f;
    c->host_calls++;
}

static void count_throw(void *user, const vm_trace_throw *t)
{
    vm_trace_counts *c = user;

    (void)t;
    c->throws++;
}

static void count_trap(void *user, int code, const char *message)
{
    vm_trace_counts *c = user;

    (void)code;
    (void)message;
    c->traps++;
}

static void count_step(void *user, uint32_t offset, uint32_t point,
                       uint32_t depth)
{
    vm_trace_counts *c = user;

    (void)offset;
    (void)point;
    (void)depth;
    c->steps++;
}

void vm_trace_counts_init(vm_tracer *t, vm_trace_counts *c, bool with_ops)
{
    memset(t, 0, sizeof *t);
    memset(c, 0, sizeof *c);
    t->user = c;
    t->op = with_ops ? count_op : NULL;
    t->call = count_call;
    t->host_call = count_host_call;
    t->throw_ = count_throw;
    t->trap = count_trap;
}

void vm_trace_counts_with_steps(vm_tracer *t, vm_trace_counts *c)
{
    t->step = count_step;
    c->with_steps = true;
}

size_t vm_trace_counts_format(const vm_trace_counts *c, char *buf,
                              size_t len)
{
    int n = snprintf(buf, len,
                     "trace: ops=%llu calls=%llu host_calls=%llu "
                     "max_depth=%u throws=%llu traps=%llu",
                     (unsigned long long)c->ops,
                     (unsigned long long)c->calls,
                     (unsigned long long)c->host_calls, c->max_depth,
                     (unsigned long long)c->throws,
                     (unsigned long long)c->traps);
    int m = 0;

    if (n >= 0 && c->with_steps)
        m = snprintf((size_t)n < len ? buf + n : NULL,
                     (size_t)n < len ? len - (size_t)n : 0, " steps=%llu",
                     (unsigned long long)c->steps);
    return n < 0 || m < 0 ? 0 : (size_t)n + (size_t)m;
}
