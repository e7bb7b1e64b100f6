/*
 * DWARF .debug_line: the line-number program (DWARF 2 to 5, 32- and
 * 64-bit), run as the standard describes (section 6.2): header, directory
 * and file tables (v2-4 string lists, v5 entry formats), then standard,
 * extended and special opcodes driving the state machine, each row
 * appended to its sequence.
 *
 * Sequences are checked as they end: one whose addresses go backwards or
 * leave the Code section (the tombstones wasm-ld writes for dropped
 * functions), or that covers no bytes, is dropped whole. vm__dw_line_finish
 * sorts the rest by start address, drops any that overlaps the one before
 * it (so rows are sorted for binary search), and derives the step points.
 */
#include <stdlib.h>
#include <string.h>

#include "dwarf_int.h"

enum {
    DW_LNS_copy = 1, DW_LNS_advance_pc, DW_LNS_advance_line,
    DW_LNS_set_file, DW_LNS_set_column, DW_LNS_negate_stmt,
    DW_LNS_set_basic_block, DW_LNS_const_add_pc, DW_LNS_fixed_advance_pc,
    DW_LNS_set_prologue_end, DW_LNS_set_epilogue_begin, DW_LNS_set_isa,
};
enum {
    DW_LNE_end_sequence = 1, DW_LNE_set_address, DW_LNE_define_file,
    DW_LNE_set_discriminator,
};
enum {
    DW_LNCT_path = 1, DW_LNCT_directory_index, DW_LNCT_timestamp,
    DW_LNCT_size, DW_LNCT_MD5,
};

/* Addresses saturate here: far outside any Code section, so a sequence
 * that reaches it is dropped, and sums never wrap. */
#define ADDRESS_CAP ((uint64_t)1 << 40)

typedef struct header {
    uint16_t version;
    uint8_t offset_size;
    uint8_t min_inst_length, max_ops, default_is_stmt, line_range;
    uint8_t opcode_base;
    int8_t line_base;
    const uint8_t *std_lengths; /* opcode_base - 1 entries */
    size_t program, end;        /* section offsets */
    const char *comp_dir;
    char **dirs;                /* resolved directory strings (malloc) */
    uint32_t ndirs;
} header;

typedef struct state {
    uint64_t address;
    uint32_t op_index, file, line, column, discriminator;
    bool is_stmt, end_sequence, prologue_end, epilogue_begin;
    size_t seq_first; /* first row of the current sequence */
    bool seq_bad;     /* went backwards or left the Code section */
} state;

static bool is_absolute(const char *p)
{
    return p[0] == '/' || p[0] == '\\' ||
           (((p[0] | 0x20) >= 'a' && (p[0] | 0x20) <= 'z') && p[1] == ':' &&
            (p[2] == '/' || p[2] == '\\'));
}

/* Append component s to buf (length *n), with a '/' unless buf is empty
 * or already ends in one (LLVM's sys::path::append, which llvm-dwarfdump
 * prints). */
static int append(vm__dwbuild *b, char *buf, size_t *n, const char *s)
{
    size_t len = strlen(s);

    if (!len)
        return 0;
    if (*n && buf[*n - 1] != '/' && buf[*n - 1] != '\\') {
        if (*n + 1 >= VM_DEBUG_MAX_PATH)
            goto too_long;
        buf[(*n)++] = '/';
    }
    if (*n + len >= VM_DEBUG_MAX_PATH)
        goto too_long;
    memcpy(buf + *n, s, len + 1);
    *n += len;
    return 0;
too_long:
    return vm__dw_fail(b, VM_ERR_LIMIT, NULL, 0,
                       "a file path is longer than %u bytes",
                       VM_DEBUG_MAX_PATH);
}

/*
 * The full path of file `name` in directory entry dir_idx, as LLVM
 * resolves it: an absolute name stands alone; otherwise the directory
 * (v2-4: index 0 is the unit's directory, k the (k-1)th include
 * directory; v5: index k is entry k, entry 0 being the unit's directory)
 * and, when that is relative and not v5's entry 0, comp_dir before it.
 * An index out of range contributes no directory.
 */
static int add_file(vm__dwbuild *b, const header *h, vm__dwtable *t,
                    const char *name, uint64_t dir_idx)
{
    char buf[VM_DEBUG_MAX_PATH];
    const char *dir = "";
    size_t n = 0;
    uint32_t idx;
    int rc;

    buf[0] = '\0';
    if (h->version >= 5) {
        if (dir_idx < h->ndirs)
            dir = h->dirs[dir_idx];
    } else if (dir_idx > 0 && dir_idx <= h->ndirs) {
        dir = h->dirs[dir_idx - 1];
    }
    if (!is_absolute(name)) {
        if ((h->version < 5 || dir_idx != 0) && h->comp_dir &&
            !is_absolute(dir) && (rc = append(b, buf, &n, h->comp_dir)) < 0)
            return rc;
        if ((rc = append(b, buf, &n, dir)) < 0)
            return rc;
    }
    if ((rc = append(b, buf, &n, name)) < 0)
        return rc;
    if ((rc = vm__dw_file(b, buf, &idx)) < 0)
        return rc;
    if ((rc = vm__dw_reserve(b, (void **)&t->files, &t->files_cap,
                             (size_t)t->nfiles + 1, sizeof *t->files,
                             VM_DEBUG_MAX_FILES, "files in a line table")) < 0)
        return rc;
    t->files[t->nfiles++] = idx;
    return 0;
}

/* v2-4 directory and file lists. */
static int v4_tables(vm__dwcur *c, header *h, vm__dwtable *t)
{
    const char *s;
    int rc;

    for (;;) {
        if ((rc = vm__dw_cstr(c, &s)) < 0)
            return rc;
        if (!*s)
            break;
        if (h->ndirs >= VM_DEBUG_MAX_FILES)
            return vm__dw_fail(c->b, VM_ERR_LIMIT, c->sec, c->pos,
                               "too many include directories");
        char **dirs = vm__realloc(h->dirs, (h->ndirs + 1) * sizeof *dirs);
        if (!dirs)
            return vm__dw_nomem(c->b);
        h->dirs = dirs;
        if (!(h->dirs[h->ndirs] = vm__strndup(s, strlen(s))))
            return vm__dw_nomem(c->b);
        h->ndirs++;
    }
    for (;;) {
        uint64_t dir, ignored;
        if ((rc = vm__dw_cstr(c, &s)) < 0)
            return rc;
        if (!*s)
            break;
        if ((rc = vm__dw_uleb(c, &dir)) < 0 ||
            (rc = vm__dw_uleb(c, &ignored)) < 0 || /* mtime */
            (rc = vm__dw_uleb(c, &ignored)) < 0 || /* length */
            (rc = add_file(c->b, h, t, s, dir)) < 0)
            return rc;
    }
    return 0;
}

/* One v5 entry list (directories when dirs, else files). */
static int v5_entries(vm__dwcur *c, const vm__dwunit_ctx *u, header *h,
                      vm__dwtable *t, bool dirs)
{
    uint8_t nformats;
    uint64_t formats[2 * 255], count;
    vm__dwval v;
    int rc;

    if ((rc = vm__dw_u8(c, &nformats)) < 0)
        return rc;
    for (unsigned i = 0; i < nformats; i++)
        if ((rc = vm__dw_uleb(c, &formats[2 * i])) < 0 ||
            (rc = vm__dw_uleb(c, &formats[2 * i + 1])) < 0)
            return rc;
    if ((rc = vm__dw_uleb(c, &count)) < 0)
        return rc;
    if (count > VM_DEBUG_MAX_FILES)
        return vm__dw_fail(c->b, VM_ERR_LIMIT, c->sec, c->pos,
                           "%llu %s entries (the reader's limit is %u)",
                           (unsigned long long)count,
                           dirs ? "directory" : "file", VM_DEBUG_MAX_FILES);
    if (dirs && count) {
        h->dirs = vm__calloc((size_t)count, sizeof *h->dirs);
        if (!h->dirs)
            return vm__dw_nomem(c->b);
    }
    for (uint64_t e = 0; e < count; e++) {
        const char *path = NULL;
        uint64_t dir = 0;
        size_t at = c->pos;

        for (unsigned i = 0; i < nformats; i++) {
            if (formats[2 * i + 1] > UINT32_MAX)
                return vm__dw_fail(c->b, VM_ERR_MALFORMED, c->sec, c->pos,
                                   "unknown form 0x%llx",
                                   (unsigned long long)formats[2 * i + 1]);
            if ((rc = vm__dw_form(c, u, (uint32_t)formats[2 * i + 1], 0,
                                  &v)) < 0)
                return rc;
            if (formats[2 * i] == DW_LNCT_path) {
                if (v.cls != VM_DWC_STR)
                    return vm__dw_fail(c->b, VM_ERR_MALFORMED, c->sec, at,
                                       "unsupported form 0x%x for a path",
                                       v.form);
                path = v.str;
            } else if (formats[2 * i] == DW_LNCT_directory_index) {
                if (v.cls != VM_DWC_CONST)
                    return vm__dw_fail(c->b, VM_ERR_MALFORMED, c->sec, at,
                                       "unsupported form 0x%x for a "
                                       "directory index",
                                       v.form);
                dir = v.u;
            }
        }
        if (!path)
            return vm__dw_fail(c->b, VM_ERR_MALFORMED, c->sec, at,
                               "%s entry without a path",
                               dirs ? "directory" : "file");
        if (dirs) {
            if (!(h->dirs[e] = vm__strndup(path, strlen(path))))
                return vm__dw_nomem(c->b);
            h->ndirs++;
        } else if ((rc = add_file(c->b, h, t, path, dir)) < 0) {
            return rc;
        }
    }
    return 0;
}

static int parse_header(vm__dwbuild *b, vm__dwcur *c, header *h,
                        vm__dwtable *t)
{
    vm__dwunit_ctx u = {.unit_offset = VM_DW_NO_DIE, .addr_size = 4};
    uint64_t len, header_length;
    uint8_t byte;
    int rc;

    if ((rc = vm__dw_unit_length(c, &len, &h->offset_size)) < 0)
        return rc;
    if (len > c->end - c->pos)
        return vm__dw_fail(b, VM_ERR_MALFORMED, c->sec, c->pos,
                           "line table length 0x%llx runs past the section",
                           (unsigned long long)len);
    h->end = c->pos + (size_t)len;
    c->end = h->end;
    if ((rc = vm__dw_u16(c, &h->version)) < 0)
        return rc;
    if (h->version < 2 || h->version > 5)
        return vm__dw_fail(b, VM_ERR_MALFORMED, c->sec, c->pos - 2,
                           "unsupported line table version %u", h->version);
    t->version = h->version;
    t->file_base = h->version >= 5 ? 0 : 1;
    if (h->version >= 5) {
        if ((rc = vm__dw_u8(c, &u.addr_size)) < 0 ||
            (rc = vm__dw_u8(c, &byte)) < 0) /* segment selector size */
            return rc;
    }
    if ((rc = vm__dw_un(c, h->offset_size, &header_length)) < 0)
        return rc;
    if (header_length > c->end - c->pos)
        return vm__dw_fail(b, VM_ERR_MALFORMED, c->sec, c->pos,
                           "header_length 0x%llx runs past the table",
                           (unsigned long long)header_length);
    h->program = c->pos + (size_t)header_length;
    c->end = h->program; /* the header cannot read into the program */
    if ((rc = vm__dw_u8(c, &h->min_inst_length)) < 0)
        return rc;
    h->max_ops = 1;
    if (h->version >= 4 && (rc = vm__dw_u8(c, &h->max_ops)) < 0)
        return rc;
    if ((rc = vm__dw_u8(c, &h->default_is_stmt)) < 0 ||
        (rc = vm__dw_u8(c, &byte)) < 0)
        return rc;
    h->line_base = (int8_t)byte;
    if ((rc = vm__dw_u8(c, &h->line_range)) < 0 ||
        (rc = vm__dw_u8(c, &h->opcode_base)) < 0)
        return rc;
    if (h->max_ops == 0 || h->line_range == 0 || h->opcode_base == 0)
        return vm__dw_fail(b, VM_ERR_MALFORMED, c->sec, c->pos,
                           "line table header with maximum_operations_per_"
                           "instruction %u, line_range %u, opcode_base %u "
                           "(none may be 0)",
                           h->max_ops, h->line_range, h->opcode_base);
    h->std_lengths = c->sec->data + c->pos;
    if ((rc = vm__dw_skip(c, h->opcode_base - 1u)) < 0)
        return rc;
    u.version = h->version;
    u.offset_size = h->offset_size;
    if (h->version >= 5) {
        if ((rc = v5_entries(c, &u, h, t, true)) < 0 ||
            (rc = v5_entries(c, &u, h, t, false)) < 0)
            return rc;
    } else if ((rc = v4_tables(c, h, t)) < 0) {
        return rc;
    }
    c->pos = h->program;
    c->end = h->end;
    return 0;
}

static void reset(state *s, const header *h, size_t nrows)
{
    memset(s, 0, sizeof *s);
    s->file = 1;
    s->line = 1;
    s->is_stmt = h->default_is_stmt != 0;
    s->seq_first = nrows;
}

static void advance(state *s, const header *h, uint64_t op_advance)
{
    uint64_t delta;

    if (op_advance > UINT32_MAX) {
        s->address = ADDRESS_CAP;
        return;
    }
    if (h->max_ops == 1) {
        delta = h->min_inst_length * op_advance;
    } else {
        delta = h->min_inst_length * ((s->op_index + op_advance) / h->max_ops);
        s->op_index = (uint32_t)((s->op_index + op_advance) % h->max_ops);
    }
    s->address = s->address + delta >= ADDRESS_CAP ? ADDRESS_CAP
                                                    : s->address + delta;
}

static int emit(vm__dwbuild *b, state *s, const vm__dwtable *t)
{
    vm_debug_row *r;
    int rc;

    if ((rc = vm__dw_reserve(b, (void **)&b->rows, &b->rows_cap,
                             b->nrows + 1, sizeof *b->rows,
                             VM_DEBUG_MAX_ROWS, "line rows")) < 0)
        return rc;
    if (s->address > b->d->code_len ||
        (b->nrows > s->seq_first && s->address < b->rows[b->nrows - 1].address))
        s->seq_bad = true;
    r = &b->rows[b->nrows++];
    r->address = (uint32_t)s->address;
    r->offset = b->d->code_start + r->address;
    r->file = s->file >= t->file_base && s->file - t->file_base < t->nfiles
                  ? t->files[s->file - t->file_base]
                  : VM_DEBUG_NONE;
    r->line = s->line;
    r->column = s->column;
    r->discriminator = s->discriminator;
    r->is_stmt = s->is_stmt;
    r->end_sequence = s->end_sequence;
    r->prologue_end = s->prologue_end;
    r->epilogue_begin = s->epilogue_begin;
    s->discriminator = 0;
    s->prologue_end = s->epilogue_begin = false;
    return 0;
}

/* The sequence just ended: keep it, or drop its rows. */
static int end_sequence(vm__dwbuild *b, state *s)
{
    size_t count = b->nrows - s->seq_first;
    int rc;

    if (s->seq_bad || count < 2 ||
        b->rows[s->seq_first].address == b->rows[b->nrows - 1].address) {
        b->nrows = s->seq_first;
        b->dropped_seqs++;
        return 0;
    }
    if ((rc = vm__dw_reserve(b, (void **)&b->seqs, &b->seqs_cap,
                             b->nseqs + 1, sizeof *b->seqs,
                             VM_DEBUG_MAX_ROWS, "line sequences")) < 0)
        return rc;
    b->seqs[b->nseqs] = (vm__dwseq){.first = s->seq_first,
                                    .count = count,
                                    .start = b->rows[s->seq_first].address,
                                    .order = b->nseqs};
    b->nseqs++;
    return 0;
}

static int extended(vm__dwcur *c, header *h, state *s, vm__dwtable *t)
{
    vm__dwbuild *b = c->b;
    size_t at = c->pos - 1, op_end;
    uint64_t len, v;
    uint8_t sub;
    int rc;

    if ((rc = vm__dw_uleb(c, &len)) < 0)
        return rc;
    if (len == 0 || len > c->end - c->pos)
        return vm__dw_fail(b, VM_ERR_MALFORMED, c->sec, at,
                           "extended opcode length %llu",
                           (unsigned long long)len);
    op_end = c->pos + (size_t)len;
    if ((rc = vm__dw_u8(c, &sub)) < 0)
        return rc;
    switch (sub) {
    case DW_LNE_end_sequence:
        s->end_sequence = true;
        if ((rc = emit(b, s, t)) < 0 || (rc = end_sequence(b, s)) < 0)
            return rc;
        reset(s, h, b->nrows);
        break;
    case DW_LNE_set_address:
        if (len - 1 < 1 || len - 1 > 8)
            return vm__dw_fail(b, VM_ERR_MALFORMED, c->sec, at,
                               "DW_LNE_set_address with a %llu-byte "
                               "operand",
                               (unsigned long long)(len - 1));
        if ((rc = vm__dw_un(c, (unsigned)(len - 1), &v)) < 0)
            return rc;
        s->address = v < ADDRESS_CAP ? v : ADDRESS_CAP;
        s->op_index = 0;
        break;
    case DW_LNE_define_file: {
        const char *name;
        uint64_t dir, ignored;
        if ((rc = vm__dw_cstr(c, &name)) < 0 ||
            (rc = vm__dw_uleb(c, &dir)) < 0 ||
            (rc = vm__dw_uleb(c, &ignored)) < 0 ||
            (rc = vm__dw_uleb(c, &ignored)) < 0 ||
            (rc = add_file(b, h, t, name, dir)) < 0)
            return rc;
        break;
    }
    case DW_LNE_set_discriminator:
        if ((rc = vm__dw_uleb(c, &v)) < 0)
            return rc;
        s->discriminator = (uint32_t)v;
        break;
    default: /* vendor extensions: skipped by their length */
        break;
    }
    if (c->pos > op_end)
        return vm__dw_fail(b, VM_ERR_MALFORMED, c->sec, at,
                           "extended opcode 0x%x reads past its length %llu",
                           sub, (unsigned long long)len);
    c->pos = op_end;
    return 0;
}

static int run_program(vm__dwcur *c, header *h, vm__dwtable *t)
{
    vm__dwbuild *b = c->b;
    state s;
    uint64_t v;
    int64_t sv;
    uint16_t u16;
    uint8_t op;
    int rc;

    reset(&s, h, b->nrows);
    while (c->pos < c->end) {
        if ((rc = vm__dw_u8(c, &op)) < 0)
            return rc;
        if (op >= h->opcode_base) {
            unsigned adjusted = op - h->opcode_base;
            advance(&s, h, adjusted / h->line_range);
            s.line += (uint32_t)(h->line_base + (int)(adjusted % h->line_range));
            if ((rc = emit(b, &s, t)) < 0)
                return rc;
            continue;
        }
        switch (op) {
        case 0:
            rc = extended(c, h, &s, t);
            break;
        case DW_LNS_copy:
            rc = emit(b, &s, t);
            break;
        case DW_LNS_advance_pc:
            if ((rc = vm__dw_uleb(c, &v)) == 0)
                advance(&s, h, v);
            break;
        case DW_LNS_advance_line:
            if ((rc = vm__dw_sleb(c, &sv)) == 0)
                s.line += (uint32_t)sv; /* wraps, as LLVM's does */
            break;
        case DW_LNS_set_file:
            if ((rc = vm__dw_uleb(c, &v)) == 0)
                s.file = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
            break;
        case DW_LNS_set_column:
            if ((rc = vm__dw_uleb(c, &v)) == 0)
                s.column = (uint32_t)v;
            break;
        case DW_LNS_negate_stmt:
            s.is_stmt = !s.is_stmt;
            break;
        case DW_LNS_set_basic_block:
            break;
        case DW_LNS_const_add_pc:
            advance(&s, h, (255u - h->opcode_base) / h->line_range);
            break;
        case DW_LNS_fixed_advance_pc:
            if ((rc = vm__dw_u16(c, &u16)) == 0) {
                s.address = s.address + u16 >= ADDRESS_CAP
                                ? ADDRESS_CAP
                                : s.address + u16;
                s.op_index = 0;
            }
            break;
        case DW_LNS_set_prologue_end:
            s.prologue_end = true;
            break;
        case DW_LNS_set_epilogue_begin:
            s.epilogue_begin = true;
            break;
        case DW_LNS_set_isa:
            rc = vm__dw_uleb(c, &v);
            break;
        default: /* a standard opcode this reader does not know */
            for (unsigned i = 0; i < h->std_lengths[op - 1] && rc == 0; i++)
                rc = vm__dw_uleb(c, &v);
            break;
        }
        if (rc < 0)
            return rc;
    }
    /* An unterminated last sequence has no end address: dropped. */
    if (b->nrows > s.seq_first) {
        b->nrows = s.seq_first;
        b->dropped_seqs++;
    }
    return 0;
}

int vm__dw_line_table(vm__dwbuild *b, uint64_t off, const char *comp_dir,
                      uint32_t *table, uint64_t *next)
{
    const vm__dwsec *sec = &b->sec[VM_DWS_LINE];
    header h;
    vm__dwtable *t;
    vm__dwcur c;
    size_t cap = b->tables_cap;
    uint32_t idx;
    int rc;

    if (vm__dwmap_get(&b->table_map, off, table)) {
        *next = off; /* not used for a repeated table */
        return 0;
    }
    if (off >= sec->len)
        return vm__dw_fail(b, VM_ERR_MALFORMED, sec, 0,
                           "line table offset 0x%llx outside the section "
                           "(%zu bytes)",
                           (unsigned long long)off, sec->len);
    if ((rc = vm__dw_reserve(b, (void **)&b->tables, &cap, b->ntables + 1,
                             sizeof *b->tables, VM_DEBUG_MAX_UNITS,
                             "line tables")) < 0)
        return rc;
    b->tables_cap = (uint32_t)cap;
    idx = b->ntables++;
    t = &b->tables[idx];
    memset(t, 0, sizeof *t);
    t->offset = off;
    if ((rc = vm__dwmap_put(b, &b->table_map, off, idx)) < 0)
        return rc;

    memset(&h, 0, sizeof h);
    h.comp_dir = comp_dir;
    vm__dw_cursor(&c, b, sec, (size_t)off, sec->len);
    rc = parse_header(b, &c, &h, t);
    if (rc == 0)
        rc = run_program(&c, &h, t);
    for (uint32_t i = 0; i < h.ndirs; i++)
        vm__free(h.dirs[i]);
    vm__free(h.dirs);
    if (rc < 0)
        return rc;
    *table = idx;
    *next = h.end;
    return 0;
}

static int seq_cmp(const void *a, const void *b)
{
    const vm__dwseq *x = a, *y = b;

    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

int vm__dw_line_finish(vm__dwbuild *b)
{
    vm_debug *d = b->d;
    size_t n = 0, nsteps = 0;
    uint32_t covered = 0; /* end of the last kept sequence */

    if (b->nseqs == 0)
        return 0;
    qsort(b->seqs, b->nseqs, sizeof *b->seqs, seq_cmp);
    d->rows = vm__malloc(b->nrows * sizeof *d->rows);
    if (!d->rows)
        return vm__dw_nomem(b);
    for (size_t i = 0; i < b->nseqs; i++) {
        const vm__dwseq *q = &b->seqs[i];
        if (n > 0 && q->start < covered) { /* overlaps: ambiguous */
            b->dropped_seqs++;
            continue;
        }
        memcpy(d->rows + n, b->rows + q->first, q->count * sizeof *d->rows);
        n += q->count;
        covered = d->rows[n - 1].address;
    }
    d->nrows = n;

    for (size_t i = 0; i < n; i++)
        if (d->rows[i].is_stmt && !d->rows[i].end_sequence)
            nsteps++;
    d->steps = vm__malloc((nsteps ? nsteps : 1) * sizeof *d->steps);
    if (!d->steps)
        return vm__dw_nomem(b);
    for (size_t i = 0; i < n; i++) {
        const vm_debug_row *r = &d->rows[i];
        if (!r->is_stmt || r->end_sequence)
            continue;
        if (d->nsteps && d->steps[d->nsteps - 1].offset == r->offset)
            d->steps[d->nsteps - 1] = *r; /* the last one is in effect */
        else
            d->steps[d->nsteps++] = *r;
    }
    return 0;
}
