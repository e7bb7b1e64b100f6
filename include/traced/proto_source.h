/*
 * traced protocol: the source-level view of a run's events, for
 * consumers that have the run's module (tracectl, exporters): function
 * and parameter names from the name section, and the source types of
 * call arguments and return values from the module's DWARF (base types:
 * signed and unsigned integers, float, double, bool, char; pointers as
 * addresses). The events themselves keep raw wasm values; this only
 * reads them (docs/protocol.md, "Source view").
 */
#ifndef TRACED_PROTO_SOURCE_H
#define TRACED_PROTO_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "traced/proto.h"
#include "traced/vm.h"
#include "traced/vm_debug.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct proto_source proto_source;

/*
 * The source view of module m (borrowed: it must outlive the view). A
 * module without DWARF (or with DWARF the reader rejects) still gets
 * names; proto_source_has_debug says which. 0, or PROTO_ERR_NOMEM.
 */
int proto_source_new(const vm_module *m, proto_source **out, char *err,
                     size_t errlen);
void proto_source_free(proto_source *s);
bool proto_source_has_debug(const proto_source *s);

/* Function func's name: name section, else DWARF subprogram, else NULL;
 * borrowed from the module or the view. */
const char *proto_source_func_name(const proto_source *s, uint32_t func);

/*
 * Value i of function func's arguments (result false) or results (result
 * true), v being its wasm value: the parameter's name (DWARF, else the
 * name section's local name) and, when DWARF types it, its source type
 * and v read as that type. false when nothing is known.
 */
bool proto_source_value(const proto_source *s, uint32_t func, bool result,
                        uint32_t i, const proto_val *v,
                        proto_source_val *out);

/* The module's DWARF, or NULL without (usable) debug info; borrowed from
 * s, lives until proto_source_free. */
const vm_debug *proto_source_debug(const proto_source *s);

/* The DWARF type (vm_debug_type index, before typedefs are followed) of
 * value i of func's arguments or results, as proto_source_value reads it;
 * VM_DEBUG_NONE when DWARF does not type it. */
uint32_t proto_source_value_type(const proto_source *s, uint32_t func,
                                 bool result, uint32_t i);

/* JSON options that name functions and type values through s. */
void proto_source_json_opts(const proto_source *s, proto_json_opts *o);

#ifdef __cplusplus
}
#endif

#endif /* TRACED_PROTO_SOURCE_H */
