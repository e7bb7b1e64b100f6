/*
 * WebSocket subscribers (protocol in docs/daemon.md, "WebSocket").
 *
 * A subscription is in one of two modes:
 *   catch-up  reads the run's stream file from next_seq (a proto_reader,
 *             following while the run is live) and, once the file has no
 *             more, the run's window: the drained events not yet written.
 *             When it reaches the run's next_seq it turns live.
 *   live      the drain (dmn_ws_event) appends each new event to its
 *             queue. A queue longer than cfg.sub_queue_events is dropped
 *             and the subscription goes back to catch-up from its first
 *             unsent seq: a slow reader costs one frame plus the reader,
 *             and never holds up the run.
 * Every transition happens on the loop thread between two events, so the
 * stream a subscriber gets has no gap and no duplicate.
 *
 * Loop phases: lws's writeable callback (poll phase) builds and sends one
 * frame per call: a control message first, else the next subscription in
 * round-robin order; the drain (async phase) queues and asks for
 * writeable; the server tick (timer phase) sends heartbeats.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmn.h"

#define FRAME_EVENTS 512
#define FRAME_BYTES (64u << 10)
#define CTRL_MAX 1024     /* control messages queued per connection */
#define RX_MAX (64u << 10)
#define BINARY_MAGIC "TRCB"
#define BINARY_HEADER_LEN 16 /* magic, u32 0, u64 run id (LE) */

/* ---- control messages ------------------------------------------------------ */

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

/* ---- subscriptions ----------------------------------------------------------- */

static void sub_clear_queue(dmn_sub *s)
{
    for (size_t i = 0; i < s->qlen; i++)
        dmn_evt_unref(s->q[(s->qhead + i) % s->qcap]);
    s->qhead = s->qlen = 0;
}

static void sub_free(dmn_sub *s)
{
    dmn_sub **p;

    for (p = &s->run->subs; *p; p = &(*p)->next_in_run)
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
    sub_clear_queue(s);
    free(s->q);
    if (s->reader)
        proto_reader_free(s->reader);
    free(s);
}

static int sub_enqueue(dmn_sub *s, dmn_evt *e)
{
    if (s->qlen == s->qcap) {
        size_t cap = s->qcap ? s->qcap * 2 : 64;
        dmn_evt **n = malloc(cap * sizeof *n);

        if (!n)
            return -1;
        for (size_t i = 0; i < s->qlen; i++)
            n[i] = s->q[(s->qhead + i) % s->qcap];
        free(s->q);
        s->q = n;
        s->qcap = cap;
        s->qhead = 0;
    }
    s->q[(s->qhead + s->qlen++) % s->qcap] = e;
    e->refs++;
    return 0;
}

/* Back to catch-up from the first event not sent. */
static void sub_fall_back(dmn_sub *s)
{
    if (s->qlen)
        s->next_seq = s->q[s->qhead]->ev.seq;
    sub_clear_queue(s);
    s->live = false;
    s->fallbacks++;
}

void dmn_ws_event(dmn_run *r, dmn_evt *e)
{
    uint64_t next = proto_event_next_seq(&e->ev);

    for (dmn_sub *s = r->subs; s; s = s->next_in_run) {
        if (!s->live || next <= s->next_seq)
            continue;
        if (sub_enqueue(s, e) != 0) {
            sub_fall_back(s);
            continue;
        }
        s->next_seq = next;
        if (s->qlen > s->conn->srv->cfg.sub_queue_events)
            sub_fall_back(s);
        lws_callback_on_writable(s->conn->wsi);
    }
}

void dmn_ws_kick_run(dmn_run *r)
{
    for (dmn_sub *s = r->subs; s; s = s->next_in_run)
        lws_callback_on_writable(s->conn->wsi);
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
}

void dmn_ws_heartbeat(dmn_server *srv)
{
    for (dmn_conn *c = srv->conns; c; c = c->next) {
        if (c->ctrl_len == 0)
            ctrl_send(c, json_pack("{s:s, s:I}", "type", "heartbeat",
                                   "wall_ms",
                                   (json_int_t)(dmn_wall_ns() / 1000000u)));
        /* Catch-up subscriptions waiting for the file get another try. */
        for (dmn_sub *s = c->subs; s; s = s->next_in_conn)
            if (!s->live && !s->ended)
                lws_callback_on_writable(c->wsi);
    }
}

/* ---- frames ---------------------------------------------------------------- */

typedef struct frame {
    dmn_conn *c;
    dmn_sub *s;
    size_t len;   /* bytes after LWS_PRE */
    uint32_t count;
    proto_delta delta;
} frame;

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

static int frame_put(frame *f, const void *p, size_t n)
{
    if (tx_reserve(f->c, f->len + n + 8) != 0)
        return -1;
    memcpy(f->c->tx + LWS_PRE + f->len, p, n);
    f->len += n;
    return 0;
}

static void frame_begin(frame *f, dmn_conn *c, dmn_sub *s)
{
    memset(f, 0, sizeof *f);
    f->c = c;
    f->s = s;
    if (s->binary) {
        uint8_t h[BINARY_HEADER_LEN] = BINARY_MAGIC;
        uint64_t id = s->run->id;

        for (int i = 0; i < 8; i++)
            h[8 + i] = (uint8_t)(id >> (8 * i));
        frame_put(f, h, sizeof h);
    } else {
        char h[96];
        int n = snprintf(h, sizeof h, "{\"type\":\"events\",\"run\":%" PRIu64
                         ",\"events\":[", s->run->id);

        frame_put(f, h, (size_t)n);
    }
}

/* Add one event; json may be NULL (then it is made here). */
static int frame_add(frame *f, const proto_event *ev, const char *json,
                     size_t json_len)
{
    if (f->s->binary) {
        size_t bound = proto_encoded_bound(ev), n;

        if (tx_reserve(f->c, f->len + bound) != 0)
            return -1;
        if (proto_encode(&f->delta, ev, f->c->tx + LWS_PRE + f->len, bound,
                         &n) != 0)
            return -1;
        f->len += n;
    } else {
        char *owned = NULL;

        if (!json) {
            json_t *j;

            if (proto_event_to_json(ev, NULL, &j) != 0)
                return -1;
            owned = json_dumps(j, JSON_COMPACT);
            json_decref(j);
            if (!owned)
                return -1;
            json = owned;
            json_len = strlen(owned);
        }
        if ((f->count && frame_put(f, ",", 1) != 0) ||
            frame_put(f, json, json_len) != 0) {
            free(owned);
            return -1;
        }
        free(owned);
    }
    f->count++;
    return 0;
}

static bool frame_full(const frame *f)
{
    return f->count >= FRAME_EVENTS || f->len >= FRAME_BYTES;
}

static int frame_add_evt(frame *f, dmn_evt *e)
{
    size_t n = 0;
    const char *json = f->s->binary ? NULL : dmn_evt_json(e, &n);

    if (!f->s->binary && !json)
        return -1;
    return frame_add(f, &e->ev, json, n);
}

/* Catch-up: the file from next_seq, then the window. */
static void fill_catch_up(frame *f)
{
    dmn_sub *s = f->s;
    dmn_run *r = s->run;
    char err[256];
    int rc = PROTO_ERR_END;

    if (!s->reader) {
        char path[600];

        dmn_run_stream_path(r, path, sizeof path);
        rc = proto_reader_new(path, dmn_run_is_live(r) ? PROTO_READER_FOLLOW
                                                       : 0,
                              &s->reader, err, sizeof err);
        if (rc == 0) {
            rc = proto_reader_seek(s->reader, s->next_seq, err, sizeof err);
            if (rc != 0) {
                proto_reader_free(s->reader);
                s->reader = NULL;
            }
        } else {
            s->reader = NULL;
        }
    }
    if (s->reader) {
        proto_event ev;

        proto_event_init(&ev);
        while (!frame_full(f)) {
            rc = proto_reader_next(s->reader, &ev, err, sizeof err);
            if (rc != 0)
                break;
            if (proto_event_next_seq(&ev) <= s->next_seq)
                continue; /* before the subscription's start */
            if (frame_add(f, &ev, NULL, 0) != 0)
                break;
            s->next_seq = proto_event_next_seq(&ev);
        }
        proto_event_close(&ev);
        if (rc == PROTO_ERR_CORRUPT || rc == PROTO_ERR_IO) {
            send_error(s->conn, "read_failed", err);
            s->ended = true;
        }
        if (f->count)
            return;
        /* The file has no more for now: the rest is in the window. */
        proto_reader_free(s->reader);
        s->reader = NULL;
    }
    for (long i = dmn_run_window_find(r, s->next_seq);
         i >= 0 && (size_t)i < r->win_len && !frame_full(f); i++) {
        if (frame_add_evt(f, r->win[i]) != 0)
            break;
        s->next_seq = proto_event_next_seq(&r->win[i]->ev);
    }
    if (dmn_run_is_live(r) && s->next_seq >= r->next_seq)
        s->live = true; /* caught up: the drain feeds it from now on */
}

static void fill_live(frame *f)
{
    dmn_sub *s = f->s;

    while (s->qlen && !frame_full(f)) {
        dmn_evt *e = s->q[s->qhead];

        if (frame_add_evt(f, e) != 0)
            break;
        s->qhead = (s->qhead + 1) % s->qcap;
        s->qlen--;
        dmn_evt_unref(e);
    }
}

static int write_frame(dmn_conn *c, frame *f)
{
    enum lws_write_protocol wp = f->s->binary ? LWS_WRITE_BINARY
                                              : LWS_WRITE_TEXT;

    if (!f->s->binary && frame_put(f, "]}", 2) != 0)
        return -1;
    if (lws_write(c->wsi, c->tx + LWS_PRE, f->len, wp) < (int)f->len)
        return -1;
    return 0;
}

/* Try to produce a frame (or the end message) for s. 1 sent, 0 nothing,
 * -1 the connection failed. */
static int sub_send(dmn_conn *c, dmn_sub *s)
{
    frame f;
    dmn_run *r = s->run;

    if (s->ended)
        return 0;
    frame_begin(&f, c, s);
    f.count = 0;
    if (!s->binary)
        f.count = 0;
    if (s->live)
        fill_live(&f);
    else
        fill_catch_up(&f);
    if (f.count)
        return write_frame(c, &f) == 0 ? 1 : -1;
    if (!dmn_run_is_live(r) && !s->ended && (s->live || !s->reader)) {
        /* Everything the run has was sent: say how it ended. */
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
        if (tx_reserve(c, n) == 0) {
            memcpy(c->tx + LWS_PRE, m, n);
            free(m);
            return lws_write(c->wsi, c->tx + LWS_PRE, n, LWS_WRITE_TEXT) <
                           (int)n
                       ? -1
                       : 1;
        }
        free(m);
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

/* ---- connection life ---------------------------------------------------------- */

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
    bool now = false;

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
        now = true;
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
    s = calloc(1, sizeof *s);
    if (!s) {
        send_error(c, "internal", "out of memory");
        return;
    }
    s->conn = c;
    s->run = r;
    s->binary = format && strcmp(format, "binary") == 0;
    s->next_seq = seq;
    s->live = now && dmn_run_is_live(r);
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
