/*
 * traced VM: DWARF debug info of a module (docs/vm.md, "Debug info
 * (DWARF)").
 *
 * A compiler that targets wasm (clang -g) puts DWARF in custom sections
 * named .debug_info, .debug_line, .debug_abbrev, .debug_str, ... This
 * reader loads the parts a tracer needs: the line table (.debug_line,
 * versions 2 to 5) and, from .debug_info (versions 2 to 5), the compile
 * units, the subprograms with their parameters and local variables, and
 * the types those refer to (base types, and pointer / typedef / const /
 * volatile / struct / union / enum / array enough to name them or reach a
 * base type).
 *
 * Offsets. Every offset this API takes or returns is a VM offset: a byte
 * offset in the module binary, the same numbers as vm_tracer's op events
 * and the listing (vm_listing.h). DWARF for wasm uses addresses relative
 * to the start of the Code section's contents (the byte after the
 * section's size, where the function count is); a DWARF address A is the
 * VM offset vm_debug_code_start() + A. Rows and subprograms carry both.
 * A function's DWARF low_pc (clang) is its body's locals declaration, the
 * byte after the body size; its first instruction comes later.
 *
 * Debug info is optional: a module that has none, or whose DWARF is
 * malformed, loads and runs all the same; vm_debug_new reports why it
 * built nothing. The object copies what it needs and does not refer to
 * the module afterwards. It is immutable once built, so several threads
 * may read it at once.
 *
 * Every pointer returned here is borrowed from the vm_debug and lives
 * until vm_debug_free.
 */
#ifndef TRACED_VM_DEBUG_H
#define TRACED_VM_DEBUG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "traced/vm.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vm_debug vm_debug;

/* "No such entry" for the uint32_t indices below (file, type, unit,
 * function index). */
#define VM_DEBUG_NONE UINT32_MAX

/*
 * Load the DWARF of module m. Returns 0 with *out set, or:
 *   VM_ERR_NOT_FOUND   m has neither .debug_info nor .debug_line;
 *   VM_ERR_MALFORMED   a section is truncated or inconsistent (bad form,
 *                      unknown abbreviation code, length past the end...);
 *   VM_ERR_LIMIT       a count exceeds the reader's limits (docs/vm.md);
 *   VM_ERR_NOMEM.
 * The message names the section and the byte offset in it. On error *out
 * is NULL.
 */
int vm_debug_new(const vm_module *m, vm_debug **out, char *err,
                 size_t errlen);
void vm_debug_free(vm_debug *d);

/* ---- Addresses ---------------------------------------------------------- */

/* Module offset of the Code section's contents; 0 when m has no code. */
uint32_t vm_debug_code_start(const vm_debug *d);
/* DWARF address -> VM offset, and back. VM_ERR_NOT_FOUND when the
 * address / offset is outside the Code section's contents. */
int vm_debug_address_to_offset(const vm_debug *d, uint64_t address,
                               uint32_t *offset);
int vm_debug_offset_to_address(const vm_debug *d, uint32_t offset,
                               uint32_t *address);

/* ---- Files -------------------------------------------------------------- */

/* The file table: every file of every line table and each unit's
 * primary source, resolved to a path (the compile unit's comp_dir / the
 * include directory / the name, as the producer wrote them and as
 * llvm-dwarfdump prints them, not normalised) and deduplicated. */
uint32_t vm_debug_file_count(const vm_debug *d);
/* Path of file i, or NULL when out of range. */
const char *vm_debug_file_path(const vm_debug *d, uint32_t i);

/* ---- Line table --------------------------------------------------------- */

/* One row of the line-number matrix. */
typedef struct vm_debug_row {
    uint32_t offset;       /* VM offset (code_start + address) */
    uint32_t address;      /* DWARF address */
    uint32_t file;         /* vm_debug_file_path index, or VM_DEBUG_NONE */
    uint32_t line;         /* 1-based; 0 = no source line (compiler code) */
    uint32_t column;       /* 1-based; 0 = unknown */
    uint32_t discriminator;
    bool is_stmt;          /* a recommended breakpoint / step position */
    bool end_sequence;     /* first byte after a sequence: no source here */
    bool prologue_end;
    bool epilogue_begin;
} vm_debug_row;

/*
 * Every row of every sequence, sorted by address (sequences by start
 * address, rows within a sequence in their table order). Sequences that
 * lie outside the Code section (addresses of functions the linker
 * dropped) and empty sequences are left out.
 */
const vm_debug_row *vm_debug_rows(const vm_debug *d, size_t *count);
/* The row that describes the instruction at VM offset `offset`: the last
 * row at or below it, unless that row ends a sequence. NULL when no
 * sequence covers offset. O(log rows). */
const vm_debug_row *vm_debug_row_at(const vm_debug *d, uint32_t offset);

/*
 * Step points: the VM offsets where a statement row starts (is_stmt, not
 * end_sequence), one per offset (when several statement rows share an
 * offset, the last one, as that is the row in effect there), sorted by
 * offset. A "lines" tracer emits a step when an executed instruction's
 * offset is a step point whose (file, line) differs from the frame's
 * current one. Every step point is an instruction's offset: the row clang
 * puts at a function's entry (its locals declaration, which no op event
 * reports) is moved to the function's first instruction, unless that
 * already has a step point. Rows are copies; offset/address fields are
 * as in vm_debug_rows (address = offset - code_start).
 */
const vm_debug_row *vm_debug_steps(const vm_debug *d, size_t *count);
/* The step point at exactly `offset`, or NULL. O(log steps). */
const vm_debug_row *vm_debug_step_at(const vm_debug *d, uint32_t offset);
/* The step points inside function funcidx's body (index space of the
 * module, imports first): *steps points into vm_debug_steps. Returns
 * VM_ERR_NOT_FOUND (count 0) for an import or an index out of range. */
int vm_debug_func_steps(const vm_debug *d, uint32_t funcidx,
                        const vm_debug_row **steps, size_t *count);

/* ---- Types -------------------------------------------------------------- */

typedef enum vm_debug_type_kind {
    VM_DEBUG_TYPE_BASE,      /* DW_TAG_base_type: encoding, byte_size */
    VM_DEBUG_TYPE_POINTER,   /* pointer / reference: target */
    VM_DEBUG_TYPE_TYPEDEF,   /* name, target */
    VM_DEBUG_TYPE_CONST,     /* target */
    VM_DEBUG_TYPE_VOLATILE,  /* target */
    VM_DEBUG_TYPE_STRUCT,    /* struct or class: name, byte_size */
    VM_DEBUG_TYPE_UNION,     /* name, byte_size */
    VM_DEBUG_TYPE_ENUM,      /* name, byte_size, target (underlying) */
    VM_DEBUG_TYPE_ARRAY,     /* target (element type) */
    VM_DEBUG_TYPE_FUNCTION,  /* subroutine type (behind function pointers) */
    VM_DEBUG_TYPE_OTHER,     /* any other type tag (restrict, atomic...):
                                target when it has one */
} vm_debug_type_kind;

/* DW_ATE_* base type encodings (the DWARF values). */
enum {
    VM_DEBUG_ATE_ADDRESS = 0x01,
    VM_DEBUG_ATE_BOOLEAN = 0x02,
    VM_DEBUG_ATE_COMPLEX_FLOAT = 0x03,
    VM_DEBUG_ATE_FLOAT = 0x04,
    VM_DEBUG_ATE_SIGNED = 0x05,
    VM_DEBUG_ATE_SIGNED_CHAR = 0x06,
    VM_DEBUG_ATE_UNSIGNED = 0x07,
    VM_DEBUG_ATE_UNSIGNED_CHAR = 0x08,
    VM_DEBUG_ATE_UTF = 0x10,
};

typedef struct vm_debug_type {
    vm_debug_type_kind kind;
    uint32_t tag;       /* the DW_TAG_* it came from */
    const char *name;   /* or NULL */
    uint32_t encoding;  /* BASE: VM_DEBUG_ATE_*; else 0 */
    uint32_t byte_size; /* 0 when not given; a pointer without one gets
                           its unit's address size (4 in wasm32) */
    uint32_t target;    /* type index, or VM_DEBUG_NONE (void) */
} vm_debug_type;

uint32_t vm_debug_type_count(const vm_debug *d);
/* Type i, or NULL when out of range. */
const vm_debug_type *vm_debug_type_get(const vm_debug *d, uint32_t i);
/* Follow typedef / const / volatile (and enum to its underlying type)
 * from type i to the type that says what the bytes are: a BASE, POINTER,
 * STRUCT... Returns VM_DEBUG_NONE for void, an index out of range or a
 * chain longer than the reader's bound. */
uint32_t vm_debug_type_resolve(const vm_debug *d, uint32_t i);

/* ---- Compile units and subprograms --------------------------------------- */

typedef struct vm_debug_unit {
    const char *name;      /* DW_AT_name (the primary source), or NULL */
    const char *comp_dir;  /* or NULL */
    const char *producer;  /* or NULL */
    uint32_t language;     /* DW_LANG_*, 0 when not given */
    uint16_t version;      /* DWARF version of the unit header */
    uint32_t info_offset;  /* of the unit header in .debug_info */
    uint32_t file;         /* the primary source in the file table, or
                              VM_DEBUG_NONE */
} vm_debug_unit;

uint32_t vm_debug_unit_count(const vm_debug *d);
const vm_debug_unit *vm_debug_unit_get(const vm_debug *d, uint32_t i);

/* A formal parameter or local variable. */
typedef struct vm_debug_var {
    const char *name;        /* or NULL */
    uint32_t type;           /* type index, or VM_DEBUG_NONE */
    uint32_t decl_file;      /* file table index, or VM_DEBUG_NONE */
    uint32_t decl_line;      /* 0 when not given */
    /* DW_AT_location when it is a single expression (exprloc or block
     * form), else NULL (absent, or a location list). */
    const uint8_t *location;
    uint32_t location_len;
} vm_debug_var;

typedef struct vm_debug_subprogram {
    const char *name;          /* or NULL */
    const char *linkage_name;  /* DW_AT_linkage_name, or NULL */
    uint32_t decl_file;        /* file table index, or VM_DEBUG_NONE */
    uint32_t decl_line;        /* 0 when not given */
    uint32_t return_type;      /* type index; VM_DEBUG_NONE = void */
    uint32_t unit;             /* vm_debug_unit_get index */
    /* Its code: VM offsets [low, high) and DWARF addresses. low is the
     * function's body (locals declaration), as clang emits it. */
    uint32_t low, high;
    uint32_t low_address, high_address;
    /* The module function whose body starts at low (index space, imports
     * first), or VM_DEBUG_NONE. */
    uint32_t func_idx;
    bool external;             /* DW_AT_external */
    /* DW_AT_frame_base as an expression, or NULL. */
    const uint8_t *frame_base;
    uint32_t frame_base_len;
    /* DW_TAG_formal_parameter children, in order; name, type and
     * declaration are taken from DW_AT_abstract_origin when the DIE
     * has one. */
    uint32_t nparams;
    const vm_debug_var *params;
    /* DW_TAG_variable descendants (lexical blocks included, nested
     * subprograms and inlined subroutines not), in DIE order. */
    uint32_t nvars;
    const vm_debug_var *vars;
} vm_debug_subprogram;

/* Subprograms that have code (low_pc), sorted by low. Name, declaration
 * and return type come from DW_AT_specification / DW_AT_abstract_origin
 * when the DIE itself lacks them. */
uint32_t vm_debug_subprogram_count(const vm_debug *d);
const vm_debug_subprogram *vm_debug_subprogram_get(const vm_debug *d,
                                                   uint32_t i);
/* The subprogram whose [low, high) holds VM offset `offset`, or NULL. */
const vm_debug_subprogram *vm_debug_subprogram_at(const vm_debug *d,
                                                  uint32_t offset);
/* The subprogram of module function funcidx (index space, imports
 * first), or NULL. */
const vm_debug_subprogram *vm_debug_func(const vm_debug *d,
                                         uint32_t funcidx);

/* Number of functions of the module's index space (as
 * vm_module_func_count). */
uint32_t vm_debug_func_count(const vm_debug *d);
/* Function funcidx's body as VM offsets: [entry, end), entry being the
 * locals declaration, code the first instruction. VM_ERR_NOT_FOUND for an
 * import or an index out of range. */
int vm_debug_func_range(const vm_debug *d, uint32_t funcidx,
                        uint32_t *entry, uint32_t *code, uint32_t *end);

#ifdef __cplusplus
}
#endif

#endif /* TRACED_VM_DEBUG_H */
