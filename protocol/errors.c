/* Error names and messages, generated from the PROTO_ERRORS table. */
#include <stdio.h>

#include "proto_int.h"

const char *proto_strerror(int err)
{
    switch (err) {
#define PROTO_X_MSG(name, value, msg)                                       \
    case value:                                                             \
        return msg;
        PROTO_ERRORS(PROTO_X_MSG)
#undef PROTO_X_MSG
    }
    return "unknown error";
}

const char *proto_err_name(int err)
{
    switch (err) {
#define PROTO_X_NAME(name, value, msg)                                      \
    case value:                                                             \
        return #name;
        PROTO_ERRORS(PROTO_X_NAME)
#undef PROTO_X_NAME
    }
    return "UNKNOWN";
}

int proto__error(char *err, size_t errlen, int code, const char *fmt, ...)
{
    va_list ap;

    if (err && errlen) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}
