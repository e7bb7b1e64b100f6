/* Debug-info test program (tests/debug/README.md): parameters of many C
 * types. Line numbers and types are asserted by
 * tests/unit/vm/test_dwarf.c: keep them when editing. */
#include <stdbool.h>
#include <stdio.h>

typedef unsigned int counter_t;

struct point {
    int x, y;
};

enum colour { RED, GREEN, BLUE };

__attribute__((noinline)) static double mix(int a, unsigned b, long long c,
                                            float d, double e, bool f,
                                            char g, const char *h)
{
    double r = a + b + c + d + e;
    if (f)
        r += g;
    return r + h[0];
}

__attribute__((noinline)) static counter_t count(const struct point *p,
                                                 enum colour c,
                                                 volatile counter_t n)
{
    return (counter_t)(p->x + p->y) + c + n;
}

int main(int argc, char **argv)
{
    struct point p = {3, argc};
    double v = mix(-argc, 2u, 3ll, 0.5f, 0.25, argc > 0, 'A', argv[0]);
    printf("mix %.2f count %u\n", v, count(&p, BLUE, 7));
    return 0;
}
