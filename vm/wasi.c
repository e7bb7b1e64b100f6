/*
 * WASI preview1, part one: the context (vm_wasi), the fd table, linking a
 * module's imports to host functions, running a command's _start, and the
 * functions that do not touch the file system: args, environ, clocks,
 * random, poll_oneoff, proc_*, sched_yield, sock_*. The file system half
 * (fd_*, path_*) is wasi_fs.c. The contract is in include/traced/wasi.h
 * and docs/wasi.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "module_int.h"
#include "wasi_int.h"

/* ---- Names and errno mapping -------------------------------------------- */

const char *vm_wasi_errno_name(int wasi_errno)
{
    switch (wasi_errno) {
#define VM_WASI_X_NAME(name, value)                                        \
    case value:                                                            \
        return #name;
        VM_WASI_ERRNOS(VM_WASI_X_NAME)
#undef VM_WASI_X_NAME
    }
    return "unknown";
}

int vm__wasi_errno(int e)
{
    switch (e) {
    case 0: return VM_WASI_E_success;
    case E2BIG: return VM_WASI_E_2big;
    case EACCES: return VM_WASI_E_acces;
    case EADDRINUSE: return VM_WASI_E_addrinuse;
    case EADDRNOTAVAIL: return VM_WASI_E_addrnotavail;
    case EAFNOSUPPORT: return VM_WASI_E_afnosupport;
    case EAGAIN: return VM_WASI_E_again;
    case EALREADY: return VM_WASI_E_already;
    case EBADF: return VM_WASI_E_badf;
    case EBADMSG: return VM_WASI_E_badmsg;
    case EBUSY: return VM_WASI_E_busy;
    case ECANCELED: return VM_WASI_E_canceled;
    case ECHILD: return VM_WASI_E_child;
    case ECONNABORTED: return VM_WASI_E_connaborted;
    case ECONNREFUSED: return VM_WASI_E_connrefused;
    case ECONNRESET: return VM_WASI_E_connreset;
    case EDEADLK: return VM_WASI_E_deadlk;
    case EDESTADDRREQ: return VM_WASI_E_destaddrreq;
    case EDOM: return VM_WASI_E_dom;
    case EDQUOT: return VM_WASI_E_dquot;
    case EEXIST: return VM_WASI_E_exist;
    case EFAULT: return VM_WASI_E_fault;
    case EFBIG: return VM_WASI_E_fbig;
    case EHOSTUNREACH: return VM_WASI_E_hostunreach;
    case EIDRM: return VM_WASI_E_idrm;
    case EILSEQ: return VM_WASI_E_ilseq;
    case EINPROGRESS: return VM_WASI_E_inprogress;
    case EINTR: return VM_WASI_E_intr;
    case EINVAL: return VM_WASI_E_inval;
    case EIO: return VM_WASI_E_io;
    case EISCONN: return VM_WASI_E_isconn;
    case EISDIR: return VM_WASI_E_isdir;
    case ELOOP: return VM_WASI_E_loop;
    case EMFILE: return VM_WASI_E_mfile;
    case EMLINK: return VM_WASI_E_mlink;
    case EMSGSIZE: return VM_WASI_E_msgsize;
    case EMULTIHOP: return VM_WASI_E_multihop;
    case ENAMETOOLONG: return VM_WASI_E_nametoolong;
    case ENETDOWN: return VM_WASI_E_netdown;
    case ENETRESET: return VM_WASI_E_netreset;
    case ENETUNREACH: return VM_WASI_E_netunreach;
    case ENFILE: return VM_WASI_E_nfile;
    case ENOBUFS: return VM_WASI_E_nobufs;
    case ENODEV: return VM_WASI_E_nodev;
    case ENOENT: return VM_WASI_E_noent;
    case ENOEXEC: return VM_WASI_E_noexec;
    case ENOLCK: return VM_WASI_E_nolck;
    case ENOLINK: return VM_WASI_E_nolink;
    case ENOMEM: return VM_WASI_E_nomem;
    case ENOMSG: return VM_WASI_E_nomsg;
    case ENOPROTOOPT: return VM_WASI_E_noprotoopt;
    case ENOSPC: return VM_WASI_E_nospc;
    case ENOSYS: return VM_WASI_E_nosys;
    case ENOTCONN: return VM_WASI_E_notconn;
    case ENOTDIR: return VM_WASI_E_notdir;
    case ENOTEMPTY: return VM_WASI_E_notempty;
    case ENOTRECOVERABLE: return VM_WASI_E_notrecoverable;
    case ENOTSOCK: return VM_WASI_E_notsock;
    case EOPNOTSUPP: return VM_WASI_E_notsup; /* == ENOTSUP on Linux */
    case ENOTTY: return VM_WASI_E_notty;
    case ENXIO: return VM_WASI_E_nxio;
    case EOVERFLOW: return VM_WASI_E_overflow;
    case EOWNERDEAD: return VM_WASI_E_ownerdead;
    case EPERM: return VM_WASI_E_perm;
    case EPIPE: return VM_WASI_E_pipe;
    case EPROTO: return VM_WASI_E_proto;
    case EPROTONOSUPPORT: return VM_WASI_E_protonosupport;
    case EPROTOTYPE: return VM_WASI_E_prototype;
    case ERANGE: return VM_WASI_E_range;
    case EROFS: return VM_WASI_E_rofs;
    case ESPIPE: return VM_WASI_E_spipe;
    case ESRCH: return VM_WASI_E_srch;
    case ESTALE: return VM_WASI_E_stale;
    case ETIMEDOUT: return VM_WASI_E_timedout;
    case ETXTBSY: return VM_WASI_E_txtbsy;
    case EXDEV: return VM_WASI_E_xdev;
    }
    return VM_WASI_E_io; /* a host errno WASI has no name for */
}

int vm__wasi_put32(vm__wasi_call *x, uint32_t ptr, uint32_t v)
{
    uint8_t *p = vm__wasi_mem(x, ptr, 4);

    if (!p)
        return VM_WASI_E_fault;
    vm__wasi_st32(p, v);
    return 0;
}

int vm__wasi_put64(vm__wasi_call *x, uint32_t ptr, uint64_t v)
{
    uint8_t *p = vm__wasi_mem(x, ptr, 8);

    if (!p)
        return VM_WASI_E_fault;
    vm__wasi_st64(p, v);
    return 0;
}

/* ---- The fd table ------------------------------------------------------- */

vm__wasi_fd *vm__wasi_fd_get(vm_wasi *w, uint32_t fd)
{
    if (fd >= w->nfds || !w->fds[fd].open)
        return NULL;
    return &w->fds[fd];
}

int vm__wasi_fd_alloc(vm_wasi *w, uint32_t *fd_out)
{
    uint32_t n;
    vm__wasi_fd *grown;

    for (uint32_t i = 0; i < w->nfds; i++) {
        if (!w->fds[i].open) {
            *fd_out = i;
            return 0;
        }
    }
    if (w->nfds >= VM__WASI_MAX_FDS)
        return VM_WASI_E_mfile;
    n = w->nfds ? w->nfds * 2 : 8;
    if (n > VM__WASI_MAX_FDS)
        n = VM__WASI_MAX_FDS;
    grown = vm__realloc(w->fds, n * sizeof *grown);
    if (!grown)
        return VM_WASI_E_nomem;
    memset(grown + w->nfds, 0, (n - w->nfds) * sizeof *grown);
    for (uint32_t i = w->nfds; i < n; i++)
        grown[i].host = -1;
    *fd_out = w->nfds;
    w->fds = grown;
    w->nfds = n;
    return 0;
}

void vm__wasi_fd_release(vm__wasi_fd *e)
{
    if (e->owned && e->host >= 0)
        close(e->host);
    vm__free(e->preopen);
    memset(e, 0, sizeof *e);
    e->host = -1;
}

uint8_t vm__wasi_filetype(unsigned mode)
{
    switch (mode & S_IFMT) {
    case S_IFREG: return VM__WASI_FILETYPE_REGULAR_FILE;
    case S_IFDIR: return VM__WASI_FILETYPE_DIRECTORY;
    case S_IFLNK: return VM__WASI_FILETYPE_SYMBOLIC_LINK;
    case S_IFCHR: return VM__WASI_FILETYPE_CHARACTER_DEVICE;
    case S_IFBLK: return VM__WASI_FILETYPE_BLOCK_DEVICE;
    case S_IFSOCK: return VM__WASI_FILETYPE_SOCKET_STREAM;
    }
    return VM__WASI_FILETYPE_UNKNOWN; /* FIFOs have no WASI type */
}

uint64_t vm__wasi_type_rights(uint8_t filetype, bool readable, bool writable)
{
    uint64_t r;

    if (filetype == VM__WASI_FILETYPE_DIRECTORY) {
        r = VM__WASI_RIGHT(VM__WASI_R_FD_FDSTAT_SET_FLAGS) |
            VM__WASI_RIGHT(VM__WASI_R_FD_SYNC) |
            VM__WASI_RIGHT(VM__WASI_R_FD_ADVISE) |
            VM__WASI_RIGHT(VM__WASI_R_FD_FILESTAT_GET) |
            VM__WASI_RIGHT(VM__WASI_R_FD_FILESTAT_SET_TIMES);
        for (int i = VM__WASI_R_PATH_CREATE_DIRECTORY;
             i <= VM__WASI_R_PATH_UNLINK_FILE; i++)
            if (i != VM__WASI_R_FD_FILESTAT_GET &&
                i != VM__WASI_R_FD_FILESTAT_SET_SIZE &&
                i != VM__WASI_R_FD_FILESTAT_SET_TIMES)
                r |= VM__WASI_RIGHT(i);
        if (!readable)
            r &= ~VM__WASI_RIGHT(VM__WASI_R_FD_READDIR);
        return r;
    }
    r = VM__WASI_RIGHT(VM__WASI_R_FD_DATASYNC) |
        VM__WASI_RIGHT(VM__WASI_R_FD_READ) |
        VM__WASI_RIGHT(VM__WASI_R_FD_SEEK) |
        VM__WASI_RIGHT(VM__WASI_R_FD_FDSTAT_SET_FLAGS) |
        VM__WASI_RIGHT(VM__WASI_R_FD_SYNC) |
        VM__WASI_RIGHT(VM__WASI_R_FD_TELL) |
        VM__WASI_RIGHT(VM__WASI_R_FD_WRITE) |
        VM__WASI_RIGHT(VM__WASI_R_FD_ADVISE) |
        VM__WASI_RIGHT(VM__WASI_R_FD_ALLOCATE) |
        VM__WASI_RIGHT(VM__WASI_R_FD_FILESTAT_GET) |
        VM__WASI_RIGHT(VM__WASI_R_FD_FILESTAT_SET_SIZE) |
        VM__WASI_RIGHT(VM__WASI_R_FD_FILESTAT_SET_TIMES) |
        VM__WASI_RIGHT(VM__WASI_R_POLL_FD_READWRITE);
    if (filetype == VM__WASI_FILETYPE_SOCKET_STREAM ||
        filetype == VM__WASI_FILETYPE_SOCKET_DGRAM)
        r |= VM__WASI_RIGHT(VM__WASI_R_SOCK_SHUTDOWN);
    if (!readable)
        r &= ~VM__WASI_RIGHTS_READ;
    if (!writable)
        r &= ~VM__WASI_RIGHTS_WRITE;
    return r;
}

/* Guest fd 0, 1 or 2 backed by a borrowed host fd (or none). */
static void init_stream(vm_wasi *w, int stream, int host)
{
    vm__wasi_fd *e = &w->fds[stream];
    struct stat st;

    e->open = true;
    e->owned = false;
    e->stream = (int8_t)stream;
    e->host = host;
    e->readable = stream == 0;
    e->writable = stream != 0;
    e->filetype = VM__WASI_FILETYPE_CHARACTER_DEVICE;
    if (host >= 0 && fstat(host, &st) == 0)
        e->filetype = vm__wasi_filetype(st.st_mode);
    e->rights_base = vm__wasi_type_rights(e->filetype, e->readable,
                                          e->writable);
    /* Output streams never seek (their bytes also go to on_output, in
     * order); wasi-libc's isatty() is "a character device that cannot
     * seek", so a tty must not have the seek rights either. */
    if (host < 0 || stream > 0 || isatty(host) ||
        e->filetype != VM__WASI_FILETYPE_REGULAR_FILE)
        e->rights_base &= ~(VM__WASI_RIGHT(VM__WASI_R_FD_SEEK) |
                            VM__WASI_RIGHT(VM__WASI_R_FD_TELL));
    e->rights_inheriting = 0;
}

/* ---- Context ------------------------------------------------------------ */

void vm_wasi_config_default(vm_wasi_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->stdin_fd = 0;
    cfg->stdout_fd = 1;
    cfg->stderr_fd = 2;
}

/* Copy n strings into one block: an array of n pointers followed by the
 * NUL-terminated strings, so that args_get/environ_get copy it as is. */
static char **copy_strings(const char *const *src, size_t n, size_t *bytes)
{
    size_t total = 0;
    char **dst, *p;

    for (size_t i = 0; i < n; i++)
        total += strlen(src[i]) + 1;
    dst = vm__malloc((n + 1) * sizeof *dst + total);
    if (!dst)
        return NULL;
    p = (char *)(dst + n + 1);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(src[i]) + 1;

        memcpy(p, src[i], len);
        dst[i] = p;
        p += len;
    }
    dst[n] = NULL;
    *bytes = total;
    return dst;
}

static int open_preopen(vm_wasi *w, const vm_wasi_preopen *po, char *err,
                        size_t errlen)
{
    const char *guest = po->guest_path ? po->guest_path : po->host_path;
    uint32_t fd;
    vm__wasi_fd *e;
    int host;
    struct stat st;

    if (!po->host_path)
        return vm__error(err, errlen, VM_ERR_ARG, "preopen without a path");
    host = open(po->host_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (host < 0)
        return vm__error(err, errlen, VM_ERR_NOT_FOUND,
                         "cannot open directory %s: %s", po->host_path,
                         strerror(errno));
    if (fstat(host, &st) < 0 || vm__wasi_fd_alloc(w, &fd) != 0) {
        close(host);
        return vm__error(err, errlen, VM_ERR_NOMEM, "preopen %s",
                         po->host_path);
    }
    e = &w->fds[fd];
    e->preopen = vm__strndup(guest, strlen(guest));
    if (!e->preopen) {
        close(host);
        return vm__error(err, errlen, VM_ERR_NOMEM, "out of memory");
    }
    e->open = true;
    e->owned = true;
    e->readable = true;
    e->stream = -1;
    e->host = host;
    e->filetype = VM__WASI_FILETYPE_DIRECTORY;
    e->rights_base = vm__wasi_type_rights(e->filetype, true, false);
    e->rights_inheriting = VM__WASI_RIGHTS_ALL;
    return 0;
}

int vm_wasi_new(vm_store *s, const vm_wasi_config *cfg, vm_wasi **out,
                char *err, size_t errlen)
{
    static const char *const no_strings[1] = {NULL};
    vm_wasi *w;
    uint32_t fd;
    int rc;

    if (!s || !cfg || !out)
        return vm__error(err, errlen, VM_ERR_ARG, "vm_wasi_new: NULL");
    *out = NULL;
    w = vm__calloc(1, sizeof *w);
    if (!w) {
        rc = vm__error(err, errlen, VM_ERR_NOMEM, "out of memory");
        goto fail_alloc;
    }
    w->store = s;
    w->on_output = cfg->on_output;
    w->capture_only = cfg->capture_only && cfg->on_output;
    w->clock_now = cfg->clock_now;
    w->random_fill = cfg->random_fill;
    w->user = cfg->user;
    for (uint32_t i = 0; i < VM__WASI_NFUNCS; i++) {
        w->bindings[i].w = w;
        w->bindings[i].fn = i;
    }
    w->argc = cfg->argv ? cfg->argc : 0;
    w->argv = copy_strings(w->argc ? cfg->argv : no_strings, w->argc,
                           &w->argv_bytes);
    if (!w->argv) {
        rc = vm__error(err, errlen, VM_ERR_NOMEM, "out of memory");
        goto fail_argv;
    }
    w->envc = cfg->envp ? cfg->envc : 0;
    w->envp = copy_strings(w->envc ? cfg->envp : no_strings, w->envc,
                           &w->env_bytes);
    if (!w->envp) {
        rc = vm__error(err, errlen, VM_ERR_NOMEM, "out of memory");
        goto fail_env;
    }
    for (int i = 0; i < 3; i++) {
        if (vm__wasi_fd_alloc(w, &fd) != 0) {
            rc = vm__error(err, errlen, VM_ERR_NOMEM, "out of memory");
            goto fail_fds;
        }
        init_stream(w, i, i == 0 ? cfg->stdin_fd
                          : i == 1 ? cfg->stdout_fd : cfg->stderr_fd);
    }
    for (size_t i = 0; i < cfg->npreopens; i++) {
        rc = open_preopen(w, &cfg->preopens[i], err, errlen);
        if (rc < 0)
            goto fail_fds;
    }
    *out = w;
    return 0;

fail_fds:
    for (uint32_t i = 0; i < w->nfds; i++)
        vm__wasi_fd_release(&w->fds[i]);
    vm__free(w->fds);
    vm__free(w->envp);
fail_env:
    vm__free(w->argv);
fail_argv:
    vm__free(w);
fail_alloc:
    return rc;
}

void vm_wasi_free(vm_wasi *w)
{
    if (!w)
        return;
    for (uint32_t i = 0; i < w->nfds; i++)
        vm__wasi_fd_release(&w->fds[i]);
    vm__free(w->fds);
    vm__free(w->envp);
    vm__free(w->argv);
    /* The host functions stay in the store; their user pointers dangle,
     * which the header forbids using. */
    vm__free(w);
}

/* ---- Linking ------------------------------------------------------------ */

typedef struct wasi_fn_desc {
    const char *name;
    const char *params, *results;
    int (*impl)(vm__wasi_call *x, const vm_val *a);
} wasi_fn_desc;

static const wasi_fn_desc wasi_fns[VM__WASI_NFUNCS] = {
#define VM__WASI_X_DESC(name, params, results)                             \
    {#name, params, results, vm__wasi_##name},
    VM__WASI_FUNCS(VM__WASI_X_DESC)
#undef VM__WASI_X_DESC
};

static int wasi_trampoline(vm_host_call *c, const vm_val *args,
                           vm_val *results)
{
    vm__wasi_binding *b = vm_host_call_user(c);
    vm_memory *mem = vm_host_call_memory(c);
    vm__wasi_call x = {.w = b->w, .c = c};
    int rc;

    if (mem) {
        x.mem = vm_memory_data(mem);
        x.memsize = vm_memory_size(mem);
    }
    rc = wasi_fns[b->fn].impl(&x, args);
    if (rc < 0)
        return rc;
    if (wasi_fns[b->fn].results[0]) {
        results[0].type = VM_I32;
        results[0].of.i32 = rc;
    }
    return 0;
}

static vm_valtype letter_type(char c)
{
    return c == 'I' ? VM_I64 : VM_I32;
}

static int make_func(vm_wasi *w, uint32_t i)
{
    const wasi_fn_desc *d = &wasi_fns[i];
    vm_valtype params[16], results[1];
    uint32_t np = (uint32_t)strlen(d->params);
    uint32_t nr = (uint32_t)strlen(d->results);
    char name[64];

    for (uint32_t k = 0; k < np; k++)
        params[k] = letter_type(d->params[k]);
    for (uint32_t k = 0; k < nr; k++)
        results[k] = letter_type(d->results[k]);
    snprintf(name, sizeof name, VM_WASI_MODULE ".%s", d->name);
    return vm_func_new_host(w->store, params, np, results, nr,
                            wasi_trampoline, &w->bindings[i], name,
                            &w->funcs[i]);
}

static bool same_type(const vm_functype_view *a, const vm_functype_view *b)
{
    return a->nparams == b->nparams && a->nresults == b->nresults &&
           memcmp(a->params, b->params, a->nparams) == 0 &&
           memcmp(a->results, b->results, a->nresults) == 0;
}

int vm_wasi_imports(vm_wasi *w, const vm_module *m, vm_extern *imports_out,
                    char *err, size_t errlen)
{
    uint32_t n;

    if (!w || !m || (!imports_out && vm_module_import_count(m)))
        return vm__error(err, errlen, VM_ERR_ARG, "vm_wasi_imports: NULL");
    n = vm_module_import_count(m);
    for (uint32_t i = 0; i < n; i++) {
        vm_extern_desc d;
        vm_functype_view have, want;
        uint32_t f = VM__WASI_NFUNCS;
        int rc = vm_module_import(m, i, &d);

        if (rc < 0)
            return vm__error(err, errlen, rc, "import %u", i);
        if (strcmp(d.module, VM_WASI_MODULE) == 0)
            for (f = 0; f < VM__WASI_NFUNCS; f++)
                if (strcmp(d.name, wasi_fns[f].name) == 0)
                    break;
        if (f == VM__WASI_NFUNCS)
            return vm__error(err, errlen, VM_ERR_UNLINKABLE,
                             "unresolved import %s.%s (only " VM_WASI_MODULE
                             " functions are provided)",
                             d.module, d.name);
        if (d.kind != VM_EXTERN_FUNC)
            return vm__error(err, errlen, VM_ERR_UNLINKABLE,
                             "import %s.%s is not imported as a function",
                             d.module, d.name);
        if (!w->funcs[f]) {
            rc = make_func(w, f);
            if (rc < 0)
                return vm__error(err, errlen, rc, "host function %s",
                                 d.name);
        }
        vm_func_type(w->funcs[f], &have);
        want = d.func;
        if (!same_type(&have, &want))
            return vm__error(err, errlen, VM_ERR_UNLINKABLE,
                             "import %s.%s has the wrong type", d.module,
                             d.name);
        imports_out[i].kind = VM_EXTERN_FUNC;
        imports_out[i].of.func = w->funcs[f];
    }
    return 0;
}

int vm_wasi_run_start(vm_wasi *w, const vm_module *m, int32_t *exit_code,
                      vm_instance **instance_out, char *err, size_t errlen)
{
    return vm_wasi_run_start_traced(w, m, exit_code, instance_out, NULL, err,
                                    errlen);
}

int vm_wasi_run_start_traced(vm_wasi *w, const vm_module *m,
                             int32_t *exit_code, vm_instance **instance_out,
                             const vm_tracer *t, char *err, size_t errlen)
{
    uint32_t n;
    vm_extern *imports, start;
    vm_instance *inst = NULL;
    int rc;

    if (!w || !m || !exit_code)
        return vm__error(err, errlen, VM_ERR_ARG, "vm_wasi_run_start: NULL");
    if (instance_out)
        *instance_out = NULL;
    n = vm_module_import_count(m);
    imports = vm__calloc(n ? n : 1, sizeof *imports);
    if (!imports)
        return vm__error(err, errlen, VM_ERR_NOMEM, "out of memory");
    rc = vm_wasi_imports(w, m, imports, err, errlen);
    if (rc == 0)
        rc = vm_instance_new_traced(w->store, m, imports, n, t, &inst, err,
                                    errlen);
    vm__free(imports);
    /* proc_exit may run in the module's start function already. */
    if (rc == VM_ERR_EXIT) {
        *exit_code = vm_store_exit_code(w->store);
        return 0;
    }
    if (rc < 0)
        return rc;
    if (instance_out)
        *instance_out = inst;
    if (vm_instance_export(inst, "_start", &start) < 0 ||
        start.kind != VM_EXTERN_FUNC)
        return vm__error(err, errlen, VM_ERR_NOT_FOUND,
                         "the module exports no _start function (not a "
                         "WASI command)");
    rc = vm_func_call_traced(w->store, start.of.func, NULL, 0, NULL, 0, t,
                             err, errlen);
    if (rc == VM_ERR_EXIT) {
        *exit_code = vm_store_exit_code(w->store);
        return 0;
    }
    if (rc < 0)
        return rc;
    *exit_code = 0;
    return 0;
}

/* ---- args and environ --------------------------------------------------- */

/* Write n strings as a pointer array at ptrs and their bytes at buf. */
static int put_strings(vm__wasi_call *x, char **strs, size_t n, size_t bytes,
                       uint32_t ptrs, uint32_t buf)
{
    uint8_t *pp = vm__wasi_mem(x, ptrs, (uint64_t)n * 4);
    uint8_t *bp = vm__wasi_mem(x, buf, bytes);
    uint32_t off = 0;

    if (!pp || !bp)
        return VM_WASI_E_fault;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(strs[i]) + 1;

        vm__wasi_st32(pp + 4 * i, buf + off);
        memcpy(bp + off, strs[i], len);
        off += (uint32_t)len;
    }
    return 0;
}

static int put_sizes(vm__wasi_call *x, size_t n, size_t bytes, uint32_t np,
                     uint32_t bp)
{
    int rc = vm__wasi_put32(x, np, (uint32_t)n);

    return rc ? rc : vm__wasi_put32(x, bp, (uint32_t)bytes);
}

int vm__wasi_args_get(vm__wasi_call *x, const vm_val *a)
{
    return put_strings(x, x->w->argv, x->w->argc, x->w->argv_bytes,
                       (uint32_t)a[0].of.i32, (uint32_t)a[1].of.i32);
}

int vm__wasi_args_sizes_get(vm__wasi_call *x, const vm_val *a)
{
    return put_sizes(x, x->w->argc, x->w->argv_bytes, (uint32_t)a[0].of.i32,
                     (uint32_t)a[1].of.i32);
}

int vm__wasi_environ_get(vm__wasi_call *x, const vm_val *a)
{
    return put_strings(x, x->w->envp, x->w->envc, x->w->env_bytes,
                       (uint32_t)a[0].of.i32, (uint32_t)a[1].of.i32);
}

int vm__wasi_environ_sizes_get(vm__wasi_call *x, const vm_val *a)
{
    return put_sizes(x, x->w->envc, x->w->env_bytes, (uint32_t)a[0].of.i32,
                     (uint32_t)a[1].of.i32);
}

/* ---- Clocks and random -------------------------------------------------- */

static int host_clock(uint32_t id, clockid_t *out)
{
    switch (id) {
    case 0: *out = CLOCK_REALTIME; return 0;
    case 1: *out = CLOCK_MONOTONIC; return 0;
    case 2: *out = CLOCK_PROCESS_CPUTIME_ID; return 0;
    case 3: *out = CLOCK_THREAD_CPUTIME_ID; return 0;
    }
    return VM_WASI_E_inval;
}

static uint64_t ts_ns(const struct timespec *ts)
{
    return (uint64_t)ts->tv_sec * 1000000000u + (uint64_t)ts->tv_nsec;
}

/* A clock's value in ns: the override when configured, else the host. */
static int clock_now(vm_wasi *w, uint32_t id, uint64_t *ns)
{
    clockid_t cid;
    struct timespec ts;
    int rc = host_clock(id, &cid);

    if (rc)
        return rc;
    if (w->clock_now)
        return w->clock_now(w->user, id, ns);
    if (clock_gettime(cid, &ts) < 0)
        return vm__wasi_errno(errno);
    *ns = ts_ns(&ts);
    return 0;
}

int vm__wasi_clock_res_get(vm__wasi_call *x, const vm_val *a)
{
    clockid_t cid;
    struct timespec ts;
    int rc = host_clock((uint32_t)a[0].of.i32, &cid);

    if (rc)
        return rc;
    if (clock_getres(cid, &ts) < 0)
        return vm__wasi_errno(errno);
    return vm__wasi_put64(x, (uint32_t)a[1].of.i32, ts_ns(&ts));
}

int vm__wasi_clock_time_get(vm__wasi_call *x, const vm_val *a)
{
    uint64_t ns;
    int rc = clock_now(x->w, (uint32_t)a[0].of.i32, &ns);

    /* a[1] is the precision the guest asks for; the host clock's is
     * always at least as good. */
    return rc ? rc : vm__wasi_put64(x, (uint32_t)a[2].of.i32, ns);
}

int vm__wasi_random_get(vm__wasi_call *x, const vm_val *a)
{
    uint32_t len = (uint32_t)a[1].of.i32;
    uint8_t *p = vm__wasi_mem(x, (uint32_t)a[0].of.i32, len);
    size_t done = 0;

    if (!p)
        return VM_WASI_E_fault;
    if (x->w->random_fill)
        return x->w->random_fill(x->w->user, p, len);
    while (done < len) {
        ssize_t n = getrandom(p + done, len - done, 0);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return vm__wasi_errno(errno);
        done += (size_t)n;
    }
    return 0;
}

/* ---- poll_oneoff -------------------------------------------------------- */

#define SUB_SIZE 48
#define EVENT_SIZE 32
enum { EV_CLOCK = 0, EV_FD_READ = 1, EV_FD_WRITE = 2 };

/* One subscription, decoded. */
typedef struct poll_sub {
    uint64_t userdata;
    uint8_t type;
    uint16_t error;     /* set: report this error at once */
    bool ready;         /* fd known ready without polling */
    uint64_t deadline;  /* clock: monotonic ns */
    int pollidx;        /* fd: index into pollfds, or -1 */
    uint64_t nbytes;
} poll_sub;

static void put_event(uint8_t *ev, const poll_sub *s, uint16_t flags)
{
    memset(ev, 0, EVENT_SIZE);
    vm__wasi_st64(ev, s->userdata);
    vm__wasi_st16(ev + 8, s->error);
    ev[10] = s->type;
    if (s->type != EV_CLOCK) {
        vm__wasi_st64(ev + 16, s->nbytes);
        vm__wasi_st16(ev + 24, flags);
    }
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    return a + b < a ? UINT64_MAX : a + b;
}

/* Decode subscription i; adds fd subscriptions that need polling to pfds. */
static int decode_sub(vm__wasi_call *x, const uint8_t *in, uint64_t now,
                      poll_sub *s, struct pollfd *pfds, nfds_t *npfds)
{
    memset(s, 0, sizeof *s);
    s->userdata = vm__wasi_ld64(in);
    s->type = in[8];
    s->pollidx = -1;
    if (s->type == EV_CLOCK) {
        uint32_t id = vm__wasi_ld32(in + 16);
        uint64_t timeout = vm__wasi_ld64(in + 24);
        bool abs = vm__wasi_ld32(in + 40) & 1;
        uint64_t clk;

        if (id == 1 || id == 0) {
            if (!abs) {
                s->deadline = sat_add(now, timeout);
            } else if (id == 1) {
                s->deadline = timeout;
            } else if (clock_now(x->w, 0, &clk) == 0) {
                s->deadline = timeout > clk ? sat_add(now, timeout - clk)
                                            : now;
            }
        } else {
            s->error = VM_WASI_E_notsup; /* CPU-time clocks cannot wake */
        }
        return 0;
    }
    if (s->type == EV_FD_READ || s->type == EV_FD_WRITE) {
        vm__wasi_fd *e = vm__wasi_fd_get(x->w, vm__wasi_ld32(in + 16));
        struct stat st;

        if (!e) {
            s->error = VM_WASI_E_badf;
        } else if (e->host < 0) {
            s->ready = true; /* empty stdin, discarded output */
        } else if (fstat(e->host, &st) == 0 && S_ISREG(st.st_mode)) {
            off_t pos = lseek(e->host, 0, SEEK_CUR);

            s->ready = true; /* files are always ready, as with poll() */
            if (s->type == EV_FD_READ && pos >= 0 && st.st_size > pos)
                s->nbytes = (uint64_t)(st.st_size - pos);
        } else {
            s->pollidx = (int)*npfds;
            pfds[*npfds].fd = e->host;
            pfds[*npfds].events = s->type == EV_FD_READ ? POLLIN : POLLOUT;
            pfds[*npfds].revents = 0;
            (*npfds)++;
        }
        return 0;
    }
    return VM_WASI_E_inval;
}

int vm__wasi_poll_oneoff(vm__wasi_call *x, const vm_val *a)
{
    uint32_t nsubs = (uint32_t)a[2].of.i32;
    const uint8_t *in = vm__wasi_mem(x, (uint32_t)a[0].of.i32,
                                     (uint64_t)nsubs * SUB_SIZE);
    uint8_t *out = vm__wasi_mem(x, (uint32_t)a[1].of.i32,
                                (uint64_t)nsubs * EVENT_SIZE);
    poll_sub *subs = NULL;
    struct pollfd *pfds = NULL;
    nfds_t npfds = 0;
    uint32_t nevents = 0;
    uint64_t now, wake = UINT64_MAX;
    bool immediate = false;
    int rc;

    if (!in || !out || !vm__wasi_mem(x, (uint32_t)a[3].of.i32, 4))
        return VM_WASI_E_fault;
    if (nsubs == 0)
        return VM_WASI_E_inval;
    if ((rc = clock_now(x->w, 1, &now)) != 0)
        return rc;
    subs = vm__calloc(nsubs, sizeof *subs);
    pfds = vm__calloc(nsubs, sizeof *pfds);
    if (!subs || !pfds) {
        rc = VM_WASI_E_nomem;
        goto out;
    }
    for (uint32_t i = 0; i < nsubs; i++) {
        rc = decode_sub(x, in + (size_t)i * SUB_SIZE, now, &subs[i], pfds,
                        &npfds);
        if (rc)
            goto out;
        if (subs[i].error || subs[i].ready)
            immediate = true;
        else if (subs[i].type == EV_CLOCK && subs[i].deadline < wake)
            wake = subs[i].deadline;
    }
    for (;;) {
        struct timespec ts, *tp = NULL;
        int n;

        if (immediate || wake <= now) {
            ts.tv_sec = 0;
            ts.tv_nsec = 0;
            tp = &ts;
        } else if (wake != UINT64_MAX) {
            uint64_t d = wake - now;

            ts.tv_sec = (time_t)(d / 1000000000u);
            ts.tv_nsec = (long)(d % 1000000000u);
            tp = &ts;
        }
        if (npfds == 0 && tp && (tp->tv_sec || tp->tv_nsec)) {
            /* Nothing to watch: sleep on the monotonic clock. */
            n = clock_nanosleep(CLOCK_MONOTONIC, 0, tp, NULL);
            n = n == 0 ? 0 : -1;
            if (n < 0)
                errno = EINTR;
        } else if (npfds == 0 && !tp) {
            rc = VM_WASI_E_inval; /* would sleep forever */
            goto out;
        } else {
            n = ppoll(pfds, npfds, tp, NULL);
        }
        if (n < 0 && errno != EINTR) {
            rc = vm__wasi_errno(errno);
            goto out;
        }
        if ((rc = clock_now(x->w, 1, &now)) != 0)
            goto out;
        if (n > 0 || immediate || wake <= now)
            break;
    }
    for (uint32_t i = 0; i < nsubs; i++) {
        poll_sub *s = &subs[i];
        uint16_t flags = 0;
        bool fire = s->error || s->ready;

        if (!fire && s->type == EV_CLOCK)
            fire = s->deadline <= now;
        if (!fire && s->pollidx >= 0) {
            short re = pfds[s->pollidx].revents;

            fire = re != 0;
            if (re & POLLHUP)
                flags |= 1; /* fd_readwrite_hangup */
            if (re & POLLNVAL)
                s->error = VM_WASI_E_badf;
            if (fire && s->type == EV_FD_READ) {
                int avail = 0;

                if (ioctl(pfds[s->pollidx].fd, FIONREAD, &avail) == 0 &&
                    avail > 0)
                    s->nbytes = (uint64_t)avail;
            }
        }
        if (fire)
            put_event(out + (size_t)nevents++ * EVENT_SIZE, s, flags);
    }
    rc = vm__wasi_put32(x, (uint32_t)a[3].of.i32, nevents);
out:
    vm__free(pfds);
    vm__free(subs);
    return rc;
}

/* ---- Process ------------------------------------------------------------ */

int vm__wasi_proc_exit(vm__wasi_call *x, const vm_val *a)
{
    vm_host_call_set_exit(x->c, a[0].of.i32);
    return VM_ERR_EXIT;
}

/* Signals are not delivered in the sandbox: wasmtime traps ("proc_raise
 * unsupported"); we return `nosys`, which a program can handle (wasi-libc
 * emulates raise() itself and never calls this). */
int vm__wasi_proc_raise(vm__wasi_call *x, const vm_val *a)
{
    return VM_WASI_E_nosys;
}

int vm__wasi_sched_yield(vm__wasi_call *x, const vm_val *a)
{
    sched_yield();
    return 0;
}

/* ---- Sockets ------------------------------------------------------------ */

/*
 * The guest cannot create sockets, and the runtime hands it none, so no
 * socket function can succeed: `badf` for an fd that is not open,
 * `notsock` for one that is not a socket, `notsup` for a socket (a stdio
 * stream that happens to be one).
 */
static int sock_errno(vm__wasi_call *x, uint32_t fd)
{
    vm__wasi_fd *e = vm__wasi_fd_get(x->w, fd);

    if (!e)
        return VM_WASI_E_badf;
    if (e->filetype != VM__WASI_FILETYPE_SOCKET_STREAM &&
        e->filetype != VM__WASI_FILETYPE_SOCKET_DGRAM)
        return VM_WASI_E_notsock;
    return VM_WASI_E_notsup;
}

int vm__wasi_sock_accept(vm__wasi_call *x, const vm_val *a)
{
    return sock_errno(x, (uint32_t)a[0].of.i32);
}

int vm__wasi_sock_recv(vm__wasi_call *x, const vm_val *a)
{
    return sock_errno(x, (uint32_t)a[0].of.i32);
}

int vm__wasi_sock_send(vm__wasi_call *x, const vm_val *a)
{
    return sock_errno(x, (uint32_t)a[0].of.i32);
}

int vm__wasi_sock_shutdown(vm__wasi_call *x, const vm_val *a)
{
    return sock_errno(x, (uint32_t)a[0].of.i32);
}
