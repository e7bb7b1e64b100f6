/*
 * Sample events of every type with edge values, shared by the binary,
 * JSON, ring and trace file tests.
 */
#ifndef TRACED_TEST_PROTO_SAMPLES_H
#define TRACED_TEST_PROTO_SAMPLES_H

#include "traced/proto.h"

/* Fills evs[0..n) with a consecutive run (seq 0..) of sample events and
 * returns n (at most SAMPLES_MAX). The events borrow static data. */
#define SAMPLES_MAX 64
size_t samples_fill(proto_event *evs);

/* The trace file tests' fixture: a fresh directory /tmp/traced-TAG-XXXXXX
 * in dir (its path; at least 64 bytes) and path = dir/run.trace (at
 * least 128 bytes); samples_tmp_remove deletes the directory and all in
 * it (a message on stderr if it cannot). */
void samples_tmp_make(const char *tag, char *dir, size_t dirlen, char *path,
                      size_t pathlen);
void samples_tmp_remove(const char *dir);

#endif
