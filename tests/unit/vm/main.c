/*
 * Runner for the vm unit suites (Check, fork mode). Each tests/unit/vm/
 * file defines one suite; they are weak here so the runner links while a
 * stage is still being written, and a missing suite is reported, not
 * silently passed over.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

Suite *decode_suite(void) __attribute__((weak));
Suite *validate_suite(void) __attribute__((weak));
Suite *compile_suite(void) __attribute__((weak));
Suite *interp_suite(void) __attribute__((weak));
Suite *runtime_suite(void) __attribute__((weak));
Suite *simd_suite(void) __attribute__((weak));
Suite *listing_suite(void) __attribute__((weak));
Suite *eh_suite(void) __attribute__((weak));
Suite *trace_suite(void) __attribute__((weak));
Suite *dwarf_suite(void) __attribute__((weak));

int main(void)
{
    Suite *(*suites[])(void) = {decode_suite, validate_suite, compile_suite,
                                interp_suite, runtime_suite, listing_suite,
                                eh_suite, simd_suite, trace_suite,
                                dwarf_suite};
    const char *names[] = {"decode", "validate", "compile", "interp",
                           "runtime", "listing", "eh", "simd", "trace",
                           "dwarf"};
    SRunner *sr = NULL;
    int failed, missing = 0;

    for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++) {
        if (!suites[i]) {
            fprintf(stderr, "test_vm: suite %s is not built\n", names[i]);
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
