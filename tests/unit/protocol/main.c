/*
 * Runner for the protocol unit suites (Check, fork mode). Each
 * tests/unit/protocol/ file defines one suite; they are weak here so a
 * missing suite is reported, not silently passed over.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

Suite *event_suite(void) __attribute__((weak));
Suite *binary_suite(void) __attribute__((weak));
Suite *json_suite(void) __attribute__((weak));
Suite *ring_suite(void) __attribute__((weak));
Suite *tracefile_suite(void) __attribute__((weak));
Suite *codetracer_suite(void) __attribute__((weak));
Suite *raw_suite(void) __attribute__((weak));
Suite *lines_suite(void) __attribute__((weak));
Suite *batch_suite(void) __attribute__((weak));
Suite *runs_suite(void) __attribute__((weak));
Suite *sink_suite(void) __attribute__((weak));

int main(void)
{
    Suite *(*suites[])(void) = {event_suite, binary_suite, json_suite,
                                ring_suite, tracefile_suite,
                                codetracer_suite, raw_suite, lines_suite,
                                batch_suite, runs_suite, sink_suite};
    const char *names[] = {"event", "binary", "json", "ring", "tracefile",
                           "codetracer", "raw", "lines", "batch", "runs",
                           "sink"};
    SRunner *sr = NULL;
    int failed, missing = 0;

    for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++) {
        if (!suites[i]) {
            fprintf(stderr, "test_proto: suite %s is not built\n", names[i]);
            missing++;
            continue;
        }
        if (!sr)
            sr = srunner_create(suites[i]());
        else
            srunner_add_suite(sr, suites[i]());
    }
    if (!sr)
        return EXIT_FAILURE;
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 && missing == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
