/*
 * traced export STREAM --codetracer DIR --module FILE.wasm [--sources DIR]
 *
 * Converts a native trace file (any run, finished or cut short by a crash)
 * into a CodeTracer trace directory with protocol/codetracer.c. The
 * conversion itself, dmn_ct_export, is shared with the daemon, which runs
 * it on a growing stream (a run recorded with CodeTracer output) and on
 * finished ones (a download; daemon/ct_output.c). The module
 * gives the listing that the trace points into and, when it has DWARF, the
 * sources (copied into files/ from --sources DIR or from where the DWARF
 * says they are); its SHA-256 must match the one the stream recorded
 * unless --no-hash-check is given.
 *
 * Exit status: 0 done, 1 failed (unreadable input, mismatched module,
 * write error), 2 usage.
 */
#include <errno.h>
#include <stdatomic.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <traced/proto.h>
#include <traced/proto_codetracer.h>
#include <traced/vm.h>

#include "cli_values.h"
#include "export.h"

#define EXIT_USAGE 2

static void export_usage(FILE *f)
{
    fprintf(f,
            "usage: traced export STREAM --codetracer DIR --module FILE.wasm\n"
            "                     [--program NAME] [--no-hash-check]\n"
            "                     [--sources SRCDIR]\n"
            "  Convert the native trace file STREAM into a CodeTracer trace\n"
            "  directory DIR (trace.json, trace_metadata.json,\n"
            "  trace_paths.json, files/). FILE.wasm is the module that ran;\n"
            "  its hash must match the stream's unless --no-hash-check.\n"
            "  A module built with -g gets its sources in files/: looked up\n"
            "  in SRCDIR by path suffix first, else read where its DWARF\n"
            "  says they are; those found nowhere are listed in\n"
            "  trace_metadata.json missing_sources.\n");
}


/* ---- the conversion, shared with the daemon ---------------------------------- */

static void pause_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

    nanosleep(&ts, NULL);
}

static bool flag_set(const atomic_bool *f)
{
    return f && atomic_load_explicit(f, memory_order_acquire);
}

/* Open the stream; a follow reader may have to wait for the header. */
static int open_stream(const dmn_ct_export_opts *o, proto_reader **r,
                       char *err, size_t errlen)
{
    int rc;

    for (;;) {
        rc = proto_reader_new(o->stream, o->follow ? PROTO_READER_FOLLOW : 0,
                              r, err, errlen);
        if (rc != PROTO_ERR_AGAIN || flag_set(o->abort) ||
            flag_set(o->final))
            return rc;
        pause_ms(o->poll_ms ? o->poll_ms : 20);
    }
}

int dmn_ct_export(const dmn_ct_export_opts *o, dmn_ct_export_info *info,
                  char *err, size_t errlen)
{
    static const uint8_t zero[32];
    vm_load_options lo = {.features = VM_FEATURE_TAIL_CALL |
                                      VM_FEATURE_EXCEPTIONS};
    proto_ct_opts copts = {.program = o->program,
                           .source_dir = o->sources,
                           .read_source_paths = o->read_source_paths};
    proto_reader *r = NULL;
    proto_ct_writer *w = NULL;
    vm_module *m = NULL;
    uint8_t *bytes = NULL, hash[32];
    const proto_file_header *h;
    proto_event ev;
    bool saw_final = false;
    size_t len = 0;
    int rc, wrc;

    memset(info, 0, sizeof *info);
    if (cli_read_file(o->module_path, &bytes, &len) < 0) {
        snprintf(err, errlen, "%s: %s", o->module_path, strerror(errno));
        return PROTO_ERR_IO;
    }
    proto_sha256(bytes, len, hash);
    rc = vm_module_new(bytes, len, &lo, &m, err, errlen);
    free(bytes);
    if (rc) {
        char msg[300];

        snprintf(msg, sizeof msg, "%s: %s", o->module_path, err);
        snprintf(err, errlen, "%s", msg);
        return PROTO_ERR_ARG;
    }
    rc = open_stream(o, &r, err, errlen);
    if (rc)
        goto done;
    h = proto_reader_header(r);
    if (o->check_hash && memcmp(h->module_hash, zero, 32) != 0 &&
        memcmp(h->module_hash, hash, 32) != 0) {
        char want[65], got[65];

        proto_hex(h->module_hash, 32, want);
        proto_hex(hash, 32, got);
        snprintf(err, errlen, "the stream was recorded from module %s, not "
                 "this one (%s)", want, got);
        rc = PROTO_ERR_ARG;
        goto done;
    }
    rc = proto_ct_writer_new(o->dir, m, &copts, &w, err, errlen);
    if (rc)
        goto done;
    proto_event_init(&ev);
    for (;;) {
        if (flag_set(o->abort)) {
            info->aborted = true;
            break;
        }
        rc = proto_reader_next(r, &ev, err, errlen);
        if (rc == PROTO_ERR_AGAIN) {
            /* Caught up with a growing file: put what we have on disk,
             * then wait for more. Once the file is final, one more read
             * (that starts after it was) decides that this is its end. */
            rc = proto_ct_writer_flush(w, err, errlen);
            if (rc)
                break;
            if (saw_final)
                break;
            if (flag_set(o->final)) {
                saw_final = true;
                continue;
            }
            pause_ms(o->poll_ms ? o->poll_ms : 20);
            continue;
        }
        if (rc == PROTO_ERR_END)
            break;
        if (rc == PROTO_ERR_TORN) {
            info->torn = true;
            rc = 0;
            break;
        }
        if (rc)
            break;
        info->events++;
        if (ev.type == PROTO_RUN_START && o->check_hash &&
            memcmp(ev.as.run_start.hash, zero, 32) != 0 &&
            memcmp(ev.as.run_start.hash, hash, 32) != 0) {
            snprintf(err, errlen, "the stream's run_start names another "
                     "module (hash mismatch)");
            rc = PROTO_ERR_ARG;
            break;
        }
        rc = proto_ct_writer_add(w, &ev, err, errlen);
        if (rc || ev.type == PROTO_RUN_END)
            break;
    }
    if (rc == PROTO_ERR_END || rc == PROTO_ERR_AGAIN)
        rc = 0;
    proto_event_close(&ev);
    info->records = proto_ct_writer_records(w);
    proto_ct_writer_sources(w, &info->sources_copied, &info->sources_missing);
    wrc = proto_ct_writer_free(w, rc ? NULL : err, rc ? 0 : errlen);
    if (!rc)
        rc = wrc;
done:
    proto_reader_free(r);
    vm_module_free(m);
    return rc;
}

int dmn_export_main(int argc, char **argv)
{
    const char *stream = NULL, *dir = NULL, *module_path = NULL;
    const char *program = NULL, *sources = NULL;
    bool check_hash = true;
    dmn_ct_export_opts eo = {0};
    dmn_ct_export_info info;
    char err[512] = "";
    int rc;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            export_usage(stdout);
            return 0;
        } else if (strcmp(a, "--codetracer") == 0 && i + 1 < argc) {
            dir = argv[++i];
        } else if (strcmp(a, "--module") == 0 && i + 1 < argc) {
            module_path = argv[++i];
        } else if (strcmp(a, "--program") == 0 && i + 1 < argc) {
            program = argv[++i];
        } else if (strcmp(a, "--sources") == 0 && i + 1 < argc) {
            sources = argv[++i];
        } else if (strcmp(a, "--no-hash-check") == 0) {
            check_hash = false;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "traced export: unknown or incomplete option "
                            "\"%s\"\n", a);
            export_usage(stderr);
            return EXIT_USAGE;
        } else if (!stream) {
            stream = a;
        } else {
            fprintf(stderr, "traced export: unexpected argument \"%s\"\n", a);
            return EXIT_USAGE;
        }
    }
    if (!stream || !dir || !module_path) {
        export_usage(stderr);
        return EXIT_USAGE;
    }
    eo.stream = stream;
    eo.dir = dir;
    eo.module_path = module_path;
    eo.program = program;
    eo.check_hash = check_hash;
    eo.sources = sources;
    eo.read_source_paths = true;
    rc = dmn_ct_export(&eo, &info, err, sizeof err);
    if (rc) {
        fprintf(stderr, "traced export: %s\n", err);
        return 1;
    }
    fprintf(stderr,
            "traced export: %" PRIu64 " events -> %" PRIu64
            " CodeTracer records in %s%s\n",
            info.events, info.records, dir,
            info.torn ? " (the stream ended in a torn chunk)" : "");
    if (info.sources_missing)
        fprintf(stderr,
                "traced export: warning: %" PRIu32 " of the %" PRIu32
                " source files the DWARF names were not found (listed in "
                "trace_metadata.json missing_sources)\n",
                info.sources_missing,
                info.sources_copied + info.sources_missing);
    return 0;
}
