/* Arguments, environment and the exit code. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    size_t n = 0;
    const char *v;

    printf("argc=%d\n", argc);
    for (int i = 1; i < argc; i++)
        printf("argv[%d]=<%s>\n", i, argv[i]);
    while (environ && environ[n])
        n++;
    qsort(environ, n, sizeof *environ, cmp);
    for (size_t i = 0; i < n; i++)
        printf("env: %s\n", environ[i]);
    v = getenv("GREETING");
    printf("GREETING=%s\n", v ? v : "(unset)");
    v = getenv("MISSING");
    printf("MISSING=%s\n", v ? v : "(unset)");
    if (argc > 1 && strcmp(argv[1], "exit") == 0) {
        fflush(stdout);
        exit(argc > 2 ? atoi(argv[2]) : 0);
    }
    if (argc > 1 && strcmp(argv[1], "return") == 0)
        return argc > 2 ? atoi(argv[2]) : 0;
    if (argc > 1 && strcmp(argv[1], "abort") == 0)
        abort();
    return 0;
}
