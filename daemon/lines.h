/*
 * The `lines` level's producer side (lines.c): the run module's DWARF
 * statement rows become its VM step points, and a step hook turns them
 * into step events when the running frame's source line changes
 * (docs/protocol.md, "Steps"). Run thread only, except
 * dmn_lines_init/close, which the run's owner calls before and after.
 */
#ifndef TRACED_DMN_LINES_H
#define TRACED_DMN_LINES_H

#include <traced/vm_debug.h>

#include "dmn.h"

/* One frame's current source line (file index, line), by depth. */
typedef struct dmn_line_frame {
    uint32_t file, line;
} dmn_line_frame;

typedef struct dmn_lines {
    vm_debug *dbg;              /* owned */
    const vm_debug_row *steps;  /* the step points' rows; borrowed */
    size_t nsteps;
    proto_str *files;           /* run_start's file table; owned array,
                                   strings borrowed from dbg */
    uint32_t nfiles;
    dmn_line_frame *frames;     /* [depth]; owned, grown on demand */
    uint32_t cap;
} dmn_lines;

/*
 * Load m's DWARF and give m its step points (the line table's statement
 * rows): before any traced call on m. Fails with a message that says what
 * is missing when m has no usable line table (the lines level needs a
 * module built with -g); the caller refuses the run. 0 or -1. May be done
 * again on the same module (init, close, init: a check, then the run).
 */
int dmn_lines_init(dmn_lines *l, vm_module *m, char *err, size_t errlen);
void dmn_lines_close(dmn_lines *l);
/* Point run_start's file table at l's (borrowed: l outlives the event). */
void dmn_lines_run_start(const dmn_lines *l, proto_run_start *rs);

/* A wasm frame was pushed at depth: it has no line yet. */
static inline void dmn_lines_enter(dmn_lines *l, uint32_t depth)
{
    if (depth < l->cap) {
        l->frames[depth].file = UINT32_MAX;
        l->frames[depth].line = 0;
    }
}

/* Step point `point` was reached in the frame at depth: its row when that
 * changes the frame's line (the step event to emit), else NULL. */
const vm_debug_row *dmn_lines_step(dmn_lines *l, uint32_t point,
                                   uint32_t depth);

#endif /* TRACED_DMN_LINES_H */
