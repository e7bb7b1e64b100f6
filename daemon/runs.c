/*
 * The run registry, on the loop thread: submitting runs, draining their
 * rings, persisting their streams, their metadata, and recovery at start.
 *
 * Loop phases (docs/daemon.md, "Architecture"):
 *   - async callbacks (poll phase): a run's ring wake. Drain at most
 *     DRAIN_BATCH events; each goes to the chunker, the window and the
 *     live subscribers. A drain that stops early re-sends the async, so the
 *     loop comes back to it after other handles had their turn.
 *   - the server tick (timer phase, every cfg.flush_ms): seal the open
 *     chunk of every live run so followers see it within one tick; drain.
 *   - fs callbacks (poll phase, from the threadpool): a write finished:
 *     advance the window, start the next write. One write in flight per
 *     run, chunk data then its index entry.
 * Metadata (meta.json, a few hundred bytes, on status changes only) and
 * file creation are blocking calls on the loop thread.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <traced/proto_code.h>

#include "cli_values.h"
#include "ct_output.h"
#include "dmn.h"
#include "lines.h"

#define DRAIN_BATCH 4096
#define RING_BYTES (1u << 20)

/* ---- shared events ---------------------------------------------------------- */

void dmn_evt_unref(dmn_evt *e)
{
    if (!e || --e->refs)
        return;
    proto_event_close(&e->ev);
    free(e);
}

static dmn_evt *evt_new(const proto_event *src)
{
    dmn_evt *e = calloc(1, sizeof *e);

    if (!e)
        return NULL;
    e->refs = 1;
    proto_event_init(&e->ev);
    if (proto_event_copy(&e->ev, src) != 0) {
        proto_event_close(&e->ev);
        free(e);
        return NULL;
    }
    return e;
}

/* ---- specs and metadata --------------------------------------------------- */

static void free_strv(char **v, uint32_t n)
{
    for (uint32_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

void dmn_spec_close(dmn_spec *s)
{
    free(s->name);
    free(s->invoke);
    free_strv(s->args, s->nargs);
    free_strv(s->env, s->nenv);
    memset(s, 0, sizeof *s);
}

uint64_t dmn_wall_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void dmn_run_stream_path(const dmn_run *r, char *buf, size_t len)
{
    snprintf(buf, len, "%s/stream.trace", r->dir);
}

bool dmn_run_is_live(const dmn_run *r)
{
    return r->state == DMN_RUNNING;
}

static json_t *strv_json(char **v, uint32_t n)
{
    json_t *a = json_array();

    for (uint32_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

json_t *dmn_run_json(const dmn_run *r)
{
    json_t *j = json_object();
    json_t *c = json_object();

    json_object_set_new(j, "id", json_integer((json_int_t)r->id));
    json_object_set_new(j, "module", json_string(r->spec.name));
    json_object_set_new(j, "hash", json_string(r->hash_hex));
    json_object_set_new(j, "invoke", r->spec.invoke
                                         ? json_string(r->spec.invoke)
                                         : json_null());
    json_object_set_new(j, "args", strv_json(r->spec.args, r->spec.nargs));
    json_object_set_new(j, "env", strv_json(r->spec.env, r->spec.nenv));
    json_object_set_new(j, "level",
                        json_string(proto_level_name(r->spec.level)));
    json_object_set_new(j, "fuel", json_integer((json_int_t)r->spec.fuel));
    json_object_set_new(j, "wall_ms",
                        json_integer((json_int_t)r->spec.wall_ms));
    json_object_set_new(j, "max_pages", json_integer(r->spec.max_pages));
    json_object_set_new(j, "status", json_string(r->status));
    if (r->reason[0])
        json_object_set_new(j, "reason", json_string(r->reason));
    if (r->error[0])
        json_object_set_new(j, "error", json_string(r->error));
    json_object_set_new(j, "exit_code", json_integer(r->exit_code));
    json_object_set_new(j, "results",
                        r->results ? json_incref(r->results) : json_array());
    json_object_set_new(j, "created_ns",
                        json_integer((json_int_t)r->created_ns));
    json_object_set_new(j, "ended_ns", json_integer((json_int_t)r->ended_ns));
    json_object_set_new(j, "events",
                        json_integer((json_int_t)(r->state == DMN_RUNNING
                                                      ? r->next_seq
                                                      : r->events)));
    json_object_set_new(c, "ops", json_integer((json_int_t)r->counters.ops));
    json_object_set_new(c, "calls",
                        json_integer((json_int_t)r->counters.calls));
    json_object_set_new(c, "host_calls",
                        json_integer((json_int_t)r->counters.host_calls));
    json_object_set_new(c, "max_depth",
                        json_integer((json_int_t)r->counters.max_depth));
    json_object_set_new(c, "throws",
                        json_integer((json_int_t)r->counters.throws));
    json_object_set_new(c, "traps",
                        json_integer((json_int_t)r->counters.traps));
    json_object_set_new(j, "counters", c);
    json_object_set_new(j, "codetracer", dmn_ct_json(r));
    return j;
}

/* meta.json, atomically (tmp + rename). Blocking; small and rare. */
static void write_meta(dmn_run *r)
{
    char path[600], tmp[620];
    json_t *j = dmn_run_json(r);

    snprintf(path, sizeof path, "%s/meta.json", r->dir);
    snprintf(tmp, sizeof tmp, "%s/meta.json.tmp", r->dir);
    if (json_dump_file(j, tmp, JSON_INDENT(2)) != 0 ||
        rename(tmp, path) != 0)
        dmn_server_log(r->srv, "run %" PRIu64 ": cannot write %s: %s",
                       r->id, path, strerror(errno));
    json_decref(j);
}

static void set_status(dmn_run *r, const char *status)
{
    char copy[sizeof r->status];

    snprintf(copy, sizeof copy, "%s", status); /* status may be r->status */
    memcpy(r->status, copy, sizeof copy);
    write_meta(r);
    dmn_ws_run_changed(r);
}

/* ---- lookup and window ----------------------------------------------------- */

dmn_run *dmn_run_find(dmn_server *srv, uint64_t id)
{
    for (dmn_run *r = srv->runs; r; r = r->next)
        if (r->id == id)
            return r;
    return NULL;
}

uint32_t dmn_runs_live(const dmn_server *srv)
{
    uint32_t n = 0;

    for (const dmn_run *r = srv->runs; r; r = r->next)
        n += r->state == DMN_RUNNING;
    return n;
}

long dmn_run_window_find(const dmn_run *r, uint64_t seq)
{
    size_t lo = 0, hi = r->win_len;

    if (r->win_len == 0 || seq < r->win_base || seq >= r->next_seq)
        return -1;
    /* First event whose range ends after seq. */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (proto_event_next_seq(&r->win[mid]->ev) <= seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < r->win_len ? (long)lo : -1;
}

/* Events up to `upto` (exclusive) are in the file: leave the window. */
static void window_release(dmn_run *r, uint64_t upto)
{
    size_t n = 0;

    while (n < r->win_len && proto_event_next_seq(&r->win[n]->ev) <= upto)
        dmn_evt_unref(r->win[n++]);
    if (n == 0)
        return;
    memmove(r->win, r->win + n, (r->win_len - n) * sizeof *r->win);
    r->win_len -= n;
    r->win_base = r->win_len ? r->win[0]->ev.seq : upto;
}

static int window_push(dmn_run *r, dmn_evt *e)
{
    if (r->win_len == r->win_cap) {
        size_t cap = r->win_cap ? r->win_cap * 2 : 256;
        dmn_evt **w = realloc(r->win, cap * sizeof *w);

        if (!w)
            return -1;
        r->win = w;
        r->win_cap = cap;
    }
    if (r->win_len == 0)
        r->win_base = e->ev.seq;
    r->win[r->win_len++] = e;
    e->refs++;
    return 0;
}

/* ---- persisting -------------------------------------------------------------- */

static void start_write(dmn_run *r);
static void maybe_finish(dmn_run *r);

static void on_write(uv_fs_t *req);

/* Write r->wbuf at offset of fd: the run's one write in flight. */
static void issue_write(dmn_run *r, uv_file fd, uint64_t offset)
{
    uv_buf_t bufs[1] = {r->wbuf};

    r->writing = true;
    uv_fs_write(&r->srv->loop, &r->wreq, fd, bufs, 1, (int64_t)offset,
                on_write);
}

static void on_write(uv_fs_t *req)
{
    dmn_run *r = container_of(req, dmn_run, wreq);
    ssize_t n = req->result;
    proto_chunk *c = &r->chunks[0];

    uv_fs_req_cleanup(req);
    r->writing = false;
    if (n < 0) {
        dmn_server_log(r->srv, "run %" PRIu64 ": write failed: %s", r->id,
                       uv_strerror((int)n));
        snprintf(r->error, sizeof r->error, "write failed: %s",
                 uv_strerror((int)n));
        n = (ssize_t)r->wbuf.len; /* give up on this piece, keep going */
    }
    if ((size_t)n < r->wbuf.len) { /* short write: the rest */
        r->wbuf.base += n;
        r->wbuf.len -= (size_t)n;
        if (r->write_stage == 0)
            issue_write(r, r->fd, c->offset + c->len - r->wbuf.len);
        else
            issue_write(r, r->idx_fd,
                        r->idx_off + PROTO_INDEX_ENTRY_LEN - r->wbuf.len);
        return;
    }
    if (r->write_stage == 0) {
        /* The chunk is in the file: its events leave the window and
         * catching-up readers find them there. Then its index entry. */
        window_release(r, c->first_seq + c->count);
        r->write_stage = 1;
        memcpy(r->idx_entry, c->idx_entry, PROTO_INDEX_ENTRY_LEN);
        r->wbuf = uv_buf_init((char *)r->idx_entry, PROTO_INDEX_ENTRY_LEN);
        issue_write(r, r->idx_fd, r->idx_off);
        return;
    }
    r->idx_off += PROTO_INDEX_ENTRY_LEN;
    proto_chunker_recycle(&r->chunker, c);
    memmove(r->chunks, r->chunks + 1, (r->nchunks - 1) * sizeof *r->chunks);
    r->nchunks--;
    start_write(r);
    /* The window shrank: resume a drain that backpressure paused. */
    if (r->ring && !r->draining_done)
        uv_async_send(&r->async);
    maybe_finish(r);
}

static void start_write(dmn_run *r)
{
    if (r->writing || r->nchunks == 0 || r->fd < 0)
        return;
    r->write_stage = 0;
    r->wbuf = uv_buf_init((char *)r->chunks[0].data, (unsigned)r->chunks[0].len);
    issue_write(r, r->fd, r->chunks[0].offset);
}

/* Seal the open chunk (if any) and queue it for writing. */
static void seal(dmn_run *r)
{
    proto_chunk c;

    if (proto_chunker_count(&r->chunker) == 0)
        return;
    if (r->nchunks == r->chunks_cap) {
        size_t cap = r->chunks_cap ? r->chunks_cap * 2 : 8;
        proto_chunk *nc = realloc(r->chunks, cap * sizeof *nc);

        if (!nc)
            return; /* retried at the next tick */
        r->chunks = nc;
        r->chunks_cap = cap;
    }
    if (proto_chunker_seal(&r->chunker, &c) != 0)
        return;
    r->chunks[r->nchunks++] = c;
    start_write(r);
}

/* ---- draining ---------------------------------------------------------------- */

static void on_handle_closed(uv_handle_t *h)
{
    dmn_run *r = h->data;

    r->open_handles--;
}

/* The ring said END and every chunk is written: the run is done. */
static void maybe_finish(dmn_run *r)
{
    if (!r->draining_done || r->nchunks || r->writing ||
        r->state != DMN_RUNNING)
        return;
    if (r->fd >= 0) {
        fdatasync(r->fd);
        close(r->fd);
        r->fd = -1;
    }
    if (r->idx_fd >= 0) {
        close(r->idx_fd);
        r->idx_fd = -1;
    }
    dmn_ct_stream_final(r); /* a live CodeTracer writer may end now */
    r->state = DMN_DONE;
    r->events = r->next_seq;
    r->ended_ns = dmn_wall_ns();
    uv_timer_stop(&r->wall_timer);
    set_status(r, r->status[0] && strcmp(r->status, "running") != 0
                      ? r->status
                      : "trap");
    dmn_ws_kick_run(r);
    dmn_server_check_stop(r->srv);
}

/* Record what run_end says about the run. */
static void take_run_end(dmn_run *r, const proto_event *ev)
{
    json_t *j;

    snprintf(r->status, sizeof r->status, "%s",
             proto_status_name(ev->as.run_end.status));
    r->exit_code = ev->as.run_end.exit_code;
    r->counters = ev->as.run_end.counters;
    if (proto_event_to_json(ev, NULL, &j) == 0) {
        json_decref(r->results);
        r->results = json_incref(json_object_get(j, "results"));
        json_decref(j);
    }
}

static void ring_ended(dmn_run *r)
{
    r->draining_done = true;
    if (r->thread_started) {
        uv_thread_join(&r->thread);
        r->thread_started = false;
    }
    if (r->vm_rc && r->vm_rc != VM_ERR_EXIT)
        snprintf(r->error, sizeof r->error, "%s", r->vm_err);
    if (r->vm_rc == VM_ERR_CANCELLED && !r->reason[0])
        snprintf(r->reason, sizeof r->reason, "cancelled");
    if (r->vm_rc == VM_ERR_FUEL)
        snprintf(r->reason, sizeof r->reason, "fuel");
    vm_store_free(r->store);
    r->store = NULL;
    vm_module_free(r->module);
    r->module = NULL;
    free(r->invoke_args);
    r->invoke_args = NULL;
    seal(r);
    maybe_finish(r);
}

const proto_code *dmn_run_code(dmn_run *r)
{
    char err[256] = "";
    uint8_t *bytes;
    vm_module *m;

    if (r->code || r->code_failed || r->spec.level == PROTO_LEVEL_CALLS)
        return r->code;
    if (dmn_run_load_module(r, &bytes, &m, err, sizeof err) == 0) {
        if (proto_code_new(m, &r->code, err, sizeof err) != 0)
            r->code = NULL;
        vm_module_free(m);
        free(bytes);
    }
    if (!r->code) {
        r->code_failed = true;
        dmn_server_log(r->srv, "run %" PRIu64 ": op and step runs stay "
                       "unexpanded: %s", r->id, err);
    }
    return r->code;
}

static void drain(dmn_run *r)
{
    char err[256];
    int rc = 0, n = 0;

    if (!r->ring || r->draining_done)
        return;
    /*
     * Backpressure: events stay in the window until their chunk is in the
     * file. When the disk falls behind the run, stop draining; the ring
     * fills and the run thread waits (lossless), so memory stays bounded.
     * Seal what is pending so the writes that release the window go on;
     * on_write drains again once they complete.
     */
    if (r->win_len >= r->srv->cfg.window_events) {
        seal(r);
        return;
    }
    while (n < DRAIN_BATCH && r->win_len < r->srv->cfg.window_events) {
        proto_raw raw;
        proto_raw_events it;

        /* The chunk takes the ring's bytes (no re-encoding); the window
         * and subscribers take the decoded events, one or, from a batch
         * record (the VM's sink), many. */
        rc = proto_ring_next_raw(r->ring, &raw, err, sizeof err);
        if (rc)
            break;
        if (proto_chunker_add_raw(&r->chunker, &raw) != 0)
            dmn_server_log(r->srv, "run %" PRIu64 ": chunker refused seq %"
                           PRIu64, r->id, raw.seq);
        proto_raw_events_init(&it, &raw);
        proto_raw_events_set_code(&it, r->code);
        while ((rc = proto_raw_events_next(&it, &r->scratch, err,
                                           sizeof err)) == 0) {
            dmn_evt *e;

            n++;
            r->next_seq = proto_event_next_seq(&r->scratch);
            if (r->scratch.type == PROTO_RUN_END)
                take_run_end(r, &r->scratch);
            e = evt_new(&r->scratch);
            if (e) {
                window_push(r, e);
                dmn_ws_event(r, e);
                dmn_evt_unref(e);
            }
        }
        if (rc != PROTO_ERR_END)
            break;
        rc = 0;
        if (proto_chunker_pending(&r->chunker) >= r->srv->cfg.chunk_bytes)
            seal(r);
    }
    if (rc == PROTO_ERR_END) {
        ring_ended(r);
    } else if (rc == 0) {
        uv_async_send(&r->async); /* more to do: come back next turn */
    } else if (rc != PROTO_ERR_AGAIN) {
        dmn_server_log(r->srv, "run %" PRIu64 ": ring: %s", r->id, err);
        proto_ring_shutdown(r->ring);
    }
}

static void on_async(uv_async_t *h)
{
    drain(container_of(h, dmn_run, async));
}

/* The ring's wake callback: on the run thread. */
static void ring_wake(void *user)
{
    dmn_run *r = user;

    uv_async_send(&r->async);
}

static void on_wall_timer(uv_timer_t *t)
{
    dmn_run_cancel(container_of(t, dmn_run, wall_timer), "wall_time");
}

bool dmn_run_cancel(dmn_run *r, const char *reason)
{
    if (r->state != DMN_RUNNING || !r->store || r->draining_done)
        return false;
    if (!r->reason[0])
        snprintf(r->reason, sizeof r->reason, "%s", reason);
    r->cancel_requested = true;
    vm_store_cancel(r->store);
    return true;
}

void dmn_runs_tick(dmn_server *srv)
{
    for (dmn_run *r = srv->runs; r; r = r->next) {
        if (r->state != DMN_RUNNING)
            continue;
        /* Events batched on the run thread: ask for them (run.c). */
        if (r->ring)
            proto_ring_request_flush(r->ring);
        drain(r);
        seal(r);
    }
    dmn_ws_tick(srv);
}

/* ---- submitting ---------------------------------------------------------------- */

static void run_free(dmn_run *r)
{
    dmn_ws_run_closing(r);
    dmn_ct_free(r);
    for (size_t i = 0; i < r->win_len; i++)
        dmn_evt_unref(r->win[i]);
    free(r->win);
    for (size_t i = 0; i < r->nchunks; i++)
        proto_chunk_close(&r->chunks[i]);
    free(r->chunks);
    proto_chunker_close(&r->chunker);
    proto_event_close(&r->scratch);
    if (r->ring)
        proto_ring_free(r->ring);
    if (r->fd >= 0)
        close(r->fd);
    if (r->idx_fd >= 0)
        close(r->idx_fd);
    vm_store_free(r->store);
    vm_module_free(r->module);
    proto_code_free(r->code);
    free(r->invoke_args);
    json_decref(r->results);
    dmn_spec_close(&r->spec);
    free(r);
}

static dmn_run *run_alloc(dmn_server *srv, uint64_t id)
{
    dmn_run *r = calloc(1, sizeof *r);

    if (!r)
        return NULL;
    r->srv = srv;
    r->id = id;
    r->fd = r->idx_fd = -1;
    snprintf(r->dir, sizeof r->dir, "%s/runs/%" PRIu64, srv->cfg.data_dir,
             id);
    proto_event_init(&r->scratch);
    return r;
}

/* Parse the invoke arguments by the export's parameter types. */
static int parse_invoke_args(dmn_run *r, char *err, size_t errlen)
{
    uint32_t n = vm_module_export_count(r->module);

    for (uint32_t i = 0; i < n; i++) {
        vm_extern_desc d;

        if (vm_module_export(r->module, i, &d) ||
            strcmp(d.name, r->spec.invoke) != 0)
            continue;
        if (d.kind != VM_EXTERN_FUNC) {
            snprintf(err, errlen, "export \"%s\" is not a function",
                     r->spec.invoke);
            return -1;
        }
        if (d.func.nparams != r->spec.nargs) {
            snprintf(err, errlen, "%s takes %" PRIu32 " arguments, got %"
                     PRIu32, r->spec.invoke, d.func.nparams, r->spec.nargs);
            return -1;
        }
        r->invoke_args = calloc(d.func.nparams + 1u, sizeof *r->invoke_args);
        if (!r->invoke_args) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        for (uint32_t k = 0; k < d.func.nparams; k++) {
            char e[200];

            if (cli_value_parse(r->spec.args[k],
                                (vm_valtype)d.func.params[k],
                                &r->invoke_args[k], e, sizeof e)) {
                snprintf(err, errlen, "argument %" PRIu32 ": %s", k + 1, e);
                return -1;
            }
        }
        return 0;
    }
    snprintf(err, errlen, "no export named \"%s\"", r->spec.invoke);
    return -1;
}

/* Keep the submitted module beside the stream (module.wasm), so that the
 * browser client can ask for its listing (GET /api/runs/ID/listing) during
 * and after the run. Blocking like the headers: at most the module size
 * limit, once per run. Best effort: a run without it just has no listing. */
static void save_module(const dmn_run *r, const uint8_t *wasm, size_t len)
{
    char path[600];
    FILE *f;

    snprintf(path, sizeof path, "%s/module.wasm", r->dir);
    f = fopen(path, "wbe");
    if (!f)
        return;
    bool ok = fwrite(wasm, 1, len, f) == len;

    if (fclose(f) != 0 || !ok)
        unlink(path);
}

/* Create the run's directory and stream files (blocking, small). */
static int create_files(dmn_run *r, char *err, size_t errlen)
{
    char path[600], runs[600];
    proto_file_header h = {0};
    uint8_t hdr[PROTO_FILE_HEADER_LEN], ih[PROTO_INDEX_HEADER_LEN];

    snprintf(runs, sizeof runs, "%s/runs", r->srv->cfg.data_dir);
    mkdir(r->srv->cfg.data_dir, 0755);
    mkdir(runs, 0755);
    if (mkdir(r->dir, 0755) != 0 && errno != EEXIST)
        goto fail;
    dmn_run_stream_path(r, path, sizeof path);
    r->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (r->fd < 0)
        goto fail;
    h.run_id = r->id;
    h.wall_ns = r->created_ns;
    h.level = r->spec.level;
    memcpy(h.module_hash, r->hash, 32);
    proto_file_header_encode(&h, hdr);
    if (pwrite(r->fd, hdr, sizeof hdr, 0) != (ssize_t)sizeof hdr)
        goto fail;
    strcat(path, ".idx");
    r->idx_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (r->idx_fd < 0)
        goto fail;
    proto_index_header_encode(r->id, ih);
    if (pwrite(r->idx_fd, ih, sizeof ih, 0) != (ssize_t)sizeof ih)
        goto fail;
    r->idx_off = PROTO_INDEX_HEADER_LEN;
    r->chunker.offset = PROTO_FILE_HEADER_LEN;
    return 0;
fail:
    snprintf(err, errlen, "cannot create %s: %s", r->dir, strerror(errno));
    return -1;
}

int dmn_run_submit(dmn_server *srv, const uint8_t *wasm, size_t len,
                   dmn_spec *spec, dmn_run **out, char *err, size_t errlen,
                   const char **code)
{
    const dmn_config *cfg = &srv->cfg;
    vm_store_limits limits = {0};
    proto_ring_opts ropts = {0};
    dmn_run *r;
    int rc, status = 500;

    *code = "internal";
    if (srv->stopping) {
        snprintf(err, errlen, "the daemon is shutting down");
        *code = "shutting_down";
        return 503;
    }
    if (len > cfg->max_module_bytes) {
        snprintf(err, errlen, "module of %zu bytes exceeds the limit of %zu",
                 len, cfg->max_module_bytes);
        *code = "too_large";
        return 413;
    }
    if (dmn_runs_live(srv) >= cfg->max_runs) {
        snprintf(err, errlen, "%" PRIu32 " runs in progress, the limit",
                 cfg->max_runs);
        *code = "too_many_runs";
        return 429;
    }
    r = run_alloc(srv, srv->next_id);
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return 500;
    }
    r->spec = *spec;
    memset(spec, 0, sizeof *spec);
    if (!r->spec.name)
        r->spec.name = strdup("module.wasm");
    rc = vm_module_new(wasm, len, NULL, &r->module, err, errlen);
    if (rc) {
        char msg[512];

        snprintf(msg, sizeof msg, "%s: %s", vm_strerror(rc), err);
        snprintf(err, errlen, "%s", msg);
        *code = rc == VM_ERR_NOMEM ? "internal" : "bad_module";
        status = rc == VM_ERR_NOMEM ? 500 : 400;
        goto fail;
    }
    if (r->spec.invoke && parse_invoke_args(r, err, errlen) != 0) {
        *code = "bad_arguments";
        status = 400;
        goto fail;
    }
    if (r->spec.level == PROTO_LEVEL_LINES) {
        /* Refuse a lines run without line info now, not from the run. */
        dmn_lines lines;

        if (dmn_lines_init(&lines, r->module, err, errlen) != 0) {
            *code = "no_debug_info";
            status = 400;
            goto fail;
        }
        dmn_lines_close(&lines);
    }
    if (r->spec.level != PROTO_LEVEL_CALLS &&
        proto_code_new(r->module, &r->code, err, errlen) != 0) {
        *code = "internal";
        status = 500;
        goto fail;
    }
    proto_sha256(wasm, len, r->hash);
    proto_hex(r->hash, 32, r->hash_hex);
    r->created_ns = dmn_wall_ns();
    limits.fuel = r->spec.fuel;
    limits.max_memory_pages = r->spec.max_pages;
    limits.max_call_depth = r->spec.max_depth;
    if (vm_store_new(&limits, &r->store) != 0) {
        snprintf(err, errlen, "cannot create a store");
        goto fail;
    }
    if (proto_chunker_init(&r->chunker) != 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (create_files(r, err, errlen) != 0)
        goto fail;
    ropts.capacity = RING_BYTES;
    ropts.wake = ring_wake;
    ropts.wake_user = r;
    if (proto_ring_new(&ropts, &r->ring) != 0) {
        snprintf(err, errlen, "out of memory");
        goto fail_files;
    }
    dmn_tracer_init(&r->tracer, r->ring, r->spec.level);
    uv_async_init(&srv->loop, &r->async, on_async);
    r->async.data = r;
    uv_timer_init(&srv->loop, &r->wall_timer);
    r->wall_timer.data = r;
    r->open_handles = 2;
    r->state = DMN_RUNNING;
    snprintf(r->status, sizeof r->status, "running");
    save_module(r, wasm, len);
    dmn_ct_run_created(r); /* live CodeTracer output, if asked */
    write_meta(r);
    if (r->spec.wall_ms)
        uv_timer_start(&r->wall_timer, on_wall_timer, r->spec.wall_ms, 0);
    r->next = srv->runs;
    srv->runs = r;
    srv->next_id++;
    if (uv_thread_create(&r->thread, dmn_run_thread, r) != 0) {
        /* The run exists now: record it as failed instead of unwinding. */
        snprintf(r->error, sizeof r->error, "cannot start a thread");
        proto_ring_shutdown(r->ring);
        r->draining_done = true;
        snprintf(r->status, sizeof r->status, "trap");
        maybe_finish(r);
    } else {
        r->thread_started = true;
    }
    dmn_ws_run_changed(r);
    *out = r;
    return 0;

fail_files:
    snprintf(err, errlen, "cannot create the run");
fail:
    if (r->fd >= 0) {
        char path[600];

        close(r->fd);
        r->fd = -1;
        close(r->idx_fd);
        r->idx_fd = -1;
        dmn_run_stream_path(r, path, sizeof path);
        unlink(path);
        strcat(path, ".idx");
        unlink(path);
        rmdir(r->dir);
    }
    run_free(r);
    return status;
}

/* ---- start-up: earlier runs -------------------------------------------------- */

static char *jstrdup(json_t *j, const char *key)
{
    const char *s = json_string_value(json_object_get(j, key));

    return s ? strdup(s) : NULL;
}

static char **jstrv(json_t *j, const char *key, uint32_t *n)
{
    json_t *a = json_object_get(j, key);
    char **v;

    *n = 0;
    if (!json_is_array(a) || json_array_size(a) == 0)
        return NULL;
    v = calloc(json_array_size(a), sizeof *v);
    for (size_t i = 0; v && i < json_array_size(a); i++) {
        const char *s = json_string_value(json_array_get(a, i));

        v[(*n)++] = strdup(s ? s : "");
    }
    return v;
}

static uint64_t jint(json_t *j, const char *key)
{
    return (uint64_t)json_integer_value(json_object_get(j, key));
}

static void load_one(dmn_server *srv, uint64_t id)
{
    char path[700], err[256];
    json_t *j, *c;
    dmn_run *r = run_alloc(srv, id);
    const char *status, *hash;
    int lv;

    if (!r)
        return;
    snprintf(path, sizeof path, "%s/meta.json", r->dir);
    j = json_load_file(path, 0, NULL);
    if (!j) {
        free(r);
        return;
    }
    r->spec.name = jstrdup(j, "module");
    if (!r->spec.name)
        r->spec.name = strdup("module.wasm");
    r->spec.invoke = jstrdup(j, "invoke");
    r->spec.args = jstrv(j, "args", &r->spec.nargs);
    r->spec.env = jstrv(j, "env", &r->spec.nenv);
    lv = proto_level_from_name(json_string_value(json_object_get(j, "level"))
                                   ?: "calls");
    r->spec.level = lv > 0 ? (proto_level)lv : PROTO_LEVEL_CALLS;
    r->spec.fuel = jint(j, "fuel");
    r->spec.wall_ms = jint(j, "wall_ms");
    r->spec.max_pages = (uint32_t)jint(j, "max_pages");
    hash = json_string_value(json_object_get(j, "hash"));
    snprintf(r->hash_hex, sizeof r->hash_hex, "%s", hash ? hash : "");
    status = json_string_value(json_object_get(j, "status"));
    snprintf(r->status, sizeof r->status, "%s", status ? status : "?");
    status = json_string_value(json_object_get(j, "reason"));
    snprintf(r->reason, sizeof r->reason, "%s", status ? status : "");
    status = json_string_value(json_object_get(j, "error"));
    snprintf(r->error, sizeof r->error, "%s", status ? status : "");
    r->exit_code = (int32_t)jint(j, "exit_code");
    r->results = json_incref(json_object_get(j, "results"));
    r->created_ns = jint(j, "created_ns");
    r->ended_ns = jint(j, "ended_ns");
    r->events = jint(j, "events");
    c = json_object_get(j, "counters");
    r->counters.ops = jint(c, "ops");
    r->counters.calls = jint(c, "calls");
    r->counters.host_calls = jint(c, "host_calls");
    r->counters.max_depth = jint(c, "max_depth");
    r->counters.throws = jint(c, "throws");
    r->counters.traps = jint(c, "traps");
    json_decref(j);
    r->state = strcmp(r->status, "interrupted") == 0 ? DMN_INTERRUPTED
                                                      : DMN_DONE;
    if (strcmp(r->status, "running") == 0) {
        /* The daemon died during this run: cut a torn tail, rebuild the
         * index, and say so. */
        proto_repair_info info = {0};

        dmn_run_stream_path(r, path, sizeof path);
        if (proto_file_repair(path, &info, err, sizeof err) != 0)
            snprintf(r->error, sizeof r->error, "repair: %s", err);
        r->events = info.next_seq;
        r->state = DMN_INTERRUPTED;
        snprintf(r->reason, sizeof r->reason, "daemon stopped");
        snprintf(r->status, sizeof r->status, "interrupted");
        write_meta(r);
        dmn_server_log(srv, "run %" PRIu64 " was interrupted: %" PRIu64
                       " events kept%s", id, info.next_seq,
                       info.truncated ? ", torn tail cut" : "");
    }
    dmn_ct_load(r); /* repairs a CodeTracer trace.json left open */
    r->next_seq = r->events;
    /* Keep the list newest first. */
    if (!srv->runs || srv->runs->id < id) {
        r->next = srv->runs;
        srv->runs = r;
    } else {
        dmn_run *p = srv->runs;

        while (p->next && p->next->id > id)
            p = p->next;
        r->next = p->next;
        p->next = r;
    }
    if (id >= srv->next_id)
        srv->next_id = id + 1;
}

int dmn_runs_load(dmn_server *srv, char *err, size_t errlen)
{
    char path[600];
    DIR *d;
    struct dirent *de;

    srv->next_id = 1;
    if (mkdir(srv->cfg.data_dir, 0755) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", srv->cfg.data_dir,
                 strerror(errno));
        return -1;
    }
    snprintf(path, sizeof path, "%s/runs", srv->cfg.data_dir);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    d = opendir(path);
    if (!d) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    while ((de = readdir(d))) {
        char *end;
        unsigned long long id = strtoull(de->d_name, &end, 10);

        if (de->d_name[0] >= '0' && de->d_name[0] <= '9' && !*end && id)
            load_one(srv, id);
    }
    closedir(d);
    return 0;
}

void dmn_runs_close_all(dmn_server *srv)
{
    for (dmn_run *r = srv->runs; r; r = r->next) {
        if (r->open_handles > 0 && !uv_is_closing((uv_handle_t *)&r->async)) {
            uv_close((uv_handle_t *)&r->async, on_handle_closed);
            uv_close((uv_handle_t *)&r->wall_timer, on_handle_closed);
        }
    }
}

/* After the loop ran the close callbacks. */
void dmn_runs_free_all(dmn_server *srv)
{
    while (srv->runs) {
        dmn_run *r = srv->runs;

        srv->runs = r->next;
        if (r->thread_started) {
            proto_ring_shutdown(r->ring);
            vm_store_cancel(r->store);
            uv_thread_join(&r->thread);
        }
        run_free(r);
    }
}
