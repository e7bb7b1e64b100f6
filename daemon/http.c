/*
 * The HTTP API and static files (docs/daemon.md, "HTTP API"), and the one
 * lws protocol callback, which also carries WebSocket connections at /ws.
 *
 * Loop phase: lws callbacks run from the libuv poll phase on the loop
 * thread. A request is answered from its writeable callback: the handler
 * prepares the whole response (JSON, small) in the session and asks for
 * writeable. A POST body is read into the session up to the module size
 * limit; past it the rest is discarded and the answer is 413.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <traced/vm_debug.h>
#include <traced/vm_listing.h>

#include "ct_output.h"
#include "dmn.h"
#include "tar.h"

#define TAR_PIECE (64u << 10) /* bytes of a tar download per lws_write */

/* Per-session data of the protocol: a WebSocket connection or a request. */
typedef struct http_sess {
    dmn_conn ws; /* first: what a WebSocket session uses */
    bool is_ws;
    bool post;
    char uri[256];
    uint8_t *body;
    size_t body_len;
    bool body_over;
    int pending_status;     /* answer once the body is in (0: none) */
    char pending_err[256];
    const char *pending_code;
    uint8_t *resp;          /* LWS_PRE + headers + body */
    size_t resp_len;
    bool resp_ready;
    /* GET /api/runs/ID/codetracer: waiting for the directory, then a tar
     * streamed from it (resp holds its headers). */
    struct lws *wsi;
    dmn_ct_waiter ctw;
    dmn_tar *tar;
    uint8_t *tx;            /* LWS_PRE + TAR_PIECE */
    bool tar_headers_sent;
    uint64_t tar_run;
} http_sess;

static dmn_server *server_of(struct lws *wsi)
{
    return lws_context_user(lws_get_context(wsi));
}

/* ---- responses -------------------------------------------------------------- */

static int respond(struct lws *wsi, http_sess *s, int status,
                   const char *ctype, const char *body, size_t len)
{
    size_t cap = LWS_PRE + 1024 + len;
    uint8_t *start, *p, *end;

    free(s->resp);
    s->resp = malloc(cap);
    if (!s->resp)
        return -1;
    start = p = s->resp + LWS_PRE;
    end = s->resp + cap - len;
    if (lws_add_http_common_headers(wsi, (unsigned)status, ctype, len, &p,
                                    end) ||
        lws_add_http_header_by_name(wsi,
                                    (const unsigned char *)"cache-control:",
                                    (const unsigned char *)"no-store", 8, &p,
                                    end) ||
        lws_finalize_http_header(wsi, &p, end))
        return -1;
    memcpy(p, body, len);
    s->resp_len = (size_t)(p - start) + len;
    s->resp_ready = true;
    lws_callback_on_writable(wsi);
    return 0;
}

static int respond_json(struct lws *wsi, http_sess *s, int status, json_t *j)
{
    char *text = json_dumps(j, JSON_COMPACT);
    int rc;

    json_decref(j);
    if (!text)
        return -1;
    rc = respond(wsi, s, status, "application/json", text, strlen(text));
    free(text);
    return rc;
}

static int respond_error(struct lws *wsi, http_sess *s, int status,
                         const char *code, const char *msg)
{
    return respond_json(wsi, s, status,
                        json_pack("{s:s, s:s}", "error", msg, "code", code));
}

/* ---- auth ---------------------------------------------------------------------- */

static bool token_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned diff = (unsigned)(la ^ lb);

    for (size_t i = 0; i < la; i++)
        diff |= (unsigned char)a[i] ^ (unsigned char)b[i % (lb ? lb : 1)];
    return diff == 0;
}

bool dmn_http_authorized(dmn_server *srv, struct lws *wsi)
{
    char buf[512];
    const char *v;

    if (!srv->cfg.token)
        return true;
    if (lws_hdr_copy(wsi, buf, sizeof buf, WSI_TOKEN_HTTP_AUTHORIZATION) > 0 &&
        strncmp(buf, "Bearer ", 7) == 0 && token_equal(buf + 7, srv->cfg.token))
        return true;
    v = lws_get_urlarg_by_name(wsi, "token=", buf, sizeof buf);
    return v && token_equal(v, srv->cfg.token);
}

/* ---- submit ----------------------------------------------------------------------- */

static int push_str(char ***v, uint32_t *n, const char *s)
{
    char **nv = realloc(*v, (*n + 1) * sizeof *nv);

    if (!nv)
        return -1;
    *v = nv;
    if (!(nv[*n] = strdup(s)))
        return -1;
    (*n)++;
    return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;

    if (!*s || *s < '0' || *s > '9')
        return -1;
    *out = strtoull(s, &end, 10);
    return *end ? -1 : 0;
}

/* Cap a requested limit by the server's; 0 asks for the server's. */
static uint64_t capped(uint64_t want, uint64_t cap)
{
    if (!cap)
        return want;
    return want && want < cap ? want : cap;
}

/* The submission's options from the query string. */
static int parse_spec(struct lws *wsi, dmn_server *srv, dmn_spec *spec,
                      char *err, size_t errlen)
{
    char frag[1024];
    uint64_t fuel = 0, wall = 0, pages = 0, depth = 0;

    memset(spec, 0, sizeof *spec);
    spec->level = PROTO_LEVEL_CALLS;
    for (int i = 0; lws_hdr_copy_fragment(wsi, frag, sizeof frag,
                                          WSI_TOKEN_HTTP_URI_ARGS, i) > 0;
         i++) {
        char *eq = strchr(frag, '='), *v;
        uint64_t *num = NULL;

        if (!eq) {
            snprintf(err, errlen, "query parameter %.100s has no value",
                     frag);
            return -1;
        }
        *eq = '\0';
        v = eq + 1;
        if (strcmp(frag, "level") == 0) {
            int lv = proto_level_from_name(v);

            if (lv < 0) {
                snprintf(err, errlen, "unknown level %.50s (calls, ops, "
                         "lines)", v);
                return -1;
            }
            spec->level = (proto_level)lv;
        } else if (strcmp(frag, "invoke") == 0) {
            free(spec->invoke);
            spec->invoke = strdup(v);
        } else if (strcmp(frag, "name") == 0) {
            free(spec->name);
            spec->name = strdup(v);
        } else if (strcmp(frag, "arg") == 0) {
            if (push_str(&spec->args, &spec->nargs, v))
                return -1;
        } else if (strcmp(frag, "env") == 0) {
            if (!strchr(v, '=')) {
                snprintf(err, errlen, "env needs K=V, not %.100s", v);
                return -1;
            }
            if (push_str(&spec->env, &spec->nenv, v))
                return -1;
        } else if (strcmp(frag, "fuel") == 0) {
            num = &fuel;
        } else if (strcmp(frag, "wall_ms") == 0) {
            num = &wall;
        } else if (strcmp(frag, "max_pages") == 0) {
            num = &pages;
        } else if (strcmp(frag, "max_depth") == 0) {
            num = &depth;
        } else if (strcmp(frag, "codetracer") == 0) {
            if (strcmp(v, "1") != 0 && strcmp(v, "0") != 0 &&
                strcmp(v, "true") != 0 && strcmp(v, "false") != 0) {
                snprintf(err, errlen, "codetracer is 1 or 0, not %.50s", v);
                return -1;
            }
            spec->codetracer = v[0] == '1' || v[0] == 't';
        } else if (strcmp(frag, "token") != 0) {
            snprintf(err, errlen, "unknown query parameter %.100s", frag);
            return -1;
        }
        if (num && parse_u64(v, num) != 0) {
            snprintf(err, errlen, "%s needs a number, not %.50s", frag, v);
            return -1;
        }
    }
    if (pages > 65536 || depth > UINT32_MAX) {
        snprintf(err, errlen, "max_pages or max_depth out of range");
        return -1;
    }
    spec->fuel = capped(fuel, srv->cfg.max_fuel);
    spec->wall_ms = capped(wall, srv->cfg.max_wall_ms);
    spec->max_pages = (uint32_t)capped(pages, srv->cfg.max_pages);
    spec->max_depth = (uint32_t)capped(depth, srv->cfg.max_depth);
    return 0;
}

static int do_submit(struct lws *wsi, http_sess *s, dmn_server *srv)
{
    dmn_spec spec;
    dmn_run *r;
    char err[1200];
    const char *code;
    int status;

    if (parse_spec(wsi, srv, &spec, err, sizeof err) != 0) {
        dmn_spec_close(&spec);
        return respond_error(wsi, s, 400, "bad_request", err);
    }
    if (s->body_len == 0) {
        dmn_spec_close(&spec);
        return respond_error(wsi, s, 400, "bad_module",
                             "the request body must be a wasm module");
    }
    status = dmn_run_submit(srv, s->body, s->body_len, &spec, &r, err,
                            sizeof err, &code);
    dmn_spec_close(&spec);
    free(s->body);
    s->body = NULL;
    if (status)
        return respond_error(wsi, s, status, code, err);
    return respond_json(wsi, s, 201, dmn_run_json(r));
}

/* ---- routing ------------------------------------------------------------------------ */

static const char *mime_of(const char *path)
{
    static const struct {
        const char *ext, *mime;
    } types[] = {
        {".html", "text/html"},          {".js", "text/javascript"},
        {".mjs", "text/javascript"},     {".css", "text/css"},
        {".json", "application/json"},   {".wasm", "application/wasm"},
        {".svg", "image/svg+xml"},       {".png", "image/png"},
        {".ico", "image/x-icon"},        {".txt", "text/plain"},
    };
    const char *dot = strrchr(path, '.');

    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].mime;
    return "application/octet-stream";
}

static const char placeholder_html[] =
    "<!doctype html>\n<html><head><meta charset=\"utf-8\">"
    "<title>traced</title></head>\n<body><h1>traced</h1>\n"
    "<p>The browser client is coming. Meanwhile the daemon serves its "
    "HTTP API at <a href=\"/api/runs\">/api/runs</a> and its WebSocket "
    "protocol at <code>/ws</code>; <code>tracectl</code> drives it from a "
    "terminal.</p>\n</body></html>\n";

static int serve_static(struct lws *wsi, http_sess *s, dmn_server *srv,
                        const char *uri)
{
    char path[1400];
    struct stat st;
    int n;

    if (strstr(uri, "..") || uri[0] != '/')
        return respond_error(wsi, s, 404, "not_found", "no such file");
    if (strcmp(uri, "/") == 0)
        uri = "/index.html";
    if (srv->static_dir[0]) {
        snprintf(path, sizeof path, "%s%s", srv->static_dir, uri);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            n = lws_serve_http_file(wsi, path, mime_of(path), NULL, 0);
            if (n < 0)
                return -1;
            if (n > 0 && lws_http_transaction_completed(wsi))
                return -1;
            return 0;
        }
    }
    if (strcmp(uri, "/index.html") == 0)
        return respond(wsi, s, 200, "text/html", placeholder_html,
                       sizeof placeholder_html - 1);
    return respond_error(wsi, s, 404, "not_found", "no such file");
}

/* /api/runs/ID[/rest]: the run, and what follows its id. */
static dmn_run *route_run(dmn_server *srv, const char *uri, const char **rest,
                          bool *bad)
{
    char *end;
    uint64_t id;

    *bad = false;
    if (uri[0] < '0' || uri[0] > '9') {
        *bad = true;
        return NULL;
    }
    id = strtoull(uri, &end, 10);
    *rest = end;
    return dmn_run_find(srv, id);
}

int dmn_run_load_module(const dmn_run *r, uint8_t **bytes, vm_module **m,
                        char *err, size_t errlen)
{
    vm_load_options lo = {.features = VM_FEATURE_TAIL_CALL |
                                      VM_FEATURE_EXCEPTIONS};
    char path[600];
    size_t len = 0;
    FILE *f;
    long n;

    *bytes = NULL;
    *m = NULL;
    snprintf(path, sizeof path, "%s/module.wasm", r->dir);
    f = fopen(path, "rbe");
    if (!f) {
        snprintf(err, errlen, "the run's module was not kept");
        return -1;
    }
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 &&
        fseek(f, 0, SEEK_SET) == 0 && (*bytes = malloc((size_t)n)) &&
        fread(*bytes, 1, (size_t)n, f) == (size_t)n)
        len = (size_t)n;
    fclose(f);
    if (!len) {
        snprintf(err, errlen, "cannot read the run's module");
        goto fail;
    }
    if (vm_module_new(*bytes, len, &lo, m, err, errlen) != 0)
        goto fail;
    return 0;

fail:
    free(*bytes);
    *bytes = NULL;
    *m = NULL;
    return -1;
}

/* GET /api/runs/ID/listing: the module's generated listing (vm_listing.h,
 * docs/codetracer.md) from the module.wasm kept in the run's directory:
 * {"module", "text", "funcs": [{"index","name","line"}],
 *  "offsets": [...], "lines": [...]} where offsets[i] (ascending) is an
 * instruction's byte offset in the module and lines[i] its listing line.
 * Built per request on the loop thread: modules are small next to what a
 * listing costs to keep per run, and the browser asks once per run view. */
static json_t *listing_json(const dmn_run *r, char *err, size_t errlen)
{
    vm_module *m = NULL;
    vm_listing *l = NULL;
    json_t *j = NULL, *funcs, *offs, *lines;
    uint8_t *bytes = NULL;
    const char *text, *p;
    size_t tlen;
    uint32_t line = 1;

    if (dmn_run_load_module(r, &bytes, &m, err, errlen) != 0 ||
        vm_listing_new(m, &l, err, errlen) != 0)
        goto done;
    funcs = json_array();
    offs = json_array();
    lines = json_array();
    for (uint32_t i = 0; i < vm_listing_func_count(l); i++)
        json_array_append_new(funcs, json_pack(
            "{s:I, s:s, s:I}", "index", (json_int_t)i, "name",
            vm_listing_func_name(l, i), "line",
            (json_int_t)vm_listing_func_line(l, i)));
    /* Instruction lines start with their offset in hex ("  000023:  ");
     * the listing's own map confirms each one. */
    text = vm_listing_text(l, &tlen);
    for (p = text; *p; line++) {
        const char *nl = strchr(p, '\n');
        char *end;
        unsigned long off = strtoul(p, &end, 16);

        if (end > p && *end == ':' && off <= UINT32_MAX &&
            vm_listing_offset_line(l, (uint32_t)off) == line) {
            json_array_append_new(offs, json_integer((json_int_t)off));
            json_array_append_new(lines, json_integer(line));
        }
        if (!nl)
            break;
        p = nl + 1;
    }
    j = json_pack("{s:s, s:s%, s:o, s:o, s:o}", "module", r->spec.name,
                  "text", text, tlen, "funcs", funcs, "offsets", offs,
                  "lines", lines);
done:
    vm_listing_free(l);
    vm_module_free(m);
    free(bytes);
    return j;
}

/* ---- sources (--source-dir) ------------------------------------------------ */

#define SOURCE_MAX_BYTES (16u << 20) /* a source file served: larger is 413 */

/*
 * A run's source files are the file table of its module's DWARF
 * (vm_debug_file_path; the same indices as run_start's files and the step
 * events at level lines). A path names a host file chosen by whoever built
 * the module, so the daemon serves one only when the operator opted in
 * with --source-dir and the path, resolved by realpath (every symlink and
 * `..` followed), lies inside one of those directories and is a regular
 * file. *real gets the resolved path (malloc'd) when it does.
 */
static bool source_allowed(const dmn_server *srv, const char *path,
                           char **real)
{
    struct stat st;
    char *rp;

    *real = NULL;
    if (!path || path[0] != '/' || srv->cfg.nsource_dirs == 0)
        return false; /* relative: no base the daemon could trust */
    rp = realpath(path, NULL);
    if (!rp)
        return false;
    for (uint32_t i = 0; i < srv->cfg.nsource_dirs; i++) {
        const char *d = srv->cfg.source_dirs[i];
        size_t n = strlen(d);

        if (strcmp(d, "/") == 0 ||
            (strncmp(rp, d, n) == 0 && rp[n] == '/')) {
            if (stat(rp, &st) == 0 && S_ISREG(st.st_mode)) {
                *real = rp;
                return true;
            }
            break;
        }
    }
    free(rp);
    return false;
}

/* The module's DWARF, or NULL with a message (no module kept). A module
 * without DWARF gives *dbg NULL and 0: it has no files. */
static int load_debug(const dmn_run *r, uint8_t **bytes, vm_module **m,
                      vm_debug **dbg, char *err, size_t errlen)
{
    char derr[256];

    *dbg = NULL;
    if (dmn_run_load_module(r, bytes, m, err, errlen) != 0)
        return -1;
    if (vm_debug_new(*m, dbg, derr, sizeof derr) != 0)
        *dbg = NULL;
    return 0;
}

/* GET /api/runs/ID/sources:
 * {"files": [{"index", "path", "available"}]}. */
static json_t *sources_json(dmn_server *srv, const dmn_run *r, char *err,
                            size_t errlen)
{
    uint8_t *bytes;
    vm_module *m;
    vm_debug *dbg;
    json_t *files;
    uint32_t n;

    if (load_debug(r, &bytes, &m, &dbg, err, errlen) != 0)
        return NULL;
    files = json_array();
    n = dbg ? vm_debug_file_count(dbg) : 0;
    for (uint32_t i = 0; i < n; i++) {
        const char *p = vm_debug_file_path(dbg, i);
        char *real;
        bool ok = source_allowed(srv, p, &real);

        free(real);
        json_array_append_new(files, json_pack(
            "{s:I, s:s, s:b}", "index", (json_int_t)i, "path", p ? p : "",
            "available", ok));
    }
    if (dbg)
        vm_debug_free(dbg);
    vm_module_free(m);
    free(bytes);
    return json_pack("{s:o}", "files", files);
}

/* GET /api/runs/ID/sources/INDEX: the file's bytes as text/plain, served
 * by lws from the resolved path. The checks and the open are not atomic:
 * the source dirs are the operator's, not the module author's. */
static int get_source(struct lws *wsi, http_sess *s, dmn_server *srv,
                      const dmn_run *r, const char *arg)
{
    char err[512], *end, *real = NULL;
    const char *path, *code = "not_available";
    uint8_t *bytes;
    vm_module *m;
    vm_debug *dbg;
    unsigned long idx;
    struct stat st;
    int status = 0, n;

    errno = 0;
    idx = strtoul(arg, &end, 10);
    if (arg[0] < '0' || arg[0] > '9' || *end || errno || idx > UINT32_MAX)
        return respond_error(wsi, s, 404, "not_found", "no such endpoint");
    if (load_debug(r, &bytes, &m, &dbg, err, sizeof err) != 0)
        return respond_error(wsi, s, 404, "no_module", err);
    path = dbg ? vm_debug_file_path(dbg, (uint32_t)idx) : NULL;
    if (!path) {
        status = 404;
        code = "unknown_file";
        snprintf(err, sizeof err, "the run's module has no source file %lu",
                 idx);
    } else if (!source_allowed(srv, path, &real)) {
        status = 404;
        snprintf(err, sizeof err,
                 "source not available: %s is not a readable file under the "
                 "daemon's source dirs (start traced with --source-dir DIR)",
                 path);
    } else if (stat(real, &st) != 0 || access(real, R_OK) != 0) {
        status = 404;
        snprintf(err, sizeof err, "source not available: cannot read %s",
                 path);
    } else if (st.st_size > (off_t)SOURCE_MAX_BYTES) {
        status = 413;
        code = "too_large";
        snprintf(err, sizeof err, "source %s is over %u bytes", path,
                 SOURCE_MAX_BYTES);
    }
    if (dbg)
        vm_debug_free(dbg);
    vm_module_free(m);
    free(bytes);
    if (status) {
        free(real);
        return respond_error(wsi, s, status, code, err);
    }
    n = lws_serve_http_file(wsi, real, "text/plain; charset=utf-8", NULL, 0);
    free(real);
    if (n < 0)
        return -1;
    if (n > 0 && lws_http_transaction_completed(wsi))
        return -1;
    return 0;
}

/* ---- the CodeTracer download ------------------------------------------------ */

static void tar_free(http_sess *s)
{
    if (s->tar) {
        dmn_tar_close(s->tar);
        free(s->tar);
        s->tar = NULL;
    }
    free(s->tx);
    s->tx = NULL;
}

/* The run's complete CodeTracer directory as a tar: open every file now
 * (its size goes into Content-Length), send as the socket takes it.
 * trace.json goes last, so an extractor has the small files first. */
static int start_tar(struct lws *wsi, http_sess *s, dmn_run *r)
{
    static const char *const last[] = {"trace.json", NULL};
    char dir[600], err[700], disp[128];
    size_t cap = LWS_PRE + 1024;
    uint8_t *p, *end;

    dmn_ct_dir(r, dir, sizeof dir);
    s->tar = malloc(sizeof *s->tar);
    s->tx = malloc(LWS_PRE + TAR_PIECE);
    free(s->resp);
    s->resp = malloc(cap);
    if (!s->tar || !s->tx || !s->resp) {
        free(s->tar);
        s->tar = NULL;
        tar_free(s);
        return respond_error(wsi, s, 500, "internal", "out of memory");
    }
    dmn_tar_init(s->tar);
    if (dmn_tar_add_tree(s->tar, dir, last, err, sizeof err) != 0) {
        tar_free(s);
        return respond_error(wsi, s, 500, "codetracer_failed", err);
    }
    s->tar_run = r->id;
    s->tar_headers_sent = false;
    p = s->resp + LWS_PRE;
    end = s->resp + cap;
    snprintf(disp, sizeof disp,
             "attachment; filename=\"run-%" PRIu64 "-codetracer.tar\"", r->id);
    if (lws_add_http_common_headers(wsi, 200, "application/x-tar",
                                    dmn_tar_size(s->tar), &p, end) ||
        lws_add_http_header_by_name(
            wsi, (const unsigned char *)"content-disposition:",
            (const unsigned char *)disp, (int)strlen(disp), &p, end) ||
        lws_add_http_header_by_name(wsi,
                                    (const unsigned char *)"cache-control:",
                                    (const unsigned char *)"no-store", 8, &p,
                                    end) ||
        lws_finalize_http_header(wsi, &p, end)) {
        tar_free(s);
        return -1;
    }
    s->resp_len = (size_t)(p - (s->resp + LWS_PRE));
    lws_callback_on_writable(wsi);
    return 0;
}

/* One piece of the tar per writeable callback. */
static int write_tar(struct lws *wsi, http_sess *s)
{
    char err[300];
    long n;
    bool last;

    if (!s->tar_headers_sent) {
        s->tar_headers_sent = true;
        if (lws_write(wsi, s->resp + LWS_PRE, s->resp_len,
                      LWS_WRITE_HTTP_HEADERS) < 0) {
            tar_free(s);
            return -1;
        }
        lws_callback_on_writable(wsi);
        return 0;
    }
    n = dmn_tar_read(s->tar, s->tx + LWS_PRE, TAR_PIECE, err, sizeof err);
    if (n < 0) {
        /* Too late for an error status: cut the connection, so the client
         * sees a short body rather than a wrong one. */
        dmn_server_log(server_of(wsi), "run %" PRIu64 ": codetracer "
                       "download: %s", s->tar_run, err);
        tar_free(s);
        return -1;
    }
    last = s->tar->pos == dmn_tar_size(s->tar);
    if (lws_write(wsi, s->tx + LWS_PRE, (size_t)n,
                  last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) < 0) {
        tar_free(s);
        return -1;
    }
    if (!last) {
        lws_callback_on_writable(wsi);
        return 0;
    }
    tar_free(s);
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* The run's directory is ready (status 0), or cannot be made. */
static void on_ct_ready(dmn_ct_waiter *w, int status, const char *code,
                        const char *msg)
{
    http_sess *s = container_of(w, http_sess, ctw);
    dmn_run *r = dmn_run_find(server_of(s->wsi), s->tar_run);
    int rc;

    if (status == 0 && r)
        rc = start_tar(s->wsi, s, r);
    else
        rc = respond_error(s->wsi, s, status ? status : 404,
                           code ? code : "unknown_run", msg ? msg : "gone");
    if (rc)
        lws_set_timeout(s->wsi, PENDING_TIMEOUT_KILLED_BY_PARENT,
                        LWS_TO_KILL_ASYNC);
}

/* GET /api/runs/ID/codetracer */
static int get_codetracer(struct lws *wsi, http_sess *s, dmn_run *r)
{
    char msg[300];
    const char *code = "internal";
    int status;

    s->wsi = wsi;
    s->tar_run = r->id;
    s->ctw.ready = on_ct_ready;
    status = dmn_ct_request(r, &s->ctw, &code, msg, sizeof msg);
    if (status == 0)
        return start_tar(wsi, s, r);
    if (status > 0)
        return respond_error(wsi, s, status, code, msg);
    /* Waiting for the live writer or a conversion: no timeout meanwhile;
     * ready answers. */
    lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
    return 0;
}

static int handle_api(struct lws *wsi, http_sess *s, dmn_server *srv)
{
    const char *uri = s->uri + 4; /* after /api */
    const char *rest = "";
    dmn_run *r;
    bool bad;

    if (strcmp(uri, "/runs") == 0 || strcmp(uri, "/runs/") == 0) {
        if (s->post)
            return do_submit(wsi, s, srv);
        json_t *a = json_array();

        for (r = srv->runs; r; r = r->next)
            json_array_append_new(a, dmn_run_json(r));
        return respond_json(wsi, s, 200, json_pack("{s:o}", "runs", a));
    }
    if (strncmp(uri, "/runs/", 6) != 0)
        return respond_error(wsi, s, 404, "not_found", "no such endpoint");
    r = route_run(srv, uri + 6, &rest, &bad);
    if (bad)
        return respond_error(wsi, s, 404, "not_found", "no such endpoint");
    if (!r)
        return respond_error(wsi, s, 404, "unknown_run", "no such run");
    if (strcmp(rest, "") == 0 && !s->post)
        return respond_json(wsi, s, 200, dmn_run_json(r));
    if (strcmp(rest, "/cancel") == 0 && s->post) {
        if (!dmn_run_cancel(r, "cancelled"))
            return respond_error(wsi, s, 409, "not_running",
                                 "the run is not running");
        return respond_json(wsi, s, 202, dmn_run_json(r));
    }
    if (strcmp(rest, "/listing") == 0 && !s->post) {
        char err[512];
        json_t *j = listing_json(r, err, sizeof err);

        if (!j)
            return respond_error(wsi, s, 404, "no_listing", err);
        return respond_json(wsi, s, 200, j);
    }
    if (strcmp(rest, "/sources") == 0 && !s->post) {
        char err[512];
        json_t *j = sources_json(srv, r, err, sizeof err);

        if (!j)
            return respond_error(wsi, s, 404, "no_module", err);
        return respond_json(wsi, s, 200, j);
    }
    if (strncmp(rest, "/sources/", 9) == 0 && !s->post)
        return get_source(wsi, s, srv, r, rest + 9);
    if (strcmp(rest, "/codetracer") == 0 && !s->post)
        return get_codetracer(wsi, s, r);
    if (strcmp(rest, "/stream") == 0 && !s->post) {
        char path[600];
        int n;

        dmn_run_stream_path(r, path, sizeof path);
        n = lws_serve_http_file(wsi, path, "application/octet-stream", NULL,
                                0);
        if (n < 0)
            return -1;
        if (n > 0 && lws_http_transaction_completed(wsi))
            return -1;
        return 0;
    }
    if (strcmp(rest, "") == 0 || strcmp(rest, "/cancel") == 0 ||
        strcmp(rest, "/stream") == 0 || strcmp(rest, "/codetracer") == 0)
        return respond_error(wsi, s, 405, "method_not_allowed",
                             "method not allowed here");
    return respond_error(wsi, s, 404, "not_found", "no such endpoint");
}

/* Answer the request now that any body is in. */
static int dispatch(struct lws *wsi, http_sess *s, dmn_server *srv)
{
    if (s->pending_status)
        return respond_error(wsi, s, s->pending_status, s->pending_code,
                             s->pending_err);
    if (strncmp(s->uri, "/api/", 5) == 0 || strcmp(s->uri, "/api") == 0)
        return handle_api(wsi, s, srv);
    if (s->post)
        return respond_error(wsi, s, 405, "method_not_allowed",
                             "method not allowed here");
    return serve_static(wsi, s, srv, s->uri);
}

static void set_pending(http_sess *s, int status, const char *code,
                        const char *msg)
{
    s->pending_status = status;
    s->pending_code = code;
    snprintf(s->pending_err, sizeof s->pending_err, "%s", msg);
}

static int on_http(struct lws *wsi, http_sess *s, dmn_server *srv,
                   const char *in)
{
    char buf[64];
    uint64_t clen = 0;
    bool has_body;

    /* A keep-alive connection's next request reuses the session. */
    dmn_ct_cancel_wait(&s->ctw);
    tar_free(s);
    free(s->body);
    free(s->resp);
    memset(s, 0, sizeof *s);
    snprintf(s->uri, sizeof s->uri, "%s", in ? in : "/");
    s->post = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0;
    if (!s->post && lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) == 0)
        set_pending(s, 405, "method_not_allowed", "only GET and POST");
    if (lws_hdr_copy(wsi, buf, sizeof buf, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0)
        clen = strtoull(buf, NULL, 10);
    has_body = s->post && (clen > 0 ||
                           lws_hdr_total_length(
                               wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0);
    if (!dmn_http_authorized(srv, wsi))
        set_pending(s, 401, "unauthorized",
                    "a valid token is required (Authorization: Bearer T "
                    "or ?token=T)");
    else if (srv->stopping)
        set_pending(s, 503, "shutting_down", "the daemon is shutting down");
    else if (clen > srv->cfg.max_module_bytes) {
        char msg[128];

        snprintf(msg, sizeof msg, "body of %" PRIu64 " bytes exceeds the "
                 "limit of %zu", clen, srv->cfg.max_module_bytes);
        set_pending(s, 413, "too_large", msg);
    }
    if (has_body)
        return 0; /* the answer comes at LWS_CALLBACK_HTTP_BODY_COMPLETION */
    return dispatch(wsi, s, srv);
}

static int on_body(http_sess *s, dmn_server *srv, const void *in, size_t len)
{
    uint8_t *n;

    if (s->pending_status || s->body_over || len == 0)
        return 0; /* discarding, or an empty piece */
    if (s->body_len + len > srv->cfg.max_module_bytes) {
        char msg[128];

        free(s->body);
        s->body = NULL;
        s->body_over = true;
        snprintf(msg, sizeof msg, "body exceeds the limit of %zu bytes",
                 srv->cfg.max_module_bytes);
        set_pending(s, 413, "too_large", msg);
        return 0;
    }
    n = realloc(s->body, s->body_len + len);
    if (!n)
        return -1;
    s->body = n;
    memcpy(s->body + s->body_len, in, len);
    s->body_len += len;
    return 0;
}

static int on_writeable(struct lws *wsi, http_sess *s)
{
    int n;

    if (s->tar)
        return write_tar(wsi, s);
    if (!s->resp_ready)
        return 0;
    s->resp_ready = false;
    n = lws_write(wsi, s->resp + LWS_PRE, s->resp_len, LWS_WRITE_HTTP_FINAL);
    free(s->resp);
    s->resp = NULL;
    if (n < 0)
        return -1;
    if (lws_http_transaction_completed(wsi))
        return -1;
    return 0;
}

int dmn_http_callback(struct lws *wsi, enum lws_callback_reasons reason,
                      void *user, void *in, size_t len)
{
    http_sess *s = user;
    dmn_server *srv = server_of(wsi);

    switch (reason) {
    case LWS_CALLBACK_HTTP:
        return on_http(wsi, s, srv, in);
    case LWS_CALLBACK_HTTP_BODY:
        return on_body(s, srv, in, len);
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        return dispatch(wsi, s, srv);
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return on_writeable(wsi, s);
    case LWS_CALLBACK_HTTP_FILE_COMPLETION:
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
    case LWS_CALLBACK_CLOSED_HTTP:
        if (s && !s->is_ws) {
            free(s->body);
            s->body = NULL;
            free(s->resp);
            s->resp = NULL;
            dmn_ct_cancel_wait(&s->ctw);
            tar_free(s);
        }
        return 0;
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: {
        char uri[256];

        if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) <= 0 ||
            strcmp(uri, "/ws") != 0) {
            lws_return_http_status(wsi, 404, "WebSocket is at /ws");
            return 1;
        }
        if (!dmn_http_authorized(srv, wsi)) {
            lws_return_http_status(wsi, 401, "a valid token is required");
            return 1;
        }
        if (srv->stopping) {
            lws_return_http_status(wsi, 503, "shutting down");
            return 1;
        }
        return 0;
    }
    case LWS_CALLBACK_ESTABLISHED:
        s->is_ws = true;
        return dmn_ws_established(&s->ws, wsi, srv);
    case LWS_CALLBACK_CLOSED:
        if (s && s->is_ws)
            dmn_ws_closed(&s->ws);
        return 0;
    case LWS_CALLBACK_RECEIVE:
        return dmn_ws_receive(&s->ws, in, len, lws_is_final_fragment(wsi));
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return dmn_ws_writeable(&s->ws);
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

size_t dmn_http_session_size(void)
{
    return sizeof(http_sess);
}
