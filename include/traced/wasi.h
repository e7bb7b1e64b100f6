/*
 * traced WASI: the wasi_snapshot_preview1 host interface for the VM, so
 * that programs built with `clang --target=wasm32-wasi` run, sandboxed.
 *
 * A vm_wasi is one program's view of the host: its arguments, environment,
 * file descriptor table (stdio, preopened directories, files it opened)
 * and clocks. It belongs to one store: its host functions live there.
 *
 * Sandbox: the guest reaches the host file system only beneath the
 * preopened directories. Every guest path is resolved with Linux openat2()
 * and RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS relative to a directory fd,
 * so `..`, absolute paths and symlinks that lead outside are refused with
 * WASI errno `perm` (as wasmtime returns). See docs/wasi.md.
 *
 * Errors: functions return 0 or a negative VM_ERR_* code with detail in
 * (err, errlen). Guest-visible failures are WASI errno values returned to
 * the guest; a bad guest pointer is errno `fault`, never a trap.
 */
#ifndef TRACED_WASI_H
#define TRACED_WASI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <traced/vm.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The import module name this implementation provides. */
#define VM_WASI_MODULE "wasi_snapshot_preview1"

/* WASI errno values: X(name, value), names as in the witx spec. */
#define VM_WASI_ERRNOS(X)                                                  \
    X(success, 0) X(2big, 1) X(acces, 2) X(addrinuse, 3)                  \
    X(addrnotavail, 4) X(afnosupport, 5) X(again, 6) X(already, 7)         \
    X(badf, 8) X(badmsg, 9) X(busy, 10) X(canceled, 11) X(child, 12)       \
    X(connaborted, 13) X(connrefused, 14) X(connreset, 15) X(deadlk, 16)   \
    X(destaddrreq, 17) X(dom, 18) X(dquot, 19) X(exist, 20) X(fault, 21)   \
    X(fbig, 22) X(hostunreach, 23) X(idrm, 24) X(ilseq, 25)                \
    X(inprogress, 26) X(intr, 27) X(inval, 28) X(io, 29) X(isconn, 30)     \
    X(isdir, 31) X(loop, 32) X(mfile, 33) X(mlink, 34) X(msgsize, 35)      \
    X(multihop, 36) X(nametoolong, 37) X(netdown, 38) X(netreset, 39)      \
    X(netunreach, 40) X(nfile, 41) X(nobufs, 42) X(nodev, 43)              \
    X(noent, 44) X(noexec, 45) X(nolck, 46) X(nolink, 47) X(nomem, 48)     \
    X(nomsg, 49) X(noprotoopt, 50) X(nospc, 51) X(nosys, 52)               \
    X(notconn, 53) X(notdir, 54) X(notempty, 55) X(notrecoverable, 56)     \
    X(notsock, 57) X(notsup, 58) X(notty, 59) X(nxio, 60)                  \
    X(overflow, 61) X(ownerdead, 62) X(perm, 63) X(pipe, 64)               \
    X(proto, 65) X(protonosupport, 66) X(prototype, 67) X(range, 68)       \
    X(rofs, 69) X(spipe, 70) X(srch, 71) X(stale, 72) X(timedout, 73)      \
    X(txtbsy, 74) X(xdev, 75) X(notcapable, 76)

enum {
#define VM_WASI_X_ENUM(name, value) VM_WASI_E_##name = value,
    VM_WASI_ERRNOS(VM_WASI_X_ENUM)
#undef VM_WASI_X_ENUM
};

/* "badf", "notcapable", ...; "unknown" for a value not in the table.
 * Static strings. */
const char *vm_wasi_errno_name(int wasi_errno);

/* A directory the guest may reach, under the name it sees. */
typedef struct vm_wasi_preopen {
    const char *host_path;  /* borrowed; opened by vm_wasi_new */
    const char *guest_path; /* borrowed, copied; NULL = host_path */
} vm_wasi_preopen;

/*
 * Called for every write to the guest's stdout (fd 1) and stderr (fd 2)
 * streams, in the order the guest wrote them, before the bytes reach the
 * host fd. stream is 1 or 2 (the stream, whatever guest fd number it has
 * been renumbered to). bytes are borrowed for the call only.
 */
typedef void (*vm_wasi_output_fn)(void *user, int stream,
                                  const uint8_t *bytes, size_t len);

/*
 * Optional overrides. clock_now returns a WASI errno (0 = ok) and the
 * clock's value in nanoseconds; random_fill returns a WASI errno and
 * fills len bytes. They replace clock_gettime() and getrandom().
 */
typedef int (*vm_wasi_clock_fn)(void *user, uint32_t clock_id, uint64_t *ns);
typedef int (*vm_wasi_random_fn)(void *user, uint8_t *buf, size_t len);

/*
 * What the guest sees. Every pointer is borrowed for vm_wasi_new only:
 * strings and arrays are copied. Start from vm_wasi_config_default().
 */
typedef struct vm_wasi_config {
    const char *const *argv; /* argv[0] is the program name */
    size_t argc;
    const char *const *envp; /* "KEY=VALUE" strings */
    size_t envc;
    const vm_wasi_preopen *preopens; /* guest fds 3, 4, ... in order */
    size_t npreopens;
    /* Host fds behind guest fds 0, 1, 2; borrowed, never closed. -1: stdin
     * reads end-of-file at once, output is discarded. Default 0, 1, 2. */
    int stdin_fd, stdout_fd, stderr_fd;
    vm_wasi_output_fn on_output; /* may be NULL */
    /* With on_output set: do not also write stdout/stderr to the host fds. */
    bool capture_only;
    vm_wasi_clock_fn clock_now;    /* may be NULL */
    vm_wasi_random_fn random_fill; /* may be NULL */
    void *user;                    /* passed to the three callbacks */
} vm_wasi_config;

/* Fill a config with defaults: no args, no env, no preopens, host stdio. */
void vm_wasi_config_default(vm_wasi_config *cfg);

typedef struct vm_wasi vm_wasi;

/*
 * Create a WASI context whose host functions will live in store s. Opens
 * every preopen directory (VM_ERR_NOT_FOUND naming it when that fails).
 * The store must outlive the context's use, and the context must outlive
 * every call into an instance linked against it.
 */
int vm_wasi_new(vm_store *s, const vm_wasi_config *cfg, vm_wasi **out,
                char *err, size_t errlen);
/* Closes the fds the guest opened and the preopens; never the stdio fds.
 * The host functions stay in the store and point at the freed context:
 * call no instance linked against it afterwards (free the store first, or
 * just stop using it). */
void vm_wasi_free(vm_wasi *w);

/*
 * Resolve every import of m: imports_out has vm_module_import_count(m)
 * entries. Each wasi_snapshot_preview1 function import gets its host
 * function (type-checked). Any other import, or an unknown WASI name, is
 * VM_ERR_UNLINKABLE with a message naming "module.name".
 */
int vm_wasi_imports(vm_wasi *w, const vm_module *m, vm_extern *imports_out,
                    char *err, size_t errlen);

/*
 * Instantiate m in the context's store with its WASI imports and call its
 * `_start` export (a WASI command). Returns 0 with *exit_code set: the
 * code passed to proc_exit, or 0 when _start returned. Otherwise the
 * failure (VM_ERR_UNLINKABLE, NOT_FOUND when there is no _start, a trap,
 * VM_ERR_FUEL, ...) with its message. *instance_out (may be NULL) gets the
 * instance when instantiation succeeded.
 */
int vm_wasi_run_start(vm_wasi *w, const vm_module *m, int32_t *exit_code,
                      vm_instance **instance_out, char *err, size_t errlen);
/* The same, the start function and _start traced by t (vm.h, "Tracing";
 * borrowed for the call; NULL = untraced). */
int vm_wasi_run_start_traced(vm_wasi *w, const vm_module *m,
                             int32_t *exit_code, vm_instance **instance_out,
                             const vm_tracer *t, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif /* TRACED_WASI_H */
