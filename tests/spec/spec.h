/*
 * traced-spec: runs the JSON command scripts that wabt's wast2json makes
 * from the official .wast spec tests, against the public VM API
 * (include/traced/vm.h) only. Private to tests/spec/.
 *
 *   spec_main.c    command line, wast2json conversion, one forked child per
 *                  file, xfail list, summary
 *   spec_script.c  one script: modules, registry, spectest host module,
 *                  the assert_* commands
 *   spec_values.c  JSON <-> vm_val: arguments, expected results, NaN
 *                  patterns, v128 lanes, printing
 */
#ifndef TRACED_SPEC_H
#define TRACED_SPEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <traced/vm.h>

/* Command counts of one file or of the whole run. */
typedef struct spec_counts {
    unsigned passed;
    unsigned failed;
    unsigned skipped;
    unsigned xfailed; /* failed, but listed in the xfail file */
    unsigned xpassed; /* listed in the xfail file, but passed */
} spec_counts;

/* One "file line" entry of the xfail list. */
typedef struct spec_xfail {
    char *file; /* display name, e.g. "core/i32.wast"; owned by the list */
    long line;
} spec_xfail;

typedef struct spec_options {
    bool verbose;
    uint32_t features;      /* VM_FEATURE_* from the command line */
    uint64_t fuel;          /* per-call instruction budget; 0 = unlimited */
    unsigned max_shown;     /* failures listed per file without -v */
    const spec_xfail *xfail; /* borrowed; may be NULL */
    size_t nxfail;
    const char *xfail_path; /* for messages; borrowed */
    /* --trace: run every call and instantiation through the tracer hooks
     * (1 calls, 2 ops too, 3 steps too: every offset of every module a
     * step point) with a tracer that checks they balance. */
    int trace;
} spec_options;

/*
 * Progress of the file being run. It lives in memory shared with the
 * parent so that, when the child dies in the VM, the parent still knows
 * the counts so far and the line of the command that was running.
 */
typedef struct spec_progress {
    spec_counts counts;
    long current_line; /* command in progress, 0 between commands */
    int done;          /* set by the child once its report is printed */
} spec_progress;

/*
 * Run one JSON script. json_path is the script; the modules it names are
 * read from the same directory. display is the name used in output and
 * in the xfail list. Prints the file's report line (and its failures) to
 * stdout. Returns 0 when the script ran (whatever the results), -1 when
 * it could not be read or parsed (message already printed).
 */
int spec_run_script(const spec_options *opt, const char *json_path,
                    const char *display, uint32_t features,
                    spec_progress *progress);

/* ---- values (spec_values.c) ------------------------------------------ */

/* Parse a JSON argument {"type": ..., "value": ...} into *out. */
int spec_val_parse(const json_t *j, vm_val *out, char *err, size_t errlen);

/* Does got match the expected JSON value (NaN patterns, lanes, refs)?
 * On a mismatch writes "expected X, got Y" to why. */
bool spec_val_match(const json_t *expected, const vm_val *got, char *why,
                    size_t whylen);

/* Print a value / a JSON value for messages. */
void spec_val_format(const vm_val *v, char *buf, size_t len);
void spec_json_format(const json_t *j, char *buf, size_t len);

/* The host pointer that stands for "ref.extern N" (never NULL). */
void *spec_extern_ref(uint64_t n);

#endif /* TRACED_SPEC_H */
