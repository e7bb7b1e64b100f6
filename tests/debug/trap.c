/* Debug-info test program (tests/debug/README.md): a trap inside a nested
 * call (__builtin_trap is wasm's unreachable). Line numbers are asserted
 * by tests/unit/vm/test_dwarf.c: keep them when editing. */
#include <stdio.h>

__attribute__((noinline)) static int check(int value)
{
    if (value > 3)
        __builtin_trap();
    return value * 2;
}

int main(void)
{
    int sum = 0;
    for (int i = 0; i < 10; i++) {
        sum += check(i);
        printf("step %d sum %d\n", i, sum);
    }
    return sum;
}
