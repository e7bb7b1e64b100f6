/*
 * traced daemon (`traced serve`): private declarations shared by the
 * daemon's files. docs/daemon.md describes the architecture; in short:
 *
 *   serve.c   options, the libuv loop, the lws context, signals, shutdown
 *   runs.c    the run registry on the loop thread: submit, drain rings,
 *             chunk files (uv_fs, one write in flight per run), meta.json,
 *             recovery of earlier runs at start
 *   run.c     the run thread: the VM, and the event producer (dmn_tracer)
 *   http.c    the HTTP API and static files (lws callbacks)
 *   ws.c      WebSocket subscribers: file catch-up, live queues, control
 *
 * Threads. Everything here runs on the loop thread except run.c's
 * dmn_run_thread and the dmn_tracer_* functions, which run on one run's
 * own thread and touch only that run's vm objects and the producer side
 * of its ring. The loop thread touches libuv and lws objects; no other
 * thread does (a run thread's only way to reach the loop is the ring's
 * wake callback, which calls uv_async_send, the one thread-safe libuv call).
 */
#ifndef TRACED_DMN_H
#define TRACED_DMN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>

#include <uv.h>
#include <libwebsockets.h>
#include <jansson.h>

#include <traced/proto.h>
#include <traced/proto_ring.h>
#include <traced/vm.h>

#ifndef container_of
#define container_of(ptr, type, member)                                     \
    ((type *)(void *)((char *)(ptr) - offsetof(type, member)))
#endif

#define DMN_MAX_SOURCE_DIRS 16

typedef struct dmn_config {
    char host[64];               /* listen address (numeric) */
    int port;                    /* 0: the kernel picks one */
    const char *data_dir;        /* borrowed from argv */
    const char *token;           /* NULL: no token required */
    const char *static_dir;      /* browser client; NULL: placeholder */
    uint32_t max_runs;           /* concurrent live runs */
    size_t max_module_bytes;
    uint64_t max_fuel;           /* cap and default of a run's fuel; 0 none */
    uint64_t max_wall_ms;        /* cap and default of a run's wall time */
    uint32_t max_pages;          /* cap and default of memory pages */
    uint32_t max_depth;          /* call depth; 0 = VM default */
    size_t sub_queue_events;     /* live queue cap per subscriber */
    size_t chunk_bytes;          /* seal a chunk at this payload size */
    size_t window_events;        /* undrained-to-disk events held per run:
                                  * over it, draining pauses and the run
                                  * waits on its (lossless) ring */
    uint32_t flush_ms;           /* flush tick */
    uint32_t heartbeat_ms;       /* WebSocket heartbeat period */
    bool codetracer;             /* every run writes CodeTracer output live */
    bool quiet;
    /* --source-dir: a run's DWARF source files that resolve (realpath)
     * under one of these may be served (GET /api/runs/ID/sources/N).
     * Resolved at start; owned, freed with the server. */
    char *source_dirs[DMN_MAX_SOURCE_DIRS];
    uint32_t nsource_dirs;
} dmn_config;

typedef struct dmn_server dmn_server;
typedef struct dmn_run dmn_run;
typedef struct dmn_sub dmn_sub;
typedef struct dmn_conn dmn_conn;

/* One decoded event of the run's window (drained, not yet in the file),
 * handed to the fan-out as it is drained (dmn_ws_event).
 * Reference counted. Loop thread. */
typedef struct dmn_evt {
    uint32_t refs;
    proto_event ev; /* owns its data (proto_event_copy) */
} dmn_evt;

void dmn_evt_unref(dmn_evt *e);

/* ---- the event producer (run thread) ---------------------------------- */

/*
 * The producer side of one run. Calls, returns and op or step runs come
 * from the VM's sink (dmn_sink); the other events have a function each.
 * The run thread calls run_start, output and run_end; the VM's hooks call
 * host_call, throw, trap and (lines fallback) step. Pointers in arguments
 * are borrowed for the call.
 */
/*
 * The VM's trace sink of a dmn_tracer: the VM writes call and return
 * entries, and op runs (level ops) or step runs (level lines), into buf
 * (vm.h, "Trace sinks"), which goes to the ring as one sink record
 * (proto_ring_push_sink; the consumer sees a batch record encoded with
 * the module's types) when it fills, when it is
 * DMN_SINK_SEAL_NS old at a clock tick, when the loop asks for a flush,
 * and before any other event. A ticker thread advances `clock` (the
 * monotonic clock, ns) every DMN_SINK_TICK_NS; the sink's entries carry
 * the time of the last tick. docs/daemon.md, "The producer".
 */
typedef struct dmn_sink {
    vm_trace_sink vm;        /* what the VM writes through */
    uint8_t *buf;            /* DMN_SINK_HARD bytes */
    uint64_t t_first;        /* the open batch's first record's time */
    uint64_t clock;          /* the ticker's word (atomic builtins) */
    int stop;                /* the ticker's stop flag (atomic builtins) */
    pthread_t ticker;
    /* Level lines: per step point its line id, per depth the frame's
     * line id (vm_trace_sink). */
    uint32_t *step_line;
    uint32_t *frame_line;
} dmn_sink;

typedef struct dmn_tracer {
    proto_ring *ring;
    proto_level level;
    uint64_t t0_ns;          /* monotonic clock at run start */
    proto_counters counters; /* what the hooks counted */
    bool closed;             /* the ring was shut down: stop producing */
    uint64_t now_ns;         /* the last clock reading, since t0 */
    uint64_t coarse_ns;      /* CLOCK_MONOTONIC_COARSE at that reading */
    uint32_t clock_left;     /* events until the clock is read again */
    dmn_sink *sink;          /* open between dmn_vm_tracer_init and the
                                run's end */
} dmn_tracer;

void dmn_tracer_init(dmn_tracer *t, proto_ring *ring, proto_level level);
void dmn_tracer_run_start(dmn_tracer *t, const proto_run_start *rs);
/*
 * Fill run_start's two lists: argv (prog, then the nargs args) and the
 * module's function imports in order (host_call events name them by that
 * index). The strings stay borrowed from the caller and the module; the
 * arrays are allocated. Returns 0, or -1 when out of memory (nothing left
 * allocated). Free with dmn_run_start_lists_free.
 */
int dmn_run_start_lists(proto_run_start *rs, const char *prog,
                        char *const *args, uint32_t nargs,
                        const vm_module *m);
void dmn_run_start_lists_free(proto_run_start *rs);
void dmn_tracer_host_call(dmn_tracer *t, uint32_t func, uint32_t import,
                          const proto_val *args, uint32_t nargs);
void dmn_tracer_throw(dmn_tracer *t, uint32_t tag, const proto_val *payload,
                      uint32_t n);
void dmn_tracer_trap(dmn_tracer *t, int32_t code, const char *message);
void dmn_tracer_output(dmn_tracer *t, uint32_t fd, const uint8_t *bytes,
                       size_t len);

/*
 * The VM's tracer feeding a dmn_tracer: its sink (dmn_sink) takes calls,
 * returns and op or step runs; hooks take host call/return, throw and
 * trap (and calls and steps at level lines should the sink's tables not
 * be allocated). Caller-allocated (init/close); vm is what to pass to the VM calls. Values
 * go through a scratch array that only grows (no allocation per event).
 * trapped tells whether the hooks reported a trap, so that the run's end
 * does not report it twice. Run thread only.
 */
typedef struct dmn_vm_tracer {
    vm_tracer vm;
    dmn_tracer *t;
    struct dmn_lines *lines; /* level lines (dmn_vm_tracer_lines), or NULL */
    proto_val *vals; /* scratch: cap values */
    uint32_t cap;
    bool trapped;
} dmn_vm_tracer;

/* m is the module the run runs (borrowed for the call): t's ring encodes
 * the sink's entries with its function types (proto_ring_set_frames). */
int dmn_vm_tracer_init(dmn_vm_tracer *a, dmn_tracer *t, const vm_module *m);
/* Level lines: step events from lines' step points (lines.h; borrowed,
 * outlives a). After dmn_vm_tracer_init. */
void dmn_vm_tracer_lines(dmn_vm_tracer *a, struct dmn_lines *lines);
void dmn_tracer_step(dmn_tracer *t, uint32_t file, uint32_t line,
                     uint32_t column);
/* The run_end status of a VM result (run.c). */
proto_status dmn_status_of(int rc, int32_t exit_code);
void dmn_vm_tracer_close(dmn_vm_tracer *a);
/* Pushes run_end and finishes the ring (the run's last event). */
void dmn_tracer_run_end(dmn_tracer *t, proto_status status,
                        int32_t exit_code, const proto_val *results,
                        uint32_t nresults);

/* ---- runs --------------------------------------------------------------- */

/* What a submission asks for; strings owned by the spec (dmn_spec_close). */
typedef struct dmn_spec {
    char *name;        /* module name */
    char *invoke;      /* export to call, or NULL for WASI _start */
    char **args;       /* invoke's arguments, or WASI argv[1..] */
    uint32_t nargs;
    char **env;        /* WASI "K=V" */
    uint32_t nenv;
    proto_level level;
    uint64_t fuel, wall_ms;
    uint32_t max_pages, max_depth;
    bool codetracer;   /* write the CodeTracer directory live */
} dmn_spec;

void dmn_spec_close(dmn_spec *s);

/* Lifecycle of a run as meta.json and the API show it. */
typedef enum dmn_state {
    DMN_RUNNING,     /* thread running, or its events not yet persisted */
    DMN_DONE,        /* ended; status says how */
    DMN_INTERRUPTED, /* found in progress at start: the daemon had died */
} dmn_state;

struct dmn_run {
    dmn_server *srv;
    dmn_run *next; /* srv->runs, newest first */
    uint64_t id;
    char dir[512];

    /* Description (meta.json). Written by the loop thread only. */
    dmn_spec spec;
    char hash_hex[65];
    uint8_t hash[32];
    uint64_t created_ns, ended_ns; /* wall clock, ns since the epoch */
    dmn_state state;
    char status[16];     /* proto status name, "running", "interrupted" */
    char reason[32];     /* why it stopped early: cancelled, wall_time... */
    char error[512];     /* the VM's message when it failed */
    int32_t exit_code;
    json_t *results;     /* array of JSON values, or NULL */
    proto_counters counters;
    uint64_t events;     /* = next_seq once done */

    /* Run thread. The loop writes these before uv_thread_create and reads
     * them after uv_thread_join; the thread owns them in between (store
     * cancel excepted, see vm.h). */
    uv_thread_t thread;
    bool thread_started;
    vm_module *module;
    vm_store *store;
    vm_val *invoke_args; /* parsed at submit time */
    proto_ring *ring;
    dmn_tracer tracer;
    int vm_rc;            /* the VM's final return code */
    char vm_err[512];

    /* Loop side. */
    uv_async_t async;     /* the ring's wake */
    uv_timer_t wall_timer;
    int open_handles;     /* handles not yet closed; free at zero */
    bool draining_done;   /* the ring said END */
    bool cancel_requested;
    proto_event scratch;  /* decode target for proto_ring_next */
    proto_chunker chunker;
    uv_file fd, idx_fd;   /* stream.trace and its .idx; -1 when closed */
    uint64_t idx_off;
    proto_chunk *chunks;  /* sealed, waiting to be written (FIFO) */
    size_t nchunks, chunks_cap;
    bool writing;         /* one uv_fs_write in flight */
    int write_stage;      /* 0: chunk data, 1: index entry */
    uv_fs_t wreq;
    uv_buf_t wbuf;
    /* The index entry being written: a copy, because seal() may realloc
     * the chunks array (which holds the entry) while the write runs. */
    uint8_t idx_entry[PROTO_INDEX_ENTRY_LEN];
    uint64_t next_seq;    /* seq after the last event drained */
    /* Events drained but not yet known to be in the file, seqs
     * win_base .. win_base + win_len - 1 (one per seq: a loss event
     * stands for its whole range, see dmn_run_window_find). */
    dmn_evt **win;
    size_t win_len, win_cap;
    uint64_t win_base;
    dmn_sub *subs;        /* subscribers of this run */
    struct dmn_fanout *fan; /* ws.c: shared frames; NULL without subs */
    struct dmn_ct *ct;    /* CodeTracer output (ct_output.c), or NULL */
    /* Levels ops and lines: what expands the stream's op and step runs
     * (proto_code.h); built at submission, or from module.wasm on first
     * use for a run loaded from the data dir (dmn_run_code). */
    struct proto_code *code;
    bool code_failed;     /* that load failed: not tried again */
};

/* The module.wasm kept in the run's directory, loaded (not instantiated):
 * *bytes (malloc'd) must outlive *m. 0, or -1 with a message and nothing
 * left to free. */
int dmn_run_load_module(const dmn_run *r, uint8_t **bytes, vm_module **m,
                        char *err, size_t errlen);
/* The run's code map at levels ops and lines (NULL at calls, or when its
 * module cannot be loaded: readers then see op and step runs as they
 * are). Loop thread. */
const struct proto_code *dmn_run_code(dmn_run *r);

/* Persisted stream paths. */
void dmn_run_stream_path(const dmn_run *r, char *buf, size_t len);

/* Submit: parse, check, create and start. On failure returns an HTTP
 * status (400, 413, 429, 500, 503) with a message and error code. */
int dmn_run_submit(dmn_server *srv, const uint8_t *wasm, size_t len,
                   dmn_spec *spec, dmn_run **out, char *err, size_t errlen,
                   const char **code);
dmn_run *dmn_run_find(dmn_server *srv, uint64_t id);
/* Cancel a running run with a reason ("cancelled", "wall_time",
 * "shutdown"). Returns false if it is not running. */
bool dmn_run_cancel(dmn_run *r, const char *reason);
/* The run's description as JSON (new reference). */
json_t *dmn_run_json(const dmn_run *r);
bool dmn_run_is_live(const dmn_run *r);
/* Flush tick: seal open chunks of live runs, drain rings. */
void dmn_runs_tick(dmn_server *srv);
/* At start: list runs in the data dir, repair interrupted ones. */
int dmn_runs_load(dmn_server *srv, char *err, size_t errlen);
/* Close every run's handles and free them (shutdown, loop still runs). */
void dmn_runs_close_all(dmn_server *srv);
/* After the loop ran the close callbacks: join and free every run. */
void dmn_runs_free_all(dmn_server *srv);
/* Number of runs that are live (thread running or writes pending). */
uint32_t dmn_runs_live(const dmn_server *srv);
/* The run's events from `seq` on in the window (if any): index into
 * r->win, or -1 when seq is below the window or at/after next_seq. */
long dmn_run_window_find(const dmn_run *r, uint64_t seq);

/* The run thread's entry point (run.c). */
void dmn_run_thread(void *arg);

/* ---- WebSocket ----------------------------------------------------------- */

/*
 * A subscription is a position in the run's stream (ws.c): the frames it
 * is sent are shared with every subscriber of the same format at the same
 * position (the run's frame cache, struct dmn_fanout), so it holds no
 * events of its own; its memory is this struct and a file reader.
 */
struct dmn_sub {
    dmn_conn *conn;
    dmn_run *run;
    dmn_sub *next_in_conn, *next_in_run;
    bool binary;
    bool ended;         /* the end message went out */
    bool waiting;       /* at the run's tip: kick when an event comes */
    uint64_t next_seq;  /* next seq to send */
    proto_reader *reader; /* the stream file, or NULL */
    uint64_t reader_seq;  /* where reader stands (the seq it returns next) */
};

/* One WebSocket connection: lws per-session data (lws allocates it). */
struct dmn_conn {
    struct lws *wsi;
    dmn_server *srv;
    dmn_conn *next;      /* srv->conns */
    dmn_sub *subs;
    dmn_sub *rr;         /* where the next frame search starts */
    bool runs_sub;       /* subscribed to the list of runs */
    char **ctrl;         /* control messages (JSON text), FIFO */
    size_t ctrl_head, ctrl_len, ctrl_cap;
    char *rx;            /* a message being received in fragments */
    size_t rx_len;
    uint8_t *tx;         /* LWS_PRE + frame */
    size_t tx_cap;
};

int dmn_ws_established(dmn_conn *c, struct lws *wsi, dmn_server *srv);
void dmn_ws_closed(dmn_conn *c);
int dmn_ws_receive(dmn_conn *c, const void *in, size_t len, bool final);
int dmn_ws_writeable(dmn_conn *c);
/* A drained event: into the frame shared by the subscribers following the
 * run's tip (ws.c), and a wake-up for those waiting there. */
void dmn_ws_event(dmn_run *r, dmn_evt *e);
/* The run changed status (meta.json rewritten). */
void dmn_ws_run_changed(dmn_run *r);
/* The run goes away (shutdown): drop its subscribers. */
void dmn_ws_run_closing(dmn_run *r);
void dmn_ws_heartbeat(dmn_server *srv);
/* Ask for a writeable callback on every connection subscribed to r. */
void dmn_ws_kick_run(dmn_run *r);
/* Flush tick (timer phase, after the drains): fan-out pacing. */
void dmn_ws_tick(dmn_server *srv);

/* ---- HTTP ------------------------------------------------------------------ */

int dmn_http_callback(struct lws *wsi, enum lws_callback_reasons reason,
                      void *user, void *in, size_t len);
/* Whether wsi's request carries the token (always true without one). */
bool dmn_http_authorized(dmn_server *srv, struct lws *wsi);
/* lws per-session data size of the protocol. */
size_t dmn_http_session_size(void);

/* ---- the server ---------------------------------------------------------- */

struct dmn_server {
    dmn_config cfg;
    uv_loop_t loop;
    uv_signal_t sigint, sigterm;
    uv_timer_t tick;      /* flush tick and heartbeats */
    uint64_t last_heartbeat_ms;
    struct lws_context *lws;
    struct lws_vhost *vhost;
    dmn_run *runs;
    uint64_t next_id;
    dmn_conn *conns;
    bool stopping;        /* a signal came: refuse new work */
    bool lws_destroyed;
    char static_dir[1024];
    /* CodeTracer conversions (ct_output.c): one on the threadpool at a
     * time, the others wait in this FIFO. */
    struct dmn_ct *ct_queue;
    bool ct_converting;
    /* ws.c: fan-out pacing, so that viewers never slow a recording
     * (docs/daemon.md, "Recording has priority"): while a run is live and
     * the daemon's threads wait for a CPU, frames to subscribers get an
     * event budget. */
    uint64_t pace_rate;       /* events/s; 0: not paced */
    int64_t pace_left;        /* events left in this tick */
    uint64_t pace_sent;       /* events sent in frames since the last look */
    uint64_t pace_ns;         /* the last look (uv_hrtime) */
    uint64_t pace_delay_ns;   /* the threads' summed run delay then */
    bool pace_held;           /* a subscriber was held back */
};

void dmn_server_log(dmn_server *srv, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A run ended, or a write finished: see whether shutdown can complete. */
void dmn_server_check_stop(dmn_server *srv);
uint64_t dmn_wall_ns(void);

/* `traced serve` (and `traced` with only options). */
int dmn_serve_main(int argc, char **argv);

#endif /* TRACED_DMN_H */
