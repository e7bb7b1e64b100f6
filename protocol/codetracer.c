/*
 * CodeTracer writer: our event stream -> a runtime_tracing trace directory
 * (trace.json, trace_metadata.json, trace_paths.json, files/). The format
 * and the mapping are in docs/codetracer.md; the API in
 * traced/proto_codetracer.h.
 *
 * Records are formatted by hand into one buffer and written with write(2)
 * when it fills: a call-heavy run makes millions of records and a JSON
 * library's tree per record would cost more than the formatting. The
 * layout of trace.json is line-oriented on purpose:
 *
 *     [
 *     {"Path":"..."},
 *     {"Function":{...}},
 *     ...every record on its own line, followed by ","
 *
 * Strings are escaped, so a raw newline only ever ends a complete record.
 * That gives repair a simple rule (keep every line that ends in ","), and
 * closing means replacing the last ",\n" with "\n]\n".
 *
 * Ids are implicit: the nth Path, Function, Type or VariableName record
 * defines id n. The writer interns each on first use and emits its record
 * before the record that uses it; Paths are all registered at the start
 * (the listing, then the module's DWARF sources), so trace_paths.json is
 * written once.
 *
 * With DWARF (proto_source_has_debug), Function records point at the
 * subprogram's declaration, step events become Steps at (source path,
 * line), and values are typed from the DWARF base types; without it
 * everything points into the listing (docs/codetracer.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto_int.h"
#include "traced/proto_code.h"
#include "traced/proto_codetracer.h"
#include "traced/proto_source.h"
#include "traced/vm_debug.h"
#include "traced/vm_listing.h"

#define DEFAULT_BUFFER (64u << 10)
#define NO_ID UINT32_MAX
#define TOPLEVEL_FUNCTION 0u /* function id of <toplevel> */
#define NONE_TYPE 0u         /* type id of None */
#define LISTING_PATH 0u      /* path id of the listing */
/* A source file larger than this is not copied (reported missing). */
#define MAX_SOURCE_BYTES (16u << 20)

/* ---- A growable byte buffer ------------------------------------------------ */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    bool failed; /* an allocation failed; content is incomplete */
} sbuf;

static bool sb_reserve(sbuf *b, size_t more)
{
    size_t cap;
    char *p;

    if (b->failed)
        return false;
    if (b->len + more <= b->cap)
        return true;
    cap = b->cap ? b->cap : 256;
    while (cap < b->len + more)
        cap *= 2;
    p = proto__realloc(b->p, cap);
    if (!p) {
        b->failed = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (!sb_reserve(b, n))
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void sb_puts(sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

static void sb_printf(sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void sb_printf(sbuf *b, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n >= 0)
        sb_put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static void sb_free(sbuf *b)
{
    proto__free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* Length of a valid UTF-8 sequence at s[0..n), or 0 if it is not one. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xbf;
    size_t len;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4;
    else
        return 0;
    if (c == 0xe0)
        lo = 0xa0;
    else if (c == 0xed)
        hi = 0x9f;
    else if (c == 0xf0)
        lo = 0x90;
    else if (c == 0xf4)
        hi = 0x8f;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return len;
}

/* A JSON string of n bytes of s. Bytes that are not UTF-8 become U+FFFD,
 * since program output and wasm names may be anything. */
static void sb_json_str(sbuf *b, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, run = 0;

    if (!sb_reserve(b, n + 2))
        return;
    sb_put(b, "\"", 1);
    while (i < n) {
        unsigned char c = u[i];
        size_t k;

        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            /* Copy runs of plain ASCII in one go. */
            run = i;
            while (i < n && u[i] >= 0x20 && u[i] != '"' && u[i] != '\\' &&
                   u[i] < 0x80)
                i++;
            sb_put(b, s + run, i - run);
            continue;
        }
        switch (c) {
        case '"': sb_put(b, "\\\"", 2); i++; continue;
        case '\\': sb_put(b, "\\\\", 2); i++; continue;
        case '\n': sb_put(b, "\\n", 2); i++; continue;
        case '\r': sb_put(b, "\\r", 2); i++; continue;
        case '\t': sb_put(b, "\\t", 2); i++; continue;
        default: break;
        }
        if (c < 0x20) {
            sb_printf(b, "\\u%04x", c);
            i++;
            continue;
        }
        k = utf8_seq(u + i, n - i);
        if (k == 0) {
            sb_put(b, "\\ufffd", 6);
            i++;
        } else {
            sb_put(b, s + i, k);
            i += k;
        }
    }
    sb_put(b, "\"", 1);
}

static void sb_json_cstr(sbuf *b, const char *s)
{
    sb_json_str(b, s, strlen(s));
}

/* ---- Float text ------------------------------------------------------------ */

/* Shortest decimal that reads back as the same value; NaN and the
 * infinities as Rust's f64 parser spells them. */
static void format_f64(char *buf, size_t n, double d)
{
    if (isnan(d)) {
        snprintf(buf, n, "NaN");
        return;
    }
    if (isinf(d)) {
        snprintf(buf, n, d < 0 ? "-inf" : "inf");
        return;
    }
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, n, "%.*g", p, d);
        if (strtod(buf, NULL) == d)
            return;
    }
}

static void format_f32(char *buf, size_t n, float f)
{
    if (isnan(f) || isinf(f)) {
        format_f64(buf, n, (double)f);
        return;
    }
    for (int p = 1; p <= 9; p++) {
        snprintf(buf, n, "%.*g", p, (double)f);
        if (strtof(buf, NULL) == f)
            return;
    }
}

/* ---- Interning ---------------------------------------------------------------- */

/* Variable names -> ids: open addressing over a power-of-two table. */
typedef struct name_slot {
    char *name; /* owned; NULL = empty */
    uint32_t id;
} name_slot;

typedef struct name_table {
    name_slot *slots;
    uint32_t cap, count;
} name_table;

static uint32_t hash_str(const char *s)
{
    uint32_t h = 2166136261u;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static name_slot *names_find(name_table *t, const char *s)
{
    uint32_t i;

    if (!t->cap)
        return NULL;
    i = hash_str(s) & (t->cap - 1);
    while (t->slots[i].name && strcmp(t->slots[i].name, s) != 0)
        i = (i + 1) & (t->cap - 1);
    return &t->slots[i];
}

static int names_grow(name_table *t)
{
    uint32_t cap = t->cap ? t->cap * 2 : 64;
    name_slot *old = t->slots, *slots = proto__calloc(cap, sizeof *slots);
    uint32_t oldcap = t->cap;

    if (!slots)
        return PROTO_ERR_NOMEM;
    t->slots = slots;
    t->cap = cap;
    for (uint32_t i = 0; i < oldcap; i++)
        if (old[i].name)
            *names_find(t, old[i].name) = old[i];
    proto__free(old);
    return 0;
}

static void names_free(name_table *t)
{
    for (uint32_t i = 0; i < t->cap; i++)
        proto__free(t->slots[i].name);
    proto__free(t->slots);
    t->slots = NULL;
    t->cap = t->count = 0;
}

/* Value type slots of the Type table. */
enum {
    TS_I32,
    TS_I64,
    TS_F32,
    TS_F64,
    TS_V128,
    TS_FUNCREF,
    TS_EXTERNREF,
    TS_TUPLE,
    TS_COUNT
};

/* A source file named by the DWARF file table (or by run_start's): its
 * path id is its index + 1, after the listing's. */
typedef struct src_file {
    char *path;  /* as the DWARF names it; owned */
    bool copied; /* files/ holds it (mirror_path) */
} src_file;

/* How a value is written: as its wasm type, or read as a DWARF type. */
enum {
    VAL_WASM,
    VAL_SIGNED,   /* Int */
    VAL_UNSIGNED, /* Int, or Raw decimal text above INT64_MAX */
    VAL_BOOL,     /* Bool */
    VAL_CHAR_S,   /* String of one char (signed char) */
    VAL_CHAR_U,   /* String of one char (unsigned char) */
    VAL_FLOAT,    /* Float */
    VAL_POINTER,  /* Raw "0x..." */
};

/* One argument or result, classified before its records are built. */
typedef struct val_info {
    uint32_t var;     /* VariableName id (arguments) */
    uint32_t type_id; /* VAL_WASM: unused (the wasm type's) */
    uint32_t size;    /* the source type's bytes */
    int cls;
} val_info;

/* Prepared values of one function, DWARF mode: the classification, Type
 * and VariableName of each parameter and of the result are the same at
 * every call, and working them out (proto_source, the type's spelling)
 * costs far more than writing the value. */
typedef struct val_slot {
    uint8_t vtype; /* the wasm type it was prepared for; 0: not yet */
    val_info vi;
} val_slot;

typedef struct func_vals {
    uint32_t nparams; /* slots: the parameters, then the result */
    val_slot *slots;  /* NULL until the function's first value */
} func_vals;

typedef struct frame {
    uint32_t func;
    uint32_t depth; /* wasm frames incl. this one; host: the caller's */
    bool host;
} frame;

struct proto_ct_writer {
    const vm_module *module;
    vm_listing *listing;
    char *dir;      /* as given */
    char *abs_dir;  /* realpath(dir) */
    char *program;  /* metadata program override, or NULL */
    char *workdir;
    int fd;         /* trace.json */
    uint64_t file_len;
    size_t buffer_bytes;
    sbuf out;       /* complete records not yet written */
    sbuf rec;       /* scratch */
    uint64_t records;

    bool started, ended, closed;
    char *listing_path; /* absolute path of files/NAME.wat: path id 0 */

    uint32_t nfuncs;
    uint32_t *func_ids; /* wasm function index -> Function id, NO_ID */
    /* The Step a call of the function starts with (its Function's
     * location), valid where func_ids is set. */
    uint32_t *func_path_ids, *func_lines;

    /* DWARF; all empty without it. */
    proto_source *src;       /* names and value types; NULL without DWARF */
    const vm_debug *dbg;     /* proto_source_debug(src) */
    bool src_functions;      /* Function records at declarations (not at
                                level ops, whose Steps are listing lines) */
    char *source_dir;        /* opts->source_dir, or NULL */
    bool read_source_paths;
    src_file *srcs;
    uint32_t nsrcs, srcs_cap, ncopied, nmissing;
    name_table src_index;    /* path -> srcs index */
    uint32_t *dwarf_paths;   /* DWARF file index -> path id */
    uint32_t ndwarf_paths;
    uint32_t *step_paths;    /* run_start file index -> path id, or NULL:
                                dwarf_paths */
    uint32_t nstep_paths;
    name_table src_types;    /* "KIND:lang_type" -> Type id */
    func_vals *fvals;        /* [nfuncs], DWARF mode only */
    uint32_t next_func_id;
    uint32_t type_ids[TS_COUNT];
    uint32_t next_type_id;
    name_table vars;
    uint32_t next_var_id;

    frame *frames;
    uint32_t nframes, frames_cap;
    bool toplevel_open;

    /* Expands ops and steps events (docs/protocol.md, "Op runs"); built
     * at the first one, NULL before. */
    proto_code *code;

    int status;
    char errmsg[256];
};

static int fail(proto_ct_writer *w, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Record the writer's first error and return it. */
static int fail(proto_ct_writer *w, int code, const char *fmt, ...)
{
    va_list ap;

    if (w->status)
        return w->status;
    va_start(ap, fmt);
    vsnprintf(w->errmsg, sizeof w->errmsg, fmt, ap);
    va_end(ap);
    w->status = code;
    return code;
}

static int report(const proto_ct_writer *w, char *err, size_t errlen)
{
    if (w->status)
        return proto__error(err, errlen, w->status, "codetracer: %s",
                            w->errmsg);
    return 0;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = proto__malloc(n);

    if (d)
        memcpy(d, s, n);
    return d;
}

/* The slot of key in t (growing t first): a new key's slot has no name
 * yet, and the caller fills it in and counts it. NULL when out of memory. */
static name_slot *names_slot(proto_ct_writer *w, name_table *t,
                             const char *key)
{
    if (t->count * 2 >= t->cap && names_grow(t) < 0) {
        fail(w, PROTO_ERR_NOMEM, "out of memory");
        return NULL;
    }
    return names_find(t, key);
}

static char *join_path(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *p = proto__malloc(na + nb + 2);

    if (!p)
        return NULL;
    memcpy(p, a, na);
    p[na] = '/';
    memcpy(p + na + 1, b, nb + 1);
    return p;
}

/* ---- Output --------------------------------------------------------------------- */

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t r = write(fd, p, n);

        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static int flush_out(proto_ct_writer *w)
{
    if (w->status)
        return w->status;
    if (w->out.len == 0)
        return 0;
    if (write_all(w->fd, w->out.p, w->out.len) < 0)
        return fail(w, PROTO_ERR_IO, "writing trace.json: %s",
                    strerror(errno));
    w->file_len += w->out.len;
    w->out.len = 0;
    return 0;
}

/* Move the record built in w->rec to the output, as one line. */
static int end_record(proto_ct_writer *w)
{
    if (w->status)
        return w->status;
    if (w->rec.failed || w->out.failed)
        return fail(w, PROTO_ERR_NOMEM, "out of memory");
    sb_put(&w->out, w->rec.p, w->rec.len);
    sb_put(&w->out, ",\n", 2);
    w->rec.len = 0;
    if (w->out.failed)
        return fail(w, PROTO_ERR_NOMEM, "out of memory");
    w->records++;
    if (w->out.len >= w->buffer_bytes)
        return flush_out(w);
    return 0;
}

/* Write data to path through path.tmp and rename(2), so readers never see
 * it half-written. 0, PROTO_ERR_IO with errno set, or PROTO_ERR_NOMEM. */
static int put_file(const char *path, const char *data, size_t len)
{
    size_t n = strlen(path) + 5;
    char *tmp = proto__malloc(n);
    int fd, rc = 0, saved;

    if (!tmp)
        return PROTO_ERR_NOMEM;
    snprintf(tmp, n, "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || write_all(fd, data, len) < 0) {
        saved = errno;
        if (fd >= 0)
            close(fd);
        unlink(tmp);
        errno = saved;
        rc = PROTO_ERR_IO;
    } else if (close(fd) < 0 || rename(tmp, path) < 0) {
        saved = errno;
        unlink(tmp);
        errno = saved;
        rc = PROTO_ERR_IO;
    }
    proto__free(tmp);
    return rc;
}

/* A whole small file of the trace directory; a failure fails the writer. */
static int write_file_atomic(proto_ct_writer *w, const char *name,
                             const char *data, size_t len)
{
    char *path = join_path(w->dir, name);
    int rc;

    if (!path)
        return fail(w, PROTO_ERR_NOMEM, "out of memory");
    rc = put_file(path, data, len);
    if (rc == PROTO_ERR_NOMEM)
        fail(w, rc, "out of memory");
    else if (rc)
        rc = fail(w, PROTO_ERR_IO, "writing %s: %s", path, strerror(errno));
    proto__free(path);
    return rc;
}

/* ---- Sources ------------------------------------------------------------------------ */

/*
 * Read the regular file at path (at most MAX_SOURCE_BYTES) into a new
 * buffer. 0 with *out, 1 when it is not there or not a readable regular
 * file (a DWARF path may name anything: a FIFO must not block us, a
 * device must not be read), PROTO_ERR_NOMEM.
 */
static int read_source(const char *path, char **out, size_t *len)
{
    struct stat st;
    char *data;
    size_t got = 0;
    int fd;

    *out = NULL;
    fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return 1;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
        (uint64_t)st.st_size > MAX_SOURCE_BYTES) {
        close(fd);
        return 1;
    }
    data = proto__malloc((size_t)st.st_size + 1);
    if (!data) {
        close(fd);
        return PROTO_ERR_NOMEM;
    }
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, data + got, (size_t)st.st_size - got);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            proto__free(data);
            close(fd);
            return 1;
        }
        if (r == 0)
            break; /* shrank meanwhile: keep what there is */
        got += (size_t)r;
    }
    close(fd);
    *out = data;
    *len = got;
    return 0;
}

/* The components of path that name something ("" and "." dropped), joined
 * with '/', into b (NUL-terminated); starts[] gets where each begins, up
 * to max. Returns the component count. */
static size_t path_components(const char *path, sbuf *b, size_t *starts,
                              size_t max)
{
    size_t n = 0;

    while (*path) {
        const char *slash = strchr(path, '/');
        size_t len = slash ? (size_t)(slash - path) : strlen(path);

        if (len && !(len == 1 && path[0] == '.')) {
            if (b->len)
                sb_put(b, "/", 1);
            if (n < max)
                starts[n] = b->len;
            n++;
            sb_put(b, path, len);
        }
        path += len;
        if (*path)
            path++;
    }
    sb_put(b, "", 1);
    return n;
}

#define MAX_COMPONENTS 256

/* Where the copy of path goes: "files/" + its components, ".." spelled
 * "__" so that the copy stays inside files/. *out NULL when path names
 * nothing. 0 or PROTO_ERR_NOMEM. */
static int mirror_path(const char *path, char **out)
{
    sbuf comps = {0}, b = {0};
    size_t starts[MAX_COMPONENTS], n;

    *out = NULL;
    n = path_components(path, &comps, starts, MAX_COMPONENTS);
    if (comps.failed) {
        sb_free(&comps);
        return PROTO_ERR_NOMEM;
    }
    if (n == 0 || n > MAX_COMPONENTS) {
        sb_free(&comps);
        return 0;
    }
    sb_puts(&b, "files");
    for (size_t i = 0; i < n; i++) {
        size_t end = i + 1 < n ? starts[i + 1] - 1 : comps.len - 1;
        const char *c = comps.p + starts[i];

        sb_put(&b, "/", 1);
        if (end - starts[i] == 2 && c[0] == '.' && c[1] == '.')
            sb_put(&b, "__", 2);
        else
            sb_put(&b, c, end - starts[i]);
    }
    sb_put(&b, "", 1);
    sb_free(&comps);
    if (b.failed) {
        sb_free(&b);
        return PROTO_ERR_NOMEM;
    }
    *out = b.p;
    return 0;
}

/* Look for path in the source bundle dir: its longest suffix of
 * components (after any "..") that names a file there. 0 with *out, 1 not
 * found, PROTO_ERR_NOMEM. */
static int read_bundle(const char *dir, const char *path, char **out,
                       size_t *len)
{
    sbuf comps = {0};
    size_t starts[MAX_COMPONENTS], n, first = 0;
    int rc = 1;

    *out = NULL;
    n = path_components(path, &comps, starts, MAX_COMPONENTS);
    if (comps.failed) {
        sb_free(&comps);
        return PROTO_ERR_NOMEM;
    }
    if (n > MAX_COMPONENTS)
        n = 0;
    for (size_t i = 0; i < n; i++) {
        const char *c = comps.p + starts[i];

        if (c[0] == '.' && c[1] == '.' && (c[2] == '/' || c[2] == '\0'))
            first = i + 1;
    }
    for (size_t i = first; i < n && rc == 1; i++) {
        char *cand = join_path(dir, comps.p + starts[i]);

        if (!cand) {
            rc = PROTO_ERR_NOMEM;
            break;
        }
        rc = read_source(cand, out, len);
        proto__free(cand);
    }
    sb_free(&comps);
    return rc;
}

/* Create the directories of rel (a path under w->dir) that are missing.
 * 0, PROTO_ERR_IO or PROTO_ERR_NOMEM. */
static int make_parents(const proto_ct_writer *w, const char *rel)
{
    char *full = join_path(w->dir, rel);
    size_t skip;

    if (!full)
        return PROTO_ERR_NOMEM;
    skip = strlen(w->dir) + 1;
    for (char *p = full + skip; (p = strchr(p, '/')) != NULL; p++) {
        *p = '\0';
        if (mkdir(full, 0755) < 0 && errno != EEXIST) {
            proto__free(full);
            return PROTO_ERR_IO;
        }
        *p = '/';
    }
    proto__free(full);
    return 0;
}

/* Copy source f into files/: from the bundle, else (when allowed and the
 * path is absolute) from its path. A source that cannot be read or
 * written is missing, not an error; only out of memory fails. */
static int copy_source(proto_ct_writer *w, src_file *f)
{
    char *rel = NULL, *data = NULL, *full = NULL;
    size_t len = 0;
    int rc;

    rc = mirror_path(f->path, &rel);
    if (rc || !rel)
        goto done;
    rc = 1;
    if (w->source_dir)
        rc = read_bundle(w->source_dir, f->path, &data, &len);
    if (rc == 1 && w->read_source_paths && f->path[0] == '/')
        rc = read_source(f->path, &data, &len);
    if (rc)
        goto done;
    rc = make_parents(w, rel);
    if (rc)
        goto done;
    full = join_path(w->dir, rel);
    rc = full ? put_file(full, data, len) : PROTO_ERR_NOMEM;
    f->copied = rc == 0;

done:
    proto__free(full);
    proto__free(data);
    proto__free(rel);
    if (rc == PROTO_ERR_NOMEM)
        return fail(w, rc, "out of memory");
    if (f->copied)
        w->ncopied++;
    else
        w->nmissing++;
    return 0;
}

/* The srcs index of path, registering (and copying) it on first sight;
 * NO_ID when out of memory. */
static uint32_t add_source(proto_ct_writer *w, const char *path)
{
    name_slot *slot = names_slot(w, &w->src_index, path);
    src_file *f;

    if (!slot)
        return NO_ID;
    if (slot->name)
        return slot->id;
    if (w->nsrcs == w->srcs_cap) {
        uint32_t cap = w->srcs_cap ? w->srcs_cap * 2 : 16;
        src_file *n = proto__realloc(w->srcs, cap * sizeof *n);

        if (!n) {
            fail(w, PROTO_ERR_NOMEM, "out of memory");
            return NO_ID;
        }
        w->srcs = n;
        w->srcs_cap = cap;
    }
    f = &w->srcs[w->nsrcs];
    f->path = dup_str(path);
    f->copied = false;
    slot->name = dup_str(path);
    if (!f->path || !slot->name) {
        proto__free(f->path);
        proto__free(slot->name);
        slot->name = NULL;
        fail(w, PROTO_ERR_NOMEM, "out of memory");
        return NO_ID;
    }
    slot->id = w->nsrcs++;
    w->src_index.count++;
    if (copy_source(w, f))
        return NO_ID;
    return slot->id;
}

/* ---- Records ----------------------------------------------------------------------- */

static uint32_t type_slot(uint8_t vt)
{
    switch (vt) {
    case VM_I32: return TS_I32;
    case VM_I64: return TS_I64;
    case VM_F32: return TS_F32;
    case VM_F64: return TS_F64;
    case VM_V128: return TS_V128;
    case VM_FUNCREF: return TS_FUNCREF;
    default: return TS_EXTERNREF;
    }
}

/* The Type id of slot, emitting its Type record on first use. */
static uint32_t ensure_type(proto_ct_writer *w, uint32_t slot)
{
    static const struct {
        int kind;
        const char *name;
    } types[TS_COUNT] = {
        [TS_I32] = {PROTO_CT_TYPE_INT, "i32"},
        [TS_I64] = {PROTO_CT_TYPE_INT, "i64"},
        [TS_F32] = {PROTO_CT_TYPE_FLOAT, "f32"},
        [TS_F64] = {PROTO_CT_TYPE_FLOAT, "f64"},
        [TS_V128] = {PROTO_CT_TYPE_RAW, "v128"},
        [TS_FUNCREF] = {PROTO_CT_TYPE_RAW, "funcref"},
        [TS_EXTERNREF] = {PROTO_CT_TYPE_RAW, "externref"},
        [TS_TUPLE] = {PROTO_CT_TYPE_TUPLE, "results"},
    };

    if (w->type_ids[slot] == NO_ID) {
        sb_printf(&w->rec, "{\"Type\":{\"kind\":%d,\"lang_type\":",
                  types[slot].kind);
        sb_json_cstr(&w->rec, types[slot].name);
        sb_puts(&w->rec, ",\"specific_info\":{\"kind\":\"None\"}}}");
        end_record(w);
        w->type_ids[slot] = w->next_type_id++;
    }
    return w->type_ids[slot];
}

static void ensure_val_types(proto_ct_writer *w, proto_vals v)
{
    for (uint32_t i = 0; i < v.count; i++)
        ensure_type(w, type_slot(v.items[i].type));
}

/* A ValueRecord of v into b; its Type must already be emitted. */
static void put_value(proto_ct_writer *w, sbuf *b, const proto_val *v)
{
    uint32_t tid = w->type_ids[type_slot(v->type)];
    char num[64];
    float f;
    double d;

    switch (v->type) {
    case VM_I32:
        sb_printf(b, "{\"kind\":\"Int\",\"i\":%" PRId32, v->of.i32);
        break;
    case VM_I64:
        sb_printf(b, "{\"kind\":\"Int\",\"i\":%" PRId64, v->of.i64);
        break;
    case VM_F32:
        memcpy(&f, &v->of.f32_bits, sizeof f);
        format_f32(num, sizeof num, f);
        sb_printf(b, "{\"kind\":\"Float\",\"f\":\"%s\"", num);
        break;
    case VM_F64:
        memcpy(&d, &v->of.f64_bits, sizeof d);
        format_f64(num, sizeof num, d);
        sb_printf(b, "{\"kind\":\"Float\",\"f\":\"%s\"", num);
        break;
    case VM_V128:
        sb_puts(b, "{\"kind\":\"Raw\",\"r\":\"i32x4");
        for (int i = 0; i < 16; i += 4)
            sb_printf(b, " 0x%08" PRIx32,
                      (uint32_t)v->of.v128[i] |
                          (uint32_t)v->of.v128[i + 1] << 8 |
                          (uint32_t)v->of.v128[i + 2] << 16 |
                          (uint32_t)v->of.v128[i + 3] << 24);
        sb_puts(b, "\"");
        break;
    default:
        if (v->of.ref == PROTO_REF_NULL)
            sb_puts(b, "{\"kind\":\"Raw\",\"r\":\"null\"");
        else if (v->type == VM_FUNCREF)
            sb_printf(b, "{\"kind\":\"Raw\",\"r\":\"func %" PRIu64 "\"",
                      v->of.ref);
        else
            sb_printf(b, "{\"kind\":\"Raw\",\"r\":\"ref 0x%" PRIx64 "\"",
                      v->of.ref);
        break;
    }
    sb_printf(b, ",\"type_id\":%" PRIu32 "}", tid);
}

static void put_error_value(sbuf *b, const char *msg)
{
    sb_puts(b, "{\"kind\":\"Error\",\"msg\":");
    sb_json_cstr(b, msg);
    sb_printf(b, ",\"type_id\":%u}", NONE_TYPE);
}

/* A result list as one ValueRecord: None, the value, or a Tuple. The
 * types must already be emitted (ensure_results). */
static void put_results(proto_ct_writer *w, sbuf *b, proto_vals v)
{
    if (v.count == 0) {
        sb_printf(b, "{\"kind\":\"None\",\"type_id\":%u}", NONE_TYPE);
    } else if (v.count == 1) {
        put_value(w, b, &v.items[0]);
    } else {
        sb_puts(b, "{\"kind\":\"Tuple\",\"elements\":[");
        for (uint32_t i = 0; i < v.count; i++) {
            if (i)
                sb_puts(b, ",");
            put_value(w, b, &v.items[i]);
        }
        sb_printf(b, "],\"type_id\":%" PRIu32 "}", w->type_ids[TS_TUPLE]);
    }
}

static void ensure_results(proto_ct_writer *w, proto_vals v)
{
    ensure_val_types(w, v);
    if (v.count > 1)
        ensure_type(w, TS_TUPLE);
}

static uint32_t func_line(const proto_ct_writer *w, uint32_t func)
{
    uint32_t line = w->listing ? vm_listing_func_line(w->listing, func) : 0;

    return line ? line : 1;
}

/* The subprogram of func when the writer has DWARF, else NULL. */
static const vm_debug_subprogram *func_sub(const proto_ct_writer *w,
                                           uint32_t func)
{
    return w->dbg && func < w->nfuncs ? vm_debug_func(w->dbg, func) : NULL;
}

/* The Function id of wasm function func, emitting its record first: at
 * the subprogram's declaration (DWARF), else at its listing header. */
static uint32_t ensure_function(proto_ct_writer *w, uint32_t func)
{
    const vm_debug_subprogram *sp = func_sub(w, func);
    uint32_t path = LISTING_PATH, line = func_line(w, func);
    char fallback[32];
    const char *name;

    if (func < w->nfuncs && w->func_ids[func] != NO_ID)
        return w->func_ids[func];
    if (func < w->nfuncs) {
        name = sp && sp->name ? sp->name
                              : vm_listing_func_name(w->listing, func);
    } else {
        /* Not in the module: a stream that does not match it. Give the
         * call a function of its own rather than failing the export. */
        snprintf(fallback, sizeof fallback, "func[%" PRIu32 "]", func);
        name = fallback;
        line = 1;
    }
    if (sp && w->src_functions && sp->decl_line &&
        sp->decl_file < w->ndwarf_paths &&
        w->dwarf_paths[sp->decl_file] != NO_ID) {
        path = w->dwarf_paths[sp->decl_file];
        line = sp->decl_line;
    }
    sb_printf(&w->rec, "{\"Function\":{\"path_id\":%" PRIu32
                       ",\"line\":%" PRIu32 ",\"name\":",
              path, line);
    sb_json_cstr(&w->rec, name);
    sb_puts(&w->rec, "}}");
    end_record(w);
    if (func < w->nfuncs) {
        w->func_ids[func] = w->next_func_id;
        w->func_path_ids[func] = path;
        w->func_lines[func] = line;
    }
    return w->next_func_id++;
}

/* The VariableName id of name, emitting its record first. */
static uint32_t ensure_var(proto_ct_writer *w, const char *name)
{
    name_slot *s = names_slot(w, &w->vars, name);

    if (!s)
        return 0;
    if (s->name)
        return s->id;
    s->name = dup_str(name);
    if (!s->name) {
        fail(w, PROTO_ERR_NOMEM, "out of memory");
        return 0;
    }
    s->id = w->next_var_id++;
    w->vars.count++;
    sb_puts(&w->rec, "{\"VariableName\":");
    sb_json_cstr(&w->rec, name);
    sb_puts(&w->rec, "}");
    end_record(w);
    return s->id;
}

/* Parameter i of func: its name from the name section, else "p<i>". */
static const char *param_name(const proto_ct_writer *w, uint32_t func,
                              uint32_t i, char *buf, size_t n)
{
    const char *name = func < w->nfuncs
                           ? vm_module_local_name(w->module, func, i)
                           : NULL;

    if (name && *name)
        return name;
    snprintf(buf, n, "p%" PRIu32, i);
    return buf;
}

/* ---- Values typed from DWARF ------------------------------------------------ */

/* How wasm value v reads as the (resolved) DWARF type ty: VAL_WASM when
 * it does not (no type, a struct, a long double, a value of the wrong
 * wasm type for it: a module that does not match the stream). */
static int classify(const vm_debug_type *ty, const proto_val *v)
{
    bool is_int = v->type == VM_I32 || v->type == VM_I64;
    bool is_float = v->type == VM_F32 || v->type == VM_F64;

    if (!ty)
        return VAL_WASM;
    if (ty->kind == VM_DEBUG_TYPE_POINTER)
        return is_int ? VAL_POINTER : VAL_WASM;
    if (ty->kind != VM_DEBUG_TYPE_BASE || ty->byte_size > 8)
        return VAL_WASM;
    if (ty->encoding == VM_DEBUG_ATE_FLOAT)
        return is_float ? VAL_FLOAT : VAL_WASM;
    if (!is_int)
        return VAL_WASM;
    switch (ty->encoding) {
    case VM_DEBUG_ATE_BOOLEAN: return VAL_BOOL;
    case VM_DEBUG_ATE_SIGNED: return VAL_SIGNED;
    case VM_DEBUG_ATE_UNSIGNED:
    case VM_DEBUG_ATE_UTF: return VAL_UNSIGNED;
    case VM_DEBUG_ATE_SIGNED_CHAR:
        return ty->byte_size <= 1 ? VAL_CHAR_S : VAL_SIGNED;
    case VM_DEBUG_ATE_UNSIGNED_CHAR:
        return ty->byte_size <= 1 ? VAL_CHAR_U : VAL_UNSIGNED;
    case VM_DEBUG_ATE_ADDRESS: return VAL_POINTER;
    default: return VAL_WASM;
    }
}

static int class_kind(int cls)
{
    switch (cls) {
    case VAL_BOOL: return PROTO_CT_TYPE_BOOL;
    case VAL_CHAR_S:
    case VAL_CHAR_U: return PROTO_CT_TYPE_CHAR;
    case VAL_FLOAT: return PROTO_CT_TYPE_FLOAT;
    case VAL_POINTER: return PROTO_CT_TYPE_RAW;
    default: return PROTO_CT_TYPE_INT;
    }
}

/* The Type id of a source type (kind, lang_type), emitting its record on
 * first use. */
static uint32_t ensure_src_type(proto_ct_writer *w, int kind,
                                const char *lang_type)
{
    char key[200];
    name_slot *s;

    snprintf(key, sizeof key, "%d:%s", kind, lang_type);
    s = names_slot(w, &w->src_types, key);
    if (!s)
        return NONE_TYPE;
    if (s->name)
        return s->id;
    s->name = dup_str(key);
    if (!s->name) {
        fail(w, PROTO_ERR_NOMEM, "out of memory");
        return NONE_TYPE;
    }
    s->id = w->next_type_id++;
    w->src_types.count++;
    sb_printf(&w->rec, "{\"Type\":{\"kind\":%d,\"lang_type\":", kind);
    sb_json_cstr(&w->rec, lang_type);
    sb_puts(&w->rec, ",\"specific_info\":{\"kind\":\"None\"}}}");
    end_record(w);
    return s->id;
}

/* prepare_value without the cache. */
static void prepare_value_once(proto_ct_writer *w, uint32_t func,
                               bool result, uint32_t i, const proto_val *v,
                               val_info *vi)
{
    proto_source_val sv;
    char buf[32];
    const char *name = NULL;

    memset(vi, 0, sizeof *vi);
    vi->cls = VAL_WASM;
    if (w->src && func != NO_ID &&
        proto_source_value(w->src, func, result, i, v, &sv)) {
        uint32_t t = proto_source_value_type(w->src, func, result, i);
        const vm_debug_type *ty =
            t == VM_DEBUG_NONE
                ? NULL
                : vm_debug_type_get(w->dbg, vm_debug_type_resolve(w->dbg, t));

        name = sv.name;
        if (sv.type && ty && (vi->cls = classify(ty, v)) != VAL_WASM) {
            vi->size = ty->byte_size ? ty->byte_size : 4;
            vi->type_id = ensure_src_type(w, class_kind(vi->cls), sv.type);
        }
    }
    if (vi->cls == VAL_WASM)
        ensure_type(w, type_slot(v->type));
    if (!result) {
        if (!name || !*name)
            name = param_name(w, func, i, buf, sizeof buf);
        vi->var = ensure_var(w, name);
    }
}

/* The cache slot of value i of func's arguments or results, or NULL when
 * there is none (no DWARF, not a function of the module, more values than
 * its type has: a stream of another module) or no memory for it. */
static val_slot *value_slot(proto_ct_writer *w, uint32_t func, bool result,
                            uint32_t i)
{
    func_vals *fv;
    vm_functype_view ft;

    if (!w->fvals || func >= w->nfuncs)
        return NULL;
    fv = &w->fvals[func];
    if (!fv->slots) {
        if (vm_module_func_type(w->module, func, &ft) != 0)
            return NULL;
        fv->slots = proto__calloc(ft.nparams + 1u, sizeof *fv->slots);
        if (!fv->slots)
            return NULL;
        fv->nparams = ft.nparams;
    }
    if (result)
        return i == 0 ? &fv->slots[fv->nparams] : NULL;
    return i < fv->nparams ? &fv->slots[i] : NULL;
}

/*
 * Classify value i of func's arguments (result false) or results, v, and
 * register what its records need (Type; VariableName for an argument) so
 * that they precede the records that use them. func NO_ID: untyped.
 */
static void prepare_value(proto_ct_writer *w, uint32_t func, bool result,
                          uint32_t i, const proto_val *v, val_info *vi)
{
    val_slot *slot = func != NO_ID ? value_slot(w, func, result, i) : NULL;

    if (slot && slot->vtype == v->type) {
        *vi = slot->vi;
        if (vi->cls == VAL_WASM)
            ensure_type(w, type_slot(v->type)); /* emitted already */
        return;
    }
    prepare_value_once(w, func, result, i, v, vi);
    if (slot && !w->status) {
        slot->vtype = v->type;
        slot->vi = *vi;
    }
}

/* A char as CodeTracer shows a one-char String: the character when it is
 * printable ASCII, else its C escape ("\n", "\xc8"). */
static void put_char_text(sbuf *b, uint8_t c)
{
    static const char esc[] = "\a\b\f\n\r\t\v";
    static const char let[] = "abfnrtv";
    const char *e = c ? strchr(esc, c) : NULL;
    char text[8];

    if (c >= 0x20 && c < 0x7f) {
        text[0] = (char)c;
        text[1] = '\0';
    } else if (e) {
        snprintf(text, sizeof text, "\\%c", let[e - esc]);
    } else {
        snprintf(text, sizeof text, "\\x%02x", c);
    }
    sb_json_cstr(b, text);
}

/* The ValueRecord of v as prepared in vi. */
static void put_typed_value(proto_ct_writer *w, sbuf *b, const val_info *vi,
                            const proto_val *v)
{
    uint64_t raw = v->type == VM_I64 ? (uint64_t)v->of.i64
                                     : (uint64_t)(uint32_t)v->of.i32;
    uint64_t mask = vi->size >= 8 ? UINT64_MAX
                                  : ((uint64_t)1 << (8 * vi->size)) - 1;
    int64_t sval = (int64_t)(raw & mask);
    char num[64];

    if (vi->cls == VAL_WASM) {
        put_value(w, b, v);
        return;
    }
    if (vi->size < 8 && (raw & ((uint64_t)1 << (8 * vi->size - 1))))
        sval = (int64_t)((raw & mask) | ~mask);
    switch (vi->cls) {
    case VAL_SIGNED:
        sb_printf(b, "{\"kind\":\"Int\",\"i\":%" PRId64, sval);
        break;
    case VAL_UNSIGNED:
        /* The format's Int is an i64: larger values as decimal text. */
        if ((raw & mask) <= (uint64_t)INT64_MAX)
            sb_printf(b, "{\"kind\":\"Int\",\"i\":%" PRIu64, raw & mask);
        else
            sb_printf(b, "{\"kind\":\"Raw\",\"r\":\"%" PRIu64 "\"",
                      raw & mask);
        break;
    case VAL_BOOL:
        sb_printf(b, "{\"kind\":\"Bool\",\"b\":%s",
                  raw & mask ? "true" : "false");
        break;
    case VAL_CHAR_S:
    case VAL_CHAR_U:
        sb_puts(b, "{\"kind\":\"String\",\"text\":");
        put_char_text(b, (uint8_t)raw);
        break;
    case VAL_FLOAT:
        if (v->type == VM_F32) {
            float f;

            memcpy(&f, &v->of.f32_bits, sizeof f);
            format_f32(num, sizeof num, f);
        } else {
            double d;

            memcpy(&d, &v->of.f64_bits, sizeof d);
            format_f64(num, sizeof num, d);
        }
        sb_printf(b, "{\"kind\":\"Float\",\"f\":\"%s\"", num);
        break;
    default: /* VAL_POINTER */
        sb_printf(b, "{\"kind\":\"Raw\",\"r\":\"0x%" PRIx64 "\"", raw & mask);
        break;
    }
    sb_printf(b, ",\"type_id\":%" PRIu32 "}", vi->type_id);
}

/* ---- Steps, calls, returns ---------------------------------------------------- */

static void emit_step(proto_ct_writer *w, uint32_t path, uint32_t line)
{
    sb_printf(&w->rec,
              "{\"Step\":{\"path_id\":%" PRIu32 ",\"line\":%" PRIu32 "}}",
              path, line);
    end_record(w);
}

/* Call: as runtime_tracing does, the arguments' Value records, a Step to
 * the function's line, then the Call with the arguments. */
static void emit_call(proto_ct_writer *w, uint32_t func, proto_vals args)
{
    uint32_t fid = ensure_function(w, func);
    val_info stack_vi[16], *vi = stack_vi;

    if (args.count > 16) {
        vi = proto__malloc(args.count * sizeof *vi);
        if (!vi) {
            fail(w, PROTO_ERR_NOMEM, "out of memory");
            return;
        }
    }
    for (uint32_t i = 0; i < args.count; i++)
        prepare_value(w, func, false, i, &args.items[i], &vi[i]);
    for (uint32_t i = 0; i < args.count; i++) {
        sb_printf(&w->rec, "{\"Value\":{\"variable_id\":%" PRIu32
                           ",\"value\":",
                  vi[i].var);
        put_typed_value(w, &w->rec, &vi[i], &args.items[i]);
        sb_puts(&w->rec, "}}");
        end_record(w);
    }
    if (func < w->nfuncs)
        emit_step(w, w->func_path_ids[func], w->func_lines[func]);
    else
        emit_step(w, LISTING_PATH, 1);
    sb_printf(&w->rec, "{\"Call\":{\"function_id\":%" PRIu32 ",\"args\":[",
              fid);
    for (uint32_t i = 0; i < args.count; i++) {
        if (i)
            sb_puts(&w->rec, ",");
        sb_printf(&w->rec, "{\"variable_id\":%" PRIu32 ",\"value\":",
                  vi[i].var);
        put_typed_value(w, &w->rec, &vi[i], &args.items[i]);
        sb_puts(&w->rec, "}");
    }
    sb_puts(&w->rec, "]}}");
    end_record(w);
    if (vi != stack_vi)
        proto__free(vi);
}

/* The Return of func (NO_ID: <toplevel>, untyped) with its results. */
static void emit_return(proto_ct_writer *w, uint32_t func, proto_vals results)
{
    val_info vi;

    if (results.count == 1) {
        prepare_value(w, func, true, 0, &results.items[0], &vi);
        sb_puts(&w->rec, "{\"Return\":{\"return_value\":");
        put_typed_value(w, &w->rec, &vi, &results.items[0]);
    } else {
        ensure_results(w, results);
        sb_puts(&w->rec, "{\"Return\":{\"return_value\":");
        put_results(w, &w->rec, results);
    }
    sb_puts(&w->rec, "}}");
    end_record(w);
}

static void emit_error_return(proto_ct_writer *w, const char *msg)
{
    sb_puts(&w->rec, "{\"Return\":{\"return_value\":");
    put_error_value(&w->rec, msg);
    sb_puts(&w->rec, "}}");
    end_record(w);
}

static void emit_event(proto_ct_writer *w, int kind, const char *metadata,
                       const char *content, size_t len)
{
    sb_printf(&w->rec, "{\"Event\":{\"kind\":%d,\"metadata\":", kind);
    sb_json_cstr(&w->rec, metadata);
    sb_puts(&w->rec, ",\"content\":");
    sb_json_str(&w->rec, content, len);
    sb_puts(&w->rec, "}}");
    end_record(w);
}

/* ---- The frame stack ------------------------------------------------------------ */

static void push_frame(proto_ct_writer *w, uint32_t func, uint32_t depth,
                       bool host)
{
    if (w->nframes == w->frames_cap) {
        uint32_t cap = w->frames_cap ? w->frames_cap * 2 : 64;
        frame *f = proto__realloc(w->frames, cap * sizeof *f);

        if (!f) {
            fail(w, PROTO_ERR_NOMEM, "out of memory");
            return;
        }
        w->frames = f;
        w->frames_cap = cap;
    }
    w->frames[w->nframes++] = (frame){func, depth, host};
}

/* Close the frames above index keep (keep itself stays) with an Error. */
static void unwind_to(proto_ct_writer *w, uint32_t keep, const char *why)
{
    while (w->nframes > keep) {
        emit_error_return(w, why);
        w->nframes--;
    }
}

/* The current wasm depth: that of the innermost frame (a host frame
 * carries its caller's). */
static uint32_t wasm_depth(const proto_ct_writer *w)
{
    return w->nframes ? w->frames[w->nframes - 1].depth : 0;
}

/* ---- Starting ---------------------------------------------------------------------- */

/* A file name for the listing: the module's name without directories or
 * ".wasm", limited to a safe alphabet. */
static void listing_name(const proto_ct_writer *w, const proto_event *ev,
                         char *buf, size_t n)
{
    const char *src = NULL;
    size_t len = 0, k = 0;

    if (ev && ev->type == PROTO_RUN_START && ev->as.run_start.module.len) {
        src = ev->as.run_start.module.ptr;
        len = ev->as.run_start.module.len;
    } else if (vm_module_name(w->module)) {
        src = vm_module_name(w->module);
        len = strlen(src);
    }
    if (src) {
        const char *slash = memrchr(src, '/', len);

        if (slash) {
            len -= (size_t)(slash + 1 - src);
            src = slash + 1;
        }
        if (len > 5 && memcmp(src + len - 5, ".wasm", 5) == 0)
            len -= 5;
    }
    for (size_t i = 0; src && i < len && k + 5 < n && k < 100; i++) {
        char c = src[i];

        buf[k++] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                           (c >= '0' && c <= '9') || c == '.' || c == '-' ||
                           c == '_'
                       ? c
                       : '_';
    }
    if (k == 0 || buf[0] == '.') {
        k = 0;
        for (const char *d = "module"; *d && k + 5 < n; d++)
            buf[k++] = *d;
    }
    snprintf(buf + k, n - k, ".wat");
}

static int write_metadata(proto_ct_writer *w, const proto_event *ev)
{
    sbuf b = {0};
    const proto_run_start *rs =
        ev && ev->type == PROTO_RUN_START ? &ev->as.run_start : NULL;
    int rc;

    sb_puts(&b, "{\"workdir\":");
    sb_json_cstr(&b, w->workdir);
    sb_puts(&b, ",\"program\":");
    if (w->program)
        sb_json_cstr(&b, w->program);
    else if (rs && rs->module.len)
        sb_json_str(&b, rs->module.ptr, rs->module.len);
    else
        sb_json_cstr(&b, vm_module_name(w->module) ? vm_module_name(w->module)
                                                   : "module");
    sb_puts(&b, ",\"args\":[");
    for (uint32_t i = 0; rs && i < rs->argc; i++) {
        if (i)
            sb_puts(&b, ",");
        sb_json_str(&b, rs->argv[i].ptr, rs->argv[i].len);
    }
    sb_puts(&b, "]");
    if (w->nmissing) {
        /* Sources the DWARF names that files/ could not get: their Paths
         * are registered all the same, so Steps can name them. */
        bool first = true;

        sb_puts(&b, ",\"missing_sources\":[");
        for (uint32_t i = 0; i < w->nsrcs; i++) {
            if (w->srcs[i].copied)
                continue;
            if (!first)
                sb_puts(&b, ",");
            first = false;
            sb_json_cstr(&b, w->srcs[i].path);
        }
        sb_puts(&b, "]");
    }
    sb_puts(&b, "}\n");
    if (b.failed)
        rc = fail(w, PROTO_ERR_NOMEM, "out of memory");
    else
        rc = write_file_atomic(w, "trace_metadata.json", b.p, b.len);
    sb_free(&b);
    return rc;
}

/* The path id of a step's file: run_start's file table when it has one
 * (that is what steps index), else the module's DWARF file table. */
static uint32_t step_path(const proto_ct_writer *w, uint32_t file)
{
    if (w->step_paths)
        return file < w->nstep_paths ? w->step_paths[file] : NO_ID;
    return file < w->ndwarf_paths ? w->dwarf_paths[file] : NO_ID;
}

/* Map run_start's file table (level lines) to path ids. With the module
 * the run used it is the DWARF file table again; a path it does not have
 * (another module) is registered as a source of its own. */
static int map_run_files(proto_ct_writer *w, const proto_run_start *rs)
{
    w->step_paths = proto__malloc(rs->nfiles * sizeof *w->step_paths);
    if (!w->step_paths)
        return fail(w, PROTO_ERR_NOMEM, "out of memory");
    w->nstep_paths = rs->nfiles;
    for (uint32_t i = 0; i < rs->nfiles; i++) {
        char *path = proto__malloc((size_t)rs->files[i].len + 1);
        uint32_t k;

        if (!path)
            return fail(w, PROTO_ERR_NOMEM, "out of memory");
        if (rs->files[i].len)
            memcpy(path, rs->files[i].ptr, rs->files[i].len);
        path[rs->files[i].len] = '\0';
        k = strlen(path) == rs->files[i].len ? add_source(w, path) : NO_ID;
        proto__free(path);
        if (w->status)
            return w->status;
        w->step_paths[i] = k == NO_ID ? NO_ID : k + 1;
    }
    return 0;
}

/*
 * The prelude, once per run: the listing file, metadata and paths, then
 * runtime_tracing's start sequence: Path 0 (the listing) and the source
 * Paths 1.. (DWARF), Function 0 <toplevel>, its Call, Type 0 None.
 */
static int start_run(proto_ct_writer *w, const proto_event *ev)
{
    const proto_run_start *rs =
        ev && ev->type == PROTO_RUN_START ? &ev->as.run_start : NULL;
    char name[128], rel[160];
    const char *text;
    size_t len;
    sbuf paths = {0};
    int rc;

    w->started = true;
    if (w->src && rs) {
        w->src_functions = rs->level != PROTO_LEVEL_OPS;
        if (rs->nfiles && map_run_files(w, rs))
            return w->status;
    }
    listing_name(w, ev, name, sizeof name);
    snprintf(rel, sizeof rel, "files/%s", name);
    text = vm_listing_text(w->listing, &len);
    rc = write_file_atomic(w, rel, text, len);
    if (rc)
        return rc;
    w->listing_path = join_path(w->abs_dir, rel);
    if (!w->listing_path)
        return fail(w, PROTO_ERR_NOMEM, "out of memory");
    rc = write_metadata(w, ev);
    if (rc)
        return rc;
    sb_puts(&paths, "[");
    sb_json_cstr(&paths, w->listing_path);
    for (uint32_t i = 0; i < w->nsrcs; i++) {
        sb_puts(&paths, ",");
        sb_json_cstr(&paths, w->srcs[i].path);
    }
    sb_puts(&paths, "]\n");
    rc = paths.failed ? fail(w, PROTO_ERR_NOMEM, "out of memory")
                      : write_file_atomic(w, "trace_paths.json", paths.p,
                                          paths.len);
    sb_free(&paths);
    if (rc)
        return rc;

    sb_puts(&w->rec, "{\"Path\":");
    sb_json_cstr(&w->rec, w->listing_path);
    sb_puts(&w->rec, "}");
    end_record(w);
    for (uint32_t i = 0; i < w->nsrcs; i++) {
        sb_puts(&w->rec, "{\"Path\":");
        sb_json_cstr(&w->rec, w->srcs[i].path);
        sb_puts(&w->rec, "}");
        end_record(w);
    }
    sb_puts(&w->rec, "{\"Function\":{\"path_id\":0,\"line\":1,"
                     "\"name\":\"<toplevel>\"}}");
    end_record(w);
    w->next_func_id = TOPLEVEL_FUNCTION + 1;
    sb_printf(&w->rec, "{\"Call\":{\"function_id\":%u,\"args\":[]}}",
              TOPLEVEL_FUNCTION);
    end_record(w);
    w->toplevel_open = true;
    sb_printf(&w->rec, "{\"Type\":{\"kind\":%d,\"lang_type\":\"None\","
                       "\"specific_info\":{\"kind\":\"None\"}}}",
              PROTO_CT_TYPE_NONE);
    end_record(w);
    w->next_type_id = NONE_TYPE + 1;
    emit_step(w, LISTING_PATH, 1);
    return w->status;
}

/* Close every frame and then <toplevel>, whose return value says how the
 * run ended. */
static void end_run(proto_ct_writer *w, const proto_run_end *re,
                    const char *why)
{
    char msg[96];

    if (re && re->status != PROTO_STATUS_OK && re->status != PROTO_STATUS_EXIT)
        snprintf(msg, sizeof msg, "run ended: %s",
                 proto_status_name(re->status) ? proto_status_name(re->status)
                                               : "?");
    else
        snprintf(msg, sizeof msg, "%s", why);
    unwind_to(w, 0, msg);
    if (!w->toplevel_open)
        return;
    w->toplevel_open = false;
    if (re && re->status == PROTO_STATUS_OK) {
        emit_return(w, NO_ID, re->results);
    } else if (re && re->status == PROTO_STATUS_EXIT) {
        proto_val code = {.type = VM_I32, .of.i32 = re->exit_code};
        proto_vals v = {&code, 1};
        char content[64];

        snprintf(content, sizeof content, "exit code %" PRId32,
                 re->exit_code);
        emit_event(w, PROTO_CT_EVENT_TRACE_LOG, "exit", content,
                   strlen(content));
        emit_return(w, NO_ID, v);
    } else {
        emit_error_return(w, msg);
    }
}

/* ---- Events --------------------------------------------------------------------------- */

static void on_return(proto_ct_writer *w, const proto_return *r)
{
    /* The innermost wasm frame of this function at this depth or deeper:
     * anything above it was unwound (by an exception) without a return. */
    for (uint32_t i = w->nframes; i-- > 0;) {
        const frame *f = &w->frames[i];

        if (f->depth < r->depth)
            break;
        if (!f->host && f->func == r->func) {
            unwind_to(w, i + 1, "unwound by exception");
            emit_return(w, r->func, r->results);
            w->nframes--;
            return;
        }
    }
    /* No open frame matches (its Return was already written when a trap
     * closed the stack): nothing to close. */
}

static void on_host_return(proto_ct_writer *w, const proto_host_call *h)
{
    for (uint32_t i = w->nframes; i-- > 0;) {
        if (w->frames[i].host && w->frames[i].func == h->func) {
            unwind_to(w, i + 1, "unwound by exception");
            emit_return(w, h->func, h->vals);
            w->nframes--;
            return;
        }
    }
}

static void on_throw(proto_ct_writer *w, const proto_throw *t)
{
    sbuf b = {0};

    sb_printf(&b, "throw tag %" PRIu32, t->tag);
    for (uint32_t i = 0; i < t->payload.count; i++) {
        const proto_val *v = &t->payload.items[i];
        char num[64];
        float f;
        double d;

        switch (v->type) {
        case VM_I32: sb_printf(&b, " %" PRId32, v->of.i32); break;
        case VM_I64: sb_printf(&b, " %" PRId64, v->of.i64); break;
        case VM_F32:
            memcpy(&f, &v->of.f32_bits, sizeof f);
            format_f32(num, sizeof num, f);
            sb_printf(&b, " %s", num);
            break;
        case VM_F64:
            memcpy(&d, &v->of.f64_bits, sizeof d);
            format_f64(num, sizeof num, d);
            sb_printf(&b, " %s", num);
            break;
        default: sb_puts(&b, " <ref>"); break;
        }
    }
    if (b.failed)
        fail(w, PROTO_ERR_NOMEM, "out of memory");
    else
        emit_event(w, PROTO_CT_EVENT_TRACE_LOG, "throw", b.p, b.len);
    sb_free(&b);
}

static void on_trap(proto_ct_writer *w, const proto_trap *t)
{
    char msg[256];
    int n;

    n = snprintf(msg, sizeof msg, "trap: %.*s",
                 (int)(t->message.len < 200 ? t->message.len : 200),
                 t->message.ptr ? t->message.ptr : "");
    if (t->message.len == 0)
        n = snprintf(msg, sizeof msg, "trap: %s", vm_strerror(t->code));
    emit_event(w, PROTO_CT_EVENT_ERROR, vm_err_name(t->code), msg,
               (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
    /* A trap ends the invocation: every frame unwinds. Returns the VM may
     * still report for them find no open frame and are dropped. */
    unwind_to(w, 0, msg);
}

/* An op: a Step to its listing line. */
static void on_op(proto_ct_writer *w, uint32_t offset)
{
    uint32_t line = vm_listing_offset_line(w->listing, offset);

    if (line)
        emit_step(w, LISTING_PATH, line);
}

/* A source line of the running frame: after the Call it is in, before
 * what it does (output, calls), as the stream orders it. */
static void on_step(proto_ct_writer *w, const proto_step *st)
{
    uint32_t path = step_path(w, st->file);

    if (path != NO_ID && st->line)
        emit_step(w, path, st->line);
}

/*
 * An ops or steps event: each of its op or step events as if it had come
 * alone, so a trace made from a run-encoded stream is the one made from
 * the expanded stream. A run that does not fit the module is refused
 * (PROTO_ERR_MALFORMED) before anything of it is written, and the writer
 * stays usable: it is the event's fault, not the trace's.
 */
static int on_run(proto_ct_writer *w, const proto_event *ev, char *err,
                  size_t errlen)
{
    proto_run_cursor cur = {0};
    proto_event one;
    int rc;

    if (!w->code) {
        rc = proto_code_new(w->module, &w->code, err, errlen);
        if (rc == PROTO_ERR_NOMEM)
            return fail(w, rc, "out of memory");
        if (rc < 0)
            return rc;
    }
    if ((rc = proto__run_open(w->code, ev, 0, &cur, err, errlen)) < 0)
        return rc;
    proto_event_init(&one);
    while (cur.type) {
        proto__run_next(w->code, &cur, &one, NULL, 0);
        if (one.type == PROTO_OP)
            on_op(w, one.as.op.offset);
        else
            on_step(w, &one.as.step);
    }
    proto_event_close(&one);
    return 0;
}

int proto_ct_writer_add(proto_ct_writer *w, const proto_event *ev, char *err,
                        size_t errlen)
{
    char buf[96];
    int rc;

    if (!w || !ev)
        return proto__error(err, errlen, PROTO_ERR_ARG,
                            "codetracer: no writer or event");
    if (w->status)
        return report(w, err, errlen);
    if (w->ended)
        return 0;
    if (!w->started && start_run(w, ev))
        return report(w, err, errlen);

    switch (ev->type) {
    case PROTO_RUN_START:
        break; /* start_run used it */
    case PROTO_CALL:
        /* Frames at this depth or deeper were left by an exception. */
        while (w->nframes && w->frames[w->nframes - 1].depth >= ev->as.call.depth) {
            emit_error_return(w, "unwound by exception");
            w->nframes--;
        }
        emit_call(w, ev->as.call.func, ev->as.call.args);
        push_frame(w, ev->as.call.func, ev->as.call.depth, false);
        break;
    case PROTO_RETURN:
        on_return(w, &ev->as.ret);
        break;
    case PROTO_HOST_CALL:
        emit_call(w, ev->as.host.func, ev->as.host.vals);
        push_frame(w, ev->as.host.func, wasm_depth(w), true);
        break;
    case PROTO_HOST_RETURN:
        on_host_return(w, &ev->as.host);
        break;
    case PROTO_OP:
        on_op(w, ev->as.op.offset);
        break;
    case PROTO_OPS:
    case PROTO_STEPS:
        if ((rc = on_run(w, ev, err, errlen)) < 0 && !w->status)
            return rc;
        break;
    case PROTO_THROW:
        on_throw(w, &ev->as.throw_);
        break;
    case PROTO_TRAP:
        on_trap(w, &ev->as.trap);
        break;
    case PROTO_OUTPUT:
        emit_event(w, PROTO_CT_EVENT_WRITE,
                   ev->as.output.fd == 2 ? "stderr" : "stdout",
                   ev->as.output.data.ptr ? ev->as.output.data.ptr : "",
                   ev->as.output.data.len);
        break;
    case PROTO_STEP:
        on_step(w, &ev->as.step);
        break;
    case PROTO_LOSS: {
        int n = snprintf(buf, sizeof buf,
                         "lost %" PRIu64 " events (seq %" PRIu64 "..%" PRIu64
                         ")",
                         ev->as.loss.count, ev->seq,
                         ev->seq + ev->as.loss.count - 1);

        emit_event(w, PROTO_CT_EVENT_TRACE_LOG, "loss", buf, (size_t)n);
        break;
    }
    case PROTO_RUN_END:
        end_run(w, &ev->as.run_end, "run ended");
        w->ended = true;
        flush_out(w);
        break;
    default:
        break;
    }
    return report(w, err, errlen);
}

int proto_ct_writer_flush(proto_ct_writer *w, char *err, size_t errlen)
{
    flush_out(w);
    return report(w, err, errlen);
}

uint64_t proto_ct_writer_records(const proto_ct_writer *w)
{
    return w->records;
}

void proto_ct_writer_sources(const proto_ct_writer *w, uint32_t *copied,
                             uint32_t *missing)
{
    if (copied)
        *copied = w ? w->ncopied : 0;
    if (missing)
        *missing = w ? w->nmissing : 0;
}

/* ---- Life cycle ------------------------------------------------------------------------ */

/* With DWARF: the source view, and every file of the DWARF file table
 * registered and copied into files/ (paths 1..). A module without DWARF
 * keeps the listing alone. */
static int open_sources(proto_ct_writer *w)
{
    uint32_t n;

    if (proto_source_new(w->module, &w->src, NULL, 0) != 0)
        return fail(w, PROTO_ERR_NOMEM, "out of memory");
    if (!proto_source_has_debug(w->src)) {
        proto_source_free(w->src);
        w->src = NULL;
        return 0;
    }
    w->dbg = proto_source_debug(w->src);
    w->src_functions = true;
    w->fvals = proto__calloc(w->nfuncs + 1u, sizeof *w->fvals);
    if (!w->fvals)
        return fail(w, PROTO_ERR_NOMEM, "out of memory");
    n = vm_debug_file_count(w->dbg);
    w->dwarf_paths = proto__malloc((n + 1u) * sizeof *w->dwarf_paths);
    if (!w->dwarf_paths)
        return fail(w, PROTO_ERR_NOMEM, "out of memory");
    w->ndwarf_paths = n;
    for (uint32_t i = 0; i < n; i++) {
        const char *path = vm_debug_file_path(w->dbg, i);
        uint32_t k = path ? add_source(w, path) : NO_ID;

        if (w->status)
            return w->status;
        w->dwarf_paths[i] = k == NO_ID ? NO_ID : k + 1;
    }
    return 0;
}

static int make_dir(const char *path)
{
    if (mkdir(path, 0755) == 0 || errno == EEXIST)
        return 0;
    return -1;
}

int proto_ct_writer_new(const char *dir, const vm_module *m,
                        const proto_ct_opts *opts, proto_ct_writer **out,
                        char *err, size_t errlen)
{
    proto_ct_writer *w;
    char vmerr[256], *files = NULL, *trace = NULL, cwd[PATH_MAX];
    int rc;

    *out = NULL;
    if (!dir || !m)
        return proto__error(err, errlen, PROTO_ERR_ARG,
                            "codetracer: a directory and a module are "
                            "needed");
    w = proto__calloc(1, sizeof *w);
    if (!w)
        return proto__error(err, errlen, PROTO_ERR_NOMEM, "out of memory");
    w->fd = -1;
    w->module = m;
    w->buffer_bytes = opts && opts->buffer_bytes ? opts->buffer_bytes
                                                 : DEFAULT_BUFFER;
    for (uint32_t i = 0; i < TS_COUNT; i++)
        w->type_ids[i] = NO_ID;

    rc = vm_listing_new(m, &w->listing, vmerr, sizeof vmerr);
    if (rc) {
        rc = proto__error(err, errlen,
                          rc == VM_ERR_NOMEM ? PROTO_ERR_NOMEM
                                             : PROTO_ERR_ARG,
                          "codetracer: %s", vmerr);
        goto fail;
    }
    w->nfuncs = vm_listing_func_count(w->listing);
    w->func_ids = proto__malloc((w->nfuncs + 1) * sizeof *w->func_ids);
    w->func_path_ids = proto__malloc((w->nfuncs + 1) * sizeof(uint32_t));
    w->func_lines = proto__malloc((w->nfuncs + 1) * sizeof(uint32_t));
    w->dir = dup_str(dir);
    if (opts && opts->source_dir)
        w->source_dir = dup_str(opts->source_dir);
    w->read_source_paths = opts && opts->read_source_paths;
    if (opts && opts->source_dir) {
        struct stat st;
        int missing = stat(opts->source_dir, &st);

        if (missing || !S_ISDIR(st.st_mode)) {
            rc = proto__error(err, errlen, PROTO_ERR_ARG,
                              "codetracer: source bundle %s: %s",
                              opts->source_dir,
                              missing ? strerror(errno) : "not a directory");
            goto fail;
        }
    }
    if (opts && opts->program)
        w->program = dup_str(opts->program);
    if (opts && opts->workdir)
        w->workdir = dup_str(opts->workdir);
    else
        w->workdir = dup_str(getcwd(cwd, sizeof cwd) ? cwd : ".");
    if (!w->func_ids || !w->func_path_ids || !w->func_lines || !w->dir ||
        !w->workdir || (opts && opts->program && !w->program) ||
        (opts && opts->source_dir && !w->source_dir)) {
        rc = proto__error(err, errlen, PROTO_ERR_NOMEM, "out of memory");
        goto fail;
    }
    for (uint32_t i = 0; i < w->nfuncs; i++)
        w->func_ids[i] = NO_ID;

    files = join_path(dir, "files");
    trace = join_path(dir, "trace.json");
    if (!files || !trace) {
        rc = proto__error(err, errlen, PROTO_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (make_dir(dir) < 0 || make_dir(files) < 0) {
        rc = proto__error(err, errlen, PROTO_ERR_IO,
                          "codetracer: cannot create %s: %s", files,
                          strerror(errno));
        goto fail;
    }
    w->abs_dir = realpath(dir, NULL);
    if (!w->abs_dir) {
        rc = proto__error(err, errlen, PROTO_ERR_IO, "codetracer: %s: %s",
                          dir, strerror(errno));
        goto fail;
    }
    rc = open_sources(w);
    if (rc) {
        rc = report(w, err, errlen);
        goto fail;
    }
    w->fd = open(trace, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->fd < 0 || write_all(w->fd, "[\n", 2) < 0) {
        rc = proto__error(err, errlen, PROTO_ERR_IO, "codetracer: %s: %s",
                          trace, strerror(errno));
        goto fail;
    }
    w->file_len = 2;
    proto__free(files);
    proto__free(trace);
    *out = w;
    return 0;

fail:
    proto__free(files);
    proto__free(trace);
    w->closed = true; /* nothing to finish */
    proto_ct_writer_free(w, NULL, 0);
    return rc;
}

/* Replace the trailing ",\n" of the last record with "\n]\n" (or append
 * "]\n" after a bare "["). */
static int close_file(proto_ct_writer *w)
{
    flush_out(w);
    if (w->status)
        return w->status;
    if (w->records) {
        if (ftruncate(w->fd, (off_t)(w->file_len - 2)) < 0 ||
            lseek(w->fd, 0, SEEK_END) < 0 ||
            write_all(w->fd, "\n]\n", 3) < 0)
            return fail(w, PROTO_ERR_IO, "closing trace.json: %s",
                        strerror(errno));
        w->file_len += 1;
    } else if (write_all(w->fd, "]\n", 2) < 0) {
        return fail(w, PROTO_ERR_IO, "closing trace.json: %s",
                    strerror(errno));
    }
    return 0;
}

int proto_ct_writer_free(proto_ct_writer *w, char *err, size_t errlen)
{
    int rc;

    if (!w)
        return 0;
    if (!w->closed && !w->status) {
        if (!w->started)
            start_run(w, NULL);
        if (!w->ended)
            end_run(w, NULL, "trace ended before the run did");
        close_file(w);
    }
    rc = report(w, err, errlen);
    if (w->fd >= 0)
        close(w->fd);
    sb_free(&w->out);
    sb_free(&w->rec);
    names_free(&w->vars);
    names_free(&w->src_index);
    names_free(&w->src_types);
    for (uint32_t i = 0; i < w->nsrcs; i++)
        proto__free(w->srcs[i].path);
    proto__free(w->srcs);
    proto__free(w->dwarf_paths);
    proto__free(w->step_paths);
    proto__free(w->source_dir);
    for (uint32_t i = 0; w->fvals && i < w->nfuncs; i++)
        proto__free(w->fvals[i].slots);
    proto__free(w->fvals);
    proto_source_free(w->src);
    proto_code_free(w->code);
    vm_listing_free(w->listing);
    proto__free(w->frames);
    proto__free(w->func_ids);
    proto__free(w->func_path_ids);
    proto__free(w->func_lines);
    proto__free(w->listing_path);
    free(w->abs_dir); /* from realpath(3) */
    proto__free(w->dir);
    proto__free(w->program);
    proto__free(w->workdir);
    proto__free(w);
    return rc;
}

/* ---- Repair ------------------------------------------------------------------------------ */

int proto_ct_repair(const char *dir, proto_ct_repair_info *info, char *err,
                    size_t errlen)
{
    proto_ct_repair_info local = {0};
    char *path = join_path(dir, "trace.json");
    char *data = NULL;
    struct stat st;
    size_t len, keep, pos, end;
    int fd = -1, rc = 0;

    if (!info)
        info = &local;
    memset(info, 0, sizeof *info);
    if (!path)
        return proto__error(err, errlen, PROTO_ERR_NOMEM, "out of memory");
    fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        rc = proto__error(err, errlen,
                          errno == ENOENT ? PROTO_ERR_NOT_FOUND
                                          : PROTO_ERR_IO,
                          "codetracer repair: %s: %s", path,
                          strerror(errno));
        goto out;
    }
    if (fstat(fd, &st) < 0) {
        rc = proto__error(err, errlen, PROTO_ERR_IO,
                          "codetracer repair: %s: %s", path,
                          strerror(errno));
        goto out;
    }
    len = (size_t)st.st_size;
    data = proto__malloc(len + 1);
    if (!data) {
        rc = proto__error(err, errlen, PROTO_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (size_t got = 0; got < len;) {
        ssize_t r = pread(fd, data + got, len - got, (off_t)got);

        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            rc = proto__error(err, errlen, PROTO_ERR_IO,
                              "codetracer repair: reading %s", path);
            goto out;
        }
        got += (size_t)r;
    }
    data[len] = '\0';
    if (len < 2 || memcmp(data, "[\n", 2) != 0) {
        rc = proto__error(err, errlen, PROTO_ERR_CORRUPT,
                          "codetracer repair: %s does not start with \"[\"",
                          path);
        goto out;
    }

    /* Walk the record lines: "{...}," then '\n'. The first line that is
     * not one ends the good prefix; a closed file ends in "}\n]\n". */
    keep = pos = 2;
    while (pos < len) {
        char *nl = memchr(data + pos, '\n', len - pos);

        if (!nl)
            break;
        end = (size_t)(nl - data);
        if (end - pos >= 3 && data[pos] == '{' && data[end - 1] == ',' &&
            data[end - 2] == '}' && !memchr(data + pos, '\0', end - pos)) {
            info->records++;
            keep = pos = end + 1;
            continue;
        }
        break;
    }
    /* Already closed: the records, then the last one without its comma
     * and "]" (or a bare "]" when there are none). */
    if (pos < len) {
        const char *rest = data + pos;
        size_t restlen = len - pos;
        const char *nl = memchr(rest, '\n', restlen);

        if (restlen == 2 && memcmp(rest, "]\n", 2) == 0)
            goto out;
        if (nl && rest[0] == '{' && nl > rest && nl[-1] == '}' &&
            (size_t)(nl - rest) + 3 == restlen &&
            memcmp(nl, "\n]\n", 3) == 0) {
            info->records++;
            goto out;
        }
    }
    info->was_open = true;
    info->cut_bytes = len - keep;
    if (info->records) {
        /* Drop the last ",\n" and close. */
        keep -= 2;
        if (ftruncate(fd, (off_t)keep) < 0 ||
            pwrite(fd, "\n]\n", 3, (off_t)keep) != 3)
            rc = proto__error(err, errlen, PROTO_ERR_IO,
                              "codetracer repair: %s: %s", path,
                              strerror(errno));
    } else if (ftruncate(fd, (off_t)keep) < 0 ||
               pwrite(fd, "]\n", 2, (off_t)keep) != 2) {
        rc = proto__error(err, errlen, PROTO_ERR_IO,
                          "codetracer repair: %s: %s", path, strerror(errno));
    }

out:
    if (fd >= 0)
        close(fd);
    proto__free(data);
    proto__free(path);
    return rc;
}

/* ---- Export -------------------------------------------------------------------------------- */

int proto_ct_export(const char *stream_path, const char *dir,
                    const vm_module *m, const uint8_t *module_hash,
                    const proto_ct_opts *opts, proto_ct_export_info *info,
                    char *err, size_t errlen)
{
    proto_ct_export_info local = {0};
    proto_reader *r = NULL;
    proto_ct_writer *w = NULL;
    proto_event ev;
    static const uint8_t zero[32];
    const proto_file_header *h;
    int rc, wrc;

    if (!info)
        info = &local;
    memset(info, 0, sizeof *info);
    rc = proto_reader_new(stream_path, 0, &r, err, errlen);
    if (rc)
        return rc;
    h = proto_reader_header(r);
    if (module_hash && memcmp(h->module_hash, zero, 32) != 0 &&
        memcmp(h->module_hash, module_hash, 32) != 0) {
        char want[65], got[65];

        proto_hex(h->module_hash, 32, want);
        proto_hex(module_hash, 32, got);
        proto_reader_free(r);
        return proto__error(err, errlen, PROTO_ERR_ARG,
                            "the stream was recorded from module %s, not "
                            "this one (%s)",
                            want, got);
    }
    rc = proto_ct_writer_new(dir, m, opts, &w, err, errlen);
    if (rc) {
        proto_reader_free(r);
        return rc;
    }
    proto_event_init(&ev);
    for (;;) {
        rc = proto_reader_next(r, &ev, err, errlen);
        if (rc == PROTO_ERR_END) {
            rc = 0;
            break;
        }
        if (rc == PROTO_ERR_TORN) {
            info->torn = true;
            rc = 0;
            break;
        }
        if (rc)
            break;
        info->events++;
        if (ev.type == PROTO_RUN_START && module_hash &&
            memcmp(ev.as.run_start.hash, zero, 32) != 0 &&
            memcmp(ev.as.run_start.hash, module_hash, 32) != 0) {
            rc = proto__error(err, errlen, PROTO_ERR_ARG,
                              "the stream's run_start names another module "
                              "(hash mismatch)");
            break;
        }
        rc = proto_ct_writer_add(w, &ev, err, errlen);
        if (rc)
            break;
    }
    proto_event_close(&ev);
    info->records = proto_ct_writer_records(w);
    proto_ct_writer_sources(w, &info->sources_copied, &info->sources_missing);
    wrc = proto_ct_writer_free(w, rc ? NULL : err, rc ? 0 : errlen);
    proto_reader_free(r);
    return rc ? rc : wrc;
}
