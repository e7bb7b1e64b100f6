/* The opcode info table and binary-opcode lookup, from opcodes.def. */
#include "traced/vm.h"
#include "vm_opcodes.h"

const vm__opinfo vm__opinfo_table[VM_OP_COUNT] = {
#define OP(ident, text_, prefix_, code_, imm_, sig_, feat_)                   \
    [VM_OP_##ident] = {.text = text_,                                       \
                       .prefix = prefix_,                                   \
                       .code = code_,                                       \
                       .imm = VM_IMM_##imm_,                                \
                       .sig = sig_,                                         \
                       .feature = VM_OPF_##feat_},
#include "opcodes.def"
#undef OP
};

/* The compiler turns this switch into jump tables; no tables to build. */
vm__opcode vm__opcode_lookup(uint8_t prefix, uint32_t code)
{
    if (code > 0xffffu)
        return VM_OP_COUNT;
    switch (((uint32_t)prefix << 16) | code) {
#define OP(ident, text, prefix_, code_, imm, sig, feat)                       \
    case ((uint32_t)(prefix_) << 16) | (code_):                             \
        return VM_OP_##ident;
#include "opcodes.def"
#undef OP
    default:
        return VM_OP_COUNT;
    }
}
