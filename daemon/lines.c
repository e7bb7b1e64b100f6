/*
 * The `lines` level (lines.h): DWARF statement rows as VM step points,
 * and the per-frame line that decides which steps become events.
 *
 * A step event is the running frame's line changing: a frame starts with
 * no line (its first step point always emits), a point on the line the
 * frame is already on emits nothing (several statement rows of one line,
 * a loop whose body is one line), and a caller's line survives its
 * callees, so returning into the middle of a line does not emit it again;
 * its next different line does. Rows of line 0 (code the compiler made
 * up) emit nothing and leave the frame's line as it was.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lines.h"

int dmn_lines_init(dmn_lines *l, vm_module *m, char *err, size_t errlen)
{
    char derr[256] = "";
    uint32_t *offsets, nset = 0;
    int rc;

    memset(l, 0, sizeof *l);
    rc = vm_debug_new(m, &l->dbg, derr, sizeof derr);
    if (rc == VM_ERR_NOT_FOUND) {
        snprintf(err, errlen, "level lines needs DWARF line info and the "
                              "module has none (build it with -g)");
        return -1;
    }
    if (rc) {
        snprintf(err, errlen, "level lines: unusable DWARF: %s",
                 derr[0] ? derr : vm_strerror(rc));
        return -1;
    }
    l->steps = vm_debug_steps(l->dbg, &l->nsteps);
    if (l->nsteps == 0 || l->nsteps > UINT32_MAX) {
        snprintf(err, errlen, "level lines needs a DWARF line table with "
                              "statement rows and the module has none "
                              "(build it with -g)");
        goto fail;
    }
    offsets = malloc(l->nsteps * sizeof *offsets);
    l->nfiles = vm_debug_file_count(l->dbg);
    l->files = calloc(l->nfiles + 1u, sizeof *l->files);
    l->cap = 64;
    l->frames = malloc(l->cap * sizeof *l->frames);
    if (!offsets || !l->files || !l->frames) {
        free(offsets);
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    /* vm_debug_steps is sorted and unique by offset, as the module keeps
     * its points: point i of the hook is row i. A module that has them
     * already (an earlier init: the daemon checks at submission) keeps
     * them. */
    for (size_t i = 0; i < l->nsteps; i++)
        offsets[i] = l->steps[i].offset;
    if (vm_module_step_points(m, &nset) && nset == l->nsteps)
        rc = memcmp(vm_module_step_points(m, &nset), offsets,
                    nset * sizeof *offsets) ? VM_ERR_ARG : 0;
    else
        rc = vm_module_set_step_points(m, offsets, (uint32_t)l->nsteps);
    free(offsets);
    if (rc) {
        snprintf(err, errlen, "level lines: cannot set the step points: %s",
                 vm_strerror(rc));
        goto fail;
    }
    for (uint32_t i = 0; i < l->nfiles; i++) {
        const char *p = vm_debug_file_path(l->dbg, i);

        l->files[i].ptr = p ? p : "";
        l->files[i].len = p ? (uint32_t)strlen(p) : 0;
    }
    return 0;

fail:
    dmn_lines_close(l);
    return -1;
}

void dmn_lines_close(dmn_lines *l)
{
    vm_debug_free(l->dbg);
    free(l->files);
    free(l->frames);
    memset(l, 0, sizeof *l);
}

void dmn_lines_run_start(const dmn_lines *l, proto_run_start *rs)
{
    rs->files = l->files;
    rs->nfiles = l->nfiles;
}

/* Room for depth (and frames entered before the growth have no line). */
static bool lines_grow(dmn_lines *l, uint32_t depth)
{
    uint32_t cap = l->cap ? l->cap : 64;
    dmn_line_frame *f;

    while (cap <= depth)
        cap *= 2;
    f = realloc(l->frames, (size_t)cap * sizeof *f);
    if (!f)
        return false;
    for (uint32_t i = l->cap; i < cap; i++) {
        f[i].file = UINT32_MAX;
        f[i].line = 0;
    }
    l->frames = f;
    l->cap = cap;
    return true;
}

const vm_debug_row *dmn_lines_step(dmn_lines *l, uint32_t point,
                                   uint32_t depth)
{
    const vm_debug_row *row;
    dmn_line_frame *f;

    if (point >= l->nsteps)
        return NULL;
    row = &l->steps[point];
    if (row->line == 0)
        return NULL;
    if (depth >= l->cap && !lines_grow(l, depth))
        return row; /* no memory to compare: emit rather than lose it */
    f = &l->frames[depth];
    if (f->line == row->line && f->file == row->file)
        return NULL;
    f->file = row->file;
    f->line = row->line;
    return row;
}
