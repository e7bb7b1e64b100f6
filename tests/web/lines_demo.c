/* The browser test's program at level lines (tests/web/test.mjs, part 5):
 * built with clang -g -O0 for wasm32-wasi by run.sh, served to the page
 * from traced's --source-dir. The test finds its lines by their text. */
static int square(int x)
{
    int y = x * x; /* square: first line */
    return y;      /* square: second line */
}

int main(void)
{
    int s = 0;
    for (int i = 0; i < 4; i++)
        s += square(i); /* main: the call */
    return s != 14;
}
