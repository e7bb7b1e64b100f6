/*
 * SIMD handlers (Wasm 2.0, the 0xFD opcodes): included exactly once, inside
 * run()'s dispatch in interp.c, so each HANDLE_OP here is a label (computed
 * goto) or a case (switch) of the same loop as the scalar handlers. Nothing
 * here may be defined at file scope: scalar helpers (f32_min, round_f32,
 * sat_i32_f32, the load/store helpers...) come from interp.c.
 *
 * A v128 is two consecutive 8-byte slots, low half first, named by the
 * first slot (iops.def). Handlers copy every operand into a local
 * vm__v128 before writing the destination: the compiler may point the
 * destination at an operand's slots (the local.set peephole; and a
 * load_lane's v128 operand sits one slot above its destination).
 *
 * Lane loops are plain C over the union; GCC and Clang vectorize the
 * simple ones at -O2. Lanes are little-endian, as in memory, so a v128
 * moves between slots and memory with memcpy. Lane indices in the code
 * were validated against the shape, so they are used as they are.
 *
 * Arithmetic that C leaves undefined is done in unsigned types (wrapping
 * add/sub/mul/neg/abs, left shifts); right shifts of negative values rely
 * on GCC's arithmetic shift, as the scalar handlers do.
 */

typedef union vm__v128 {
    uint8_t u8[16];
    int8_t i8[16];
    uint16_t u16[8];
    int16_t i16[8];
    uint32_t u32[4];
    int32_t i32[4];
    uint64_t u64[2];
    int64_t i64[2];
    float f32[4];
    double f64[2];
} vm__v128;

/* Read / write the v128 whose first slot is operand k. */
#define V_GET(var, k) memcpy(&(var), &fp[pc[k]], 16)
#define V_SET(k, var) memcpy(&fp[pc[k]], &(var), 16)

#define V_CLAMP(x, lo, hi) ((x) < (lo) ? (lo) : (x) > (hi) ? (hi) : (x))

/* d = f(v128 s) lane by lane: body assigns vr.<lane>[i] from va. */
#define V_UNOP(name, nlanes, body)                                          \
    HANDLE_OP(name) {                                                       \
        vm__v128 va, vr;                                                    \
        V_GET(va, 2);                                                       \
        for (int i = 0; i < (nlanes); i++) {                                \
            body;                                                           \
        }                                                                   \
        V_SET(1, vr);                                                       \
        NEXT(3);                                                            \
    }

/* d = f(v128 s1, v128 s2) lane by lane, from va and vb. */
#define V_BINOP(name, nlanes, body)                                         \
    HANDLE_OP(name) {                                                       \
        vm__v128 va, vb, vr;                                                \
        V_GET(va, 2);                                                       \
        V_GET(vb, 3);                                                       \
        for (int i = 0; i < (nlanes); i++) {                                \
            body;                                                           \
        }                                                                   \
        V_SET(1, vr);                                                       \
        NEXT(4);                                                            \
    }

/* d = v128 s1 shifted by the i32 s2 modulo the lane width (k). */
#define V_SHIFT(name, nlanes, bits, body)                                   \
    HANDLE_OP(name) {                                                       \
        vm__v128 va, vr;                                                    \
        uint32_t k = I32(3) & ((bits) - 1);                                 \
        V_GET(va, 2);                                                       \
        for (int i = 0; i < (nlanes); i++) {                                \
            body;                                                           \
        }                                                                   \
        V_SET(1, vr);                                                       \
        NEXT(4);                                                            \
    }

/* i32 d = fold of v128 s: r starts at init, body updates it per lane. */
#define V_REDUCE(name, nlanes, init, body)                                  \
    HANDLE_OP(name) {                                                       \
        vm__v128 va;                                                        \
        uint32_t r = (init);                                                \
        V_GET(va, 2);                                                       \
        for (int i = 0; i < (nlanes); i++) {                                \
            body;                                                           \
        }                                                                   \
        SET_I32(1, r);                                                      \
        NEXT(3);                                                            \
    }

/* Loads "dso": d = v128 built from the n bytes at ea (body reads p). */
#define V_LOAD(name, nbytes, nlanes, body)                                  \
    HANDLE_OP(name) {                                                       \
        vm__v128 vr;                                                        \
        const uint8_t *p;                                                   \
        uint64_t ea = EA(2);                                                \
        if (ea + (nbytes) > memsize)                                        \
            TRAP(VM_ERR_TRAP_MEM_OOB);                                      \
        p = membase + ea;                                                   \
        memset(&vr, 0, sizeof vr);                                          \
        for (int i = 0; i < (nlanes); i++) {                                \
            body;                                                           \
        }                                                                   \
        V_SET(1, vr);                                                       \
        NEXT(4);                                                            \
    }

/* load_lane "dsosi": d = v128 s2 with lane pc[5] read from ea. */
#define V_LOAD_LANE(name, nbytes, field)                                    \
    HANDLE_OP(name) {                                                       \
        vm__v128 vr;                                                        \
        uint64_t ea = EA(2);                                                \
        if (ea + (nbytes) > memsize)                                        \
            TRAP(VM_ERR_TRAP_MEM_OOB);                                      \
        V_GET(vr, 4);                                                       \
        memcpy(&vr.field[pc[5]], membase + ea, (nbytes));                   \
        V_SET(1, vr);                                                       \
        NEXT(6);                                                            \
    }

/* store_lane "ssoi": lane pc[4] of v128 s2 written at ea. */
#define V_STORE_LANE(name, nbytes, field)                                   \
    HANDLE_OP(name) {                                                       \
        vm__v128 va;                                                        \
        uint64_t ea = EA(1);                                                \
        if (ea + (nbytes) > memsize)                                        \
            TRAP(VM_ERR_TRAP_MEM_OOB);                                      \
        V_GET(va, 2);                                                       \
        memcpy(membase + ea, &va.field[pc[4]], (nbytes));                   \
        NEXT(5);                                                            \
    }

/*
 * Saturating ops: the exact result of expr in a wider type first, then
 * clamped to [lo, hi] in that type, in a second loop. Written so, GCC 12
 * -O3 vectorizes both loops (i8x16.add_sat_s: 38 instructions instead of
 * 148 for the one-loop form with the clamp in int; narrow_i16x8_u: 26
 * instead of 207; measured with objdump on the handler bodies).
 */
#define V_SAT_BINOP(name, nlanes, wide, expr, field, lo, hi)                \
    HANDLE_OP(name) {                                                       \
        vm__v128 va, vb, vr;                                                \
        wide t[nlanes];                                                     \
        V_GET(va, 2);                                                       \
        V_GET(vb, 3);                                                       \
        for (int i = 0; i < (nlanes); i++)                                  \
            t[i] = (wide)(expr);                                            \
        for (int i = 0; i < (nlanes); i++) {                                \
            wide x = t[i] < (lo) ? (lo) : t[i];                             \
            vr.field[i] = x > (hi) ? (hi) : x;                              \
        }                                                                   \
        V_SET(1, vr);                                                       \
        NEXT(4);                                                            \
    }

/* narrow: s1's lanes then s2's (type wide), each clamped to [lo, hi]. */
#define V_NARROW(name, nlanes, wide, field, lo, hi)                         \
    HANDLE_OP(name) {                                                       \
        vm__v128 vr;                                                        \
        wide t[nlanes];                                                     \
        memcpy(t, &fp[pc[2]], 16);                                          \
        memcpy(t + (nlanes) / 2, &fp[pc[3]], 16);                           \
        for (int i = 0; i < (nlanes); i++) {                                \
            wide x = t[i] < (lo) ? (lo) : t[i];                             \
            vr.field[i] = x > (hi) ? (hi) : x;                              \
        }                                                                   \
        V_SET(1, vr);                                                       \
        NEXT(4);                                                            \
    }

/* All ones when c holds, else zero, in an unsigned lane type. */
#define V_MASK(c) (0 - (uint64_t)!!(c))

    /* ---- SIMD: memory --------------------------------------------------- */

    /* v128.load: straight into the slots (nothing else reads them). */
    HANDLE_OP(V128_LOAD) {
        uint64_t ea = EA(2);
        if (ea + 16 > memsize)
            TRAP(VM_ERR_TRAP_MEM_OOB);
        memcpy(&fp[pc[1]], membase + ea, 16);
        NEXT(4);
    }
    /* v128.load8x8_s: 8 bytes, each sign-extended to an i16 lane. */
    V_LOAD(V128_LOAD8X8_S, 8, 8, vr.i16[i] = (int8_t)p[i])
    /* v128.load8x8_u */
    V_LOAD(V128_LOAD8X8_U, 8, 8, vr.u16[i] = p[i])
    /* v128.load16x4_s */
    V_LOAD(V128_LOAD16X4_S, 8, 4, vr.i32[i] = (int16_t)load_u16(p + 2 * i))
    /* v128.load16x4_u */
    V_LOAD(V128_LOAD16X4_U, 8, 4, vr.u32[i] = load_u16(p + 2 * i))
    /* v128.load32x2_s */
    V_LOAD(V128_LOAD32X2_S, 8, 2, vr.i64[i] = (int32_t)load_u32(p + 4 * i))
    /* v128.load32x2_u */
    V_LOAD(V128_LOAD32X2_U, 8, 2, vr.u64[i] = load_u32(p + 4 * i))
    /* v128.load8_splat: one byte into every lane. */
    V_LOAD(V128_LOAD8_SPLAT, 1, 16, vr.u8[i] = p[0])
    /* v128.load16_splat */
    V_LOAD(V128_LOAD16_SPLAT, 2, 8, vr.u16[i] = load_u16(p))
    /* v128.load32_splat */
    V_LOAD(V128_LOAD32_SPLAT, 4, 4, vr.u32[i] = load_u32(p))
    /* v128.load64_splat */
    V_LOAD(V128_LOAD64_SPLAT, 8, 2, vr.u64[i] = load_u64(p))
    /* v128.load32_zero: lane 0, the others zero. */
    V_LOAD(V128_LOAD32_ZERO, 4, 1, vr.u32[0] = load_u32(p))
    /* v128.load64_zero */
    V_LOAD(V128_LOAD64_ZERO, 8, 1, vr.u64[0] = load_u64(p))
    /* v128.store */
    HANDLE_OP(V128_STORE) {
        uint64_t ea = EA(1);
        if (ea + 16 > memsize)
            TRAP(VM_ERR_TRAP_MEM_OOB);
        memcpy(membase + ea, &fp[pc[2]], 16);
        NEXT(4);
    }
    /* v128.load8_lane */
    V_LOAD_LANE(V128_LOAD8_LANE, 1, u8)
    /* v128.load16_lane */
    V_LOAD_LANE(V128_LOAD16_LANE, 2, u16)
    /* v128.load32_lane */
    V_LOAD_LANE(V128_LOAD32_LANE, 4, u32)
    /* v128.load64_lane */
    V_LOAD_LANE(V128_LOAD64_LANE, 8, u64)
    /* v128.store8_lane */
    V_STORE_LANE(V128_STORE8_LANE, 1, u8)
    /* v128.store16_lane */
    V_STORE_LANE(V128_STORE16_LANE, 2, u16)
    /* v128.store32_lane */
    V_STORE_LANE(V128_STORE32_LANE, 4, u32)
    /* v128.store64_lane */
    V_STORE_LANE(V128_STORE64_LANE, 8, u64)

    /* ---- SIMD: constants, shuffles, lanes ------------------------------- */

    /* v128.const (only when the constant pool is full). */
    HANDLE_OP(V128_CONST) {
        fp[pc[1]] = (uint64_t)pc[2] | (uint64_t)pc[3] << 32;
        fp[pc[1] + 1] = (uint64_t)pc[4] | (uint64_t)pc[5] << 32;
        NEXT(6);
    }
    /* i8x16.shuffle: byte j of d is byte idx[j] of s1:s2 (idx < 32). */
    HANDLE_OP(I8X16_SHUFFLE) {
        uint8_t both[32];
        vm__v128 vr;
        memcpy(both, &fp[pc[2]], 16);
        memcpy(both + 16, &fp[pc[3]], 16);
        for (int j = 0; j < 16; j++)
            vr.u8[j] = both[(pc[4 + j / 4] >> (8 * (j % 4))) & 31];
        V_SET(1, vr);
        NEXT(8);
    }
    /* i8x16.swizzle: byte i of d is byte s2[i] of s1, 0 when s2[i] >= 16. */
    V_BINOP(I8X16_SWIZZLE, 16, vr.u8[i] = vb.u8[i] < 16 ? va.u8[vb.u8[i]] : 0)
    /* i8x16.splat: the low byte of the i32 in every lane. */
    HANDLE_OP(I8X16_SPLAT) {
        vm__v128 vr;
        uint8_t x = (uint8_t)I32(2);
        for (int i = 0; i < 16; i++)
            vr.u8[i] = x;
        V_SET(1, vr);
        NEXT(3);
    }
    /* i16x8.splat */
    HANDLE_OP(I16X8_SPLAT) {
        vm__v128 vr;
        uint16_t x = (uint16_t)I32(2);
        for (int i = 0; i < 8; i++)
            vr.u16[i] = x;
        V_SET(1, vr);
        NEXT(3);
    }
    /* i32x4.splat */
    HANDLE_OP(I32X4_SPLAT) {
        vm__v128 vr;
        uint32_t x = I32(2);
        for (int i = 0; i < 4; i++)
            vr.u32[i] = x;
        V_SET(1, vr);
        NEXT(3);
    }
    /* i64x2.splat */
    HANDLE_OP(I64X2_SPLAT) {
        uint64_t x = I64(2);
        fp[pc[1]] = x;
        fp[pc[1] + 1] = x;
        NEXT(3);
    }
    /* f32x4.splat (bits) */
    HANDLE_OP(F32X4_SPLAT) {
        vm__v128 vr;
        uint32_t x = I32(2);
        for (int i = 0; i < 4; i++)
            vr.u32[i] = x;
        V_SET(1, vr);
        NEXT(3);
    }
    /* f64x2.splat (bits) */
    HANDLE_OP(F64X2_SPLAT) {
        uint64_t x = I64(2);
        fp[pc[1]] = x;
        fp[pc[1] + 1] = x;
        NEXT(3);
    }
    /* i8x16.extract_lane_s: sign-extended to i32. */
    HANDLE_OP(I8X16_EXTRACT_LANE_S) {
        vm__v128 va;
        V_GET(va, 2);
        SET_I32(1, (int32_t)va.i8[pc[3]]);
        NEXT(4);
    }
    /* i8x16.extract_lane_u: zero-extended. */
    HANDLE_OP(I8X16_EXTRACT_LANE_U) {
        vm__v128 va;
        V_GET(va, 2);
        SET_I32(1, va.u8[pc[3]]);
        NEXT(4);
    }
    /* i16x8.extract_lane_s */
    HANDLE_OP(I16X8_EXTRACT_LANE_S) {
        vm__v128 va;
        V_GET(va, 2);
        SET_I32(1, (int32_t)va.i16[pc[3]]);
        NEXT(4);
    }
    /* i16x8.extract_lane_u */
    HANDLE_OP(I16X8_EXTRACT_LANE_U) {
        vm__v128 va;
        V_GET(va, 2);
        SET_I32(1, va.u16[pc[3]]);
        NEXT(4);
    }
    /* i32x4.extract_lane */
    HANDLE_OP(I32X4_EXTRACT_LANE) {
        vm__v128 va;
        V_GET(va, 2);
        SET_I32(1, va.u32[pc[3]]);
        NEXT(4);
    }
    /* i64x2.extract_lane: a whole slot. */
    HANDLE_OP(I64X2_EXTRACT_LANE) {
        SLOT(1) = fp[pc[2] + pc[3]];
        NEXT(4);
    }
    /* f32x4.extract_lane (bits) */
    HANDLE_OP(F32X4_EXTRACT_LANE) {
        vm__v128 va;
        V_GET(va, 2);
        SET_I32(1, va.u32[pc[3]]);
        NEXT(4);
    }
    /* f64x2.extract_lane (bits) */
    HANDLE_OP(F64X2_EXTRACT_LANE) {
        SLOT(1) = fp[pc[2] + pc[3]];
        NEXT(4);
    }
    /* i8x16.replace_lane: lane pc[4] = the low byte of the i32 s2. */
    HANDLE_OP(I8X16_REPLACE_LANE) {
        vm__v128 vr;
        V_GET(vr, 2);
        vr.u8[pc[4]] = (uint8_t)I32(3);
        V_SET(1, vr);
        NEXT(5);
    }
    /* i16x8.replace_lane */
    HANDLE_OP(I16X8_REPLACE_LANE) {
        vm__v128 vr;
        V_GET(vr, 2);
        vr.u16[pc[4]] = (uint16_t)I32(3);
        V_SET(1, vr);
        NEXT(5);
    }
    /* i32x4.replace_lane */
    HANDLE_OP(I32X4_REPLACE_LANE) {
        vm__v128 vr;
        V_GET(vr, 2);
        vr.u32[pc[4]] = I32(3);
        V_SET(1, vr);
        NEXT(5);
    }
    /* i64x2.replace_lane */
    HANDLE_OP(I64X2_REPLACE_LANE) {
        vm__v128 vr;
        V_GET(vr, 2);
        vr.u64[pc[4]] = I64(3);
        V_SET(1, vr);
        NEXT(5);
    }
    /* f32x4.replace_lane (bits) */
    HANDLE_OP(F32X4_REPLACE_LANE) {
        vm__v128 vr;
        V_GET(vr, 2);
        vr.u32[pc[4]] = I32(3);
        V_SET(1, vr);
        NEXT(5);
    }
    /* f64x2.replace_lane (bits) */
    HANDLE_OP(F64X2_REPLACE_LANE) {
        vm__v128 vr;
        V_GET(vr, 2);
        vr.u64[pc[4]] = I64(3);
        V_SET(1, vr);
        NEXT(5);
    }

    /* ---- SIMD: comparisons (lanes all ones or all zeros) ---------------- */

    /* i8x16.eq */
    V_BINOP(I8X16_EQ, 16, vr.u8[i] = (uint8_t)V_MASK(va.u8[i] == vb.u8[i]))
    /* i8x16.ne */
    V_BINOP(I8X16_NE, 16, vr.u8[i] = (uint8_t)V_MASK(va.u8[i] != vb.u8[i]))
    /* i8x16.lt_s */
    V_BINOP(I8X16_LT_S, 16, vr.u8[i] = (uint8_t)V_MASK(va.i8[i] < vb.i8[i]))
    /* i8x16.lt_u */
    V_BINOP(I8X16_LT_U, 16, vr.u8[i] = (uint8_t)V_MASK(va.u8[i] < vb.u8[i]))
    /* i8x16.gt_s */
    V_BINOP(I8X16_GT_S, 16, vr.u8[i] = (uint8_t)V_MASK(va.i8[i] > vb.i8[i]))
    /* i8x16.gt_u */
    V_BINOP(I8X16_GT_U, 16, vr.u8[i] = (uint8_t)V_MASK(va.u8[i] > vb.u8[i]))
    /* i8x16.le_s */
    V_BINOP(I8X16_LE_S, 16, vr.u8[i] = (uint8_t)V_MASK(va.i8[i] <= vb.i8[i]))
    /* i8x16.le_u */
    V_BINOP(I8X16_LE_U, 16, vr.u8[i] = (uint8_t)V_MASK(va.u8[i] <= vb.u8[i]))
    /* i8x16.ge_s */
    V_BINOP(I8X16_GE_S, 16, vr.u8[i] = (uint8_t)V_MASK(va.i8[i] >= vb.i8[i]))
    /* i8x16.ge_u */
    V_BINOP(I8X16_GE_U, 16, vr.u8[i] = (uint8_t)V_MASK(va.u8[i] >= vb.u8[i]))
    /* i16x8.eq */
    V_BINOP(I16X8_EQ, 8, vr.u16[i] = (uint16_t)V_MASK(va.u16[i] == vb.u16[i]))
    /* i16x8.ne */
    V_BINOP(I16X8_NE, 8, vr.u16[i] = (uint16_t)V_MASK(va.u16[i] != vb.u16[i]))
    /* i16x8.lt_s */
    V_BINOP(I16X8_LT_S, 8, vr.u16[i] = (uint16_t)V_MASK(va.i16[i] < vb.i16[i]))
    /* i16x8.lt_u */
    V_BINOP(I16X8_LT_U, 8, vr.u16[i] = (uint16_t)V_MASK(va.u16[i] < vb.u16[i]))
    /* i16x8.gt_s */
    V_BINOP(I16X8_GT_S, 8, vr.u16[i] = (uint16_t)V_MASK(va.i16[i] > vb.i16[i]))
    /* i16x8.gt_u */
    V_BINOP(I16X8_GT_U, 8, vr.u16[i] = (uint16_t)V_MASK(va.u16[i] > vb.u16[i]))
    /* i16x8.le_s */
    V_BINOP(I16X8_LE_S, 8, vr.u16[i] = (uint16_t)V_MASK(va.i16[i] <= vb.i16[i]))
    /* i16x8.le_u */
    V_BINOP(I16X8_LE_U, 8, vr.u16[i] = (uint16_t)V_MASK(va.u16[i] <= vb.u16[i]))
    /* i16x8.ge_s */
    V_BINOP(I16X8_GE_S, 8, vr.u16[i] = (uint16_t)V_MASK(va.i16[i] >= vb.i16[i]))
    /* i16x8.ge_u */
    V_BINOP(I16X8_GE_U, 8, vr.u16[i] = (uint16_t)V_MASK(va.u16[i] >= vb.u16[i]))
    /* i32x4.eq */
    V_BINOP(I32X4_EQ, 4, vr.u32[i] = (uint32_t)V_MASK(va.u32[i] == vb.u32[i]))
    /* i32x4.ne */
    V_BINOP(I32X4_NE, 4, vr.u32[i] = (uint32_t)V_MASK(va.u32[i] != vb.u32[i]))
    /* i32x4.lt_s */
    V_BINOP(I32X4_LT_S, 4, vr.u32[i] = (uint32_t)V_MASK(va.i32[i] < vb.i32[i]))
    /* i32x4.lt_u */
    V_BINOP(I32X4_LT_U, 4, vr.u32[i] = (uint32_t)V_MASK(va.u32[i] < vb.u32[i]))
    /* i32x4.gt_s */
    V_BINOP(I32X4_GT_S, 4, vr.u32[i] = (uint32_t)V_MASK(va.i32[i] > vb.i32[i]))
    /* i32x4.gt_u */
    V_BINOP(I32X4_GT_U, 4, vr.u32[i] = (uint32_t)V_MASK(va.u32[i] > vb.u32[i]))
    /* i32x4.le_s */
    V_BINOP(I32X4_LE_S, 4, vr.u32[i] = (uint32_t)V_MASK(va.i32[i] <= vb.i32[i]))
    /* i32x4.le_u */
    V_BINOP(I32X4_LE_U, 4, vr.u32[i] = (uint32_t)V_MASK(va.u32[i] <= vb.u32[i]))
    /* i32x4.ge_s */
    V_BINOP(I32X4_GE_S, 4, vr.u32[i] = (uint32_t)V_MASK(va.i32[i] >= vb.i32[i]))
    /* i32x4.ge_u */
    V_BINOP(I32X4_GE_U, 4, vr.u32[i] = (uint32_t)V_MASK(va.u32[i] >= vb.u32[i]))
    /* i64x2.eq */
    V_BINOP(I64X2_EQ, 2, vr.u64[i] = V_MASK(va.u64[i] == vb.u64[i]))
    /* i64x2.ne */
    V_BINOP(I64X2_NE, 2, vr.u64[i] = V_MASK(va.u64[i] != vb.u64[i]))
    /* i64x2.lt_s */
    V_BINOP(I64X2_LT_S, 2, vr.u64[i] = V_MASK(va.i64[i] < vb.i64[i]))
    /* i64x2.gt_s */
    V_BINOP(I64X2_GT_S, 2, vr.u64[i] = V_MASK(va.i64[i] > vb.i64[i]))
    /* i64x2.le_s */
    V_BINOP(I64X2_LE_S, 2, vr.u64[i] = V_MASK(va.i64[i] <= vb.i64[i]))
    /* i64x2.ge_s */
    V_BINOP(I64X2_GE_S, 2, vr.u64[i] = V_MASK(va.i64[i] >= vb.i64[i]))
    /* f32x4.eq: IEEE, so a NaN lane compares false (ne: true). */
    V_BINOP(F32X4_EQ, 4, vr.u32[i] = (uint32_t)V_MASK(va.f32[i] == vb.f32[i]))
    /* f32x4.ne */
    V_BINOP(F32X4_NE, 4, vr.u32[i] = (uint32_t)V_MASK(va.f32[i] != vb.f32[i]))
    /* f32x4.lt */
    V_BINOP(F32X4_LT, 4, vr.u32[i] = (uint32_t)V_MASK(va.f32[i] < vb.f32[i]))
    /* f32x4.gt */
    V_BINOP(F32X4_GT, 4, vr.u32[i] = (uint32_t)V_MASK(va.f32[i] > vb.f32[i]))
    /* f32x4.le */
    V_BINOP(F32X4_LE, 4, vr.u32[i] = (uint32_t)V_MASK(va.f32[i] <= vb.f32[i]))
    /* f32x4.ge */
    V_BINOP(F32X4_GE, 4, vr.u32[i] = (uint32_t)V_MASK(va.f32[i] >= vb.f32[i]))
    /* f64x2.eq */
    V_BINOP(F64X2_EQ, 2, vr.u64[i] = V_MASK(va.f64[i] == vb.f64[i]))
    /* f64x2.ne */
    V_BINOP(F64X2_NE, 2, vr.u64[i] = V_MASK(va.f64[i] != vb.f64[i]))
    /* f64x2.lt */
    V_BINOP(F64X2_LT, 2, vr.u64[i] = V_MASK(va.f64[i] < vb.f64[i]))
    /* f64x2.gt */
    V_BINOP(F64X2_GT, 2, vr.u64[i] = V_MASK(va.f64[i] > vb.f64[i]))
    /* f64x2.le */
    V_BINOP(F64X2_LE, 2, vr.u64[i] = V_MASK(va.f64[i] <= vb.f64[i]))
    /* f64x2.ge */
    V_BINOP(F64X2_GE, 2, vr.u64[i] = V_MASK(va.f64[i] >= vb.f64[i]))

    /* ---- SIMD: bitwise ---------------------------------------------------- */

    /* v128.not */
    V_UNOP(V128_NOT, 2, vr.u64[i] = ~va.u64[i])
    /* v128.and */
    V_BINOP(V128_AND, 2, vr.u64[i] = va.u64[i] & vb.u64[i])
    /* v128.andnot: s1 & ~s2. */
    V_BINOP(V128_ANDNOT, 2, vr.u64[i] = va.u64[i] & ~vb.u64[i])
    /* v128.or */
    V_BINOP(V128_OR, 2, vr.u64[i] = va.u64[i] | vb.u64[i])
    /* v128.xor */
    V_BINOP(V128_XOR, 2, vr.u64[i] = va.u64[i] ^ vb.u64[i])
    /* v128.bitselect: bits of s1 where s3 is 1, of s2 where it is 0. */
    HANDLE_OP(V128_BITSELECT) {
        vm__v128 va, vb, vc, vr;
        V_GET(va, 2);
        V_GET(vb, 3);
        V_GET(vc, 4);
        for (int i = 0; i < 2; i++)
            vr.u64[i] = (va.u64[i] & vc.u64[i]) | (vb.u64[i] & ~vc.u64[i]);
        V_SET(1, vr);
        NEXT(5);
    }
    /* v128.any_true: 1 when any bit is set. */
    V_REDUCE(V128_ANY_TRUE, 2, 0, r |= va.u64[i] != 0)

    /* ---- SIMD: i8x16 ------------------------------------------------------ */

    /* i8x16.abs: wraps (abs -128 is -128). */
    V_UNOP(I8X16_ABS, 16, vr.u8[i] = va.i8[i] < 0 ? (uint8_t)(0u - va.u8[i]) : va.u8[i])
    /* i8x16.neg */
    V_UNOP(I8X16_NEG, 16, vr.u8[i] = (uint8_t)(0u - va.u8[i]))
    /* i8x16.popcnt */
    V_UNOP(I8X16_POPCNT, 16, vr.u8[i] = (uint8_t)__builtin_popcount(va.u8[i]))
    /* i8x16.all_true: 1 when no lane is zero. */
    V_REDUCE(I8X16_ALL_TRUE, 16, 1, r &= va.u8[i] != 0)
    /* i8x16.bitmask: bit i = the sign of lane i. */
    V_REDUCE(I8X16_BITMASK, 16, 0, r |= (uint32_t)(va.u8[i] >> 7) << i)
    /* i8x16.narrow_i16x8_s: s1's lanes then s2's, saturated to i8. */
    V_NARROW(I8X16_NARROW_I16X8_S, 16, int16_t, i8, -128, 127)
    /* i8x16.narrow_i16x8_u: signed i16 lanes saturated to [0, 255]. */
    V_NARROW(I8X16_NARROW_I16X8_U, 16, int16_t, u8, 0, 255)
    /* i8x16.shl: count mod 8. */
    V_SHIFT(I8X16_SHL, 16, 8, vr.u8[i] = (uint8_t)(va.u8[i] << k))
    /* i8x16.shr_s */
    V_SHIFT(I8X16_SHR_S, 16, 8, vr.i8[i] = (int8_t)(va.i8[i] >> k))
    /* i8x16.shr_u */
    V_SHIFT(I8X16_SHR_U, 16, 8, vr.u8[i] = (uint8_t)(va.u8[i] >> k))
    /* i8x16.add */
    V_BINOP(I8X16_ADD, 16, vr.u8[i] = (uint8_t)(va.u8[i] + vb.u8[i]))
    /* i8x16.add_sat_s */
    V_SAT_BINOP(I8X16_ADD_SAT_S, 16, int16_t, va.i8[i] + vb.i8[i], i8, -128, 127)
    /* i8x16.add_sat_u: a wrapped sum below an operand overflowed. */
    V_BINOP(I8X16_ADD_SAT_U, 16,
            uint8_t x = (uint8_t)(va.u8[i] + vb.u8[i]);
            vr.u8[i] = x < va.u8[i] ? 255 : x)
    /* i8x16.sub */
    V_BINOP(I8X16_SUB, 16, vr.u8[i] = (uint8_t)(va.u8[i] - vb.u8[i]))
    /* i8x16.sub_sat_s */
    V_SAT_BINOP(I8X16_SUB_SAT_S, 16, int16_t, va.i8[i] - vb.i8[i], i8, -128, 127)
    /* i8x16.sub_sat_u */
    V_BINOP(I8X16_SUB_SAT_U, 16,
            vr.u8[i] = va.u8[i] < vb.u8[i] ? 0 : (uint8_t)(va.u8[i] - vb.u8[i]))
    /* i8x16.min_s */
    V_BINOP(I8X16_MIN_S, 16, vr.i8[i] = va.i8[i] < vb.i8[i] ? va.i8[i] : vb.i8[i])
    /* i8x16.min_u */
    V_BINOP(I8X16_MIN_U, 16, vr.u8[i] = va.u8[i] < vb.u8[i] ? va.u8[i] : vb.u8[i])
    /* i8x16.max_s */
    V_BINOP(I8X16_MAX_S, 16, vr.i8[i] = va.i8[i] > vb.i8[i] ? va.i8[i] : vb.i8[i])
    /* i8x16.max_u */
    V_BINOP(I8X16_MAX_U, 16, vr.u8[i] = va.u8[i] > vb.u8[i] ? va.u8[i] : vb.u8[i])
    /* i8x16.avgr_u: (a + b + 1) / 2 without overflow. */
    V_BINOP(I8X16_AVGR_U, 16, vr.u8[i] = (uint8_t)((va.u8[i] + vb.u8[i] + 1u) >> 1))

    /* ---- SIMD: i16x8 ------------------------------------------------------ */

    /* i16x8.extadd_pairwise_i8x16_s: sums of adjacent lane pairs. */
    V_UNOP(I16X8_EXTADD_PAIRWISE_I8X16_S, 8,
           vr.i16[i] = (int16_t)(va.i8[2 * i] + va.i8[2 * i + 1]))
    /* i16x8.extadd_pairwise_i8x16_u */
    V_UNOP(I16X8_EXTADD_PAIRWISE_I8X16_U, 8,
           vr.u16[i] = (uint16_t)(va.u8[2 * i] + va.u8[2 * i + 1]))
    /* i16x8.abs */
    V_UNOP(I16X8_ABS, 8, vr.u16[i] = va.i16[i] < 0 ? (uint16_t)(0u - va.u16[i]) : va.u16[i])
    /* i16x8.neg */
    V_UNOP(I16X8_NEG, 8, vr.u16[i] = (uint16_t)(0u - va.u16[i]))
    /* i16x8.q15mulr_sat_s: (a * b + 2^14) >> 15, saturated. */
    V_BINOP(I16X8_Q15MULR_SAT_S, 8,
            int32_t x = ((int32_t)va.i16[i] * vb.i16[i] + 0x4000) >> 15;
            vr.i16[i] = (int16_t)V_CLAMP(x, -32768, 32767))
    /* i16x8.all_true */
    V_REDUCE(I16X8_ALL_TRUE, 8, 1, r &= va.u16[i] != 0)
    /* i16x8.bitmask */
    V_REDUCE(I16X8_BITMASK, 8, 0, r |= (uint32_t)(va.u16[i] >> 15) << i)
    /* i16x8.narrow_i32x4_s */
    V_NARROW(I16X8_NARROW_I32X4_S, 8, int32_t, i16, -32768, 32767)
    /* i16x8.narrow_i32x4_u */
    V_NARROW(I16X8_NARROW_I32X4_U, 8, int32_t, u16, 0, 65535)
    /* i16x8.extend_low_i8x16_s */
    V_UNOP(I16X8_EXTEND_LOW_I8X16_S, 8, vr.i16[i] = va.i8[i])
    /* i16x8.extend_high_i8x16_s */
    V_UNOP(I16X8_EXTEND_HIGH_I8X16_S, 8, vr.i16[i] = va.i8[i + 8])
    /* i16x8.extend_low_i8x16_u */
    V_UNOP(I16X8_EXTEND_LOW_I8X16_U, 8, vr.u16[i] = va.u8[i])
    /* i16x8.extend_high_i8x16_u */
    V_UNOP(I16X8_EXTEND_HIGH_I8X16_U, 8, vr.u16[i] = va.u8[i + 8])
    /* i16x8.shl: count mod 16. */
    V_SHIFT(I16X8_SHL, 8, 16, vr.u16[i] = (uint16_t)((uint32_t)va.u16[i] << k))
    /* i16x8.shr_s */
    V_SHIFT(I16X8_SHR_S, 8, 16, vr.i16[i] = (int16_t)(va.i16[i] >> k))
    /* i16x8.shr_u */
    V_SHIFT(I16X8_SHR_U, 8, 16, vr.u16[i] = (uint16_t)(va.u16[i] >> k))
    /* i16x8.add */
    V_BINOP(I16X8_ADD, 8, vr.u16[i] = (uint16_t)(va.u16[i] + vb.u16[i]))
    /* i16x8.add_sat_s */
    V_SAT_BINOP(I16X8_ADD_SAT_S, 8, int32_t, va.i16[i] + vb.i16[i], i16, -32768, 32767)
    /* i16x8.add_sat_u */
    V_BINOP(I16X8_ADD_SAT_U, 8,
            uint16_t x = (uint16_t)(va.u16[i] + vb.u16[i]);
            vr.u16[i] = x < va.u16[i] ? 65535 : x)
    /* i16x8.sub */
    V_BINOP(I16X8_SUB, 8, vr.u16[i] = (uint16_t)(va.u16[i] - vb.u16[i]))
    /* i16x8.sub_sat_s */
    V_SAT_BINOP(I16X8_SUB_SAT_S, 8, int32_t, va.i16[i] - vb.i16[i], i16, -32768, 32767)
    /* i16x8.sub_sat_u */
    V_BINOP(I16X8_SUB_SAT_U, 8,
            vr.u16[i] = va.u16[i] < vb.u16[i] ? 0 : (uint16_t)(va.u16[i] - vb.u16[i]))
    /* i16x8.mul: wrapping (the product is formed in u32: no int overflow). */
    V_BINOP(I16X8_MUL, 8, vr.u16[i] = (uint16_t)((uint32_t)va.u16[i] * vb.u16[i]))
    /* i16x8.min_s */
    V_BINOP(I16X8_MIN_S, 8, vr.i16[i] = va.i16[i] < vb.i16[i] ? va.i16[i] : vb.i16[i])
    /* i16x8.min_u */
    V_BINOP(I16X8_MIN_U, 8, vr.u16[i] = va.u16[i] < vb.u16[i] ? va.u16[i] : vb.u16[i])
    /* i16x8.max_s */
    V_BINOP(I16X8_MAX_S, 8, vr.i16[i] = va.i16[i] > vb.i16[i] ? va.i16[i] : vb.i16[i])
    /* i16x8.max_u */
    V_BINOP(I16X8_MAX_U, 8, vr.u16[i] = va.u16[i] > vb.u16[i] ? va.u16[i] : vb.u16[i])
    /* i16x8.avgr_u */
    V_BINOP(I16X8_AVGR_U, 8, vr.u16[i] = (uint16_t)((va.u16[i] + vb.u16[i] + 1u) >> 1))
    /* i16x8.extmul_low_i8x16_s: full 16-bit products of the low lanes. */
    V_BINOP(I16X8_EXTMUL_LOW_I8X16_S, 8, vr.i16[i] = (int16_t)(va.i8[i] * vb.i8[i]))
    /* i16x8.extmul_high_i8x16_s */
    V_BINOP(I16X8_EXTMUL_HIGH_I8X16_S, 8,
            vr.i16[i] = (int16_t)(va.i8[i + 8] * vb.i8[i + 8]))
    /* i16x8.extmul_low_i8x16_u */
    V_BINOP(I16X8_EXTMUL_LOW_I8X16_U, 8, vr.u16[i] = (uint16_t)(va.u8[i] * vb.u8[i]))
    /* i16x8.extmul_high_i8x16_u */
    V_BINOP(I16X8_EXTMUL_HIGH_I8X16_U, 8,
            vr.u16[i] = (uint16_t)(va.u8[i + 8] * vb.u8[i + 8]))

    /* ---- SIMD: i32x4 ------------------------------------------------------ */

    /* i32x4.extadd_pairwise_i16x8_s */
    V_UNOP(I32X4_EXTADD_PAIRWISE_I16X8_S, 4,
           vr.i32[i] = va.i16[2 * i] + va.i16[2 * i + 1])
    /* i32x4.extadd_pairwise_i16x8_u */
    V_UNOP(I32X4_EXTADD_PAIRWISE_I16X8_U, 4,
           vr.u32[i] = (uint32_t)va.u16[2 * i] + va.u16[2 * i + 1])
    /* i32x4.abs */
    V_UNOP(I32X4_ABS, 4, vr.u32[i] = va.i32[i] < 0 ? 0u - va.u32[i] : va.u32[i])
    /* i32x4.neg */
    V_UNOP(I32X4_NEG, 4, vr.u32[i] = 0u - va.u32[i])
    /* i32x4.all_true */
    V_REDUCE(I32X4_ALL_TRUE, 4, 1, r &= va.u32[i] != 0)
    /* i32x4.bitmask */
    V_REDUCE(I32X4_BITMASK, 4, 0, r |= (va.u32[i] >> 31) << i)
    /* i32x4.extend_low_i16x8_s */
    V_UNOP(I32X4_EXTEND_LOW_I16X8_S, 4, vr.i32[i] = va.i16[i])
    /* i32x4.extend_high_i16x8_s */
    V_UNOP(I32X4_EXTEND_HIGH_I16X8_S, 4, vr.i32[i] = va.i16[i + 4])
    /* i32x4.extend_low_i16x8_u */
    V_UNOP(I32X4_EXTEND_LOW_I16X8_U, 4, vr.u32[i] = va.u16[i])
    /* i32x4.extend_high_i16x8_u */
    V_UNOP(I32X4_EXTEND_HIGH_I16X8_U, 4, vr.u32[i] = va.u16[i + 4])
    /* i32x4.shl: count mod 32. */
    V_SHIFT(I32X4_SHL, 4, 32, vr.u32[i] = va.u32[i] << k)
    /* i32x4.shr_s */
    V_SHIFT(I32X4_SHR_S, 4, 32, vr.i32[i] = va.i32[i] >> k)
    /* i32x4.shr_u */
    V_SHIFT(I32X4_SHR_U, 4, 32, vr.u32[i] = va.u32[i] >> k)
    /* i32x4.add */
    V_BINOP(I32X4_ADD, 4, vr.u32[i] = va.u32[i] + vb.u32[i])
    /* i32x4.sub */
    V_BINOP(I32X4_SUB, 4, vr.u32[i] = va.u32[i] - vb.u32[i])
    /* i32x4.mul */
    V_BINOP(I32X4_MUL, 4, vr.u32[i] = va.u32[i] * vb.u32[i])
    /* i32x4.min_s */
    V_BINOP(I32X4_MIN_S, 4, vr.i32[i] = va.i32[i] < vb.i32[i] ? va.i32[i] : vb.i32[i])
    /* i32x4.min_u */
    V_BINOP(I32X4_MIN_U, 4, vr.u32[i] = va.u32[i] < vb.u32[i] ? va.u32[i] : vb.u32[i])
    /* i32x4.max_s */
    V_BINOP(I32X4_MAX_S, 4, vr.i32[i] = va.i32[i] > vb.i32[i] ? va.i32[i] : vb.i32[i])
    /* i32x4.max_u */
    V_BINOP(I32X4_MAX_U, 4, vr.u32[i] = va.u32[i] > vb.u32[i] ? va.u32[i] : vb.u32[i])
    /* i32x4.dot_i16x8_s: pairwise sums of the i16 products, wrapping
     * (the one overflow, 2 * (-2^15)^2, gives INT32_MIN). Products first,
     * in their own loop: GCC then vectorizes it (pmullw/pmulhw, 17
     * instructions instead of about 60 scalar ones; simd_dot kernel). */
    HANDLE_OP(I32X4_DOT_I16X8_S) {
        vm__v128 va, vb, vr;
        int32_t prod[8];
        V_GET(va, 2);
        V_GET(vb, 3);
        for (int i = 0; i < 8; i++)
            prod[i] = va.i16[i] * vb.i16[i];
        for (int i = 0; i < 4; i++)
            vr.u32[i] = (uint32_t)prod[2 * i] + (uint32_t)prod[2 * i + 1];
        V_SET(1, vr);
        NEXT(4);
    }
    /* i32x4.extmul_low_i16x8_s */
    V_BINOP(I32X4_EXTMUL_LOW_I16X8_S, 4, vr.i32[i] = va.i16[i] * vb.i16[i])
    /* i32x4.extmul_high_i16x8_s */
    V_BINOP(I32X4_EXTMUL_HIGH_I16X8_S, 4, vr.i32[i] = va.i16[i + 4] * vb.i16[i + 4])
    /* i32x4.extmul_low_i16x8_u: in u32 (65535^2 overflows int). */
    V_BINOP(I32X4_EXTMUL_LOW_I16X8_U, 4, vr.u32[i] = (uint32_t)va.u16[i] * vb.u16[i])
    /* i32x4.extmul_high_i16x8_u */
    V_BINOP(I32X4_EXTMUL_HIGH_I16X8_U, 4,
            vr.u32[i] = (uint32_t)va.u16[i + 4] * vb.u16[i + 4])

    /* ---- SIMD: i64x2 ------------------------------------------------------ */

    /* i64x2.abs */
    V_UNOP(I64X2_ABS, 2, vr.u64[i] = va.i64[i] < 0 ? 0u - va.u64[i] : va.u64[i])
    /* i64x2.neg */
    V_UNOP(I64X2_NEG, 2, vr.u64[i] = 0u - va.u64[i])
    /* i64x2.all_true */
    V_REDUCE(I64X2_ALL_TRUE, 2, 1, r &= va.u64[i] != 0)
    /* i64x2.bitmask */
    V_REDUCE(I64X2_BITMASK, 2, 0, r |= (uint32_t)(va.u64[i] >> 63) << i)
    /* i64x2.extend_low_i32x4_s */
    V_UNOP(I64X2_EXTEND_LOW_I32X4_S, 2, vr.i64[i] = va.i32[i])
    /* i64x2.extend_high_i32x4_s */
    V_UNOP(I64X2_EXTEND_HIGH_I32X4_S, 2, vr.i64[i] = va.i32[i + 2])
    /* i64x2.extend_low_i32x4_u */
    V_UNOP(I64X2_EXTEND_LOW_I32X4_U, 2, vr.u64[i] = va.u32[i])
    /* i64x2.extend_high_i32x4_u */
    V_UNOP(I64X2_EXTEND_HIGH_I32X4_U, 2, vr.u64[i] = va.u32[i + 2])
    /* i64x2.shl: count mod 64. */
    V_SHIFT(I64X2_SHL, 2, 64, vr.u64[i] = va.u64[i] << k)
    /* i64x2.shr_s */
    V_SHIFT(I64X2_SHR_S, 2, 64, vr.i64[i] = va.i64[i] >> k)
    /* i64x2.shr_u */
    V_SHIFT(I64X2_SHR_U, 2, 64, vr.u64[i] = va.u64[i] >> k)
    /* i64x2.add */
    V_BINOP(I64X2_ADD, 2, vr.u64[i] = va.u64[i] + vb.u64[i])
    /* i64x2.sub */
    V_BINOP(I64X2_SUB, 2, vr.u64[i] = va.u64[i] - vb.u64[i])
    /* i64x2.mul */
    V_BINOP(I64X2_MUL, 2, vr.u64[i] = va.u64[i] * vb.u64[i])
    /* i64x2.extmul_low_i32x4_s */
    V_BINOP(I64X2_EXTMUL_LOW_I32X4_S, 2, vr.i64[i] = (int64_t)va.i32[i] * vb.i32[i])
    /* i64x2.extmul_high_i32x4_s */
    V_BINOP(I64X2_EXTMUL_HIGH_I32X4_S, 2,
            vr.i64[i] = (int64_t)va.i32[i + 2] * vb.i32[i + 2])
    /* i64x2.extmul_low_i32x4_u */
    V_BINOP(I64X2_EXTMUL_LOW_I32X4_U, 2, vr.u64[i] = (uint64_t)va.u32[i] * vb.u32[i])
    /* i64x2.extmul_high_i32x4_u */
    V_BINOP(I64X2_EXTMUL_HIGH_I32X4_U, 2,
            vr.u64[i] = (uint64_t)va.u32[i + 2] * vb.u32[i + 2])

    /* ---- SIMD: f32x4 ------------------------------------------------------ */

    /* f32x4.abs: clear the sign bits (NaN payloads kept). */
    V_UNOP(F32X4_ABS, 4, vr.u32[i] = va.u32[i] & 0x7fffffffu)
    /* f32x4.neg: flip the sign bits. */
    V_UNOP(F32X4_NEG, 4, vr.u32[i] = va.u32[i] ^ 0x80000000u)
    /* f32x4.sqrt */
    V_UNOP(F32X4_SQRT, 4, vr.f32[i] = sqrtf(va.f32[i]))
    /* f32x4.ceil: NaN lanes quieted (round_f32). */
    V_UNOP(F32X4_CEIL, 4, vr.f32[i] = round_f32(va.f32[i], ROUND_CEIL))
    /* f32x4.floor */
    V_UNOP(F32X4_FLOOR, 4, vr.f32[i] = round_f32(va.f32[i], ROUND_FLOOR))
    /* f32x4.trunc */
    V_UNOP(F32X4_TRUNC, 4, vr.f32[i] = round_f32(va.f32[i], ROUND_TRUNC))
    /* f32x4.nearest: ties to even. */
    V_UNOP(F32X4_NEAREST, 4, vr.f32[i] = round_f32(va.f32[i], ROUND_NEAREST))
    /* f32x4.add */
    V_BINOP(F32X4_ADD, 4, vr.f32[i] = va.f32[i] + vb.f32[i])
    /* f32x4.sub */
    V_BINOP(F32X4_SUB, 4, vr.f32[i] = va.f32[i] - vb.f32[i])
    /* f32x4.mul */
    V_BINOP(F32X4_MUL, 4, vr.f32[i] = va.f32[i] * vb.f32[i])
    /* f32x4.div */
    V_BINOP(F32X4_DIV, 4, vr.f32[i] = va.f32[i] / vb.f32[i])
    /* f32x4.min: as f32.min (NaN propagates, -0 < +0). */
    V_BINOP(F32X4_MIN, 4, vr.u32[i] = f32_min(va.u32[i], vb.u32[i]))
    /* f32x4.max: as f32.max. */
    V_BINOP(F32X4_MAX, 4, vr.u32[i] = f32_max(va.u32[i], vb.u32[i]))
    /* f32x4.pmin: b < a ? b : a (no NaN or zero-sign rules: s1 wins ties). */
    V_BINOP(F32X4_PMIN, 4, vr.u32[i] = vb.f32[i] < va.f32[i] ? vb.u32[i] : va.u32[i])
    /* f32x4.pmax: a < b ? b : a. */
    V_BINOP(F32X4_PMAX, 4, vr.u32[i] = va.f32[i] < vb.f32[i] ? vb.u32[i] : va.u32[i])

    /* ---- SIMD: f64x2 ------------------------------------------------------ */

    /* f64x2.abs */
    V_UNOP(F64X2_ABS, 2, vr.u64[i] = va.u64[i] & 0x7fffffffffffffffu)
    /* f64x2.neg */
    V_UNOP(F64X2_NEG, 2, vr.u64[i] = va.u64[i] ^ 0x8000000000000000u)
    /* f64x2.sqrt */
    V_UNOP(F64X2_SQRT, 2, vr.f64[i] = sqrt(va.f64[i]))
    /* f64x2.ceil */
    V_UNOP(F64X2_CEIL, 2, vr.f64[i] = round_f64(va.f64[i], ROUND_CEIL))
    /* f64x2.floor */
    V_UNOP(F64X2_FLOOR, 2, vr.f64[i] = round_f64(va.f64[i], ROUND_FLOOR))
    /* f64x2.trunc */
    V_UNOP(F64X2_TRUNC, 2, vr.f64[i] = round_f64(va.f64[i], ROUND_TRUNC))
    /* f64x2.nearest */
    V_UNOP(F64X2_NEAREST, 2, vr.f64[i] = round_f64(va.f64[i], ROUND_NEAREST))
    /* f64x2.add */
    V_BINOP(F64X2_ADD, 2, vr.f64[i] = va.f64[i] + vb.f64[i])
    /* f64x2.sub */
    V_BINOP(F64X2_SUB, 2, vr.f64[i] = va.f64[i] - vb.f64[i])
    /* f64x2.mul */
    V_BINOP(F64X2_MUL, 2, vr.f64[i] = va.f64[i] * vb.f64[i])
    /* f64x2.div */
    V_BINOP(F64X2_DIV, 2, vr.f64[i] = va.f64[i] / vb.f64[i])
    /* f64x2.min */
    V_BINOP(F64X2_MIN, 2, vr.u64[i] = f64_min(va.u64[i], vb.u64[i]))
    /* f64x2.max */
    V_BINOP(F64X2_MAX, 2, vr.u64[i] = f64_max(va.u64[i], vb.u64[i]))
    /* f64x2.pmin */
    V_BINOP(F64X2_PMIN, 2, vr.u64[i] = vb.f64[i] < va.f64[i] ? vb.u64[i] : va.u64[i])
    /* f64x2.pmax */
    V_BINOP(F64X2_PMAX, 2, vr.u64[i] = va.f64[i] < vb.f64[i] ? vb.u64[i] : va.u64[i])

    /* ---- SIMD: conversions ------------------------------------------------ */

    /* f32x4.demote_f64x2_zero: lanes 0-1 rounded, 2-3 zero. */
    V_UNOP(F32X4_DEMOTE_F64X2_ZERO, 4,
           vr.f32[i] = i < 2 ? (float)va.f64[i] : 0.0f)
    /* f64x2.promote_low_f32x4: exact. */
    V_UNOP(F64X2_PROMOTE_LOW_F32X4, 2, vr.f64[i] = (double)va.f32[i])
    /* i32x4.trunc_sat_f32x4_s: NaN -> 0, clamped. */
    V_UNOP(I32X4_TRUNC_SAT_F32X4_S, 4, vr.i32[i] = sat_i32_f32(va.f32[i]))
    /* i32x4.trunc_sat_f32x4_u */
    V_UNOP(I32X4_TRUNC_SAT_F32X4_U, 4, vr.u32[i] = sat_u32_f32(va.f32[i]))
    /* f32x4.convert_i32x4_s: round to nearest even. */
    V_UNOP(F32X4_CONVERT_I32X4_S, 4, vr.f32[i] = (float)va.i32[i])
    /* f32x4.convert_i32x4_u */
    V_UNOP(F32X4_CONVERT_I32X4_U, 4, vr.f32[i] = (float)va.u32[i])
    /* i32x4.trunc_sat_f64x2_s_zero: lanes 0-1 from the f64 lanes, 2-3 zero. */
    V_UNOP(I32X4_TRUNC_SAT_F64X2_S_ZERO, 4,
           vr.i32[i] = i < 2 ? sat_i32_f64(va.f64[i]) : 0)
    /* i32x4.trunc_sat_f64x2_u_zero */
    V_UNOP(I32X4_TRUNC_SAT_F64X2_U_ZERO, 4,
           vr.u32[i] = i < 2 ? sat_u32_f64(va.f64[i]) : 0)
    /* f64x2.convert_low_i32x4_s: exact. */
    V_UNOP(F64X2_CONVERT_LOW_I32X4_S, 2, vr.f64[i] = (double)va.i32[i])
    /* f64x2.convert_low_i32x4_u */
    V_UNOP(F64X2_CONVERT_LOW_I32X4_U, 2, vr.f64[i] = (double)va.u32[i])

#undef V_GET
#undef V_SET
#undef V_CLAMP
#undef V_UNOP
#undef V_BINOP
#undef V_SHIFT
#undef V_REDUCE
#undef V_LOAD
#undef V_LOAD_LANE
#undef V_STORE_LANE
#undef V_SAT_BINOP
#undef V_NARROW
#undef V_MASK
