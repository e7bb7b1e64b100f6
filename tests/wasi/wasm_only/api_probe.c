/* Used by wasi_api_test (not compared natively): prints the realtime
 * clock and four random bytes, writes stderr between stdout writes, then
 * moves stdout to fd 2 and writes there. */
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include <wasi/api.h>

int main(void)
{
    struct timespec ts;
    unsigned char r[4] = {0};

    clock_gettime(CLOCK_REALTIME, &ts);
    getentropy(r, sizeof r);
    printf("t=%lld.%09ld r=%02x%02x%02x%02x\n", (long long)ts.tv_sec,
           ts.tv_nsec, r[0], r[1], r[2], r[3]);
    fflush(stdout);
    write(2, "err\n", 4);
    write(1, "out\n", 4);
    if (__wasi_fd_renumber(1, 2) != 0)
        return 3;
    write(2, "moved\n", 6);
    return write(1, "x", 1) < 0 ? 4 : 5;
}
