/*
 * traced debuginfo [--units] [--files] [--funcs] [--lines] [--steps]
 *                  FILE.wasm
 *
 * Loads the module and its DWARF (vm_debug.h) and prints the parts asked
 * for (all of them without an option), one item per line, for people and
 * for tests (tests/debug/run.sh compares --lines with llvm-dwarfdump):
 *
 *   unit IDX vVERSION NAME comp_dir=DIR file=FILE
 *   file IDX PATH
 *   func OFFSET-END [funcidx N] NAME FILE:LINE (TYPE NAME, ...) -> TYPE
 *     var NAME: TYPE FILE:LINE
 *   line 0xADDRESS LINE COLUMN BASENAME DISCRIMINATOR [FLAGS]
 *   step OFFSET FILE:LINE:COLUMN
 *
 * Offsets are VM offsets (hex, module bytes); a line's address is the
 * DWARF address (relative to the Code section's contents). FLAGS are
 * llvm-dwarfdump's: is_stmt, prologue_end, epilogue_begin, end_sequence.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <traced/vm.h>
#include <traced/vm_debug.h>

#include "cli_values.h"
#include "debuginfo.h"

enum {
    SHOW_UNITS = 1, SHOW_FILES = 2, SHOW_FUNCS = 4, SHOW_LINES = 8,
    SHOW_STEPS = 16, SHOW_ALL = 31
};

static void debuginfo_usage(FILE *f)
{
    fprintf(f, "usage: traced debuginfo [--units] [--files] [--funcs] "
               "[--lines] [--steps] FILE.wasm\n"
               "  print the module's DWARF debug info (all parts without an "
               "option)\n");
}


static const char *base_name(const char *path)
{
    const char *slash = path ? strrchr(path, '/') : NULL;

    return slash ? slash + 1 : path ? path : "?";
}

/* A type as C would write it, enough to read: "const char *". */
static void type_name(const vm_debug *d, uint32_t t, char *buf, size_t len)
{
    char inner[200];
    const vm_debug_type *ty = vm_debug_type_get(d, t);

    if (!ty) {
        snprintf(buf, len, "void");
        return;
    }
    switch (ty->kind) {
    case VM_DEBUG_TYPE_POINTER:
        /* Bounded: type_name recurses only through pointer targets, and
         * the buffer shrinks each level. */
        if (len > 8)
            type_name(d, ty->target, inner, len - 2 < sizeof inner
                                                ? len - 2
                                                : sizeof inner);
        else
            snprintf(inner, sizeof inner, "...");
        snprintf(buf, len, "%s *", inner);
        return;
    case VM_DEBUG_TYPE_CONST:
    case VM_DEBUG_TYPE_VOLATILE:
        if (len > 16)
            type_name(d, ty->target, inner, len - 10 < sizeof inner
                                                ? len - 10
                                                : sizeof inner);
        else
            snprintf(inner, sizeof inner, "...");
        snprintf(buf, len, "%s %s",
                 ty->kind == VM_DEBUG_TYPE_CONST ? "const" : "volatile",
                 inner);
        return;
    case VM_DEBUG_TYPE_STRUCT:
        snprintf(buf, len, "struct %s", ty->name ? ty->name : "<anon>");
        return;
    case VM_DEBUG_TYPE_UNION:
        snprintf(buf, len, "union %s", ty->name ? ty->name : "<anon>");
        return;
    case VM_DEBUG_TYPE_ENUM:
        snprintf(buf, len, "enum %s", ty->name ? ty->name : "<anon>");
        return;
    case VM_DEBUG_TYPE_ARRAY:
        snprintf(buf, len, "array");
        return;
    case VM_DEBUG_TYPE_FUNCTION:
        snprintf(buf, len, "function");
        return;
    case VM_DEBUG_TYPE_OTHER: /* restrict, atomic: show what they qualify */
        if (!ty->name && ty->target != VM_DEBUG_NONE && len > 16) {
            type_name(d, ty->target, inner, len - 10 < sizeof inner
                                                ? len - 10
                                                : sizeof inner);
            snprintf(buf, len, "%s", inner);
            return;
        }
        snprintf(buf, len, "%s", ty->name ? ty->name : "?");
        return;
    default:
        snprintf(buf, len, "%s", ty->name ? ty->name : "?");
        return;
    }
}

static void print_var(const vm_debug *d, const char *kind,
                      const vm_debug_var *v)
{
    char ty[256];

    type_name(d, v->type, ty, sizeof ty);
    printf("  %s %s: %s %s:%u\n", kind, v->name ? v->name : "?", ty,
           base_name(vm_debug_file_path(d, v->decl_file)), v->decl_line);
}

static void print_funcs(const vm_debug *d)
{
    char ty[256];

    for (uint32_t i = 0; i < vm_debug_subprogram_count(d); i++) {
        const vm_debug_subprogram *s = vm_debug_subprogram_get(d, i);
        type_name(d, s->return_type, ty, sizeof ty);
        printf("func 0x%06x-0x%06x ", s->low, s->high);
        if (s->func_idx != VM_DEBUG_NONE)
            printf("[%u] ", s->func_idx);
        else
            printf("[-] ");
        printf("%s %s:%u -> %s\n", s->name ? s->name : "?",
               base_name(vm_debug_file_path(d, s->decl_file)), s->decl_line,
               ty);
        for (uint32_t k = 0; k < s->nparams; k++)
            print_var(d, "param", &s->params[k]);
        for (uint32_t k = 0; k < s->nvars; k++)
            print_var(d, "var", &s->vars[k]);
    }
}

static void print_lines(const vm_debug *d)
{
    size_t n;
    const vm_debug_row *rows = vm_debug_rows(d, &n);

    for (size_t i = 0; i < n; i++) {
        const vm_debug_row *r = &rows[i];
        printf("line 0x%08x %u %u %s %u%s%s%s%s\n", r->address, r->line,
               r->column, base_name(vm_debug_file_path(d, r->file)),
               r->discriminator, r->is_stmt ? " is_stmt" : "",
               r->prologue_end ? " prologue_end" : "",
               r->epilogue_begin ? " epilogue_begin" : "",
               r->end_sequence ? " end_sequence" : "");
    }
}

static void print_steps(const vm_debug *d)
{
    size_t n;
    const vm_debug_row *steps = vm_debug_steps(d, &n);

    for (size_t i = 0; i < n; i++)
        printf("step 0x%06x %s:%u:%u\n", steps[i].offset,
               base_name(vm_debug_file_path(d, steps[i].file)),
               steps[i].line, steps[i].column);
}

int dmn_debuginfo_main(int argc, char **argv)
{
    const char *path = NULL;
    unsigned show = 0;
    uint8_t *bytes = NULL;
    size_t len = 0;
    vm_module *m = NULL;
    vm_debug *d = NULL;
    char err[512];
    int status = 1, rc;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--units") == 0) {
            show |= SHOW_UNITS;
        } else if (strcmp(argv[i], "--files") == 0) {
            show |= SHOW_FILES;
        } else if (strcmp(argv[i], "--funcs") == 0) {
            show |= SHOW_FUNCS;
        } else if (strcmp(argv[i], "--lines") == 0) {
            show |= SHOW_LINES;
        } else if (strcmp(argv[i], "--steps") == 0) {
            show |= SHOW_STEPS;
        } else if (strcmp(argv[i], "--help") == 0 ||
                   strcmp(argv[i], "-h") == 0) {
            debuginfo_usage(stdout);
            return 0;
        } else if (argv[i][0] == '-' || path) {
            debuginfo_usage(stderr);
            return 2;
        } else {
            path = argv[i];
        }
    }
    if (!path) {
        debuginfo_usage(stderr);
        return 2;
    }
    if (!show)
        show = SHOW_ALL;

    if (cli_read_file(path, &bytes, &len) < 0) {
        fprintf(stderr, "traced debuginfo: %s: %s\n", path, strerror(errno));
        return 1;
    }
    if ((rc = vm_module_new(bytes, len, NULL, &m, err, sizeof err)) < 0) {
        fprintf(stderr, "traced debuginfo: %s: %s\n", path, err);
        goto out;
    }
    if ((rc = vm_debug_new(m, &d, err, sizeof err)) < 0) {
        fprintf(stderr, "traced debuginfo: %s: %s (%s)\n", path, err,
                vm_err_name(rc));
        goto out;
    }
    if (show & SHOW_UNITS) {
        for (uint32_t i = 0; i < vm_debug_unit_count(d); i++) {
            const vm_debug_unit *u = vm_debug_unit_get(d, i);
            printf("unit %u v%u %s comp_dir=%s file=%s\n", i, u->version,
                   u->name ? u->name : "?", u->comp_dir ? u->comp_dir : "?",
                   u->file == VM_DEBUG_NONE ? "-"
                                            : vm_debug_file_path(d, u->file));
        }
    }
    if (show & SHOW_FILES)
        for (uint32_t i = 0; i < vm_debug_file_count(d); i++)
            printf("file %u %s\n", i, vm_debug_file_path(d, i));
    if (show & SHOW_FUNCS)
        print_funcs(d);
    if (show & SHOW_LINES)
        print_lines(d);
    if (show & SHOW_STEPS)
        print_steps(d);
    status = fflush(stdout) == 0 ? 0 : 1;
out:
    vm_debug_free(d);
    vm_module_free(m);
    free(bytes);
    return status;
}
