/* The SPSC ring: contract details single-threaded, then the threaded
 * stress harness (TRACED_RING_STRESS_COUNT events, default 10^6). */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <time.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "proto_int.h"
#include "ring_harness.h"
#include "samples.h"
#include "suites.h"
#include "traced/proto_ring.h"

static proto_ring *new_ring(size_t cap, bool lossy, int *wakes)
{
    proto_ring_opts o = {.capacity = cap, .lossy = lossy};
    proto_ring *r;

    (void)wakes;
    ck_assert_int_eq(proto_ring_new(&o, &r), 0);
    return r;
}

static void count_wake(void *user)
{
    (*(int *)user)++;
}

START_TEST(test_options)
{
    proto_ring_opts o = {.capacity = 5000};
    proto_ring *r;

    ck_assert_int_eq(proto_ring_new(&o, &r), PROTO_ERR_ARG);
    o.capacity = 2048;
    ck_assert_int_eq(proto_ring_new(&o, &r), PROTO_ERR_ARG);
    ck_assert_int_eq(proto_ring_new(NULL, &r), 0);
    ck_assert_uint_eq(proto_ring_capacity(r), 1u << 20);
    proto_ring_free(r);
    proto__alloc_fail_after = 2;
    ck_assert_int_eq(proto_ring_new(NULL, &r), PROTO_ERR_NOMEM);
    proto__alloc_fail_after = -1;
}
END_TEST

START_TEST(test_all_types_through_ring)
{
    proto_event evs[SAMPLES_MAX], out;
    size_t n = samples_fill(evs);
    proto_ring *r = new_ring(4096, false, NULL);
    uint64_t seq = 0;

    proto_event_init(&out);
    for (size_t i = 0; i < n; i++) {
        proto_event ev = evs[i];

        if (ev.type == PROTO_LOSS)
            continue; /* only the ring writes loss events */
        ck_assert_int_eq(proto_ring_push(r, &ev), 0);
        ck_assert_uint_eq(ev.seq, seq);
        ck_assert_int_eq(proto_ring_flush(r), 0);
        ck_assert_int_eq(proto_ring_next(r, &out, NULL, 0), 0);
        evs[i].seq = seq++;
        ck_assert(proto_event_equal(&out, &evs[i]));
    }
    ck_assert_int_eq(proto_ring_next(r, &out, NULL, 0), PROTO_ERR_AGAIN);
    proto_ring_finish(r);
    ck_assert_int_eq(proto_ring_next(r, &out, NULL, 0), PROTO_ERR_END);
    proto_event_close(&out);
    proto_ring_free(r);
}
END_TEST

START_TEST(test_batched_publication)
{
    proto_ring_opts o = {.capacity = 4096, .publish_every = 4};
    proto_event ev = {.type = PROTO_STEP};
    const uint8_t *rec;
    size_t len;
    proto_ring *r;

    ck_assert_int_eq(proto_ring_new(&o, &r), 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(proto_ring_push(r, &ev), 0);
    /* Three pushed, none published yet. */
    ck_assert_int_eq(proto_ring_peek(r, &rec, &len), PROTO_ERR_AGAIN);
    ck_assert_int_eq(proto_ring_push(r, &ev), 0);
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(proto_ring_peek(r, &rec, &len), 0);
        proto_ring_consume(r);
    }
    ck_assert_int_eq(proto_ring_peek(r, &rec, &len), PROTO_ERR_AGAIN);
    ck_assert_int_eq(proto_ring_push(r, &ev), 0);
    ck_assert_int_eq(proto_ring_flush(r), 0);
    ck_assert_int_eq(proto_ring_peek(r, &rec, &len), 0);
    proto_ring_free(r);
}
END_TEST

START_TEST(test_wake_once_per_idle_period)
{
    int wakes = 0;
    proto_ring_opts o = {.capacity = 4096, .wake = count_wake,
                         .wake_user = &wakes};
    proto_event ev = {.type = PROTO_STEP};
    const uint8_t *rec;
    size_t len;
    proto_ring *r;

    ck_assert_int_eq(proto_ring_new(&o, &r), 0);
    /* The consumer has not looked yet: not idle, no wake. */
    proto_ring_push(r, &ev);
    proto_ring_flush(r);
    ck_assert_int_eq(wakes, 0);
    ck_assert_int_eq(proto_ring_peek(r, &rec, &len), 0);
    proto_ring_consume(r);
    ck_assert_int_eq(proto_ring_peek(r, &rec, &len), PROTO_ERR_AGAIN);
    /* Idle now: the next publication wakes, later ones do not. */
    proto_ring_push(r, &ev);
    proto_ring_flush(r);
    ck_assert_int_eq(wakes, 1);
    proto_ring_push(r, &ev);
    proto_ring_flush(r);
    proto_ring_flush(r);
    ck_assert_int_eq(wakes, 1);
    while (proto_ring_peek(r, &rec, &len) == 0)
        proto_ring_consume(r);
    proto_ring_push(r, &ev);
    proto_ring_flush(r);
    ck_assert_int_eq(wakes, 2);
    /* finish wakes an idle consumer even with nothing new. */
    while (proto_ring_peek(r, &rec, &len) == 0)
        proto_ring_consume(r);
    proto_ring_finish(r);
    ck_assert_int_eq(wakes, 3);
    ck_assert_int_eq(proto_ring_peek(r, &rec, &len), PROTO_ERR_END);
    proto_ring_free(r);
}
END_TEST

START_TEST(test_lossy_accounting)
{
    proto_ring *r = new_ring(4096, true, NULL);
    proto_event ev = {.type = PROTO_STEP}, out;
    proto_ring_stats st;
    uint64_t delivered = 0, covered = 0, expect = 0;
    int full = 0, rc;

    /* Fill without consuming: some pushes drop. */
    for (int i = 0; i < 1000; i++) {
        ev.t_ns = (uint64_t)i;
        rc = proto_ring_push(r, &ev);
        ck_assert(rc == 0 || rc == PROTO_ERR_FULL);
        ck_assert_uint_eq(ev.seq, (uint64_t)i);
        full += rc == PROTO_ERR_FULL;
    }
    ck_assert_int_gt(full, 0);
    proto_event_init(&out);
    /* Drain, then one more push: the loss record goes first. */
    while ((rc = proto_ring_next(r, &out, NULL, 0)) == 0) {
        ck_assert_uint_eq(out.seq, expect);
        expect++;
        delivered++;
    }
    ck_assert_int_eq(rc, PROTO_ERR_AGAIN);
    ev.t_ns = 5000;
    ck_assert_int_eq(proto_ring_push(r, &ev), 0);
    proto_ring_flush(r);
    ck_assert_int_eq(proto_ring_next(r, &out, NULL, 0), 0);
    ck_assert_int_eq(out.type, PROTO_LOSS);
    ck_assert_uint_eq(out.seq, expect);
    ck_assert_uint_eq(out.as.loss.count, (uint64_t)full);
    ck_assert_uint_eq(out.t_ns, 5000);
    covered += out.as.loss.count;
    ck_assert_int_eq(proto_ring_next(r, &out, NULL, 0), 0);
    ck_assert_int_eq(out.type, PROTO_STEP);
    ck_assert_uint_eq(out.seq, 1000);
    delivered++;
    proto_ring_stats_get(r, &st);
    ck_assert_uint_eq(st.produced, 1001);
    ck_assert_uint_eq(st.dropped, covered);
    ck_assert_uint_eq(st.produced, delivered + st.dropped);
    ck_assert_uint_eq(st.loss_events, 1);
    proto_event_close(&out);
    proto_ring_free(r);
}
END_TEST

START_TEST(test_lossy_finish_writes_pending_loss)
{
    proto_ring *r = new_ring(4096, true, NULL);
    proto_event ev = {.type = PROTO_CALL}, out;
    uint64_t expect = 0;
    int rc;

    for (int i = 0; i < 1000; i++)
        proto_ring_push(r, &ev);
    proto_event_init(&out);
    /* finish waits for room for the loss record: drain first in this
     * single thread, through flush (which cannot write it: still full). */
    ck_assert_int_eq(proto_ring_flush(r), PROTO_ERR_AGAIN);
    while (proto_ring_next(r, &out, NULL, 0) == 0)
        expect++;
    ck_assert_int_eq(proto_ring_finish(r), 0);
    ck_assert_int_eq(proto_ring_next(r, &out, NULL, 0), 0);
    ck_assert_int_eq(out.type, PROTO_LOSS);
    ck_assert_uint_eq(out.seq, expect);
    ck_assert_uint_eq(expect + out.as.loss.count, 1000);
    rc = proto_ring_next(r, &out, NULL, 0);
    ck_assert_int_eq(rc, PROTO_ERR_END);
    proto_event_close(&out);
    proto_ring_free(r);
}
END_TEST

START_TEST(test_run_start_resets_seq)
{
    proto_ring *r = new_ring(4096, false, NULL);
    proto_event ev = {.type = PROTO_STEP};
    proto_event rs = {.type = PROTO_RUN_START,
                      .as.run_start.level = PROTO_LEVEL_CALLS};

    proto_ring_push(r, &ev);
    proto_ring_push(r, &ev);
    ck_assert_uint_eq(ev.seq, 1);
    ck_assert_int_eq(proto_ring_push(r, &rs), 0);
    ck_assert_uint_eq(rs.seq, 0);
    proto_ring_push(r, &ev);
    ck_assert_uint_eq(ev.seq, 1);
    proto_ring_free(r);
}
END_TEST

START_TEST(test_rejects)
{
    proto_ring *r = new_ring(4096, false, NULL);
    proto_event loss = {.type = PROTO_LOSS, .as.loss.count = 1};
    proto_val vals[100];
    proto_event big = {.type = PROTO_CALL, .as.call = {0, 0, {vals, 100}}};
    proto_event ev = {.type = PROTO_STEP};

    memset(vals, 0, sizeof vals);
    for (int i = 0; i < 100; i++)
        vals[i].type = VM_V128;
    ck_assert_int_eq(proto_ring_push(r, &loss), PROTO_ERR_ARG);
    ck_assert_int_eq(proto_ring_push(r, &big), PROTO_ERR_TOO_BIG);
    proto_ring_shutdown(r);
    ck_assert_int_eq(proto_ring_push(r, &ev), PROTO_ERR_CLOSED);
    proto_ring_free(r);
}
END_TEST

START_TEST(test_large_output_is_split)
{
    proto_ring *r = new_ring(4096, false, NULL);
    char data[3000];
    proto_event ev = {.type = PROTO_OUTPUT, .as.output = {1, {data, sizeof data}}};
    proto_event out;
    size_t got = 0;
    uint64_t seq = 0;
    int rc;

    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (char)(i * 13);
    /* 3000 bytes > capacity/4: goes as several events; the consumer must
     * drain meanwhile, so push from a child of this test process is not
     * needed: the pieces fit the empty ring. */
    ck_assert_int_eq(proto_ring_push(r, &ev), 0);
    ck_assert_uint_eq(ev.seq, 0);
    proto_ring_finish(r);
    proto_event_init(&out);
    while ((rc = proto_ring_next(r, &out, NULL, 0)) == 0) {
        ck_assert_int_eq(out.type, PROTO_OUTPUT);
        ck_assert_uint_eq(out.seq, seq++);
        ck_assert(memcmp(out.as.output.data.ptr, data + got, out.as.output.data.len) == 0);
        got += out.as.output.data.len;
    }
    ck_assert_int_eq(rc, PROTO_ERR_END);
    ck_assert_uint_eq(got, sizeof data);
    ck_assert_uint_gt(seq, 1);
    proto_event_close(&out);
    proto_ring_free(r);
}
END_TEST

/* Wrap-around: records of varying size around a small ring many times. */
START_TEST(test_wraparound)
{
    proto_ring *r = new_ring(4096, false, NULL);
    char data[200];
    proto_event ev = {.type = PROTO_OUTPUT}, out;

    memset(data, 'x', sizeof data);
    proto_event_init(&out);
    for (uint64_t i = 0; i < 20000; i++) {
        ev.as.output = (proto_output){1, {data, (uint32_t)(i * 7 % 200)}};
        ck_assert_int_eq(proto_ring_push(r, &ev), 0);
        proto_ring_flush(r);
        ck_assert_int_eq(proto_ring_next(r, &out, NULL, 0), 0);
        ck_assert_uint_eq(out.seq, i);
        ck_assert_uint_eq(out.as.output.data.len, i * 7 % 200);
    }
    proto_event_close(&out);
    proto_ring_free(r);
}
END_TEST

/*
 * No lost wakes: the producer flushes after every push, so each record is
 * published at once; a consumer that got AGAIN sleeps on the wake alone
 * (5 s timeout = a lost wake = failure).
 */
typedef struct wake_test {
    proto_ring *r;
    sem_t sem;
    uint64_t n;
} wake_test;

static void post_wake(void *user)
{
    sem_post(&((wake_test *)user)->sem);
}

static void *wake_producer(void *arg)
{
    wake_test *w = arg;
    proto_event ev = {.type = PROTO_STEP};

    for (uint64_t i = 0; i < w->n; i++) {
        proto_ring_push(w->r, &ev);
        proto_ring_flush(w->r);
        if (i % 7 == 0)
            for (volatile int k = 0; k < (int)(i % 500); k++)
                ;
        if (i % 1000 == 0)
            usleep(50);
    }
    proto_ring_finish(w->r);
    return NULL;
}

START_TEST(test_no_lost_wakes)
{
    wake_test w = {.n = 20000};
    proto_ring_opts o = {.capacity = 4096, .wake = post_wake, .wake_user = &w};
    proto_event ev;
    pthread_t t;
    uint64_t got = 0, sleeps = 0;
    int rc;

    sem_init(&w.sem, 0, 0);
    ck_assert_int_eq(proto_ring_new(&o, &w.r), 0);
    proto_event_init(&ev);
    pthread_create(&t, NULL, wake_producer, &w);
    while ((rc = proto_ring_next(w.r, &ev, NULL, 0)) != PROTO_ERR_END) {
        if (rc == PROTO_ERR_AGAIN) {
            struct timespec ts;
            int s;

            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 5;
            do
                s = sem_timedwait(&w.sem, &ts);
            while (s < 0 && errno == EINTR);
            ck_assert_msg(s == 0, "lost wake after %llu events",
                          (unsigned long long)got);
            sleeps++;
            continue;
        }
        ck_assert_int_eq(rc, 0);
        ck_assert_uint_eq(ev.seq, got);
        got++;
    }
    pthread_join(t, NULL);
    ck_assert_uint_eq(got, w.n);
    ck_assert_uint_gt(sleeps, 0);
    proto_event_close(&ev);
    proto_ring_free(w.r);
    sem_destroy(&w.sem);
}
END_TEST

static uint64_t stress_count(void)
{
    const char *s = getenv("TRACED_RING_STRESS_COUNT");

    return s ? strtoull(s, NULL, 0) : 1000000;
}

START_TEST(test_stress_lossless)
{
    ring_harness_opts o = {.count = stress_count(), .seed = 1};
    ring_harness_result res;

    ck_assert_msg(ring_harness_run(&o, &res) == 0, "%s", res.error);
    ck_assert_uint_eq(res.delivered, o.count);
    ck_assert_uint_eq(res.dropped, 0);
}
END_TEST

START_TEST(test_stress_lossy)
{
    ring_harness_opts o = {.count = stress_count(), .lossy = true, .seed = 2,
                           .slow_consumer = true};
    ring_harness_result res;

    ck_assert_msg(ring_harness_run(&o, &res) == 0, "%s", res.error);
    ck_assert_uint_eq(res.produced, res.delivered + res.dropped);
    ck_assert_uint_eq(res.dropped, res.loss_covered);
}
END_TEST

Suite *ring_suite(void)
{
    Suite *s = suite_create("ring");
    TCase *tc = tcase_create("ring"), *stress = tcase_create("ring_stress");

    tcase_add_test(tc, test_options);
    tcase_add_test(tc, test_all_types_through_ring);
    tcase_add_test(tc, test_batched_publication);
    tcase_add_test(tc, test_wake_once_per_idle_period);
    tcase_add_test(tc, test_lossy_accounting);
    tcase_add_test(tc, test_lossy_finish_writes_pending_loss);
    tcase_add_test(tc, test_run_start_resets_seq);
    tcase_add_test(tc, test_rejects);
    tcase_add_test(tc, test_large_output_is_split);
    tcase_add_test(tc, test_wraparound);
    suite_add_tcase(s, tc);
    /* The machine is shared: give the threaded runs room. */
    tcase_set_timeout(stress, 600);
    tcase_add_test(stress, test_no_lost_wakes);
    tcase_add_test(stress, test_stress_lossless);
    tcase_add_test(stress, test_stress_lossy);
    suite_add_tcase(s, stress);
    return s;
}
