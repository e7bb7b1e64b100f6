/*
 * A run's CodeTracer output (ct_output.h; docs/daemon.md, "CodeTracer
 * output").
 *
 * States (dmn_ct.state), on the loop thread:
 *
 *   none ──request──▶ queued ──▶ converting ──▶ complete | failed
 *   writing (live) ──────────────────────────▶ complete | failed | incomplete
 *   incomplete, failed ──request──▶ queued ...
 *
 * "complete" is the only state whose directory is served; it is persisted
 * (DATA/runs/<id>/codetracer.json) by the worker once the trace is closed,
 * and a complete directory is never rewritten, so a download reading it
 * needs no lock. Every other directory is rewritten by the next conversion.
 *
 * Workers. The live writer (live_main, a thread per run) follows the
 * stream file with dmn_ct_export in follow mode; it stops at run_end, or
 * when the loop has said the file is final and nothing more comes, or on
 * abort (shutdown). A conversion (convert_work) runs dmn_ct_export on the
 * finished file in the threadpool. Both write codetracer.json themselves;
 * their result reaches the loop through the `done` flag (live, polled by
 * the server tick) or the work's after-callback (conversion).
 */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <traced/proto_codetracer.h>

#include "ct_output.h"
#include "export.h"

#define LIVE_NICE 10 /* the live writer's nice value */

typedef enum ct_state {
    CT_NONE,       /* no usable directory */
    CT_WRITING,    /* the live writer is at work */
    CT_QUEUED,     /* a conversion waits for its turn */
    CT_CONVERTING, /* a conversion runs */
    CT_COMPLETE,   /* whole: served */
    CT_INCOMPLETE, /* valid JSON but cut short (crash, shutdown) */
    CT_FAILED,     /* the last attempt failed: error says why */
} ct_state;

static const char *const state_names[] = {
    "none", "writing", "queued", "converting", "complete", "incomplete",
    "failed",
};

struct dmn_ct {
    dmn_run *run;
    ct_state state;
    bool live;            /* the run asked for live output */
    char source[12];      /* "live" or "converted": who wrote it */
    char error[320];      /* why it failed or is incomplete */
    uint64_t records;
    dmn_ct_waiter *waiters;
    dmn_ct *next_queued;  /* srv->ct_queue */

    /* Paths, fixed at creation; the workers read them. */
    char dir[600], stream[600], module[600], state_path[600];
    unsigned poll_ms;

    /* Live writer thread. */
    uv_thread_t thread;
    bool thread_started;
    atomic_bool final;    /* the loop: the stream file is complete */
    atomic_bool abort;    /* the loop: stop now */
    atomic_bool done;     /* the worker: result below is set */
    /* Conversion. */
    uv_work_t work;
    /* The worker's result: written before `done` (release) or before the
     * after-work callback; read by the loop after. */
    int job_rc;
    char job_err[300];
    dmn_ct_export_info job_info;
};

void dmn_ct_dir(const dmn_run *r, char *buf, size_t len)
{
    snprintf(buf, len, "%s/codetracer", r->dir);
}

static dmn_ct *ct_get(dmn_run *r)
{
    dmn_ct *ct = r->ct;

    if (ct)
        return ct;
    ct = calloc(1, sizeof *ct);
    if (!ct)
        return NULL;
    ct->run = r;
    ct->state = CT_NONE;
    dmn_ct_dir(r, ct->dir, sizeof ct->dir);
    dmn_run_stream_path(r, ct->stream, sizeof ct->stream);
    snprintf(ct->module, sizeof ct->module, "%s/module.wasm", r->dir);
    snprintf(ct->state_path, sizeof ct->state_path, "%s/codetracer.json",
             r->dir);
    ct->poll_ms = r->srv->cfg.flush_ms;
    atomic_init(&ct->final, false);
    atomic_init(&ct->abort, false);
    atomic_init(&ct->done, false);
    r->ct = ct;
    return ct;
}

/* ---- the workers (not the loop thread) ------------------------------------------ */

/* codetracer.json, atomically. Also used at start-up, on the loop. */
static void write_state(const dmn_ct *ct, const char *state,
                        const char *source, const char *error,
                        uint64_t events, uint64_t records)
{
    char tmp[620];
    json_t *j = json_pack("{s:s, s:s, s:I, s:I}", "state", state, "source",
                          source, "events", (json_int_t)events, "records",
                          (json_int_t)records);

    if (!j)
        return;
    if (error && *error)
        json_object_set_new(j, "error", json_string(error));
    snprintf(tmp, sizeof tmp, "%s.tmp", ct->state_path);
    if (json_dump_file(j, tmp, JSON_INDENT(2)) != 0 ||
        rename(tmp, ct->state_path) != 0)
        unlink(tmp);
    json_decref(j);
}

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        return rmdir(path) == 0 || errno == ENOENT ? 0 : -1;
    return unlink(path) == 0 || errno == ENOENT ? 0 : -1;
}

/* rm -rf path (no symlink is followed). */
static int remove_tree(const char *path)
{
    struct stat st;

    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    return nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* The worker's ending: record the result for the loop and on disk. */
static void finish_job(dmn_ct *ct, const char *source, int rc,
                       const char *err)
{
    const char *state = rc ? "failed"
                           : ct->job_info.aborted ? "incomplete" : "complete";

    ct->job_rc = rc;
    snprintf(ct->job_err, sizeof ct->job_err, "%s",
             rc ? err
                : ct->job_info.aborted ? "stopped by the daemon's shutdown"
                                       : "");
    write_state(ct, state, source, ct->job_err, ct->job_info.events,
                ct->job_info.records);
}

static void live_main(void *arg)
{
    dmn_ct *ct = arg;
    dmn_ct_export_opts o = {
        .stream = ct->stream,
        .dir = ct->dir,
        .module_path = ct->module,
        .check_hash = true,
        .follow = true,
        .final = &ct->final,
        .abort = &ct->abort,
        .poll_ms = ct->poll_ms,
    };
    char err[300] = "";
    int rc;

    /* The trace is secondary: on a busy machine let the run, the loop and
     * the native stream go first; the writer catches up afterwards (Linux:
     * a thread's own nice value, who = its tid). Best effort. */
    setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), LIVE_NICE);
    rc = dmn_ct_export(&o, &ct->job_info, err, sizeof err);
    finish_job(ct, "live", rc, err);
    atomic_store_explicit(&ct->done, true, memory_order_release);
}

static void convert_work(uv_work_t *req)
{
    dmn_ct *ct = container_of(req, dmn_ct, work);
    dmn_ct_export_opts o = {
        .stream = ct->stream,
        .dir = ct->dir,
        .module_path = ct->module,
        .check_hash = true,
        .abort = &ct->abort,
    };
    char err[300] = "";
    int rc;

    /* No "complete" mark while the directory is rewritten: a crash here
     * leaves it to the next start's repair and the next request. */
    unlink(ct->state_path);
    if (remove_tree(ct->dir) != 0) {
        snprintf(err, sizeof err, "cannot remove the old %.200s: %s", ct->dir,
                 strerror(errno));
        memset(&ct->job_info, 0, sizeof ct->job_info);
        rc = PROTO_ERR_IO;
    } else {
        rc = dmn_ct_export(&o, &ct->job_info, err, sizeof err);
    }
    finish_job(ct, "converted", rc, err);
}

/* ---- the loop side ------------------------------------------------------------------ */

static void answer_waiters(dmn_ct *ct, int status, const char *code,
                           const char *msg)
{
    while (ct->waiters) {
        dmn_ct_waiter *w = ct->waiters;

        ct->waiters = w->next;
        w->next = NULL;
        w->run = NULL;
        w->ready(w, status, code, msg);
    }
}

/* A worker's result, on the loop. */
static void take_result(dmn_ct *ct, const char *source)
{
    ct->records = ct->job_info.records;
    snprintf(ct->source, sizeof ct->source, "%s", source);
    snprintf(ct->error, sizeof ct->error, "%s", ct->job_err);
    if (ct->job_rc)
        ct->state = CT_FAILED;
    else if (ct->job_info.aborted)
        ct->state = CT_INCOMPLETE;
    else
        ct->state = CT_COMPLETE;
    dmn_ws_run_changed(ct->run);
}

static void convert_after(uv_work_t *req, int status);

static void convert_next(dmn_server *srv)
{
    dmn_ct *ct = srv->ct_queue;

    if (srv->ct_converting || !ct)
        return;
    srv->ct_queue = ct->next_queued;
    ct->next_queued = NULL;
    ct->state = CT_CONVERTING;
    srv->ct_converting = true;
    if (uv_queue_work(&srv->loop, &ct->work, convert_work, convert_after) !=
        0) {
        srv->ct_converting = false;
        ct->state = CT_FAILED;
        snprintf(ct->error, sizeof ct->error, "cannot queue the conversion");
        answer_waiters(ct, 500, "codetracer_failed", ct->error);
        convert_next(srv);
    }
}

/* Queue a conversion of the run's stream (the waiters stay). */
static void convert_start(dmn_ct *ct)
{
    dmn_server *srv = ct->run->srv;
    dmn_ct **p = &srv->ct_queue;

    if (ct->state == CT_QUEUED || ct->state == CT_CONVERTING ||
        ct->state == CT_WRITING)
        return;
    ct->state = CT_QUEUED;
    atomic_store(&ct->abort, false);
    while (*p)
        p = &(*p)->next_queued;
    *p = ct;
    dmn_ws_run_changed(ct->run);
    convert_next(srv);
}

/* The waiters of a finished worker: serve, or convert (a live trace that
 * failed or was cut short is made again from the native stream). */
static void settle(dmn_ct *ct)
{
    if (!ct->waiters)
        return;
    if (ct->state == CT_COMPLETE)
        answer_waiters(ct, 0, NULL, NULL);
    else if (ct->run->srv->stopping)
        answer_waiters(ct, 503, "shutting_down", "the daemon is shutting down");
    else if (ct->state == CT_FAILED && strcmp(ct->source, "converted") == 0)
        answer_waiters(ct, 500, "codetracer_failed", ct->error);
    else
        convert_start(ct);
}

static void convert_after(uv_work_t *req, int status)
{
    dmn_ct *ct = container_of(req, dmn_ct, work);
    dmn_server *srv = ct->run->srv;

    srv->ct_converting = false;
    if (status == UV_ECANCELED) {
        ct->state = CT_NONE;
    } else {
        take_result(ct, "converted");
        if (!ct->job_rc)
            dmn_server_log(srv, "run %" PRIu64 ": CodeTracer trace converted "
                           "(%" PRIu64 " events, %" PRIu64 " records)",
                           ct->run->id, ct->job_info.events,
                           ct->job_info.records);
        else
            dmn_server_log(srv, "run %" PRIu64 ": CodeTracer conversion "
                           "failed: %s", ct->run->id, ct->error);
    }
    settle(ct);
    if (!srv->stopping)
        convert_next(srv);
}

void dmn_ct_run_created(dmn_run *r)
{
    dmn_ct *ct;

    if (!r->spec.codetracer && !r->srv->cfg.codetracer)
        return;
    r->spec.codetracer = true;
    ct = ct_get(r);
    if (!ct) {
        dmn_server_log(r->srv, "run %" PRIu64 ": no memory for CodeTracer "
                       "output", r->id);
        return;
    }
    ct->live = true;
    ct->state = CT_WRITING;
    snprintf(ct->source, sizeof ct->source, "live");
    if (uv_thread_create(&ct->thread, live_main, ct) != 0) {
        ct->state = CT_FAILED;
        snprintf(ct->error, sizeof ct->error,
                 "cannot start the CodeTracer writer thread");
        return;
    }
    ct->thread_started = true;
}

void dmn_ct_stream_final(dmn_run *r)
{
    if (r->ct)
        atomic_store_explicit(&r->ct->final, true, memory_order_release);
}

void dmn_ct_tick(dmn_server *srv)
{
    for (dmn_run *r = srv->runs; r; r = r->next) {
        dmn_ct *ct = r->ct;

        if (!ct || !ct->thread_started ||
            !atomic_load_explicit(&ct->done, memory_order_acquire))
            continue;
        uv_thread_join(&ct->thread);
        ct->thread_started = false;
        take_result(ct, "live");
        if (ct->job_rc)
            dmn_server_log(srv, "run %" PRIu64 ": CodeTracer output failed: "
                           "%s (the native stream is not affected)",
                           r->id, ct->error);
        settle(ct);
    }
}

void dmn_ct_stop_all(dmn_server *srv)
{
    for (dmn_run *r = srv->runs; r; r = r->next) {
        dmn_ct *ct = r->ct;

        if (!ct)
            continue;
        atomic_store(&ct->abort, true);
        atomic_store(&ct->final, true);
        if (ct->state == CT_QUEUED)
            ct->state = CT_NONE;
        answer_waiters(ct, 503, "shutting_down",
                       "the daemon is shutting down");
    }
    srv->ct_queue = NULL;
}

void dmn_ct_free(dmn_run *r)
{
    dmn_ct *ct = r->ct;

    if (!ct)
        return;
    if (ct->thread_started) {
        atomic_store(&ct->abort, true);
        uv_thread_join(&ct->thread);
    }
    /* Waiters are sessions of a context that is gone by now. */
    for (dmn_ct_waiter *w = ct->waiters; w; w = w->next)
        w->run = NULL;
    free(ct);
    r->ct = NULL;
}

void dmn_ct_load(dmn_run *r)
{
    char dir[600], err[300];
    struct stat st;
    json_t *j;
    const char *state, *source, *error;
    proto_ct_repair_info info;
    dmn_ct *ct;

    dmn_ct_dir(r, dir, sizeof dir);
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return;
    ct = ct_get(r);
    if (!ct)
        return;
    j = json_load_file(ct->state_path, 0, NULL);
    state = json_string_value(json_object_get(j, "state"));
    source = json_string_value(json_object_get(j, "source"));
    error = json_string_value(json_object_get(j, "error"));
    /* No state file: a live writer that never finished. */
    snprintf(ct->source, sizeof ct->source, "%s", source ? source : "live");
    ct->live = strcmp(ct->source, "live") == 0;
    r->spec.codetracer = ct->live;
    ct->records = (uint64_t)json_integer_value(json_object_get(j, "records"));
    if (state && strcmp(state, "complete") == 0 &&
        r->state != DMN_INTERRUPTED) {
        ct->state = CT_COMPLETE;
        json_decref(j);
        return;
    }
    /* Written when the daemon died (or failed, or was stopped): make
     * trace.json valid JSON; a request converts it again. */
    if (proto_ct_repair(dir, &info, err, sizeof err) != 0) {
        ct->state = CT_FAILED;
        snprintf(ct->error, sizeof ct->error, "repair: %s", err);
    } else {
        ct->state = state && strcmp(state, "failed") == 0 ? CT_FAILED
                                                          : CT_INCOMPLETE;
        ct->records = info.records;
        if (state && strcmp(state, "failed") == 0)
            snprintf(ct->error, sizeof ct->error, "%s", error ? error : "");
        else if (info.was_open)
            snprintf(ct->error, sizeof ct->error,
                     "cut short by the daemon's end; repaired: %" PRIu64
                     " records kept", info.records);
        else
            snprintf(ct->error, sizeof ct->error, "%s",
                     error && *error ? error : "not known complete");
        dmn_server_log(r->srv, "run %" PRIu64 ": CodeTracer trace %s",
                       r->id, ct->error);
    }
    write_state(ct, state_names[ct->state], ct->source, ct->error, 0,
                ct->records);
    json_decref(j);
}

json_t *dmn_ct_json(const dmn_run *r)
{
    const dmn_ct *ct = r->ct;
    json_t *j;

    if (!ct)
        return json_pack("{s:s, s:b}", "state", "none", "live",
                         r->spec.codetracer);
    j = json_pack("{s:s, s:b}", "state", state_names[ct->state], "live",
                  ct->live);
    if (ct->source[0] && ct->state != CT_NONE)
        json_object_set_new(j, "source", json_string(ct->source));
    if (ct->state == CT_COMPLETE || ct->state == CT_INCOMPLETE)
        json_object_set_new(j, "records", json_integer((json_int_t)ct->records));
    if (ct->error[0] && (ct->state == CT_FAILED || ct->state == CT_INCOMPLETE))
        json_object_set_new(j, "error", json_string(ct->error));
    return j;
}

int dmn_ct_request(dmn_run *r, dmn_ct_waiter *w, const char **code,
                   char *msg, size_t msglen)
{
    char path[700];
    struct stat st;
    dmn_ct *ct;

    if (r->srv->stopping) {
        *code = "shutting_down";
        snprintf(msg, msglen, "the daemon is shutting down");
        return 503;
    }
    if (dmn_run_is_live(r)) {
        *code = "run_in_progress";
        snprintf(msg, msglen, "run %" PRIu64 " is in progress; its "
                 "CodeTracer trace can be downloaded once it ends", r->id);
        return 409;
    }
    ct = ct_get(r);
    if (!ct) {
        *code = "internal";
        snprintf(msg, msglen, "out of memory");
        return 500;
    }
    if (ct->state == CT_COMPLETE) {
        snprintf(path, sizeof path, "%s/trace.json", ct->dir);
        if (stat(path, &st) == 0)
            return 0;
        ct->state = CT_NONE; /* removed behind our back: make it again */
    }
    if (ct->state != CT_WRITING && ct->state != CT_QUEUED &&
        ct->state != CT_CONVERTING && stat(ct->module, &st) != 0) {
        *code = "no_module";
        snprintf(msg, msglen, "run %" PRIu64 " has no CodeTracer trace and "
                 "its module.wasm was not kept, so none can be made from "
                 "its stream", r->id);
        return 404;
    }
    w->run = r;
    w->next = ct->waiters;
    ct->waiters = w;
    if (ct->state != CT_WRITING)
        convert_start(ct);
    return -1;
}

void dmn_ct_cancel_wait(dmn_ct_waiter *w)
{
    dmn_ct_waiter **p;

    if (!w->run || !w->run->ct)
        return;
    for (p = &w->run->ct->waiters; *p; p = &(*p)->next) {
        if (*p == w) {
            *p = w->next;
            break;
        }
    }
    w->next = NULL;
    w->run = NULL;
}
