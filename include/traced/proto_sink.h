/*
 * traced protocol: a VM trace sink's entries made into a batch record
 * (docs/protocol.md, "Sink records").
 *
 * The VM writes calls, returns, op runs and step runs into its trace sink
 * as fixed-layout entries (vm.h, "Trace sinks": a word naming the kind,
 * function, depth and value slots, then the slots as they are), the
 * cheapest thing for the thread that runs the program. The owner pushes
 * them to its ring whole (proto_ring_push_sink); the ring's consumer
 * encodes them as the body of an ordinary batch record, with value types
 * from the module's function types (a proto_frames). The trace file and
 * every reader see batch records only.
 *
 * A proto_frames is built once per module, is immutable afterwards and
 * copies what it needs, so it outlives the module and several threads may
 * share one.
 */
#ifndef TRACED_PROTO_SINK_H
#define TRACED_PROTO_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "traced/vm.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct proto_frames proto_frames;

/* The parameter and result types of every function of m (imports
 * first), borrowed during the call. 0 with *out set (free it with
 * proto_frames_free) or PROTO_ERR_NOMEM. */
int proto_frames_new(const vm_module *m, proto_frames **out);
void proto_frames_free(proto_frames *f);

/* Bytes enough for the batch body of `len` bytes of sink entries. */
#define PROTO_SINK_BODY_BOUND(len) (3 * (size_t)(len) + 64)

/*
 * The sink entries raw[0..len) (vm.h, "Trace sinks") as a batch body
 * (docs/protocol.md, "Batches") into out[0..cap): records coded against
 * {seq delta 0, the batch's first time, prev_offset 0}. Values get their
 * types from f (may be NULL); a call or return whose function f does not
 * know, or whose slots do not match its type (a function of another
 * module), is recorded without values. *events gets the events the body
 * holds, *dt the time its last record is after the first time (the sum
 * of the time entries). 0, PROTO_ERR_MALFORMED (an entry of no known
 * kind or cut short, a valueless return with slots, a run of 0 or more
 * than 2^32 - 1 events: the message says which and where) or
 * PROTO_ERR_NOSPACE (cap below PROTO_SINK_BODY_BOUND(len)).
 */
int proto_sink_transcode(const proto_frames *f, const uint8_t *raw,
                         size_t len, uint8_t *out, size_t cap,
                         size_t *out_len, uint64_t *events, uint64_t *dt,
                         char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif /* TRACED_PROTO_SINK_H */
