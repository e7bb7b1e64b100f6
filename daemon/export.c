/*
 * traced export STREAM --codetracer DIR --module FILE.wasm
 *
 * Converts a native trace file (any run, finished or cut short by a crash)
 * into a CodeTracer trace directory with protocol/codetracer.c. The module
 * gives the listing that the trace points into; its SHA-256 must match the
 * one the stream recorded unless --no-hash-check is given.
 *
 * Exit status: 0 done, 1 failed (unreadable input, mismatched module,
 * write error), 2 usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <traced/proto.h>
#include <traced/proto_codetracer.h>
#include <traced/vm.h>

#include "export.h"

#define EXIT_USAGE 2

static void export_usage(FILE *f)
{
    fprintf(f,
            "usage: traced export STREAM --codetracer DIR --module FILE.wasm\n"
            "                     [--program NAME] [--no-hash-check]\n"
            "  Convert the native trace file STREAM into a CodeTracer trace\n"
            "  directory DIR (trace.json, trace_metadata.json,\n"
            "  trace_paths.json, files/). FILE.wasm is the module that ran;\n"
            "  its hash must match the stream's unless --no-hash-check.\n");
}

static int slurp(const char *path, uint8_t **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0, r;

    if (!f)
        return -1;
    do {
        if (n == cap) {
            uint8_t *nb = realloc(buf, cap = cap ? cap * 2 : 65536);

            if (!nb) {
                free(buf);
                fclose(f);
                errno = ENOMEM;
                return -1;
            }
            buf = nb;
        }
        r = fread(buf + n, 1, cap - n, f);
        n += r;
    } while (r > 0);
    if (ferror(f)) {
        free(buf);
        fclose(f);
        errno = EIO;
        return -1;
    }
    fclose(f);
    *out = buf;
    *len = n;
    return 0;
}

int dmn_export_main(int argc, char **argv)
{
    const char *stream = NULL, *dir = NULL, *module_path = NULL;
    proto_ct_opts opts = {0};
    bool check_hash = true;
    vm_load_options lo = {.features = VM_FEATURE_TAIL_CALL |
                                      VM_FEATURE_EXCEPTIONS};
    proto_ct_export_info info;
    uint8_t *bytes = NULL, hash[32];
    size_t len = 0;
    vm_module *m = NULL;
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
            opts.program = argv[++i];
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
    if (slurp(module_path, &bytes, &len) < 0) {
        fprintf(stderr, "traced export: %s: %s\n", module_path,
                strerror(errno));
        return 1;
    }
    proto_sha256(bytes, len, hash);
    rc = vm_module_new(bytes, len, &lo, &m, err, sizeof err);
    free(bytes);
    if (rc) {
        fprintf(stderr, "traced export: %s: %s\n", module_path, err);
        return 1;
    }
    rc = proto_ct_export(stream, dir, m, check_hash ? hash : NULL, &opts,
                         &info, err, sizeof err);
    vm_module_free(m);
    if (rc) {
        fprintf(stderr, "traced export: %s\n", err);
        return 1;
    }
    fprintf(stderr,
            "traced export: %" PRIu64 " events -> %" PRIu64
            " CodeTracer records in %s%s\n",
            info.events, info.records, dir,
            info.torn ? " (the stream ended in a torn chunk)" : "");
    return 0;
}
