/* Error names and messages, generated from the VM_ERRORS table. */
#include <stdarg.h>
#include <stdio.h>

#include "module_int.h"

const char *vm_strerror(int err)
{
    switch (err) {
#define VM_X_MSG(name, value, msg)                                            \
    case value:                                                             \
        return msg;
        VM_ERRORS(VM_X_MSG)
#undef VM_X_MSG
    }
    return "unknown error";
}

const char *vm_err_name(int err)
{
    switch (err) {
#define VM_X_NAME(name, value, msg)                                           \
    case value:                                                             \
        return #name;
        VM_ERRORS(VM_X_NAME)
#undef VM_X_NAME
    }
    return "UNKNOWN";
}

bool vm_err_is_trap(int err)
{
    return err <= VM_ERR_TRAP_UNREACHABLE && err >= VM_ERR_TRAP_HOST;
}

const char *vm_valtype_name(vm_valtype t)
{
    switch (t) {
    case VM_I32: return "i32";
    case VM_I64: return "i64";
    case VM_F32: return "f32";
    case VM_F64: return "f64";
    case VM_V128: return "v128";
    case VM_FUNCREF: return "funcref";
    case VM_EXTERNREF: return "externref";
    }
    return "unknown";
}

int vm__error(char *err, size_t errlen, int code, const char *fmt, ...)
{
    va_list ap;

    if (err && errlen) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}
