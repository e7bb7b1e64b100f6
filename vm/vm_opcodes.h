/* Opcode enum and immediate kinds, derived from opcodes.def. Private. */
#ifndef TRACED_VM_OPCODES_H
#define TRACED_VM_OPCODES_H

#include <stdint.h>

/* What follows an opcode in the binary format. */
typedef enum vm__imm {
    VM_IMM_NONE,
    VM_IMM_BLOCKTYPE,     /* s33: 0x40 empty, a valtype, or a type index */
    VM_IMM_LABEL,         /* u32 label depth */
    VM_IMM_BR_TABLE,      /* vec(u32 label) then u32 default */
    VM_IMM_FUNC,          /* u32 funcidx */
    VM_IMM_CALL_INDIRECT, /* u32 typeidx, u32 tableidx */
    VM_IMM_LOCAL,         /* u32 localidx */
    VM_IMM_GLOBAL,        /* u32 globalidx */
    VM_IMM_TABLE,         /* u32 tableidx */
    VM_IMM_MEMARG,        /* u32 align (log2), u32 offset */
    VM_IMM_MEMIDX,        /* one byte, must be 0x00 */
    VM_IMM_I32,           /* s32 */
    VM_IMM_I64,           /* s64 */
    VM_IMM_F32,           /* 4 bytes little-endian */
    VM_IMM_F64,           /* 8 bytes little-endian */
    VM_IMM_SELECT_T,      /* vec(valtype); 1 entry in Wasm 2.0 */
    VM_IMM_REFTYPE,       /* one byte: 0x70 or 0x6f */
    VM_IMM_MEMORY_INIT,   /* u32 dataidx, then byte 0x00 */
    VM_IMM_DATA,          /* u32 dataidx */
    VM_IMM_MEMORY_COPY,   /* two bytes 0x00 0x00 */
    VM_IMM_TABLE_INIT,    /* u32 elemidx, u32 tableidx */
    VM_IMM_ELEM,          /* u32 elemidx */
    VM_IMM_TABLE_COPY,    /* u32 dst tableidx, u32 src tableidx */
    VM_IMM_TAG,           /* u32 tagidx */
    VM_IMM_V128,          /* 16 bytes */
    VM_IMM_SHUFFLE,       /* 16 lane bytes, each < 32 */
    VM_IMM_LANE,          /* one lane byte */
    VM_IMM_MEMARG_LANE,   /* memarg then one lane byte */
} vm__imm;

/* Feature an opcode needs (maps onto VM_FEATURE_* bits; CORE needs none). */
#define VM_OPF_CORE 0u
#define VM_OPF_TAIL_CALL VM_FEATURE_TAIL_CALL
#define VM_OPF_EXCEPTIONS VM_FEATURE_EXCEPTIONS

typedef enum vm__opcode {
#define OP(ident, text, prefix, code, imm, sig, feat) VM_OP_##ident,
#include "opcodes.def"
#undef OP
    VM_OP_COUNT
} vm__opcode;

typedef struct vm__opinfo {
    const char *text;
    uint8_t prefix; /* 0, 0xFC or 0xFD */
    uint32_t code;
    vm__imm imm;
    const char *sig;  /* "params:results", or "*" */
    uint32_t feature; /* VM_FEATURE_* bit or 0 */
} vm__opinfo;

/* Indexed by vm__opcode; defined in opcodes.c. */
extern const vm__opinfo vm__opinfo_table[VM_OP_COUNT];

/*
 * Map a binary opcode to the enum: prefix 0 with code a single byte, or a
 * prefix byte with its sub-opcode. Returns VM_OP_COUNT when unknown.
 * Constant time (tables built at compile time in opcodes.c).
 */
vm__opcode vm__opcode_lookup(uint8_t prefix, uint32_t code);

#endif /* TRACED_VM_OPCODES_H */
