/*
 * The protocol module's one allocation wrapper. Tests inject out-of-memory
 * by setting proto__alloc_fail_after: the Nth allocation from now
 * (counting from 1) and every one after it fail. It is a test hook, not
 * configuration, and the only mutable global in protocol/; it is read
 * without locks, so tests that use it run single-threaded.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

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

/*
 * Zeroed memory straight from the kernel, in pages it maps on first touch:
 * a big buffer of which a short run uses a little costs only what it
 * touches (a page fault here is ~10 us: 4 MiB touched up front took
 * ~11 ms, a fifth of a short recorded run). Ranges of 2 MiB and up are
 * aligned to 2 MiB and advised as huge pages where the kernel has them,
 * so that touching them costs a fault per 2 MiB. Free with proto__unmap
 * and the same n.
 */
#define HUGE_PAGE ((size_t)2 << 20)

void *proto__map(size_t n)
{
    size_t extra = n >= HUGE_PAGE ? HUGE_PAGE : 0;
    uint8_t *p, *start;

    if (should_fail())
        return NULL;
    p = mmap(NULL, n + extra, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    if (!extra)
        return p;
    /* Keep the 2 MiB-aligned n bytes, give back the rest. */
    start = (uint8_t *)(((uintptr_t)p + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1));
    if (start > p)
        munmap(p, (size_t)(start - p));
    if (start + n < p + n + extra)
        munmap(start + n, (size_t)(p + n + extra - (start + n)));
#ifdef MADV_HUGEPAGE
    madvise(start, n, MADV_HUGEPAGE); /* advice: failure changes nothing */
#endif
    return start;
}

void proto__unmap(void *p, size_t n)
{
    if (p)
        munmap(p, n);
}
