/* stdio: formatted output to stdout and stderr, line-by-line stdin. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(void)
{
    char line[256];
    int n = 0;
    long total = 0;

    printf("hello, %s! %d %.3f %s\n", "wasi", 42, 3.14159, "end");
    fputs("to stderr\n", stderr);
    puts("puts line");
    while (fgets(line, sizeof line, stdin)) {
        for (char *p = line; *p; p++)
            *p = (char)toupper((unsigned char)*p);
        printf("%d: %s", ++n, line);
        total += (long)strlen(line);
    }
    printf("lines=%d bytes=%ld\n", n, total);
    /* Unbuffered write(2) after flushing stdio: order must hold. */
    fflush(stdout);
    write(1, "raw write\n", 10);
    for (int i = 0; i < 2000; i++)
        printf("%04d%c", i, i % 20 == 19 ? '\n' : ' ');
    return 0;
}
