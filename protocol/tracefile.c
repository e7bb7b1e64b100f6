/*
 * The native trace file (docs/protocol.md, "Trace files"): an 80-byte
 * header, then chunks of binary-encoded events, each
 *
 *   header (24): magic "CHNK", payload length, first seq, event count,
 *                CRC32C of those 20 bytes
 *   payload:     records, delta-coded from a zeroed state
 *   trailer (4): CRC32C of the payload
 *
 * and a side index path.idx: a 16-byte header, then one 24-byte entry
 * (first seq, chunk offset, count, CRC32C) per chunk, appended after the
 * chunk. The index is a hint: every entry is checked against the chunk it
 * names, and a reader scans chunk headers past its end, so a lagging or
 * torn index after a crash costs time, never correctness.
 *
 * Writers append whole chunks; a reader that finds the file ending inside
 * a chunk, or a complete last chunk whose checksum fails, is looking at a
 * chunk still being written (follow mode: "not yet") or torn by a crash.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto_int.h"

#define CHUNK_MAGIC 0x4b4e4843u /* "CHNK" */
#define CHUNK_INITIAL_CAP 4096u

/* ---- File header --------------------------------------------------------- */

void proto_file_header_encode(const proto_file_header *h,
                              uint8_t out[PROTO_FILE_HEADER_LEN])
{
    memset(out, 0, PROTO_FILE_HEADER_LEN);
    memcpy(out, PROTO_FILE_MAGIC, 8);
    proto__put_u16(out + 8, PROTO_FILE_VERSION_MAJOR);
    proto__put_u16(out + 10, PROTO_FILE_VERSION_MINOR);
    proto__put_u32(out + 12, PROTO_FILE_HEADER_LEN);
    proto__put_u64(out + 16, h->run_id);
    proto__put_u64(out + 24, h->wall_ns);
    out[32] = (uint8_t)h->level;
    memcpy(out + 40, h->module_hash, 32);
    proto__put_u32(out + 76, proto_crc32c(0, out, 76));
}

int proto_file_header_decode(const uint8_t *buf, size_t len,
                             proto_file_header *h, char *err, size_t errlen)
{
    if (len < PROTO_FILE_HEADER_LEN)
        return proto__error(err, errlen, PROTO_ERR_TRUNCATED,
                            "header has %zu of %u bytes", len,
                            PROTO_FILE_HEADER_LEN);
    if (memcmp(buf, PROTO_FILE_MAGIC, 8) != 0)
        return proto__error(err, errlen, PROTO_ERR_BAD_MAGIC,
                            "bad magic: not a traced trace file");
    h->version_major = proto__get_u16(buf + 8);
    h->version_minor = proto__get_u16(buf + 10);
    if (h->version_major < PROTO_FILE_VERSION_OLDEST_MAJOR ||
        h->version_major > PROTO_FILE_VERSION_MAJOR)
        return proto__error(err, errlen, PROTO_ERR_VERSION,
                            "trace file version %u.%u, this reader reads "
                            "%u.x to %u.x", h->version_major,
                            h->version_minor,
                            PROTO_FILE_VERSION_OLDEST_MAJOR,
                            PROTO_FILE_VERSION_MAJOR);
    if (proto__get_u32(buf + 12) != PROTO_FILE_HEADER_LEN)
        return proto__error(err, errlen, PROTO_ERR_CORRUPT,
                            "header length %u", proto__get_u32(buf + 12));
    if (proto__get_u32(buf + 76) != proto_crc32c(0, buf, 76))
        return proto__error(err, errlen, PROTO_ERR_CRC, "header checksum");
    h->run_id = proto__get_u64(buf + 16);
    h->wall_ns = proto__get_u64(buf + 24);
    h->level = (proto_level)buf[32];
    memcpy(h->module_hash, buf + 40, 32);
    return 0;
}

void proto_index_header_encode(uint64_t run_id,
                               uint8_t out[PROTO_INDEX_HEADER_LEN])
{
    memcpy(out, PROTO_INDEX_MAGIC, 8);
    proto__put_u64(out + 8, run_id);
}

/* ---- Chunk headers and index entries ------------------------------------------ */

typedef struct chunk_head {
    uint32_t payload_len;
    uint64_t first_seq;
    uint32_t count;
} chunk_head;

static void chunk_head_encode(const chunk_head *h, uint8_t *out)
{
    proto__put_u32(out, CHUNK_MAGIC);
    proto__put_u32(out + 4, h->payload_len);
    proto__put_u64(out + 8, h->first_seq);
    proto__put_u32(out + 16, h->count);
    proto__put_u32(out + 20, proto_crc32c(0, out, 20));
}

static bool chunk_head_decode(const uint8_t *in, chunk_head *h)
{
    if (proto__get_u32(in) != CHUNK_MAGIC ||
        proto__get_u32(in + 20) != proto_crc32c(0, in, 20))
        return false;
    h->payload_len = proto__get_u32(in + 4);
    h->first_seq = proto__get_u64(in + 8);
    h->count = proto__get_u32(in + 16);
    return h->payload_len <= PROTO_CHUNK_MAX_PAYLOAD && h->count > 0 &&
           h->payload_len > 0;
}

static uint64_t chunk_total(const chunk_head *h)
{
    return PROTO_CHUNK_HEADER_LEN + (uint64_t)h->payload_len +
           PROTO_CHUNK_TRAILER_LEN;
}

static void index_entry_encode(uint64_t first_seq, uint64_t offset,
                               uint32_t count, uint8_t *out)
{
    proto__put_u64(out, first_seq);
    proto__put_u64(out + 8, offset);
    proto__put_u32(out + 16, count);
    proto__put_u32(out + 20, proto_crc32c(0, out, 20));
}

/* ---- Chunk builder ----------------------------------------------------------- */

int proto_chunker_init(proto_chunker *c)
{
    memset(c, 0, sizeof *c);
    c->offset = PROTO_FILE_HEADER_LEN;
    c->len = PROTO_CHUNK_HEADER_LEN;
    return 0;
}

void proto_chunker_close(proto_chunker *c)
{
    proto__free(c->buf);
    memset(c, 0, sizeof *c);
}

void proto_chunk_close(proto_chunk *c)
{
    proto__free(c->data);
    memset(c, 0, sizeof *c);
}

static int chunker_room(proto_chunker *c, size_t need)
{
    size_t cap = c->cap ? c->cap : CHUNK_INITIAL_CAP;
    uint8_t *p;

    if (c->len + need <= c->cap)
        return 0;
    while (cap < c->len + need)
        cap *= 2;
    p = proto__realloc(c->buf, cap);
    if (!p)
        return PROTO_ERR_NOMEM;
    c->buf = p;
    c->cap = cap;
    return 0;
}

/* Whether a chunk holding count events can take span more: LIMIT (seal
 * first) when it is not empty, ARG when not even an empty one can. */
static int chunker_span(const proto_chunker *c, uint64_t span)
{
    if (span <= UINT32_MAX - c->count)
        return 0;
    return c->count ? PROTO_ERR_LIMIT : PROTO_ERR_ARG;
}

int proto_chunker_add(proto_chunker *c, const proto_event *ev)
{
    size_t bound = proto__encoded_bound(ev), n;
    uint64_t span = proto__event_span(ev);
    int rc;

    if (c->have_seq && ev->seq != c->next_seq)
        return PROTO_ERR_ARG;
    if ((rc = chunker_span(c, span)) < 0)
        return rc;
    if (c->len - PROTO_CHUNK_HEADER_LEN + bound > PROTO_CHUNK_MAX_PAYLOAD)
        return PROTO_ERR_LIMIT;
    if ((rc = chunker_room(c, bound + PROTO_CHUNK_TRAILER_LEN)) < 0)
        return rc;
    if (c->count == 0) {
        proto_delta_reset(&c->delta);
        c->first_seq = ev->seq;
    }
    /* chunker_room made room for the bound: no second bound or copy. */
    if ((rc = proto__encode_unchecked(&c->delta, ev, c->buf + c->len, &n)) < 0)
        return rc;
    proto__delta_advance(&c->delta, ev);
    c->len += n;
    c->count += (uint32_t)span;
    c->next_seq = proto_event_next_seq(ev);
    c->have_seq = true;
    return 0;
}

/*
 * The ring's records and a chunk's are the same encoding with different
 * delta states: the ring's runs from its creation, the chunk's from a
 * zeroed state at the chunk start. Once a chunk holds one record, its
 * seq and t state equal the ring's (both are "after the previous
 * record"), and once it holds an op, so does the offset state; from
 * then on the record's bytes are exactly what the event would encode to
 * and are copied. Only the records before that are re-based. (An ops
 * record's offset is delta-coded like an op's.)
 *
 * A batch is one unit: its body is coded against its own state, and it
 * leaves the offset state alone, so only its header's seq and t_first
 * deltas depend on the chunk (re-based when it opens the chunk). Like
 * every record it counts as the events (seq numbers) it stands for, which
 * is what readers count.
 */
int proto_chunker_add_raw(proto_chunker *c, const proto_raw *raw)
{
    const proto_delta *d = &raw->before;
    size_t bound = raw->len + PROTO__HEAD_BOUND + PROTO__U64_BOUND, n;
    uint8_t *p;
    int rc;

    if (c->have_seq && raw->seq != c->next_seq)
        return PROTO_ERR_ARG;
    if ((rc = chunker_span(c, raw->next_seq - raw->seq)) < 0)
        return rc;
    if (c->len - PROTO_CHUNK_HEADER_LEN + bound > PROTO_CHUNK_MAX_PAYLOAD)
        return PROTO_ERR_LIMIT;
    if (c->len + bound + PROTO_CHUNK_TRAILER_LEN > c->cap &&
        (rc = chunker_room(c, bound + PROTO_CHUNK_TRAILER_LEN)) < 0)
        return rc;
    if (c->count == 0) {
        proto_delta_reset(&c->delta);
        c->first_seq = raw->seq;
    }
    p = c->buf + c->len;
    if (c->delta.next_seq == d->next_seq && c->delta.prev_t == d->prev_t &&
        ((raw->type != PROTO_OP && raw->type != PROTO_OPS) ||
         c->delta.prev_offset == d->prev_offset)) {
        memcpy(p, raw->bytes, raw->len);
        n = raw->len;
    } else {
        n = proto__raw_rebase(&c->delta, raw, p);
    }
    proto_raw_advance(&c->delta, raw);
    c->len += n;
    c->count += (uint32_t)(raw->next_seq - raw->seq);
    c->next_seq = raw->next_seq;
    c->have_seq = true;
    return 0;
}

size_t proto_chunker_pending(const proto_chunker *c)
{
    return c->len - PROTO_CHUNK_HEADER_LEN;
}

uint32_t proto_chunker_count(const proto_chunker *c)
{
    return c->count;
}

int proto_chunker_seal(proto_chunker *c, proto_chunk *out)
{
    chunk_head h;
    size_t payload = c->len - PROTO_CHUNK_HEADER_LEN;

    if (c->count == 0)
        return PROTO_ERR_AGAIN;
    h.payload_len = (uint32_t)payload;
    h.first_seq = c->first_seq;
    h.count = c->count;
    chunk_head_encode(&h, c->buf);
    proto__put_u32(c->buf + c->len,
                   proto_crc32c(0, c->buf + PROTO_CHUNK_HEADER_LEN, payload));
    out->data = c->buf;
    out->cap = c->cap;
    out->len = c->len + PROTO_CHUNK_TRAILER_LEN;
    out->offset = c->offset;
    out->first_seq = c->first_seq;
    out->count = c->count;
    index_entry_encode(c->first_seq, c->offset, c->count, out->idx_entry);
    c->offset += out->len;
    c->buf = NULL;
    c->cap = 0;
    c->len = PROTO_CHUNK_HEADER_LEN;
    c->count = 0;
    return 0;
}

void proto_chunker_recycle(proto_chunker *c, proto_chunk *chunk)
{
    if (!c->buf && chunk->data) {
        c->buf = chunk->data;
        c->cap = chunk->cap;
        chunk->data = NULL;
    }
    proto_chunk_close(chunk);
}

/* ---- I/O helpers ----------------------------------------------------------------- */

static int pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
    const uint8_t *p = buf;

    while (len) {
        ssize_t n = pwrite(fd, p, len, (off_t)off);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

/* Read up to len bytes at off; returns the count read, or -1. */
static ssize_t pread_full(int fd, void *buf, size_t len, uint64_t off)
{
    uint8_t *p = buf;
    size_t got = 0;

    while (got < len) {
        ssize_t n = pread(fd, p + got, len - got, (off_t)(off + got));

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

static char *index_path(const char *path)
{
    size_t n = strlen(path);
    char *p = proto__malloc(n + 5);

    if (p) {
        memcpy(p, path, n);
        memcpy(p + n, ".idx", 5);
    }
    return p;
}

/* ---- Synchronous writer ----------------------------------------------------------- */

struct proto_file_writer {
    int fd, idx_fd;
    uint64_t idx_off; /* where the next index entry goes */
    proto_chunker chunker;
    size_t chunk_bytes;
    bool sync;
};

int proto_file_writer_new(const char *path, const proto_file_header *h,
                          const proto_file_writer_opts *opts,
                          proto_file_writer **out, char *err, size_t errlen)
{
    uint8_t hdr[PROTO_FILE_HEADER_LEN], ihdr[PROTO_INDEX_HEADER_LEN];
    proto_file_writer *w;
    char *ipath;
    int rc;

    w = proto__calloc(1, sizeof *w);
    if (!w)
        return PROTO_ERR_NOMEM;
    w->chunk_bytes = opts && opts->chunk_bytes ? opts->chunk_bytes : 64u << 10;
    w->sync = opts && opts->sync;
    ipath = index_path(path);
    if (!ipath) {
        rc = PROTO_ERR_NOMEM;
        goto fail_path;
    }
    w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        rc = proto__error(err, errlen, PROTO_ERR_IO, "%s: %s", path,
                          strerror(errno));
        goto fail_open;
    }
    w->idx_fd = open(ipath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->idx_fd < 0) {
        rc = proto__error(err, errlen, PROTO_ERR_IO, "%s: %s", ipath,
                          strerror(errno));
        goto fail_idx;
    }
    proto_file_header_encode(h, hdr);
    proto_index_header_encode(h->run_id, ihdr);
    if (pwrite_all(w->fd, hdr, sizeof hdr, 0) < 0 ||
        pwrite_all(w->idx_fd, ihdr, sizeof ihdr, 0) < 0) {
        rc = proto__error(err, errlen, PROTO_ERR_IO, "%s: %s", path,
                          strerror(errno));
        goto fail_write;
    }
    proto_chunker_init(&w->chunker);
    w->idx_off = PROTO_INDEX_HEADER_LEN;
    proto__free(ipath);
    *out = w;
    return 0;

fail_write:
    close(w->idx_fd);
fail_idx:
    close(w->fd);
fail_open:
    proto__free(ipath);
fail_path:
    proto__free(w);
    return rc;
}

int proto_file_writer_add(proto_file_writer *w, const proto_event *ev,
                          char *err, size_t errlen)
{
    int rc = proto_chunker_add(&w->chunker, ev);

    if (rc == PROTO_ERR_LIMIT && proto_chunker_count(&w->chunker)) {
        if ((rc = proto_file_writer_flush(w, err, errlen)) < 0)
            return rc;
        rc = proto_chunker_add(&w->chunker, ev);
    }
    if (rc < 0)
        return proto__error(err, errlen, rc, "event seq %llu: %s",
                            (unsigned long long)ev->seq, proto_strerror(rc));
    if (proto_chunker_pending(&w->chunker) >= w->chunk_bytes)
        return proto_file_writer_flush(w, err, errlen);
    return 0;
}

int proto_file_writer_add_raw(proto_file_writer *w, const proto_raw *raw,
                              char *err, size_t errlen)
{
    int rc = proto_chunker_add_raw(&w->chunker, raw);

    if (rc == PROTO_ERR_LIMIT && proto_chunker_count(&w->chunker)) {
        if ((rc = proto_file_writer_flush(w, err, errlen)) < 0)
            return rc;
        rc = proto_chunker_add_raw(&w->chunker, raw);
    }
    if (rc < 0)
        return proto__error(err, errlen, rc, "event seq %llu: %s",
                            (unsigned long long)raw->seq, proto_strerror(rc));
    if (proto_chunker_pending(&w->chunker) >= w->chunk_bytes)
        return proto_file_writer_flush(w, err, errlen);
    return 0;
}

int proto_file_writer_flush(proto_file_writer *w, char *err, size_t errlen)
{
    proto_chunk c;
    int rc = proto_chunker_seal(&w->chunker, &c);

    if (rc == PROTO_ERR_AGAIN)
        return 0;
    if (rc < 0)
        return rc;
    /* The entry is written after the chunk it names. */
    if (pwrite_all(w->fd, c.data, c.len, c.offset) < 0 ||
        (w->sync && fdatasync(w->fd) < 0) ||
        pwrite_all(w->idx_fd, c.idx_entry, sizeof c.idx_entry, w->idx_off) < 0)
        rc = proto__error(err, errlen, PROTO_ERR_IO, "write: %s",
                          strerror(errno));
    else
        w->idx_off += sizeof c.idx_entry;
    proto_chunker_recycle(&w->chunker, &c);
    return rc;
}

int proto_file_writer_free(proto_file_writer *w, char *err, size_t errlen)
{
    int rc;

    if (!w)
        return 0;
    rc = proto_file_writer_flush(w, err, errlen);
    if (w->sync && rc == 0 && (fsync(w->fd) < 0 || fsync(w->idx_fd) < 0))
        rc = proto__error(err, errlen, PROTO_ERR_IO, "fsync: %s",
                          strerror(errno));
    close(w->idx_fd);
    close(w->fd);
    proto_chunker_close(&w->chunker);
    proto__free(w);
    return rc;
}

/* ---- Reader ---------------------------------------------------------------------- */

struct proto_reader {
    int fd;
    char *path;
    unsigned flags;
    proto_file_header hdr;
    uint64_t off;        /* file offset of the next chunk to load */
    uint8_t *chunk;      /* payload of the current chunk */
    size_t chunk_cap, chunk_len, pos;
    uint32_t remaining;  /* events left in the current chunk: seq numbers
                            (2.x), records (1.x: loss counted 1) */
    bool count_seqs;     /* 2.x: chunk counts are seq numbers */
    uint64_t chunk_first;
    bool first_of_chunk;
    proto_delta delta;
    uint64_t next_seq;   /* expected seq of the next record */
    bool have_seq;
    bool seeking;
    uint64_t target;
    const proto_code *code; /* proto_reader_set_code; borrowed */
    proto_run_cursor run;   /* the ops or steps event being expanded */
};

static bool following(const proto_reader *r)
{
    return r->flags & PROTO_READER_FOLLOW;
}

/* The file ends inside a chunk (or its last chunk is bad). */
static int tail_state(const proto_reader *r, char *err, size_t errlen,
                      const char *what)
{
    if (following(r))
        return PROTO_ERR_AGAIN;
    return proto__error(err, errlen, PROTO_ERR_TORN,
                        "%s: torn chunk at offset %llu (%s)", r->path,
                        (unsigned long long)r->off, what);
}

static int io_error(const proto_reader *r, char *err, size_t errlen)
{
    return proto__error(err, errlen, PROTO_ERR_IO, "%s: %s", r->path,
                        strerror(errno));
}

static bool all_zero(int fd, uint64_t off, uint64_t end)
{
    uint8_t buf[4096];

    while (off < end) {
        size_t n = end - off < sizeof buf ? (size_t)(end - off) : sizeof buf;
        ssize_t got = pread_full(fd, buf, n, off);

        if (got <= 0)
            return false;
        for (ssize_t i = 0; i < got; i++)
            if (buf[i])
                return false;
        off += (uint64_t)got;
    }
    return true;
}

/*
 * Read and check the chunk header at off. 0, or END (the file ends at
 * off), the tail state (the header is incomplete or all zero: a
 * zero-filled tail is what a crash on some file systems leaves), CORRUPT,
 * IO. *fsize gets the file size seen.
 */
static int read_head(proto_reader *r, uint64_t off, chunk_head *h,
                     uint64_t *fsize, char *err, size_t errlen)
{
    uint8_t buf[PROTO_CHUNK_HEADER_LEN];
    struct stat st;
    ssize_t got;

    if (fstat(r->fd, &st) < 0)
        return io_error(r, err, errlen);
    *fsize = (uint64_t)st.st_size;
    if (off >= *fsize)
        return following(r) ? PROTO_ERR_AGAIN : PROTO_ERR_END;
    if (*fsize - off < PROTO_CHUNK_HEADER_LEN)
        return tail_state(r, err, errlen, "short header");
    got = pread_full(r->fd, buf, sizeof buf, off);
    if (got < 0)
        return io_error(r, err, errlen);
    if ((size_t)got < sizeof buf)
        return tail_state(r, err, errlen, "short header");
    if (!chunk_head_decode(buf, h)) {
        if (all_zero(r->fd, off, *fsize))
            return tail_state(r, err, errlen, "zero-filled tail");
        return proto__error(err, errlen, PROTO_ERR_CORRUPT,
                            "%s: bad chunk header at offset %llu", r->path,
                            (unsigned long long)off);
    }
    if (*fsize - off < chunk_total(h))
        return tail_state(r, err, errlen, "incomplete chunk");
    return 0;
}

static int load_chunk(proto_reader *r, char *err, size_t errlen)
{
    chunk_head h;
    uint64_t fsize, total;
    size_t need;
    ssize_t got;
    int rc;

    if ((rc = read_head(r, r->off, &h, &fsize, err, errlen)) < 0)
        return rc;
    total = chunk_total(&h);
    need = h.payload_len + PROTO_CHUNK_TRAILER_LEN;
    if (need > r->chunk_cap) {
        uint8_t *p = proto__realloc(r->chunk, need);

        if (!p)
            return PROTO_ERR_NOMEM;
        r->chunk = p;
        r->chunk_cap = need;
    }
    got = pread_full(r->fd, r->chunk, need, r->off + PROTO_CHUNK_HEADER_LEN);
    if (got < 0)
        return io_error(r, err, errlen);
    if ((size_t)got < need)
        return tail_state(r, err, errlen, "incomplete chunk");
    if (proto_crc32c(0, r->chunk, h.payload_len) !=
        proto__get_u32(r->chunk + h.payload_len)) {
        if (r->off + total >= fsize)
            return tail_state(r, err, errlen, "checksum");
        return proto__error(err, errlen, PROTO_ERR_CORRUPT,
                            "%s: chunk at offset %llu fails its checksum",
                            r->path, (unsigned long long)r->off);
    }
    if (r->have_seq && h.first_seq != r->next_seq)
        return proto__error(err, errlen, PROTO_ERR_CORRUPT,
                            "%s: chunk at offset %llu starts at seq %llu, "
                            "expected %llu", r->path,
                            (unsigned long long)r->off,
                            (unsigned long long)h.first_seq,
                            (unsigned long long)r->next_seq);
    r->chunk_len = h.payload_len;
    r->pos = 0;
    r->remaining = h.count;
    r->chunk_first = h.first_seq;
    r->first_of_chunk = true;
    proto_delta_reset(&r->delta);
    r->off += total;
    return 0;
}

int proto_reader_new(const char *path, unsigned flags, proto_reader **out,
                     char *err, size_t errlen)
{
    uint8_t hdr[PROTO_FILE_HEADER_LEN];
    proto_reader *r;
    ssize_t got;
    int rc;

    r = proto__calloc(1, sizeof *r);
    if (!r)
        return PROTO_ERR_NOMEM;
    r->flags = flags;
    r->path = proto__malloc(strlen(path) + 1);
    if (!r->path) {
        rc = PROTO_ERR_NOMEM;
        goto fail_path;
    }
    strcpy(r->path, path);
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) {
        rc = io_error(r, err, errlen);
        goto fail_open;
    }
    got = pread_full(r->fd, hdr, sizeof hdr, 0);
    if (got < 0) {
        rc = io_error(r, err, errlen);
        goto fail_header;
    }
    if ((size_t)got < sizeof hdr && following(r)) {
        rc = PROTO_ERR_AGAIN;
        goto fail_header;
    }
    rc = proto_file_header_decode(hdr, (size_t)got, &r->hdr, err, errlen);
    if (rc < 0)
        goto fail_header;
    r->count_seqs = r->hdr.version_major >= 2;
    r->off = PROTO_FILE_HEADER_LEN;
    *out = r;
    return 0;

fail_header:
    close(r->fd);
fail_open:
    proto__free(r->path);
fail_path:
    proto__free(r);
    return rc;
}

void proto_reader_free(proto_reader *r)
{
    if (!r)
        return;
    close(r->fd);
    proto__free(r->chunk);
    proto__free(r->path);
    proto__free(r);
}

const proto_file_header *proto_reader_header(const proto_reader *r)
{
    return &r->hdr;
}

void proto_reader_set_code(proto_reader *r, const proto_code *c)
{
    r->code = c;
    memset(&r->run, 0, sizeof r->run);
}

/*
 * An ops or steps event ev just read, with a code map: open its cursor
 * at the event the reader should return (a seek's target inside the run,
 * else its first) and return that event in ev.
 */
static int open_run(proto_reader *r, proto_event *ev, uint64_t target,
                    char *err, size_t errlen)
{
    uint64_t i = target > ev->seq ? target - ev->seq : 0;
    int rc = proto__run_open(r->code, ev, i, &r->run, err, errlen);

    if (rc < 0) {
        memset(&r->run, 0, sizeof r->run);
        return rc;
    }
    return proto__run_next(r->code, &r->run, ev, err, errlen);
}

int proto_reader_next(proto_reader *r, proto_event *ev, char *err,
                      size_t errlen)
{
    char derr[128];
    uint64_t span, target;
    size_t used;
    int rc;

    if (r->run.type)
        return proto__run_next(r->code, &r->run, ev, err, errlen);
    for (;;) {
        if (r->remaining == 0 && (rc = load_chunk(r, err, errlen)) < 0)
            return rc;
        rc = proto_decode(&r->delta, r->chunk + r->pos, r->chunk_len - r->pos,
                          ev, &used, derr, sizeof derr);
        if (rc == PROTO_ERR_NOMEM)
            return rc;
        if (rc < 0)
            return proto__error(err, errlen, PROTO_ERR_CORRUPT,
                                "%s: chunk before offset %llu: %s", r->path,
                                (unsigned long long)r->off, derr);
        if ((r->first_of_chunk && ev->seq != r->chunk_first) ||
            (r->have_seq && ev->seq != r->next_seq))
            return proto__error(err, errlen, PROTO_ERR_CORRUPT,
                                "%s: seq %llu out of order", r->path,
                                (unsigned long long)ev->seq);
        /* Runs are 2.x records: a 1.x file has none (section 6). */
        if (!r->count_seqs &&
            (ev->type == PROTO_OPS || ev->type == PROTO_STEPS))
            return proto__error(err, errlen, PROTO_ERR_CORRUPT,
                                "%s: %s record at seq %llu in a version "
                                "%u file", r->path,
                                proto_event_type_name(ev->type),
                                (unsigned long long)ev->seq,
                                r->hdr.version_major);
        span = r->count_seqs ? proto__event_span(ev) : 1;
        if (span > r->remaining)
            return proto__error(err, errlen, PROTO_ERR_CORRUPT,
                                "%s: chunk before offset %llu counts %u "
                                "more events, seq %llu stands for %llu",
                                r->path, (unsigned long long)r->off,
                                r->remaining, (unsigned long long)ev->seq,
                                (unsigned long long)span);
        r->first_of_chunk = false;
        r->pos += used;
        r->remaining -= (uint32_t)span;
        /* The count is of events, a batch's inner ones included. */
        if (r->remaining == 0 && proto_delta_in_batch(&r->delta))
            return proto__error(err, errlen, PROTO_ERR_CORRUPT,
                                "%s: chunk before offset %llu ends inside "
                                "a batch", r->path,
                                (unsigned long long)r->off);
        if (r->remaining == 0 && r->pos != r->chunk_len)
            return proto__error(err, errlen, PROTO_ERR_CORRUPT,
                                "%s: chunk before offset %llu has %zu "
                                "bytes after its last event", r->path,
                                (unsigned long long)r->off,
                                r->chunk_len - r->pos);
        r->next_seq = proto_event_next_seq(ev);
        r->have_seq = true;
        target = 0;
        if (r->seeking) {
            if (r->next_seq <= r->target)
                continue;
            r->seeking = false;
            target = r->target;
        }
        if (r->code && (ev->type == PROTO_OPS || ev->type == PROTO_STEPS))
            return open_run(r, ev, target, err, errlen);
        return 0;
    }
}

/*
 * The chunk at which to start looking for seq, from the index: the last
 * valid entry whose first_seq <= seq, checked against the data file.
 * Returns false if the index does not help.
 */
static bool index_lookup(proto_reader *r, uint64_t seq, uint64_t *off,
                         uint64_t *first)
{
    char *ipath = index_path(r->path);
    uint8_t *buf = NULL, ihdr[PROTO_INDEX_HEADER_LEN];
    struct stat st;
    size_t n = 0, lo, hi;
    bool found = false;
    int fd = -1;

    if (!ipath)
        return false;
    fd = open(ipath, O_RDONLY | O_CLOEXEC);
    proto__free(ipath);
    if (fd < 0 || fstat(fd, &st) < 0 || st.st_size < PROTO_INDEX_HEADER_LEN)
        goto out;
    if (pread_full(fd, ihdr, sizeof ihdr, 0) != (ssize_t)sizeof ihdr ||
        memcmp(ihdr, PROTO_INDEX_MAGIC, 8) != 0 ||
        proto__get_u64(ihdr + 8) != r->hdr.run_id)
        goto out;
    n = (size_t)(st.st_size - PROTO_INDEX_HEADER_LEN) / PROTO_INDEX_ENTRY_LEN;
    if (n == 0 || !(buf = proto__malloc(n * PROTO_INDEX_ENTRY_LEN)))
        goto out;
    n = (size_t)pread_full(fd, buf, n * PROTO_INDEX_ENTRY_LEN,
                           PROTO_INDEX_HEADER_LEN) / PROTO_INDEX_ENTRY_LEN;
    /* Entries are valid up to the first bad or out-of-order one. */
    for (size_t i = 0; i < n; i++) {
        const uint8_t *e = buf + i * PROTO_INDEX_ENTRY_LEN;

        if (proto__get_u32(e + 20) != proto_crc32c(0, e, 20) ||
            (i > 0 && (proto__get_u64(e) <= proto__get_u64(e - 24) ||
                       proto__get_u64(e + 8) <= proto__get_u64(e - 16)))) {
            n = i;
            break;
        }
    }
    /* Binary search: the last entry with first_seq <= seq. */
    lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (proto__get_u64(buf + mid * PROTO_INDEX_ENTRY_LEN) <= seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo > 0) {
        const uint8_t *e = buf + (lo - 1) * PROTO_INDEX_ENTRY_LEN;
        uint8_t hb[PROTO_CHUNK_HEADER_LEN];
        chunk_head h;

        *first = proto__get_u64(e);
        *off = proto__get_u64(e + 8);
        found = pread_full(r->fd, hb, sizeof hb, *off) == (ssize_t)sizeof hb &&
                chunk_head_decode(hb, &h) && h.first_seq == *first;
    }
out:
    proto__free(buf);
    if (fd >= 0)
        close(fd);
    return found;
}

int proto_reader_seek(proto_reader *r, uint64_t seq, char *err, size_t errlen)
{
    uint64_t off = PROTO_FILE_HEADER_LEN, first = 0, fsize;
    bool known = index_lookup(r, seq, &off, &first);
    chunk_head h;
    int rc;

    /* Walk chunk headers (no payloads) past what the index knows. */
    if (!known) {
        if ((rc = read_head(r, off, &h, &fsize, err, errlen)) < 0)
            return rc == PROTO_ERR_END ? PROTO_ERR_NOT_FOUND : rc;
        first = h.first_seq;
    }
    for (;;) {
        uint64_t next;

        if ((rc = read_head(r, off, &h, &fsize, err, errlen)) < 0)
            return rc == PROTO_ERR_END ? PROTO_ERR_NOT_FOUND : rc;
        next = off + chunk_total(&h);
        rc = read_head(r, next, &h, &fsize, err, errlen);
        if (rc < 0 || h.first_seq > seq)
            break;
        off = next;
        first = h.first_seq;
    }
    r->off = off;
    r->remaining = 0;
    r->next_seq = first;
    r->have_seq = true;
    r->seeking = true;
    r->target = seq;
    memset(&r->run, 0, sizeof r->run);
    return 0;
}

/* ---- Repair ---------------------------------------------------------------------- */

static int rebuild_index(const char *path, const proto_reader *r,
                         uint64_t end, char *err, size_t errlen)
{
    char *ipath = index_path(path), *tmp = NULL;
    uint8_t ihdr[PROTO_INDEX_HEADER_LEN], e[PROTO_INDEX_ENTRY_LEN];
    uint64_t off = PROTO_FILE_HEADER_LEN, ioff = PROTO_INDEX_HEADER_LEN;
    int fd = -1, rc = 0;

    if (!ipath || !(tmp = proto__malloc(strlen(ipath) + 5))) {
        rc = PROTO_ERR_NOMEM;
        goto out;
    }
    sprintf(tmp, "%s.tmp", ipath);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        goto io;
    proto_index_header_encode(r->hdr.run_id, ihdr);
    if (pwrite_all(fd, ihdr, sizeof ihdr, 0) < 0)
        goto io;
    while (off < end) {
        uint8_t hb[PROTO_CHUNK_HEADER_LEN];
        chunk_head h;

        if (pread_full(r->fd, hb, sizeof hb, off) != (ssize_t)sizeof hb ||
            !chunk_head_decode(hb, &h)) {
            rc = proto__error(err, errlen, PROTO_ERR_CORRUPT,
                              "%s: chunk header at %llu changed", path,
                              (unsigned long long)off);
            goto out;
        }
        index_entry_encode(h.first_seq, off, h.count, e);
        if (pwrite_all(fd, e, sizeof e, ioff) < 0)
            goto io;
        ioff += sizeof e;
        off += chunk_total(&h);
    }
    if (fsync(fd) < 0 || rename(tmp, ipath) < 0)
        goto io;
    goto out;
io:
    rc = proto__error(err, errlen, PROTO_ERR_IO, "%s: %s", tmp ? tmp : path,
                      strerror(errno));
out:
    if (fd >= 0)
        close(fd);
    if (rc < 0 && tmp)
        unlink(tmp);
    proto__free(tmp);
    proto__free(ipath);
    return rc;
}

int proto_file_repair(const char *path, proto_repair_info *info, char *err,
                      size_t errlen)
{
    proto_repair_info res = {0};
    proto_reader *r;
    proto_event ev;
    uint64_t chunk_start = PROTO_FILE_HEADER_LEN;
    int rc;

    if ((rc = proto_reader_new(path, 0, &r, err, errlen)) < 0)
        return rc;
    proto_event_init(&ev);
    for (;;) {
        rc = proto_reader_next(r, &ev, err, errlen);
        if (rc < 0)
            break;
        res.events += proto_event_next_seq(&ev) - ev.seq;
        if (r->off != chunk_start) {
            chunk_start = r->off;
            res.chunks++;
        }
        res.next_seq = r->next_seq;
    }
    proto_event_close(&ev);
    /* r->off is the end of the last chunk read in full. */
    res.valid_len = r->remaining == 0 ? r->off : 0;
    if (rc == PROTO_ERR_TORN) {
        if (truncate(path, (off_t)res.valid_len) < 0) {
            rc = io_error(r, err, errlen);
            goto out;
        }
        res.truncated = true;
        rc = 0;
    } else if (rc == PROTO_ERR_END) {
        rc = 0;
    }
    if (rc == 0)
        rc = rebuild_index(path, r, res.valid_len, err, errlen);
    if (rc == 0 && info)
        *info = res;
out:
    proto_reader_free(r);
    return rc;
}
