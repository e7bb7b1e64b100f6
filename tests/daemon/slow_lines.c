/*
 * A WASI program for the daemon tests: `slow_lines N MS CODE` writes N
 * lines "slow line I" to stdout, sleeping MS milliseconds (nanosleep, i.e.
 * poll_oneoff with a clock subscription) before each line after the first,
 * and exits with CODE. tests/daemon/run.sh checks that the lines reach
 * `tracectl submit --follow` while the run is still going. write(2) rather
 * than stdio keeps the module small (the test daemon takes 64 KiB at most).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 5;
    long ms = argc > 2 ? atol(argv[2]) : 300;
    int code = argc > 3 ? atoi(argv[3]) : 0;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    for (int i = 1; i <= n; i++) {
        char line[32] = "slow line ", digits[12];
        size_t len = strlen(line), d = 0;

        if (i > 1)
            nanosleep(&ts, NULL);
        for (unsigned v = (unsigned)i; v || !d; v /= 10)
            digits[d++] = (char)('0' + v % 10);
        while (d)
            line[len++] = digits[--d];
        line[len++] = '\n';
        if (write(1, line, len) != (ssize_t)len)
            return 100;
    }
    return code;
}
