/* tests/lines: a program for the `lines` level without libc, built with
 * -g -O0 and called through --invoke (tests/lines/run.sh). The expected
 * step sequences in the .tree files beside it name these lines: keep
 * them when editing (add code only at the end). */
static int fib(int n)
{
    if (n < 2)
        return n;
    return fib(n - 1) + fib(n - 2);
}

int run_fib(int n)
{
    int r = fib(n);
    return r;
}

int sum_to(int n)
{
    int s = 0;
    for (int i = 0; i < n; i++)
        s += i;
    return s;
}

static int deep(int x)
{
    if (x > 2)
        __builtin_trap();
    return deep(x + 1) + 1;
}

int trap_in(int x)
{
    int r = deep(x);
    return r;
}

static double typed(unsigned u, char c, _Bool b, float f, double d, int *p,
                    long long ll, unsigned char uc)
{
    return u + c + b + f + d + (p != 0) + ll + uc;
}

int run_typed(void)
{
    int x = 7;
    double r = typed(4000000000u, 'A', 1, 1.5f, -2.25, &x, -5, 200);
    return r > 0;
}
