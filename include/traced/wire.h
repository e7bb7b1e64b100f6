/*
 * traced wire primitives: the varints and value encoding of the binary
 * records (docs/protocol.md section 2), as inline functions with no
 * dependencies, shared by the protocol library's encoders and by the VM's
 * trace sink (vm.h, "Trace sinks"), which writes call, return and step
 * records itself. One definition, so the two can never disagree on a byte.
 *
 * Writers do no bounds checks: the caller has checked room against the
 * bounds given here.
 */
#ifndef TRACED_WIRE_H
#define TRACED_WIRE_H

#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Most bytes one varint takes (64 bits), and one encoded value takes
 * (a type byte and a v128). */
#define WIRE_UV_MAX 10u
#define WIRE_VAL_MAX 17u

/* Value type codes, as vm.h's vm_valtype (kept equal by a static check
 * in the protocol library). */
enum {
    WIRE_I32 = 0x7f,
    WIRE_I64 = 0x7e,
    WIRE_F32 = 0x7d,
    WIRE_F64 = 0x7c,
    WIRE_V128 = 0x7b,
    WIRE_FUNCREF = 0x70,
    WIRE_EXTERNREF = 0x6f,
};

/* LEB128 of v; the one-byte case first (most fields of a hot record). */
static inline uint8_t *wire_put_uv(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

static inline uint64_t wire_zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline uint8_t *wire_put_sv(uint8_t *p, int64_t v)
{
    return wire_put_uv(p, wire_zigzag(v));
}

static inline void wire_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline void wire_put_u64(uint8_t *p, uint64_t v)
{
    wire_put_u32(p, (uint32_t)v);
    wire_put_u32(p + 4, (uint32_t)(v >> 32));
}

/* The 8-byte slot at byte i * 8 of slots (any alignment). */
static inline uint64_t wire_slot(const uint8_t *slots, uint32_t i)
{
    uint64_t v;

    memcpy(&v, slots + (size_t)i * 8, 8);
    return v;
}

/*
 * `vals` (docs/protocol.md section 2) of count values in the VM's slot
 * encoding (vm.h, vm_trace_vals: 8-byte slots, i32/f32 in the low 32
 * bits, v128 in two slots in memory order, references as pointer bits,
 * 0 for null) at slot (any alignment): varint count, then per value its
 * type byte and payload. At most WIRE_UV_MAX + count * WIRE_VAL_MAX
 * bytes. NULL when a type is not a value type (nothing meaningful
 * written).
 */
static inline uint8_t *wire_put_slot_vals(uint8_t *p, uint32_t count,
                                          const uint8_t *types,
                                          const void *slot)
{
    const uint8_t *s = (const uint8_t *)slot;
    uint32_t i = 0;

    p = wire_put_uv(p, count);
    for (uint32_t v = 0; v < count; v++) {
        uint8_t type = types[v];
        uint64_t x = wire_slot(s, i++);

        *p++ = type;
        switch (type) {
        case WIRE_I32:
            p = wire_put_uv(p, ((uint32_t)x << 1) ^
                                   (uint32_t)((int32_t)(uint32_t)x >> 31));
            break;
        case WIRE_I64: p = wire_put_sv(p, (int64_t)x); break;
        case WIRE_F32: wire_put_u32(p, (uint32_t)x); p += 4; break;
        case WIRE_F64: wire_put_u64(p, x); p += 8; break;
        case WIRE_V128: { /* the two slots' bytes in memory order */
            uint64_t y = wire_slot(s, i++);

            memcpy(p, &x, 8);
            memcpy(p + 8, &y, 8);
            p += 16;
            break;
        }
        case WIRE_FUNCREF:
        case WIRE_EXTERNREF:
            /* id + 1, so that null (0 in the slot) is the one-byte 0. */
            p = wire_put_uv(p, x ? x + 1 : 0);
            break;
        default:
            return NULL;
        }
    }
    return p;
}

/* Slots count values of types take (a v128 two, others one). */
static inline uint32_t wire_slot_count(uint32_t count, const uint8_t *types)
{
    uint32_t n = count;

    for (uint32_t i = 0; i < count; i++)
        n += types[i] == WIRE_V128;
    return n;
}

#ifdef __cplusplus
}
#endif

#endif /* TRACED_WIRE_H */
