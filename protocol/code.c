/*
 * Op and step runs expanded against the module (traced/proto_code.h,
 * docs/protocol.md "Op runs" and "Step runs").
 *
 * The map copies the module's instruction table (offset, opcode and
 * function of every instruction, in offset order: a function body is a
 * contiguous range of it) and its DWARF step rows, so that it outlives
 * the listing and the debug info it came from and costs 12 bytes an
 * instruction and 12 a step point. A run is checked once, when it is
 * opened (one binary search and one compare: bodies are contiguous, so
 * a run whose last instruction is in its first one's function lies in
 * it whole); its events are then array reads.
 */
#include <stdlib.h>

#include "proto_int.h"
#include "traced/proto_code.h"
#include "traced/vm_debug.h"
#include "traced/vm_listing.h"

struct proto_code {
    uint32_t ninsns;
    uint32_t *offsets; /* ascending */
    uint32_t *opcodes; /* PROTO_OPCODE form (the listing's is the same) */
    uint32_t *funcs;   /* function index of each instruction */
    uint32_t npoints;
    proto_step *points; /* step point i: its row's file, line, column */
};

static int copy_insns(proto_code *c, const vm_module *m, char *err,
                      size_t errlen)
{
    char vmerr[256] = "";
    vm_listing *l = NULL;
    int rc = vm_listing_new(m, &l, vmerr, sizeof vmerr);

    if (rc)
        return proto__error(err, errlen,
                            rc == VM_ERR_NOMEM ? PROTO_ERR_NOMEM
                                               : PROTO_ERR_ARG,
                            "code map: %s", vmerr[0] ? vmerr
                                                     : vm_strerror(rc));
    c->ninsns = vm_listing_insn_count(l);
    c->offsets = proto__malloc(((size_t)c->ninsns + 1) * sizeof *c->offsets);
    c->opcodes = proto__malloc(((size_t)c->ninsns + 1) * sizeof *c->opcodes);
    c->funcs = proto__malloc(((size_t)c->ninsns + 1) * sizeof *c->funcs);
    if (!c->offsets || !c->opcodes || !c->funcs) {
        vm_listing_free(l);
        return proto__error(err, errlen, PROTO_ERR_NOMEM, "out of memory");
    }
    for (uint32_t i = 0; i < c->ninsns; i++) {
        vm_listing_insn(l, i, &c->offsets[i], &c->opcodes[i]);
        c->funcs[i] = vm_listing_insn_func(l, i);
    }
    vm_listing_free(l);
    return 0;
}

/* The step rows, when the module has usable DWARF with statement rows;
 * without, the map has no points and a steps event does not fit it. */
static int copy_points(proto_code *c, const vm_module *m, char *err,
                       size_t errlen)
{
    const vm_debug_row *rows;
    vm_debug *d = NULL;
    size_t n = 0;
    int rc = vm_debug_new(m, &d, NULL, 0);

    if (rc == VM_ERR_NOMEM)
        return proto__error(err, errlen, PROTO_ERR_NOMEM, "out of memory");
    if (rc)
        return 0; /* no DWARF, or none the reader can use */
    rows = vm_debug_steps(d, &n);
    if (n > UINT32_MAX)
        n = 0;
    if (n) {
        c->points = proto__malloc(n * sizeof *c->points);
        if (!c->points) {
            vm_debug_free(d);
            return proto__error(err, errlen, PROTO_ERR_NOMEM,
                                "out of memory");
        }
        for (size_t i = 0; i < n; i++)
            c->points[i] = (proto_step){rows[i].file, rows[i].line,
                                        rows[i].column};
    }
    c->npoints = (uint32_t)n;
    vm_debug_free(d);
    return 0;
}

int proto_code_new(const vm_module *m, proto_code **out, char *err,
                   size_t errlen)
{
    proto_code *c;
    int rc;

    *out = NULL;
    if (!m)
        return proto__error(err, errlen, PROTO_ERR_ARG, "code map: no module");
    c = proto__calloc(1, sizeof *c);
    if (!c)
        return proto__error(err, errlen, PROTO_ERR_NOMEM, "out of memory");
    if ((rc = copy_insns(c, m, err, errlen)) < 0 ||
        (rc = copy_points(c, m, err, errlen)) < 0) {
        proto_code_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void proto_code_free(proto_code *c)
{
    if (!c)
        return;
    proto__free(c->offsets);
    proto__free(c->opcodes);
    proto__free(c->funcs);
    proto__free(c->points);
    proto__free(c);
}

uint32_t proto_code_insn_count(const proto_code *c)
{
    return c->ninsns;
}

uint32_t proto_code_point_count(const proto_code *c)
{
    return c->npoints;
}

/* Index of the instruction that starts at offset, or UINT32_MAX. */
static uint32_t insn_at(const proto_code *c, uint32_t offset)
{
    uint32_t lo = 0, hi = c->ninsns;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;

        if (c->offsets[mid] < offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < c->ninsns && c->offsets[lo] == offset ? lo : UINT32_MAX;
}

int proto__run_open(const proto_code *c, const proto_event *run, uint64_t i,
                    proto_run_cursor *cur, char *err, size_t errlen)
{
    unsigned long long seq = (unsigned long long)run->seq;

    if (run->type == PROTO_OPS) {
        uint64_t count = run->as.ops.count;
        uint32_t first = insn_at(c, run->as.ops.offset);

        if (i >= count)
            return proto__error(err, errlen, PROTO_ERR_ARG,
                                "event %llu of an ops run of %llu",
                                (unsigned long long)i,
                                (unsigned long long)count);
        if (first == UINT32_MAX)
            return proto__error(err, errlen, PROTO_ERR_MALFORMED,
                                "ops at seq %llu: no instruction starts at "
                                "offset %u", seq, run->as.ops.offset);
        if (count > (uint64_t)(c->ninsns - first) ||
            c->funcs[first + count - 1] != c->funcs[first])
            return proto__error(err, errlen, PROTO_ERR_MALFORMED,
                                "ops at seq %llu: %llu instructions from "
                                "offset %u run past the end of function "
                                "%u", seq, (unsigned long long)count,
                                run->as.ops.offset, c->funcs[first]);
        cur->start = run->as.ops.offset;
        cur->first = first;
        cur->count = count;
    } else if (run->type == PROTO_STEPS) {
        uint64_t count = run->as.steps.count;
        uint32_t point = run->as.steps.point;

        if (i >= count)
            return proto__error(err, errlen, PROTO_ERR_ARG,
                                "event %llu of a steps run of %llu",
                                (unsigned long long)i,
                                (unsigned long long)count);
        if (point >= c->npoints || count > (uint64_t)(c->npoints - point))
            return proto__error(err, errlen, PROTO_ERR_MALFORMED,
                                "steps at seq %llu: points %u..%llu, the "
                                "module has %u%s", seq, point,
                                (unsigned long long)point + count - 1,
                                c->npoints,
                                c->npoints ? "" : " (no DWARF line table)");
        cur->start = point;
        cur->first = point;
        cur->count = count;
    } else {
        return proto__error(err, errlen, PROTO_ERR_ARG,
                            "expanding a %s event: only ops and steps are "
                            "runs", proto_event_type_name(run->type)
                                        ? proto_event_type_name(run->type)
                                        : "unknown");
    }
    cur->type = run->type;
    cur->seq = run->seq;
    cur->t_ns = run->t_ns;
    cur->next = i;
    return 0;
}

/* Event i of the open run cur (checked by run_open: i < count). Only
 * the fields of an op or step event are set: zeroing the whole event (its
 * union is sized for run_start) took 38 of the 145 instructions an
 * expanded op cost (callgrind, 160,000 ops through proto_raw_events). */
static void run_event(const proto_code *c, const proto_run_cursor *cur,
                      uint64_t i, proto_event *ev)
{
    ev->seq = cur->seq + i;
    ev->t_ns = cur->t_ns;
    if (cur->type == PROTO_OPS) {
        ev->type = PROTO_OP;
        ev->as.op.opcode = c->opcodes[cur->first + i];
        ev->as.op.offset = c->offsets[cur->first + i];
    } else {
        ev->type = PROTO_STEP;
        ev->as.step = c->points[cur->first + i];
    }
}

int proto__run_next(const proto_code *c, proto_run_cursor *cur,
                    proto_event *ev, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    run_event(c, cur, cur->next, ev);
    if (++cur->next == cur->count)
        cur->type = (proto_event_type)0;
    return 0;
}

int proto_code_expand(const proto_code *c, const proto_event *run,
                      uint64_t i, proto_event *out, char *err, size_t errlen)
{
    proto_run_cursor cur = {0};
    int rc;

    if (!c || !run || !out)
        return proto__error(err, errlen, PROTO_ERR_ARG,
                            "code map: no map, run or event");
    if ((rc = proto__run_open(c, run, i, &cur, err, errlen)) < 0)
        return rc;
    run_event(c, &cur, i, out);
    return 0;
}
