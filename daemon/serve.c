/*
 * `traced serve`: options, the loop, the lws context on it, signals and
 * shutdown.
 *
 * One libuv loop on the main thread runs everything but the VMs:
 *   timer phase  the server tick (flush chunks, heartbeats), wall-time
 *                limits of runs, lws's own timers
 *   poll phase   lws sockets (HTTP, WebSocket), ring wakes (uv_async),
 *                fs write completions, signals
 *   close phase  handle close callbacks at shutdown
 * libwebsockets joins this loop as a foreign loop (LWS_SERVER_OPTION_LIBUV,
 * info.foreign_loops; lws 4.1 loads its libuv support from Debian's
 * libwebsockets-evlib_uv plugin at context creation).
 *
 * Shutdown (SIGINT/SIGTERM): refuse new requests (503), cancel every run,
 * keep draining until each run's last chunk is written and its meta.json
 * says how it ended, then destroy the lws context, close our handles and
 * let the loop run dry. Exit 0.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ct_output.h"
#include "dmn.h"

#ifndef TRACED_DATADIR
#define TRACED_DATADIR "/usr/local/share/traced"
#endif


static const char usage_text[] =
    "usage: traced [serve] [OPTIONS]\n"
    "\n"
    "Start the daemon: run submitted modules, record their event streams,\n"
    "serve them over HTTP and WebSocket (docs/daemon.md).\n"
    "\n"
    "  --listen HOST:PORT     address to bind (default 127.0.0.1:7070; port "
    "0\n"
    "                         picks a free port). A non-loopback address\n"
    "                         needs --token\n"
    "  --data DIR             data directory (default ./traced-data)\n"
    "  --token T              require T on every request (Authorization:\n"
    "                         Bearer T, or ?token=T); also $TRACED_TOKEN\n"
    "  --static DIR           browser client files served at / (default:\n"
    "                         client/web/dist in the source tree, else the\n"
    "                         installed share dir)\n"
    "  --max-runs N           concurrent runs (default 8); more is 429\n"
    "  --max-module-bytes N   module size limit (default 16 MiB); more is "
    "413\n"
    "  --max-fuel N           per-run instruction budget cap and default\n"
    "                         (default: none)\n"
    "  --max-wall-ms N        per-run wall time cap and default (default:\n"
    "                         none)\n"
    "  --max-pages N          per-run memory cap in 64 KiB pages\n"
    "  --max-depth N          per-run call depth cap\n"
    "  --sub-queue N          how far (events) a subscriber may be behind a\n"
    "                         run's tip and still get the drain's frames;\n"
    "                         further behind it reads the window or the\n"
    "                         file (default 4096)\n"
    "  --chunk-bytes N        trace file chunk target size (default 65536)\n"
    "  --window-events N      events a run may hold in memory before they are\n"
    "                         on disk; past it the run waits (default 65536)\n"
    "  --flush-ms N           flush tick (default 20)\n"
    "  --heartbeat-ms N       WebSocket heartbeat period (default 5000)\n"
    "  --codetracer           every run also writes its CodeTracer trace live\n"
    "                         (DATA/runs/ID/codetracer/; else per run with\n"
    "                         the submit option codetracer=1, or converted\n"
    "                         from the stream when downloaded)\n"
    "  --source-dir DIR       serve a run's source files (DWARF paths) that\n"
    "                         resolve under DIR to the browser client\n"
    "                         (repeatable, at most 16; default: none)\n"
    "  --port-file PATH       write the bound port there once listening\n"
    "  --quiet                log only errors\n"
    "  --help                 this text\n";

void dmn_server_log(dmn_server *srv, const char *fmt, ...)
{
    va_list ap;

    if (srv && srv->cfg.quiet)
        return;
    fprintf(stderr, "traced: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* ---- options ---------------------------------------------------------------- */

static int num_opt(const char *opt, const char *v, uint64_t max,
                   uint64_t *out)
{
    char *end;

    if (v && *v >= '0' && *v <= '9') {
        errno = 0;
        *out = strtoull(v, &end, 10);
        if (!errno && !*end && *out <= max)
            return 0;
    }
    fprintf(stderr, "traced: %s needs a number up to %" PRIu64 ", not %s\n",
            opt, max, v ? v : "nothing");
    return -1;
}

static bool is_loopback(const char *host)
{
    return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0 ||
           strcmp(host, "localhost") == 0;
}

static int parse_listen(dmn_config *cfg, const char *v)
{
    const char *colon = v ? strrchr(v, ':') : NULL;
    uint64_t port;

    if (!colon || colon == v || (size_t)(colon - v) >= sizeof cfg->host ||
        num_opt("--listen", colon + 1, 65535, &port) != 0) {
        fprintf(stderr, "traced: --listen needs HOST:PORT\n");
        return -1;
    }
    memcpy(cfg->host, v, (size_t)(colon - v));
    cfg->host[colon - v] = '\0';
    if (cfg->host[0] == '[') { /* [::1]:7070 */
        size_t n = strlen(cfg->host);

        memmove(cfg->host, cfg->host + 1, n);
        if (n >= 2 && cfg->host[n - 2] == ']')
            cfg->host[n - 2] = '\0';
    }
    cfg->port = (int)port;
    return 0;
}

/* --source-dir DIR: resolved now, so that later checks compare real
 * paths, and refused at start when it is not a directory. */
static int add_source_dir(dmn_config *cfg, const char *dir)
{
    struct stat st;
    char *real;

    if (cfg->nsource_dirs == DMN_MAX_SOURCE_DIRS) {
        fprintf(stderr, "traced: at most %d --source-dir\n",
                DMN_MAX_SOURCE_DIRS);
        return -1;
    }
    real = realpath(dir, NULL);
    if (!real || stat(real, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "traced: --source-dir %s: %s\n", dir,
                real ? "not a directory" : strerror(errno));
        free(real);
        return -1;
    }
    cfg->source_dirs[cfg->nsource_dirs++] = real;
    return 0;
}

static void config_close(dmn_config *cfg)
{
    for (uint32_t i = 0; i < cfg->nsource_dirs; i++)
        free(cfg->source_dirs[i]);
    cfg->nsource_dirs = 0;
}

static int parse_options(int argc, char **argv, dmn_config *cfg,
                         const char **port_file)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->host, sizeof cfg->host, "127.0.0.1");
    cfg->port = 7070;
    cfg->data_dir = "traced-data";
    cfg->token = getenv("TRACED_TOKEN");
    if (cfg->token && !*cfg->token)
        cfg->token = NULL;
    cfg->max_runs = 8;
    cfg->max_module_bytes = 16u << 20;
    cfg->sub_queue_events = 4096;
    cfg->chunk_bytes = 64u << 10;
    cfg->window_events = 1u << 16;
    cfg->flush_ms = 20;
    cfg->heartbeat_ms = 5000;
    *port_file = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t n;

#define NUM(name, max, field)                                               \
    if (strcmp(a, name) == 0) {                                             \
        if (num_opt(a, v, max, &n) != 0)                                    \
            return -1;                                                      \
        cfg->field = n;                                                     \
        i++;                                                                \
        continue;                                                           \
    }
        NUM("--max-runs", 100000, max_runs)
        NUM("--max-module-bytes", (uint64_t)1 << 30, max_module_bytes)
        NUM("--max-fuel", UINT64_MAX, max_fuel)
        NUM("--max-wall-ms", UINT64_MAX / 2, max_wall_ms)
        NUM("--max-pages", 65536, max_pages)
        NUM("--max-depth", UINT32_MAX, max_depth)
        NUM("--sub-queue", 1u << 24, sub_queue_events)
        NUM("--chunk-bytes", PROTO_CHUNK_MAX_PAYLOAD / 2, chunk_bytes)
        NUM("--window-events", 1u << 26, window_events)
        NUM("--flush-ms", 60000, flush_ms)
        NUM("--heartbeat-ms", 3600000, heartbeat_ms)
#undef NUM
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage_text, stdout);
            exit(0);
        } else if (strcmp(a, "--quiet") == 0) {
            cfg->quiet = true;
            continue;
        } else if (strcmp(a, "--codetracer") == 0) {
            cfg->codetracer = true;
            continue;
        }
        if (!v || a[0] != '-') {
            fprintf(stderr, "traced: unexpected argument %s (traced serve "
                            "--help)\n", a);
            return -1;
        }
        if (strcmp(a, "--listen") == 0) {
            if (parse_listen(cfg, v) != 0)
                return -1;
        } else if (strcmp(a, "--data") == 0) {
            cfg->data_dir = v;
        } else if (strcmp(a, "--token") == 0) {
            cfg->token = *v ? v : NULL;
        } else if (strcmp(a, "--static") == 0) {
            cfg->static_dir = v;
        } else if (strcmp(a, "--source-dir") == 0) {
            if (add_source_dir(cfg, v) != 0)
                return -1;
        } else if (strcmp(a, "--port-file") == 0) {
            *port_file = v;
        } else {
            fprintf(stderr, "traced: unknown option %s (traced serve "
                            "--help)\n", a);
            return -1;
        }
        i++;
    }
    if (cfg->max_runs == 0 || cfg->max_module_bytes == 0 ||
        cfg->sub_queue_events == 0 || cfg->chunk_bytes == 0 ||
        cfg->window_events == 0 ||
        cfg->flush_ms == 0 || cfg->heartbeat_ms == 0) {
        fprintf(stderr, "traced: limits must be at least 1\n");
        return -1;
    }
    if (!is_loopback(cfg->host) && !cfg->token) {
        fprintf(stderr, "traced: listening on %s (not loopback) needs "
                        "--token\n", cfg->host);
        return -1;
    }
    return 0;
}

/* The browser client: --static, else the built client (client/web/dist,
 * scripts/build.sh) of the binary's source tree, else the installed share
 * dir. Empty: placeholder only. */
static void find_static_dir(dmn_server *srv)
{
    struct stat st;
    char cand[900];

    if (srv->cfg.static_dir) {
        snprintf(srv->static_dir, sizeof srv->static_dir, "%s",
                 srv->cfg.static_dir);
        return;
    }
#ifdef TRACED_SOURCE_DIR
    snprintf(cand, sizeof cand, "%s/client/web/dist", TRACED_SOURCE_DIR);
    if (stat(cand, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(srv->static_dir, sizeof srv->static_dir, "%s", cand);
        return;
    }
#endif
    snprintf(cand, sizeof cand, "%s/web", TRACED_DATADIR);
    if (stat(cand, &st) == 0 && S_ISDIR(st.st_mode))
        snprintf(srv->static_dir, sizeof srv->static_dir, "%s", cand);
}

/* ---- loop ------------------------------------------------------------------- */

static void on_tick(uv_timer_t *t)
{
    dmn_server *srv = container_of(t, dmn_server, tick);
    uint64_t now = uv_now(&srv->loop);

    dmn_runs_tick(srv);
    dmn_ct_tick(srv);
    if (now - srv->last_heartbeat_ms >= srv->cfg.heartbeat_ms) {
        srv->last_heartbeat_ms = now;
        dmn_ws_heartbeat(srv);
    }
}

void dmn_server_check_stop(dmn_server *srv)
{
    if (!srv->stopping || srv->lws_destroyed || dmn_runs_live(srv) > 0)
        return;
    dmn_server_log(srv, "every run is flushed; stopping");
    dmn_ct_stop_all(srv);
    srv->lws_destroyed = true;
    lws_context_destroy(srv->lws);
    uv_close((uv_handle_t *)&srv->sigint, NULL);
    uv_close((uv_handle_t *)&srv->sigterm, NULL);
    uv_close((uv_handle_t *)&srv->tick, NULL);
    dmn_runs_close_all(srv);
}

static void on_signal(uv_signal_t *h, int signum)
{
    dmn_server *srv = h->data;

    if (srv->stopping)
        return;
    srv->stopping = true;
    dmn_server_log(srv, "signal %d: cancelling runs and stopping", signum);
    for (dmn_run *r = srv->runs; r; r = r->next)
        dmn_run_cancel(r, "shutdown");
    dmn_server_check_stop(srv);
}

static struct lws_protocols protocols[] = {
    {"traced", dmn_http_callback, 0, 65536, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0}
};

int dmn_serve_main(int argc, char **argv)
{
    dmn_server *srv;
    struct lws_context_creation_info info;
    void *loops[1];
    const char *port_file;
    char err[512];
    int port, rc = 1;

    srv = calloc(1, sizeof *srv);
    if (!srv) {
        fprintf(stderr, "traced: out of memory\n");
        return 1;
    }
    if (parse_options(argc, argv, &srv->cfg, &port_file) != 0) {
        config_close(&srv->cfg);
        free(srv);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    find_static_dir(srv);
    if (dmn_runs_load(srv, err, sizeof err) != 0) {
        fprintf(stderr, "traced: %s\n", err);
        goto fail_load;
    }
    if (uv_loop_init(&srv->loop) != 0) {
        fprintf(stderr, "traced: cannot create the event loop\n");
        goto fail_load;
    }
    uv_signal_init(&srv->loop, &srv->sigint);
    uv_signal_init(&srv->loop, &srv->sigterm);
    srv->sigint.data = srv->sigterm.data = srv;
    uv_signal_start(&srv->sigint, on_signal, SIGINT);
    uv_signal_start(&srv->sigterm, on_signal, SIGTERM);
    uv_timer_init(&srv->loop, &srv->tick);
    uv_timer_start(&srv->tick, on_tick, srv->cfg.flush_ms, srv->cfg.flush_ms);

    lws_set_log_level(srv->cfg.quiet ? LLL_ERR : LLL_ERR | LLL_WARN, NULL);
    protocols[0].per_session_data_size = dmn_http_session_size();
    memset(&info, 0, sizeof info);
    info.port = srv->cfg.port;
    info.iface = srv->cfg.host;
    info.protocols = protocols;
    info.vhost_name = "default";
    info.user = srv;
    info.options = LWS_SERVER_OPTION_LIBUV |
                   LWS_SERVER_OPTION_UV_NO_SIGSEGV_SIGFPE_SPIN |
                   LWS_SERVER_OPTION_HTTP_HEADERS_SECURITY_BEST_PRACTICES_ENFORCE;
    if (!strchr(srv->cfg.host, ':'))
        info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    loops[0] = &srv->loop;
    info.foreign_loops = loops;
    info.pcontext = &srv->lws;
    srv->lws = lws_create_context(&info);
    if (!srv->lws) {
        fprintf(stderr, "traced: cannot listen on %s:%d\n", srv->cfg.host,
                srv->cfg.port);
        goto fail_lws;
    }
    srv->vhost = lws_get_vhost_by_name(srv->lws, "default");
    port = srv->vhost ? lws_get_vhost_listen_port(srv->vhost) : srv->cfg.port;
    if (port <= 0) {
        fprintf(stderr, "traced: cannot listen on %s:%d\n", srv->cfg.host,
                srv->cfg.port);
        goto fail_listen;
    }
    dmn_server_log(srv, "listening on http://%s:%d (data %s)", srv->cfg.host,
                   port, srv->cfg.data_dir);
    if (port_file) {
        FILE *f = fopen(port_file, "w");

        if (!f || fprintf(f, "%d\n", port) < 0 || fclose(f) != 0) {
            fprintf(stderr, "traced: cannot write %s\n", port_file);
            goto fail_listen;
        }
    }
    srv->last_heartbeat_ms = uv_now(&srv->loop);
    uv_run(&srv->loop, UV_RUN_DEFAULT);
    rc = 0;
    goto done;

fail_listen:
    srv->stopping = true;
    srv->lws_destroyed = true;
    lws_context_destroy(srv->lws);
fail_lws:
    uv_close((uv_handle_t *)&srv->sigint, NULL);
    uv_close((uv_handle_t *)&srv->sigterm, NULL);
    uv_close((uv_handle_t *)&srv->tick, NULL);
    dmn_runs_close_all(srv);
done:
    /* lws finishes closing its handles on the loop; a second destroy frees
     * the context once they are gone (lws's foreign-loop protocol). */
    uv_run(&srv->loop, UV_RUN_DEFAULT);
    if (srv->lws)
        lws_context_destroy(srv->lws);
    uv_run(&srv->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&srv->loop) != 0)
        dmn_server_log(srv, "event loop still had handles at exit");
    dmn_runs_free_all(srv);
    config_close(&srv->cfg);
    free(srv);
    return rc;

fail_load:
    dmn_runs_free_all(srv);
    config_close(&srv->cfg);
    free(srv);
    return 1;
}
