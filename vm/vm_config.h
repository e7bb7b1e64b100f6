/*
 * Compile-time knobs of the VM, each with an #ifndef default so a build can
 * override it with -D. Private to vm/.
 */
#ifndef TRACED_VM_CONFIG_H
#define TRACED_VM_CONFIG_H

/* Dispatch: 1 = computed goto (GCC/Clang labels as values), 0 = portable
 * switch built from the same handler bodies. */
#ifndef VM_COMPUTED_GOTO
#if defined(__GNUC__) || defined(__clang__)
#define VM_COMPUTED_GOTO 1
#else
#define VM_COMPUTED_GOTO 0
#endif
#endif

/* The register run_traced keeps its frame pointer in (interp_run.h), as
 * a GCC local register variable: a hint GCC honours, not a reservation
 * (the register is callee-saved, so calls out keep it). Other compilers
 * and targets allocate fr as they like. */
#if !defined(VM_TRACED_FR_REG) && defined(__GNUC__) && !defined(__clang__) && \
    defined(__x86_64__)
#define VM_TRACED_FR_REG "r15"
#endif

/* Implementation limits. Modules beyond them fail to load with
 * VM_ERR_LIMIT (never a crash); the values follow the JS embedding's. */
#ifndef VM_MAX_TYPES
#define VM_MAX_TYPES 1000000u
#endif
#ifndef VM_MAX_FUNCS
#define VM_MAX_FUNCS 1000000u
#endif
#ifndef VM_MAX_IMPORTS
#define VM_MAX_IMPORTS 100000u
#endif
#ifndef VM_MAX_EXPORTS
#define VM_MAX_EXPORTS 100000u
#endif
#ifndef VM_MAX_GLOBALS
#define VM_MAX_GLOBALS 1000000u
#endif
#ifndef VM_MAX_DATA_SEGMENTS
#define VM_MAX_DATA_SEGMENTS 100000u
#endif
#ifndef VM_MAX_ELEM_SEGMENTS
#define VM_MAX_ELEM_SEGMENTS 10000000u
#endif
#ifndef VM_MAX_TABLES
#define VM_MAX_TABLES 100000u
#endif
#ifndef VM_MAX_PARAMS
#define VM_MAX_PARAMS 1000u
#endif
#ifndef VM_MAX_RESULTS
#define VM_MAX_RESULTS 1000u
#endif
#ifndef VM_MAX_LOCALS
#define VM_MAX_LOCALS 50000u
#endif
#ifndef VM_MAX_FUNC_BODY
#define VM_MAX_FUNC_BODY (7654321u)
#endif
#ifndef VM_MAX_TABLE_SIZE
#define VM_MAX_TABLE_SIZE 10000000u
#endif

/* Runtime defaults (vm_store_limits fields left 0). */
#ifndef VM_DEFAULT_CALL_DEPTH
#define VM_DEFAULT_CALL_DEPTH 10000u
#endif
#ifndef VM_DEFAULT_STACK_SLOTS
#define VM_DEFAULT_STACK_SLOTS (1u << 20) /* 8 MiB of 8-byte slots */
#endif

#define VM_PAGE_SIZE 65536u
#define VM_MAX_PAGES 65536u

#endif /* TRACED_VM_CONFIG_H */
