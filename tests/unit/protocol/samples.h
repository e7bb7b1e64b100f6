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

#endif
