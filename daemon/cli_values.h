/*
 * Command-line values: parse an argument for a parameter of a known type,
 * print a result the way wabt's tools do ("i32:832040"), read a whole
 * file. Shared by the `traced` subcommands (run, export, debuginfo).
 */
#ifndef TRACED_CLI_VALUES_H
#define TRACED_CLI_VALUES_H

#include <stddef.h>
#include <stdint.h>

#include <traced/vm.h>

/*
 * Parse text as a value of type `type`. Accepted: decimal integers with
 * an optional sign, 0x hex, floats as C's strtod reads them (1.5, 1e-3,
 * 0x1p-3, inf, nan) plus nan:0xPAYLOAD, "null" for references. A "TYPE:"
 * prefix (i32:30) must name `type`. Integers take the range of both the
 * signed and the unsigned reading (i32: -2^31 .. 2^32-1). Returns 0, or
 * VM_ERR_ARG with the reason in err.
 */
int cli_value_parse(const char *text, vm_valtype type, vm_val *out,
                    char *err, size_t errlen);

/*
 * Format "TYPE:VALUE" into buf as wabt's wasm-interp spells it: integers
 * as their unsigned reading, floats with enough digits to round-trip
 * (%.9g / %.17g), NaN as "nan" or "-nan", infinities as "inf" / "-inf",
 * v128 as "v128 i32x4:0x... 0x... 0x... 0x...", null references as
 * "funcref:0". Returns what snprintf returns.
 */
int cli_value_format(const vm_val *v, char *buf, size_t len);

/*
 * Read the whole file at path into a malloc'd buffer (*out, *len; the
 * caller frees it). Returns 0, or -1 with errno set (fopen's, ENOMEM, EIO).
 */
int cli_read_file(const char *path, uint8_t **out, size_t *len);

#endif /* TRACED_CLI_VALUES_H */
