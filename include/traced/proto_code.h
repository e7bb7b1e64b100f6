/*
 * traced protocol: the expansion of op and step runs against the module
 * that was run (docs/protocol.md section 2, "Op runs" and "Step runs").
 *
 * At level ops the VM records runs of executed instructions that follow
 * each other in the module binary as one `ops` event {offset, count}; at
 * level lines, runs of consecutive step points as one `steps` event
 * {point, count}. A reader gets the op and step events back from the
 * module, as Intel PT's decoder gets a branch trace's instructions from
 * the binary: the instruction after instruction i of a function body is
 * i + 1, and step point i is row i of the module's DWARF statement rows.
 *
 * A proto_code is built once per module, is immutable afterwards and
 * does not refer to the module (it copies what it needs), so several
 * threads may share one. The trace file reader and the raw-record
 * iterator expand with one (proto_reader_set_code,
 * proto_raw_events_set_code); the CodeTracer writer builds its own.
 */
#ifndef TRACED_PROTO_CODE_H
#define TRACED_PROTO_CODE_H

#include <stddef.h>
#include <stdint.h>

#include "traced/proto.h"
#include "traced/vm.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct proto_code proto_code;

/*
 * From a validated module m (borrowed during the call): its instruction
 * table (vm_listing.h) and, when the module has DWARF with statement rows,
 * its step points' rows (vm_debug_steps: row i is step point i, the table
 * the daemon gives the VM). A module without DWARF, or whose DWARF the
 * reader cannot use, expands op runs only. 0 with *out set (free it with
 * proto_code_free), PROTO_ERR_NOMEM, or PROTO_ERR_ARG (m cannot be
 * listed; the message says why).
 */
int proto_code_new(const vm_module *m, proto_code **out, char *err,
                   size_t errlen);
void proto_code_free(proto_code *c);

/* Instructions and step points (0 without DWARF) the map knows. */
uint32_t proto_code_insn_count(const proto_code *c);
uint32_t proto_code_point_count(const proto_code *c);

/*
 * The i-th (0-based, i < run->as.*.count) event of run (an ops or steps
 * event) into out (initialised; op and step events have no storage): an
 * op event {opcode, offset} of the instruction insn_at(run offset) + i, or
 * a step event {file, line, column} of step point run point + i (file
 * indexes the DWARF file table, which is run_start's at level lines);
 * seq = run seq + i, t = run t. The whole run must fit the module: its
 * offset is an instruction's first byte and its count instructions lie
 * in that instruction's function body, or its count points exist; else
 * PROTO_ERR_MALFORMED with a message naming the seq and the offset or
 * point. PROTO_ERR_ARG for another event type or i out of range.
 */
int proto_code_expand(const proto_code *c, const proto_event *run,
                      uint64_t i, proto_event *out, char *err,
                      size_t errlen);

#ifdef __cplusplus
}
#endif

#endif /* TRACED_PROTO_CODE_H */
