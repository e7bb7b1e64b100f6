/* tests/lines: a WASI program with output for the `lines` level, built
 * with -g -O0 (tests/lines/run.sh). Its expected steps (hello.tree) name
 * these line numbers: keep them when editing. The fflush makes where the
 * output lands independent of how stdout is buffered. */
#include <stdio.h>

static int square(int x)
{
    return x * x;
}

int main(void)
{
    int total = 0;
    for (int i = 1; i <= 2; i++) {
        total += square(i);
        printf("i=%d total=%d\n", i, total);
        fflush(stdout);
    }
    return total == 5 ? 0 : 1;
}
