/*
 * traced protocol: the CodeTracer trace writer. It consumes the events of
 * one run, in seq order, and writes a CodeTracer trace directory in the
 * runtime_tracing JSON format:
 *
 *     DIR/trace.json            the event records, written as they come
 *     DIR/trace_metadata.json   program, args, workdir
 *     DIR/trace_paths.json      the paths that Path records registered
 *     DIR/files/NAME.wat        the module's generated listing, which the
 *                               Function and Step records point into
 *     DIR/files/SRC...          with DWARF: copies of the sources, under
 *                               their paths (files/ + the DWARF path)
 *
 * docs/codetracer.md gives the mapping from our events to CodeTracer
 * records and the on-disk layout that makes repair possible.
 *
 * trace.json is written incrementally through a buffer: "[", then one
 * record per line, each followed by ",". Closing the writer replaces the
 * last "," by "]", so the file is valid JSON once the writer is freed. A
 * file left open by a crash is closed by proto_ct_repair.
 *
 * The writer is used by one thread at a time (the consumer of the ring, or
 * the export command). Errors as in traced/proto.h.
 */
#ifndef TRACED_PROTO_CODETRACER_H
#define TRACED_PROTO_CODETRACER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "traced/proto.h"
#include "traced/vm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* TypeKind and EventLogKind values of the format (runtime_tracing's
 * src/types.rs, serialised as numbers). Only the ones we write. */
enum {
    PROTO_CT_TYPE_INT = 7,
    PROTO_CT_TYPE_FLOAT = 8,
    PROTO_CT_TYPE_CHAR = 11,
    PROTO_CT_TYPE_BOOL = 12,
    PROTO_CT_TYPE_RAW = 16,
    PROTO_CT_TYPE_TUPLE = 27,
    PROTO_CT_TYPE_NONE = 30,
};
enum {
    PROTO_CT_EVENT_WRITE = 0,
    PROTO_CT_EVENT_ERROR = 11,
    PROTO_CT_EVENT_TRACE_LOG = 12,
};

typedef struct proto_ct_writer proto_ct_writer;

typedef struct proto_ct_opts {
    const char *program;   /* trace_metadata program; NULL: the module name
                            * from run_start. Borrowed during _new. */
    const char *workdir;   /* trace_metadata workdir; NULL: getcwd() */
    size_t buffer_bytes;   /* trace.json write buffer; 0 = 64 KiB */
    /* Where the copies of the sources in files/ come from, for a module
     * with DWARF (docs/codetracer.md, "Sources"). source_dir: a source
     * bundle, looked in first: a DWARF path's longest suffix found under
     * it is its copy (NULL: none). read_source_paths: else read the
     * absolute paths the DWARF names on this host; only for a module the
     * caller trusts, as they may name any file (the daemon leaves it
     * off). Sources found in neither are listed in trace_metadata.json
     * "missing_sources". source_dir is borrowed during _new. */
    const char *source_dir;
    bool read_source_paths;
} proto_ct_opts;

/*
 * Create DIR (and DIR/files) if needed and start DIR/trace.json, replacing
 * a previous trace there. m is the run's module: it gives the listing,
 * function names and parameter names and, when it has DWARF, the source
 * paths, declarations and value types; it must outlive the writer. The
 * sources are copied into DIR/files here. opts may be NULL.
 */
int proto_ct_writer_new(const char *dir, const vm_module *m,
                        const proto_ct_opts *opts, proto_ct_writer **out,
                        char *err, size_t errlen);

/* Consume the next event of the run. Events after run_end are ignored.
 * ops and steps events are expanded against the module (proto_code.h),
 * so they write what their op and step events would; one that does not
 * fit the module is PROTO_ERR_MALFORMED, writes nothing and leaves the
 * writer usable. PROTO_ERR_IO when a write fails (the writer then stays
 * failed). */
int proto_ct_writer_add(proto_ct_writer *w, const proto_event *ev, char *err,
                        size_t errlen);

/* Write out the buffered records (complete records only). */
int proto_ct_writer_flush(proto_ct_writer *w, char *err, size_t errlen);

/* Records written to trace.json so far (buffered ones included). */
uint64_t proto_ct_writer_records(const proto_ct_writer *w);

/* Source files of the module's DWARF copied into files/, and those that
 * could not be (missing_sources). Both 0 for a module without DWARF. */
void proto_ct_writer_sources(const proto_ct_writer *w, uint32_t *copied,
                             uint32_t *missing);

/*
 * Finish and free. If the run did not end (no run_end event: the stream
 * was cut, or the run was abandoned) every open frame gets a Return with
 * an Error value first. Closes trace.json with "]". Returns the first
 * error of the writer's life, 0 if none. w may be NULL.
 */
int proto_ct_writer_free(proto_ct_writer *w, char *err, size_t errlen);

typedef struct proto_ct_repair_info {
    uint64_t records;   /* complete records kept */
    uint64_t cut_bytes; /* bytes of an incomplete tail removed */
    bool was_open;      /* the file needed closing */
} proto_ct_repair_info;

/*
 * Close DIR/trace.json if a crash left it open: keep every complete
 * record, drop an incomplete last one, append "]". A file that is already
 * closed is left alone. PROTO_ERR_NOT_FOUND when there is no trace.json,
 * PROTO_ERR_CORRUPT when it does not look like one of ours. info may be
 * NULL.
 */
int proto_ct_repair(const char *dir, proto_ct_repair_info *info, char *err,
                    size_t errlen);

typedef struct proto_ct_export_info {
    uint64_t events;  /* native events read */
    uint64_t records; /* CodeTracer records written */
    bool torn;        /* the stream ended in a torn chunk (crashed run) */
    uint32_t sources_copied, sources_missing; /* proto_ct_writer_sources */
} proto_ct_export_info;

/*
 * Convert the native trace file at stream_path into a CodeTracer directory
 * dir. m is the module that was run; when module_hash is not NULL it must
 * equal the hash recorded in the stream (header and run_start), else
 * PROTO_ERR_ARG. info may be NULL.
 */
int proto_ct_export(const char *stream_path, const char *dir,
                    const vm_module *m, const uint8_t *module_hash,
                    const proto_ct_opts *opts, proto_ct_export_info *info,
                    char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif /* TRACED_PROTO_CODETRACER_H */
