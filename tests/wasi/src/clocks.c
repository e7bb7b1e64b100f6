/* Clocks, sleep, poll and random: values are checked here, not printed. */
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int failures;

#define CHECK(expr)                                                        \
    do {                                                                   \
        if (!(expr)) {                                                     \
            printf("FAIL line %d: %s\n", __LINE__, #expr);                 \
            failures++;                                                    \
        }                                                                  \
    } while (0)

static int64_t ns(clockid_t id)
{
    struct timespec ts;

    if (clock_gettime(id, &ts) != 0)
        return -1;
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int main(void)
{
    struct timespec res, d = {0, 20 * 1000 * 1000};
    int64_t t0, t1, c0, c1;
    uint8_t a[32], b[32];
    volatile uint64_t spin = 0;

    CHECK(ns(CLOCK_REALTIME) > (int64_t)1600000000 * 1000000000);
    CHECK(time(NULL) > 1600000000);
    CHECK(clock_getres(CLOCK_MONOTONIC, &res) == 0);
    CHECK(res.tv_sec == 0 && res.tv_nsec > 0 && res.tv_nsec <= 1000000);
    t0 = ns(CLOCK_MONOTONIC);
    CHECK(t0 > 0);
    CHECK(nanosleep(&d, NULL) == 0);
    t1 = ns(CLOCK_MONOTONIC);
    CHECK(t1 - t0 >= 20 * 1000 * 1000);
    CHECK(t1 - t0 < 5000LL * 1000 * 1000);
    printf("monotonic and nanosleep ok\n");

    c0 = ns(CLOCK_PROCESS_CPUTIME_ID);
    for (int i = 0; i < 3000000; i++)
        spin += (uint64_t)i;
    c1 = ns(CLOCK_PROCESS_CPUTIME_ID);
    CHECK(c0 >= 0 && c1 > c0 && spin > 0);
    printf("process cputime ok\n");

    t0 = ns(CLOCK_MONOTONIC);
    CHECK(usleep(15000) == 0);
    CHECK(ns(CLOCK_MONOTONIC) - t0 >= 15000000);
    t0 = ns(CLOCK_MONOTONIC);
    CHECK(poll(NULL, 0, 25) == 0);
    CHECK(ns(CLOCK_MONOTONIC) - t0 >= 25000000);
    printf("usleep and poll timeout ok\n");

    {
        /* stdin is a file and stdout a file or pipe: both ready. */
        struct pollfd p[2] = {{0, POLLIN, 0}, {1, POLLOUT, 0}};
        int r = poll(p, 2, 1000);

        printf("poll stdin/stdout: %d in=%d out=%d\n", r,
               !!(p[0].revents & POLLIN), !!(p[1].revents & POLLOUT));
    }

    memset(a, 0, sizeof a);
    memset(b, 0, sizeof b);
    CHECK(getentropy(a, sizeof a) == 0);
    CHECK(getentropy(b, sizeof b) == 0);
    CHECK(memcmp(a, b, sizeof a) != 0);
    {
        int zeros = 0;

        for (size_t i = 0; i < sizeof a; i++)
            zeros += a[i] == 0;
        CHECK(zeros < 8);
    }
    printf("random ok\n");
    printf("failures=%d\n", failures);
    return failures ? 1 : 0;
}
