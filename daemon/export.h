/*
 * traced export: a native trace file -> a CodeTracer directory; and the
 * conversion itself, which the daemon also uses (daemon/ct_output.c).
 */
#ifndef TRACED_DAEMON_EXPORT_H
#define TRACED_DAEMON_EXPORT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* The `export` subcommand; argv[0] is "export". Returns the exit status. */
int dmn_export_main(int argc, char **argv);

/* What to convert. Strings are borrowed for the call. */
typedef struct dmn_ct_export_opts {
    const char *stream;      /* the native trace file */
    const char *dir;         /* the CodeTracer directory to (re)write */
    const char *module_path; /* the module that ran (its listing) */
    const char *program;     /* trace_metadata program; NULL: run_start's
                                module name */
    bool check_hash;         /* the module must be the stream's */
    /* Sources for files/ when the module has DWARF (proto_ct_opts):
     * a bundle directory looked in first, or NULL; and whether the paths
     * the DWARF names may be read on this host: the command does, the
     * daemon does not (an uploaded module's DWARF may name any file). */
    const char *sources;
    bool read_source_paths;
    /* A stream that is still being written: read it in follow mode,
     * waiting poll_ms whenever it has nothing new, until run_end, or until
     * `final` is set (by another thread, once the file is complete) and a
     * read after that finds nothing more. */
    bool follow;
    const atomic_bool *final;
    const atomic_bool *abort; /* set by another thread: stop at the next
                                 event and close the trace (frames still
                                 open get Error returns); may be NULL */
    unsigned poll_ms;         /* 0: 20 */
} dmn_ct_export_opts;

typedef struct dmn_ct_export_info {
    uint64_t events;  /* native events read */
    uint64_t records; /* CodeTracer records written */
    bool torn;        /* the stream ended in a torn chunk (crashed run) */
    bool aborted;     /* stopped by `abort` before the stream's end */
    uint32_t sources_copied, sources_missing; /* DWARF sources in files/,
                                                 and those not found */
} dmn_ct_export_info;

/*
 * Convert o->stream into the CodeTracer directory o->dir with
 * protocol/codetracer.c (the module from o->module_path, compared with the
 * stream's hash). Blocking: a thread of its own or the threadpool, never
 * the loop. 0, or a PROTO_ERR_* with err. trace.json is closed (valid
 * JSON) whenever the writer could be created, whatever the result.
 */
int dmn_ct_export(const dmn_ct_export_opts *o, dmn_ct_export_info *info,
                  char *err, size_t errlen);

#endif
