/* Trace files: round trips, seeking, follow mode, torn tails, repair and
 * a writer killed with SIGKILL. */
#include <check.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proto_int.h"
#include "ring_harness.h"
#include "samples.h"
#include "suites.h"

static char dir[64], path[128], ipath[160];

static void setup(void)
{
    samples_tmp_make("proto", dir, sizeof dir, path, sizeof path);
    snprintf(ipath, sizeof ipath, "%s.idx", path);
}

static void teardown(void)
{
    samples_tmp_remove(dir);
}

static const proto_file_header hdr = {
    .run_id = 0xfeedfacecafebeefull, .wall_ns = 1700000000000000000ull,
    .level = PROTO_LEVEL_OPS, .module_hash = {1, 2, 3},
};

/* Event i of the generated stream, seq = i. */
static void gen(uint64_t i, proto_event *ev, proto_val *vals, char *bytes)
{
    ring_harness_event(i, ev, vals, bytes);
    ev->seq = i;
}

static void write_file(uint64_t n, size_t chunk_bytes)
{
    proto_file_writer_opts o = {.chunk_bytes = chunk_bytes};
    proto_file_writer *w;
    proto_val vals[8];
    char bytes[64], err[128];
    proto_event ev;

    ck_assert_int_eq(proto_file_writer_new(path, &hdr, &o, &w, err, sizeof err), 0);
    for (uint64_t i = 0; i < n; i++) {
        gen(i, &ev, vals, bytes);
        ck_assert_int_eq(proto_file_writer_add(w, &ev, err, sizeof err), 0);
    }
    ck_assert_int_eq(proto_file_writer_free(w, err, sizeof err), 0);
}

/* Read from the current position, checking each event against the
 * generator; returns the count and the final status in *end_rc. */
static uint64_t read_check(proto_reader *r, uint64_t first, int *end_rc)
{
    proto_val vals[8];
    char bytes[64], err[160];
    proto_event ev, want;
    uint64_t n = 0;
    int rc;

    proto_event_init(&ev);
    while ((rc = proto_reader_next(r, &ev, err, sizeof err)) == 0) {
        gen(first + n, &want, vals, bytes);
        ck_assert_msg(proto_event_equal(&ev, &want), "event %llu differs",
                      (unsigned long long)(first + n));
        n++;
    }
    proto_event_close(&ev);
    *end_rc = rc;
    return n;
}

static uint64_t file_size(const char *p)
{
    struct stat st;

    ck_assert_int_eq(stat(p, &st), 0);
    return (uint64_t)st.st_size;
}

START_TEST(test_header)
{
    uint8_t buf[PROTO_FILE_HEADER_LEN];
    proto_file_header h;

    proto_file_header_encode(&hdr, buf);
    ck_assert_int_eq(proto_file_header_decode(buf, sizeof buf, &h, NULL, 0), 0);
    ck_assert_uint_eq(h.run_id, hdr.run_id);
    ck_assert_uint_eq(h.wall_ns, hdr.wall_ns);
    ck_assert_int_eq(h.level, hdr.level);
    ck_assert_int_eq(h.version_major, PROTO_FILE_VERSION_MAJOR);
    ck_assert(memcmp(h.module_hash, hdr.module_hash, 32) == 0);
    ck_assert_int_eq(proto_file_header_decode(buf, 79, &h, NULL, 0), PROTO_ERR_TRUNCATED);
    buf[50] ^= 1;
    ck_assert_int_eq(proto_file_header_decode(buf, sizeof buf, &h, NULL, 0), PROTO_ERR_CRC);
    buf[50] ^= 1;
    /* Written as 2.0 (bytes 8..11); 1.x is read too, 0.x and 3.x are
     * refused with the version error, before the checksum is looked at. */
    ck_assert_uint_eq(buf[8], 2);
    ck_assert_uint_eq(buf[9], 0);
    ck_assert_uint_eq(buf[10], 0);
    ck_assert_uint_eq(buf[11], 0);
    buf[8] = 1;
    buf[10] = 7;
    proto__put_u32(buf + 76, proto_crc32c(0, buf, 76));
    ck_assert_int_eq(proto_file_header_decode(buf, sizeof buf, &h, NULL, 0), 0);
    ck_assert_int_eq(h.version_major, 1);
    ck_assert_int_eq(h.version_minor, 7);
    buf[8] = 3;
    ck_assert_int_eq(proto_file_header_decode(buf, sizeof buf, &h, NULL, 0), PROTO_ERR_VERSION);
    buf[8] = 0;
    ck_assert_int_eq(proto_file_header_decode(buf, sizeof buf, &h, NULL, 0), PROTO_ERR_VERSION);
    buf[0] = 'X';
    ck_assert_int_eq(proto_file_header_decode(buf, sizeof buf, &h, NULL, 0), PROTO_ERR_BAD_MAGIC);
}
END_TEST

START_TEST(test_round_trip)
{
    proto_reader *r;
    int rc;

    write_file(50000, 4096);
    ck_assert_int_eq(proto_reader_new(path, 0, &r, NULL, 0), 0);
    ck_assert_uint_eq(proto_reader_header(r)->run_id, hdr.run_id);
    ck_assert_uint_eq(read_check(r, 0, &rc), 50000);
    ck_assert_int_eq(rc, PROTO_ERR_END);
    proto_reader_free(r);
}
END_TEST

START_TEST(test_samples_round_trip)
{
    proto_event evs[SAMPLES_MAX], ev;
    size_t n = samples_fill(evs), i = 0;
    proto_file_writer *w;
    proto_reader *r;
    int rc;

    ck_assert_int_eq(proto_file_writer_new(path, &hdr, NULL, &w, NULL, 0), 0);
    for (size_t k = 0; k < n; k++)
        ck_assert_int_eq(proto_file_writer_add(w, &evs[k], NULL, 0), 0);
    /* Out of sequence: rejected. */
    ck_assert_int_eq(proto_file_writer_add(w, &evs[3], NULL, 0), PROTO_ERR_ARG);
    ck_assert_int_eq(proto_file_writer_free(w, NULL, 0), 0);
    ck_assert_int_eq(proto_reader_new(path, 0, &r, NULL, 0), 0);
    proto_event_init(&ev);
    while ((rc = proto_reader_next(r, &ev, NULL, 0)) == 0) {
        ck_assert(proto_event_equal(&ev, &evs[i]));
        i++;
    }
    ck_assert_int_eq(rc, PROTO_ERR_END);
    ck_assert_uint_eq(i, n);
    proto_event_close(&ev);
    proto_reader_free(r);
}
END_TEST

static void check_seeks(void)
{
    static const uint64_t targets[] = {0, 1, 2, 777, 9999, 12345, 19998, 19999};
    proto_reader *r;
    int rc;

    ck_assert_int_eq(proto_reader_new(path, 0, &r, NULL, 0), 0);
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
        ck_assert_int_eq(proto_reader_seek(r, targets[i], NULL, 0), 0);
        ck_assert_uint_eq(read_check(r, targets[i], &rc), 20000 - targets[i]);
        ck_assert_int_eq(rc, PROTO_ERR_END);
    }
    ck_assert_int_eq(proto_reader_seek(r, 20000, NULL, 0), 0);
    ck_assert_uint_eq(read_check(r, 20000, &rc), 0);
    ck_assert_int_eq(rc, PROTO_ERR_END);
    proto_reader_free(r);
}

START_TEST(test_seek)
{
    int fd;

    write_file(20000, 2048);
    check_seeks();
    /* A lagging index (crash between chunk and entry). */
    ck_assert_int_eq(truncate(ipath, (off_t)(file_size(ipath) / 2 + 5)), 0);
    check_seeks();
    /* A garbage index. */
    fd = open(ipath, O_WRONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, "garbagegarbagegarbagegarbage", 28, 40), 28);
    close(fd);
    check_seeks();
    /* No index at all. */
    ck_assert_int_eq(unlink(ipath), 0);
    check_seeks();
}
END_TEST

START_TEST(test_torn_tail_and_repair)
{
    proto_repair_info info;
    proto_reader *r;
    uint64_t full, all, cut_at;
    int rc;

    write_file(3000, 1024);
    full = file_size(path);
    ck_assert_int_eq(proto_reader_new(path, 0, &r, NULL, 0), 0);
    all = read_check(r, 0, &rc);
    proto_reader_free(r);
    ck_assert_uint_eq(all, 3000);
    /* Cut the last chunk at several points: a valid prefix, then TORN;
     * a follower sees "not yet". */
    for (uint64_t back = 1; back < 600; back += 97) {
        uint64_t n, n_follow;

        write_file(3000, 1024);
        cut_at = full - back;
        ck_assert_int_eq(truncate(path, (off_t)cut_at), 0);
        ck_assert_int_eq(proto_reader_new(path, 0, &r, NULL, 0), 0);
        n = read_check(r, 0, &rc);
        ck_assert_int_eq(rc, PROTO_ERR_TORN);
        ck_assert_uint_lt(n, 3000);
        proto_reader_free(r);
        ck_assert_int_eq(proto_reader_new(path, PROTO_READER_FOLLOW, &r, NULL, 0), 0);
        n_follow = read_check(r, 0, &rc);
        ck_assert_int_eq(rc, PROTO_ERR_AGAIN);
        ck_assert_uint_eq(n_follow, n);
        proto_reader_free(r);
        ck_assert_int_eq(proto_file_repair(path, &info, NULL, 0), 0);
        ck_assert(info.truncated);
        ck_assert_uint_eq(info.events, n);
        ck_assert_uint_eq(info.next_seq, n);
        ck_assert_uint_eq(file_size(path), info.valid_len);
        ck_assert_int_eq(proto_reader_new(path, 0, &r, NULL, 0), 0);
        ck_assert_uint_eq(read_check(r, 0, &rc), n);
        ck_assert_int_eq(rc, PROTO_ERR_END);
        ck_assert_int_eq(proto_reader_seek(r, n / 2, NULL, 0), 0);
        ck_assert_uint_eq(read_check(r, n / 2, &rc), n - n / 2);
        proto_reader_free(r);
    }
    /* A sound file: repair changes nothing. */
    write_file(3000, 1024);
    ck_assert_int_eq(proto_file_repair(path, &info, NULL, 0), 0);
    ck_assert(!info.truncated);
    ck_assert_uint_eq(info.valid_len, full);
    ck_assert_uint_eq(info.events, 3000);
}
END_TEST

START_TEST(test_checksum_tail_and_corruption)
{
    proto_reader *r;
    uint64_t size, n;
    char err[160];
    int fd, rc;
    uint8_t b;

    write_file(3000, 1024);
    size = file_size(path);
    fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    /* A bad byte in the last chunk: a torn tail. */
    ck_assert_int_eq(pread(fd, &b, 1, (off_t)size - 10), 1);
    b ^= 0x40;
    ck_assert_int_eq(pwrite(fd, &b, 1, (off_t)size - 10), 1);
    ck_assert_int_eq(proto_reader_new(path, 0, &r, NULL, 0), 0);
    n = read_check(r, 0, &rc);
    ck_assert_int_eq(rc, PROTO_ERR_TORN);
    proto_reader_free(r);
    b ^= 0x40;
    ck_assert_int_eq(pwrite(fd, &b, 1, (off_t)size - 10), 1);
    /* The same in the middle of the file: corruption, and repair refuses
     * to cut valid data. */
    ck_assert_int_eq(pread(fd, &b, 1, 2000), 1);
    b ^= 0x01;
    ck_assert_int_eq(pwrite(fd, &b, 1, 2000), 1);
    close(fd);
    ck_assert_int_eq(proto_reader_new(path, PROTO_READER_FOLLOW, &r, NULL, 0), 0);
    n = read_check(r, 0, &rc);
    ck_assert_int_eq(rc, PROTO_ERR_CORRUPT);
    ck_assert_uint_lt(n, 3000);
    proto_reader_free(r);
    ck_assert_int_eq(proto_file_repair(path, NULL, err, sizeof err), PROTO_ERR_CORRUPT);
    ck_assert_uint_eq(file_size(path), size);
    ck_assert_ptr_nonnull(strstr(err, "checksum"));
}
END_TEST

START_TEST(test_zero_filled_tail)
{
    proto_reader *r;
    uint64_t size;
    int fd, rc;
    static const uint8_t zeros[100];

    write_file(500, 1024);
    size = file_size(path);
    fd = open(path, O_WRONLY);
    ck_assert_int_eq(pwrite(fd, zeros, sizeof zeros, (off_t)size), (ssize_t)sizeof zeros);
    close(fd);
    ck_assert_int_eq(proto_reader_new(path, 0, &r, NULL, 0), 0);
    ck_assert_uint_eq(read_check(r, 0, &rc), 500);
    ck_assert_int_eq(rc, PROTO_ERR_TORN);
    proto_reader_free(r);
    ck_assert_int_eq(proto_file_repair(path, NULL, NULL, 0), 0);
    ck_assert_uint_eq(file_size(path), size);
}
END_TEST

/* ---- Writers that write chunk bytes in pieces, as a slow disk would ---- */

static void write_pieces(int fd, const uint8_t *p, size_t len, uint64_t off,
                         uint64_t *rng)
{
    while (len) {
        size_t n;

        *rng ^= *rng << 13, *rng ^= *rng >> 7, *rng ^= *rng << 17;
        n = 1 + *rng % 700;
        if (n > len)
            n = len;
        if (pwrite(fd, p, n, (off_t)off) != (ssize_t)n)
            abort();
        p += n, len -= n, off += n;
        if (*rng % 4 == 0) {
            struct timespec ts = {0, (long)(*rng >> 40) % 100000};

            nanosleep(&ts, NULL);
        }
    }
}

/* Write n events (n = 0: forever) with the chunk builder, every chunk in
 * random pieces, its index entry after it. With go, wait after the header
 * until *go is set. */
static void piecewise_writer(uint64_t n, uint64_t seed, atomic_int *go)
{
    uint8_t h[PROTO_FILE_HEADER_LEN], ih[PROTO_INDEX_HEADER_LEN];
    proto_chunker c;
    proto_chunk chunk;
    proto_val vals[8];
    char bytes[64];
    proto_event ev;
    uint64_t rng = seed | 1, ioff = PROTO_INDEX_HEADER_LEN;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int ifd = open(ipath, O_WRONLY | O_CREAT | O_TRUNC, 0644);

    if (fd < 0 || ifd < 0)
        abort();
    proto_file_header_encode(&hdr, h);
    proto_index_header_encode(hdr.run_id, ih);
    write_pieces(fd, h, sizeof h, 0, &rng);
    write_pieces(ifd, ih, sizeof ih, 0, &rng);
    while (go && !atomic_load(go))
        usleep(100);
    proto_chunker_init(&c);
    for (uint64_t i = 0; n == 0 || i < n; i++) {
        gen(i, &ev, vals, bytes);
        if (proto_chunker_add(&c, &ev) < 0)
            abort();
        if (proto_chunker_pending(&c) >= 1500 || i + 1 == n) {
            if (proto_chunker_seal(&c, &chunk) < 0)
                abort();
            write_pieces(fd, chunk.data, chunk.len, chunk.offset, &rng);
            write_pieces(ifd, chunk.idx_entry, sizeof chunk.idx_entry, ioff, &rng);
            ioff += sizeof chunk.idx_entry;
            proto_chunk_close(&chunk);
        }
    }
    proto_chunker_close(&c);
    close(ifd);
    close(fd);
}

typedef struct writer_arg {
    uint64_t n;
    atomic_int go;
} writer_arg;

static void *writer_thread(void *arg)
{
    writer_arg *wa = arg;

    piecewise_writer(wa->n, 99, &wa->go);
    return NULL;
}

START_TEST(test_follow_while_growing)
{
    writer_arg wa = {.n = 20000};
    proto_val vals[8];
    char bytes[64], err[160];
    proto_event ev, want;
    proto_reader *r = NULL;
    pthread_t t;
    uint64_t got = 0;
    int rc;

    /* Make sure an empty file exists first: the reader may open it before
     * the writer has written the header. */
    close(open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644));
    pthread_create(&t, NULL, writer_thread, &wa);
    while ((rc = proto_reader_new(path, PROTO_READER_FOLLOW, &r, err, sizeof err)) ==
           PROTO_ERR_AGAIN)
        usleep(100);
    ck_assert_msg(rc == 0, "%s", err);
    proto_event_init(&ev);
    /* Header only so far: "not yet". Then let the writer go on. */
    ck_assert_int_eq(proto_reader_next(r, &ev, err, sizeof err), PROTO_ERR_AGAIN);
    atomic_store(&wa.go, 1);
    while (got < wa.n) {
        rc = proto_reader_next(r, &ev, err, sizeof err);
        if (rc == PROTO_ERR_AGAIN) {
            usleep(50);
            continue;
        }
        ck_assert_msg(rc == 0, "at %llu: %s", (unsigned long long)got, err);
        gen(got, &want, vals, bytes);
        ck_assert_msg(proto_event_equal(&ev, &want), "event %llu differs",
                      (unsigned long long)got);
        got++;
    }
    pthread_join(t, NULL);
    rc = proto_reader_next(r, &ev, err, sizeof err);
    ck_assert_int_eq(rc, PROTO_ERR_AGAIN); /* following: never END */
    proto_event_close(&ev);
    proto_reader_free(r);
}
END_TEST

START_TEST(test_sigkill_writer)
{
    for (int round = 0; round < 4; round++) {
        proto_repair_info info;
        proto_reader *r;
        uint64_t n, again;
        int rc, status;
        pid_t pid;

        unlink(path);
        unlink(ipath);
        pid = fork();

        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            piecewise_writer(0, 1234 + (uint64_t)round, NULL);
            _exit(0);
        }
        /* Let it write a few chunks (slow under sanitizers), then kill it
         * at a random moment. */
        for (int w = 0; w < 10000; w++) {
            struct stat st;

            if (stat(path, &st) == 0 && st.st_size > 8192)
                break;
            usleep(1000);
        }
        usleep((useconds_t)(rand() % 60000));
        ck_assert_int_eq(kill(pid, SIGKILL), 0);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFSIGNALED(status));
        /* A valid prefix. */
        ck_assert_int_eq(proto_reader_new(path, 0, &r, NULL, 0), 0);
        n = read_check(r, 0, &rc);
        ck_assert(rc == PROTO_ERR_END || rc == PROTO_ERR_TORN);
        ck_assert_uint_gt(n, 0);
        proto_reader_free(r);
        /* Repair cuts the torn tail; the file then reads to its end. */
        ck_assert_int_eq(proto_file_repair(path, &info, NULL, 0), 0);
        ck_assert_uint_eq(info.events, n);
        ck_assert(info.truncated == (rc == PROTO_ERR_TORN));
        ck_assert_uint_eq(file_size(path), info.valid_len);
        ck_assert_int_eq(proto_reader_new(path, 0, &r, NULL, 0), 0);
        again = read_check(r, 0, &rc);
        ck_assert_uint_eq(again, n);
        ck_assert_int_eq(rc, PROTO_ERR_END);
        ck_assert_int_eq(proto_reader_seek(r, n - 1, NULL, 0), 0);
        ck_assert_uint_eq(read_check(r, n - 1, &rc), 1);
        proto_reader_free(r);
    }
}
END_TEST

/* The chunk builder as the daemon's async writer uses it. */
START_TEST(test_chunker)
{
    proto_chunker c;
    proto_chunk a, b;
    proto_event ev = {.type = PROTO_STEP};

    proto_chunker_init(&c);
    ck_assert_int_eq(proto_chunker_seal(&c, &a), PROTO_ERR_AGAIN);
    for (int i = 0; i < 10; i++) {
        ev.seq = (uint64_t)i;
        ck_assert_int_eq(proto_chunker_add(&c, &ev), 0);
    }
    ck_assert_uint_eq(proto_chunker_count(&c), 10);
    ck_assert_int_eq(proto_chunker_seal(&c, &a), 0);
    ck_assert_uint_eq(a.offset, PROTO_FILE_HEADER_LEN);
    ck_assert_uint_eq(a.first_seq, 0);
    ck_assert_uint_eq(a.count, 10);
    ev.seq = 11;
    ck_assert_int_eq(proto_chunker_add(&c, &ev), PROTO_ERR_ARG);
    ev.seq = 10;
    ck_assert_int_eq(proto_chunker_add(&c, &ev), 0);
    ck_assert_int_eq(proto_chunker_seal(&c, &b), 0);
    ck_assert_uint_eq(b.offset, a.offset + a.len);
    ck_assert_uint_eq(b.first_seq, 10);
    proto_chunk_close(&a);
    proto_chunk_close(&b);
    proto_chunker_close(&c);
}
END_TEST

/* A written chunk's buffer back to the chunker: the next chunk is built
 * in it (the same bytes as in a new one); one handed back while the
 * chunker has a buffer is freed (ASan: no leak, no double free). */
START_TEST(test_chunker_recycle)
{
    proto_chunker c, fresh;
    proto_chunk a, b, f, extra;
    proto_event ev = {.type = PROTO_STEP};
    uint8_t *first;

    proto_chunker_init(&c);
    for (int i = 0; i < 3000; i++) { /* grows the buffer past 4 KiB */
        ev.seq = (uint64_t)i;
        ck_assert_int_eq(proto_chunker_add(&c, &ev), 0);
    }
    ck_assert_int_eq(proto_chunker_seal(&c, &a), 0);
    ck_assert_uint_ge(a.cap, a.len);
    first = a.data;
    proto_chunker_recycle(&c, &a);
    ck_assert_ptr_null(a.data);
    ev.seq = 3000;
    ck_assert_int_eq(proto_chunker_add(&c, &ev), 0);
    ck_assert_int_eq(proto_chunker_seal(&c, &b), 0);
    ck_assert_ptr_eq(b.data, first);
    /* The same bytes as a chunk built from nothing at the same offset. */
    proto_chunker_init(&fresh);
    fresh.offset = b.offset;
    fresh.next_seq = 3000;
    fresh.have_seq = true;
    ck_assert_int_eq(proto_chunker_add(&fresh, &ev), 0);
    ck_assert_int_eq(proto_chunker_seal(&fresh, &f), 0);
    ck_assert_uint_eq(b.len, f.len);
    ck_assert_mem_eq(b.data, f.data, b.len);
    /* c has no buffer now (b took it): b's goes back; then c has one, and
     * another handed back is freed. */
    ev.seq = 3001;
    proto_chunker_recycle(&c, &b);
    ck_assert_int_eq(proto_chunker_add(&c, &ev), 0);
    ck_assert_int_eq(proto_chunker_seal(&fresh, &extra), PROTO_ERR_AGAIN);
    proto_chunker_recycle(&c, &f);
    ck_assert_ptr_null(f.data);
    proto_chunker_close(&fresh);
    proto_chunker_close(&c);
}
END_TEST

START_TEST(test_open_errors)
{
    proto_reader *r;
    char err[160];
    int fd;

    ck_assert_int_eq(proto_reader_new("/nonexistent/x", 0, &r, err, sizeof err),
                     PROTO_ERR_IO);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_eq(write(fd, "\x89TRACED", 7), 7);
    close(fd);
    ck_assert_int_eq(proto_reader_new(path, PROTO_READER_FOLLOW, &r, NULL, 0),
                     PROTO_ERR_AGAIN);
    ck_assert_int_eq(proto_reader_new(path, 0, &r, NULL, 0), PROTO_ERR_TRUNCATED);
    fd = open(path, O_WRONLY | O_TRUNC);
    ck_assert_int_eq(write(fd, "not a trace file at all, not at all, no no no no no "
                               "no no no no no no no no no no no", 80), 80);
    close(fd);
    ck_assert_int_eq(proto_reader_new(path, 0, &r, NULL, 0), PROTO_ERR_BAD_MAGIC);
}
END_TEST

Suite *tracefile_suite(void)
{
    Suite *s = suite_create("tracefile");
    TCase *tc = tcase_create("tracefile");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_header);
    tcase_add_test(tc, test_chunker_recycle);
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_samples_round_trip);
    tcase_add_test(tc, test_seek);
    tcase_add_test(tc, test_torn_tail_and_repair);
    tcase_add_test(tc, test_checksum_tail_and_corruption);
    tcase_add_test(tc, test_zero_filled_tail);
    tcase_add_test(tc, test_follow_while_growing);
    tcase_add_test(tc, test_sigkill_writer);
    tcase_add_test(tc, test_chunker);
    tcase_add_test(tc, test_open_errors);
    suite_add_tcase(s, tc);
    return s;
}
