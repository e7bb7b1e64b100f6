/*
 * tracectl: drive a traced daemon from a terminal or a script.
 *
 *   tracectl [--url URL] [--token T] COMMAND ...
 *   submit FILE.wasm [--level L] [--name N] [--fuel N] [--wall-ms N]
 *          [--max-pages N] [--env K=V]... [--invoke NAME [ARGS...]]
 *          [-- ARGS...] [--follow]
 *   ls | status RUN | cancel RUN
 *   tail RUN [--from SEQ|start|now] [--format tree|jsonl] [--binary]
 *   tail --file PATH [--from SEQ] [--format tree|jsonl] [--module FILE.wasm]
 *   codetracer RUN -o DIR
 *
 * HTTP requests are plain blocking sockets (one request per connection);
 * `tail` is a libwebsockets client on lws's own poll loop. Exit status: 0
 * ok, 1 failure (the daemon's error is printed), 2 usage; `submit --follow`
 * and `tail` exit with the run's status (0 ok, the exit code for exit, 1
 * otherwise).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <libwebsockets.h>

#include <traced/proto.h>
#include <traced/proto_code.h>
#include <traced/proto_source.h>

#define EXIT_USAGE 2

typedef struct cli_ctx {
    char host[256];
    int port;
    const char *token;
} cli_ctx;

/* ---- HTTP ----------------------------------------------------------------- */

static int cli_parse_url(cli_ctx *c, const char *url)
{
    const char *p = url, *colon, *slash;
    size_t hl;

    if (strncmp(p, "http://", 7) == 0)
        p += 7;
    else if (strstr(p, "://")) {
        fprintf(stderr, "tracectl: only http:// URLs are supported: %s\n",
                url);
        return -1;
    }
    slash = strchr(p, '/');
    colon = strrchr(p, ':');
    if (slash && colon && colon > slash)
        colon = NULL;
    hl = colon ? (size_t)(colon - p) : slash ? (size_t)(slash - p) : strlen(p);
    if (hl == 0 || hl >= sizeof c->host) {
        fprintf(stderr, "tracectl: bad URL %s\n", url);
        return -1;
    }
    memcpy(c->host, p, hl);
    c->host[hl] = '\0';
    c->port = colon ? atoi(colon + 1) : 80;
    if (c->port <= 0 || c->port > 65535) {
        fprintf(stderr, "tracectl: bad port in %s\n", url);
        return -1;
    }
    return 0;
}

static int cli_connect(const cli_ctx *c)
{
    struct addrinfo hints = {0}, *res, *ai;
    char port[16];
    int fd = -1;

    hints.ai_socktype = SOCK_STREAM;
    snprintf(port, sizeof port, "%d", c->port);
    if (getaddrinfo(c->host, port, &hints, &res) != 0)
        return -1;
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

static int write_all(int fd, const void *p, size_t n)
{
    const char *b = p;

    while (n) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);

        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

/* write(2) all of p to a file. */
static int write_all_file(int fd, const void *p, size_t n)
{
    const char *b = p;

    while (n) {
        ssize_t w = write(fd, b, n);

        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

/* One request; *body_out gets the response body (NUL-terminated, to free).
 * Returns the HTTP status, or -1 when the daemon cannot be reached. */
static int cli_http(const cli_ctx *c, const char *method, const char *path,
                    const void *body, size_t len, char **body_out)
{
    char head[1024];
    char *resp = NULL, *p;
    size_t rlen = 0, rcap = 0;
    int fd, n, status = -1;

    *body_out = NULL;
    fd = cli_connect(c);
    if (fd < 0) {
        fprintf(stderr, "tracectl: cannot reach the daemon at %s:%d\n",
                c->host, c->port);
        return -1;
    }
    n = snprintf(head, sizeof head,
                 "%s %s HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n"
                 "Content-Length: %zu\r\n"
                 "Content-Type: application/octet-stream\r\n%s%s%s\r\n",
                 method, path, c->host, c->port, len,
                 c->token ? "Authorization: Bearer " : "",
                 c->token ? c->token : "", c->token ? "\r\n" : "");
    if (n >= (int)sizeof head || write_all(fd, head, (size_t)n) != 0 ||
        (len && write_all(fd, body, len) != 0)) {
        /* The daemon may answer (413) before reading the whole body. */
    }
    for (;;) {
        ssize_t r;

        if (rlen + 4096 + 1 > rcap) {
            char *nr = realloc(resp, rcap = rcap ? rcap * 2 : 16384);

            if (!nr)
                break;
            resp = nr;
        }
        r = recv(fd, resp + rlen, rcap - rlen - 1, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        rlen += (size_t)r;
    }
    close(fd);
    if (!resp || rlen < 12 || strncmp(resp, "HTTP/1.", 7) != 0) {
        fprintf(stderr, "tracectl: no HTTP answer from %s:%d\n", c->host,
                c->port);
        free(resp);
        return -1;
    }
    resp[rlen] = '\0';
    status = atoi(resp + 9);
    p = strstr(resp, "\r\n\r\n");
    *body_out = strdup(p ? p + 4 : "");
    free(resp);
    return status;
}

/* A JSON request; prints the daemon's error and returns NULL on failure. */
static json_t *cli_api(const cli_ctx *c, const char *method, const char *path,
                       const void *body, size_t len)
{
    char *text;
    int status = cli_http(c, method, path, body, len, &text);
    json_t *j;

    if (status < 0)
        return NULL;
    j = json_loads(text, 0, NULL);
    if (status >= 300 || !j) {
        const char *e = j ? json_string_value(json_object_get(j, "error"))
                          : NULL;

        fprintf(stderr, "tracectl: %d: %s\n", status, e ? e : text);
        json_decref(j);
        free(text);
        return NULL;
    }
    free(text);
    return j;
}

/* ---- printing events ----------------------------------------------------------- */

typedef struct cli_tail {
    bool tree;
    int depth;
    uint64_t next_seq;
    bool have_seq;
    bool ended;
    int exit_status;
    const char *status;
    json_t *funcs; /* the run's listing functions (names), or NULL */
    json_t *files; /* level lines: run_start's file table, or NULL */
    /* --module: names and DWARF-typed values (proto_source.h), or NULL */
    const proto_json_opts *opts;
} cli_tail;

/* Values as name=text when the source view typed them (src_text), else
 * [name=]type:text. */
static void print_vals(json_t *a)
{
    size_t i;
    json_t *v;

    json_array_foreach(a, i, v) {
        const char *t = json_string_value(json_object_get(v, "type"));
        const char *x = json_string_value(json_object_get(v, "text"));
        const char *name = json_string_value(json_object_get(v, "name"));
        const char *src = json_string_value(json_object_get(v, "src_text"));

        if (!x)
            x = json_string_value(json_object_get(v, "value"));
        printf("%s", i ? ", " : "");
        if (name)
            printf("%s=", name);
        if (src)
            printf("%s", src);
        else
            printf("%s:%s", t ? t : "?", x ? x : "?");
    }
}

/* A step: the file's base name (from run_start's table) and the line. */
static void print_step(const cli_tail *t, json_t *ev)
{
    json_int_t file = json_integer_value(json_object_get(ev, "file"));
    const char *path = json_string_value(json_array_get(t->files,
                                                        (size_t)file));
    const char *base = path ? strrchr(path, '/') : NULL;

    printf("%*s", 2 * t->depth, "");
    if (path)
        printf("%s", base ? base + 1 : path);
    else
        printf("file[%" JSON_INTEGER_FORMAT "]", file);
    printf(":%" JSON_INTEGER_FORMAT "\n",
           json_integer_value(json_object_get(ev, "line")));
}

static void print_func(const cli_tail *t, json_t *ev)
{
    const char *name = json_string_value(json_object_get(ev, "name"));

    /* Events carry indices; the listing names them (name section,
     * export or import name). */
    if (!name && t->funcs) {
        json_t *f = json_array_get(
            t->funcs, (size_t)json_integer_value(json_object_get(ev, "func")));
        name = json_string_value(json_object_get(f, "name"));
    }

    if (name)
        printf("%s", name);
    else
        printf("func[%" JSON_INTEGER_FORMAT "]",
               json_integer_value(json_object_get(ev, "func")));
}

static int status_exit(const char *status, int code)
{
    if (!status || strcmp(status, "ok") == 0)
        return 0;
    if (strcmp(status, "exit") == 0)
        return code;
    return 1;
}

/* One event (a JSON object in the protocol's JSON form). */
static void cli_print_event(cli_tail *t, json_t *ev)
{
    const char *type = json_string_value(json_object_get(ev, "type"));
    json_int_t seq = json_integer_value(json_object_get(ev, "seq"));

    if (!type)
        return;
    t->next_seq = (uint64_t)seq + 1;
    if (strcmp(type, "loss") == 0)
        t->next_seq = (uint64_t)seq +
                      (uint64_t)json_integer_value(json_object_get(ev, "count"));
    t->have_seq = true;
    if (strcmp(type, "run_end") == 0)
        t->exit_status = status_exit(
            json_string_value(json_object_get(ev, "status")),
            (int)json_integer_value(json_object_get(ev, "exit_code")));
    if (!t->tree) {
        char *s = json_dumps(ev, JSON_COMPACT);

        if (s)
            printf("%s\n", s);
        free(s);
        return;
    }
    if (strcmp(type, "call") == 0) {
        printf("%*s", 2 * t->depth, "");
        print_func(t, ev);
        printf("(");
        print_vals(json_object_get(ev, "args"));
        printf(") {\n");
        t->depth++;
    } else if (strcmp(type, "return") == 0) {
        if (t->depth > 0)
            t->depth--;
        /* No results: a void function, or a frame an exception or a trap
         * unwound (the throw or trap line above says which). */
        if (json_array_size(json_object_get(ev, "results"))) {
            printf("%*s} = ", 2 * t->depth, "");
            print_vals(json_object_get(ev, "results"));
            printf("\n");
        } else {
            printf("%*s}\n", 2 * t->depth, "");
        }
    } else if (strcmp(type, "host_call") == 0 ||
               strcmp(type, "host_return") == 0) {
        printf("%*s%s ", 2 * t->depth, "",
               type[5] == 'c' ? "host" : "host =");
        print_func(t, ev);
        printf("(");
        print_vals(json_object_get(ev, "args")
                       ? json_object_get(ev, "args")
                       : json_object_get(ev, "results"));
        printf(")\n");
    } else if (strcmp(type, "output") == 0) {
        const char *text = json_string_value(json_object_get(ev, "text"));

        printf("%*s[fd %" JSON_INTEGER_FORMAT "] %s%s", 2 * t->depth, "",
               json_integer_value(json_object_get(ev, "fd")),
               text ? text : "(binary)",
               text && *text && text[strlen(text) - 1] == '\n' ? "" : "\n");
    } else if (strcmp(type, "trap") == 0) {
        printf("%*strap: %s\n", 2 * t->depth, "",
               json_string_value(json_object_get(ev, "message")) ?: "");
    } else if (strcmp(type, "step") == 0) {
        print_step(t, ev);
    } else if (strcmp(type, "run_start") == 0) {
        json_decref(t->files);
        t->files = json_incref(json_object_get(ev, "files"));
        printf("run %s %s (%s)\n",
               json_string_value(json_object_get(ev, "run_id")) ?: "?",
               json_string_value(json_object_get(ev, "module")) ?: "?",
               json_string_value(json_object_get(ev, "level")) ?: "?");
    } else if (strcmp(type, "run_end") == 0) {
        t->depth = 0;
        printf("end: %s",
               json_string_value(json_object_get(ev, "status")) ?: "?");
        if (json_array_size(json_object_get(ev, "results"))) {
            printf(" = ");
            print_vals(json_object_get(ev, "results"));
        }
        if (json_integer_value(json_object_get(ev, "exit_code")))
            printf(" (exit code %" JSON_INTEGER_FORMAT ")",
                   json_integer_value(json_object_get(ev, "exit_code")));
        printf("\n");
    } else if (strcmp(type, "loss") == 0) {
        printf("%*s... %" JSON_INTEGER_FORMAT " events lost\n", 2 * t->depth,
               "", json_integer_value(json_object_get(ev, "count")));
    } else if (strcmp(type, "op") != 0) {
        printf("%*s%s\n", 2 * t->depth, "", type);
    }
}

static void cli_print_proto(cli_tail *t, const proto_event *ev)
{
    json_t *j;

    if (proto_event_to_json(ev, t->opts, &j) == 0) {
        cli_print_event(t, j);
        json_decref(j);
    }
}

/* ---- tail over WebSocket ---------------------------------------------------------- */

typedef struct cli_ws {
    cli_ctx *c;
    cli_tail *t;
    uint64_t run;
    char from[32];
    bool binary;
    unsigned delay_ms;
    char *rx;
    size_t rx_len;
    bool done, failed, sent;
} cli_ws;

static void handle_text(cli_ws *w, const char *text, size_t len)
{
    json_t *m = json_loadb(text, len, 0, NULL);
    const char *type = json_string_value(json_object_get(m, "type"));

    if (!type) {
        json_decref(m);
        return;
    }
    if (strcmp(type, "events") == 0) {
        size_t i;
        json_t *ev;

        json_array_foreach(json_object_get(m, "events"), i, ev)
            cli_print_event(w->t, ev);
    } else if (strcmp(type, "end") == 0) {
        const char *st = json_string_value(json_object_get(m, "status"));

        if (st && strcmp(st, "interrupted") == 0)
            w->t->exit_status = 1;
        w->t->ended = true;
        w->done = true;
    } else if (strcmp(type, "error") == 0) {
        fprintf(stderr, "tracectl: %s\n",
                json_string_value(json_object_get(m, "error")) ?: "error");
        w->failed = true;
        w->done = true;
    }
    json_decref(m);
    fflush(stdout);
}

static void handle_binary(cli_ws *w, const uint8_t *p, size_t len)
{
    proto_delta d;
    proto_event ev;
    char err[200];
    size_t off = 16, used;

    if (len < 16 || memcmp(p, "TRCB", 4) != 0) {
        fprintf(stderr, "tracectl: bad binary frame\n");
        return;
    }
    proto_delta_reset(&d);
    proto_event_init(&ev);
    while (off < len) {
        if (proto_decode(&d, p + off, len - off, &ev, &used, err,
                         sizeof err) != 0) {
            fprintf(stderr, "tracectl: bad record: %s\n", err);
            break;
        }
        cli_print_proto(w->t, &ev);
        off += used;
    }
    proto_event_close(&ev);
    fflush(stdout);
}

static int ws_callback(struct lws *wsi, enum lws_callback_reasons reason,
                       void *user, void *in, size_t len)
{
    cli_ws *w = lws_context_user(lws_get_context(wsi));

    switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
        if (w->c->token) {
            unsigned char **p = in, *end = *p + len;
            char v[600];
            int n = snprintf(v, sizeof v, "Bearer %s", w->c->token);

            if (lws_add_http_header_by_token(wsi,
                                             WSI_TOKEN_HTTP_AUTHORIZATION,
                                             (unsigned char *)v, n, p, end))
                return -1;
        }
        break;
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        lws_callback_on_writable(wsi);
        break;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        if (!w->sent) {
            unsigned char buf[LWS_PRE + 256];
            bool num = w->from[0] >= '0' && w->from[0] <= '9';
            int n = snprintf((char *)buf + LWS_PRE, 256,
                             "{\"type\":\"subscribe\",\"run\":%" PRIu64
                             ",\"from\":%s%s%s,\"format\":\"%s\"}",
                             w->run, num ? "" : "\"", w->from, num ? "" : "\"",
                             w->binary ? "binary" : "json");

            w->sent = true;
            if (lws_write(wsi, buf + LWS_PRE, (size_t)n, LWS_WRITE_TEXT) < n)
                return -1;
        }
        break;
    case LWS_CALLBACK_CLIENT_RECEIVE: {
        char *n = realloc(w->rx, w->rx_len + len + 1);

        if (!n)
            return -1;
        w->rx = n;
        memcpy(w->rx + w->rx_len, in, len);
        w->rx_len += len;
        if (!lws_is_final_fragment(wsi))
            break;
        if (lws_frame_is_binary(wsi))
            handle_binary(w, (uint8_t *)w->rx, w->rx_len);
        else
            handle_text(w, w->rx, w->rx_len);
        w->rx_len = 0;
        if (w->delay_ms) {
            struct timespec ts = {w->delay_ms / 1000,
                                  (long)(w->delay_ms % 1000) * 1000000};

            nanosleep(&ts, NULL);
        }
        if (w->done)
            return -1;
        break;
    }
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        fprintf(stderr, "tracectl: WebSocket connection failed: %s\n",
                in ? (const char *)in : "");
        w->failed = true;
        w->done = true;
        break;
    case LWS_CALLBACK_CLIENT_CLOSED:
        w->done = true;
        break;
    default:
        break;
    }
    return 0;
}

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

static int tail_ws(cli_ctx *c, uint64_t run, const char *from, bool tree,
                   bool binary, unsigned delay_ms)
{
    static struct lws_protocols protocols[] = {
        {"traced-client", ws_callback, 0, 65536, 0, NULL, 0},
        {NULL, NULL, 0, 0, 0, NULL, 0}};
    struct lws_context_creation_info info;
    struct lws_client_connect_info ci;
    struct lws_context *ctx;
    cli_tail t = {.tree = tree};
    cli_ws w = {.c = c, .t = &t, .run = run, .binary = binary,
                .delay_ms = delay_ms};

    if (tree) {
        /* Function names for the tree; a run without a kept module just
         * prints indices. */
        char path[64], *text = NULL;
        json_t *j;

        snprintf(path, sizeof path, "/api/runs/%" PRIu64 "/listing", run);
        if (cli_http(c, "GET", path, NULL, 0, &text) == 200 &&
            (j = json_loads(text, 0, NULL)) != NULL) {
            t.funcs = json_incref(json_object_get(j, "funcs"));
            json_decref(j);
        }
        free(text);
    }

    snprintf(w.from, sizeof w.from, "%s", from);
    lws_set_log_level(LLL_ERR, NULL);
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    info.user = &w;
    ctx = lws_create_context(&info);
    if (!ctx) {
        fprintf(stderr, "tracectl: cannot create the lws context\n");
        json_decref(t.funcs);
        json_decref(t.files);
        return 1;
    }
    memset(&ci, 0, sizeof ci);
    ci.context = ctx;
    ci.address = c->host;
    ci.port = c->port;
    ci.path = "/ws";
    ci.host = c->host;
    ci.origin = c->host;
    if (!lws_client_connect_via_info(&ci)) {
        fprintf(stderr, "tracectl: cannot connect to %s:%d\n", c->host,
                c->port);
        lws_context_destroy(ctx);
        json_decref(t.funcs);
        json_decref(t.files);
        return 1;
    }
    signal(SIGINT, on_sigint);
    while (!w.done && !interrupted && lws_service(ctx, 0) >= 0)
        ;
    lws_context_destroy(ctx);
    free(w.rx);
    json_decref(t.funcs);
    json_decref(t.files);
    fflush(stdout);
    if (w.failed)
        return 1;
    if (!t.ended)
        return interrupted ? 130 : 1; /* connection lost */
    return t.exit_status;
}

/* ---- tail --file ------------------------------------------------------------------- */

static int read_whole(const char *path, uint8_t **out, size_t *len);

/* --module: the run's module and its source view (names, DWARF types). */
typedef struct cli_module {
    vm_module *m;
    proto_source *src;
    proto_json_opts opts;
} cli_module;

static int module_open(cli_module *cm, const char *path)
{
    vm_load_options lo = {.features = VM_FEATURE_TAIL_CALL |
                                      VM_FEATURE_EXCEPTIONS};
    uint8_t *bytes = NULL;
    size_t len = 0;
    char err[256] = "";
    int rc;

    memset(cm, 0, sizeof *cm);
    if (read_whole(path, &bytes, &len) != 0) {
        fprintf(stderr, "tracectl: cannot read %s: %s\n", path,
                strerror(errno));
        return -1;
    }
    rc = vm_module_new(bytes, len, &lo, &cm->m, err, sizeof err);
    free(bytes);
    if (rc || proto_source_new(cm->m, &cm->src, err, sizeof err) != 0) {
        fprintf(stderr, "tracectl: %s: %s\n", path, err);
        proto_source_free(cm->src);
        vm_module_free(cm->m);
        return -1;
    }
    proto_source_json_opts(cm->src, &cm->opts);
    return 0;
}

static void module_close(cli_module *cm)
{
    proto_source_free(cm->src);
    vm_module_free(cm->m);
}

/* Follow the file (a writer may still be appending) until run_end; with
 * follow false, stop at its end (a finished or interrupted run). With a
 * module (or NULL), events name functions and type values through it. */
static int tail_file(const char *path, const char *from, bool tree,
                     bool follow, const cli_module *cm)
{
    proto_reader *r = NULL;
    proto_code *code = NULL; /* expands op and step runs */
    proto_event ev;
    cli_tail t = {.tree = tree, .opts = cm ? &cm->opts : NULL};
    char err[256];
    uint64_t seq = 0;
    bool positioned = false;
    int rc;
    const struct timespec nap = {0, 20 * 1000000};

    if (strcmp(from, "start") != 0)
        seq = strtoull(from, NULL, 10);
    signal(SIGINT, on_sigint);
    while ((rc = proto_reader_new(path, follow ? PROTO_READER_FOLLOW : 0,
                                  &r, err,
                                  sizeof err)) == PROTO_ERR_AGAIN &&
           !interrupted)
        nanosleep(&nap, NULL);
    if (rc) {
        fprintf(stderr, "tracectl: %s: %s\n", path, err);
        return 1;
    }
    /* With the module, op and step runs print as their op and step
     * events; without it, as the runs they are. Only levels ops and
     * lines have runs: a calls file does not need the code map. */
    if (cm && proto_reader_header(r)->level != PROTO_LEVEL_CALLS) {
        if (proto_code_new(cm->m, &code, err, sizeof err) != 0) {
            fprintf(stderr, "tracectl: %s\n", err);
            proto_reader_free(r);
            return 1;
        }
        proto_reader_set_code(r, code);
    }
    proto_event_init(&ev);
    while (!interrupted) {
        if (!positioned) {
            rc = proto_reader_seek(r, seq, err, sizeof err);
            if (rc == PROTO_ERR_AGAIN || rc == PROTO_ERR_NOT_FOUND) {
                nanosleep(&nap, NULL);
                continue;
            }
            if (rc)
                break;
            positioned = true;
        }
        rc = proto_reader_next(r, &ev, err, sizeof err);
        if (rc == PROTO_ERR_AGAIN) {
            fflush(stdout);
            nanosleep(&nap, NULL);
            continue;
        }
        if (rc)
            break;
        if (proto_event_next_seq(&ev) <= seq)
            continue;
        cli_print_proto(&t, &ev);
        if (ev.type == PROTO_RUN_END) {
            t.ended = true;
            break;
        }
    }
    proto_event_close(&ev);
    proto_reader_free(r);
    proto_code_free(code);
    json_decref(t.files);
    fflush(stdout);
    if (!follow && (rc == PROTO_ERR_END || rc == PROTO_ERR_TORN))
        return t.ended ? t.exit_status : 0;
    if (rc && rc != PROTO_ERR_END && !t.ended && !interrupted) {
        fprintf(stderr, "tracectl: %s: %s\n", path, err);
        return 1;
    }
    return t.ended ? t.exit_status : 1;
}

/* ---- commands --------------------------------------------------------------------- */

static int read_whole(const char *path, uint8_t **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0, r;

    if (!f)
        return -1;
    do {
        if (n == cap) {
            uint8_t *nb = realloc(buf, cap = cap ? cap * 2 : 65536);

            if (!nb) {
                free(buf);
                fclose(f);
                return -1;
            }
            buf = nb;
        }
        r = fread(buf + n, 1, cap - n, f);
        n += r;
    } while (r > 0);
    fclose(f);
    *out = buf;
    *len = n;
    return 0;
}

/* Append name=value to a query string, percent-encoding the value. */
static int query_add(char *q, size_t cap, const char *name, const char *v)
{
    size_t n = strlen(q);
    int w = snprintf(q + n, cap - n, "%c%s=", n ? '&' : '?', name);

    if (w < 0 || (size_t)w >= cap - n)
        return -1;
    n += (size_t)w;
    for (; *v; v++) {
        unsigned char ch = (unsigned char)*v;

        if (n + 4 >= cap)
            return -1;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
            (ch >= '0' && ch <= '9') || strchr("-_.~", ch))
            q[n++] = (char)ch;
        else
            n += (size_t)snprintf(q + n, cap - n, "%%%02X", ch);
    }
    q[n] = '\0';
    return 0;
}

static int cmd_submit(cli_ctx *c, int argc, char **argv)
{
    char query[8192] = "", path[8300];
    const char *file = NULL, *name = NULL;
    bool follow = false;
    uint8_t *bytes;
    size_t len;
    json_t *j;
    uint64_t id;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        static const char *const valued[][2] = {
            {"--level", "level"}, {"--fuel", "fuel"},
            {"--wall-ms", "wall_ms"}, {"--max-pages", "max_pages"},
            {"--max-depth", "max_depth"}, {"--env", "env"},
        };
        bool done = false;

        for (size_t k = 0; k < sizeof valued / sizeof valued[0]; k++)
            if (strcmp(a, valued[k][0]) == 0) {
                if (!v || query_add(query, sizeof query, valued[k][1], v)) {
                    fprintf(stderr, "tracectl: %s needs a value\n", a);
                    return EXIT_USAGE;
                }
                i++;
                done = true;
            }
        if (done)
            continue;
        if (strcmp(a, "--follow") == 0) {
            follow = true;
        } else if (strcmp(a, "--codetracer") == 0) {
            query_add(query, sizeof query, "codetracer", "1");
        } else if (strcmp(a, "--name") == 0 && v) {
            name = v;
            i++;
        } else if (strcmp(a, "--invoke") == 0 || strcmp(a, "--") == 0) {
            if (a[2]) { /* --invoke NAME ARGS... */
                if (!v) {
                    fprintf(stderr, "tracectl: --invoke needs a name\n");
                    return EXIT_USAGE;
                }
                query_add(query, sizeof query, "invoke", v);
                i++;
            }
            for (i++; i < argc; i++) {
                if (strcmp(argv[i], "--follow") == 0) {
                    follow = true;
                    continue;
                }
                if (query_add(query, sizeof query, "arg", argv[i]))
                    return EXIT_USAGE;
            }
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "tracectl: submit: unknown option %s\n", a);
            return EXIT_USAGE;
        } else if (!file) {
            file = a;
        } else {
            fprintf(stderr, "tracectl: submit: unexpected %s\n", a);
            return EXIT_USAGE;
        }
    }
    if (!file) {
        fprintf(stderr, "tracectl: submit FILE.wasm ...\n");
        return EXIT_USAGE;
    }
    if (read_whole(file, &bytes, &len) != 0) {
        fprintf(stderr, "tracectl: cannot read %s: %s\n", file,
                strerror(errno));
        return 1;
    }
    if (!name) {
        name = strrchr(file, '/');
        name = name ? name + 1 : file;
    }
    query_add(query, sizeof query, "name", name);
    snprintf(path, sizeof path, "/api/runs%s", query);
    j = cli_api(c, "POST", path, bytes, len);
    free(bytes);
    if (!j)
        return 1;
    id = (uint64_t)json_integer_value(json_object_get(j, "id"));
    json_decref(j);
    printf("%" PRIu64 "\n", id);
    fflush(stdout);
    if (follow)
        return tail_ws(c, id, "start", true, false, 0);
    return 0;
}

static void print_run_line(json_t *r)
{
    printf("%-6" JSON_INTEGER_FORMAT " %-12s %-8s %8" JSON_INTEGER_FORMAT
           "  %s%s%s\n",
           json_integer_value(json_object_get(r, "id")),
           json_string_value(json_object_get(r, "status")) ?: "?",
           json_string_value(json_object_get(r, "level")) ?: "?",
           json_integer_value(json_object_get(r, "events")),
           json_string_value(json_object_get(r, "module")) ?: "?",
           json_is_string(json_object_get(r, "invoke")) ? " " : "",
           json_string_value(json_object_get(r, "invoke")) ?: "");
}

static int cmd_ls(cli_ctx *c)
{
    json_t *j = cli_api(c, "GET", "/api/runs", NULL, 0), *r;
    size_t i;

    if (!j)
        return 1;
    printf("%-6s %-12s %-8s %8s  %s\n", "ID", "STATUS", "LEVEL", "EVENTS",
           "MODULE");
    json_array_foreach(json_object_get(j, "runs"), i, r)
        print_run_line(r);
    json_decref(j);
    return 0;
}

static int run_id_arg(const char *s, uint64_t *id)
{
    char *end;

    if (!s || !*s || *s < '0' || *s > '9')
        return -1;
    *id = strtoull(s, &end, 10);
    return *end ? -1 : 0;
}

static int cmd_status_cancel(cli_ctx *c, int argc, char **argv, bool cancel)
{
    char path[128], *s;
    uint64_t id;
    json_t *j;

    if (argc != 2 || run_id_arg(argv[1], &id) != 0) {
        fprintf(stderr, "tracectl: %s RUN\n", argv[0]);
        return EXIT_USAGE;
    }
    snprintf(path, sizeof path, "/api/runs/%" PRIu64 "%s", id,
             cancel ? "/cancel" : "");
    j = cli_api(c, cancel ? "POST" : "GET", path, NULL, 0);
    if (!j)
        return 1;
    s = json_dumps(j, JSON_INDENT(2));
    printf("%s\n", s);
    free(s);
    json_decref(j);
    return 0;
}

static int cmd_tail(cli_ctx *c, int argc, char **argv)
{
    const char *from = "start", *file = NULL, *format = "tree";
    const char *module = NULL;
    bool binary = false, follow = true;
    unsigned delay = 0;
    uint64_t id = 0;
    bool have_id = false;
    cli_module cm;
    int rc;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(a, "--from") == 0 && v) {
            from = v;
            i++;
        } else if (strcmp(a, "--format") == 0 && v) {
            format = v;
            i++;
        } else if (strcmp(a, "--file") == 0 && v) {
            file = v;
            i++;
        } else if (strcmp(a, "--module") == 0 && v) {
            module = v;
            i++;
        } else if (strcmp(a, "--delay-ms") == 0 && v) {
            delay = (unsigned)strtoul(v, NULL, 10);
            i++;
        } else if (strcmp(a, "--binary") == 0) {
            binary = true;
        } else if (strcmp(a, "--no-follow") == 0) {
            follow = false;
        } else if (!have_id && run_id_arg(a, &id) == 0) {
            have_id = true;
        } else {
            fprintf(stderr, "tracectl: tail: unexpected %s\n", a);
            return EXIT_USAGE;
        }
    }
    if (strcmp(format, "tree") != 0 && strcmp(format, "jsonl") != 0) {
        fprintf(stderr, "tracectl: --format is tree or jsonl\n");
        return EXIT_USAGE;
    }
    if (strcmp(from, "start") != 0 && strcmp(from, "now") != 0 &&
        (from[0] < '0' || from[0] > '9')) {
        fprintf(stderr, "tracectl: --from is SEQ, start or now\n");
        return EXIT_USAGE;
    }
    if (module && !file) {
        fprintf(stderr, "tracectl: --module goes with --file (a daemon "
                        "names a run's functions itself)\n");
        return EXIT_USAGE;
    }
    if (file) {
        if (module && module_open(&cm, module) != 0)
            return 1;
        rc = tail_file(file, strcmp(from, "now") == 0 ? "start" : from,
                       strcmp(format, "tree") == 0, follow,
                       module ? &cm : NULL);
        if (module)
            module_close(&cm);
        return rc;
    }
    if (!have_id) {
        fprintf(stderr, "tracectl: tail RUN | tail --file PATH\n");
        return EXIT_USAGE;
    }
    return tail_ws(c, id, from, strcmp(format, "tree") == 0, binary, delay);
}

/* ---- codetracer: download a run's trace and extract it ----------------------- */

/* A response body read from the socket through a buffer. */
typedef struct cli_body {
    int fd;
    uint8_t buf[65536];
    size_t pos, len;
    uint64_t left; /* Content-Length not yet consumed */
} cli_body;

static int body_fill(cli_body *b)
{
    ssize_t r;

    do
        r = recv(b->fd, b->buf, sizeof b->buf, 0);
    while (r < 0 && errno == EINTR);
    if (r <= 0)
        return -1;
    b->pos = 0;
    b->len = (size_t)r;
    return 0;
}

/* Exactly n bytes of the body (out may be NULL: skip them). */
static int body_read(cli_body *b, void *out, size_t n)
{
    uint8_t *o = out;

    if (n > b->left)
        return -1;
    while (n) {
        size_t k;

        if (b->pos == b->len && body_fill(b) != 0)
            return -1;
        k = b->len - b->pos < n ? b->len - b->pos : n;
        if (o) {
            memcpy(o, b->buf + b->pos, k);
            o += k;
        }
        b->pos += k;
        b->left -= k;
        n -= k;
    }
    return 0;
}

/* Send a GET and read the status line and headers. Returns the status
 * (-1: no answer); b is positioned at the body. */
static int cli_get_head(const cli_ctx *c, const char *path, cli_body *b,
                        bool *has_length)
{
    char head[1024], *hdr_end;
    size_t have = 0;
    int n;

    *has_length = false;
    b->fd = cli_connect(c);
    if (b->fd < 0) {
        fprintf(stderr, "tracectl: cannot reach the daemon at %s:%d\n",
                c->host, c->port);
        return -1;
    }
    n = snprintf(head, sizeof head,
                 "GET %s HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n"
                 "%s%s%s\r\n",
                 path, c->host, c->port,
                 c->token ? "Authorization: Bearer " : "",
                 c->token ? c->token : "", c->token ? "\r\n" : "");
    if (n >= (int)sizeof head || write_all(b->fd, head, (size_t)n) != 0)
        return -1;
    /* Headers: read until the blank line; what follows is body. */
    for (;;) {
        ssize_t r = recv(b->fd, b->buf + have, sizeof b->buf - have - 1, 0);

        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            fprintf(stderr, "tracectl: no HTTP answer from %s:%d\n",
                    c->host, c->port);
            return -1;
        }
        have += (size_t)r;
        b->buf[have] = '\0';
        hdr_end = strstr((char *)b->buf, "\r\n\r\n");
        if (hdr_end)
            break;
        if (have + 1 >= sizeof b->buf) {
            fprintf(stderr, "tracectl: HTTP headers too long\n");
            return -1;
        }
    }
    b->pos = (size_t)(hdr_end + 4 - (char *)b->buf);
    b->len = have;
    b->left = UINT64_MAX;
    for (char *l = strstr((char *)b->buf, "\r\n"); l && l < hdr_end;
         l = strstr(l + 2, "\r\n")) {
        if (strncasecmp(l + 2, "content-length:", 15) == 0) {
            b->left = strtoull(l + 17, NULL, 10);
            *has_length = true;
        }
    }
    if (strncmp((char *)b->buf, "HTTP/1.", 7) != 0)
        return -1;
    return atoi((char *)b->buf + 9);
}

typedef struct tar_out {
    int dirfd;        /* the destination */
    const char *dir;
    uint64_t files, bytes;
} tar_out;

static uint64_t tar_number(const uint8_t *f, size_t n)
{
    uint64_t v = 0;

    if (f[0] & 0x80) { /* base-256 */
        for (size_t i = 1; i < n; i++)
            v = v << 8 | f[i];
        return v;
    }
    for (size_t i = 0; i < n && f[i] >= '0' && f[i] <= '7'; i++)
        v = v * 8 + (uint64_t)(f[i] - '0');
    return v;
}

/* A name inside the archive is safe when it is relative and has no ".."
 * component: it can then only name something under the destination. */
static bool tar_name_safe(const char *name)
{
    const char *p = name;

    if (!*name || name[0] == '/')
        return false;
    while (*p) {
        size_t k = strcspn(p, "/");

        if (k == 2 && p[0] == '.' && p[1] == '.')
            return false;
        p += k;
        while (*p == '/')
            p++;
    }
    return true;
}

/* Open (creating directories on the way) the parent of name under out,
 * never following a symbolic link; *base is the last component. */
static int tar_parent(const tar_out *out, char *name, char **base)
{
    int fd = dup(out->dirfd);
    char *p = name, *slash;

    while (fd >= 0 && (slash = strchr(p, '/'))) {
        int nfd;

        *slash = '\0';
        if (*p && strcmp(p, ".") != 0) {
            if (mkdirat(fd, p, 0755) != 0 && errno != EEXIST) {
                close(fd);
                return -1;
            }
            nfd = openat(fd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
                                    O_CLOEXEC);
            close(fd);
            fd = nfd;
        }
        *slash = '/';
        p = slash + 1;
    }
    *base = p;
    return fd;
}

/* Extract the tar coming in b into out. 0, or -1 with a message printed. */
static int tar_extract(cli_body *b, tar_out *out)
{
    uint8_t h[512];
    char name[4096], pax_path[4096] = "";
    uint64_t pax_size = UINT64_MAX;
    int zeros = 0;

    for (;;) {
        unsigned sum = 0, want;
        uint64_t size;
        char type;
        bool zero = true;

        if (body_read(b, h, sizeof h) != 0) {
            if (zeros == 1 && b->left == 0)
                return 0; /* one end block and the body's end: accept */
            fprintf(stderr, "tracectl: the download was cut short\n");
            return -1;
        }
        for (size_t i = 0; i < sizeof h && zero; i++)
            zero = h[i] == 0;
        if (zero) {
            if (++zeros == 2)
                return 0;
            continue;
        }
        zeros = 0;
        for (size_t i = 0; i < sizeof h; i++)
            sum += i >= 148 && i < 156 ? ' ' : h[i];
        want = (unsigned)tar_number(h + 148, 8);
        if (sum != want) {
            fprintf(stderr, "tracectl: not a tar archive (bad header "
                            "checksum)\n");
            return -1;
        }
        type = (char)h[156];
        size = pax_size != UINT64_MAX ? pax_size : tar_number(h + 124, 12);
        if (pax_path[0]) {
            snprintf(name, sizeof name, "%s", pax_path);
        } else if (memcmp(h + 257, "ustar", 5) == 0 && h[345]) {
            snprintf(name, sizeof name, "%.155s/%.100s", (char *)h + 345,
                     (char *)h);
        } else {
            snprintf(name, sizeof name, "%.100s", (char *)h);
        }
        pax_path[0] = '\0';
        pax_size = UINT64_MAX;
        if (type == 'x' || type == 'g') { /* pax extended header */
            char *data;

            if (size > 1u << 20 || !(data = malloc((size_t)size + 1))) {
                fprintf(stderr, "tracectl: pax header too large\n");
                return -1;
            }
            if (body_read(b, data, (size_t)size) != 0 ||
                body_read(b, NULL, (size_t)((512 - size % 512) % 512))) {
                free(data);
                fprintf(stderr, "tracectl: the download was cut short\n");
                return -1;
            }
            data[size] = '\0';
            for (char *p = data; type == 'x' && p < data + size;) {
                char *end;
                unsigned long len = strtoul(p, &end, 10);
                char *eq;

                if (len == 0 || *end != ' ' || p + len > data + size)
                    break;
                eq = memchr(end, '=', (size_t)(p + len - end));
                if (eq && p[len - 1] == '\n') {
                    p[len - 1] = '\0';
                    if (strncmp(end + 1, "path=", 5) == 0)
                        snprintf(pax_path, sizeof pax_path, "%s", eq + 1);
                    else if (strncmp(end + 1, "size=", 5) == 0)
                        pax_size = strtoull(eq + 1, NULL, 10);
                }
                p += len;
            }
            free(data);
            continue;
        }
        if (!tar_name_safe(name)) {
            fprintf(stderr, "tracectl: refusing entry \"%s\": absolute or "
                            "with \"..\"\n", name);
            return -1;
        }
        if (type == '5') {
            char *base;
            int fd = tar_parent(out, name, &base);

            if (fd < 0 || (*base && mkdirat(fd, base, 0755) != 0 &&
                           errno != EEXIST)) {
                fprintf(stderr, "tracectl: %s/%s: %s\n", out->dir, name,
                        strerror(errno));
                if (fd >= 0)
                    close(fd);
                return -1;
            }
            close(fd);
            continue;
        }
        if (type != '0' && type != '\0') {
            fprintf(stderr, "tracectl: refusing entry \"%s\": a link or "
                            "special file (type '%c')\n", name, type);
            return -1;
        }
        {
            char *base;
            int dfd = tar_parent(out, name, &base), fd = -1;
            uint8_t buf[65536];
            uint64_t left = size;

            if (dfd >= 0 && *base)
                fd = openat(dfd, base, O_WRONLY | O_CREAT | O_TRUNC |
                                           O_NOFOLLOW | O_CLOEXEC, 0644);
            if (dfd >= 0)
                close(dfd);
            if (fd < 0) {
                fprintf(stderr, "tracectl: %s/%s: %s\n", out->dir, name,
                        *base ? strerror(errno) : "not a file name");
                return -1;
            }
            while (left) {
                size_t k = left < sizeof buf ? (size_t)left : sizeof buf;

                if (body_read(b, buf, k) != 0) {
                    fprintf(stderr, "tracectl: the download was cut short "
                                    "in %s\n", name);
                    close(fd);
                    return -1;
                }
                if (write_all_file(fd, buf, k) != 0) {
                    fprintf(stderr, "tracectl: %s/%s: %s\n", out->dir, name,
                            strerror(errno));
                    close(fd);
                    return -1;
                }
                left -= k;
            }
            if (close(fd) != 0) {
                fprintf(stderr, "tracectl: %s/%s: %s\n", out->dir, name,
                        strerror(errno));
                return -1;
            }
            if (body_read(b, NULL, (size_t)((512 - size % 512) % 512)) != 0) {
                fprintf(stderr, "tracectl: the download was cut short\n");
                return -1;
            }
            out->files++;
            out->bytes += size;
        }
    }
}

static int cmd_codetracer(cli_ctx *c, int argc, char **argv)
{
    const char *dir = NULL;
    char path[128];
    cli_body *b;
    tar_out out = {.dirfd = -1};
    bool have_id = false, has_length;
    uint64_t id = 0;
    int status, rc = 1;

    for (int i = 1; i < argc; i++) {
        if ((strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--output") == 0)
            && i + 1 < argc) {
            dir = argv[++i];
        } else if (!have_id && run_id_arg(argv[i], &id) == 0) {
            have_id = true;
        } else {
            fprintf(stderr, "tracectl: codetracer: unexpected %s\n", argv[i]);
            return EXIT_USAGE;
        }
    }
    if (!have_id || !dir) {
        fprintf(stderr, "tracectl: codetracer RUN -o DIR\n");
        return EXIT_USAGE;
    }
    b = calloc(1, sizeof *b);
    if (!b)
        return 1;
    snprintf(path, sizeof path, "/api/runs/%" PRIu64 "/codetracer", id);
    status = cli_get_head(c, path, b, &has_length);
    if (status != 200) {
        if (status > 0) {
            /* A JSON error: the rest of the answer. */
            char text[4096];
            size_t n = b->len - b->pos;
            json_t *j;
            const char *e;

            if (n >= sizeof text)
                n = sizeof text - 1;
            memcpy(text, b->buf + b->pos, n);
            text[n] = '\0';
            j = json_loads(text, 0, NULL);
            e = json_string_value(json_object_get(j, "error"));
            fprintf(stderr, "tracectl: %d: %s\n", status, e ? e : text);
            json_decref(j);
        }
        goto done;
    }
    if (!has_length) {
        fprintf(stderr, "tracectl: the answer has no Content-Length\n");
        goto done;
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "tracectl: cannot create %s: %s\n", dir,
                strerror(errno));
        goto done;
    }
    out.dir = dir;
    out.dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (out.dirfd < 0) {
        fprintf(stderr, "tracectl: %s: %s\n", dir, strerror(errno));
        goto done;
    }
    if (tar_extract(b, &out) == 0) {
        printf("%s: CodeTracer trace of run %" PRIu64 " (%" PRIu64
               " files, %" PRIu64 " bytes)\n", dir, id, out.files, out.bytes);
        rc = 0;
    }
done:
    if (out.dirfd >= 0)
        close(out.dirfd);
    if (b->fd >= 0)
        close(b->fd);
    free(b);
    return rc;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tracectl [--url URL] [--token T] COMMAND ...\n"
            "  submit FILE.wasm [--level calls|ops|lines] [--name N] [--fuel N]\n"
            "         [--wall-ms N] [--max-pages N] [--max-depth N]\n"
            "         [--env K=V]... [--invoke NAME [ARGS...]] [-- ARGS...]\n"
            "         [--codetracer] [--follow]\n"
            "                           prints the run id; --codetracer\n"
            "                           writes its CodeTracer trace live\n"
            "  ls                       list runs\n"
            "  status RUN               a run's status and counters\n"
            "  cancel RUN               cancel a running run\n"
            "  tail RUN [--from SEQ|start|now] [--format tree|jsonl]\n"
            "         [--binary]        stream a run's events (WebSocket)\n"
            "  tail --file PATH [--from SEQ] [--format tree|jsonl]\n"
            "       [--module FILE.wasm]  (names; with -g, typed values)\n"
            "         [--no-follow]     follow a native trace file until\n"
            "                           run_end (--no-follow: to its end)\n"
            "  codetracer RUN -o DIR    download the run's CodeTracer trace\n"
            "                           (a tar; converted from the stream if\n"
            "                           it was not recorded live) into DIR\n"
            "URL defaults to $TRACED_URL, else http://127.0.0.1:7070; the\n"
            "token to $TRACED_TOKEN.\n");
}

int main(int argc, char **argv)
{
    cli_ctx c = {0};
    const char *url = getenv("TRACED_URL");
    int i;

    c.token = getenv("TRACED_TOKEN");
    if (c.token && !*c.token)
        c.token = NULL;
    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--url") == 0 && i + 1 < argc) {
            url = argv[++i];
        } else if (strcmp(argv[i], "--token") == 0 && i + 1 < argc) {
            c.token = argv[++i];
        } else if (strcmp(argv[i], "--help") == 0 ||
                   strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (cli_parse_url(&c, url && *url ? url : "http://127.0.0.1:7070") != 0)
        return EXIT_USAGE;
    argc -= i;
    argv += i;
    if (strcmp(argv[0], "submit") == 0)
        return cmd_submit(&c, argc, argv);
    if (strcmp(argv[0], "ls") == 0)
        return cmd_ls(&c);
    if (strcmp(argv[0], "status") == 0)
        return cmd_status_cancel(&c, argc, argv, false);
    if (strcmp(argv[0], "cancel") == 0)
        return cmd_status_cancel(&c, argc, argv, true);
    if (strcmp(argv[0], "tail") == 0)
        return cmd_tail(&c, argc, argv);
    if (strcmp(argv[0], "codetracer") == 0)
        return cmd_codetracer(&c, argc, argv);
    fprintf(stderr, "tracectl: unknown command %s\n", argv[0]);
    usage(stderr);
    return EXIT_USAGE;
}
