/*
 * ring_stress COUNT [lossy|lossless|both] [CAPACITY] [batches|sinks]:
 * push COUNT events through the ring with random pacing on both sides and
 * verify every one (tests/stress/ring_harness.c); with "batches", a
 * quarter of the pushes are batch records of 1..32 events; with "sinks",
 * half of the runs of calls and returns go as sink records (the VM's
 * entries, encoded by the consumer). CI runs each of the three 10^8 times
 * in Release and 10^7 times under ThreadSanitizer. Exit status 0 when
 * every run verified.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ring_harness.h"

static int run(uint64_t count, bool lossy, size_t cap, bool batches,
               bool sinks)
{
    ring_harness_opts o = {.count = count, .lossy = lossy, .capacity = cap,
                           .seed = 12345, .slow_consumer = lossy,
                           .batches = batches, .sinks = sinks};
    ring_harness_result r;
    int rc = ring_harness_run(&o, &r);

    printf("%-8s%s count=%llu produced=%llu delivered=%llu dropped=%llu "
           "loss_events=%llu waits=%llu wakes=%llu wake_timeouts=%llu "
           "%.2fs %.1f Mev/s %s%s\n",
           lossy ? "lossy" : "lossless",
           batches ? " batches" : sinks ? " sinks" : "",
           (unsigned long long)count,
           (unsigned long long)r.produced, (unsigned long long)r.delivered,
           (unsigned long long)r.dropped, (unsigned long long)r.loss_events,
           (unsigned long long)r.waits, (unsigned long long)r.wakes,
           (unsigned long long)r.wake_timeouts, r.seconds,
           r.seconds > 0 ? (double)count / r.seconds / 1e6 : 0.0,
           rc == 0 ? "OK" : "FAIL: ", r.error);
    return rc;
}

int main(int argc, char **argv)
{
    uint64_t count = argc > 1 ? strtoull(argv[1], NULL, 0) : 1000000;
    const char *mode = argc > 2 ? argv[2] : "both";
    size_t cap = argc > 3 ? strtoull(argv[3], NULL, 0) : 0;
    bool batches = argc > 4 && strcmp(argv[4], "batches") == 0;
    bool sinks = argc > 4 && strcmp(argv[4], "sinks") == 0;
    int failed = 0;

    if ((argc > 1 && strspn(argv[1], "0123456789xXeE") == 0) ||
        (argc > 4 && !batches && !sinks)) {
        fprintf(stderr, "usage: ring_stress COUNT [lossy|lossless|both] "
                        "[CAPACITY] [batches|sinks]\n");
        return 2;
    }
    if (strcmp(mode, "lossy") != 0)
        failed |= run(count, false, cap, batches, sinks) != 0;
    if (strcmp(mode, "lossless") != 0)
        failed |= run(count, true, cap, batches, sinks) != 0;
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
