/*
 * The VM's one allocation wrapper. Tests inject out-of-memory by setting
 * vm__alloc_fail_after: the Nth allocation from now (counting from 1)
 * and every one after it fail. It is a test hook, not configuration, and
 * the only mutable global in vm/; it is read without locks, so tests that
 * use it run single-threaded.
 */
#include <stdlib.h>
#include <string.h>

#include "module_int.h"

long vm__alloc_fail_after = -1; /* test hook; -1 = never fail */

static bool should_fail(void)
{
    if (vm__alloc_fail_after < 0)
        return false;
    if (vm__alloc_fail_after <= 1) {
        vm__alloc_fail_after = 0;
        return true;
    }
    vm__alloc_fail_after--;
    return false;
}

void *vm__malloc(size_t n)
{
    return should_fail() ? NULL : malloc(n ? n : 1);
}

void *vm__calloc(size_t n, size_t size)
{
    return should_fail() ? NULL : calloc(n ? n : 1, size ? size : 1);
}

void *vm__realloc(void *p, size_t n)
{
    return should_fail() ? NULL : realloc(p, n ? n : 1);
}

void vm__free(void *p)
{
    free(p);
}

char *vm__strndup(const char *s, size_t n)
{
    char *d = vm__malloc(n + 1);

    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}
