/*
 * traced protocol: the event model of a traced run, its two encodings
 * (compact binary and JSON) and the native trace file. The lock-free ring
 * that carries events from the VM thread to the daemon loop is declared in
 * traced/proto_ring.h. docs/protocol.md describes every byte.
 *
 * A run is a stream of events. Each event has a 64-bit sequence number,
 * consecutive within the run starting at 0 with run_start, and a
 * timestamp in nanoseconds of the monotonic clock relative to run start.
 * A loss event stands for a range of dropped events: its seq is the first
 * lost one and it covers `count` numbers, so the stream a consumer sees
 * is gap-free and it can prove it saw everything, or name what it missed.
 *
 * Events carry their variable-length parts (values, strings, bytes) by
 * pointer. A producer points them at its own data for the duration of the
 * encode call. A decoder (binary, JSON, trace file reader) fills an event
 * whose arrays live in the event's own storage (ev->mem, released by
 * proto_event_close) and whose strings are borrowed from the input, as
 * each decoding function says. Strings are length-counted and need not be
 * NUL-terminated.
 *
 * Errors: functions that can fail return int, 0 on success or a negative
 * PROTO_ERR_* code; detail goes into a caller buffer (char *err, size_t
 * errlen; may be NULL/0). The library never prints and never exits.
 */
#ifndef TRACED_PROTO_H
#define TRACED_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "traced/vm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes: X(NAME, value, message). */
#define PROTO_ERRORS(X)                                                     \
    X(OK, 0, "success")                                                     \
    X(NOMEM, -1, "out of memory")                                           \
    X(ARG, -2, "invalid argument")                                          \
    X(TRUNCATED, -3, "input ends inside a record")                          \
    X(MALFORMED, -4, "malformed record")                                    \
    X(LIMIT, -5, "implementation limit exceeded")                           \
    X(NOSPACE, -6, "output buffer too small")                               \
    X(JSON, -7, "invalid JSON event")                                       \
    X(AGAIN, -8, "not available yet")                                       \
    X(END, -9, "end of stream")                                             \
    X(FULL, -10, "ring full, event dropped")                                \
    X(CLOSED, -11, "ring shut down")                                        \
    X(TOO_BIG, -12, "record larger than the ring allows")                   \
    X(IO, -13, "I/O error")                                                 \
    X(BAD_MAGIC, -14, "not a traced trace file")                            \
    X(VERSION, -15, "unsupported trace file version")                       \
    X(CRC, -16, "checksum mismatch")                                        \
    X(CORRUPT, -17, "corrupt trace file")                                   \
    X(TORN, -18, "torn chunk at end of file")                               \
    X(NOT_FOUND, -19, "not found")

enum {
#define PROTO_X_ENUM(name, value, msg) PROTO_ERR_##name = value,
    PROTO_ERRORS(PROTO_X_ENUM)
#undef PROTO_X_ENUM
};

/* Static strings; an unknown code gives "unknown error" / "UNKNOWN". */
const char *proto_strerror(int err);
const char *proto_err_name(int err);

/* Decoder limits: inputs beyond them are rejected with PROTO_ERR_LIMIT. */
#define PROTO_MAX_VALS 65536u        /* values in one event */
#define PROTO_MAX_STRS 65536u        /* argv entries or imports */
#define PROTO_MAX_BYTES (16u << 20)  /* one string or output payload */

/* ---- Event model -------------------------------------------------------- */

/* Event types: X(NAME, type byte, JSON name). The type byte is also the
 * first byte of the binary record; 13 is the batch record (PROTO_BATCH
 * below), 0 and 16..255 are reserved. ops and steps are runs: one event
 * that stands for `count` op (step) events (proto_ops, proto_steps). */
#define PROTO_EVENT_TYPES(X)                                                \
    X(RUN_START, 1, "run_start")                                            \
    X(CALL, 2, "call")                                                      \
    X(RETURN, 3, "return")                                                  \
    X(HOST_CALL, 4, "host_call")                                            \
    X(HOST_RETURN, 5, "host_return")                                        \
    X(OP, 6, "op")                                                          \
    X(THROW, 7, "throw")                                                    \
    X(TRAP, 8, "trap")                                                      \
    X(OUTPUT, 9, "output")                                                  \
    X(STEP, 10, "step")                                                     \
    X(LOSS, 11, "loss")                                                     \
    X(RUN_END, 12, "run_end")                                              \
    X(OPS, 14, "ops")                                                       \
    X(STEPS, 15, "steps")

typedef enum proto_event_type {
#define PROTO_X_TYPE(name, value, str) PROTO_##name = value,
    PROTO_EVENT_TYPES(PROTO_X_TYPE)
#undef PROTO_X_TYPE
} proto_event_type;

/*
 * A record kind of the binary encoding that is not an event type: a batch
 * record (docs/protocol.md section 2, "Batches") carries several ordinary
 * records as one unit. Decoders expand it, so no decoded event has this
 * type and proto_event_type_name(PROTO_BATCH) is NULL; it only appears as
 * proto_raw.type. A plain constant rather than an enumerator, so that
 * switches over event types need no case for it and comparing a
 * proto_event_type with it draws no enum-compare warning.
 */
#define PROTO_BATCH 13

/* "call", ...; NULL for an unknown type. */
const char *proto_event_type_name(proto_event_type t);
/* The type named s (JSON name), or 0. */
proto_event_type proto_event_type_from_name(const char *s);

/*
 * Trace levels. calls: every event except op, ops, step and steps. ops:
 * calls, op and ops. lines: calls, step and steps (source lines from
 * DWARF; no op). The levels are not ordered: lines does not include op.
 */
typedef enum proto_level {
    PROTO_LEVEL_CALLS = 1,
    PROTO_LEVEL_OPS = 2,
    PROTO_LEVEL_LINES = 3,
} proto_level;

const char *proto_level_name(proto_level l); /* "calls", ...; NULL */
int proto_level_from_name(const char *s);    /* level, or PROTO_ERR_ARG */
/* Whether a run traced at level l produces events of type t. */
bool proto_level_includes(proto_level l, proto_event_type t);

/* How a run ended. */
#define PROTO_STATUSES(X)                                                   \
    X(OK, 0, "ok")                                                          \
    X(TRAP, 1, "trap")                                                      \
    X(EXIT, 2, "exit")                                                      \
    X(FUEL, 3, "fuel")                                                      \
    X(CANCELLED, 4, "cancelled")                                            \
    X(EXCEPTION, 5, "exception")

typedef enum proto_status {
#define PROTO_X_STATUS(name, value, str) PROTO_STATUS_##name = value,
    PROTO_STATUSES(PROTO_X_STATUS)
#undef PROTO_X_STATUS
} proto_status;

const char *proto_status_name(proto_status s); /* NULL if unknown */
int proto_status_from_name(const char *s);     /* status or PROTO_ERR_ARG */

/* The null reference's id. Reference ids are otherwise opaque. */
#define PROTO_REF_NULL UINT64_MAX

/*
 * A typed wasm value. type is a vm_valtype code. Floats are bit patterns
 * (NaN payloads survive every path); references are 64-bit ids chosen by
 * the producer (for funcref the VM uses the function index), with
 * PROTO_REF_NULL for null.
 */
typedef struct proto_val {
    uint8_t type; /* vm_valtype */
    union {
        int32_t i32;
        int64_t i64;
        uint32_t f32_bits;
        uint64_t f64_bits;
        uint8_t v128[16];
        uint64_t ref;
    } of;
} proto_val;

/* A VM value as a protocol value: references become their pointer bits
 * (NULL -> PROTO_REF_NULL) unless the caller maps them to ids itself. */
static inline proto_val proto_val_from_vm(const vm_val *v)
{
    proto_val p;

    p.type = (uint8_t)v->type;
    p.of.v128[0] = 0; /* silence may-be-uninitialised on the union */
    switch (v->type) {
    case VM_I32: p.of.i32 = v->of.i32; break;
    case VM_I64: p.of.i64 = v->of.i64; break;
    case VM_F32: p.of.f32_bits = v->of.f32_bits; break;
    case VM_F64: p.of.f64_bits = v->of.f64_bits; break;
    case VM_V128:
        for (int i = 0; i < 16; i++)
            p.of.v128[i] = v->of.v128[i];
        break;
    default:
        p.of.ref = v->of.ref ? (uint64_t)(uintptr_t)v->of.ref : PROTO_REF_NULL;
        break;
    }
    return p;
}

/* A value array; items borrowed (see the file comment). */
typedef struct proto_vals {
    const proto_val *items;
    uint32_t count;
} proto_vals;

/* A length-counted byte string; ptr borrowed, not NUL-terminated. */
typedef struct proto_str {
    const char *ptr;
    uint32_t len;
} proto_str;

/* One function import of the module: host_call's import id indexes the
 * run_start import table. */
typedef struct proto_import {
    proto_str module, name;
} proto_import;

typedef struct proto_run_start {
    uint64_t run_id;      /* chosen by the daemon, unique per run */
    uint64_t wall_ns;     /* start time, ns since the Unix epoch */
    proto_level level;
    proto_str module;     /* module name (file name or name section) */
    uint8_t hash[32];     /* SHA-256 of the module bytes */
    const proto_str *argv; /* argc strings, borrowed */
    uint32_t argc;
    const proto_import *imports; /* function imports in order, borrowed */
    uint32_t nimports;
    /* Level lines only (ignored and empty otherwise): the source file
     * table, which step events index; borrowed. */
    const proto_str *files;
    uint32_t nfiles;
} proto_run_start;

typedef struct proto_call {
    uint32_t func;  /* function index (imports first) */
    uint32_t depth; /* wasm frames on the stack, the callee's included */
    proto_vals args;
} proto_call;

typedef struct proto_return {
    uint32_t func;
    uint32_t depth;
    proto_vals results;
} proto_return;

typedef struct proto_host_call {
    uint32_t func;   /* function index */
    uint32_t import; /* index into run_start's import table */
    proto_vals vals; /* arguments of host_call, results of host_return */
} proto_host_call;

/*
 * Opcodes: a one-byte opcode is its byte; a prefixed one (0xFB..0xFE) is
 * PROTO_OPCODE(prefix, sub). Offset is the instruction's byte offset in
 * the module binary.
 */
#define PROTO_OPCODE(prefix, sub) (((uint32_t)(prefix) << 24) | (uint32_t)(sub))
#define PROTO_OPCODE_PREFIX(op) ((uint32_t)(op) >> 24)
#define PROTO_OPCODE_SUB(op) ((uint32_t)(op) & 0xffffffu)
#define PROTO_OPCODE_IS_PREFIX(byte) ((byte) >= 0xfb && (byte) <= 0xfe)

typedef struct proto_op {
    uint32_t opcode;
    uint32_t offset;
} proto_op;

typedef struct proto_throw {
    uint32_t tag;
    proto_vals payload;
} proto_throw;

typedef struct proto_trap {
    int32_t code;      /* a VM_ERR_TRAP_* code */
    proto_str message;
} proto_trap;

typedef struct proto_output {
    uint32_t fd;    /* 1 or 2 */
    proto_str data; /* raw bytes, any content */
} proto_output;

/* The running frame's source line changed (level lines): file indexes
 * run_start's file table; line is 1-based, column 1-based or 0 when
 * unknown. */
typedef struct proto_step {
    uint32_t file, line, column;
} proto_step;

typedef struct proto_loss {
    uint64_t count; /* events dropped: seq .. seq + count - 1 */
} proto_loss;

/*
 * A run of op events (level ops): the instructions executed one after the
 * other that follow each other in the module binary, the first at offset
 * (an instruction's first byte), each of the others starting where the
 * previous one ends, all in one function body. It stands for count >= 1
 * op events, seq .. seq + count - 1, all with the run's t. Expanding it
 * needs the module's code (traced/proto_code.h).
 */
typedef struct proto_ops {
    uint32_t offset;
    uint64_t count;
} proto_ops;

/*
 * A run of step events (level lines): the step points point, point + 1,
 * ..., point + count - 1 (indices into the module's step points: the
 * statement rows of its DWARF line table, vm_debug_steps), reached one
 * after the other, each a step event. count >= 1 events, seq .. seq +
 * count - 1, all with the run's t. Expanding it into (file, line, column)
 * needs the module's DWARF (traced/proto_code.h).
 */
typedef struct proto_steps {
    uint32_t point;
    uint64_t count;
} proto_steps;

typedef struct proto_counters {
    uint64_t ops, calls, host_calls, max_depth, throws, traps;
} proto_counters;

typedef struct proto_run_end {
    proto_status status;
    int32_t exit_code;  /* status exit */
    proto_vals results; /* status ok */
    proto_counters counters;
} proto_run_end;

/* An event's private storage; see proto_event_init. Do not touch. */
typedef struct proto_event_mem {
    void *buf;
    size_t cap;
    void *json; /* a json_t reference the strings borrow from */
} proto_event_mem;

typedef struct proto_event {
    proto_event_type type;
    uint64_t seq;  /* for loss: the first lost seq */
    uint64_t t_ns; /* monotonic ns since run start */
    union {
        proto_run_start run_start;
        proto_call call;
        proto_return ret;
        proto_host_call host; /* host_call and host_return */
        proto_op op;
        proto_throw throw_;
        proto_trap trap;
        proto_output output;
        proto_step step;
        proto_loss loss;
        proto_run_end run_end;
        proto_ops ops;
        proto_steps steps;
    } as;
    proto_event_mem mem;
} proto_event;

/*
 * An event that decoders fill is caller-allocated: init before the first
 * decode, close after the last; one event may be decoded into many times
 * and reuses its storage. An event a producer fills by hand needs neither
 * if mem stays zero (designated initialisers do that).
 */
void proto_event_init(proto_event *ev);
void proto_event_close(proto_event *ev);

/* The seq that follows ev in its run: seq + 1, or seq + count for loss,
 * ops and steps (the events they stand for). */
uint64_t proto_event_next_seq(const proto_event *ev);

/* Deep equality: same type, seq, time, fields, values bit for bit. */
bool proto_event_equal(const proto_event *a, const proto_event *b);
bool proto_val_equal(const proto_val *a, const proto_val *b);

/* Copy src into dst (an initialised event) so that dst owns all of its
 * data: arrays and strings move into dst's storage. */
int proto_event_copy(proto_event *dst, const proto_event *src);

/* ---- Hashes and checksums ------------------------------------------------ */

void proto_sha256(const void *data, size_t len, uint8_t out[32]);
/* Lower-case hex; out gets 64 characters and a NUL. */
void proto_hex(const uint8_t *bytes, size_t n, char *out);
/* Parse 2n hex digits into n bytes; PROTO_ERR_ARG if not hex. */
int proto_unhex(const char *hex, size_t n, uint8_t *out);

/* CRC32C (Castagnoli): the SSE4.2 crc32 instruction where the CPU has
 * it, slice-by-8 otherwise. crc = 0 to start; chain by passing the
 * previous result. */
uint32_t proto_crc32c(uint32_t crc, const void *data, size_t len);

/* ---- Compact binary encoding ----------------------------------------------- */

/*
 * Delta state of a run of records. Within a chunk, seq, t and code offsets
 * (op and ops records) are coded as differences from the previous record;
 * a chunk (and any standalone record) starts from a zeroed state, which
 * makes its first record absolute. Encoder and decoder keep identical
 * states.
 */
typedef struct proto_delta {
    uint64_t next_seq;
    uint64_t prev_t;
    uint64_t prev_offset;
    /* Inside a batch record (batch_left > 0), between two of its inner
     * records: next_seq, prev_t and prev_offset are the body's own state,
     * and these say what is left and what the outer state becomes after
     * the last inner record. All zero outside a batch. */
    uint32_t batch_left;      /* events (seq numbers) still to decode: an
                                 ops or steps record takes its count */
    uint64_t batch_bytes;     /* body bytes still to decode */
    uint64_t batch_t_last;    /* the batch's t_last */
    uint64_t batch_offset;    /* the outer prev_offset, restored after it */
} proto_delta;

static inline void proto_delta_reset(proto_delta *d)
{
    d->next_seq = d->prev_t = d->prev_offset = 0;
    d->batch_left = 0;
    d->batch_bytes = d->batch_t_last = d->batch_offset = 0;
}

/* Whether d is between two inner records of a batch. */
static inline bool proto_delta_in_batch(const proto_delta *d)
{
    return d->batch_left != 0;
}

/* A module's code and step points, which expand ops and steps events
 * into op and step events (traced/proto_code.h). */
typedef struct proto_code proto_code;

/* An upper bound of ev's encoded size (cheap; for reserving space). */
size_t proto_encoded_bound(const proto_event *ev);

/*
 * Encode ev at buf[0..cap) and advance d. Returns 0 with *len set, or
 * PROTO_ERR_NOSPACE (nothing written that matters, d unchanged) or
 * PROTO_ERR_ARG (ev is not a valid event: bad type, value type, level).
 */
int proto_encode(proto_delta *d, const proto_event *ev, uint8_t *buf,
                 size_t cap, size_t *len);

/*
 * Decode one record from buf[0..len) into ev (initialised) and advance d.
 * Returns 0 with *used set to the record's size, PROTO_ERR_TRUNCATED when
 * buf ends inside the record, PROTO_ERR_MALFORMED or PROTO_ERR_LIMIT for
 * bad input, PROTO_ERR_NOMEM. Never reads outside buf. ev's strings are
 * borrowed from buf; its arrays live in ev's storage. On error d is
 * unchanged.
 *
 * Batches expand transparently: at a batch record, the call consumes the
 * batch header and decodes the first inner record (*used covers both),
 * and d then says "inside a batch"; the following calls decode the
 * following inner records (checking them against the header), and after
 * the last one d is the state after the batch. So a loop that decodes
 * records until its input ends returns every event of every batch. The
 * whole body must be in buf when the header is decoded (TRUNCATED
 * otherwise).
 */
int proto_decode(proto_delta *d, const uint8_t *buf, size_t len,
                 proto_event *ev, size_t *used, char *err, size_t errlen);

/*
 * A record with only its header decoded: what a consumer needs to move
 * a delta-coded record (from the ring) into a file chunk without decoding
 * and re-encoding its body. bytes is borrowed from the parsed buffer (the
 * ring: until the consumer's next call).
 */
typedef struct proto_raw {
    const uint8_t *bytes; /* the record, bytes[0..len) */
    size_t len;
    proto_delta before;   /* the delta state it is coded against */
    proto_event_type type; /* an event type, or PROTO_BATCH */
    uint64_t seq, t_ns;   /* batch: the first inner seq, and t_last */
    uint64_t next_seq;    /* seq + count */
    uint32_t offset;      /* op, ops: its code offset */
    uint32_t body;        /* bytes[body..len) is the body (after the
                             seq and t deltas; batch: count, t_last,
                             body length, inner records) */
    uint32_t offset_at;   /* op, ops: where its offset delta starts */
    uint64_t count;       /* events (seq numbers) it stands for:
                             next_seq - seq; 1 but for loss, ops, steps
                             and batch */
    uint64_t t_first;     /* batch: the first inner t (else t_ns) */
} proto_raw;

/*
 * Parse the header of the one record buf[0..len), coded against *before:
 * type, seq, t, and the fields that carry delta state (an op's offset, a
 * loss event's count, an ops record's offset and count, a steps record's
 * point and count, a batch's header; the record must end exactly after
 * them, or for a batch after its body). Other bodies, and a batch's inner
 * records, are not looked at: proto_raw_decode and proto_raw_events check
 * them. 0, PROTO_ERR_TRUNCATED or PROTO_ERR_MALFORMED; PROTO_ERR_ARG if
 * *before is inside a batch (a raw record is a whole record). Advancing
 * the delta state past the record is the caller's: proto_raw_advance.
 */
int proto_raw_parse(const proto_delta *before, const uint8_t *buf,
                    size_t len, proto_raw *out, char *err, size_t errlen);
/* Advance d past raw (d held raw->before). */
static inline void proto_raw_advance(proto_delta *d, const proto_raw *raw)
{
    d->next_seq = raw->next_seq;
    d->prev_t = raw->t_ns;
    if (raw->type == PROTO_OP || raw->type == PROTO_OPS)
        d->prev_offset = raw->offset;
}
/* Decode raw completely into ev (initialised), as proto_decode would;
 * the record must be exactly raw->len bytes. A batch holds several events:
 * PROTO_ERR_ARG (use proto_raw_events). */
int proto_raw_decode(const proto_raw *raw, proto_event *ev, char *err,
                     size_t errlen);

/*
 * An ops or steps event being expanded by an iterator that has a code map
 * (proto_raw_events, proto_reader): the run, and the next of its events
 * to return. Internal to the iterators; zero when no run is open.
 */
typedef struct proto_run_cursor {
    proto_event_type type; /* PROTO_OPS or PROTO_STEPS; 0: none open */
    uint64_t seq, t_ns, count;
    uint32_t start;        /* ops: its offset; steps: its first point */
    uint32_t first;        /* ops: index of its first instruction */
    uint64_t next;         /* index of the next event to return */
} proto_run_cursor;

/*
 * The events of one raw record, in order: the record's own event, or
 * each inner event of a batch. Caller-allocated, no close. It copies
 * what it needs from raw at init, but reads raw->bytes while iterating:
 * those bytes must stay valid until the last next (for the ring's
 * next_raw: until the consumer's next call on the ring).
 */
typedef struct proto_raw_events {
    const uint8_t *bytes;
    size_t len, pos;
    uint64_t left;      /* events (seq numbers) still to decode */
    proto_delta delta;
    const proto_code *code; /* proto_raw_events_set_code; borrowed */
    proto_run_cursor run;
} proto_raw_events;

void proto_raw_events_init(proto_raw_events *it, const proto_raw *raw);
/*
 * From now on (call it after init), expand ops and steps events against
 * c: next returns their op and step events one by one instead
 * (proto_code_expand), and a run that does not fit the module is
 * PROTO_ERR_MALFORMED. c is borrowed and must outlive the iteration;
 * NULL turns expansion off. Without a code map ops and steps events are
 * returned as they are.
 */
void proto_raw_events_set_code(proto_raw_events *it, const proto_code *c);
/* The next event into ev (initialised; strings borrowed from raw's
 * bytes): 0, PROTO_ERR_END after the last one, or a decode error
 * (MALFORMED also when the record holds bytes after its last event). */
int proto_raw_events_next(proto_raw_events *it, proto_event *ev, char *err,
                          size_t errlen);

/* ---- JSON form (jansson) ------------------------------------------------------- */

typedef struct json_t json_t;

/* How the source language sees a wasm value (proto_json_opts). */
typedef struct proto_source_val {
    const char *name; /* parameter name, or NULL */
    const char *type; /* source type ("unsigned int", "char *"), or NULL */
    char text[80];    /* the value read as that type ("" without type) */
} proto_source_val;

/* Optional names for the JSON form; each callback may be NULL or return
 * NULL. Returned strings are borrowed until the encoder returns.
 * source_val: for value i of a call's or host call's arguments (result
 * false) or of a return's results (result true) of function func, fill
 * *out (zeroed) and return true, or return false when it knows nothing;
 * the value's object then gains "name", "src_type" and "src_text".
 * proto_source (proto_source.h) provides one from the module's name
 * section and DWARF. */
typedef struct proto_json_opts {
    const char *(*func_name)(void *user, uint32_t func);
    const char *(*op_name)(void *user, uint32_t opcode);
    void *user;
    bool (*source_val)(void *user, uint32_t func, bool result, uint32_t i,
                       const proto_val *v, proto_source_val *out);
} proto_json_opts;

/* The JSON object of ev (a new reference in *out). opts may be NULL. */
int proto_event_to_json(const proto_event *ev, const proto_json_opts *opts,
                        json_t **out);
/* Parse the JSON object j into ev (initialised). ev keeps a reference to
 * j and borrows its strings until the next decode into ev or close. */
int proto_event_from_json(json_t *j, proto_event *ev, char *err,
                          size_t errlen);

/* ---- Trace files ----------------------------------------------------------------- */

#define PROTO_FILE_MAGIC "\x89TRACED\n"     /* 8 bytes */
/* Files are written as 2.0; readers read 1.x and 2.x (docs/protocol.md
 * section 6). */
#define PROTO_FILE_VERSION_MAJOR 2
#define PROTO_FILE_VERSION_MINOR 0
#define PROTO_FILE_VERSION_OLDEST_MAJOR 1
#define PROTO_FILE_HEADER_LEN 80
#define PROTO_CHUNK_HEADER_LEN 24
#define PROTO_CHUNK_TRAILER_LEN 4
#define PROTO_CHUNK_MAX_PAYLOAD (64u << 20)
#define PROTO_INDEX_MAGIC "TRACEIDX"        /* 8 bytes */
#define PROTO_INDEX_HEADER_LEN 16
#define PROTO_INDEX_ENTRY_LEN 24

typedef struct proto_file_header {
    uint16_t version_major, version_minor;
    uint64_t run_id;
    uint64_t wall_ns;
    proto_level level;
    uint8_t module_hash[32];
} proto_file_header;

/* Encode a header (version fields taken from the constants). decode
 * accepts the majors PROTO_FILE_VERSION_OLDEST_MAJOR ..
 * PROTO_FILE_VERSION_MAJOR, any minor; another major is
 * PROTO_ERR_VERSION. */
void proto_file_header_encode(const proto_file_header *h,
                              uint8_t out[PROTO_FILE_HEADER_LEN]);
int proto_file_header_decode(const uint8_t *buf, size_t len,
                             proto_file_header *h, char *err, size_t errlen);

/*
 * A sealed chunk, ready to write: data[0..len) goes to the trace file at
 * offset (chunks are written in order, each exactly once), then idx_entry
 * is appended to the index file. data (cap bytes) is owned by the chunk
 * and freed by proto_chunk_close, or handed back to the chunker once
 * written (proto_chunker_recycle).
 */
typedef struct proto_chunk {
    uint8_t *data;
    size_t len, cap;
    uint64_t offset;
    uint64_t first_seq;
    uint32_t count; /* events: seq numbers first_seq .. + count - 1 */
    uint8_t idx_entry[PROTO_INDEX_ENTRY_LEN];
} proto_chunk;

void proto_chunk_close(proto_chunk *c);

/*
 * Chunk builder: the writer side of a trace file without I/O, for the
 * daemon's libuv fs requests. Caller-allocated (init/close). Events are
 * added in seq order; the caller seals a chunk when
 * proto_chunker_pending() reaches its target size or its timer fires.
 */
typedef struct proto_chunker {
    proto_delta delta;
    uint8_t *buf; /* header space + payload being built */
    size_t len, cap;
    uint64_t first_seq, next_seq;
    uint32_t count;
    uint64_t offset; /* file offset of the next chunk */
    bool have_seq;   /* next_seq is known (continuity check) */
} proto_chunker;

int proto_chunker_init(proto_chunker *c);
void proto_chunker_close(proto_chunker *c);
/* Add an event: PROTO_ERR_ARG if ev->seq does not continue the stream,
 * PROTO_ERR_LIMIT if the chunk cannot take it (full payload, or more
 * than 2^32 - 1 events: seal and add again). A chunk counts events (seq
 * numbers): a loss, ops or steps event counts as its count. */
int proto_chunker_add(proto_chunker *c, const proto_event *ev);
/* Add a raw record (proto_raw_parse, proto_ring_next_raw) as the same
 * bytes proto_chunker_add would write for its event: copied as they are
 * when the chunk's delta state matches the one the record is coded
 * against, which is every record but a chunk's first (and its first op),
 * re-based otherwise. A batch goes in whole (its header re-based when it
 * opens the chunk, its body copied) and counts as its inner events; a
 * chunk may so exceed its target size by one batch. The body is not
 * checked: raw must come from a trusted encoder (the ring). PROTO_ERR_ARG
 * as for add. */
int proto_chunker_add_raw(proto_chunker *c, const proto_raw *raw);
/* Payload bytes and events (seq numbers) in the open chunk. */
size_t proto_chunker_pending(const proto_chunker *c);
uint32_t proto_chunker_count(const proto_chunker *c);
/* Seal the open chunk into *out (PROTO_ERR_AGAIN if it is empty). */
int proto_chunker_seal(proto_chunker *c, proto_chunk *out);
/* A written chunk's buffer back to the chunker, which builds its next
 * chunk in it when it has no buffer of its own (else it is freed):
 * without it, each chunk grows a new buffer from 4 KiB, copying as it
 * doubles. Closes chunk. */
void proto_chunker_recycle(proto_chunker *c, proto_chunk *chunk);
/* Index file header, written once before any entry. */
void proto_index_header_encode(uint64_t run_id,
                               uint8_t out[PROTO_INDEX_HEADER_LEN]);

/* Synchronous trace file writer (traced run --trace-dir). */
typedef struct proto_file_writer proto_file_writer;

typedef struct proto_file_writer_opts {
    size_t chunk_bytes; /* seal at this payload size; 0 = 64 KiB */
    bool sync;          /* fdatasync after each chunk */
} proto_file_writer_opts;

/* Create (truncate) path and path.idx and write their headers. opts may
 * be NULL. */
int proto_file_writer_new(const char *path, const proto_file_header *h,
                          const proto_file_writer_opts *opts,
                          proto_file_writer **out, char *err, size_t errlen);
int proto_file_writer_add(proto_file_writer *w, const proto_event *ev,
                          char *err, size_t errlen);
/* The same for a raw record (proto_chunker_add_raw). */
int proto_file_writer_add_raw(proto_file_writer *w, const proto_raw *raw,
                              char *err, size_t errlen);
/* Seal and write the open chunk, if any. */
int proto_file_writer_flush(proto_file_writer *w, char *err, size_t errlen);
/* Flush, close the files, free. Returns the flush result. */
int proto_file_writer_free(proto_file_writer *w, char *err, size_t errlen);

/* Reader, for finished files and (follow) files that are still growing. */
typedef struct proto_reader proto_reader;

enum {
    PROTO_READER_FOLLOW = 1u << 0,
};

/*
 * Open path. Without FOLLOW, reading stops with PROTO_ERR_END at the end of
 * the file, or PROTO_ERR_TORN after the last complete chunk when a torn
 * chunk follows it. With FOLLOW, an incomplete or bad chunk at the end of
 * the file is "not yet": PROTO_ERR_AGAIN, call again later; the same in the
 * middle of the file is PROTO_ERR_CORRUPT. Opening a follow reader before
 * the header is complete returns PROTO_ERR_AGAIN.
 */
int proto_reader_new(const char *path, unsigned flags, proto_reader **out,
                     char *err, size_t errlen);
void proto_reader_free(proto_reader *r);
const proto_file_header *proto_reader_header(const proto_reader *r);
/*
 * Position so that the next event returned is the one whose seq is seq,
 * or the loss, ops or steps event covering it (with a code map, an ops or
 * steps event's op or step at seq); uses path.idx when it is valid and
 * scans chunk headers otherwise. PROTO_ERR_NOT_FOUND when the file has no
 * chunk yet (FOLLOW: PROTO_ERR_AGAIN); for a seq past the last event, next
 * returns PROTO_ERR_END (FOLLOW: AGAIN until it is written).
 */
int proto_reader_seek(proto_reader *r, uint64_t seq, char *err,
                      size_t errlen);
/* Next event into ev (initialised); strings borrowed from the reader until
 * the next call. 0, PROTO_ERR_END, PROTO_ERR_TORN, PROTO_ERR_AGAIN,
 * PROTO_ERR_CORRUPT, PROTO_ERR_IO, PROTO_ERR_NOMEM; with a code map,
 * PROTO_ERR_MALFORMED for an ops or steps event that does not fit the
 * module (the map's error; reading on is not useful). */
int proto_reader_next(proto_reader *r, proto_event *ev, char *err,
                      size_t errlen);
/*
 * From now on, expand ops and steps events against c (borrowed; it must
 * outlive the reader or the next set_code): next returns their op and
 * step events one by one, and a seek to a seq inside a run lands on that
 * op or step. NULL turns expansion off. Without a code map next returns
 * ops and steps events as they are (a seek into one lands on the run).
 */
void proto_reader_set_code(proto_reader *r, const proto_code *c);

typedef struct proto_repair_info {
    uint64_t valid_len;  /* bytes kept */
    uint64_t chunks;     /* complete chunks */
    uint64_t events;     /* events (seq numbers) in them */
    uint64_t next_seq;   /* seq after the last kept event */
    bool truncated;      /* a torn tail was cut off */
} proto_repair_info;

/*
 * After a crash: check every chunk, truncate a torn tail (an incomplete
 * or checksum-failing last chunk) and rebuild path.idx. A bad chunk with
 * valid data after it is corruption, not a torn tail: PROTO_ERR_CORRUPT
 * and nothing is changed. info may be NULL.
 */
int proto_file_repair(const char *path, proto_repair_info *info, char *err,
                      size_t errlen);

#ifdef __cplusplus
}
#endif

#endif /* TRACED_PROTO_H */
