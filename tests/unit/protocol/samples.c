/* See samples.h. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "samples.h"

static const proto_val edge_vals[] = {
    {.type = VM_I32, .of.i32 = 0},
    {.type = VM_I32, .of.i32 = -1},
    {.type = VM_I32, .of.i32 = INT32_MIN},
    {.type = VM_I32, .of.i32 = INT32_MAX},
    {.type = VM_I64, .of.i64 = INT64_MIN},
    {.type = VM_I64, .of.i64 = INT64_MAX},
    {.type = VM_I64, .of.i64 = -2},
    {.type = VM_F32, .of.f32_bits = 0x7fc00000},  /* canonical nan */
    {.type = VM_F32, .of.f32_bits = 0xffa00001},  /* -nan:0x200001 */
    {.type = VM_F32, .of.f32_bits = 0x80000000},  /* -0 */
    {.type = VM_F32, .of.f32_bits = 0x3fc00000},  /* 1.5 */
    {.type = VM_F64, .of.f64_bits = 0x7ff0000000000000ull}, /* inf */
    {.type = VM_F64, .of.f64_bits = 0x7ff8000000000001ull}, /* nan:0x8000000000001 */
    {.type = VM_F64, .of.f64_bits = 0x3fb999999999999aull}, /* 0.1 */
    {.type = VM_F64, .of.f64_bits = 1},                      /* denormal */
    {.type = VM_V128, .of.v128 = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
                                  13, 14, 255}},
    {.type = VM_FUNCREF, .of.ref = PROTO_REF_NULL},
    {.type = VM_FUNCREF, .of.ref = 0},
    {.type = VM_EXTERNREF, .of.ref = UINT64_MAX - 1},
    {.type = VM_EXTERNREF, .of.ref = 42},
};
#define NEDGE (sizeof edge_vals / sizeof edge_vals[0])

static const proto_str argv[] = {{"prog.wasm", 9}, {"", 0}, {"a\0b", 3},
                                 {"\xff\xfe", 2}};
static const proto_import imports[] = {
    {{"wasi_snapshot_preview1", 22}, {"fd_write", 8}},
    {{"env", 3}, {"", 0}},
};

size_t samples_fill(proto_event *evs)
{
    size_t n = 0;
    uint64_t t = 0;
    proto_event *e;

#define NEXT(ty)                                                            \
    do {                                                                    \
        e = &evs[n];                                                        \
        memset(e, 0, sizeof *e);                                            \
        e->type = (ty);                                                     \
        e->seq = n;                                                         \
        e->t_ns = t;                                                        \
        n++;                                                                \
    } while (0)

    NEXT(PROTO_RUN_START);
    e->as.run_start.run_id = 0x0123456789abcdefull;
    e->as.run_start.wall_ns = 1700000000123456789ull;
    e->as.run_start.level = PROTO_LEVEL_OPS;
    e->as.run_start.module = (proto_str){"hello.wasm", 10};
    for (int i = 0; i < 32; i++)
        e->as.run_start.hash[i] = (uint8_t)(i * 7 + 1);
    e->as.run_start.argv = argv;
    e->as.run_start.argc = 4;
    e->as.run_start.imports = imports;
    e->as.run_start.nimports = 2;

    t = 1000;
    NEXT(PROTO_CALL);
    e->as.call = (proto_call){0, 1, {edge_vals, NEDGE}};
    t += 5;
    NEXT(PROTO_CALL);
    e->as.call = (proto_call){UINT32_MAX, UINT32_MAX, {NULL, 0}};
    NEXT(PROTO_OP); /* same t: delta 0 */
    e->as.op = (proto_op){0x41, 1234};
    t += 1;
    NEXT(PROTO_OP); /* offset goes backwards */
    e->as.op = (proto_op){PROTO_OPCODE(0xfd, 0xffffff), 17};
    NEXT(PROTO_OP);
    e->as.op = (proto_op){PROTO_OPCODE(0xfc, 0), UINT32_MAX};
    NEXT(PROTO_OP);
    e->as.op = (proto_op){0, 0};
    t += 1ull << 40;
    NEXT(PROTO_HOST_CALL);
    e->as.host = (proto_host_call){0, 0, {edge_vals, 3}};
    NEXT(PROTO_HOST_RETURN);
    e->as.host = (proto_host_call){7, 1, {edge_vals + 4, 2}};
    NEXT(PROTO_THROW);
    e->as.throw_ = (proto_throw){3, {edge_vals + 10, 6}};
    NEXT(PROTO_OUTPUT);
    e->as.output = (proto_output){1, {"hello, world\n", 13}};
    NEXT(PROTO_OUTPUT);
    e->as.output = (proto_output){2, {"\x00\xff\xc3(bin", 7}};
    NEXT(PROTO_OUTPUT);
    e->as.output = (proto_output){1, {"", 0}};
    NEXT(PROTO_STEP);
    e->as.step = (proto_step){0, UINT32_MAX, 1};
    NEXT(PROTO_RETURN);
    e->as.ret = (proto_return){1, 1, {edge_vals + 15, 5}};
    NEXT(PROTO_LOSS);
    e->as.loss.count = 1;
    NEXT(PROTO_LOSS);
    e->as.loss.count = 1000;
    NEXT(PROTO_TRAP);
    e->as.trap = (proto_trap){VM_ERR_TRAP_DIV_ZERO, {"integer divide by zero", 22}};
    t -= 3; /* time going backwards still round-trips */
    NEXT(PROTO_RUN_END);
    e->as.run_end.status = PROTO_STATUS_EXIT;
    e->as.run_end.exit_code = INT32_MIN;
    e->as.run_end.results = (proto_vals){edge_vals, 2};
    e->as.run_end.counters = (proto_counters){UINT64_MAX >> 1, 2, 3, 4, 5, 6};
#undef NEXT
    /* Assign consecutive sequence numbers honouring loss counts. */
    for (size_t i = 1; i < n; i++)
        evs[i].seq = proto_event_next_seq(&evs[i - 1]);
    return n;
}

void samples_tmp_make(const char *tag, char *dir, size_t dirlen, char *path,
                      size_t pathlen)
{
    snprintf(dir, dirlen, "/tmp/traced-%s-XXXXXX", tag);
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, pathlen, "%s/run.trace", dir);
}

void samples_tmp_remove(const char *dir)
{
    char cmd[160];

    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}
