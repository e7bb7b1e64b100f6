/*
 * The protocol module's one allocation wrapper. Tests inject out-of-memory
 * by setting proto__alloc_fail_after: the Nth allocation from now
 * (counting from 1) and every one after it fail. It is a test hook, not
 * configuration, and the only mutable global in protocol/; it is read
 * without locks, so tests that use it run single-threaded.
 */
#include <stdbool.h>
#include <stdlib.h>

#include "proto_int.h"

long proto__alloc_fail_after = -1; /* test hook; -1 = never fail */

static bool should_fail(void)
{
    if (proto__alloc_fail_after < 0)
        return false;
    if (proto__alloc_fail_after <= 1) {
        proto__alloc_fail_after = 0;
        return true;
    }
    proto__alloc_fail_after--;
    return false;
}

void *proto__malloc(size_t n)
{
    return should_fail() ? NULL : malloc(n ? n : 1);
}

void *proto__calloc(size_t n, size_t size)
{
    return should_fail() ? NULL : calloc(n ? n : 1, size ? size : 1);
}

void *proto__realloc(void *p, size_t n)
{
    return should_fail() ? NULL : realloc(p, n ? n : 1);
}

/* n is rounded up to a multiple of align, as aligned_alloc requires. */
void *proto__aligned_alloc(size_t align, size_t n)
{
    if (should_fail())
        return NULL;
    n = (n + align - 1) / align * align;
    return aligned_alloc(align, n ? n : align);
}

void proto__free(void *p)
{
    free(p);
}
