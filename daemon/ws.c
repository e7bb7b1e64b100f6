/*
 * WebSocket subscribers (protocol in docs/daemon.md, "WebSocket").
 *
 * A subscription is a position in the run's stream (next_seq) and a
 * format. What it is sent comes in frames of consecutive events, and a
 * frame is encoded once per run and format and shared by every subscriber
 * that stands at its first seq: the run's frame cache (struct dmn_fanout)
 * keeps recently sent frames by first seq, so sixteen clients watching
 * the same run cost one encoding and sixteen writes of the same bytes.
 * Frames come from three places:
 *   the drain   dmn_ws_event appends each drained event to the run's open
 *               frame of a format when some subscriber of that format
 *               follows the tip (is at most cfg.sub_queue_events behind
 *               it); the frame is sealed when full, at a multiple of
 *               FRAME_EVENTS, or when a subscriber at its start is
 *               writeable, whichever comes first;
 *   the window  drained events not yet in the file (dmn_run.win);
 *   the file    a proto_reader per subscriber, following while the run
 *               is live: a subscriber further behind reads the file.
 * A frame built from the window or the file stops at the next multiple of
 * FRAME_EVENTS or where a cached (or the open) frame starts, so that
 * subscribers reading the same stretch, and those catching up to the tip,
 * fall onto the same frames.
 *
 * Recording has priority: the drain never waits for a subscriber and
 * does no work per subscriber per event (one encoding per format, only
 * while someone follows the tip); a subscriber that cannot keep up simply
 * falls behind onto the window and the file; and while the daemon's
 * threads wait for a CPU, frames are paced ("pacing" below). Memory: the
 * cache holds at most CACHE_BYTES per run (least recently used frames go
 * first, and frames every subscriber is past at once), a subscriber its
 * position and a file reader. Every frame covers the seqs
 * [first_seq, next_seq) of the stream in order, and a subscriber moves
 * from one frame's next_seq to the next frame that starts there, so the
 * stream it gets has no gap and no duplicate, whatever the frames'
 * sources.
 *
 * Loop phases: lws's writeable callback (poll phase) sends one message
 * per call: a control message first, else a frame (or the end) for the
 * next subscription in round-robin order; the drain (async and timer
 * phases) fills the open frames and wakes subscribers waiting at the tip;
 * the server tick (timer phase) sets the pacing budget, sends heartbeats
 * and retries.
 */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <traced/proto_code.h>

#include "dmn.h"

#define FRAME_EVENTS 1024         /* events per frame at most, and the
                                   * alignment of frames built on demand */
#define FRAME_BYTES (128u << 10)  /* a frame is full past this payload */
#define CACHE_BYTES (8u << 20)    /* shared frames kept per run */
#define FOLLOW_RECHECK 256        /* drained events between two looks for
                                   * a subscriber following the tip */
#define PACE_FLOOR_ALL 32768      /* events/s all subscribers get at least */
#define PACE_FLOOR_ONE (1u << 18) /* ... and one connection alone */
#define PACE_CEILING (1u << 24)   /* events/s past which pacing stops */
#define PACE_BUSY 0.25            /* run delay per second over which the */
#define PACE_IDLE 0.10            /* CPUs are contended; under which not */
#define CTRL_MAX 1024     /* control messages queued per connection */
#define RX_MAX (64u << 10)
#define BINARY_MAGIC "TRCB"
#define BINARY_HEADER_LEN 16 /* magic, u32 0, u64 run id (LE) */

enum { FMT_JSON, FMT_BINARY, NFMT };

typedef struct dmn_fanout dmn_fanout;

/* One encoded batch: a whole WebSocket message, preceded by LWS_PRE bytes
 * for lws's frame header (lws_write writes it there; it is the same for
 * every subscriber, and lws copies what the socket does not take at once,
 * so one buffer serves every write). */
typedef struct wsframe {
    uint64_t first_seq, next_seq; /* the events' seqs: [first, next) */
    uint64_t used;                /* LRU stamp (dmn_fanout.clock) */
    uint32_t count;
    uint8_t fmt;
    proto_delta delta;            /* binary: state after the last record */
    size_t len, cap;              /* payload bytes, allocated after LWS_PRE */
    uint8_t *buf;                 /* LWS_PRE + cap */
} wsframe;

/* A run's shared frames (dmn_run.fan): allocated with its first
 * subscription, freed with its last. */
struct dmn_fanout {
    wsframe **cache[NFMT]; /* sealed frames, ascending first_seq */
    size_t ncache[NFMT], capcache[NFMT];
    size_t bytes;          /* of every cached frame */
    uint64_t clock;        /* LRU stamps */
    wsframe *open[NFMT];   /* being filled by the drain, or NULL */
    uint64_t idle_until[NFMT]; /* nobody followed: look again at this seq */
    uint32_t nwaiting;     /* subscribers with waiting set */
};

/* ---- control messages ---------------------------------------------------- */

/* Queue a control message (steals j). */
static void ctrl_send(dmn_conn *c, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);

    json_decref(j);
    if (!s)
        return;
    if (c->ctrl_len == CTRL_MAX) { /* a client that never reads */
        free(s);
        return;
    }
    if (c->ctrl_len == c->ctrl_cap) {
        size_t cap = c->ctrl_cap ? c->ctrl_cap * 2 : 16;
        char **n = malloc(cap * sizeof *n);

        if (!n) {
            free(s);
            return;
        }
        for (size_t i = 0; i < c->ctrl_len; i++)
            n[i] = c->ctrl[(c->ctrl_head + i) % c->ctrl_cap];
        free(c->ctrl);
        c->ctrl = n;
        c->ctrl_cap = cap;
        c->ctrl_head = 0;
    }
    c->ctrl[(c->ctrl_head + c->ctrl_len++) % c->ctrl_cap] = s;
    lws_callback_on_writable(c->wsi);
}

static void send_error(dmn_conn *c, const char *code, const char *msg)
{
    ctrl_send(c, json_pack("{s:s, s:s, s:s}", "type", "error", "code", code,
                           "error", msg));
}

/* ---- the JSON form of an event ------------------------------------------- */

/*
 * The events that make up nearly every stream (call, return, host calls,
 * op, step, loss, with number values) are written here directly, byte for
 * byte as proto_event_to_json + json_dumps(JSON_COMPACT) write them; the
 * others go through jansson. Through jansson an event cost ~3.5 us (a
 * tree of allocations, then printf); here ~0.1 us: with sixteen clients
 * catching up it was 94% of the loop's time (perf, 2026-11-22).
 * JSON_BOUND(n) bounds what the direct path writes for n values.
 */
#define JSON_BOUND(n) (160u + 112u * (size_t)(n))

#define PUT_LIT(p, lit)                                                     \
    (memcpy((p), (lit), sizeof(lit) - 1), (p) + sizeof(lit) - 1)

static char *put_u64(char *p, uint64_t v)
{
    char tmp[20];
    int n = 0;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

/* json_integer prints a json_int_t (long long). */
static char *put_int(char *p, int64_t v)
{
    if (v < 0) {
        *p++ = '-';
        return put_u64(p, (uint64_t)0 - (uint64_t)v);
    }
    return put_u64(p, (uint64_t)v);
}

/* protocol/json.c's float_text, the "text" of a float value. */
static char *put_float_text(char *p, bool neg, bool is_nan, bool is_inf,
                            uint64_t payload, uint64_t canonical, double v,
                            int digits)
{
    const char *sign = neg ? "-" : "";
    int n;

    if (is_nan && payload == canonical)
        n = snprintf(p, 40, "%snan", sign);
    else if (is_nan)
        n = snprintf(p, 40, "%snan:0x%" PRIx64, sign, payload);
    else if (is_inf)
        n = snprintf(p, 40, "%sinf", sign);
    else
        n = snprintf(p, 40, "%.*g", digits, v);
    return p + n;
}

/* One value; NULL for the kinds left to jansson (v128, references). */
static char *put_val(char *p, const proto_val *v)
{
    switch (v->type) {
    case VM_I32:
        p = PUT_LIT(p, "{\"type\":\"i32\",\"value\":\"");
        p = put_u64(p, (uint32_t)v->of.i32);
        p = PUT_LIT(p, "\",\"text\":\"");
        p = put_int(p, v->of.i32);
        break;
    case VM_I64:
        p = PUT_LIT(p, "{\"type\":\"i64\",\"value\":\"");
        p = put_u64(p, (uint64_t)v->of.i64);
        p = PUT_LIT(p, "\",\"text\":\"");
        p = put_int(p, v->of.i64);
        break;
    case VM_F32: {
        uint32_t b = v->of.f32_bits, exp = (b >> 23) & 0xff, man = b & 0x7fffff;
        float f;

        memcpy(&f, &b, 4);
        p = PUT_LIT(p, "{\"type\":\"f32\",\"value\":\"");
        p = put_u64(p, b);
        p = PUT_LIT(p, "\",\"text\":\"");
        p = put_float_text(p, b >> 31, exp == 0xff && man, exp == 0xff && !man,
                           man, 0x400000, f, 9);
        break;
    }
    case VM_F64: {
        uint64_t b = v->of.f64_bits, exp = (b >> 52) & 0x7ff,
                 man = b & 0xfffffffffffffull;
        double d;

        memcpy(&d, &b, 8);
        p = PUT_LIT(p, "{\"type\":\"f64\",\"value\":\"");
        p = put_u64(p, b);
        p = PUT_LIT(p, "\",\"text\":\"");
        p = put_float_text(p, b >> 63, exp == 0x7ff && man,
                           exp == 0x7ff && !man, man, 0x8000000000000ull, d,
                           17);
        break;
    }
    default:
        return NULL;
    }
    return PUT_LIT(p, "\"}");
}

static char *put_vals(char *p, const char *key, size_t keylen, proto_vals v)
{
    *p++ = ',';
    *p++ = '"';
    memcpy(p, key, keylen);
    p += keylen;
    p = PUT_LIT(p, "\":[");
    for (uint32_t i = 0; i < v.count && p; i++) {
        if (i)
            *p++ = ',';
        p = put_val(p, &v.items[i]);
    }
    if (p)
        *p++ = ']';
    return p;
}

/* Values an event carries, for JSON_BOUND; UINT32_MAX: not a direct kind. */
static uint32_t direct_vals(const proto_event *ev)
{
    switch (ev->type) {
    case PROTO_CALL: return ev->as.call.args.count;
    case PROTO_RETURN: return ev->as.ret.results.count;
    case PROTO_HOST_CALL:
    case PROTO_HOST_RETURN: return ev->as.host.vals.count;
    case PROTO_OP:
    case PROTO_STEP:
    case PROTO_LOSS: return 0;
    default: return UINT32_MAX;
    }
}

/* Write ev at p (JSON_BOUND(direct_vals(ev)) bytes free); the end, or
 * NULL when ev is not one of the direct kinds. */
static char *put_event(char *p, const proto_event *ev)
{
    const char *tname = proto_event_type_name(ev->type);

    if (!tname)
        return NULL;
    p = PUT_LIT(p, "{\"seq\":");
    p = put_int(p, (int64_t)ev->seq);
    p = PUT_LIT(p, ",\"t\":");
    p = put_int(p, (int64_t)ev->t_ns);
    p = PUT_LIT(p, ",\"type\":\"");
    memcpy(p, tname, strlen(tname));
    p += strlen(tname);
    *p++ = '"';
    switch (ev->type) {
    case PROTO_CALL:
        p = PUT_LIT(p, ",\"func\":");
        p = put_int(p, ev->as.call.func);
        p = PUT_LIT(p, ",\"depth\":");
        p = put_int(p, ev->as.call.depth);
        p = put_vals(p, "args", 4, ev->as.call.args);
        break;
    case PROTO_RETURN:
        p = PUT_LIT(p, ",\"func\":");
        p = put_int(p, ev->as.ret.func);
        p = PUT_LIT(p, ",\"depth\":");
        p = put_int(p, ev->as.ret.depth);
        p = put_vals(p, "results", 7, ev->as.ret.results);
        break;
    case PROTO_HOST_CALL:
    case PROTO_HOST_RETURN:
        p = PUT_LIT(p, ",\"func\":");
        p = put_int(p, ev->as.host.func);
        p = PUT_LIT(p, ",\"import\":");
        p = put_int(p, ev->as.host.import);
        if (ev->type == PROTO_HOST_CALL)
            p = put_vals(p, "args", 4, ev->as.host.vals);
        else
            p = put_vals(p, "results", 7, ev->as.host.vals);
        break;
    case PROTO_OP: {
        uint32_t op = ev->as.op.opcode;

        if (PROTO_OPCODE_PREFIX(op)) {
            p = PUT_LIT(p, ",\"prefix\":");
            p = put_int(p, PROTO_OPCODE_PREFIX(op));
            p = PUT_LIT(p, ",\"opcode\":");
            p = put_int(p, PROTO_OPCODE_SUB(op));
        } else {
            p = PUT_LIT(p, ",\"opcode\":");
            p = put_int(p, op);
        }
        p = PUT_LIT(p, ",\"offset\":");
        p = put_int(p, ev->as.op.offset);
        break;
    }
    case PROTO_STEP:
        p = PUT_LIT(p, ",\"file\":");
        p = put_int(p, ev->as.step.file);
        p = PUT_LIT(p, ",\"line\":");
        p = put_int(p, ev->as.step.line);
        p = PUT_LIT(p, ",\"column\":");
        p = put_int(p, ev->as.step.column);
        break;
    case PROTO_LOSS:
        p = PUT_LIT(p, ",\"count\":");
        p = put_int(p, (int64_t)ev->as.loss.count);
        break;
    default:
        return NULL;
    }
    if (p)
        *p++ = '}';
    return p;
}

/* ---- frames -------------------------------------------------------------- */

static void frame_free(wsframe *f)
{
    if (f) {
        free(f->buf);
        free(f);
    }
}

static int frame_reserve(wsframe *f, size_t more)
{
    size_t cap = f->cap;

    if (f->len + more <= cap)
        return 0;
    while (cap < f->len + more)
        cap *= 2;
    uint8_t *n = realloc(f->buf, LWS_PRE + cap);

    if (!n)
        return -1;
    f->buf = n;
    f->cap = cap;
    return 0;
}

static int frame_put(wsframe *f, const void *p, size_t n)
{
    if (frame_reserve(f, n) != 0)
        return -1;
    memcpy(f->buf + LWS_PRE + f->len, p, n);
    f->len += n;
    return 0;
}

/* An empty frame of r's events from seq on, its header written. */
static wsframe *frame_new(const dmn_run *r, int fmt, uint64_t seq)
{
    wsframe *f = calloc(1, sizeof *f);

    if (!f)
        return NULL;
    f->fmt = (uint8_t)fmt;
    f->first_seq = f->next_seq = seq;
    f->cap = 16u << 10;
    f->buf = malloc(LWS_PRE + f->cap);
    if (!f->buf) {
        free(f);
        return NULL;
    }
    if (fmt == FMT_BINARY) {
        uint8_t h[BINARY_HEADER_LEN] = BINARY_MAGIC;

        for (int i = 0; i < 8; i++)
            h[8 + i] = (uint8_t)(r->id >> (8 * i));
        frame_put(f, h, sizeof h);
    } else {
        char h[96];
        int n = snprintf(h, sizeof h, "{\"type\":\"events\",\"run\":%" PRIu64
                         ",\"events\":[", r->id);

        frame_put(f, h, (size_t)n);
    }
    return f;
}

/* Append ev, which must be the event at f->next_seq. */
static int frame_add(wsframe *f, const proto_event *ev)
{
    if (f->fmt == FMT_BINARY) {
        size_t bound = proto_encoded_bound(ev), n;

        if (frame_reserve(f, bound) != 0 ||
            proto_encode(&f->delta, ev, f->buf + LWS_PRE + f->len, bound,
                         &n) != 0)
            return -1;
        f->len += n;
    } else {
        uint32_t nvals = direct_vals(ev);
        char *p = NULL;

        if (nvals != UINT32_MAX) {
            if (frame_reserve(f, 1 + JSON_BOUND(nvals)) != 0)
                return -1;
            p = (char *)f->buf + LWS_PRE + f->len;
            if (f->count)
                *p++ = ',';
            p = put_event(p, ev);
        }
        if (p) {
            f->len = (size_t)((uint8_t *)p - (f->buf + LWS_PRE));
        } else { /* a rare kind, or a v128 or reference value */
            json_t *j;
            char *s;
            int rc;

            if (proto_event_to_json(ev, NULL, &j) != 0)
                return -1;
            s = json_dumps(j, JSON_COMPACT);
            json_decref(j);
            if (!s)
                return -1;
            rc = (f->count && frame_put(f, ",", 1) != 0) ||
                 frame_put(f, s, strlen(s)) != 0;
            free(s);
            if (rc)
                return -1;
        }
    }
    f->count++;
    f->next_seq = proto_event_next_seq(ev);
    return 0;
}

static bool frame_full(const wsframe *f)
{
    return f->count >= FRAME_EVENTS || f->len >= FRAME_BYTES;
}

/* Close the JSON message. */
static int frame_finish(wsframe *f)
{
    return f->fmt == FMT_JSON ? frame_put(f, "]}", 2) : 0;
}

/* ---- the frame cache ----------------------------------------------------- */

/* Index of the first cached frame of fmt whose first_seq >= seq. */
static size_t cache_lower(const dmn_fanout *fan, int fmt, uint64_t seq)
{
    size_t lo = 0, hi = fan->ncache[fmt];

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (fan->cache[fmt][mid]->first_seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static wsframe *cache_find(dmn_fanout *fan, int fmt, uint64_t seq)
{
    size_t i = cache_lower(fan, fmt, seq);

    if (i < fan->ncache[fmt] && fan->cache[fmt][i]->first_seq == seq)
        return fan->cache[fmt][i];
    return NULL;
}

/*
 * A frame the drain sealed early, so that subscribers at the tip get an
 * event at once, is small. It is shared as it is with subscribers at its
 * start while nothing follows it yet; one further behind gets a frame
 * built to the next FRAME_EVENTS boundary instead (which replaces it in
 * the cache), so that a slow client is sent fewer, fuller frames rather
 * than the tip's trickle.
 */
#define SMALL_FRAME (FRAME_EVENTS / 8)

static bool frame_small(const wsframe *f, const dmn_run *r)
{
    return f->count < SMALL_FRAME && f->next_seq < r->next_seq &&
           f->next_seq % FRAME_EVENTS != 0;
}

/* Where the next frame after seq worth meeting starts (a cached frame
 * that is not small, or the open one), or UINT64_MAX. */
static uint64_t next_frame_start(dmn_fanout *fan, const dmn_run *r, int fmt,
                                 uint64_t seq)
{
    uint64_t s = UINT64_MAX, boundary = (seq / FRAME_EVENTS + 1) * FRAME_EVENTS;
    const wsframe *o = fan->open[fmt];

    for (size_t i = cache_lower(fan, fmt, seq + 1);
         i < fan->ncache[fmt] && fan->cache[fmt][i]->first_seq < boundary;
         i++)
        if (!frame_small(fan->cache[fmt][i], r)) {
            s = fan->cache[fmt][i]->first_seq;
            break;
        }
    if (o && o->count && o->first_seq > seq && o->first_seq < s)
        s = o->first_seq;
    return s;
}

static size_t frame_bytes(const wsframe *f)
{
    return sizeof *f + LWS_PRE + f->cap;
}

static void cache_remove(dmn_fanout *fan, int fmt, size_t i)
{
    wsframe *f = fan->cache[fmt][i];

    fan->bytes -= frame_bytes(f);
    memmove(fan->cache[fmt] + i, fan->cache[fmt] + i + 1,
            (fan->ncache[fmt] - i - 1) * sizeof *fan->cache[fmt]);
    fan->ncache[fmt]--;
    frame_free(f);
}

/* Drop least recently used frames (never keep) while over CACHE_BYTES. */
static void cache_trim(dmn_fanout *fan, const wsframe *keep)
{
    while (fan->bytes > CACHE_BYTES) {
        int best_fmt = -1;
        size_t best = 0;

        for (int fmt = 0; fmt < NFMT; fmt++)
            for (size_t i = 0; i < fan->ncache[fmt]; i++) {
                const wsframe *f = fan->cache[fmt][i];

                if (f != keep && (best_fmt < 0 ||
                                  f->used < fan->cache[best_fmt][best]->used)) {
                    best_fmt = fmt;
                    best = i;
                }
            }
        if (best_fmt < 0)
            return;
        cache_remove(fan, best_fmt, best);
    }
}

/* Drop the frames of fmt that every subscriber of that format is past:
 * nobody will ask for them (a new subscriber builds its own). */
static void cache_drop_behind(dmn_fanout *fan, const dmn_run *r, int fmt)
{
    uint64_t lowest = UINT64_MAX;
    size_t n = 0;

    for (const dmn_sub *s = r->subs; s; s = s->next_in_run)
        if (s->binary == (fmt == FMT_BINARY) && !s->ended &&
            s->next_seq < lowest)
            lowest = s->next_seq;
    while (n < fan->ncache[fmt] && fan->cache[fmt][n]->next_seq <= lowest)
        n++;
    while (n--)
        cache_remove(fan, fmt, 0);
}

/* Take f into the cache; on failure (out of memory) f is freed and NULL
 * returned. A frame starting where a cached one starts replaces it. */
static wsframe *cache_insert(dmn_fanout *fan, const dmn_run *r, wsframe *f)
{
    int fmt = f->fmt;
    size_t i;

    cache_drop_behind(fan, r, fmt);
    i = cache_lower(fan, fmt, f->first_seq);

    if (i < fan->ncache[fmt] && fan->cache[fmt][i]->first_seq == f->first_seq)
        cache_remove(fan, fmt, i);
    if (fan->ncache[fmt] == fan->capcache[fmt]) {
        size_t cap = fan->capcache[fmt] ? fan->capcache[fmt] * 2 : 64;
        wsframe **n = realloc(fan->cache[fmt], cap * sizeof *n);

        if (!n) {
            frame_free(f);
            return NULL;
        }
        fan->cache[fmt] = n;
        fan->capcache[fmt] = cap;
    }
    memmove(fan->cache[fmt] + i + 1, fan->cache[fmt] + i,
            (fan->ncache[fmt] - i) * sizeof *fan->cache[fmt]);
    fan->cache[fmt][i] = f;
    fan->ncache[fmt]++;
    fan->bytes += frame_bytes(f);
    f->used = ++fan->clock;
    cache_trim(fan, f);
    return f;
}

/* Seal the drain's open frame of fmt into the cache. */
static wsframe *seal_open(dmn_fanout *fan, const dmn_run *r, int fmt)
{
    wsframe *f = fan->open[fmt];

    fan->open[fmt] = NULL;
    if (frame_finish(f) != 0) {
        frame_free(f);
        return NULL;
    }
    return cache_insert(fan, r, f);
}

static void fanout_free(dmn_run *r)
{
    dmn_fanout *fan = r->fan;

    if (!fan)
        return;
    for (int fmt = 0; fmt < NFMT; fmt++) {
        for (size_t i = 0; i < fan->ncache[fmt]; i++)
            frame_free(fan->cache[fmt][i]);
        free(fan->cache[fmt]);
        frame_free(fan->open[fmt]);
    }
    free(fan);
    r->fan = NULL;
}

/* ---- subscriptions ------------------------------------------------------- */

static void sub_set_waiting(dmn_sub *s, bool waiting)
{
    if (s->waiting == waiting)
        return;
    s->waiting = waiting;
    if (waiting)
        s->run->fan->nwaiting++;
    else
        s->run->fan->nwaiting--;
}

static void sub_free(dmn_sub *s)
{
    dmn_sub **p;
    dmn_run *r = s->run;

    sub_set_waiting(s, false);
    for (p = &r->subs; *p; p = &(*p)->next_in_run)
        if (*p == s) {
            *p = s->next_in_run;
            break;
        }
    for (p = &s->conn->subs; *p; p = &(*p)->next_in_conn)
        if (*p == s) {
            *p = s->next_in_conn;
            break;
        }
    if (s->conn->rr == s)
        s->conn->rr = NULL;
    if (s->reader)
        proto_reader_free(s->reader);
    free(s);
    if (!r->subs)
        fanout_free(r); /* nobody left to share frames with */
}

/* Wake every subscriber of r waiting at the tip. */
static void kick_waiting(dmn_run *r)
{
    for (dmn_sub *s = r->subs; s && r->fan->nwaiting; s = s->next_in_run)
        if (s->waiting) {
            sub_set_waiting(s, false);
            lws_callback_on_writable(s->conn->wsi);
        }
}

/* Whether a subscriber of fmt follows the tip, now at seq. */
static bool has_follower(const dmn_run *r, int fmt, uint64_t seq)
{
    uint64_t behind = r->srv->cfg.sub_queue_events;

    for (const dmn_sub *s = r->subs; s; s = s->next_in_run)
        if (s->binary == (fmt == FMT_BINARY) && !s->ended &&
            s->next_seq + behind >= seq)
            return true;
    return false;
}

void dmn_ws_event(dmn_run *r, dmn_evt *e)
{
    dmn_fanout *fan = r->fan;

    if (!fan)
        return;
    if (fan->nwaiting)
        kick_waiting(r);
    for (int fmt = 0; fmt < NFMT; fmt++) {
        wsframe *f = fan->open[fmt];

        if (f && f->next_seq != e->ev.seq) {
            /* The drain lost an event (out of memory): the frame ends
             * here, and who needs that event reads it from the file. */
            seal_open(fan, r, fmt);
            f = NULL;
        }
        if (!f) {
            if (e->ev.seq < fan->idle_until[fmt])
                continue;
            if (!has_follower(r, fmt, e->ev.seq)) {
                fan->idle_until[fmt] = e->ev.seq + FOLLOW_RECHECK;
                continue;
            }
            f = fan->open[fmt] = frame_new(r, fmt, e->ev.seq);
            if (!f)
                continue;
        }
        if (frame_add(f, &e->ev) != 0) {
            /* Out of memory: subscribers take these from the window. */
            frame_free(f);
            fan->open[fmt] = NULL;
            continue;
        }
        /* Full, or at a multiple of FRAME_EVENTS, where frames built
         * from the window and the file end too: a subscriber that joined
         * in the middle of this frame meets the next one there. */
        if (frame_full(f) ||
            f->next_seq / FRAME_EVENTS != f->first_seq / FRAME_EVENTS)
            seal_open(fan, r, fmt);
    }
}

void dmn_ws_kick_run(dmn_run *r)
{
    for (dmn_sub *s = r->subs; s; s = s->next_in_run) {
        sub_set_waiting(s, false);
        lws_callback_on_writable(s->conn->wsi);
    }
}

void dmn_ws_run_changed(dmn_run *r)
{
    for (dmn_conn *c = r->srv->conns; c; c = c->next)
        if (c->runs_sub)
            ctrl_send(c, json_pack("{s:s, s:o}", "type", "run", "run",
                                   dmn_run_json(r)));
    for (dmn_sub *s = r->subs; s; s = s->next_in_run)
        ctrl_send(s->conn, json_pack("{s:s, s:I, s:s}", "type", "status",
                                     "run", (json_int_t)r->id, "status",
                                     r->status));
}

void dmn_ws_run_closing(dmn_run *r)
{
    while (r->subs)
        sub_free(r->subs);
    fanout_free(r);
}

void dmn_ws_heartbeat(dmn_server *srv)
{
    for (dmn_conn *c = srv->conns; c; c = c->next) {
        if (c->ctrl_len == 0)
            ctrl_send(c, json_pack("{s:s, s:I}", "type", "heartbeat",
                                   "wall_ms",
                                   (json_int_t)(dmn_wall_ns() / 1000000u)));
        /* Subscriptions waiting for the file get another try. */
        for (dmn_sub *s = c->subs; s; s = s->next_in_conn)
            if (!s->ended && s->next_seq < s->run->next_seq)
                lws_callback_on_writable(c->wsi);
    }
}

/* ---- pacing -------------------------------------------------------------- */

/*
 * Recording first. A client reading its frames costs CPU (in the client
 * and in the kernel) several times what encoding and writing them costs
 * the daemon: sixteen Node clients reading a 2M-event run used 18 CPU
 * seconds against the daemon's 3.4. On a machine with fewer cores than
 * runnable threads the run thread then waits for a CPU, and the run takes
 * many times longer. So the tick measures the daemon's threads' run delay
 * (time runnable but not running, /proc/self/task/TID/schedstat) while a
 * run is live: above PACE_BUSY per second of wall time, frames to
 * subscribers get an event budget per tick, halved at each busy tick down
 * to a floor (pace_floor), doubled at each idle one until PACE_CEILING
 * ends the pacing. A held-back subscriber simply stays behind (the cache, the
 * window, the file) and is served at full speed once no run is live.
 * Control and end messages are never held.
 */

/* The summed run delay (ns) of the daemon's threads; false when the
 * system does not say (no pacing then). */
static bool threads_run_delay(uint64_t *out)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *de;
    uint64_t sum = 0;
    bool any = false;

    if (!d)
        return false;
    while ((de = readdir(d))) {
        char path[300], buf[128];
        unsigned long long run_ns, wait_ns;
        ssize_t n;
        int fd;

        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/self/task/%s/schedstat",
                 de->d_name);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue; /* the thread just ended */
        n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n <= 0)
            continue;
        buf[n] = '\0';
        if (sscanf(buf, "%llu %llu", &run_ns, &wait_ns) == 2) {
            sum += wait_ns;
            any = true;
        }
    }
    closedir(d);
    *out = sum;
    return any;
}

static void pace_release(dmn_server *srv)
{
    if (!srv->pace_held)
        return;
    srv->pace_held = false;
    for (dmn_conn *c = srv->conns; c; c = c->next)
        if (c->subs)
            lws_callback_on_writable(c->wsi);
}

/* The least the subscribers get while paced: PACE_FLOOR_ONE shared by
 * the connections that subscribe, at least PACE_FLOOR_ALL. One viewer
 * reading 256k events/s costs a few percent of a core; many viewers cost
 * more than their events (each is a process woken for its frames). */
static double pace_floor(const dmn_server *srv)
{
    uint32_t n = 0;

    for (const dmn_conn *c = srv->conns; c; c = c->next)
        n += c->subs != NULL;
    return n && PACE_FLOOR_ONE / n > PACE_FLOOR_ALL ? PACE_FLOOR_ONE / n
                                                    : PACE_FLOOR_ALL;
}

void dmn_ws_tick(dmn_server *srv)
{
    uint64_t now = uv_hrtime(), delay = 0;
    double dt = (double)(now - srv->pace_ns) / 1e9, busy, rate;
    bool measured = srv->pace_ns != 0;

    if (!srv->conns || dmn_runs_live(srv) == 0 ||
        !threads_run_delay(&delay)) {
        srv->pace_rate = 0;
        srv->pace_ns = 0;
        pace_release(srv);
        return;
    }
    srv->pace_ns = now;
    if (!measured || dt <= 0 || delay < srv->pace_delay_ns) {
        srv->pace_delay_ns = delay;
        srv->pace_sent = 0;
        return;
    }
    busy = (double)(delay - srv->pace_delay_ns) / 1e9 / dt;
    rate = (double)srv->pace_rate;
    if (busy > PACE_BUSY) {
        if (rate == 0) /* from what was sent unpaced */
            rate = (double)srv->pace_sent / dt;
        rate /= 2;
        if (rate < pace_floor(srv))
            rate = pace_floor(srv);
    } else if (busy < PACE_IDLE && rate > 0) {
        rate *= 2;
        if (rate >= (double)PACE_CEILING)
            rate = 0;
    }
    if (srv->pace_rate == 0) /* what was sent unpaced owes nothing */
        srv->pace_left = 0;
    srv->pace_rate = (uint64_t)rate;
    if (srv->pace_rate) {
        int64_t tick = (int64_t)(rate * dt);

        srv->pace_left = (srv->pace_left < 0 ? srv->pace_left : 0) + tick;
    }
    srv->pace_delay_ns = delay;
    srv->pace_sent = 0;
    if (!srv->pace_rate || srv->pace_left > 0)
        pace_release(srv);
}

/* ---- building frames ----------------------------------------------------- */

static int tx_reserve(dmn_conn *c, size_t need)
{
    if (LWS_PRE + need <= c->tx_cap)
        return 0;
    size_t cap = c->tx_cap ? c->tx_cap : 4096;

    while (cap < LWS_PRE + need)
        cap *= 2;
    uint8_t *n = realloc(c->tx, cap);

    if (!n)
        return -1;
    c->tx = n;
    c->tx_cap = cap;
    return 0;
}

/* Events from the stream file into f, from f->next_seq up to limit. */
static void fill_from_file(dmn_sub *s, wsframe *f, uint64_t limit)
{
    dmn_run *r = s->run;
    char err[256];
    int rc = 0;
    proto_event ev;

    if (!s->reader) {
        char path[600];

        dmn_run_stream_path(r, path, sizeof path);
        if (proto_reader_new(path, dmn_run_is_live(r) ? PROTO_READER_FOLLOW
                                                      : 0,
                             &s->reader, err, sizeof err) != 0) {
            s->reader = NULL;
            return; /* not yet (follow) or gone: tried again later */
        }
        /* Op and step runs come out as the op and step events they are. */
        proto_reader_set_code(s->reader, dmn_run_code(r));
        s->reader_seq = UINT64_MAX;
    }
    if (s->reader_seq != f->next_seq) {
        if (proto_reader_seek(s->reader, f->next_seq, err, sizeof err) != 0) {
            proto_reader_free(s->reader);
            s->reader = NULL;
            return;
        }
        s->reader_seq = f->next_seq;
    }
    proto_event_init(&ev);
    while (f->next_seq < limit && !frame_full(f)) {
        rc = proto_reader_next(s->reader, &ev, err, sizeof err);
        if (rc != 0)
            break;
        s->reader_seq = proto_event_next_seq(&ev);
        if (s->reader_seq <= f->next_seq)
            continue; /* before the position (the seek's chunk start) */
        if (frame_add(f, &ev) != 0) {
            s->reader_seq = UINT64_MAX; /* one event consumed, unsent */
            break;
        }
    }
    proto_event_close(&ev);
    if (rc == PROTO_ERR_CORRUPT || rc == PROTO_ERR_IO) {
        send_error(s->conn, "read_failed", err);
        s->ended = true;
    }
    if (f->count == 0) {
        /* Nothing for now: reopen next time, in the run's mode then (a
         * follow reader of a run that ended would wait forever). */
        proto_reader_free(s->reader);
        s->reader = NULL;
    }
}

/*
 * A frame for s at its position, from the window or else the file, into
 * the cache. It ends at the next multiple of FRAME_EVENTS, or where the
 * next cached or open frame starts, so that other subscribers share it
 * and s meets the frames others built. NULL: nothing to send now.
 */
static wsframe *build_frame(dmn_sub *s)
{
    dmn_run *r = s->run;
    dmn_fanout *fan = r->fan;
    int fmt = s->binary ? FMT_BINARY : FMT_JSON;
    uint64_t seq = s->next_seq, limit, next;
    wsframe *f;
    long i;

    if (seq >= r->next_seq)
        return NULL;
    limit = (seq / FRAME_EVENTS + 1) * FRAME_EVENTS;
    next = next_frame_start(fan, r, fmt, seq);
    if (next < limit)
        limit = next;
    f = frame_new(r, fmt, seq);
    if (!f)
        return NULL;
    i = dmn_run_window_find(r, seq);
    if (i >= 0) {
        for (; (size_t)i < r->win_len && f->next_seq < limit && !frame_full(f);
             i++)
            if (frame_add(f, &r->win[i]->ev) != 0)
                break;
    } else {
        fill_from_file(s, f, limit);
    }
    if (f->count == 0 || frame_finish(f) != 0) {
        frame_free(f);
        return NULL;
    }
    return cache_insert(fan, r, f);
}

/* The end message: everything the run has was sent. */
static int send_end(dmn_conn *c, dmn_sub *s)
{
    dmn_run *r = s->run;
    char *m;
    size_t n;
    json_t *j = json_pack("{s:s, s:I, s:s, s:I}", "type", "end", "run",
                          (json_int_t)r->id, "status", r->status,
                          "next_seq", (json_int_t)s->next_seq);

    s->ended = true;
    m = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!m)
        return 0;
    n = strlen(m);
    if (tx_reserve(c, n) != 0) {
        free(m);
        return 0;
    }
    memcpy(c->tx + LWS_PRE, m, n);
    free(m);
    return lws_write(c->wsi, c->tx + LWS_PRE, n, LWS_WRITE_TEXT) < (int)n ? -1
                                                                         : 1;
}

/* Try to send a frame (or the end message) for s. 1 sent, 0 nothing,
 * -1 the connection failed. */
static int sub_send(dmn_conn *c, dmn_sub *s)
{
    dmn_run *r = s->run;
    dmn_server *srv = r->srv;
    dmn_fanout *fan = r->fan;
    int fmt = s->binary ? FMT_BINARY : FMT_JSON;
    wsframe *f, *o;

    if (s->ended)
        return 0;
    if (srv->pace_rate && srv->pace_left <= 0 &&
        (dmn_run_is_live(r) || s->next_seq < r->next_seq)) {
        srv->pace_held = true; /* until the tick gives a new budget */
        return 0;
    }
    f = cache_find(fan, fmt, s->next_seq);
    if (f && frame_small(f, r))
        f = build_frame(s); /* fuller, or NULL: then the small one */
    if (!f)
        f = cache_find(fan, fmt, s->next_seq);
    o = fan->open[fmt];
    if (!f && o && o->first_seq == s->next_seq && o->count)
        f = seal_open(fan, r, fmt); /* s is at the tip: send what is there */
    if (!f)
        f = build_frame(s);
    if (f) {
        f->used = ++fan->clock;
        sub_set_waiting(s, false);
        s->next_seq = f->next_seq;
        if (srv->pace_rate)
            srv->pace_left -= f->count;
        srv->pace_sent += f->count;
        if (lws_write(c->wsi, f->buf + LWS_PRE, f->len,
                      f->fmt == FMT_BINARY ? LWS_WRITE_BINARY
                                           : LWS_WRITE_TEXT) < (int)f->len)
            return -1;
        return 1;
    }
    if (s->ended) /* the file failed */
        return 0;
    if (!dmn_run_is_live(r) && (s->next_seq >= r->next_seq || !s->reader))
        return send_end(c, s);
    if (dmn_run_is_live(r)) {
        /* At the tip (or the file is not there yet): the drain wakes s,
         * and starts a frame for it at once. */
        sub_set_waiting(s, true);
        fan->idle_until[fmt] = 0;
    }
    return 0;
}

int dmn_ws_writeable(dmn_conn *c)
{
    dmn_sub *s, *start;

    if (c->ctrl_len) {
        char *m = c->ctrl[c->ctrl_head];
        size_t n = strlen(m);
        int rc;

        c->ctrl_head = (c->ctrl_head + 1) % c->ctrl_cap;
        c->ctrl_len--;
        if (tx_reserve(c, n) != 0) {
            free(m);
            return -1;
        }
        memcpy(c->tx + LWS_PRE, m, n);
        free(m);
        rc = lws_write(c->wsi, c->tx + LWS_PRE, n, LWS_WRITE_TEXT);
        if (rc < (int)n)
            return -1;
        lws_callback_on_writable(c->wsi);
        return 0;
    }
    start = c->rr && c->rr->conn == c ? c->rr : c->subs;
    s = start;
    while (s) {
        int rc = sub_send(c, s);

        if (rc < 0)
            return -1;
        if (rc > 0) {
            c->rr = s->next_in_conn ? s->next_in_conn : c->subs;
            lws_callback_on_writable(c->wsi);
            return 0;
        }
        s = s->next_in_conn ? s->next_in_conn : c->subs;
        if (s == start)
            break;
    }
    return 0;
}

/* ---- connection life ----------------------------------------------------- */

int dmn_ws_established(dmn_conn *c, struct lws *wsi, dmn_server *srv)
{
    memset(c, 0, sizeof *c);
    c->wsi = wsi;
    c->srv = srv;
    c->next = srv->conns;
    srv->conns = c;
    ctrl_send(c, json_pack("{s:s, s:s, s:I}", "type", "hello", "server",
                           "traced", "heartbeat_ms",
                           (json_int_t)srv->cfg.heartbeat_ms));
    return 0;
}

void dmn_ws_closed(dmn_conn *c)
{
    dmn_conn **p;

    if (!c->srv)
        return;
    while (c->subs)
        sub_free(c->subs);
    for (size_t i = 0; i < c->ctrl_len; i++)
        free(c->ctrl[(c->ctrl_head + i) % c->ctrl_cap]);
    free(c->ctrl);
    free(c->rx);
    free(c->tx);
    for (p = &c->srv->conns; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            break;
        }
    memset(c, 0, sizeof *c);
}

static bool parse_run_id(json_t *v, uint64_t *id)
{
    if (json_is_integer(v) && json_integer_value(v) > 0) {
        *id = (uint64_t)json_integer_value(v);
        return true;
    }
    if (json_is_string(v)) {
        char *end;
        const char *s = json_string_value(v);

        *id = strtoull(s, &end, 10);
        return *s && !*end && *id;
    }
    return false;
}

static dmn_sub *find_sub(dmn_conn *c, uint64_t run)
{
    for (dmn_sub *s = c->subs; s; s = s->next_in_conn)
        if (s->run->id == run)
            return s;
    return NULL;
}

static void handle_subscribe(dmn_conn *c, json_t *m)
{
    json_t *from = json_object_get(m, "from");
    const char *format = json_string_value(json_object_get(m, "format"));
    uint64_t id, seq = 0;
    dmn_run *r;
    dmn_sub *s;

    if (!parse_run_id(json_object_get(m, "run"), &id)) {
        send_error(c, "bad_request", "subscribe needs \"run\": a run id");
        return;
    }
    r = dmn_run_find(c->srv, id);
    if (!r) {
        send_error(c, "unknown_run", "no such run");
        return;
    }
    if (!from || (json_is_string(from) &&
                  strcmp(json_string_value(from), "start") == 0)) {
        seq = 0;
    } else if (json_is_string(from) &&
               strcmp(json_string_value(from), "now") == 0) {
        seq = r->next_seq;
    } else if (json_is_integer(from) && json_integer_value(from) >= 0) {
        seq = (uint64_t)json_integer_value(from);
    } else {
        send_error(c, "bad_request",
                   "\"from\" is a sequence number, \"start\" or \"now\"");
        return;
    }
    if (format && strcmp(format, "json") != 0 &&
        strcmp(format, "binary") != 0) {
        send_error(c, "bad_request", "\"format\" is \"json\" or \"binary\"");
        return;
    }
    if ((s = find_sub(c, id)))
        sub_free(s);
    if (!r->fan)
        r->fan = calloc(1, sizeof *r->fan);
    s = r->fan ? calloc(1, sizeof *s) : NULL;
    if (!s) {
        if (!r->subs)
            fanout_free(r);
        send_error(c, "internal", "out of memory");
        return;
    }
    s->conn = c;
    s->run = r;
    s->binary = format && strcmp(format, "binary") == 0;
    s->next_seq = seq;
    /* The drain looks for followers again at its next event. */
    r->fan->idle_until[s->binary ? FMT_BINARY : FMT_JSON] = 0;
    s->next_in_conn = c->subs;
    c->subs = s;
    s->next_in_run = r->subs;
    r->subs = s;
    {
        json_t *msg = json_pack("{s:s, s:I, s:I, s:s, s:I}", "type",
                                "subscribed", "run", (json_int_t)id, "from",
                                (json_int_t)seq, "status", r->status,
                                "next_seq", (json_int_t)r->next_seq);

        /* The run thread's CLOCK_MONOTONIC at run start (events' t is ns
         * since then), for latency measurements on this host. Once
         * run_start is drained it is visible here (the ring's
         * release/acquire); earlier runs loaded from disk have none. */
        if (msg && r->next_seq > 0 && r->tracer.t0_ns)
            json_object_set_new(msg, "start_monotonic_ns",
                                json_integer((json_int_t)r->tracer.t0_ns));
        ctrl_send(c, msg);
    }
    lws_callback_on_writable(c->wsi);
}

static void handle_message(dmn_conn *c, const char *text, size_t len)
{
    json_error_t jerr;
    json_t *m = json_loadb(text, len, 0, &jerr);
    const char *type;

    if (!m || !json_is_object(m)) {
        char msg[300];

        snprintf(msg, sizeof msg, "invalid JSON: %s",
                 m ? "not an object" : jerr.text);
        send_error(c, "bad_json", msg);
        json_decref(m);
        return;
    }
    type = json_string_value(json_object_get(m, "type"));
    if (!type) {
        send_error(c, "bad_request", "a message needs a \"type\"");
    } else if (strcmp(type, "subscribe") == 0) {
        handle_subscribe(c, m);
    } else if (strcmp(type, "unsubscribe") == 0) {
        uint64_t id;
        dmn_sub *s;

        if (!parse_run_id(json_object_get(m, "run"), &id) ||
            !(s = find_sub(c, id))) {
            send_error(c, "not_subscribed", "no subscription to that run");
        } else {
            sub_free(s);
            ctrl_send(c, json_pack("{s:s, s:I}", "type", "unsubscribed",
                                   "run", (json_int_t)id));
        }
    } else if (strcmp(type, "subscribe_runs") == 0) {
        json_t *a = json_array();

        for (dmn_run *r = c->srv->runs; r; r = r->next)
            json_array_append_new(a, dmn_run_json(r));
        c->runs_sub = true;
        ctrl_send(c, json_pack("{s:s, s:o}", "type", "runs", "runs", a));
    } else if (strcmp(type, "unsubscribe_runs") == 0) {
        c->runs_sub = false;
    } else if (strcmp(type, "ping") == 0) {
        ctrl_send(c, json_pack("{s:s}", "type", "pong"));
    } else {
        char msg[200];

        snprintf(msg, sizeof msg, "unknown message type \"%.100s\"", type);
        send_error(c, "unknown_type", msg);
    }
    json_decref(m);
}

int dmn_ws_receive(dmn_conn *c, const void *in, size_t len, bool final)
{
    char *n;

    if (c->rx_len + len > RX_MAX) {
        free(c->rx);
        c->rx = NULL;
        c->rx_len = 0;
        if (final)
            send_error(c, "too_large", "message over 64 KiB ignored");
        return 0;
    }
    n = realloc(c->rx, c->rx_len + len + 1);
    if (!n)
        return -1;
    c->rx = n;
    memcpy(c->rx + c->rx_len, in, len);
    c->rx_len += len;
    if (final) {
        handle_message(c, c->rx, c->rx_len);
        c->rx_len = 0;
    }
    return 0;
}
