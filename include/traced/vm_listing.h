/*
 * traced VM: a generated text listing of a module, so that a trace viewer
 * (CodeTracer) can show any module without debug info. docs/codetracer.md
 * describes the format.
 *
 * The listing has a header line per function of the index space (imports
 * first): its index, its name from the name section (else, for an import,
 * "module.name"), whether it is imported, and its signature. A defined
 * function's header is followed by its declared locals and one line per
 * instruction in wabt-like text, indented by block depth and prefixed by
 * the instruction's byte offset in the module:
 *
 *     func[1] <fib> (param i32) (result i32)
 *       000023:  local.get 0
 *       000025:  i32.const 2
 *       000027:  i32.lt_s
 *       000028:  if (result i32)
 *       00002a:    local.get 0
 *
 * Lines are numbered from 1. Alongside the text the listing keeps two
 * maps: instruction offset -> line (every instruction of every defined
 * function, the final `end` included) and function index -> header line.
 * The offsets are those of the tracer's op events (the instruction's first
 * byte in the module binary), so an op maps to its line in O(log n).
 */
#ifndef TRACED_VM_LISTING_H
#define TRACED_VM_LISTING_H

#include <stddef.h>
#include <stdint.h>

#include "traced/vm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A listing: immutable once built, independent of the module afterwards
 * (it copies what it needs). */
typedef struct vm_listing vm_listing;

/* Build the listing of m (a validated module). VM_ERR_NOMEM, or
 * VM_ERR_MALFORMED if a body cannot be walked (not for a module that
 * vm_module_new accepted). */
int vm_listing_new(const vm_module *m, vm_listing **out, char *err,
                   size_t errlen);
void vm_listing_free(vm_listing *l);

/* The text, NUL-terminated, every line ending in '\n'; borrowed from l.
 * *len (may be NULL) gets its length without the NUL. */
const char *vm_listing_text(const vm_listing *l, size_t *len);
uint32_t vm_listing_line_count(const vm_listing *l);

/* Functions of the index space (imports first) and their header lines;
 * 0 for an index out of range. */
uint32_t vm_listing_func_count(const vm_listing *l);
uint32_t vm_listing_func_line(const vm_listing *l, uint32_t funcidx);
/* The function's display name: name section, else "module.name" for an
 * import, else "func[N]"; borrowed from l, never NULL (for an index out of
 * range, ""). */
const char *vm_listing_func_name(const vm_listing *l, uint32_t funcidx);

/* Line of the instruction that starts at module offset `offset`, or 0 when
 * no instruction starts there. */
uint32_t vm_listing_offset_line(const vm_listing *l, uint32_t offset);
/*
 * The instructions, in offset order (index 0 .. count - 1; a function's
 * body is a contiguous range, its final `end` included): what expands an
 * op run (docs/protocol.md, "Op runs") into op events, since the
 * instruction after i in the binary is i + 1 when both are in one body.
 * insn_at gives the index of the instruction that starts at offset, or
 * UINT32_MAX; insn gives i's offset and opcode (VM_TRACE_OPCODE form, as
 * the op hook passes it; either pointer may be NULL), VM_ERR_ARG out of
 * range.
 */
uint32_t vm_listing_insn_count(const vm_listing *l);
uint32_t vm_listing_insn_at(const vm_listing *l, uint32_t offset);
int vm_listing_insn(const vm_listing *l, uint32_t i, uint32_t *offset,
                    uint32_t *opcode);
/* The function whose body holds instruction i, or UINT32_MAX. */
uint32_t vm_listing_insn_func(const vm_listing *l, uint32_t i);
/* The same, but 0 also when the instruction is not in function funcidx
 * (the (function, offset) -> line map). */
uint32_t vm_listing_op_line(const vm_listing *l, uint32_t funcidx,
                            uint32_t offset);
/* The function whose body (or header) holds line, or UINT32_MAX. */
uint32_t vm_listing_line_func(const vm_listing *l, uint32_t line);

#ifdef __cplusplus
}
#endif

#endif /* TRACED_VM_LISTING_H */
