/*
 * WASI preview1 internals, shared by wasi.c (context, linking, args,
 * clocks, poll, process) and wasi_fs.c (fd_* and path_*). Private to vm/.
 *
 * Every host function has the form
 *     int vm__wasi_NAME(vm__wasi_call *x, const vm_val *args)
 * and returns a WASI errno (>= 0), which the trampoline hands back to the
 * guest as the i32 result, or a negative VM_ERR_* (proc_exit's
 * VM_ERR_EXIT) which ends the call. Guest memory is reached only through
 * the vm__wasi_mem_* helpers below, which check bounds: a pointer or
 * length outside memory is `fault`.
 */
#ifndef TRACED_VM_WASI_INT_H
#define TRACED_VM_WASI_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "traced/vm.h"
#include "traced/wasi.h"

/*
 * The function table: X(name, params, results), types as letters
 * (i = i32, I = i64), in the order of the witx file. Trampoline, linker
 * and the count derive from it.
 */
#define VM__WASI_FUNCS(X)                                                  \
    X(args_get, "ii", "i")                                                 \
    X(args_sizes_get, "ii", "i")                                           \
    X(environ_get, "ii", "i")                                              \
    X(environ_sizes_get, "ii", "i")                                        \
    X(clock_res_get, "ii", "i")                                            \
    X(clock_time_get, "iIi", "i")                                          \
    X(fd_advise, "iIIi", "i")                                              \
    X(fd_allocate, "iII", "i")                                             \
    X(fd_close, "i", "i")                                                  \
    X(fd_datasync, "i", "i")                                               \
    X(fd_fdstat_get, "ii", "i")                                            \
    X(fd_fdstat_set_flags, "ii", "i")                                      \
    X(fd_fdstat_set_rights, "iII", "i")                                    \
    X(fd_filestat_get, "ii", "i")                                          \
    X(fd_filestat_set_size, "iI", "i")                                     \
    X(fd_filestat_set_times, "iIIi", "i")                                  \
    X(fd_pread, "iiiIi", "i")                                              \
    X(fd_prestat_get, "ii", "i")                                           \
    X(fd_prestat_dir_name, "iii", "i")                                     \
    X(fd_pwrite, "iiiIi", "i")                                             \
    X(fd_read, "iiii", "i")                                                \
    X(fd_readdir, "iiiIi", "i")                                            \
    X(fd_renumber, "ii", "i")                                              \
    X(fd_seek, "iIii", "i")                                                \
    X(fd_sync, "i", "i")                                                   \
    X(fd_tell, "ii", "i")                                                  \
    X(fd_write, "iiii", "i")                                               \
    X(path_create_directory, "iii", "i")                                   \
    X(path_filestat_get, "iiiii", "i")                                     \
    X(path_filestat_set_times, "iiiiIIi", "i")                             \
    X(path_link, "iiiiiii", "i")                                           \
    X(path_open, "iiiiiIIii", "i")                                         \
    X(path_readlink, "iiiiii", "i")                                        \
    X(path_remove_directory, "iii", "i")                                   \
    X(path_rename, "iiiiii", "i")                                          \
    X(path_symlink, "iiiii", "i")                                          \
    X(path_unlink_file, "iii", "i")                                        \
    X(poll_oneoff, "iiii", "i")                                            \
    X(proc_exit, "i", "")                                                  \
    X(proc_raise, "i", "i")                                                \
    X(sched_yield, "", "i")                                                \
    X(random_get, "ii", "i")                                               \
    X(sock_accept, "iii", "i")                                             \
    X(sock_recv, "iiiiii", "i")                                            \
    X(sock_send, "iiiii", "i")                                             \
    X(sock_shutdown, "ii", "i")

enum {
#define VM__WASI_X_INDEX(name, params, results) VM__WASI_FN_##name,
    VM__WASI_FUNCS(VM__WASI_X_INDEX)
#undef VM__WASI_X_INDEX
    VM__WASI_NFUNCS
};

/* ---- witx constants (wasi_snapshot_preview1) -------------------------- */

enum {
    VM__WASI_FILETYPE_UNKNOWN = 0,
    VM__WASI_FILETYPE_BLOCK_DEVICE = 1,
    VM__WASI_FILETYPE_CHARACTER_DEVICE = 2,
    VM__WASI_FILETYPE_DIRECTORY = 3,
    VM__WASI_FILETYPE_REGULAR_FILE = 4,
    VM__WASI_FILETYPE_SOCKET_DGRAM = 5,
    VM__WASI_FILETYPE_SOCKET_STREAM = 6,
    VM__WASI_FILETYPE_SYMBOLIC_LINK = 7,
};

#define VM__WASI_RIGHT(n) ((uint64_t)1 << (n))
enum {
    VM__WASI_R_FD_DATASYNC = 0,
    VM__WASI_R_FD_READ = 1,
    VM__WASI_R_FD_SEEK = 2,
    VM__WASI_R_FD_FDSTAT_SET_FLAGS = 3,
    VM__WASI_R_FD_SYNC = 4,
    VM__WASI_R_FD_TELL = 5,
    VM__WASI_R_FD_WRITE = 6,
    VM__WASI_R_FD_ADVISE = 7,
    VM__WASI_R_FD_ALLOCATE = 8,
    VM__WASI_R_PATH_CREATE_DIRECTORY = 9,
    VM__WASI_R_PATH_CREATE_FILE = 10,
    VM__WASI_R_PATH_LINK_SOURCE = 11,
    VM__WASI_R_PATH_LINK_TARGET = 12,
    VM__WASI_R_PATH_OPEN = 13,
    VM__WASI_R_FD_READDIR = 14,
    VM__WASI_R_PATH_READLINK = 15,
    VM__WASI_R_PATH_RENAME_SOURCE = 16,
    VM__WASI_R_PATH_RENAME_TARGET = 17,
    VM__WASI_R_PATH_FILESTAT_GET = 18,
    VM__WASI_R_PATH_FILESTAT_SET_SIZE = 19,
    VM__WASI_R_PATH_FILESTAT_SET_TIMES = 20,
    VM__WASI_R_FD_FILESTAT_GET = 21,
    VM__WASI_R_FD_FILESTAT_SET_SIZE = 22,
    VM__WASI_R_FD_FILESTAT_SET_TIMES = 23,
    VM__WASI_R_PATH_SYMLINK = 24,
    VM__WASI_R_PATH_REMOVE_DIRECTORY = 25,
    VM__WASI_R_PATH_UNLINK_FILE = 26,
    VM__WASI_R_POLL_FD_READWRITE = 27,
    VM__WASI_R_SOCK_SHUTDOWN = 28,
    VM__WASI_R_SOCK_ACCEPT = 29,
};
#define VM__WASI_RIGHTS_ALL (VM__WASI_RIGHT(30) - 1)
/* Rights that need the host fd open for reading / for writing. */
#define VM__WASI_RIGHTS_READ                                               \
    (VM__WASI_RIGHT(VM__WASI_R_FD_READ) | VM__WASI_RIGHT(VM__WASI_R_FD_READDIR))
#define VM__WASI_RIGHTS_WRITE                                              \
    (VM__WASI_RIGHT(VM__WASI_R_FD_WRITE) |                                 \
     VM__WASI_RIGHT(VM__WASI_R_FD_ALLOCATE) |                              \
     VM__WASI_RIGHT(VM__WASI_R_FD_FILESTAT_SET_SIZE))

enum { /* fdflags */
    VM__WASI_FDFLAG_APPEND = 1 << 0,
    VM__WASI_FDFLAG_DSYNC = 1 << 1,
    VM__WASI_FDFLAG_NONBLOCK = 1 << 2,
    VM__WASI_FDFLAG_RSYNC = 1 << 3,
    VM__WASI_FDFLAG_SYNC = 1 << 4,
};
enum { /* oflags */
    VM__WASI_O_CREAT = 1 << 0,
    VM__WASI_O_DIRECTORY = 1 << 1,
    VM__WASI_O_EXCL = 1 << 2,
    VM__WASI_O_TRUNC = 1 << 3,
};
enum { VM__WASI_LOOKUP_SYMLINK_FOLLOW = 1 << 0 };
enum { /* fstflags */
    VM__WASI_FST_ATIM = 1 << 0,
    VM__WASI_FST_ATIM_NOW = 1 << 1,
    VM__WASI_FST_MTIM = 1 << 2,
    VM__WASI_FST_MTIM_NOW = 1 << 3,
};

/* ---- The context -------------------------------------------------------- */

/* One guest fd. */
typedef struct vm__wasi_fd {
    bool open;
    bool owned;       /* close host on fd_close / vm_wasi_free */
    bool readable;    /* host fd opened for reading */
    bool writable;    /* host fd opened for writing */
    int8_t stream;    /* 0, 1, 2 for the stdio streams; -1 otherwise */
    uint8_t filetype; /* VM__WASI_FILETYPE_* */
    int host;         /* host fd, or -1 (a stdio stream with no fd) */
    uint64_t rights_base, rights_inheriting;
    char *preopen; /* guest name of a preopened directory, or NULL */
} vm__wasi_fd;

/* What a host function's user pointer points at. */
typedef struct vm__wasi_binding {
    vm_wasi *w;
    uint32_t fn; /* VM__WASI_FN_* */
} vm__wasi_binding;

struct vm_wasi {
    vm_store *store;
    char **argv; /* argc strings in one block: argv_buf */
    size_t argc, argv_bytes;
    char **envp;
    size_t envc, env_bytes;
    vm__wasi_fd *fds;
    uint32_t nfds; /* allocated entries */
    vm_wasi_output_fn on_output;
    bool capture_only;
    vm_wasi_clock_fn clock_now;
    vm_wasi_random_fn random_fill;
    void *user;
    vm__wasi_binding bindings[VM__WASI_NFUNCS];
    vm_func *funcs[VM__WASI_NFUNCS]; /* created on first link */
};

/* One host call: the context and the caller's memory at call time. */
typedef struct vm__wasi_call {
    vm_wasi *w;
    vm_host_call *c;
    uint8_t *mem;
    uint64_t memsize;
} vm__wasi_call;

/* Most fds a guest may hold (`mfile` beyond). */
#define VM__WASI_MAX_FDS 4096u
/* Most iovecs one read or write takes (IOV_MAX). */
#define VM__WASI_MAX_IOVS 1024u

#define VM__WASI_X_DECL(name, params, results)                             \
    int vm__wasi_##name(vm__wasi_call *x, const vm_val *a);
VM__WASI_FUNCS(VM__WASI_X_DECL)
#undef VM__WASI_X_DECL

/* ---- Guest memory --------------------------------------------------------- */

/* A host pointer to [ptr, ptr+len) of guest memory, or NULL when the range
 * is not inside memory. len may be 0 (then ptr may equal the size). */
static inline uint8_t *vm__wasi_mem(vm__wasi_call *x, uint32_t ptr,
                                    uint64_t len)
{
    if ((uint64_t)ptr + len > x->memsize || !x->mem)
        return NULL;
    return x->mem + ptr;
}

static inline uint32_t vm__wasi_ld32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}
static inline uint64_t vm__wasi_ld64(const uint8_t *p)
{
    return (uint64_t)vm__wasi_ld32(p) | (uint64_t)vm__wasi_ld32(p + 4) << 32;
}
static inline void vm__wasi_st16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void vm__wasi_st32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline void vm__wasi_st64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Store a u32 / u64 result at a guest pointer: 0 or `fault`. */
int vm__wasi_put32(vm__wasi_call *x, uint32_t ptr, uint32_t v);
int vm__wasi_put64(vm__wasi_call *x, uint32_t ptr, uint64_t v);

/* ---- Shared helpers ------------------------------------------------------- */

/* Host errno -> WASI errno. */
int vm__wasi_errno(int host_errno);
/* The open entry for a guest fd, or NULL (`badf`). */
vm__wasi_fd *vm__wasi_fd_get(vm_wasi *w, uint32_t fd);
/* The lowest free guest fd, growing the table: 0 or `mfile`/`nomem`. */
int vm__wasi_fd_alloc(vm_wasi *w, uint32_t *fd_out);
/* Close a guest fd's host side (when owned) and mark the entry free. */
void vm__wasi_fd_release(vm__wasi_fd *e);
/* Filetype of a host st_mode. */
uint8_t vm__wasi_filetype(unsigned mode);
/* Rights an fd of this type and access may carry. */
uint64_t vm__wasi_type_rights(uint8_t filetype, bool readable, bool writable);

#endif /* TRACED_VM_WASI_INT_H */
