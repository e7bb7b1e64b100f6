/*
 * DWARF .debug_info and .debug_abbrev (DWARF 2 to 5, 32- and 64-bit):
 * unit headers, abbreviation tables and the DIE trees.
 *
 * The walk is iterative: a DIE's children follow it, a null entry closes
 * the innermost open DIE, and an explicit stack (VM_DEBUG_MAX_DEPTH)
 * remembers what each open DIE is, so no input can recurse the reader.
 * Every attribute of every DIE is read by its form (the form reader
 * knows every DWARF 5 form and the GNU ones), so DIEs the reader does not
 * record are skipped exactly.
 *
 * Recorded, in DIE order: units (first DIE), types, subprograms, their
 * formal parameters (direct children) and variables (any depth below the
 * subprogram, through lexical blocks; not inside inlined subroutines or
 * nested subprograms). References between DIEs are kept as .debug_info
 * offsets during the walk (they may point forward) and resolved in
 * vm__dw_info_finish by binary search: DIE offsets grow along the walk, so
 * every recorded array is already sorted by offset.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dwarf_int.h"

enum { DW_UT_compile = 1, DW_UT_type, DW_UT_partial, DW_UT_skeleton,
       DW_UT_split_compile, DW_UT_split_type };

enum { DW_AT_GNU_addr_base = 0x2133 };

/* ---- Abbreviations ------------------------------------------------------ */

static int abbrev_cmp(const void *a, const void *b)
{
    const vm__dwabbrev *x = a, *y = b;

    return x->code < y->code ? -1 : x->code > y->code;
}

static int parse_abbrevs(vm__dwbuild *b, vm__dwabbrev_table *t)
{
    const vm__dwsec *sec = &b->sec[VM_DWS_ABBREV];
    size_t cap = 0, attrs_cap = 0;
    bool sorted = true;
    vm__dwcur c;
    int rc;

    if (!sec->data || t->offset >= sec->len)
        return vm__dw_fail(b, VM_ERR_MALFORMED, sec, 0,
                           "abbreviation table offset 0x%llx outside the "
                           "section (%zu bytes)",
                           (unsigned long long)t->offset,
                           sec->data ? sec->len : 0);
    vm__dw_cursor(&c, b, sec, (size_t)t->offset, sec->len);
    for (;;) {
        vm__dwabbrev *a;
        uint64_t code, tag, attr, form;
        uint8_t children;
        size_t at = c.pos;

        if ((rc = vm__dw_uleb(&c, &code)) < 0)
            return rc;
        if (code == 0)
            break;
        if ((rc = vm__dw_reserve(b, (void **)&t->abbrevs, &cap,
                                 (size_t)t->nabbrevs + 1, sizeof *t->abbrevs,
                                 VM_DEBUG_MAX_ENTRIES, "abbreviations")) < 0)
            return rc;
        a = &t->abbrevs[t->nabbrevs];
        if ((rc = vm__dw_uleb(&c, &tag)) < 0 ||
            (rc = vm__dw_u8(&c, &children)) < 0)
            return rc;
        if (t->nabbrevs && code <= t->abbrevs[t->nabbrevs - 1].code)
            sorted = false;
        a->code = code;
        a->tag = tag > UINT32_MAX ? UINT32_MAX : (uint32_t)tag;
        a->children = children != 0;
        a->first_attr = t->nattrs;
        a->nattrs = 0;
        t->nabbrevs++;
        for (;;) {
            vm__dwabbrev_attr *s;
            if ((rc = vm__dw_uleb(&c, &attr)) < 0 ||
                (rc = vm__dw_uleb(&c, &form)) < 0)
                return rc;
            if (attr == 0 && form == 0)
                break;
            if (a->nattrs >= VM_DEBUG_MAX_ATTRS)
                return vm__dw_fail(b, VM_ERR_LIMIT, sec, at,
                                   "abbreviation %llu has more than %u "
                                   "attributes",
                                   (unsigned long long)code,
                                   VM_DEBUG_MAX_ATTRS);
            if ((rc = vm__dw_reserve(b, (void **)&t->attrs, &attrs_cap,
                                     (size_t)t->nattrs + 1, sizeof *t->attrs,
                                     VM_DEBUG_MAX_ENTRIES,
                                     "abbreviation attributes")) < 0)
                return rc;
            s = &t->attrs[t->nattrs];
            s->attr = attr > UINT32_MAX ? UINT32_MAX : (uint32_t)attr;
            s->form = form > UINT32_MAX ? UINT32_MAX : (uint32_t)form;
            s->implicit_const = 0;
            if (form == DW_FORM_implicit_const &&
                (rc = vm__dw_sleb(&c, &s->implicit_const)) < 0)
                return rc;
            t->nattrs++;
            a->nattrs++;
        }
    }
    if (!sorted)
        qsort(t->abbrevs, t->nabbrevs, sizeof *t->abbrevs, abbrev_cmp);
    for (uint32_t i = 1; i < t->nabbrevs; i++)
        if (t->abbrevs[i].code == t->abbrevs[i - 1].code)
            return vm__dw_fail(b, VM_ERR_MALFORMED, sec, (size_t)t->offset,
                               "abbreviation code %llu defined twice",
                               (unsigned long long)t->abbrevs[i].code);
    return 0;
}

static int abbrev_table(vm__dwbuild *b, uint64_t off,
                        const vm__dwabbrev_table **out)
{
    size_t cap = b->abbrev_tables_cap;
    uint32_t idx;
    vm__dwabbrev_table *t;
    int rc;

    if (vm__dwmap_get(&b->abbrev_map, off, &idx)) {
        *out = &b->abbrev_tables[idx];
        return 0;
    }
    if ((rc = vm__dw_reserve(b, (void **)&b->abbrev_tables, &cap,
                             (size_t)b->nabbrev_tables + 1,
                             sizeof *b->abbrev_tables, VM_DEBUG_MAX_UNITS,
                             "abbreviation tables")) < 0)
        return rc;
    b->abbrev_tables_cap = (uint32_t)cap;
    idx = b->nabbrev_tables++;
    t = &b->abbrev_tables[idx];
    memset(t, 0, sizeof *t);
    t->offset = off;
    if ((rc = vm__dwmap_put(b, &b->abbrev_map, off, idx)) < 0 ||
        (rc = parse_abbrevs(b, t)) < 0)
        return rc;
    *out = t;
    return 0;
}

static const vm__dwabbrev *find_abbrev(const vm__dwabbrev_table *t,
                                       uint64_t code)
{
    uint32_t lo = 0, hi = t->nabbrevs;

    /* Producers number abbreviations 1, 2, 3...: try that first. */
    if (code - 1 < t->nabbrevs && t->abbrevs[code - 1].code == code)
        return &t->abbrevs[code - 1];
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (t->abbrevs[mid].code < code)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < t->nabbrevs && t->abbrevs[lo].code == code ? &t->abbrevs[lo]
                                                           : NULL;
}

/* ---- Recording ------------------------------------------------------------ */

/* One DIE's attribute values, read by its abbreviation. */
typedef struct die {
    uint64_t offset;
    uint32_t tag;
    uint32_t nvals;
    vm__dwval vals[VM_DEBUG_MAX_ATTRS];
} die;

static const vm__dwval *attr(const die *e, uint32_t at)
{
    for (uint32_t i = 0; i < e->nvals; i++)
        if (e->vals[i].attr == at)
            return &e->vals[i];
    return NULL;
}

/* The attribute's string copied into the arena, or NULL when absent. */
static int attr_str(vm__dwbuild *b, const vm__dwunit_ctx *u, const die *e,
                    uint32_t at, const char **out)
{
    const vm__dwval *v = attr(e, at);
    const char *s;
    int rc;

    *out = NULL;
    if (!v)
        return 0;
    if ((rc = vm__dw_val_str(b, u, v, &s)) < 0)
        return rc;
    if (s && !(*out = vm__dw_strdup(b, s)))
        return vm__dw_nomem(b);
    return 0;
}

static uint64_t attr_const(const die *e, uint32_t at, uint64_t dflt)
{
    const vm__dwval *v = attr(e, at);

    return v && (v->cls == VM_DWC_CONST || v->cls == VM_DWC_FLAG) ? v->u
                                                                  : dflt;
}

static uint64_t attr_ref(const die *e, uint32_t at)
{
    const vm__dwval *v = attr(e, at);

    return v && v->cls == VM_DWC_REF ? v->u : VM_DW_NO_DIE;
}

/* An expression attribute (exprloc or block form) copied, else NULL. */
static int attr_expr(vm__dwbuild *b, const die *e, uint32_t at,
                     const uint8_t **out, uint32_t *len)
{
    const vm__dwval *v = attr(e, at);

    *out = NULL;
    *len = 0;
    if (!v || v->cls != VM_DWC_BLOCK || v->form == DW_FORM_data16)
        return 0;
    if (v->blen > UINT32_MAX)
        return vm__dw_fail(b, VM_ERR_LIMIT, NULL, 0, "expression too long");
    if (!(*out = vm__dw_memdup(b, v->block, v->blen)))
        return vm__dw_nomem(b);
    *len = (uint32_t)v->blen;
    return 0;
}

static int record_unit(vm__dwbuild *b, vm__dwunit_ctx *u, const die *e,
                       uint64_t unit_offset)
{
    size_t cap = b->units_cap;
    const vm__dwval *v;
    vm__dwrawunit *r;
    int rc;

    /* The bases first: the unit's own strings may be strx forms. */
    if ((v = attr(e, DW_AT_str_offsets_base)) && v->cls != VM_DWC_NONE)
        u->str_offsets_base = v->u;
    if (((v = attr(e, DW_AT_addr_base)) ||
         (v = attr(e, DW_AT_GNU_addr_base))) &&
        v->cls != VM_DWC_NONE)
        u->addr_base = v->u;

    if ((rc = vm__dw_reserve(b, (void **)&b->units, &cap,
                             (size_t)b->nunits + 1, sizeof *b->units,
                             VM_DEBUG_MAX_UNITS, "compile units")) < 0)
        return rc;
    b->units_cap = (uint32_t)cap;
    r = &b->units[b->nunits];
    memset(r, 0, sizeof *r);
    r->pub.version = u->version;
    r->pub.info_offset = (uint32_t)unit_offset;
    r->pub.language = (uint32_t)attr_const(e, DW_AT_language, 0);
    r->pub.file = VM_DEBUG_NONE;
    r->table = VM_DEBUG_NONE;
    v = attr(e, DW_AT_stmt_list);
    r->stmt_list = v && (v->cls == VM_DWC_SECOFF || v->cls == VM_DWC_CONST)
                       ? v->u
                       : VM_DW_NO_DIE;
    if ((rc = attr_str(b, u, e, DW_AT_name, &r->pub.name)) < 0 ||
        (rc = attr_str(b, u, e, DW_AT_comp_dir, &r->pub.comp_dir)) < 0 ||
        (rc = attr_str(b, u, e, DW_AT_producer, &r->pub.producer)) < 0)
        return rc;
    b->nunits++;
    return 0;
}

static int record_type(vm__dwbuild *b, const vm__dwunit_ctx *u,
                       const die *e, vm_debug_type_kind kind)
{
    size_t cap = b->types_cap;
    vm__dwrawtype *t;
    int rc;

    if ((rc = vm__dw_reserve(b, (void **)&b->types, &cap,
                             (size_t)b->ntypes + 1, sizeof *b->types,
                             VM_DEBUG_MAX_ENTRIES, "types")) < 0)
        return rc;
    b->types_cap = (uint32_t)cap;
    t = &b->types[b->ntypes];
    memset(t, 0, sizeof *t);
    t->die = e->offset;
    t->target_die = attr_ref(e, DW_AT_type);
    t->pub.kind = kind;
    t->pub.tag = e->tag;
    t->pub.encoding =
        kind == VM_DEBUG_TYPE_BASE ? (uint32_t)attr_const(e, DW_AT_encoding, 0)
                                   : 0;
    t->pub.byte_size = (uint32_t)attr_const(e, DW_AT_byte_size, 0);
    /* C compilers leave a pointer's size implicit: the unit's address
     * size (4 in wasm32), which is what a value reader needs. */
    if (kind == VM_DEBUG_TYPE_POINTER && !t->pub.byte_size &&
        e->tag == DW_TAG_pointer_type)
        t->pub.byte_size = u->addr_size;
    t->pub.target = VM_DEBUG_NONE;
    if ((rc = attr_str(b, u, e, DW_AT_name, &t->pub.name)) < 0)
        return rc;
    b->ntypes++;
    return 0;
}

static int record_sub(vm__dwbuild *b, const vm__dwunit_ctx *u, const die *e,
                      uint32_t *idx)
{
    size_t cap = b->subs_cap;
    const vm__dwval *v;
    vm__dwrawsub *s;
    int rc;

    if ((rc = vm__dw_reserve(b, (void **)&b->subs, &cap,
                             (size_t)b->nsubs + 1, sizeof *b->subs,
                             VM_DEBUG_MAX_ENTRIES, "subprograms")) < 0)
        return rc;
    b->subs_cap = (uint32_t)cap;
    s = &b->subs[b->nsubs];
    memset(s, 0, sizeof *s);
    s->die = e->offset;
    s->unit = b->nunits - 1;
    s->origin_die = attr_ref(e, DW_AT_specification);
    if (s->origin_die == VM_DW_NO_DIE)
        s->origin_die = attr_ref(e, DW_AT_abstract_origin);
    s->type_die = attr_ref(e, DW_AT_type);
    s->has_type = attr(e, DW_AT_type) != NULL;
    s->decl_file = attr_const(e, DW_AT_decl_file, VM_DW_NO_DIE);
    s->pub.decl_line = (uint32_t)attr_const(e, DW_AT_decl_line, 0);
    s->pub.external = attr_const(e, DW_AT_external, 0) != 0;
    s->final = VM_DEBUG_NONE;
    if ((v = attr(e, DW_AT_low_pc)) &&
        (v->cls == VM_DWC_ADDR || v->cls == VM_DWC_ADDRX)) {
        if ((rc = vm__dw_val_addr(b, u, v, &s->low)) < 0)
            return rc;
        s->has_low = true;
    }
    if ((v = attr(e, DW_AT_high_pc))) {
        if (v->cls == VM_DWC_ADDR || v->cls == VM_DWC_ADDRX) {
            if ((rc = vm__dw_val_addr(b, u, v, &s->high)) < 0)
                return rc;
            s->has_high = true;
        } else if (v->cls == VM_DWC_CONST) {
            s->high = v->u;
            s->has_high = s->high_is_offset = true;
        }
    }
    if ((rc = attr_str(b, u, e, DW_AT_name, &s->pub.name)) < 0 ||
        (rc = attr_str(b, u, e, DW_AT_linkage_name, &s->pub.linkage_name)) <
            0 ||
        (!s->pub.linkage_name &&
         (rc = attr_str(b, u, e, DW_AT_MIPS_linkage_name,
                        &s->pub.linkage_name)) < 0) ||
        (rc = attr_expr(b, e, DW_AT_frame_base, &s->pub.frame_base,
                        &s->pub.frame_base_len)) < 0)
        return rc;
    *idx = b->nsubs++;
    return 0;
}

static int record_var(vm__dwbuild *b, const vm__dwunit_ctx *u, const die *e,
                      uint32_t sub, bool param)
{
    size_t cap = b->vars_cap;
    vm__dwrawvar *r;
    int rc;

    if ((rc = vm__dw_reserve(b, (void **)&b->vars, &cap,
                             (size_t)b->nvars + 1, sizeof *b->vars,
                             VM_DEBUG_MAX_ENTRIES, "variables")) < 0)
        return rc;
    b->vars_cap = (uint32_t)cap;
    r = &b->vars[b->nvars];
    memset(r, 0, sizeof *r);
    r->die = e->offset;
    r->origin_die = attr_ref(e, DW_AT_abstract_origin);
    r->type_die = attr_ref(e, DW_AT_type);
    r->decl_file = attr_const(e, DW_AT_decl_file, VM_DW_NO_DIE);
    r->unit = b->nunits - 1;
    r->sub = sub;
    r->param = param;
    r->pub.decl_line = (uint32_t)attr_const(e, DW_AT_decl_line, 0);
    if ((rc = attr_str(b, u, e, DW_AT_name, &r->pub.name)) < 0 ||
        (rc = attr_expr(b, e, DW_AT_location, &r->pub.location,
                        &r->pub.location_len)) < 0)
        return rc;
    if (param)
        b->subs[sub].nparams++;
    else
        b->subs[sub].nvars++;
    b->nvars++;
    return 0;
}

static bool type_kind(uint32_t tag, vm_debug_type_kind *kind)
{
    switch (tag) {
    case DW_TAG_base_type: *kind = VM_DEBUG_TYPE_BASE; return true;
    case DW_TAG_pointer_type:
    case DW_TAG_reference_type:
    case DW_TAG_rvalue_reference_type:
    case DW_TAG_ptr_to_member_type: *kind = VM_DEBUG_TYPE_POINTER; return true;
    case DW_TAG_typedef: *kind = VM_DEBUG_TYPE_TYPEDEF; return true;
    case DW_TAG_const_type: *kind = VM_DEBUG_TYPE_CONST; return true;
    case DW_TAG_volatile_type: *kind = VM_DEBUG_TYPE_VOLATILE; return true;
    case DW_TAG_structure_type:
    case DW_TAG_class_type: *kind = VM_DEBUG_TYPE_STRUCT; return true;
    case DW_TAG_union_type: *kind = VM_DEBUG_TYPE_UNION; return true;
    case DW_TAG_enumeration_type: *kind = VM_DEBUG_TYPE_ENUM; return true;
    case DW_TAG_array_type: *kind = VM_DEBUG_TYPE_ARRAY; return true;
    case DW_TAG_subroutine_type: *kind = VM_DEBUG_TYPE_FUNCTION; return true;
    case DW_TAG_restrict_type:
    case DW_TAG_atomic_type:
    case DW_TAG_unspecified_type: *kind = VM_DEBUG_TYPE_OTHER; return true;
    }
    return false;
}

/* ---- The walk -------------------------------------------------------------- */

/* What an open DIE means for its children. */
typedef struct scope {
    uint32_t sub;    /* enclosing subprogram (raw index) or NONE */
    bool is_sub;     /* this DIE is that subprogram */
} scope;

static int read_die(vm__dwcur *c, const vm__dwunit_ctx *u,
                    const vm__dwabbrev_table *t, const vm__dwabbrev *a,
                    die *e)
{
    int rc;

    e->tag = a->tag;
    e->nvals = a->nattrs;
    for (uint32_t i = 0; i < a->nattrs; i++) {
        const vm__dwabbrev_attr *s = &t->attrs[a->first_attr + i];
        e->vals[i].attr = s->attr;
        if ((rc = vm__dw_form(c, u, s->form, s->implicit_const,
                              &e->vals[i])) < 0)
            return rc;
    }
    return 0;
}

static int walk_unit(vm__dwbuild *b, vm__dwcur *c, vm__dwunit_ctx *u,
                     const vm__dwabbrev_table *t, die *e)
{
    scope stack[VM_DEBUG_MAX_DEPTH];
    uint32_t depth = 0;
    bool first = true;
    int rc;

    while (c->pos < c->end) {
        const vm__dwabbrev *a;
        vm_debug_type_kind kind;
        scope parent = {VM_DEBUG_NONE, false}, self;
        uint64_t code;

        e->offset = c->pos;
        if ((rc = vm__dw_uleb(c, &code)) < 0)
            return rc;
        if (code == 0) { /* closes the innermost open DIE (or padding) */
            if (depth > 0)
                depth--;
            continue;
        }
        if (!(a = find_abbrev(t, code)))
            return vm__dw_fail(b, VM_ERR_MALFORMED, c->sec, (size_t)e->offset,
                               "unknown abbreviation code %llu",
                               (unsigned long long)code);
        if ((rc = read_die(c, u, t, a, e)) < 0)
            return rc;
        if (depth > 0)
            parent = stack[depth - 1];
        self = (scope){VM_DEBUG_NONE, false};

        if (first) {
            if ((rc = record_unit(b, u, e, u->unit_offset)) < 0)
                return rc;
            first = false;
        } else if (e->tag == DW_TAG_subprogram) {
            uint32_t idx;
            if ((rc = record_sub(b, u, e, &idx)) < 0)
                return rc;
            self = (scope){idx, true};
        } else if (e->tag == DW_TAG_formal_parameter && parent.is_sub) {
            if ((rc = record_var(b, u, e, parent.sub, true)) < 0)
                return rc;
        } else if (e->tag == DW_TAG_variable && parent.sub != VM_DEBUG_NONE) {
            if ((rc = record_var(b, u, e, parent.sub, false)) < 0)
                return rc;
        } else if (e->tag == DW_TAG_lexical_block) {
            self = (scope){parent.sub, false};
        } else if (type_kind(e->tag, &kind)) {
            if ((rc = record_type(b, u, e, kind)) < 0)
                return rc;
        }
        if (a->children) {
            if (depth >= VM_DEBUG_MAX_DEPTH)
                return vm__dw_fail(b, VM_ERR_LIMIT, c->sec, (size_t)e->offset,
                                   "DIEs nested deeper than %u",
                                   VM_DEBUG_MAX_DEPTH);
            stack[depth++] = self;
        }
    }
    return 0;
}

int vm__dw_info(vm__dwbuild *b)
{
    const vm__dwsec *sec = &b->sec[VM_DWS_INFO];
    size_t pos = 0;
    die *e;
    int rc = 0;

    /* A DIE's values: too big for the stack at the attribute limit. */
    if (!(e = vm__malloc(sizeof *e)))
        return vm__dw_nomem(b);
    while (pos < sec->len) {
        vm__dwunit_ctx u = {.unit_offset = pos};
        const vm__dwabbrev_table *t;
        uint64_t len, abbrev_off = 0;
        uint8_t unit_type = DW_UT_compile;
        vm__dwcur c;

        vm__dw_cursor(&c, b, sec, pos, sec->len);
        if ((rc = vm__dw_unit_length(&c, &len, &u.offset_size)) < 0)
            break;
        if (len > c.end - c.pos) {
            rc = vm__dw_fail(b, VM_ERR_MALFORMED, sec, pos,
                             "unit length 0x%llx runs past the section",
                             (unsigned long long)len);
            break;
        }
        c.end = c.pos + (size_t)len;
        pos = c.end;
        if ((rc = vm__dw_u16(&c, &u.version)) < 0)
            break;
        if (u.version < 2 || u.version > 5) {
            rc = vm__dw_fail(b, VM_ERR_MALFORMED, sec, (size_t)u.unit_offset,
                             "unsupported DWARF version %u", u.version);
            break;
        }
        if (u.version >= 5) {
            if ((rc = vm__dw_u8(&c, &unit_type)) < 0 ||
                (rc = vm__dw_u8(&c, &u.addr_size)) < 0 ||
                (rc = vm__dw_un(&c, u.offset_size, &abbrev_off)) < 0)
                break;
            if (unit_type == 0 || unit_type > DW_UT_split_type) {
                rc = vm__dw_fail(b, VM_ERR_MALFORMED, sec,
                                 (size_t)u.unit_offset,
                                 "unknown unit type 0x%x", unit_type);
                break;
            }
            if (unit_type == DW_UT_skeleton ||
                unit_type == DW_UT_split_compile)
                rc = vm__dw_skip(&c, 8); /* dwo_id */
            else if (unit_type == DW_UT_type || unit_type == DW_UT_split_type)
                rc = vm__dw_skip(&c, 8 + (uint64_t)u.offset_size);
            if (rc < 0)
                break;
        } else if ((rc = vm__dw_un(&c, u.offset_size, &abbrev_off)) < 0 ||
                   (rc = vm__dw_u8(&c, &u.addr_size)) < 0) {
            break;
        }
        if (u.addr_size < 1 || u.addr_size > 8) {
            rc = vm__dw_fail(b, VM_ERR_MALFORMED, sec, (size_t)u.unit_offset,
                             "unsupported address size %u", u.addr_size);
            break;
        }
        /* Type units are reached by signature (ref_sig8), which this
         * reader does not follow: their DIEs are not needed. */
        if (unit_type == DW_UT_type || unit_type == DW_UT_split_type)
            continue;
        if ((rc = abbrev_table(b, abbrev_off, &t)) < 0 ||
            (rc = walk_unit(b, &c, &u, t, e)) < 0)
            break;
    }
    vm__free(e);
    return rc;
}

/* ---- Resolution ------------------------------------------------------------ */

/* Binary search of a recorded array by DIE offset (each element starts
 * with its uint64_t die). */
static uint32_t find_die(const void *arr, uint32_t n, size_t elem,
                         uint64_t die_off)
{
    uint32_t lo = 0, hi = n;

    if (die_off == VM_DW_NO_DIE)
        return VM_DEBUG_NONE;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        uint64_t at;
        memcpy(&at, (const char *)arr + (size_t)mid * elem, sizeof at);
        if (at < die_off)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < n) {
        uint64_t at;
        memcpy(&at, (const char *)arr + (size_t)lo * elem, sizeof at);
        if (at == die_off)
            return lo;
    }
    return VM_DEBUG_NONE;
}

static uint32_t type_of(const vm__dwbuild *b, uint64_t die_off)
{
    return find_die(b->types, b->ntypes, sizeof *b->types, die_off);
}

/* A raw decl_file number of unit `unit` -> file table index. */
static uint32_t file_of(const vm__dwbuild *b, uint32_t unit, uint64_t raw)
{
    const vm__dwtable *t;

    if (raw == VM_DW_NO_DIE || unit >= b->nunits ||
        b->units[unit].table == VM_DEBUG_NONE)
        return VM_DEBUG_NONE;
    t = &b->tables[b->units[unit].table];
    if (raw < t->file_base || raw - t->file_base >= t->nfiles)
        return VM_DEBUG_NONE;
    return t->files[raw - t->file_base];
}

/* Fill what sub s lacks from its specification / abstract origin chain. */
static void resolve_sub(vm__dwbuild *b, vm__dwrawsub *s)
{
    uint64_t decl_file = s->decl_file;
    uint32_t decl_unit = s->unit;
    uint64_t type_die = s->type_die;
    bool has_type = s->has_type;
    const vm__dwrawsub *o = s;

    for (uint32_t n = 0; n < VM_DEBUG_MAX_CHAIN; n++) {
        uint32_t k = find_die(b->subs, b->nsubs, sizeof *b->subs,
                              o->origin_die);
        if (k == VM_DEBUG_NONE)
            break;
        o = &b->subs[k];
        if (!s->pub.name)
            s->pub.name = o->pub.name;
        if (!s->pub.linkage_name)
            s->pub.linkage_name = o->pub.linkage_name;
        if (decl_file == VM_DW_NO_DIE && o->decl_file != VM_DW_NO_DIE) {
            decl_file = o->decl_file;
            decl_unit = o->unit;
        }
        if (!s->pub.decl_line)
            s->pub.decl_line = o->pub.decl_line;
        if (!has_type && o->has_type) {
            type_die = o->type_die;
            has_type = true;
        }
        s->pub.external |= o->pub.external;
    }
    s->pub.decl_file = file_of(b, decl_unit, decl_file);
    s->pub.return_type = type_of(b, type_die);
}

static void resolve_var(vm__dwbuild *b, vm__dwrawvar *v, vm_debug_var *out)
{
    uint64_t decl_file = v->decl_file, type_die = v->type_die;
    uint32_t decl_unit = v->unit;
    const vm__dwrawvar *o = v;

    *out = v->pub;
    for (uint32_t n = 0; n < VM_DEBUG_MAX_CHAIN; n++) {
        uint32_t k = find_die(b->vars, b->nvars, sizeof *b->vars,
                              o->origin_die);
        if (k == VM_DEBUG_NONE)
            break;
        o = &b->vars[k];
        if (!out->name)
            out->name = o->pub.name;
        if (decl_file == VM_DW_NO_DIE && o->decl_file != VM_DW_NO_DIE) {
            decl_file = o->decl_file;
            decl_unit = o->unit;
        }
        if (!out->decl_line)
            out->decl_line = o->pub.decl_line;
        if (type_die == VM_DW_NO_DIE)
            type_die = o->type_die;
    }
    out->decl_file = file_of(b, decl_unit, decl_file);
    out->type = type_of(b, type_die);
}

static int sub_cmp(const void *a, const void *b)
{
    const vm_debug_subprogram *x = a, *y = b;

    if (x->low != y->low)
        return x->low < y->low ? -1 : 1;
    /* Equal lows: DIE order, kept in func_idx until published. */
    return x->func_idx < y->func_idx ? -1 : x->func_idx > y->func_idx;
}

/* The primary source of each unit, interned in the file table. */
static int publish_units(vm__dwbuild *b)
{
    vm_debug *d = b->d;
    char path[VM_DEBUG_MAX_PATH];
    int rc;

    if (!b->nunits)
        return 0;
    if (!(d->units = vm__malloc(b->nunits * sizeof *d->units)))
        return vm__dw_nomem(b);
    for (uint32_t i = 0; i < b->nunits; i++) {
        vm_debug_unit *u = &d->units[i];
        *u = b->units[i].pub;
        if (!u->name)
            continue;
        if (u->name[0] == '/' || !u->comp_dir)
            rc = snprintf(path, sizeof path, "%s", u->name);
        else
            rc = snprintf(path, sizeof path, "%s%s%s", u->comp_dir,
                          u->comp_dir[0] && u->comp_dir[strlen(u->comp_dir) -
                                                        1] != '/'
                              ? "/"
                              : "",
                          u->name);
        if (rc < 0 || (size_t)rc >= sizeof path)
            continue; /* too long to be a file we would show */
        if ((rc = vm__dw_file(b, path, &u->file)) < 0)
            return rc;
    }
    d->nunits = b->nunits;
    return 0;
}

int vm__dw_info_finish(vm__dwbuild *b)
{
    vm_debug *d = b->d;
    uint32_t nsubs = 0;
    size_t nvars = 0;
    int rc;

    if ((rc = publish_units(b)) < 0)
        return rc;

    if (b->ntypes) {
        if (!(d->types = vm__malloc(b->ntypes * sizeof *d->types)))
            return vm__dw_nomem(b);
        for (uint32_t i = 0; i < b->ntypes; i++) {
            d->types[i] = b->types[i].pub;
            d->types[i].target = type_of(b, b->types[i].target_die);
        }
        d->ntypes = b->ntypes;
    }

    /* Subprograms with code inside the Code section are published. */
    for (uint32_t i = 0; i < b->nsubs; i++) {
        vm__dwrawsub *s = &b->subs[i];
        uint64_t high;
        if (!s->has_low || !s->has_high || s->low >= d->code_len ||
            (s->high_is_offset && s->high > d->code_len))
            continue; /* no code, or not in this module's Code section */
        high = s->high_is_offset ? s->low + s->high : s->high;
        if (s->low >= high || high > d->code_len)
            continue;
        resolve_sub(b, s);
        s->pub.low_address = (uint32_t)s->low;
        s->pub.high_address = (uint32_t)high;
        s->final = nsubs++;
    }
    if (nsubs) {
        if (!(d->subs = vm__malloc(nsubs * sizeof *d->subs)))
            return vm__dw_nomem(b);
        for (uint32_t i = 0; i < b->nsubs; i++) {
            vm__dwrawsub *s = &b->subs[i];
            vm_debug_subprogram *p;
            if (s->final == VM_DEBUG_NONE)
                continue;
            p = &d->subs[s->final];
            *p = s->pub;
            p->unit = s->unit;
            p->low = d->code_start + p->low_address;
            p->high = d->code_start + p->high_address;
            p->func_idx = i; /* the raw index, for the sort */
            p->nparams = s->nparams;
            p->nvars = s->nvars;
            nvars += (size_t)s->nparams + s->nvars;
        }
        qsort(d->subs, nsubs, sizeof *d->subs, sub_cmp);
        d->nsubs = nsubs;
    }

    /* Parameters then variables of each published subprogram, in DIE
     * order, in one array. */
    /* Never NULL when there are subprograms: their params and vars
     * point into it even when empty. */
    if (d->nsubs &&
        !(d->vars = vm__malloc((nvars ? nvars : 1) * sizeof *d->vars)))
        return vm__dw_nomem(b);
    nvars = 0;
    for (uint32_t i = 0; i < d->nsubs; i++) {
        vm_debug_subprogram *p = &d->subs[i];
        vm__dwrawsub *s = &b->subs[p->func_idx];
        s->final = i;
        p->params = d->vars + nvars;
        p->vars = d->vars + nvars + p->nparams;
        nvars += (size_t)p->nparams + p->nvars;
        p->nparams = p->nvars = 0; /* refilled below */
        p->func_idx = VM_DEBUG_NONE;
    }
    for (uint32_t i = 0; i < b->nvars; i++) {
        vm__dwrawvar *v = &b->vars[i];
        vm_debug_subprogram *p;
        uint32_t final = b->subs[v->sub].final;
        if (final == VM_DEBUG_NONE)
            continue;
        p = &d->subs[final];
        if (v->param)
            resolve_var(b, v, (vm_debug_var *)&p->params[p->nparams++]);
        else
            resolve_var(b, v, (vm_debug_var *)&p->vars[p->nvars++]);
    }
    d->nvars = nvars;
    return 0;
}
