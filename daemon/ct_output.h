/*
 * A run's CodeTracer output in the daemon (docs/daemon.md, "CodeTracer
 * output"): DATA/runs/<id>/codetracer/, written live while the run goes on
 * (submit option codetracer=1, or traced --codetracer), or converted from
 * the native stream when a client asks for it; its state persisted beside
 * it in DATA/runs/<id>/codetracer.json.
 *
 * Threads. Everything here is called on the loop thread. The work itself
 * is off the loop: the live writer is a thread of its own per run that
 * follows the native stream file as the loop writes it (so the drain and
 * the loop never wait for CodeTracer's ~50x bytes, and a CodeTracer error
 * cannot touch the native stream); a conversion is a uv_queue_work job,
 * one at a time. A finished live writer is noticed by the server tick.
 */
#ifndef TRACED_DMN_CT_OUTPUT_H
#define TRACED_DMN_CT_OUTPUT_H

#include "dmn.h"

typedef struct dmn_ct dmn_ct;
typedef struct dmn_ct_waiter dmn_ct_waiter;

/*
 * A request waiting for a run's CodeTracer directory (an HTTP session
 * embeds one). ready is called once, on the loop thread: status 0 when
 * the directory is complete (serve dmn_ct_dir), else an HTTP status with
 * an error code and message. After that, or dmn_ct_cancel_wait, the
 * waiter is no longer referenced.
 */
struct dmn_ct_waiter {
    dmn_ct_waiter *next;
    dmn_run *run; /* set while waiting */
    void (*ready)(dmn_ct_waiter *w, int status, const char *code,
                  const char *msg);
};

/* Submit: the run's files exist; start the live writer if the run asked
 * for it (spec.codetracer) or the daemon does (--codetracer). */
void dmn_ct_run_created(dmn_run *r);
/* The run's stream file is complete (every chunk written). */
void dmn_ct_stream_final(dmn_run *r);
/* Start-up: take the persisted state of a loaded run's CodeTracer
 * directory; one that is not known complete (the daemon died while it
 * was written) is repaired (proto_ct_repair) so that trace.json is valid
 * JSON, and will be converted again when asked for. */
void dmn_ct_load(dmn_run *r);
/* The "codetracer" member of the run's JSON (new reference). */
json_t *dmn_ct_json(const dmn_run *r);
/* Server tick: collect live writers that finished. */
void dmn_ct_tick(dmn_server *srv);
/* Shutdown: stop live writers and conversions at their next event (their
 * trace is closed and marked incomplete), answer waiters 503. */
void dmn_ct_stop_all(dmn_server *srv);
/* Free r->ct (joins its thread). After the loop is done with it. */
void dmn_ct_free(dmn_run *r);

/*
 * GET /api/runs/ID/codetracer: 0 when the directory is complete now
 * (serve dmn_ct_dir), -1 when w waits (its ready callback answers), or an
 * HTTP status with code and msg (409 run_in_progress, 404 no_module, 503).
 */
int dmn_ct_request(dmn_run *r, dmn_ct_waiter *w, const char **code,
                   char *msg, size_t msglen);
void dmn_ct_cancel_wait(dmn_ct_waiter *w);
/* The run's CodeTracer directory. */
void dmn_ct_dir(const dmn_run *r, char *buf, size_t len);

#endif /* TRACED_DMN_CT_OUTPUT_H */
