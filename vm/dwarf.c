/*
 * DWARF debug info: the vm_debug object and its public API
 * (include/traced/vm_debug.h), the bounds-checked section cursor, the
 * form reader shared by .debug_info and .debug_line, the string arena and
 * the file table. dwarf_line.c runs the line-number programs, dwarf_info.c
 * walks the DIE trees; vm_debug_new below sequences them:
 *
 *   find the sections -> map the Code section (function bodies)
 *   -> walk .debug_info (units, types, subprograms, variables)
 *   -> run each unit's line table (or every table, without .debug_info)
 *   -> sort rows, derive step points -> resolve DIE references and
 *   publish subprograms -> match subprograms to module functions.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dwarf_int.h"

/* DW_FORM_indirect may name another indirect form; more than this many
 * in a row is malformed (it can only be a loop in hostile input). */
#define VM_DW_MAX_INDIRECT 4

/* ---- Errors and growth ------------------------------------------------ */

int vm__dw_fail(vm__dwbuild *b, int code, const vm__dwsec *sec, size_t pos,
                const char *fmt, ...)
{
    va_list ap;
    int n = 0;

    if (!b->err || !b->errlen)
        return code;
    if (sec)
        n = snprintf(b->err, b->errlen, "DWARF %s at 0x%zx: ", sec->name, pos);
    else
        n = snprintf(b->err, b->errlen, "DWARF: ");
    if (n < 0 || (size_t)n >= b->errlen)
        return code;
    va_start(ap, fmt);
    vsnprintf(b->err + n, b->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return code;
}

int vm__dw_nomem(vm__dwbuild *b)
{
    return vm__dw_fail(b, VM_ERR_NOMEM, NULL, 0, "out of memory");
}

int vm__dw_reserve(vm__dwbuild *b, void **arr, size_t *cap, size_t need,
                   size_t elem, size_t limit, const char *what)
{
    size_t ncap;
    void *p;

    if (need <= *cap)
        return 0;
    if (need > limit)
        return vm__dw_fail(b, VM_ERR_LIMIT, NULL, 0,
                           "more than %zu %s (the reader's limit)", limit,
                           what);
    ncap = *cap ? *cap : 16;
    while (ncap < need)
        ncap *= 2;
    if (ncap > limit)
        ncap = limit;
    p = vm__realloc(*arr, ncap * elem);
    if (!p)
        return vm__dw_nomem(b);
    *arr = p;
    *cap = ncap;
    return 0;
}

/* ---- Cursor ------------------------------------------------------------ */

void vm__dw_cursor(vm__dwcur *c, vm__dwbuild *b, const vm__dwsec *sec,
                   size_t pos, size_t end)
{
    c->b = b;
    c->sec = sec;
    c->end = end <= sec->len ? end : sec->len;
    c->pos = pos <= c->end ? pos : c->end;
}

static int truncated(vm__dwcur *c)
{
    return vm__dw_fail(c->b, VM_ERR_MALFORMED, c->sec, c->pos,
                       "unexpected end of data (truncated, or a length "
                       "that runs past its unit)");
}

int vm__dw_skip(vm__dwcur *c, uint64_t n)
{
    if (n > c->end - c->pos)
        return truncated(c);
    c->pos += (size_t)n;
    return 0;
}

int vm__dw_un(vm__dwcur *c, unsigned n, uint64_t *v)
{
    uint64_t x = 0;

    if (n == 0 || n > 8)
        return vm__dw_fail(c->b, VM_ERR_MALFORMED, c->sec, c->pos,
                           "unsupported value size %u", n);
    if (n > c->end - c->pos)
        return truncated(c);
    for (unsigned i = 0; i < n; i++)
        x |= (uint64_t)c->sec->data[c->pos + i] << (8 * i);
    c->pos += n;
    *v = x;
    return 0;
}

int vm__dw_u8(vm__dwcur *c, uint8_t *v)
{
    if (c->pos >= c->end)
        return truncated(c);
    *v = c->sec->data[c->pos++];
    return 0;
}

int vm__dw_u16(vm__dwcur *c, uint16_t *v)
{
    uint64_t x = 0;
    int rc = vm__dw_un(c, 2, &x);

    *v = (uint16_t)x;
    return rc;
}

int vm__dw_u32(vm__dwcur *c, uint32_t *v)
{
    uint64_t x = 0;
    int rc = vm__dw_un(c, 4, &x);

    *v = (uint32_t)x;
    return rc;
}

int vm__dw_uleb(vm__dwcur *c, uint64_t *v)
{
    uint64_t x = 0;
    unsigned shift = 0;
    size_t start = c->pos;
    uint8_t byte;

    do {
        if (c->pos >= c->end)
            return truncated(c);
        byte = c->sec->data[c->pos++];
        if (shift < 64)
            x |= (uint64_t)(byte & 0x7f) << shift;
        else if (byte & 0x7f)
            return vm__dw_fail(c->b, VM_ERR_MALFORMED, c->sec, start,
                               "LEB128 value does not fit in 64 bits");
        shift += 7;
    } while (byte & 0x80);
    *v = x;
    return 0;
}

int vm__dw_sleb(vm__dwcur *c, int64_t *v)
{
    uint64_t x = 0;
    unsigned shift = 0;
    uint8_t byte;

    do {
        if (c->pos >= c->end)
            return truncated(c);
        byte = c->sec->data[c->pos++];
        if (shift < 64)
            x |= (uint64_t)(byte & 0x7f) << shift;
        shift += 7;
    } while (byte & 0x80);
    if (shift < 64 && (byte & 0x40))
        x |= ~(uint64_t)0 << shift;
    *v = (int64_t)x;
    return 0;
}

int vm__dw_cstr(vm__dwcur *c, const char **s)
{
    const uint8_t *p = c->sec->data + c->pos;
    const uint8_t *nul = memchr(p, 0, c->end - c->pos);

    if (!nul)
        return vm__dw_fail(c->b, VM_ERR_MALFORMED, c->sec, c->pos,
                           "string without a terminating NUL");
    *s = (const char *)p;
    c->pos += (size_t)(nul - p) + 1;
    return 0;
}

int vm__dw_unit_length(vm__dwcur *c, uint64_t *len, uint8_t *offset_size)
{
    uint32_t l32;
    int rc;

    if ((rc = vm__dw_u32(c, &l32)) < 0)
        return rc;
    if (l32 == 0xffffffffu) {
        *offset_size = 8;
        return vm__dw_un(c, 8, len);
    }
    if (l32 >= 0xfffffff0u)
        return vm__dw_fail(c->b, VM_ERR_MALFORMED, c->sec, c->pos - 4,
                           "reserved unit length 0x%x", l32);
    *offset_size = 4;
    *len = l32;
    return 0;
}

/* ---- Strings and forms ------------------------------------------------- */

int vm__dw_str_at(vm__dwbuild *b, int s, uint64_t off, const char **out)
{
    const vm__dwsec *sec = &b->sec[s];
    const uint8_t *nul;

    /* The caller's position is not known here: the message names the
     * string section and the offset instead. */
    if (!sec->data || off >= sec->len)
        return vm__dw_fail(b, VM_ERR_MALFORMED, NULL, 0,
                           "string offset 0x%llx outside %s (%zu bytes)",
                           (unsigned long long)off, sec->name,
                           sec->data ? sec->len : 0);
    nul = memchr(sec->data + off, 0, sec->len - (size_t)off);
    if (!nul)
        return vm__dw_fail(b, VM_ERR_MALFORMED, sec, (size_t)off,
                           "string without a terminating NUL");
    *out = (const char *)sec->data + off;
    return 0;
}

static int block(vm__dwcur *c, uint64_t len, vm__dwval *out)
{
    out->cls = VM_DWC_BLOCK;
    out->block = c->sec->data + c->pos;
    out->blen = (size_t)len;
    return vm__dw_skip(c, len);
}

int vm__dw_form(vm__dwcur *c, const vm__dwunit_ctx *u, uint32_t form,
                int64_t implicit_const, vm__dwval *out)
{
    unsigned indirect = 0;
    uint64_t v = 0;
    int rc = 0;

    out->cls = VM_DWC_NONE;
    out->u = 0;
    out->s = 0;
    out->str = NULL;
    out->block = NULL;
    out->blen = 0;
again:
    out->form = form;
    switch (form) {
    case DW_FORM_addr:
        rc = vm__dw_un(c, u->addr_size, &out->u);
        out->cls = VM_DWC_ADDR;
        break;
    case DW_FORM_block1: {
        uint8_t n = 0;
        if ((rc = vm__dw_u8(c, &n)) == 0)
            rc = block(c, n, out);
        break;
    }
    case DW_FORM_block2: {
        uint16_t n = 0;
        if ((rc = vm__dw_u16(c, &n)) == 0)
            rc = block(c, n, out);
        break;
    }
    case DW_FORM_block4: {
        uint32_t n = 0;
        if ((rc = vm__dw_u32(c, &n)) == 0)
            rc = block(c, n, out);
        break;
    }
    case DW_FORM_block:
    case DW_FORM_exprloc:
        if ((rc = vm__dw_uleb(c, &v)) == 0)
            rc = block(c, v, out);
        break;
    case DW_FORM_data16:
        rc = block(c, 16, out);
        break;
    case DW_FORM_data1:
    case DW_FORM_data2:
    case DW_FORM_data4:
    case DW_FORM_data8: {
        static const unsigned size[] = {[DW_FORM_data1] = 1,
                                        [DW_FORM_data2] = 2,
                                        [DW_FORM_data4] = 4,
                                        [DW_FORM_data8] = 8};
        rc = vm__dw_un(c, size[form], &out->u);
        out->s = (int64_t)out->u;
        out->cls = VM_DWC_CONST;
        break;
    }
    case DW_FORM_udata:
        rc = vm__dw_uleb(c, &out->u);
        out->s = (int64_t)out->u;
        out->cls = VM_DWC_CONST;
        break;
    case DW_FORM_sdata:
        rc = vm__dw_sleb(c, &out->s);
        out->u = (uint64_t)out->s;
        out->cls = VM_DWC_CONST;
        break;
    case DW_FORM_implicit_const:
        if (indirect)
            return vm__dw_fail(c->b, VM_ERR_MALFORMED, c->sec, c->pos,
                               "DW_FORM_implicit_const through "
                               "DW_FORM_indirect");
        out->s = implicit_const;
        out->u = (uint64_t)implicit_const;
        out->cls = VM_DWC_CONST;
        break;
    case DW_FORM_string:
        rc = vm__dw_cstr(c, &out->str);
        out->cls = VM_DWC_STR;
        break;
    case DW_FORM_strp:
    case DW_FORM_line_strp: {
        int s = form == DW_FORM_strp ? VM_DWS_STR : VM_DWS_LINE_STR;
        const vm__dwsec *strs = &c->b->sec[s];
        if ((rc = vm__dw_un(c, u->offset_size, &v)) < 0)
            break;
        if (!strs->data || v >= strs->len) /* reported where it is used */
            return vm__dw_fail(c->b, VM_ERR_MALFORMED, c->sec,
                               c->pos - u->offset_size,
                               "string offset 0x%llx outside %s (%zu "
                               "bytes)",
                               (unsigned long long)v, strs->name,
                               strs->data ? strs->len : 0);
        rc = vm__dw_str_at(c->b, s, v, &out->str);
        out->cls = VM_DWC_STR;
        break;
    }
    case DW_FORM_strp_sup:
    case DW_FORM_GNU_strp_alt:
    case DW_FORM_GNU_ref_alt:
        /* Supplementary / alternate object files: not available. */
        rc = vm__dw_un(c, u->offset_size, &v);
        break;
    case DW_FORM_flag:
        if ((rc = vm__dw_un(c, 1, &out->u)) == 0)
            out->u = out->u != 0;
        out->cls = VM_DWC_FLAG;
        break;
    case DW_FORM_flag_present:
        out->u = 1;
        out->cls = VM_DWC_FLAG;
        break;
    case DW_FORM_ref_addr:
        rc = vm__dw_un(c, u->version <= 2 ? u->addr_size : u->offset_size,
                       &out->u);
        out->cls = u->unit_offset == VM_DW_NO_DIE ? VM_DWC_NONE : VM_DWC_REF;
        break;
    case DW_FORM_ref1:
    case DW_FORM_ref2:
    case DW_FORM_ref4:
    case DW_FORM_ref8:
    case DW_FORM_ref_udata:
        if (form == DW_FORM_ref_udata)
            rc = vm__dw_uleb(c, &v);
        else
            rc = vm__dw_un(c, form == DW_FORM_ref1   ? 1
                              : form == DW_FORM_ref2 ? 2
                              : form == DW_FORM_ref4 ? 4
                                                     : 8,
                           &v);
        if (rc == 0 && u->unit_offset != VM_DW_NO_DIE &&
            v <= UINT64_MAX - u->unit_offset) {
            out->u = u->unit_offset + v;
            out->cls = VM_DWC_REF;
        }
        break;
    case DW_FORM_ref_sig8: /* type units: not followed */
    case DW_FORM_ref_sup8:
        rc = vm__dw_un(c, 8, &v);
        break;
    case DW_FORM_ref_sup4:
        rc = vm__dw_un(c, 4, &v);
        break;
    case DW_FORM_sec_offset:
        rc = vm__dw_un(c, u->offset_size, &out->u);
        out->cls = VM_DWC_SECOFF;
        break;
    case DW_FORM_strx:
    case DW_FORM_GNU_str_index:
        rc = vm__dw_uleb(c, &out->u);
        out->cls = VM_DWC_STRX;
        break;
    case DW_FORM_strx1:
    case DW_FORM_strx2:
    case DW_FORM_strx3:
    case DW_FORM_strx4:
        rc = vm__dw_un(c, form - DW_FORM_strx1 + 1, &out->u);
        out->cls = VM_DWC_STRX;
        break;
    case DW_FORM_addrx:
    case DW_FORM_GNU_addr_index:
        rc = vm__dw_uleb(c, &out->u);
        out->cls = VM_DWC_ADDRX;
        break;
    case DW_FORM_addrx1:
    case DW_FORM_addrx2:
    case DW_FORM_addrx3:
    case DW_FORM_addrx4:
        rc = vm__dw_un(c, form - DW_FORM_addrx1 + 1, &out->u);
        out->cls = VM_DWC_ADDRX;
        break;
    case DW_FORM_loclistx:
    case DW_FORM_rnglistx:
        rc = vm__dw_uleb(c, &v);
        break;
    case DW_FORM_indirect:
        if (++indirect > VM_DW_MAX_INDIRECT)
            return vm__dw_fail(c->b, VM_ERR_MALFORMED, c->sec, c->pos,
                               "DW_FORM_indirect nested too deep");
        if ((rc = vm__dw_uleb(c, &v)) < 0)
            return rc;
        if (v > UINT32_MAX)
            return vm__dw_fail(c->b, VM_ERR_MALFORMED, c->sec, c->pos,
                               "unknown form 0x%llx", (unsigned long long)v);
        form = (uint32_t)v;
        goto again;
    default:
        return vm__dw_fail(c->b, VM_ERR_MALFORMED, c->sec, c->pos,
                           "unknown form 0x%x", form);
    }
    return rc;
}

int vm__dw_val_str(vm__dwbuild *b, const vm__dwunit_ctx *u,
                   const vm__dwval *v, const char **out)
{
    const vm__dwsec *sec = &b->sec[VM_DWS_STR_OFFSETS];
    uint64_t at, off;
    vm__dwcur c;
    int rc;

    *out = NULL;
    if (v->cls == VM_DWC_STR) {
        *out = v->str;
        return 0;
    }
    if (v->cls != VM_DWC_STRX)
        return 0;
    if (!sec->data || v->u >= sec->len / u->offset_size ||
        u->str_offsets_base > sec->len ||
        v->u * u->offset_size > sec->len - u->str_offsets_base)
        return vm__dw_fail(b, VM_ERR_MALFORMED, NULL, 0,
                           "string index %llu outside .debug_str_offsets "
                           "(base 0x%llx)",
                           (unsigned long long)v->u,
                           (unsigned long long)u->str_offsets_base);
    at = u->str_offsets_base + v->u * u->offset_size;
    vm__dw_cursor(&c, b, sec, (size_t)at, sec->len);
    if ((rc = vm__dw_un(&c, u->offset_size, &off)) < 0)
        return rc;
    return vm__dw_str_at(b, VM_DWS_STR, off, out);
}

int vm__dw_val_addr(vm__dwbuild *b, const vm__dwunit_ctx *u,
                    const vm__dwval *v, uint64_t *addr)
{
    const vm__dwsec *sec = &b->sec[VM_DWS_ADDR];
    vm__dwcur c;

    if (v->cls == VM_DWC_ADDR) {
        *addr = v->u;
        return 0;
    }
    if (v->cls != VM_DWC_ADDRX)
        return vm__dw_fail(b, VM_ERR_MALFORMED, NULL, 0,
                           "form 0x%x is not an address", v->form);
    if (!sec->data || v->u >= sec->len / u->addr_size ||
        u->addr_base > sec->len ||
        v->u * u->addr_size > sec->len - u->addr_base)
        return vm__dw_fail(b, VM_ERR_MALFORMED, NULL, 0,
                           "address index %llu outside .debug_addr (base "
                           "0x%llx)",
                           (unsigned long long)v->u,
                           (unsigned long long)u->addr_base);
    vm__dw_cursor(&c, b, sec, (size_t)(u->addr_base + v->u * u->addr_size),
                  sec->len);
    return vm__dw_un(&c, u->addr_size, addr);
}

/* ---- Arena ------------------------------------------------------------- */

struct vm__dwchunk {
    struct vm__dwchunk *next;
    size_t used, cap;
    unsigned char data[];
};

enum { ARENA_CHUNK = 64 * 1024 };

static void *arena_alloc(vm__dwbuild *b, size_t n)
{
    struct vm__dwchunk *c = b->d->arena;

    if (!c || c->cap - c->used < n) {
        size_t cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;
        c = vm__malloc(sizeof *c + cap);
        if (!c)
            return NULL;
        c->cap = cap;
        c->used = 0;
        /* A big block gets its own chunk behind the current one, so the
         * current one keeps filling. */
        if (b->d->arena && cap > ARENA_CHUNK) {
            c->next = b->d->arena->next;
            b->d->arena->next = c;
        } else {
            c->next = b->d->arena;
            b->d->arena = c;
        }
    }
    c->used += n;
    return c->data + c->used - n;
}

char *vm__dw_strdup(vm__dwbuild *b, const char *s)
{
    size_t n;
    char *p;

    if (!s)
        return NULL;
    n = strlen(s) + 1;
    p = arena_alloc(b, n);
    if (p)
        memcpy(p, s, n);
    return p;
}

void *vm__dw_memdup(vm__dwbuild *b, const void *p, size_t n)
{
    void *q = arena_alloc(b, n ? n : 1);

    if (q && n)
        memcpy(q, p, n);
    return q;
}

/* ---- Offset map ---------------------------------------------------------- */

static uint32_t hash_u64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return (uint32_t)k;
}

bool vm__dwmap_get(const vm__dwmap *map, uint64_t key, uint32_t *val)
{
    if (!map->cap)
        return false;
    for (uint32_t h = hash_u64(key) & (map->cap - 1);;
         h = (h + 1) & (map->cap - 1)) {
        if (map->vals[h] == UINT32_MAX)
            return false;
        if (map->keys[h] == key) {
            *val = map->vals[h];
            return true;
        }
    }
}

int vm__dwmap_put(vm__dwbuild *b, vm__dwmap *map, uint64_t key, uint32_t val)
{
    uint32_t h;

    if ((map->n + 1) * 2 > map->cap) {
        vm__dwmap bigger = {.cap = map->cap ? map->cap * 2 : 64};
        bigger.keys = vm__malloc(bigger.cap * sizeof *bigger.keys);
        bigger.vals = vm__malloc(bigger.cap * sizeof *bigger.vals);
        if (!bigger.keys || !bigger.vals) {
            vm__dwmap_free(&bigger);
            return vm__dw_nomem(b);
        }
        memset(bigger.vals, 0xff, bigger.cap * sizeof *bigger.vals);
        for (uint32_t i = 0; i < map->cap; i++) {
            if (map->vals[i] == UINT32_MAX)
                continue;
            h = hash_u64(map->keys[i]) & (bigger.cap - 1);
            while (bigger.vals[h] != UINT32_MAX)
                h = (h + 1) & (bigger.cap - 1);
            bigger.keys[h] = map->keys[i];
            bigger.vals[h] = map->vals[i];
        }
        bigger.n = map->n;
        vm__dwmap_free(map);
        *map = bigger;
    }
    h = hash_u64(key) & (map->cap - 1);
    while (map->vals[h] != UINT32_MAX && map->keys[h] != key)
        h = (h + 1) & (map->cap - 1);
    if (map->vals[h] == UINT32_MAX)
        map->n++;
    map->keys[h] = key;
    map->vals[h] = val;
    return 0;
}

void vm__dwmap_free(vm__dwmap *map)
{
    vm__free(map->keys);
    vm__free(map->vals);
    map->keys = NULL;
    map->vals = NULL;
    map->cap = map->n = 0;
}

/* ---- File table -------------------------------------------------------- */

static uint32_t hash_str(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */

    while (*s)
        h = (h ^ (uint8_t)*s++) * 16777619u;
    return h;
}

static int file_rehash(vm__dwbuild *b, uint32_t cap)
{
    uint32_t *t = vm__malloc((size_t)cap * sizeof *t);

    if (!t)
        return vm__dw_nomem(b);
    memset(t, 0xff, (size_t)cap * sizeof *t);
    for (uint32_t i = 0; i < b->d->nfiles; i++) {
        uint32_t h = hash_str(b->d->files[i]) & (cap - 1);
        while (t[h] != UINT32_MAX)
            h = (h + 1) & (cap - 1);
        t[h] = i;
    }
    vm__free(b->file_hash);
    b->file_hash = t;
    b->file_hash_cap = cap;
    return 0;
}

int vm__dw_file(vm__dwbuild *b, const char *path, uint32_t *idx)
{
    vm_debug *d = b->d;
    size_t cap = b->files_cap;
    uint32_t h;
    int rc;

    if (d->nfiles * 2 >= b->file_hash_cap &&
        (rc = file_rehash(b, b->file_hash_cap ? b->file_hash_cap * 2 : 64)) < 0)
        return rc;
    h = hash_str(path) & (b->file_hash_cap - 1);
    while (b->file_hash[h] != UINT32_MAX) {
        if (strcmp(d->files[b->file_hash[h]], path) == 0) {
            *idx = b->file_hash[h];
            return 0;
        }
        h = (h + 1) & (b->file_hash_cap - 1);
    }
    if ((rc = vm__dw_reserve(b, (void **)&d->files, &cap, d->nfiles + 1,
                             sizeof *d->files, VM_DEBUG_MAX_FILES,
                             "distinct files")) < 0)
        return rc;
    b->files_cap = (uint32_t)cap;
    if (!(d->files[d->nfiles] = vm__dw_strdup(b, path)))
        return vm__dw_nomem(b);
    b->file_hash[h] = d->nfiles;
    *idx = d->nfiles++;
    return 0;
}

/* ---- The Code section --------------------------------------------------- */

static bool leb_u32(const uint8_t *p, size_t len, size_t *pos, uint32_t *v)
{
    uint64_t x = 0;

    for (unsigned shift = 0; shift < 35; shift += 7) {
        if (*pos >= len)
            return false;
        uint8_t byte = p[(*pos)++];
        x |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            if (x > UINT32_MAX)
                return false;
            *v = (uint32_t)x;
            return true;
        }
    }
    return false;
}

/* Find the Code section and every body's extent. The module was decoded,
 * so this cannot fail on it; the checks keep a broken invariant an error
 * rather than a bad read. */
static int map_code(vm__dwbuild *b, const vm_module *m)
{
    vm_debug *d = b->d;
    uint32_t ndefined = m->nfuncs_total - m->nfuncs_imported;
    size_t pos = 8;

    d->nfuncs_imported = m->nfuncs_imported;
    d->nfuncs_total = m->nfuncs_total;
    d->func_sub = vm__malloc((size_t)(m->nfuncs_total + 1) * sizeof(uint32_t));
    d->func_entry = vm__calloc(ndefined + 1, sizeof(uint32_t));
    d->func_code = vm__calloc(ndefined + 1, sizeof(uint32_t));
    d->func_end = vm__calloc(ndefined + 1, sizeof(uint32_t));
    if (!d->func_sub || !d->func_entry || !d->func_code || !d->func_end)
        return vm__dw_nomem(b);
    memset(d->func_sub, 0xff, (size_t)(m->nfuncs_total + 1) * sizeof(uint32_t));

    while (pos < m->len) {
        uint8_t id = m->bytes[pos++];
        uint32_t size, count;
        size_t start;

        if (!leb_u32(m->bytes, m->len, &pos, &size) || size > m->len - pos)
            break;
        start = pos;
        pos += size;
        if (id != 10)
            continue;
        d->code_start = (uint32_t)start;
        d->code_len = size;
        if (!leb_u32(m->bytes, start + size, &start, &count) ||
            count != ndefined)
            break;
        for (uint32_t i = 0; i < ndefined; i++) {
            uint32_t body;
            if (!leb_u32(m->bytes, pos, &start, &body) ||
                body > pos - start)
                goto broken;
            d->func_entry[i] = (uint32_t)start;
            d->func_code[i] = (uint32_t)m->funcs[i].body_offset;
            d->func_end[i] = (uint32_t)(start + body);
            start += body;
        }
        return 0;
    }
    if (ndefined == 0)
        return 0;
broken:
    return vm__dw_fail(b, VM_ERR_MALFORMED, NULL, 0,
                       "cannot map the Code section's function bodies");
}

/* ---- Matching subprograms to functions ---------------------------------- */

static uint32_t sub_index_at(const vm_debug *d, uint32_t offset)
{
    uint32_t lo = 0, hi = d->nsubs;

    while (lo < hi) { /* first sub with low > offset */
        uint32_t mid = lo + (hi - lo) / 2;
        if (d->subs[mid].low <= offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0 || offset >= d->subs[lo - 1].high)
        return VM_DEBUG_NONE;
    return lo - 1;
}

/* A function's subprogram is the one whose low_pc is the body's entry
 * (clang: the locals declaration), else its first instruction (other
 * producers). Ties go to the first in address order. */
static void match_funcs(vm_debug *d)
{
    for (uint32_t i = d->nfuncs_imported; i < d->nfuncs_total; i++) {
        uint32_t k = i - d->nfuncs_imported, s;

        s = sub_index_at(d, d->func_entry[k]);
        if (s != VM_DEBUG_NONE && d->subs[s].low != d->func_entry[k])
            s = VM_DEBUG_NONE;
        while (s != VM_DEBUG_NONE && s > 0 &&
               d->subs[s - 1].low == d->func_entry[k])
            s--;
        if (s == VM_DEBUG_NONE) {
            s = sub_index_at(d, d->func_code[k]);
            if (s != VM_DEBUG_NONE && d->subs[s].low != d->func_code[k])
                s = VM_DEBUG_NONE;
        }
        if (s != VM_DEBUG_NONE && d->subs[s].func_idx == VM_DEBUG_NONE)
            d->subs[s].func_idx = i;
        d->func_sub[i] = s;
    }
}

/*
 * clang starts a function's line rows at its low_pc, the body's locals
 * declaration, which no instruction occupies: an op hook never reports
 * that offset. A step point there moves to the function's first
 * instruction, unless a step point of its own is already there (then
 * that one is in effect and the entry's is dropped).
 */
static void move_entry_steps(vm_debug *d)
{
    size_t out = 0;

    for (size_t i = 0; i < d->nsteps; i++) {
        vm_debug_row r = d->steps[i];
        uint32_t lo = 0, hi = d->nfuncs_total - d->nfuncs_imported;

        while (lo < hi) { /* a function whose entry is r.offset? */
            uint32_t mid = lo + (hi - lo) / 2;
            if (d->func_entry[mid] < r.offset)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < d->nfuncs_total - d->nfuncs_imported &&
            d->func_entry[lo] == r.offset && d->func_code[lo] != r.offset) {
            uint32_t code = d->func_code[lo];
            if (i + 1 < d->nsteps && d->steps[i + 1].offset <= code)
                continue; /* the next step point takes over */
            r.offset = code;
            r.address = code - d->code_start;
        }
        d->steps[out++] = r;
    }
    d->nsteps = out;
}

/* ---- vm_debug_new -------------------------------------------------------- */

static const char *const section_names[VM_DWS_COUNT] = {
    [VM_DWS_INFO] = ".debug_info",
    [VM_DWS_ABBREV] = ".debug_abbrev",
    [VM_DWS_LINE] = ".debug_line",
    [VM_DWS_STR] = ".debug_str",
    [VM_DWS_LINE_STR] = ".debug_line_str",
    [VM_DWS_STR_OFFSETS] = ".debug_str_offsets",
    [VM_DWS_ADDR] = ".debug_addr",
};

static void find_sections(vm__dwbuild *b, const vm_module *m)
{
    for (int s = 0; s < VM_DWS_COUNT; s++)
        b->sec[s].name = section_names[s];
    /* The first section of each name counts; a duplicate is ignored. */
    for (uint32_t i = vm_module_custom_count(m); i-- > 0;) {
        const char *name;
        const uint8_t *data;
        size_t len;

        if (vm_module_custom(m, i, &name, &data, &len) != 0)
            continue;
        for (int s = 0; s < VM_DWS_COUNT; s++) {
            if (strcmp(name, section_names[s]) == 0) {
                b->sec[s].data = data ? data : (const uint8_t *)"";
                b->sec[s].len = len;
            }
        }
    }
}

/* Without .debug_info, run every table of .debug_line in turn. */
static int all_line_tables(vm__dwbuild *b)
{
    const vm__dwsec *sec = &b->sec[VM_DWS_LINE];
    size_t pos = 0;
    uint32_t table;
    int rc;

    uint64_t next;

    while (pos < sec->len) {
        if ((rc = vm__dw_line_table(b, pos, NULL, &table, &next)) < 0)
            return rc;
        pos = (size_t)next;
    }
    return 0;
}

static void build_release(vm__dwbuild *b)
{
    for (uint32_t i = 0; i < b->ntables; i++)
        vm__free(b->tables[i].files);
    vm__free(b->tables);
    for (uint32_t i = 0; i < b->nabbrev_tables; i++) {
        vm__free(b->abbrev_tables[i].abbrevs);
        vm__free(b->abbrev_tables[i].attrs);
    }
    vm__free(b->abbrev_tables);
    vm__dwmap_free(&b->table_map);
    vm__dwmap_free(&b->abbrev_map);
    vm__free(b->file_hash);
    vm__free(b->rows);
    vm__free(b->seqs);
    vm__free(b->units);
    vm__free(b->types);
    vm__free(b->subs);
    vm__free(b->vars);
}

int vm_debug_new(const vm_module *m, vm_debug **out, char *err,
                 size_t errlen)
{
    vm__dwbuild b;
    vm_debug *d;
    int rc;

    if (err && errlen)
        err[0] = '\0';
    if (!out || !m)
        return vm__error(err, errlen, VM_ERR_ARG,
                         "vm_debug_new: NULL module or out");
    *out = NULL;
    memset(&b, 0, sizeof b);
    b.err = err;
    b.errlen = errlen;
    find_sections(&b, m);
    if (!b.sec[VM_DWS_INFO].data && !b.sec[VM_DWS_LINE].data)
        return vm__error(err, errlen, VM_ERR_NOT_FOUND,
                         "no DWARF debug info (no .debug_info or "
                         ".debug_line section)");

    d = vm__calloc(1, sizeof *d);
    if (!d)
        return vm__error(err, errlen, VM_ERR_NOMEM, "out of memory");
    b.d = d;

    if ((rc = map_code(&b, m)) < 0)
        goto fail;
    if (b.sec[VM_DWS_INFO].data) {
        if ((rc = vm__dw_info(&b)) < 0)
            goto fail;
        for (uint32_t i = 0; i < b.nunits; i++) {
            vm__dwrawunit *u = &b.units[i];
            if (u->stmt_list == VM_DW_NO_DIE || !b.sec[VM_DWS_LINE].data)
                continue;
            uint64_t next;
            if ((rc = vm__dw_line_table(&b, u->stmt_list, u->pub.comp_dir,
                                        &u->table, &next)) < 0)
                goto fail;
        }
    } else if ((rc = all_line_tables(&b)) < 0) {
        goto fail;
    }
    if ((rc = vm__dw_line_finish(&b)) < 0)
        goto fail;
    if ((rc = vm__dw_info_finish(&b)) < 0)
        goto fail;
    move_entry_steps(d);
    match_funcs(d);
    build_release(&b);
    *out = d;
    return 0;

fail:
    build_release(&b);
    vm_debug_free(d);
    return rc;
}

void vm_debug_free(vm_debug *d)
{
    struct vm__dwchunk *c, *next;

    if (!d)
        return;
    for (c = d->arena; c; c = next) {
        next = c->next;
        vm__free(c);
    }
    vm__free(d->func_entry);
    vm__free(d->func_code);
    vm__free(d->func_end);
    vm__free(d->func_sub);
    vm__free(d->files);
    vm__free(d->rows);
    vm__free(d->steps);
    vm__free(d->types);
    vm__free(d->units);
    vm__free(d->subs);
    vm__free(d->vars);
    vm__free(d);
}

/* ---- Lookups -------------------------------------------------------------- */

uint32_t vm_debug_code_start(const vm_debug *d)
{
    return d ? d->code_start : 0;
}

int vm_debug_address_to_offset(const vm_debug *d, uint64_t address,
                               uint32_t *offset)
{
    if (!d || address > d->code_len)
        return VM_ERR_NOT_FOUND;
    *offset = d->code_start + (uint32_t)address;
    return 0;
}

int vm_debug_offset_to_address(const vm_debug *d, uint32_t offset,
                               uint32_t *address)
{
    if (!d || offset < d->code_start || offset - d->code_start > d->code_len)
        return VM_ERR_NOT_FOUND;
    *address = offset - d->code_start;
    return 0;
}

uint32_t vm_debug_file_count(const vm_debug *d)
{
    return d ? d->nfiles : 0;
}

const char *vm_debug_file_path(const vm_debug *d, uint32_t i)
{
    return d && i < d->nfiles ? d->files[i] : NULL;
}

const vm_debug_row *vm_debug_rows(const vm_debug *d, size_t *count)
{
    if (count)
        *count = d ? d->nrows : 0;
    return d ? d->rows : NULL;
}

/* First index in rows[0, n) whose offset is > offset. */
static size_t rows_upper(const vm_debug_row *rows, size_t n, uint32_t offset)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (rows[mid].offset <= offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* First index in rows[0, n) whose offset is >= offset. */
static size_t rows_lower(const vm_debug_row *rows, size_t n, uint32_t offset)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (rows[mid].offset < offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

const vm_debug_row *vm_debug_row_at(const vm_debug *d, uint32_t offset)
{
    size_t i;

    if (!d)
        return NULL;
    i = rows_upper(d->rows, d->nrows, offset);
    if (i == 0 || d->rows[i - 1].end_sequence)
        return NULL;
    return &d->rows[i - 1];
}

const vm_debug_row *vm_debug_steps(const vm_debug *d, size_t *count)
{
    if (count)
        *count = d ? d->nsteps : 0;
    return d ? d->steps : NULL;
}

const vm_debug_row *vm_debug_step_at(const vm_debug *d, uint32_t offset)
{
    size_t i;

    if (!d)
        return NULL;
    i = rows_lower(d->steps, d->nsteps, offset);
    return i < d->nsteps && d->steps[i].offset == offset ? &d->steps[i]
                                                         : NULL;
}

int vm_debug_func_range(const vm_debug *d, uint32_t funcidx,
                        uint32_t *entry, uint32_t *code, uint32_t *end)
{
    uint32_t k;

    if (!d || funcidx < d->nfuncs_imported || funcidx >= d->nfuncs_total)
        return VM_ERR_NOT_FOUND;
    k = funcidx - d->nfuncs_imported;
    if (entry)
        *entry = d->func_entry[k];
    if (code)
        *code = d->func_code[k];
    if (end)
        *end = d->func_end[k];
    return 0;
}

int vm_debug_func_steps(const vm_debug *d, uint32_t funcidx,
                        const vm_debug_row **steps, size_t *count)
{
    uint32_t entry, end;
    size_t first, last;

    *steps = NULL;
    *count = 0;
    if (vm_debug_func_range(d, funcidx, &entry, NULL, &end) < 0)
        return VM_ERR_NOT_FOUND;
    if (!d->nsteps)
        return 0;
    first = rows_lower(d->steps, d->nsteps, entry);
    last = rows_lower(d->steps, d->nsteps, end);
    *steps = d->steps + first;
    *count = last - first;
    return 0;
}

uint32_t vm_debug_type_count(const vm_debug *d)
{
    return d ? d->ntypes : 0;
}

const vm_debug_type *vm_debug_type_get(const vm_debug *d, uint32_t i)
{
    return d && i < d->ntypes ? &d->types[i] : NULL;
}

uint32_t vm_debug_type_resolve(const vm_debug *d, uint32_t i)
{
    for (uint32_t n = 0; d && i < d->ntypes && n < VM_DEBUG_MAX_CHAIN; n++) {
        const vm_debug_type *t = &d->types[i];
        switch (t->kind) {
        case VM_DEBUG_TYPE_TYPEDEF:
        case VM_DEBUG_TYPE_CONST:
        case VM_DEBUG_TYPE_VOLATILE:
            i = t->target;
            break;
        case VM_DEBUG_TYPE_ENUM:
            if (t->target == VM_DEBUG_NONE)
                return i;
            i = t->target;
            break;
        case VM_DEBUG_TYPE_OTHER:
            /* restrict, atomic...: qualifiers, when they have a target */
            if (t->target == VM_DEBUG_NONE)
                return i;
            i = t->target;
            break;
        default:
            return i;
        }
    }
    return VM_DEBUG_NONE;
}

uint32_t vm_debug_unit_count(const vm_debug *d)
{
    return d ? d->nunits : 0;
}

const vm_debug_unit *vm_debug_unit_get(const vm_debug *d, uint32_t i)
{
    return d && i < d->nunits ? &d->units[i] : NULL;
}

uint32_t vm_debug_subprogram_count(const vm_debug *d)
{
    return d ? d->nsubs : 0;
}

const vm_debug_subprogram *vm_debug_subprogram_get(const vm_debug *d,
                                                   uint32_t i)
{
    return d && i < d->nsubs ? &d->subs[i] : NULL;
}

const vm_debug_subprogram *vm_debug_subprogram_at(const vm_debug *d,
                                                  uint32_t offset)
{
    uint32_t s = d ? sub_index_at(d, offset) : VM_DEBUG_NONE;

    return s == VM_DEBUG_NONE ? NULL : &d->subs[s];
}

const vm_debug_subprogram *vm_debug_func(const vm_debug *d, uint32_t funcidx)
{
    if (!d || funcidx >= d->nfuncs_total ||
        d->func_sub[funcidx] == VM_DEBUG_NONE)
        return NULL;
    return &d->subs[d->func_sub[funcidx]];
}

uint32_t vm_debug_func_count(const vm_debug *d)
{
    return d ? d->nfuncs_total : 0;
}
