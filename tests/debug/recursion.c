/* Debug-info test program (tests/debug/README.md): recursion, a loop and
 * printf. Line numbers are asserted by tests/unit/vm/test_dwarf.c: keep
 * them when editing (add lines only at the end). */
#include <stdio.h>

static int fib(int n)
{
    if (n < 2)
        return n;
    return fib(n - 1) + fib(n - 2);
}

static unsigned long long factorial(unsigned n)
{
    unsigned long long acc = 1;
    for (unsigned i = 2; i <= n; i++)
        acc *= i;
    return acc;
}

int main(void)
{
    int total = 0;
    for (int i = 0; i < 10; i++)
        total += fib(i);
    printf("fib sum %d\n", total);
    printf("10! = %llu\n", factorial(10));
    return 0;
}
