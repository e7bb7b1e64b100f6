/*
 * traced run --trace-dir: one run recorded without a daemon (record.c).
 * Layout of DIR, threads and ownership are described there and in
 * docs/daemon.md, "traced run --trace-dir".
 */
#ifndef TRACED_DMN_RECORD_H
#define TRACED_DMN_RECORD_H

#include "dmn.h"

typedef struct dmn_recording dmn_recording;

typedef struct dmn_recording_opts {
    const char *dir;                  /* created if missing; borrowed */
    const proto_run_start *run_start; /* the run's first event; borrowed
                                         during start */
    bool codetracer;                  /* also write DIR/codetracer live */
    const char *ct_sources;           /* CodeTracer source bundle (a
                                         directory), or NULL; borrowed
                                         during start */
    const vm_module *module;          /* for CodeTracer; outlives the
                                         recording */
    struct dmn_lines *lines;          /* level lines: the step points
                                         (lines.h), else NULL; borrowed,
                                         outlives the recording */
} dmn_recording_opts;

/* Create the files, start the consumer thread, emit run_start. */
int dmn_recording_start(const dmn_recording_opts *o, dmn_recording **out,
                        char *err, size_t errlen);
/* The hooks to pass to the VM calls; owned by the recording. */
const vm_tracer *dmn_recording_tracer(dmn_recording *rec);
/* The producer, for output events (WASI). */
dmn_tracer *dmn_recording_producer(dmn_recording *rec);
/* Emit the trap (if the hooks did not) and run_end, wait for the consumer,
 * close the files and free rec. 0, or -1 with err when writing failed. */
int dmn_recording_finish(dmn_recording *rec, int vm_rc, const char *vm_msg,
                         proto_status status, int32_t exit_code,
                         const proto_val *results, uint32_t nresults,
                         char *err, size_t errlen);

#endif /* TRACED_DMN_RECORD_H */
