/*
 * Private to the DWARF reader (dwarf.c, dwarf_line.c, dwarf_info.c):
 * the vm_debug object, its builder state, a bounds-checked section
 * cursor and the DWARF constants the reader uses.
 *
 * Every read goes through a vm__dwcur, which knows its section and its
 * end: a read past the end is a VM_ERR_MALFORMED that names the section
 * and offset. Nothing here recurses on input-controlled depth.
 */
#ifndef TRACED_VM_DWARF_INT_H
#define TRACED_VM_DWARF_INT_H

#include "module_int.h"
#include "traced/vm_debug.h"

/* Reader limits (docs/vm.md, "Debug info (DWARF)"). A section that needs
 * more is VM_ERR_LIMIT. They bound memory for hostile input; real
 * programs are far below them. */
#ifndef VM_DEBUG_MAX_DEPTH
#define VM_DEBUG_MAX_DEPTH 256u      /* DIE nesting */
#endif
#ifndef VM_DEBUG_MAX_ATTRS
#define VM_DEBUG_MAX_ATTRS 256u      /* attributes of one abbreviation */
#endif
#ifndef VM_DEBUG_MAX_ROWS
#define VM_DEBUG_MAX_ROWS (1u << 23) /* line rows, all tables */
#endif
#ifndef VM_DEBUG_MAX_FILES
#define VM_DEBUG_MAX_FILES (1u << 20) /* file entries, all tables */
#endif
#ifndef VM_DEBUG_MAX_ENTRIES
#define VM_DEBUG_MAX_ENTRIES (1u << 22) /* types + subprograms + vars */
#endif
#ifndef VM_DEBUG_MAX_UNITS
#define VM_DEBUG_MAX_UNITS (1u << 18)
#endif
#ifndef VM_DEBUG_MAX_CHAIN
#define VM_DEBUG_MAX_CHAIN 64u       /* typedef chains, origin chains */
#endif
#ifndef VM_DEBUG_MAX_PATH
#define VM_DEBUG_MAX_PATH 4096u      /* a resolved file path, bytes */
#endif

#define VM_DW_NO_DIE UINT64_MAX

/* ---- DWARF constants ------------------------------------------------- */

enum {
    DW_TAG_array_type = 0x01, DW_TAG_class_type = 0x02,
    DW_TAG_enumeration_type = 0x04, DW_TAG_formal_parameter = 0x05,
    DW_TAG_lexical_block = 0x0b, DW_TAG_pointer_type = 0x0f,
    DW_TAG_reference_type = 0x10, DW_TAG_compile_unit = 0x11,
    DW_TAG_structure_type = 0x13, DW_TAG_subroutine_type = 0x15,
    DW_TAG_typedef = 0x16, DW_TAG_union_type = 0x17,
    DW_TAG_inlined_subroutine = 0x1d, DW_TAG_ptr_to_member_type = 0x1f,
    DW_TAG_base_type = 0x24, DW_TAG_const_type = 0x26,
    DW_TAG_subprogram = 0x2e, DW_TAG_variable = 0x34,
    DW_TAG_volatile_type = 0x35, DW_TAG_restrict_type = 0x37,
    DW_TAG_partial_unit = 0x3c, DW_TAG_unspecified_type = 0x3b,
    DW_TAG_rvalue_reference_type = 0x42, DW_TAG_atomic_type = 0x47,
    DW_TAG_skeleton_unit = 0x4a,
};

enum {
    DW_AT_location = 0x02, DW_AT_name = 0x03, DW_AT_byte_size = 0x0b,
    DW_AT_stmt_list = 0x10, DW_AT_low_pc = 0x11, DW_AT_high_pc = 0x12,
    DW_AT_language = 0x13, DW_AT_comp_dir = 0x1b, DW_AT_producer = 0x25,
    DW_AT_abstract_origin = 0x31, DW_AT_decl_file = 0x3a,
    DW_AT_decl_line = 0x3b, DW_AT_encoding = 0x3e, DW_AT_external = 0x3f,
    DW_AT_frame_base = 0x40, DW_AT_specification = 0x47, DW_AT_type = 0x49,
    DW_AT_linkage_name = 0x6e, DW_AT_str_offsets_base = 0x72,
    DW_AT_addr_base = 0x73, DW_AT_MIPS_linkage_name = 0x2007,
};

enum {
    DW_FORM_addr = 0x01, DW_FORM_block2 = 0x03, DW_FORM_block4 = 0x04,
    DW_FORM_data2 = 0x05, DW_FORM_data4 = 0x06, DW_FORM_data8 = 0x07,
    DW_FORM_string = 0x08, DW_FORM_block = 0x09, DW_FORM_block1 = 0x0a,
    DW_FORM_data1 = 0x0b, DW_FORM_flag = 0x0c, DW_FORM_sdata = 0x0d,
    DW_FORM_strp = 0x0e, DW_FORM_udata = 0x0f, DW_FORM_ref_addr = 0x10,
    DW_FORM_ref1 = 0x11, DW_FORM_ref2 = 0x12, DW_FORM_ref4 = 0x13,
    DW_FORM_ref8 = 0x14, DW_FORM_ref_udata = 0x15, DW_FORM_indirect = 0x16,
    DW_FORM_sec_offset = 0x17, DW_FORM_exprloc = 0x18,
    DW_FORM_flag_present = 0x19, DW_FORM_strx = 0x1a, DW_FORM_addrx = 0x1b,
    DW_FORM_ref_sup4 = 0x1c, DW_FORM_strp_sup = 0x1d, DW_FORM_data16 = 0x1e,
    DW_FORM_line_strp = 0x1f, DW_FORM_ref_sig8 = 0x20,
    DW_FORM_implicit_const = 0x21, DW_FORM_loclistx = 0x22,
    DW_FORM_rnglistx = 0x23, DW_FORM_ref_sup8 = 0x24, DW_FORM_strx1 = 0x25,
    DW_FORM_strx2 = 0x26, DW_FORM_strx3 = 0x27, DW_FORM_strx4 = 0x28,
    DW_FORM_addrx1 = 0x29, DW_FORM_addrx2 = 0x2a, DW_FORM_addrx3 = 0x2b,
    DW_FORM_addrx4 = 0x2c,
    /* GNU extensions (split DWARF, dwz); skippable, values unused. */
    DW_FORM_GNU_addr_index = 0x1f01, DW_FORM_GNU_str_index = 0x1f02,
    DW_FORM_GNU_ref_alt = 0x1f20, DW_FORM_GNU_strp_alt = 0x1f21,
};

/* ---- Sections and the cursor ----------------------------------------- */

typedef struct vm__dwsec {
    const char *name;     /* ".debug_info"... */
    const uint8_t *data;  /* borrowed from the module; NULL when absent */
    size_t len;
} vm__dwsec;

enum {
    VM_DWS_INFO, VM_DWS_ABBREV, VM_DWS_LINE, VM_DWS_STR, VM_DWS_LINE_STR,
    VM_DWS_STR_OFFSETS, VM_DWS_ADDR, VM_DWS_COUNT
};

struct vm__dwbuild;

typedef struct vm__dwcur {
    const vm__dwsec *sec;
    size_t pos, end; /* end <= sec->len */
    struct vm__dwbuild *b;
} vm__dwcur;

/* What a unit (or a line table) needs to read forms. */
typedef struct vm__dwunit_ctx {
    uint16_t version;
    uint8_t offset_size;   /* 4 or 8 */
    uint8_t addr_size;     /* 1..8 */
    uint64_t unit_offset;  /* of the unit header in .debug_info */
    uint64_t str_offsets_base;
    uint64_t addr_base;
} vm__dwunit_ctx;

/* Value classes of a form, as the reader interprets them. */
typedef enum vm__dwclass {
    VM_DWC_NONE,   /* skipped: value not usable here */
    VM_DWC_CONST,  /* u (and s for sdata / implicit_const) */
    VM_DWC_ADDR,   /* u = address (addr) */
    VM_DWC_ADDRX,  /* u = index into .debug_addr */
    VM_DWC_REF,    /* u = absolute .debug_info offset */
    VM_DWC_STR,    /* str, NUL-terminated inside its section */
    VM_DWC_STRX,   /* u = index into .debug_str_offsets */
    VM_DWC_BLOCK,  /* block, blen (block*, exprloc, data16) */
    VM_DWC_FLAG,   /* u = 0 / 1 */
    VM_DWC_SECOFF, /* u = offset into another section */
} vm__dwclass;

typedef struct vm__dwval {
    uint32_t attr, form;
    vm__dwclass cls;
    uint64_t u;
    int64_t s;
    const char *str;
    const uint8_t *block;
    size_t blen;
} vm__dwval;

/* ---- The object ------------------------------------------------------- */

struct vm_debug {
    uint32_t code_start, code_len;
    uint32_t nfuncs_imported, nfuncs_total;
    /* Defined functions' bodies as VM offsets (nfuncs_total -
     * nfuncs_imported entries each). */
    uint32_t *func_entry, *func_code, *func_end;
    uint32_t *func_sub; /* per index-space function: subprogram or NONE */

    char **files;
    uint32_t nfiles;

    vm_debug_row *rows;
    size_t nrows;
    vm_debug_row *steps;
    size_t nsteps;

    vm_debug_type *types;
    uint32_t ntypes;
    vm_debug_unit *units;
    uint32_t nunits;
    vm_debug_subprogram *subs; /* with code, sorted by low */
    uint32_t nsubs;
    vm_debug_var *vars;        /* params and vars of every sub */
    size_t nvars;

    /* Strings and expression bytes, copied from the sections. */
    struct vm__dwchunk *arena;
};

/* ---- Builder state ---------------------------------------------------- */

/* A u64 -> u32 hash map (section offset -> table index). */
typedef struct vm__dwmap {
    uint64_t *keys;
    uint32_t *vals;
    uint32_t cap, n; /* cap a power of 2, or 0 */
} vm__dwmap;

/* A line table, parsed once per .debug_line offset. */
typedef struct vm__dwtable {
    uint64_t offset;     /* in .debug_line */
    uint16_t version;
    uint32_t file_base;  /* raw index of files[0]: 1 before v5, 0 in v5 */
    uint32_t *files;     /* raw index - file_base -> vm_debug file index */
    uint32_t nfiles;
    size_t files_cap;
} vm__dwtable;

typedef struct vm__dwseq {
    size_t first, count; /* rows in the builder's row vector */
    uint32_t start;      /* address of the first row */
    size_t order;        /* discovery order, for a stable sort */
} vm__dwseq;

typedef struct vm__dwrawunit {
    vm_debug_unit pub;
    uint64_t stmt_list;  /* VM_DW_NO_DIE when absent */
    uint32_t table;      /* builder table index, or VM_DEBUG_NONE */
} vm__dwrawunit;

typedef struct vm__dwrawtype {
    uint64_t die;
    uint64_t target_die;
    vm_debug_type pub;
} vm__dwrawtype;

typedef struct vm__dwrawsub {
    uint64_t die;
    uint64_t origin_die; /* specification or abstract_origin */
    uint64_t type_die;
    uint64_t decl_file;  /* raw; VM_DW_NO_DIE when absent */
    uint32_t unit;
    bool has_low, has_high, high_is_offset, has_type;
    uint64_t low, high;
    vm_debug_subprogram pub; /* name, linkage, decl_line, external,
                                frame_base filled during the walk */
    uint32_t nparams, nvars; /* counted during the walk */
    uint32_t final;          /* index in d->subs, or NONE */
} vm__dwrawsub;

typedef struct vm__dwrawvar {
    uint64_t die;
    uint64_t origin_die;
    uint64_t type_die;
    uint64_t decl_file;
    uint32_t unit;
    uint32_t sub;        /* raw sub index */
    bool param;
    vm_debug_var pub;
} vm__dwrawvar;

typedef struct vm__dwabbrev_attr {
    uint32_t attr, form;
    int64_t implicit_const;
} vm__dwabbrev_attr;

typedef struct vm__dwabbrev {
    uint64_t code;
    uint32_t tag;
    bool children;
    uint32_t first_attr, nattrs; /* into the table's attrs */
} vm__dwabbrev;

typedef struct vm__dwabbrev_table {
    uint64_t offset;
    vm__dwabbrev *abbrevs; /* sorted by code */
    uint32_t nabbrevs;
    vm__dwabbrev_attr *attrs;
    uint32_t nattrs;
} vm__dwabbrev_table;

typedef struct vm__dwbuild {
    vm_debug *d;
    vm__dwsec sec[VM_DWS_COUNT];
    char *err;
    size_t errlen;

    /* File dedup: open addressing over d->files; capacity a power of 2. */
    uint32_t *file_hash;
    uint32_t file_hash_cap;
    uint32_t files_cap;

    vm__dwtable *tables;
    uint32_t ntables, tables_cap;
    vm__dwmap table_map; /* .debug_line offset -> tables index */
    vm_debug_row *rows;
    size_t nrows, rows_cap;
    vm__dwseq *seqs;
    size_t nseqs, seqs_cap;
    size_t dropped_seqs;

    vm__dwrawunit *units;
    uint32_t nunits, units_cap;
    vm__dwrawtype *types;
    uint32_t ntypes, types_cap;
    vm__dwrawsub *subs;
    uint32_t nsubs, subs_cap;
    vm__dwrawvar *vars;
    uint32_t nvars, vars_cap;
    vm__dwabbrev_table *abbrev_tables;
    uint32_t nabbrev_tables, abbrev_tables_cap;
    vm__dwmap abbrev_map; /* .debug_abbrev offset -> abbrev_tables index */
} vm__dwbuild;

/* ---- dwarf.c: errors, cursor, arena, files ---------------------------- */

int vm__dw_fail(vm__dwbuild *b, int code, const vm__dwsec *sec, size_t pos,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));
int vm__dw_nomem(vm__dwbuild *b);
/* Grow *arr (elements of size elem) to hold at least need; limit caps the
 * count (VM_ERR_LIMIT naming what). */
int vm__dw_reserve(vm__dwbuild *b, void **arr, size_t *cap, size_t need,
                   size_t elem, size_t limit, const char *what);

void vm__dw_cursor(vm__dwcur *c, vm__dwbuild *b, const vm__dwsec *sec,
                   size_t pos, size_t end);
int vm__dw_u8(vm__dwcur *c, uint8_t *v);
int vm__dw_u16(vm__dwcur *c, uint16_t *v);
int vm__dw_u32(vm__dwcur *c, uint32_t *v);
int vm__dw_un(vm__dwcur *c, unsigned n, uint64_t *v); /* n in 1..8 */
int vm__dw_uleb(vm__dwcur *c, uint64_t *v);
int vm__dw_sleb(vm__dwcur *c, int64_t *v);
int vm__dw_skip(vm__dwcur *c, uint64_t n);
/* A NUL-terminated string at the cursor; the NUL must lie before end. */
int vm__dw_cstr(vm__dwcur *c, const char **s);
/* A unit length: 32-bit, or 0xffffffff then 64-bit. Sets *offset_size. */
int vm__dw_unit_length(vm__dwcur *c, uint64_t *len, uint8_t *offset_size);

/* The string at offset off of section s (NUL inside the section), or an
 * error. */
int vm__dw_str_at(vm__dwbuild *b, int s, uint64_t off, const char **out);
/* Read one attribute value of form `form` (DW_FORM_indirect resolved, at
 * most VM_DW_MAX_INDIRECT levels). u may be NULL outside .debug_info (line
 * tables): reference and index forms are then read and left NONE. */
int vm__dw_form(vm__dwcur *c, const vm__dwunit_ctx *u, uint32_t form,
                int64_t implicit_const, vm__dwval *out);
/* A string value (STR, or STRX through .debug_str_offsets): *out is
 * NULL for a value of another class. An index outside the section is
 * malformed. */
int vm__dw_val_str(vm__dwbuild *b, const vm__dwunit_ctx *u,
                   const vm__dwval *v, const char **out);
/* An address value (ADDR, or ADDRX through .debug_addr); any other class
 * or an index outside the section is malformed. */
int vm__dw_val_addr(vm__dwbuild *b, const vm__dwunit_ctx *u,
                    const vm__dwval *v, uint64_t *addr);

bool vm__dwmap_get(const vm__dwmap *map, uint64_t key, uint32_t *val);
int vm__dwmap_put(vm__dwbuild *b, vm__dwmap *map, uint64_t key,
                  uint32_t val);
void vm__dwmap_free(vm__dwmap *map);

/* Arena copies; NULL only on out of memory (s NULL gives NULL too). */
char *vm__dw_strdup(vm__dwbuild *b, const char *s);
void *vm__dw_memdup(vm__dwbuild *b, const void *p, size_t n);
/* Intern a path in the file table: *idx gets its index. */
int vm__dw_file(vm__dwbuild *b, const char *path, uint32_t *idx);

/* ---- dwarf_line.c ------------------------------------------------------ */

/* Parse the line table at .debug_line offset off (once: a second call
 * returns the same table, whatever its comp_dir), with comp_dir from its
 * unit (may be NULL). *next gets the offset after the table.
 * *table gets the builder's table index. */
int vm__dw_line_table(vm__dwbuild *b, uint64_t off, const char *comp_dir,
                      uint32_t *table, uint64_t *next);
/* Sort the sequences into d->rows and build d->steps. */
int vm__dw_line_finish(vm__dwbuild *b);

/* ---- dwarf_info.c ------------------------------------------------------ */

/* Walk .debug_info: units, types, subprograms, variables (raw). */
int vm__dw_info(vm__dwbuild *b);
/* Resolve references and publish units, types and subprograms into d
 * (after the line tables, for decl_file). */
int vm__dw_info_finish(vm__dwbuild *b);

#endif /* TRACED_VM_DWARF_INT_H */
