/* The protocol unit suites, one per source file (see main.c). */
#ifndef TRACED_TEST_PROTO_SUITES_H
#define TRACED_TEST_PROTO_SUITES_H

#include <check.h>

Suite *event_suite(void);
Suite *binary_suite(void);
Suite *json_suite(void);
Suite *ring_suite(void);
Suite *tracefile_suite(void);
Suite *codetracer_suite(void);
Suite *raw_suite(void);
Suite *lines_suite(void);
Suite *batch_suite(void);
Suite *runs_suite(void);
Suite *sink_suite(void);

#endif
