/*
 * traced run --trace-dir: record one run without a daemon, through the
 * same producer (dmn_tracer and the VM hook adapter in run.c), the same
 * lossless ring and the synchronous trace file writer, into
 *
 *     DIR/stream.trace, DIR/stream.trace.idx   the native stream
 *     DIR/codetracer/                           with --codetracer, written
 *                                               live (proto_ct_writer)
 *
 * Threads. The caller's thread runs the VM and produces; a consumer
 * thread started here drains the ring (proto_ring_next_raw: records move
 * into the stream file's chunks as bytes, decoded only for the CodeTracer
 * writer) until the producer's finish, then exits. The two share only
 * the ring.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <traced/proto_codetracer.h>

#include "record.h"

struct dmn_recording {
    proto_ring *ring;
    dmn_tracer producer;
    dmn_vm_tracer hooks;
    proto_file_writer *file;
    proto_ct_writer *ct;
    pthread_t consumer;
    bool consumer_started;
    int consumer_rc;       /* first writer or ring error, 0 if none */
    char consumer_err[320];
};

/*
 * The ring is empty: sleep 1 ms. Batches carry thousands of events, so
 * the 4 MiB ring holds several milliseconds of the fastest run and the
 * producer never waits for this sleep. Polling every 50 us took CPU from
 * the run on 2 cores (bytecode kernel, 4 events: 156 -> 174 ms recorded);
 * a wake per publication (a semaphore posted by the ring's wake callback)
 * cost the producer a futex syscall per batch (fib at level lines: 450 ms
 * against 390 ms with this sleep, system time 115 -> 57 ms).
 */
static void wait_for_records(void)
{
    struct timespec ts = {0, 1000000};

    nanosleep(&ts, NULL);
}

/* One record into the writers: the stream file takes it as it is in the
 * ring (no decode, no re-encode); the CodeTracer writer needs the event. */
static void write_record(dmn_recording *rec, const proto_raw *raw,
                         proto_event *ev)
{
    proto_raw_events it;
    char err[256];
    int rc;

    if (rec->consumer_rc)
        return;
    if (proto_file_writer_add_raw(rec->file, raw, err, sizeof err) != 0) {
        rec->consumer_rc = -1;
        snprintf(rec->consumer_err, sizeof rec->consumer_err, "stream: %s",
                 err);
        return;
    }
    if (!rec->ct)
        return;
    /* A batch record holds many events (the VM's sink): each one. */
    proto_raw_events_init(&it, raw);
    while ((rc = proto_raw_events_next(&it, ev, err, sizeof err)) == 0) {
        if (proto_ct_writer_add(rec->ct, ev, err, sizeof err) != 0) {
            rec->consumer_rc = -1;
            snprintf(rec->consumer_err, sizeof rec->consumer_err,
                     "codetracer: %s", err);
            return;
        }
    }
    if (rc != PROTO_ERR_END) {
        rec->consumer_rc = -1;
        snprintf(rec->consumer_err, sizeof rec->consumer_err, "ring: %s",
                 err);
    }
}

static void *consume(void *arg)
{
    dmn_recording *rec = arg;
    proto_event ev;
    proto_raw raw;
    char err[256];
    int rc;

    proto_event_init(&ev);
    for (;;) {
        rc = proto_ring_next_raw(rec->ring, &raw, err, sizeof err);
        if (rc == PROTO_ERR_AGAIN) {
            wait_for_records();
            continue;
        }
        if (rc)
            break;
        write_record(rec, &raw, &ev);
    }
    if (rc != PROTO_ERR_END && !rec->consumer_rc) {
        rec->consumer_rc = -1;
        snprintf(rec->consumer_err, sizeof rec->consumer_err, "ring: %s",
                 err);
        proto_ring_shutdown(rec->ring); /* the producer stops too */
    }
    proto_event_close(&ev);
    return NULL;
}

int dmn_recording_start(const dmn_recording_opts *o, dmn_recording **out,
                        char *err, size_t errlen)
{
    dmn_recording *rec;
    proto_file_header h = {0};
    proto_ring_opts ro = {0};
    char path[4200];

    *out = NULL;
    if (mkdir(o->dir, 0755) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", o->dir,
                 strerror(errno));
        return -1;
    }
    rec = calloc(1, sizeof *rec);
    if (!rec)
        goto fail_nomem;
    ro.capacity = 4u << 20;
    if (proto_ring_new(&ro, &rec->ring) != 0)
        goto fail_ring;
    h.run_id = o->run_start->run_id;
    h.wall_ns = o->run_start->wall_ns;
    h.level = o->run_start->level;
    memcpy(h.module_hash, o->run_start->hash, 32);
    snprintf(path, sizeof path, "%s/stream.trace", o->dir);
    if (proto_file_writer_new(path, &h, NULL, &rec->file, err, errlen) != 0)
        goto fail_file;
    if (o->codetracer) {
        /* A local run: the module is the user's, so the sources its DWARF
         * names are read where they are (after the bundle, if any). */
        proto_ct_opts co = {.source_dir = o->ct_sources,
                            .read_source_paths = true};

        snprintf(path, sizeof path, "%s/codetracer", o->dir);
        if (proto_ct_writer_new(path, o->module, &co, &rec->ct, err,
                                errlen) != 0)
            goto fail_ct;
    }
    dmn_tracer_init(&rec->producer, rec->ring, o->run_start->level);
    if (dmn_vm_tracer_init(&rec->hooks, &rec->producer, o->module) != 0)
        goto fail_hooks;
    if (o->lines)
        dmn_vm_tracer_lines(&rec->hooks, o->lines);
    if (pthread_create(&rec->consumer, NULL, consume, rec) != 0) {
        snprintf(err, errlen, "cannot start the consumer thread");
        goto fail_thread;
    }
    rec->consumer_started = true;
    dmn_tracer_run_start(&rec->producer, o->run_start);
    *out = rec;
    return 0;

fail_thread:
    dmn_vm_tracer_close(&rec->hooks);
fail_hooks:
    proto_ct_writer_free(rec->ct, NULL, 0);
fail_ct:
    proto_file_writer_free(rec->file, NULL, 0);
fail_file:
    proto_ring_free(rec->ring);
fail_ring:
    free(rec);
fail_nomem:
    if (err && errlen && !err[0])
        snprintf(err, errlen, "out of memory");
    return -1;
}

const vm_tracer *dmn_recording_tracer(dmn_recording *rec)
{
    return &rec->hooks.vm;
}

dmn_tracer *dmn_recording_producer(dmn_recording *rec)
{
    return &rec->producer;
}

int dmn_recording_finish(dmn_recording *rec, int vm_rc, const char *vm_msg,
                         proto_status status, int32_t exit_code,
                         const proto_val *results, uint32_t nresults,
                         char *err, size_t errlen)
{
    char werr[256] = "";
    int rc = 0;

    if (vm_err_is_trap(vm_rc) && !rec->hooks.trapped)
        dmn_tracer_trap(&rec->producer, vm_rc,
                        vm_msg && *vm_msg ? vm_msg : vm_strerror(vm_rc));
    dmn_tracer_run_end(&rec->producer, status, exit_code, results, nresults);
    pthread_join(rec->consumer, NULL);
    if (rec->consumer_rc) {
        snprintf(err, errlen, "%s", rec->consumer_err);
        rc = -1;
    }
    if (proto_ct_writer_free(rec->ct, werr, sizeof werr) != 0 && !rc) {
        snprintf(err, errlen, "codetracer: %s", werr);
        rc = -1;
    }
    if (proto_file_writer_free(rec->file, werr, sizeof werr) != 0 && !rc) {
        snprintf(err, errlen, "stream: %s", werr);
        rc = -1;
    }
    dmn_vm_tracer_close(&rec->hooks);
    proto_ring_free(rec->ring);
    free(rec);
    return rc;
}
