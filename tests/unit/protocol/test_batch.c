/* Batch records (docs/protocol.md section 2, "Batches"): the documented
 * bytes, transparent expansion by every decoder, the ring's push_batch in
 * lossless and lossy mode, batches as one unit in file chunks, and the
 * malformed batches a decoder must refuse without reading outside its
 * input. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto_int.h"
#include "ring_harness.h"
#include "samples.h"
#include "suites.h"
#include "traced/proto_ring.h"
#include "traced/wire.h"

static char dir[64], path[128];

static void setup(void)
{
    samples_tmp_make("batch", dir, sizeof dir, path, sizeof path);
}

static void teardown(void)
{
    samples_tmp_remove(dir);
}

static const proto_file_header hdr = {
    .run_id = 7, .wall_ns = 1, .level = PROTO_LEVEL_OPS,
};

/* The documented example (docs/protocol.md, "Batches"): in a fresh state,
 * a batch of call seq 5 t 100 (func 3, depth 1, [i32 5]), step seq 6
 * t 103 (file 1, line 300, column 5), return seq 7 t 110 (func 3,
 * depth 1, [i32 25]). */
static const uint8_t doc_batch[] = {
    0x0d, 0x0a, 0xc8, 0x01, 0x03, 0x0a, 0x17,             /* header */
    0x02, 0x00, 0x00, 0x03, 0x01, 0x01, 0x7f, 0x0a,       /* call */
    0x0a, 0x00, 0x06, 0x01, 0xac, 0x02, 0x05,             /* step */
    0x03, 0x00, 0x0e, 0x03, 0x01, 0x01, 0x7f, 0x32,       /* return */
};
#define DOC_HEAD 7u

static const proto_val doc_arg = {.type = VM_I32, .of.i32 = 5};
static const proto_val doc_res = {.type = VM_I32, .of.i32 = 25};

static void doc_events(proto_event *evs)
{
    memset(evs, 0, 3 * sizeof *evs);
    evs[0] = (proto_event){.type = PROTO_CALL, .seq = 5, .t_ns = 100,
                           .as.call = {3, 1, {&doc_arg, 1}}};
    evs[1] = (proto_event){.type = PROTO_STEP, .seq = 6, .t_ns = 103,
                           .as.step = {1, 300, 5}};
    evs[2] = (proto_event){.type = PROTO_RETURN, .seq = 7, .t_ns = 110,
                           .as.ret = {3, 1, {&doc_res, 1}}};
}

static uint64_t next_rand(uint64_t *rng)
{
    *rng ^= *rng << 13, *rng ^= *rng >> 7, *rng ^= *rng << 17;
    return *rng;
}

/* Event seq of the generated stream: the harness's event, stamped 2 ns
 * apart, never a trap when it would go into a batch is fine too (traps
 * are allowed inside); only run_start, run_end and loss are not, and the
 * harness makes none of those. */
static void gen(uint64_t seq, proto_event *ev, proto_val *vals, char *bytes)
{
    ring_harness_event(seq, ev, vals, bytes);
    ev->seq = seq;
    ev->t_ns = 1000 + 2 * seq;
}

/* Encode events first..first+count-1 of the stream as a batch body (what
 * the VM's sink does); returns its length. */
static size_t encode_body(uint64_t first, uint32_t count, uint8_t *buf,
                          size_t cap)
{
    proto_val vals[8];
    char bytes[64];
    proto_event ev;
    proto_delta d;
    size_t len = 0, n;

    gen(first, &ev, vals, bytes);
    proto_delta_reset(&d);
    d.next_seq = first;
    d.prev_t = ev.t_ns;
    for (uint32_t k = 0; k < count; k++) {
        gen(first + k, &ev, vals, bytes);
        ck_assert_int_eq(proto_encode(&d, &ev, buf + len, cap - len, &n), 0);
        len += n;
    }
    return len;
}

/* Check ev against event seq of the stream. */
static void check_event(const proto_event *ev, uint64_t seq)
{
    proto_val vals[8];
    char bytes[64];
    proto_event want;

    gen(seq, &want, vals, bytes);
    ck_assert_uint_eq(ev->seq, seq);
    ck_assert_msg(proto_event_equal(ev, &want), "event %llu differs",
                  (unsigned long long)seq);
}

/* Units of the stream: an ordinary push or a batch of count events. */
typedef struct unit {
    uint64_t first;
    uint32_t count;
    bool batch;
    int rc;
} unit;

/*
 * Push events first..first+n-1 into r as a random mix of ordinary pushes
 * and batches of 1..max_batch events. A lossy ring never drops a trap and
 * waits for room instead, which would hang this single thread: lossy, a
 * trap goes in a batch (where it may be dropped with the batch). Fills
 * units (room for n) and returns how many.
 */
static size_t push_stream(proto_ring *r, uint64_t first, uint64_t n,
                          uint32_t max_batch, uint64_t seed, bool lossy,
                          unit *units)
{
    static uint8_t body[1 << 16];
    uint64_t rng = seed, seq = first, end = first + n;
    proto_val vals[8];
    char bytes[64];
    proto_event ev;
    size_t nu = 0;

    while (seq < end) {
        uint64_t x = next_rand(&rng);
        unit *u = &units[nu++];

        gen(seq, &ev, vals, bytes);
        u->first = seq;
        if (x % 3 == 0 || (lossy && ev.type == PROTO_TRAP)) {
            uint32_t count = 1 + (uint32_t)((x >> 8) % max_batch);
            uint64_t got = ~0ull;
            size_t len;
            proto_event last;

            if (count > end - seq)
                count = (uint32_t)(end - seq);
            len = encode_body(seq, count, body, sizeof body);
            gen(seq + count - 1, &last, vals, bytes);
            u->batch = true;
            u->count = count;
            u->rc = proto_ring_push_batch(r, 1000 + 2 * seq, last.t_ns, body,
                                          len, count, &got);
            ck_assert_uint_eq(got, seq);
            seq += count;
        } else {
            u->batch = false;
            u->count = 1;
            u->rc = proto_ring_push(r, &ev);
            ck_assert_uint_eq(ev.seq, seq);
            seq++;
        }
    }
    proto_ring_flush(r);
    return nu;
}

/* ---- The documented bytes ----------------------------------------------- */

START_TEST(test_documented_batch)
{
    proto_event evs[3], out;
    uint8_t body[64], rec[128];
    proto_delta d = {0}, inner = {.next_seq = 5, .prev_t = 100};
    proto_raw raw;
    proto_raw_events it;
    proto_ring *r;
    proto_ring_opts ro = {.capacity = 4096};
    const uint8_t *ring_rec;
    size_t len = 0, n, used, off;
    uint64_t first = 99;
    char err[128];

    /* The body is three ordinary records against the body's own state. */
    doc_events(evs);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(proto_encode(&inner, &evs[i], body + len,
                                      sizeof body - len, &n), 0);
        len += n;
    }
    ck_assert_uint_eq(len, sizeof doc_batch - DOC_HEAD);
    ck_assert(memcmp(body, doc_batch + DOC_HEAD, len) == 0);

    /* proto_decode expands it: the first call takes header + call. */
    proto_event_init(&out);
    off = 0;
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(proto_decode(&d, doc_batch + off,
                                      sizeof doc_batch - off, &out, &used,
                                      err, sizeof err), 0);
        ck_assert(proto_event_equal(&out, &evs[i]));
        ck_assert_uint_eq(used, i == 0 ? DOC_HEAD + 8 : i == 1 ? 7 : 8);
        ck_assert(proto_delta_in_batch(&d) == (i < 2));
        off += used;
    }
    ck_assert_uint_eq(off, sizeof doc_batch);
    /* After the batch: next_seq = seq + count, prev_t = t_last, offset
     * unchanged, not inside a batch. */
    ck_assert_uint_eq(d.next_seq, 8);
    ck_assert_uint_eq(d.prev_t, 110);
    ck_assert_uint_eq(d.prev_offset, 0);
    ck_assert_uint_eq(d.batch_left, 0);
    ck_assert_uint_eq(d.batch_bytes, 0);

    /* One raw unit. */
    proto_delta_reset(&d);
    ck_assert_int_eq(proto_raw_parse(&d, doc_batch, sizeof doc_batch, &raw,
                                     err, sizeof err), 0);
    ck_assert_int_eq(raw.type, PROTO_BATCH);
    ck_assert_uint_eq(raw.seq, 5);
    ck_assert_uint_eq(raw.next_seq, 8);
    ck_assert_uint_eq(raw.count, 3);
    ck_assert_uint_eq(raw.t_first, 100);
    ck_assert_uint_eq(raw.t_ns, 110);
    proto_raw_advance(&d, &raw);
    ck_assert_uint_eq(d.next_seq, 8);
    ck_assert_uint_eq(d.prev_t, 110);
    ck_assert_int_eq(proto_raw_decode(&raw, &out, err, sizeof err),
                     PROTO_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err, "proto_raw_events"));
    proto_raw_events_init(&it, &raw);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(proto_raw_events_next(&it, &out, err, sizeof err), 0);
        ck_assert(proto_event_equal(&out, &evs[i]));
    }
    ck_assert_int_eq(proto_raw_events_next(&it, &out, err, sizeof err),
                     PROTO_ERR_END);

    /* The same batch coded against another state re-bases (chunk start)
     * to the documented bytes: only seq and t_first deltas change. */
    {
        proto_delta other = {.next_seq = 5, .prev_t = 90, .prev_offset = 77};
        proto_chunker c;
        proto_chunk ch;

        memcpy(rec, (const uint8_t[]){0x0d, 0x00, 0x14}, 3);
        memcpy(rec + 3, doc_batch + 4, sizeof doc_batch - 4);
        ck_assert_int_eq(proto_raw_parse(&other, rec, sizeof doc_batch - 1,
                                         &raw, err, sizeof err), 0);
        ck_assert_uint_eq(raw.seq, 5);
        ck_assert_uint_eq(raw.t_first, 100);
        proto_chunker_init(&c);
        ck_assert_int_eq(proto_chunker_add_raw(&c, &raw), 0);
        ck_assert_uint_eq(proto_chunker_count(&c), 3);
        ck_assert_uint_eq(proto_chunker_pending(&c), sizeof doc_batch);
        ck_assert_int_eq(proto_chunker_seal(&c, &ch), 0);
        ck_assert_uint_eq(ch.count, 3);
        ck_assert_uint_eq(ch.first_seq, 5);
        ck_assert(memcmp(ch.data + PROTO_CHUNK_HEADER_LEN, doc_batch,
                         sizeof doc_batch) == 0);
        proto_chunk_close(&ch);
        proto_chunker_close(&c);
    }

    /* The ring writes the header against its own state: a fresh ring
     * numbers from 0, so the seq delta is 0. */
    ck_assert_int_eq(proto_ring_new(&ro, &r), 0);
    ck_assert_int_eq(proto_ring_push_batch(r, 100, 110, body, len, 3, &first),
                     0);
    ck_assert_uint_eq(first, 0);
    ck_assert_int_eq(proto_ring_peek(r, &ring_rec, &n), 0);
    ck_assert_uint_eq(n, sizeof doc_batch);
    ck_assert_uint_eq(ring_rec[0], 0x0d);
    ck_assert_uint_eq(ring_rec[1], 0x00);
    ck_assert(memcmp(ring_rec + 2, doc_batch + 2, sizeof doc_batch - 2) == 0);
    proto_ring_free(r);
    proto_event_close(&out);
}
END_TEST

/* ---- Round trips ----------------------------------------------------------- */

START_TEST(test_ring_next_expands)
{
    enum { N = 6000 };
    proto_ring_opts ro = {.capacity = 4u << 20};
    unit *units = calloc(N, sizeof *units);
    proto_ring *r;
    proto_ring_stats st;
    proto_event out;
    char err[128];
    uint64_t seq = 0;
    size_t nu;
    int rc;

    ck_assert_int_eq(proto_ring_new(&ro, &r), 0);
    nu = push_stream(r, 0, N, 40, 0x1234567, false, units);
    for (size_t i = 0; i < nu; i++)
        ck_assert_int_eq(units[i].rc, 0);
    proto_ring_finish(r);
    proto_event_init(&out);
    while ((rc = proto_ring_next(r, &out, err, sizeof err)) == 0)
        check_event(&out, seq++);
    ck_assert_msg(rc == PROTO_ERR_END, "%s: %s", proto_err_name(rc), err);
    ck_assert_uint_eq(seq, N);
    proto_ring_stats_get(r, &st);
    ck_assert_uint_eq(st.produced, N);
    ck_assert_uint_eq(st.dropped, 0);
    proto_event_close(&out);
    proto_ring_free(r);
    free(units);
}
END_TEST

START_TEST(test_ring_raw_events)
{
    enum { N = 6000 };
    proto_ring_opts ro = {.capacity = 4u << 20};
    unit *units = calloc(N, sizeof *units);
    proto_ring *r;
    proto_event out;
    proto_raw raw;
    proto_raw_events it;
    char err[128];
    uint64_t seq = 0;
    size_t nu, k = 0;
    int rc;

    ck_assert_int_eq(proto_ring_new(&ro, &r), 0);
    nu = push_stream(r, 0, N, 40, 0x7654321, false, units);
    proto_ring_finish(r);
    proto_event_init(&out);
    while ((rc = proto_ring_next_raw(r, &raw, err, sizeof err)) == 0) {
        /* One raw unit per push. */
        ck_assert_uint_lt(k, nu);
        ck_assert_uint_eq(raw.seq, units[k].first);
        ck_assert_uint_eq(raw.count, units[k].count);
        ck_assert_uint_eq(raw.next_seq, units[k].first + units[k].count);
        ck_assert(units[k].batch == (raw.type == PROTO_BATCH));
        ck_assert_uint_eq(raw.t_ns, 1000 + 2 * (raw.next_seq - 1));
        ck_assert_uint_eq(raw.t_first, 1000 + 2 * raw.seq);
        proto_raw_events_init(&it, &raw);
        while ((rc = proto_raw_events_next(&it, &out, err, sizeof err)) == 0)
            check_event(&out, seq++);
        ck_assert_msg(rc == PROTO_ERR_END, "%s", err);
        ck_assert_uint_eq(seq, raw.next_seq);
        k++;
    }
    ck_assert_int_eq(rc, PROTO_ERR_END);
    ck_assert_uint_eq(k, nu);
    ck_assert_uint_eq(seq, N);
    proto_event_close(&out);
    proto_ring_free(r);
    free(units);
}
END_TEST

/* The unit that holds seq. */
static const unit *unit_of(const unit *units, size_t nu, uint64_t seq)
{
    for (size_t i = 0; i < nu; i++)
        if (seq >= units[i].first && seq < units[i].first + units[i].count)
            return &units[i];
    ck_abort_msg("seq %llu in no unit", (unsigned long long)seq);
    return NULL;
}

/* next and next_raw mix between records; next_raw inside a batch that
 * next is expanding is refused, and next then carries on. */
START_TEST(test_ring_mix_and_misuse)
{
    proto_ring_opts ro = {.capacity = 1u << 20};
    unit units[200];
    proto_ring *r;
    proto_event out;
    proto_raw raw;
    proto_raw_events it;
    char err[128];
    uint64_t seq = 0;
    size_t nu;
    int rc, step = 0, refused = 0;

    ck_assert_int_eq(proto_ring_new(&ro, &r), 0);
    nu = push_stream(r, 0, 200, 5, 99, false, units);
    proto_event_init(&out);
    for (;;) {
        const unit *u;

        if (step++ % 2) {
            rc = proto_ring_next_raw(r, &raw, err, sizeof err);
            if (rc < 0)
                break;
            proto_raw_events_init(&it, &raw);
            while (proto_raw_events_next(&it, &out, err, sizeof err) == 0)
                check_event(&out, seq++);
            ck_assert_uint_eq(seq, raw.next_seq);
            continue;
        }
        rc = proto_ring_next(r, &out, err, sizeof err);
        if (rc < 0)
            break;
        check_event(&out, seq++);
        /* Inside a batch: next_raw is refused until next has returned
         * the batch's last event. */
        u = unit_of(units, nu, out.seq);
        while (seq < u->first + u->count) {
            err[0] = '\0';
            ck_assert_int_eq(proto_ring_next_raw(r, &raw, err, sizeof err),
                             PROTO_ERR_ARG);
            ck_assert(err[0] != '\0');
            refused++;
            ck_assert_int_eq(proto_ring_next(r, &out, err, sizeof err), 0);
            check_event(&out, seq++);
        }
    }
    ck_assert_int_eq(rc, PROTO_ERR_AGAIN);
    ck_assert_uint_eq(seq, 200);
    ck_assert_int_gt(refused, 5);
    proto_event_close(&out);
    proto_ring_free(r);
}
END_TEST

/* Ring -> next_raw -> file (small chunks, so batches open chunks and a
 * chunk may exceed its target by one batch) -> reader, and the chunker
 * directly for chunk counts; then seeks, including into batches. */
START_TEST(test_ring_raw_to_file)
{
    enum { N = 8000 };
    proto_ring_opts ro = {.capacity = 8u << 20};
    proto_file_writer_opts wo = {.chunk_bytes = 300};
    unit *units = calloc(N, sizeof *units);
    proto_file_writer *w;
    proto_reader *rd;
    proto_chunker c;
    proto_chunk ch;
    proto_ring *r;
    proto_event out;
    proto_raw raw;
    struct stat sb;
    char err[160];
    uint64_t seq = 0, chunk_events = 0, batch_opened = 0, chunks = 0;
    uint64_t targets[64];
    size_t nu, nt = 0;
    int rc;

    ck_assert_int_eq(proto_ring_new(&ro, &r), 0);
    nu = push_stream(r, 0, N, 60, 0xabcdef, false, units);
    proto_ring_finish(r);
    ck_assert_int_eq(proto_file_writer_new(path, &hdr, &wo, &w, err,
                                           sizeof err), 0);
    proto_chunker_init(&c);
    while ((rc = proto_ring_next_raw(r, &raw, err, sizeof err)) == 0) {
        ck_assert_int_eq(proto_file_writer_add_raw(w, &raw, err, sizeof err),
                         0);
        if (raw.type == PROTO_BATCH && proto_chunker_count(&c) == 0)
            batch_opened++;
        ck_assert_int_eq(proto_chunker_add_raw(&c, &raw), 0);
        if (proto_chunker_pending(&c) >= 300) {
            ck_assert_int_eq(proto_chunker_seal(&c, &ch), 0);
            chunk_events += ch.count;
            chunks++;
            proto_chunk_close(&ch);
        }
        /* Seek targets inside batches: the second and the last event. */
        if (raw.type == PROTO_BATCH && raw.count >= 3 && nt + 2 <= 60) {
            targets[nt++] = raw.seq + 1;
            targets[nt++] = raw.next_seq - 1;
        }
    }
    ck_assert_int_eq(rc, PROTO_ERR_END);
    if (proto_chunker_seal(&c, &ch) == 0) {
        chunk_events += ch.count;
        chunks++;
        proto_chunk_close(&ch);
    }
    proto_chunker_close(&c);
    ck_assert_uint_eq(chunk_events, N);
    ck_assert_uint_gt(nu, 100);
    ck_assert_uint_gt(batch_opened, 10);
    ck_assert_uint_gt(chunks, 50);
    ck_assert_int_eq(proto_file_writer_free(w, err, sizeof err), 0);
    proto_ring_free(r);

    /* The index has one entry per chunk the writer wrote. */
    {
        char ipath[160];

        snprintf(ipath, sizeof ipath, "%s.idx", path);
        ck_assert_int_eq(stat(ipath, &sb), 0);
        ck_assert_uint_gt((sb.st_size - PROTO_INDEX_HEADER_LEN) /
                              PROTO_INDEX_ENTRY_LEN, 50);
    }

    proto_event_init(&out);
    ck_assert_int_eq(proto_reader_new(path, 0, &rd, err, sizeof err), 0);
    while ((rc = proto_reader_next(rd, &out, err, sizeof err)) == 0)
        check_event(&out, seq++);
    ck_assert_msg(rc == PROTO_ERR_END, "%s", err);
    ck_assert_uint_eq(seq, N);

    ck_assert_uint_gt(nt, 10);
    targets[nt++] = 0;
    targets[nt++] = N - 1;
    for (size_t i = 0; i < nt; i++) {
        ck_assert_int_eq(proto_reader_seek(rd, targets[i], err, sizeof err),
                         0);
        ck_assert_int_eq(proto_reader_next(rd, &out, err, sizeof err), 0);
        check_event(&out, targets[i]);
        if (targets[i] + 1 < N) {
            ck_assert_int_eq(proto_reader_next(rd, &out, err, sizeof err), 0);
            check_event(&out, targets[i] + 1);
        }
    }
    ck_assert_int_eq(proto_reader_seek(rd, N, err, sizeof err), 0);
    ck_assert_int_eq(proto_reader_next(rd, &out, err, sizeof err),
                     PROTO_ERR_END);
    proto_reader_free(rd);

    /* Repair counts inner events. */
    {
        proto_repair_info info;

        ck_assert_int_eq(proto_file_repair(path, &info, err, sizeof err), 0);
        ck_assert_uint_eq(info.events, N);
        ck_assert_uint_eq(info.next_seq, N);
        ck_assert(!info.truncated);
    }
    proto_event_close(&out);
    free(units);
}
END_TEST

/* ---- Lossy ring ---------------------------------------------------------- */

/* Read everything there is; seen[seq] = 1 delivered, 2 covered by a loss. */
static int drain(proto_ring *r, uint8_t *seen, uint64_t *seq,
                 uint64_t *delivered, uint64_t *covered, uint64_t *losses)
{
    proto_event out;
    char err[128];
    int rc;

    proto_event_init(&out);
    while ((rc = proto_ring_next(r, &out, err, sizeof err)) == 0) {
        ck_assert_uint_eq(out.seq, *seq);
        if (out.type == PROTO_LOSS) {
            ++*losses;
            *covered += out.as.loss.count;
            for (uint64_t k = 0; k < out.as.loss.count; k++)
                seen[out.seq + k] = 2;
            *seq += out.as.loss.count;
        } else {
            check_event(&out, *seq);
            seen[(*seq)++] = 1;
            ++*delivered;
        }
    }
    proto_event_close(&out);
    return rc;
}

START_TEST(test_lossy_drops_whole_batches)
{
    enum { N = 3000, ROUNDS = 6 };
    proto_ring_opts ro = {.capacity = 4096, .lossy = true};
    unit *units = calloc(N, sizeof *units);
    uint8_t *seen = calloc(N + 1, 1);
    proto_ring *r;
    proto_ring_stats st;
    proto_event ev;
    proto_val vals[8];
    char bytes[64];
    uint64_t seq = 0, delivered = 0, covered = 0, losses = 0, dropped = 0;
    size_t nu = 0;
    int full_batches = 0, ok_batches = 0;

    ck_assert_int_eq(proto_ring_new(&ro, &r), 0);
    /* Push rounds without draining in between, so the ring fills. */
    for (uint64_t round = 0; round < ROUNDS; round++) {
        nu += push_stream(r, round * (N / ROUNDS), N / ROUNDS, 8,
                          777 + round, true, units + nu);
        ck_assert_int_eq(drain(r, seen, &seq, &delivered, &covered, &losses),
                         PROTO_ERR_AGAIN);
    }
    /* One more event writes the pending loss first. */
    gen(N, &ev, vals, bytes);
    ck_assert_int_eq(proto_ring_push(r, &ev), 0);
    ck_assert_uint_eq(ev.seq, N);
    proto_ring_finish(r);
    ck_assert_int_eq(drain(r, seen, &seq, &delivered, &covered, &losses),
                     PROTO_ERR_END);
    ck_assert_uint_eq(seq, N + 1);

    /* Each unit is delivered or dropped whole, as its push said. */
    for (size_t k = 0; k < nu; k++) {
        const unit *u = &units[k];

        ck_assert(u->rc == 0 || u->rc == PROTO_ERR_FULL);
        for (uint32_t j = 0; j < u->count; j++)
            ck_assert_uint_eq(seen[u->first + j], u->rc == 0 ? 1 : 2);
        if (u->rc == PROTO_ERR_FULL) {
            dropped += u->count;
            full_batches += u->batch;
        } else {
            ok_batches += u->batch;
        }
    }
    ck_assert_int_gt(full_batches, 5);
    ck_assert_int_gt(ok_batches, 5);
    proto_ring_stats_get(r, &st);
    ck_assert_uint_eq(st.produced, N + 1);
    ck_assert_uint_eq(st.dropped, dropped);
    ck_assert_uint_eq(st.dropped, covered);
    ck_assert_uint_eq(st.produced, delivered + st.dropped);
    ck_assert_uint_eq(st.loss_events, losses);
    proto_ring_free(r);
    free(seen);
    free(units);
}
END_TEST

START_TEST(test_push_batch_rejects)
{
    proto_ring_opts ro = {.capacity = 4096};
    uint8_t body[2048] = {0};
    proto_ring *r;
    proto_ring_stats st;

    ck_assert_int_eq(proto_ring_new(&ro, &r), 0);
    ck_assert_int_eq(proto_ring_push_batch(r, 1, 2, body, 10, 0, NULL),
                     PROTO_ERR_ARG);
    ck_assert_int_eq(proto_ring_push_batch(r, 1, 2, body, 0, 1, NULL),
                     PROTO_ERR_ARG);
    ck_assert_int_eq(proto_ring_push_batch(r, 3, 2, body, 10, 1, NULL),
                     PROTO_ERR_ARG);
    /* capacity/4 = 1024 bytes a record: the 4-byte record header, the
     * batch header (at most 46 bytes, counted at its bound) and body. */
    ck_assert_int_eq(proto_ring_push_batch(r, 1, 2, body, 1024, 1, NULL),
                     PROTO_ERR_TOO_BIG);
    ck_assert_int_eq(proto_ring_push_batch(r, 1, 2, body, 975, 1, NULL),
                     PROTO_ERR_TOO_BIG);
    ck_assert_int_eq(proto_ring_push_batch(r, 1, 2, body, 974, 1, NULL), 0);
    proto_ring_stats_get(r, &st);
    ck_assert_uint_eq(st.produced, 1);
    proto_ring_shutdown(r);
    ck_assert_int_eq(proto_ring_push_batch(r, 1, 2, body, 10, 1, NULL),
                     PROTO_ERR_CLOSED);
    proto_ring_free(r);
}
END_TEST

/* ---- Malformed batches -------------------------------------------------- */

/* Decode buf[0..len) (copied to the heap, exactly len bytes, so ASan sees
 * any read outside) with a loop as readers do. Returns the first error
 * (with d unchanged by it) or 0, and the events decoded. */
static int decode_all(const uint8_t *src, size_t len, size_t *events,
                      char *err, size_t errlen)
{
    uint8_t *buf = malloc(len ? len : 1);
    proto_delta d = {0}, before;
    proto_event ev;
    size_t off = 0, used;
    int rc = 0;

    memcpy(buf, src, len);
    proto_event_init(&ev);
    *events = 0;
    while (off < len) {
        before = d;
        rc = proto_decode(&d, buf + off, len - off, &ev, &used, err, errlen);
        if (rc < 0) {
            ck_assert(memcmp(&before, &d, sizeof d) == 0);
            break;
        }
        ck_assert_uint_le(used, len - off);
        ck_assert_uint_gt(used, 0);
        off += used;
        (*events)++;
    }
    if (rc == 0 && proto_delta_in_batch(&d))
        rc = PROTO_ERR_TRUNCATED;
    proto_event_close(&ev);
    free(buf);
    return rc;
}

/* A batch with header fields given and body body[0..n). */
static size_t make_batch(uint8_t *out, uint64_t seq, uint64_t t_first,
                         uint32_t count, uint64_t dt_last, uint64_t body_len,
                         const uint8_t *body, size_t n)
{
    uint8_t *p = out;

    *p++ = PROTO_BATCH;
    p = wire_put_sv(p, (int64_t)seq);
    p = wire_put_sv(p, (int64_t)t_first);
    p = wire_put_uv(p, count);
    p = wire_put_uv(p, dt_last);
    p = wire_put_uv(p, body_len);
    memcpy(p, body, n);
    return (size_t)(p - out) + n;
}

START_TEST(test_malformed_batches)
{
    const uint8_t *body = doc_batch + DOC_HEAD;
    size_t n = sizeof doc_batch - DOC_HEAD, len, events;
    uint8_t buf[256], inner[128];
    char err[128];

#define EXPECT(code, ...)                                                     \
    do {                                                                      \
        err[0] = '\0';                                                        \
        ck_assert_int_eq(decode_all(buf, len, &events, err, sizeof err),      \
                         code);                                               \
        ck_assert_msg(err[0] != '\0' || (code) == 0, "no error text");        \
    } while (0)

    /* The valid one. */
    len = make_batch(buf, 5, 100, 3, 10, n, body, n);
    ck_assert(len == sizeof doc_batch && memcmp(buf, doc_batch, len) == 0);
    EXPECT(0);
    ck_assert_uint_eq(events, 3);

    /* count says more records than the body holds, or fewer */
    len = make_batch(buf, 5, 100, 4, 10, n, body, n);
    EXPECT(PROTO_ERR_MALFORMED);
    ck_assert_uint_eq(events, 2);
    len = make_batch(buf, 5, 100, 2, 10, n, body, n);
    EXPECT(PROTO_ERR_MALFORMED);
    ck_assert_uint_eq(events, 1);
    len = make_batch(buf, 5, 100, 0, 10, n, body, n);
    EXPECT(PROTO_ERR_MALFORMED);
    /* The count is of events: a body cannot bound it (an ops record
     * stands for many), so a count far above the records is found out
     * where the body ends. */
    len = make_batch(buf, 5, 100, 8, 10, n, body, n);
    EXPECT(PROTO_ERR_MALFORMED);
    ck_assert_uint_eq(events, 2);
    ck_assert_ptr_nonnull(strstr(err, "events missing"));

    /* body length one short: the last record runs past the body */
    len = make_batch(buf, 5, 100, 3, 10, n - 1, body, n);
    EXPECT(PROTO_ERR_MALFORMED);
    ck_assert_uint_eq(events, 2);
    /* one long: the input ends first (truncated), or, with a byte after
     * it, the body holds a byte after its last record */
    len = make_batch(buf, 5, 100, 3, 10, n + 1, body, n);
    EXPECT(PROTO_ERR_TRUNCATED);
    buf[len++] = 0x0a;
    EXPECT(PROTO_ERR_MALFORMED);
    ck_assert_uint_eq(events, 2);
    len = make_batch(buf, 5, 100, 3, 10, 0, body, 0);
    EXPECT(PROTO_ERR_MALFORMED);

    /* last t != t_last, both ways */
    len = make_batch(buf, 5, 100, 3, 11, n, body, n);
    EXPECT(PROTO_ERR_MALFORMED);
    ck_assert_uint_eq(events, 2);
    len = make_batch(buf, 5, 100, 3, 9, n, body, n);
    EXPECT(PROTO_ERR_MALFORMED);
    /* t_last overflows */
    len = make_batch(buf, 5, 100, 3, UINT64_MAX - 50, n, body, n);
    EXPECT(PROTO_ERR_MALFORMED);

    /* an inner seq delta that is not 0 (the step's) */
    memcpy(inner, body, n);
    inner[9] = 0x02;
    len = make_batch(buf, 5, 100, 3, 10, n, inner, n);
    EXPECT(PROTO_ERR_MALFORMED);
    ck_assert_uint_eq(events, 1);
    ck_assert_ptr_nonnull(strstr(err, "seq delta"));
    /* the first one's */
    memcpy(inner, body, n);
    inner[1] = 0x01;
    len = make_batch(buf, 5, 100, 3, 10, n, inner, n);
    EXPECT(PROTO_ERR_MALFORMED);
    ck_assert_uint_eq(events, 0);

    /* a batch inside a batch */
    {
        uint8_t nested[64];
        size_t m = make_batch(nested, 0, 0, 1, 0, 8, body, 8);

        len = make_batch(buf, 5, 100, 1, 0, m, nested, m);
        EXPECT(PROTO_ERR_MALFORMED);
        ck_assert_ptr_nonnull(strstr(err, "batch inside a batch"));
    }
    /* run_end, run_start and loss inside */
    {
        static const uint8_t run_end[] = {0x0c, 0, 0, 0, 0, 0, 0, 0,
                                          0,    0, 0, 0};
        static const uint8_t loss[] = {0x0b, 0, 0, 3};
        static const uint8_t run_start[] = {
            0x01, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 1,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0};

        memcpy(inner, body, 8);
        memcpy(inner + 8, run_end, sizeof run_end);
        len = make_batch(buf, 5, 100, 2, 0, 8 + sizeof run_end, inner,
                         8 + sizeof run_end);
        EXPECT(PROTO_ERR_MALFORMED);
        ck_assert_uint_eq(events, 1);
        ck_assert_ptr_nonnull(strstr(err, "run_end"));
        memcpy(inner + 8, loss, sizeof loss);
        len = make_batch(buf, 5, 100, 2, 0, 8 + sizeof loss, inner,
                         8 + sizeof loss);
        EXPECT(PROTO_ERR_MALFORMED);
        /* The run_start record itself is valid outside a batch. */
        len = sizeof run_start;
        memcpy(buf, run_start, len);
        EXPECT(0);
        len = make_batch(buf, 5, 100, 1, 0, sizeof run_start, run_start,
                         sizeof run_start);
        EXPECT(PROTO_ERR_MALFORMED);
    }
    /* a bad inner body is the inner record's usual error */
    memcpy(inner, body, n);
    inner[6] = 0x40; /* the call's value type */
    len = make_batch(buf, 5, 100, 3, 10, n, inner, n);
    EXPECT(PROTO_ERR_MALFORMED);
#undef EXPECT
}
END_TEST

/* Every prefix of a stream with batches is TRUNCATED (never an overread:
 * decode_all gives proto_decode exactly the prefix, on the heap), both
 * from scratch and when the batch header was decoded from the whole
 * input and the rest arrives short. */
START_TEST(test_truncated_everywhere)
{
    uint8_t stream[128], *tail;
    proto_event ev;
    proto_delta d = {0}, before;
    size_t len = 0, events, used, total, n;
    static const uint8_t op[] = {0x06, 0x00, 0x04, 0x41, 0xa4, 0x13};

    memcpy(stream, doc_batch, sizeof doc_batch);
    len = sizeof doc_batch;
    memcpy(stream + len, op, sizeof op);
    len += sizeof op;
    ck_assert_int_eq(decode_all(stream, len, &events, NULL, 0), 0);
    ck_assert_uint_eq(events, 4);
    for (size_t k = 1; k < sizeof doc_batch; k++)
        ck_assert_int_eq(decode_all(stream, k, &events, NULL, 0),
                         PROTO_ERR_TRUNCATED);

    /* The header was decoded from the whole input; the rest of the body
     * arrives short: TRUNCATED, state unchanged, never an overread. */
    proto_event_init(&ev);
    ck_assert_int_eq(proto_decode(&d, stream, len, &ev, &used, NULL, 0), 0);
    total = sizeof doc_batch - used;
    for (size_t k = 0; k < total; k++) {
        proto_delta d2 = d;
        size_t off = 0;
        int rc = 0;

        tail = malloc(k ? k : 1);
        memcpy(tail, stream + used, k);
        while (rc == 0) {
            before = d2;
            rc = proto_decode(&d2, tail + off, k - off, &ev, &n, NULL, 0);
            if (rc == 0)
                off += n;
        }
        ck_assert_int_eq(rc, PROTO_ERR_TRUNCATED);
        ck_assert(memcmp(&before, &d2, sizeof d2) == 0);
        ck_assert(proto_delta_in_batch(&d2));
        free(tail);
    }
    proto_event_close(&ev);
}
END_TEST

/* Random mutations of a stream with batches: an error or a success that
 * claims no more than its input, never an overread (ASan build). */
START_TEST(test_batch_mutations)
{
    uint8_t body[4096], stream[8192], *mut;
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    proto_event ev, last;
    proto_val vals[8];
    char bytes[64];
    size_t len = 0, blen;
    proto_delta d = {0};

    /* ordinary, batch, ordinary, batch */
    for (int part = 0; part < 4; part++) {
        uint64_t seq = (uint64_t)part * 20;

        if (part % 2 == 0) {
            gen(seq, &ev, vals, bytes);
            ck_assert_int_eq(proto_encode(&d, &ev, stream + len,
                                          sizeof stream - len, &blen), 0);
            len += blen;
        } else {
            blen = encode_body(seq, 20, body, sizeof body);
            gen(seq + 19, &last, vals, bytes);
            len += make_batch(stream + len, seq - d.next_seq,
                              1000 + 2 * seq - d.prev_t, 20,
                              last.t_ns - (1000 + 2 * seq), blen, body, blen);
            d.next_seq = seq + 20;
            d.prev_t = last.t_ns;
        }
    }
    {
        size_t events;

        ck_assert_int_eq(decode_all(stream, len, &events, NULL, 0), 0);
        ck_assert_uint_eq(events, 42);
    }
    mut = malloc(len);
    proto_event_init(&ev);
    for (int iter = 0; iter < 20000; iter++) {
        size_t start = next_rand(&rng) % len, mlen = len - start, pos = 0;
        size_t used;
        proto_delta md = {0};
        uint8_t *m = mut + start;

        memcpy(m, stream + start, mlen);
        for (int k = 0; k < 1 + (int)(rng >> 61); k++) {
            next_rand(&rng);
            m[rng % mlen] ^= (uint8_t)(rng >> 32);
        }
        while (pos < mlen) {
            int rc = proto_decode(&md, m + pos, mlen - pos, &ev, &used, NULL,
                                  0);

            if (rc < 0) {
                ck_assert(rc == PROTO_ERR_TRUNCATED ||
                          rc == PROTO_ERR_MALFORMED || rc == PROTO_ERR_LIMIT);
                break;
            }
            ck_assert_uint_le(used, mlen - pos);
            pos += used;
        }
    }
    proto_event_close(&ev);
    free(mut);
}
END_TEST

/* proto_raw_parse and proto_raw_events refuse bad batches. */
START_TEST(test_raw_rejects)
{
    const uint8_t *body = doc_batch + DOC_HEAD;
    size_t n = sizeof doc_batch - DOC_HEAD, len;
    proto_delta d = {0}, inside = {.next_seq = 1, .batch_left = 2,
                                   .batch_bytes = 9};
    uint8_t buf[128], inner[64];
    proto_raw raw;
    proto_raw_events it;
    proto_event ev;
    char err[128];
    int rc;

    /* inside a batch: not a record boundary */
    ck_assert_int_eq(proto_raw_parse(&inside, doc_batch, sizeof doc_batch,
                                     &raw, err, sizeof err), PROTO_ERR_ARG);
    /* body longer than the record / shorter */
    len = make_batch(buf, 5, 100, 3, 10, n + 1, body, n);
    ck_assert_int_eq(proto_raw_parse(&d, buf, len, &raw, err, sizeof err),
                     PROTO_ERR_TRUNCATED);
    len = make_batch(buf, 5, 100, 3, 10, n - 1, body, n);
    ck_assert_int_eq(proto_raw_parse(&d, buf, len, &raw, err, sizeof err),
                     PROTO_ERR_MALFORMED);
    len = make_batch(buf, 5, 100, 0, 10, n, body, n);
    ck_assert_int_eq(proto_raw_parse(&d, buf, len, &raw, err, sizeof err),
                     PROTO_ERR_MALFORMED);
    for (size_t k = 0; k < sizeof doc_batch; k++)
        ck_assert_int_lt(proto_raw_parse(&d, doc_batch, k, &raw, err,
                                         sizeof err), 0);

    /* The header is fine, the body is not: the iterator says so. */
    proto_event_init(&ev);
    len = make_batch(buf, 5, 100, 2, 10, n, body, n);
    ck_assert_int_eq(proto_raw_parse(&d, buf, len, &raw, err, sizeof err), 0);
    proto_raw_events_init(&it, &raw);
    ck_assert_int_eq(proto_raw_events_next(&it, &ev, err, sizeof err), 0);
    ck_assert_int_eq(proto_raw_events_next(&it, &ev, err, sizeof err),
                     PROTO_ERR_MALFORMED);
    memcpy(inner, body, n);
    inner[9] = 0x04;
    len = make_batch(buf, 5, 100, 3, 10, n, inner, n);
    ck_assert_int_eq(proto_raw_parse(&d, buf, len, &raw, err, sizeof err), 0);
    proto_raw_events_init(&it, &raw);
    while ((rc = proto_raw_events_next(&it, &ev, err, sizeof err)) == 0)
        ;
    ck_assert_int_eq(rc, PROTO_ERR_MALFORMED);

    /* An ordinary record: one event, then END. */
    {
        static const uint8_t op[] = {0x06, 0x00, 0x06, 0x41, 0xa4, 0x13};

        ck_assert_int_eq(proto_raw_parse(&d, op, sizeof op, &raw, err,
                                         sizeof err), 0);
        ck_assert_uint_eq(raw.count, 1);
        proto_raw_events_init(&it, &raw);
        ck_assert_int_eq(proto_raw_events_next(&it, &ev, err, sizeof err), 0);
        ck_assert_int_eq(ev.type, PROTO_OP);
        ck_assert_uint_eq(ev.as.op.offset, 1234);
        ck_assert_int_eq(proto_raw_events_next(&it, &ev, err, sizeof err),
                         PROTO_ERR_END);
    }
    proto_event_close(&ev);
}
END_TEST

/* Write one chunk holding payload[0..plen) with the given count, by hand. */
static void write_chunk_file(const uint8_t *payload, uint32_t plen,
                             uint64_t first_seq, uint32_t count)
{
    uint8_t fh[PROTO_FILE_HEADER_LEN], ch[PROTO_CHUNK_HEADER_LEN], crc[4];
    FILE *f = fopen(path, "wb");

    ck_assert_ptr_nonnull(f);
    proto_file_header_encode(&hdr, fh);
    proto__put_u32(ch, 0x4b4e4843u);
    proto__put_u32(ch + 4, plen);
    proto__put_u64(ch + 8, first_seq);
    proto__put_u32(ch + 16, count);
    proto__put_u32(ch + 20, proto_crc32c(0, ch, 20));
    proto__put_u32(crc, proto_crc32c(0, payload, plen));
    ck_assert_uint_eq(fwrite(fh, 1, sizeof fh, f), sizeof fh);
    ck_assert_uint_eq(fwrite(ch, 1, sizeof ch, f), sizeof ch);
    ck_assert_uint_eq(fwrite(payload, 1, plen, f), plen);
    ck_assert_uint_eq(fwrite(crc, 1, 4, f), 4);
    ck_assert_int_eq(fclose(f), 0);
}

/* Read the whole file; the first error. */
static int read_file(uint64_t *events, char *err, size_t errlen)
{
    proto_reader *rd;
    proto_event ev;
    int rc;

    *events = 0;
    ck_assert_int_eq(proto_reader_new(path, 0, &rd, err, errlen), 0);
    proto_event_init(&ev);
    while ((rc = proto_reader_next(rd, &ev, err, errlen)) == 0)
        (*events)++;
    proto_event_close(&ev);
    proto_reader_free(rd);
    return rc;
}

START_TEST(test_chunk_ends_inside_batch)
{
    static const uint8_t op[] = {0x06, 0x00, 0x04, 0x41, 0xa4, 0x13};
    uint8_t payload[128];
    uint32_t plen;
    uint64_t events;
    char err[256];

    memcpy(payload, doc_batch, sizeof doc_batch);
    memcpy(payload + sizeof doc_batch, op, sizeof op);
    plen = sizeof doc_batch + sizeof op;

    write_chunk_file(payload, plen, 5, 4);
    ck_assert_int_eq(read_file(&events, err, sizeof err), PROTO_ERR_END);
    ck_assert_uint_eq(events, 4);

    /* The count ends the chunk after the batch's second event. */
    write_chunk_file(payload, sizeof doc_batch, 5, 2);
    ck_assert_int_eq(read_file(&events, err, sizeof err), PROTO_ERR_CORRUPT);
    ck_assert_ptr_nonnull(strstr(err, "inside a batch"));
    /* The count is of records, not events: too few. */
    write_chunk_file(payload, plen, 5, 2);
    ck_assert_int_eq(read_file(&events, err, sizeof err), PROTO_ERR_CORRUPT);
    /* More events than the chunk holds. */
    write_chunk_file(payload, plen, 5, 5);
    ck_assert_int_eq(read_file(&events, err, sizeof err), PROTO_ERR_CORRUPT);
    /* The payload ends inside the batch body. */
    for (uint32_t cut = 1; cut < sizeof doc_batch; cut++) {
        write_chunk_file(payload, cut, 5, 3);
        ck_assert_int_eq(read_file(&events, err, sizeof err),
                         PROTO_ERR_CORRUPT);
        ck_assert_uint_eq(events, 0);
    }
}
END_TEST

START_TEST(test_decode_nomem)
{
    proto_delta d = {0}, before;
    proto_event ev;
    size_t used;

    proto_event_init(&ev);
    before = d;
    proto__alloc_fail_after = 1;
    ck_assert_int_eq(proto_decode(&d, doc_batch, sizeof doc_batch, &ev, &used,
                                  NULL, 0), PROTO_ERR_NOMEM);
    proto__alloc_fail_after = -1;
    ck_assert(memcmp(&before, &d, sizeof d) == 0);
    /* And it works once memory is back. */
    ck_assert_int_eq(proto_decode(&d, doc_batch, sizeof doc_batch, &ev, &used,
                                  NULL, 0), 0);
    ck_assert_int_eq(ev.type, PROTO_CALL);
    proto_event_close(&ev);
}
END_TEST

/* Two threads, random pacing, batches of random sizes among ordinary
 * pushes, every seq and payload verified (tests/stress/ring_harness.c). */
START_TEST(test_stress_batches_lossless)
{
    ring_harness_opts o = {.count = 200000, .seed = 3, .batches = true};
    ring_harness_result res;

    ck_assert_msg(ring_harness_run(&o, &res) == 0, "%s", res.error);
    ck_assert_uint_eq(res.delivered, o.count);
}
END_TEST

START_TEST(test_stress_batches_lossy)
{
    ring_harness_opts o = {.count = 200000, .lossy = true, .seed = 4,
                           .slow_consumer = true, .batches = true};
    ring_harness_result res;

    ck_assert_msg(ring_harness_run(&o, &res) == 0, "%s", res.error);
    ck_assert_uint_eq(res.produced, res.delivered + res.dropped);
    ck_assert_uint_eq(res.dropped, res.loss_covered);
}
END_TEST

Suite *batch_suite(void)
{
    Suite *s = suite_create("batch");
    TCase *tc = tcase_create("batch");

    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_documented_batch);
    tcase_add_test(tc, test_ring_next_expands);
    tcase_add_test(tc, test_ring_raw_events);
    tcase_add_test(tc, test_ring_mix_and_misuse);
    tcase_add_test(tc, test_ring_raw_to_file);
    tcase_add_test(tc, test_lossy_drops_whole_batches);
    tcase_add_test(tc, test_push_batch_rejects);
    tcase_add_test(tc, test_malformed_batches);
    tcase_add_test(tc, test_truncated_everywhere);
    tcase_add_test(tc, test_batch_mutations);
    tcase_add_test(tc, test_raw_rejects);
    tcase_add_test(tc, test_chunk_ends_inside_batch);
    tcase_add_test(tc, test_decode_nomem);
    tcase_add_test(tc, test_stress_batches_lossless);
    tcase_add_test(tc, test_stress_batches_lossy);
    suite_add_tcase(s, tc);
    return s;
}
