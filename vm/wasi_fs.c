/*
 * WASI preview1, part two: file descriptors and paths (fd_*, path_*).
 *
 * The sandbox. A guest path is always relative to a directory fd the
 * guest holds (a preopen or a directory opened beneath one). It is
 * resolved by the kernel with openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_MAGICLINKS): an absolute path, a `..` that climbs above the
 * directory, or a symlink whose target lies outside it fails with EXDEV,
 * which the guest sees as `perm` (wasmtime's answer). Symlinks that stay
 * inside are followed as usual.
 *
 * Operations that do not open their target (mkdir, unlink, rmdir, rename,
 * link, symlink, readlink) open the *parent* directory beneath the guest's
 * fd the same way and then act on the final component with the *at()
 * call. The final component never contains a '/', except trailing
 * slashes kept for the calls that do not follow them (unlink, rename,
 * link's and symlink's new name, mkdir); it is refused (`perm`) when it is
 * `..`. readlink and link of a name with a trailing slash, and anything
 * that follows the final symlink (path_filestat_*, link with
 * SYMLINK_FOLLOW), resolve the whole path with openat2 instead, so that
 * no kernel walk outside openat2 ever follows a symlink.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "module_int.h"
#include "wasi_int.h"

/* ---- Helpers ------------------------------------------------------------ */

/* Open path beneath dirfd; 0 with *out, or a WASI errno. */
static int open_beneath(int dirfd, const char *path, int flags, mode_t mode,
                        int *out)
{
    struct open_how how;

    *out = -1;
    memset(&how, 0, sizeof how);
    how.flags = (uint64_t)(flags | O_CLOEXEC);
    how.mode = (flags & O_CREAT) ? mode : 0;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    for (int tries = 0; tries < 16; tries++) {
        long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how);

        if (fd >= 0) {
            *out = (int)fd;
            return 0;
        }
        if (errno == EAGAIN || errno == EINTR)
            continue; /* a concurrent rename raced the walk: retry */
        if (errno == EXDEV)
            return VM_WASI_E_perm; /* the path leads outside */
        return vm__wasi_errno(errno);
    }
    return VM_WASI_E_again;
}

/* Is s[0..n) valid UTF-8 (no overlongs, surrogates or values > U+10FFFF)? */
static bool utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        uint8_t c = s[i];
        size_t len;
        uint32_t cp;

        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xe0) == 0xc0) {
            len = 2;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + len > n)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
            (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

/* Copy a guest string (path or symlink target) into a new NUL-terminated
 * host string: `fault`, `inval` (contains NUL), `ilseq` (not UTF-8, as
 * wasmtime), `nametoolong`, or 0. */
static int guest_string(vm__wasi_call *x, uint32_t ptr, uint32_t len,
                        char **out)
{
    const uint8_t *p = vm__wasi_mem(x, ptr, len);
    char *s;

    if (!p)
        return VM_WASI_E_fault;
    if (len >= PATH_MAX)
        return VM_WASI_E_nametoolong;
    if (memchr(p, 0, len))
        return VM_WASI_E_inval;
    if (!utf8_valid(p, len))
        return VM_WASI_E_ilseq;
    s = vm__strndup((const char *)p, len);
    if (!s)
        return VM_WASI_E_nomem;
    *out = s;
    return 0;
}

/* The entry of a directory fd: `badf` when not open, `notdir` when it is
 * not a directory. */
static int dir_get(vm__wasi_call *x, uint32_t fd, vm__wasi_fd **out)
{
    vm__wasi_fd *e = vm__wasi_fd_get(x->w, fd);

    if (!e)
        return VM_WASI_E_badf;
    if (e->filetype != VM__WASI_FILETYPE_DIRECTORY || e->host < 0)
        return VM_WASI_E_notdir;
    *out = e;
    return 0;
}

/* A guest path resolved to (parent directory, final component). */
typedef struct split_path {
    char *buf;        /* the whole path, cut at the last '/' */
    const char *name; /* final component (into buf) */
    bool trailing;    /* the path ended in '/' */
    int dirfd;        /* the parent directory, O_PATH; owned */
} split_path;

static void split_close(split_path *sp)
{
    if (sp->dirfd >= 0)
        close(sp->dirfd);
    vm__free(sp->buf);
    sp->dirfd = -1;
    sp->buf = NULL;
}

/*
 * Resolve the parent of a guest path beneath directory fd `fd`. With
 * keep_slash, trailing slashes stay on the name (for the calls that treat
 * them as the kernel does without following anything); without, they are
 * dropped.
 */
static int split_open(vm__wasi_call *x, uint32_t fd, uint32_t ptr,
                      uint32_t len, bool keep_slash, split_path *sp)
{
    vm__wasi_fd *dir;
    size_t end, slash;
    const char *parent = ".";
    int rc;

    sp->buf = NULL;
    sp->dirfd = -1;
    sp->trailing = false;
    if ((rc = dir_get(x, fd, &dir)) != 0)
        return rc;
    if ((rc = guest_string(x, ptr, len, &sp->buf)) != 0)
        return rc;
    if (sp->buf[0] == '/') {
        rc = VM_WASI_E_perm; /* absolute: never beneath anything */
        goto fail;
    }
    end = strlen(sp->buf);
    while (end > 0 && sp->buf[end - 1] == '/')
        end--;
    if (end == 0) {
        rc = VM_WASI_E_noent;
        goto fail;
    }
    sp->trailing = end < strlen(sp->buf);
    slash = end;
    while (slash > 0 && sp->buf[slash - 1] != '/')
        slash--;
    if (end - slash == 2 && memcmp(sp->buf + slash, "..", 2) == 0) {
        rc = VM_WASI_E_perm;
        goto fail;
    }
    if (!keep_slash)
        sp->buf[end] = '\0';
    sp->name = sp->buf + slash;
    if (slash > 0) {
        sp->buf[slash - 1] = '\0';
        parent = sp->buf;
    }
    rc = open_beneath(dir->host, parent, O_PATH | O_DIRECTORY, 0, &sp->dirfd);
    if (rc)
        goto fail;
    return 0;
fail:
    split_close(sp);
    return rc;
}

/* Resolve a whole guest path beneath fd with open flags; `*out` owned. */
static int path_open_fd(vm__wasi_call *x, uint32_t fd, uint32_t ptr,
                        uint32_t len, int flags, int *out)
{
    vm__wasi_fd *dir;
    char *path;
    int rc;

    if ((rc = dir_get(x, fd, &dir)) != 0)
        return rc;
    if ((rc = guest_string(x, ptr, len, &path)) != 0)
        return rc;
    rc = open_beneath(dir->host, path, flags, 0, out);
    vm__free(path);
    return rc;
}

static void put_filestat(uint8_t *p, const struct stat *st)
{
    memset(p, 0, 64);
    vm__wasi_st64(p, (uint64_t)st->st_dev);
    vm__wasi_st64(p + 8, (uint64_t)st->st_ino);
    p[16] = vm__wasi_filetype(st->st_mode);
    vm__wasi_st64(p + 24, (uint64_t)st->st_nlink);
    vm__wasi_st64(p + 32, (uint64_t)st->st_size);
    vm__wasi_st64(p + 40, (uint64_t)st->st_atim.tv_sec * 1000000000u +
                              (uint64_t)st->st_atim.tv_nsec);
    vm__wasi_st64(p + 48, (uint64_t)st->st_mtim.tv_sec * 1000000000u +
                              (uint64_t)st->st_mtim.tv_nsec);
    vm__wasi_st64(p + 56, (uint64_t)st->st_ctim.tv_sec * 1000000000u +
                              (uint64_t)st->st_ctim.tv_nsec);
}

/* fstflags + times -> utimensat's pair; `inval` for contradictory flags. */
static int make_times(uint64_t atim, uint64_t mtim, uint32_t fst,
                      struct timespec ts[2])
{
    if (fst & ~0xfu)
        return VM_WASI_E_inval;
    if (((fst & VM__WASI_FST_ATIM) && (fst & VM__WASI_FST_ATIM_NOW)) ||
        ((fst & VM__WASI_FST_MTIM) && (fst & VM__WASI_FST_MTIM_NOW)))
        return VM_WASI_E_inval;
    for (int i = 0; i < 2; i++) {
        uint32_t set = i ? VM__WASI_FST_MTIM : VM__WASI_FST_ATIM;
        uint32_t now = i ? VM__WASI_FST_MTIM_NOW : VM__WASI_FST_ATIM_NOW;
        uint64_t t = i ? mtim : atim;

        if (fst & now) {
            ts[i].tv_sec = 0;
            ts[i].tv_nsec = UTIME_NOW;
        } else if (fst & set) {
            ts[i].tv_sec = (time_t)(t / 1000000000u);
            ts[i].tv_nsec = (long)(t % 1000000000u);
        } else {
            ts[i].tv_sec = 0;
            ts[i].tv_nsec = UTIME_OMIT;
        }
    }
    return 0;
}

/* Set times on the file an fd refers to, O_PATH fds included (futimens
 * refuses those; the /proc/self/fd link reaches the same inode and is
 * never a path the guest chose). */
static int fd_utimens(int host, const struct timespec ts[2])
{
    char proc[64];

    if (futimens(host, ts) == 0)
        return 0;
    if (errno != EBADF)
        return vm__wasi_errno(errno);
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", host);
    if (utimensat(AT_FDCWD, proc, ts, 0) < 0)
        return vm__wasi_errno(errno);
    return 0;
}

/* Gather guest iovecs into host ones. *iov is inline when n is small. */
static int gather_iovs(vm__wasi_call *x, uint32_t ptr, uint32_t n,
                       struct iovec *inline_iov, size_t ninline,
                       struct iovec **iov, size_t *total)
{
    const uint8_t *p = vm__wasi_mem(x, ptr, (uint64_t)n * 8);
    struct iovec *v = inline_iov;

    *total = 0;
    if (!p)
        return VM_WASI_E_fault;
    if (n > VM__WASI_MAX_IOVS)
        return VM_WASI_E_inval;
    if (n > ninline && !(v = vm__malloc(n * sizeof *v)))
        return VM_WASI_E_nomem;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t buf = vm__wasi_ld32(p + 8 * i);
        uint32_t len = vm__wasi_ld32(p + 8 * i + 4);
        uint8_t *b = vm__wasi_mem(x, buf, len);

        if (!b) {
            if (v != inline_iov)
                vm__free(v);
            return VM_WASI_E_fault;
        }
        v[i].iov_base = b;
        v[i].iov_len = len;
        *total += len;
    }
    *iov = v;
    return 0;
}

#define INLINE_IOVS 8

/* ---- fd_* ---------------------------------------------------------------- */

int vm__wasi_fd_advise(vm__wasi_call *x, const vm_val *a)
{
    static const int advice[] = {POSIX_FADV_NORMAL, POSIX_FADV_SEQUENTIAL,
                                 POSIX_FADV_RANDOM, POSIX_FADV_WILLNEED,
                                 POSIX_FADV_DONTNEED, POSIX_FADV_NOREUSE};
    vm__wasi_fd *e = vm__wasi_fd_get(x->w, (uint32_t)a[0].of.i32);
    uint32_t adv = (uint32_t)a[3].of.i32;
    int rc;

    if (!e)
        return VM_WASI_E_badf;
    if (adv > 5 || a[1].of.i64 < 0 || a[2].of.i64 < 0)
        return VM_WASI_E_inval;
    if (e->filetype == VM__WASI_FILETYPE_DIRECTORY)
        return VM_WASI_E_badf;
    if (e->host < 0)
        return VM_WASI_E_spipe;
    rc = posix_fadvise(e->host, a[1].of.i64, a[2].of.i64, advice[adv]);
    return rc ? vm__wasi_errno(rc) : 0;
}

int vm__wasi_fd_allocate(vm__wasi_call *x, const vm_val *a)
{
    vm__wasi_fd *e = vm__wasi_fd_get(x->w, (uint32_t)a[0].of.i32);
    int rc;

    if (!e || !e->writable)
        return VM_WASI_E_badf;
    if (a[1].of.i64 < 0 || a[2].of.i64 <= 0)
        return VM_WASI_E_inval;
    if (e->host < 0)
        return VM_WASI_E_spipe;
    rc = posix_fallocate(e->host, a[1].of.i64, a[2].of.i64);
    return rc ? vm__wasi_errno(rc) : 0;
}

int vm__wasi_fd_close(vm__wasi_call *x, const vm_val *a)
{
    vm__wasi_fd *e = vm__wasi_fd_get(x->w, (uint32_t)a[0].of.i32);

    if (!e)
        return VM_WASI_E_badf;
    vm__wasi_fd_release(e);
    return 0;
}

static int sync_fd(vm__wasi_call *x, uint32_t fd, bool data_only)
{
    vm__wasi_fd *e = vm__wasi_fd_get(x->w, fd);

    if (!e)
        return VM_WASI_E_badf;
    if (e->host < 0)
        return VM_WASI_E_inval;
    if ((data_only ? fdatasync(e->host) : fsync(e->host)) < 0)
        return vm__wasi_errno(errno);
    return 0;
}

int vm__wasi_fd_datasync(vm__wasi_call *x, const vm_val *a)
{
    return sync_fd(x, (uint32_t)a[0].of.i32, true);
}

int vm__wasi_fd_sync(vm__wasi_call *x, const vm_val *a)
{
    return sync_fd(x, (uint32_t)a[0].of.i32, false);
}

int vm__wasi_fd_fdstat_get(vm__wasi_call *x, const vm_val *a)
{
    vm__wasi_fd *e = vm__wasi_fd_get(x->w, (uint32_t)a[0].of.i32);
    uint8_t *p = vm__wasi_mem(x, (uint32_t)a[1].of.i32, 24);
    uint16_t flags = 0;
    int fl;

    if (!e)
        return VM_WASI_E_badf;
    if (!p)
        return VM_WASI_E_fault;
    if (e->host >= 0 && (fl = fcntl(e->host, F_GETFL)) >= 0) {
        if (fl & O_APPEND)
            flags |= VM__WASI_FDFLAG_APPEND;
        if (fl & O_NONBLOCK)
            flags |= VM__WASI_FDFLAG_NONBLOCK;
        if ((fl & O_SYNC) == O_SYNC)
            flags |= VM__WASI_FDFLAG_SYNC;
        else if (fl & O_DSYNC)
            flags |= VM__WASI_FDFLAG_DSYNC;
    }
    memset(p, 0, 24);
    p[0] = e->filetype;
    vm__wasi_st16(p + 2, flags);
    vm__wasi_st64(p + 8, e->rights_base);
    vm__wasi_st64(p + 16, e->rights_inheriting);
    return 0;
}

int vm__wasi_fd_fdstat_set_flags(vm__wasi_call *x, const vm_val *a)
{
    vm__wasi_fd *e = vm__wasi_fd_get(x->w, (uint32_t)a[0].of.i32);
    uint32_t flags = (uint32_t)a[1].of.i32;
    int fl;

    if (!e)
        return VM_WASI_E_badf;
    if (flags & ~0x1fu)
        return VM_WASI_E_inval;
    /* Linux cannot change the sync flags of an open file. */
    if (flags & (VM__WASI_FDFLAG_DSYNC | VM__WASI_FDFLAG_RSYNC |
                 VM__WASI_FDFLAG_SYNC))
        return VM_WASI_E_notsup;
    if (e->host < 0)
        return 0;
    if ((fl = fcntl(e->host, F_GETFL)) < 0)
        return vm__wasi_errno(errno);
    fl &= ~(O_APPEND | O_NONBLOCK);
    if (flags & VM__WASI_FDFLAG_APPEND)
        fl |= O_APPEND;
    if (flags & VM__WASI_FDFLAG_NONBLOCK)
        fl |= O_NONBLOCK;
    if (fcntl(e->host, F_SETFL, fl) < 0)
        return vm__wasi_errno(errno);
    return 0;
}

int vm__wasi_fd_fdstat_set_rights(vm__wasi_call *x, const vm_val *a)
{
    vm__wasi_fd *e = vm__wasi_fd_get(x->w, (uint32_t)a[0].of.i32);
    uint64_t base = (uint64_t)a[1].of.i64, inh = (uint64_t)a[2].of.i64;

    if (!e)
        return VM_WASI_E_badf;
    /* Rights can only be dropped, never gained. */
    if ((base & ~e->rights_base) || (inh & ~e->rights_inheriting))
        return VM_WASI_E_notcapable;
    e->rights_base = base;
    e->rights_inheriting = inh;
    return 0;
}

int vm__wasi_fd_filestat_get(vm__wasi_call *x, const vm_val *a)
{
    vm__wasi_fd *e = vm__wasi_fd_get(x->w, (uint32_t)a[0].of.i32);
    uint8_t *p = vm__wasi_mem(x, (uint32_t)a[1].of.i32, 64);
    struct stat st;

    if (!e)
        return VM_WASI_E_badf;
    if (!p)
        return VM_WASI_E_fault;
    if (e->host < 0) {
        memset(p, 0, 64);
        p[16] = e->filetype;
        return 0;
    }
    if (fstat(e->host, &st) < 0)
        return vm__wasi_errno(errno);
    put_filestat(p, &st);
    return 0;
}

int vm__wasi_fd_filestat_set_size(vm__wasi_call *x, const vm_val *a)
{
    vm__wasi_fd *e = vm__wasi_fd_get(x->w, (uint32_t)a[0].of.i32);

    if (!e)
        return VM_WASI_E_badf;
    if (a[1].of.i64 < 0)
        return VM_WASI_E_inval;
    if (e->host < 0 || !e->writable)
        return VM_WASI_E_inval; /* as ftruncate() on a read-only fd */
    if (ftruncate(e->host, a[1].of.i64) < 0)
        return vm__wasi_errno(errno);
    return 0;
}

int vm__wasi_fd_filestat_set_times(vm__wasi_call *x, const vm_val *a)
{
    vm__wasi_fd *e = vm__wasi_fd_get(x->w, (uint32_t)a[0].of.i32);
    struct timespec ts[2];
    int rc;

    if (!e)
        return VM_WASI_E_badf;
    rc = make_times((uint64_t)a[1].of.i64, (uint64_t)a[2].of.i64,
                    (uint32_t)a[3].of.i32, ts);
    if (rc)
        return rc;
    if (e->host < 0)
        return VM_WASI_E_badf;
    return fd_utimens(e->host, ts);
}

/* Read into iovecs at the current position (offset < 0) or at offset. */
static int do_read(vm__wasi_call *x, uint32_t fd, uint32_t iovs, uint32_t n,
                   int64_t offset, uint32_t nread_ptr)
{
    vm__wasi_fd *e = vm__wasi_fd_get(x->w, fd);
    struct iovec inline_iov[INLINE_IOVS], *iov;
    size_t total;
    ssize_t got;
    int rc;

    if (!e || !e->readable)
        return VM_WASI_E_badf;
    if (e->filetype == VM__WASI_FILETYPE_DIRECTORY)
        return VM_WASI_E_isdir;
    if (!vm__wasi_mem(x, nread_ptr, 4))
        return VM_WASI_E_fault;
    rc = gather_iovs(x, iovs, n, inline_iov, INLINE_IOVS, &iov, &total);
    if (rc)
        return rc;
    if (e->host < 0) {
        got = offset >= 0 ? -1 : 0; /* empty stdin: end of file */
        errno = ESPIPE;
    } else {
        do
            got = offset >= 0 ? preadv(e->host, iov, (int)n, offset)
                              : readv(e->host, iov, (int)n);
        while (got < 0 && errno == EINTR);
    }
    rc = got < 0 ? vm__wasi_errno(errno)
                 : vm__wasi_put32(x, nread_ptr, (uint32_t)got);
    if (iov != inline_iov)
        vm__free(iov);
    return rc;
}

int vm__wasi_fd_read(vm__wasi_call *x, const vm_val *a)
{
    return do_read(x, (uint32_t)a[0].of.i32, (uint32_t)a[1].of.i32,
                   (uint32_t)a[2].of.i32, -1, (uint32_t)a[3].of.i32);
}

int vm__wasi_fd_pread(vm__wasi_call *x, const vm_val *a)
{
    if (a[3].of.i64 < 0)
        return VM_WASI_E_inval;
    return do_read(x, (uint32_t)a[0].of.i32, (uint32_t)a[1].of.i32,
                   (uint32_t)a[2].of.i32, a[3].of.i64, (uint32_t)a[4].of.i32);
}

/* Write all of buf to a stream's host fd, however many calls it takes. */
static int write_all(int fd, const uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return vm__wasi_errno(errno);
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/*
 * The stdout/stderr streams: the output callback sees every byte, in
 * order, then the host fd gets them all (a short write would leave the
 * callback and the fd disagreeing, so a stream write is all or error).
 */
static int stream_write(vm__wasi_call *x, vm__wasi_fd *e,
                        const struct iovec *iov, uint32_t n, size_t total)
{
    vm_wasi *w = x->w;

    for (uint32_t i = 0; i < n; i++) {
        if (w->on_output && iov[i].iov_len)
            w->on_output(w->user, e->stream, iov[i].iov_base,
                         iov[i].iov_len);
        if (!w->capture_only && e->host >= 0) {
            int rc = write_all(e->host, iov[i].iov_base, iov[i].iov_len);

            if (rc)
                return -rc;
        }
    }
    return (int)(total > INT32_MAX ? INT32_MAX : total);
}

static int do_write(vm__wasi_call *x, uint32_t fd, uint32_t iovs, uint32_t n,
                    int64_t offset, uint32_t nwritten_ptr)
{
    vm__wasi_fd *e = vm__wasi_fd_get(x->w, fd);
    struct iovec inline_iov[INLINE_IOVS], *iov;
    size_t total;
    ssize_t put;
    int rc;

    if (!e || !e->writable)
        return VM_WASI_E_badf;
    if (!vm__wasi_mem(x, nwritten_ptr, 4))
        return VM_WASI_E_fault;
    rc = gather_iovs(x, iovs, n, inline_iov, INLINE_IOVS, &iov, &total);
    if (rc)
        return rc;
    if (e->stream > 0 && offset >= 0) {
        put = -1; /* streams have no positions */
        errno = ESPIPE;
    } else if (e->stream > 0) {
        int r = stream_write(x, e, iov, n, total);

        put = r;
        if (r < 0) {
            rc = -r;
            goto out;
        }
    } else if (e->host < 0) {
        put = (ssize_t)total;
    } else {
        do
            put = offset >= 0 ? pwritev(e->host, iov, (int)n, offset)
                              : writev(e->host, iov, (int)n);
        while (put < 0 && errno == EINTR);
    }
    rc = put < 0 ? vm__wasi_errno(errno)
                 : vm__wasi_put32(x, nwritten_ptr, (uint32_t)put);
out:
    if (iov != inline_iov)
        vm__free(iov);
    return rc;
}

int vm__wasi_fd_write(vm__wasi_call *x, const vm_val *a)
{
    return do_write(x, (uint32_t)a[0].of.i32, (uint32_t)a[1].of.i32,
                    (uint32_t)a[2].of.i32, -1, (uint32_t)a[3].of.i32);
}

int vm__wasi_fd_pwrite(vm__wasi_call *x, const vm_val *a)
{
    if (a[3].of.i64 < 0)
        return VM_WASI_E_inval;
    return do_write(x, (uint32_t)a[0].of.i32, (uint32_t)a[1].of.i32,
                    (uint32_t)a[2].of.i32, a[3].of.i64, (uint32_t)a[4].of.i32);
}

int vm__wasi_fd_prestat_get(vm__wasi_call *x, const vm_val *a)
{
    vm__wasi_fd *e = vm__wasi_fd_get(x->w, (uint32_t)a[0].of.i32);
    uint8_t *p = vm__wasi_mem(x, (uint32_t)a[1].of.i32, 8);

    if (!e || !e->preopen)
        return VM_WASI_E_badf;
    if (!p)
        return VM_WASI_E_fault;
    memset(p, 0, 8); /* tag 0: a directory */
    vm__wasi_st32(p + 4, (uint32_t)strlen(e->preopen));
    return 0;
}

int vm__wasi_fd_prestat_dir_name(vm__wasi_call *x, const vm_val *a)
{
    vm__wasi_fd *e = vm__wasi_fd_get(x->w, (uint32_t)a[0].of.i32);
    uint32_t len = (uint32_t)a[2].of.i32;
    uint8_t *p = vm__wasi_mem(x, (uint32_t)a[1].of.i32, len);
    size_t n;

    if (!e || !e->preopen)
        return VM_WASI_E_badf;
    if (!p)
        return VM_WASI_E_fault;
    n = strlen(e->preopen);
    if (len < n)
        return VM_WASI_E_nametoolong;
    memcpy(p, e->preopen, n);
    return 0;
}

/* Linux's getdents64 record. */
struct linux_dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

static uint8_t dirent_type(int dirfd, const struct linux_dirent64 *d)
{
    struct stat st;

    switch (d->d_type) {
    case DT_REG: return VM__WASI_FILETYPE_REGULAR_FILE;
    case DT_DIR: return VM__WASI_FILETYPE_DIRECTORY;
    case DT_LNK: return VM__WASI_FILETYPE_SYMBOLIC_LINK;
    case DT_CHR: return VM__WASI_FILETYPE_CHARACTER_DEVICE;
    case DT_BLK: return VM__WASI_FILETYPE_BLOCK_DEVICE;
    case DT_SOCK: return VM__WASI_FILETYPE_SOCKET_STREAM;
    case DT_UNKNOWN:
        if (fstatat(dirfd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
            return vm__wasi_filetype(st.st_mode);
        break;
    }
    return VM__WASI_FILETYPE_UNKNOWN;
}

/*
 * fd_readdir: cookies are the kernel's directory offsets (d_off), so a
 * cookie is a position lseek() accepts; 0 is the start. The buffer is
 * filled completely when more entries remain, the last one cut short,
 * which is how the guest knows to call again (bufused < buf_len means
 * the end).
 */
int vm__wasi_fd_readdir(vm__wasi_call *x, const vm_val *a)
{
    vm__wasi_fd *e = vm__wasi_fd_get(x->w, (uint32_t)a[0].of.i32);
    uint32_t buf_len = (uint32_t)a[2].of.i32;
    uint8_t *out = vm__wasi_mem(x, (uint32_t)a[1].of.i32, buf_len);
    uint64_t cookie = (uint64_t)a[3].of.i64;
    uint32_t used = 0;
    char *dents;
    int rc = 0;

    if (!e || !e->readable)
        return VM_WASI_E_badf;
    if (e->filetype != VM__WASI_FILETYPE_DIRECTORY)
        return VM_WASI_E_notdir;
    if (!out || !vm__wasi_mem(x, (uint32_t)a[4].of.i32, 4))
        return VM_WASI_E_fault;
    if (cookie > INT64_MAX ||
        lseek(e->host, (off_t)cookie, SEEK_SET) < 0)
        return cookie > INT64_MAX ? VM_WASI_E_inval : vm__wasi_errno(errno);
    dents = vm__malloc(32768);
    if (!dents)
        return VM_WASI_E_nomem;
    while (used < buf_len) {
        long n = syscall(SYS_getdents64, e->host, dents, 32768);

        if (n < 0) {
            rc = vm__wasi_errno(errno);
            goto out;
        }
        if (n == 0)
            break;
        for (long off = 0; off < n && used < buf_len;) {
            struct linux_dirent64 *d = (void *)(dents + off);
            size_t namlen = strlen(d->d_name);
            uint8_t head[24];
            uint32_t take;

            memset(head, 0, sizeof head);
            vm__wasi_st64(head, (uint64_t)d->d_off);
            vm__wasi_st64(head + 8, d->d_ino);
            vm__wasi_st32(head + 16, (uint32_t)namlen);
            head[20] = dirent_type(e->host, d);
            take = buf_len - used < 24 ? buf_len - used : 24;
            memcpy(out + used, head, take);
            used += take;
            take = buf_len - used < namlen ? buf_len - used
                                           : (uint32_t)namlen;
            memcpy(out + used, d->d_name, take);
            used += take;
            off += d->d_reclen;
        }
    }
    rc = vm__wasi_put32(x, (uint32_t)a[4].of.i32, used);
out:
    vm__free(dents);
    return rc;
}

int vm__wasi_fd_renumber(vm__wasi_call *x, const vm_val *a)
{
    vm__wasi_fd *from = vm__wasi_fd_get(x->w, (uint32_t)a[0].of.i32);
    vm__wasi_fd *to = vm__wasi_fd_get(x->w, (uint32_t)a[1].of.i32);

    if (!from || !to)
        return VM_WASI_E_badf;
    if (from == to)
        return 0;
    vm__wasi_fd_release(to);
    *to = *from;
    memset(from, 0, sizeof *from);
    from->host = -1;
    return 0;
}

int vm__wasi_fd_seek(vm__wasi_call *x, const vm_val *a)
{
    static const int whence[] = {SEEK_SET, SEEK_CUR, SEEK_END};
    vm__wasi_fd *e = vm__wasi_fd_get(x->w, (uint32_t)a[0].of.i32);
    uint32_t wh = (uint32_t)a[2].of.i32;
    off_t pos;

    if (!e)
        return VM_WASI_E_badf;
    if (wh > 2)
        return VM_WASI_E_inval;
    if (!vm__wasi_mem(x, (uint32_t)a[3].of.i32, 8))
        return VM_WASI_E_fault;
    if (e->host < 0 || e->stream > 0)
        return VM_WASI_E_spipe;
    if (e->filetype == VM__WASI_FILETYPE_DIRECTORY)
        return VM_WASI_E_badf; /* directories are read with cookies */
    pos = lseek(e->host, a[1].of.i64, whence[wh]);
    if (pos < 0)
        return vm__wasi_errno(errno);
    return vm__wasi_put64(x, (uint32_t)a[3].of.i32, (uint64_t)pos);
}

int vm__wasi_fd_tell(vm__wasi_call *x, const vm_val *a)
{
    vm__wasi_fd *e = vm__wasi_fd_get(x->w, (uint32_t)a[0].of.i32);
    off_t pos;

    if (!e)
        return VM_WASI_E_badf;
    if (!vm__wasi_mem(x, (uint32_t)a[1].of.i32, 8))
        return VM_WASI_E_fault;
    if (e->host < 0 || e->stream > 0)
        return VM_WASI_E_spipe;
    if (e->filetype == VM__WASI_FILETYPE_DIRECTORY)
        return VM_WASI_E_badf;
    pos = lseek(e->host, 0, SEEK_CUR);
    if (pos < 0)
        return vm__wasi_errno(errno);
    return vm__wasi_put64(x, (uint32_t)a[1].of.i32, (uint64_t)pos);
}

/* ---- path_* ------------------------------------------------------------- */

int vm__wasi_path_create_directory(vm__wasi_call *x, const vm_val *a)
{
    split_path sp;
    int rc = split_open(x, (uint32_t)a[0].of.i32, (uint32_t)a[1].of.i32,
                        (uint32_t)a[2].of.i32, false, &sp);

    if (rc)
        return rc;
    if (mkdirat(sp.dirfd, sp.name, 0777) < 0)
        rc = vm__wasi_errno(errno);
    split_close(&sp);
    return rc;
}

int vm__wasi_path_filestat_get(vm__wasi_call *x, const vm_val *a)
{
    bool follow = (uint32_t)a[1].of.i32 & VM__WASI_LOOKUP_SYMLINK_FOLLOW;
    uint8_t *p = vm__wasi_mem(x, (uint32_t)a[4].of.i32, 64);
    struct stat st;
    int fd, rc;

    if (!p)
        return VM_WASI_E_fault;
    rc = path_open_fd(x, (uint32_t)a[0].of.i32, (uint32_t)a[2].of.i32,
                      (uint32_t)a[3].of.i32,
                      O_PATH | (follow ? 0 : O_NOFOLLOW), &fd);
    if (rc)
        return rc;
    if (fstat(fd, &st) < 0)
        rc = vm__wasi_errno(errno);
    else
        put_filestat(p, &st);
    close(fd);
    return rc;
}

int vm__wasi_path_filestat_set_times(vm__wasi_call *x, const vm_val *a)
{
    bool follow = (uint32_t)a[1].of.i32 & VM__WASI_LOOKUP_SYMLINK_FOLLOW;
    struct timespec ts[2];
    struct stat st;
    int fd, rc;

    rc = make_times((uint64_t)a[4].of.i64, (uint64_t)a[5].of.i64,
                    (uint32_t)a[6].of.i32, ts);
    if (rc)
        return rc;
    rc = path_open_fd(x, (uint32_t)a[0].of.i32, (uint32_t)a[2].of.i32,
                      (uint32_t)a[3].of.i32,
                      O_PATH | (follow ? 0 : O_NOFOLLOW), &fd);
    if (rc)
        return rc;
    if (fstat(fd, &st) == 0 && S_ISLNK(st.st_mode)) {
        /* The link itself: act on the final name in its parent (no
         * trailing slash here, or the walk would have followed it). */
        split_path sp;

        rc = split_open(x, (uint32_t)a[0].of.i32, (uint32_t)a[2].of.i32,
                        (uint32_t)a[3].of.i32, false, &sp);
        if (rc == 0) {
            if (utimensat(sp.dirfd, sp.name, ts, AT_SYMLINK_NOFOLLOW) < 0)
                rc = vm__wasi_errno(errno);
            split_close(&sp);
        }
    } else {
        rc = fd_utimens(fd, ts);
    }
    close(fd);
    return rc;
}

/* A name with a trailing slash names a directory, which readlink and link
 * cannot take: resolve it safely for the errno the kernel would give. */
static int trailing_slash_errno(vm__wasi_call *x, uint32_t fd, uint32_t ptr,
                                uint32_t len, int when_dir)
{
    int dfd, rc = path_open_fd(x, fd, ptr, len, O_PATH | O_DIRECTORY, &dfd);

    if (rc)
        return rc;
    close(dfd);
    return when_dir;
}

int vm__wasi_path_link(vm__wasi_call *x, const vm_val *a)
{
    uint32_t old_fd = (uint32_t)a[0].of.i32;
    bool follow = (uint32_t)a[1].of.i32 & VM__WASI_LOOKUP_SYMLINK_FOLLOW;
    uint32_t old_ptr = (uint32_t)a[2].of.i32, old_len = (uint32_t)a[3].of.i32;
    split_path from, to;
    int rc;

    rc = split_open(x, (uint32_t)a[4].of.i32, (uint32_t)a[5].of.i32,
                    (uint32_t)a[6].of.i32, true, &to);
    if (rc)
        return rc;
    if (follow) {
        /* Link whatever the path resolves to beneath old_fd: through the
         * fd's /proc link, so the kernel follows nothing the guest named. */
        char proc[64];
        int fd;

        rc = path_open_fd(x, old_fd, old_ptr, old_len, O_PATH, &fd);
        if (rc == 0) {
            snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
            if (linkat(AT_FDCWD, proc, to.dirfd, to.name,
                       AT_SYMLINK_FOLLOW) < 0)
                rc = vm__wasi_errno(errno);
            close(fd);
        }
    } else if ((rc = split_open(x, old_fd, old_ptr, old_len, false,
                                &from)) == 0) {
        if (from.trailing) {
            rc = trailing_slash_errno(x, old_fd, old_ptr, old_len,
                                      VM_WASI_E_perm);
        } else if (linkat(from.dirfd, from.name, to.dirfd, to.name, 0) < 0) {
            rc = vm__wasi_errno(errno);
        }
        split_close(&from);
    }
    split_close(&to);
    return rc;
}

int vm__wasi_path_open(vm__wasi_call *x, const vm_val *a)
{
    uint32_t dirflags = (uint32_t)a[1].of.i32;
    uint32_t oflags = (uint32_t)a[4].of.i32;
    uint64_t rights = (uint64_t)a[5].of.i64;
    uint64_t inheriting = (uint64_t)a[6].of.i64;
    uint32_t fdflags = (uint32_t)a[7].of.i32;
    uint32_t out_ptr = (uint32_t)a[8].of.i32;
    bool readable = rights & VM__WASI_RIGHTS_READ;
    bool writable = rights & VM__WASI_RIGHTS_WRITE;
    vm__wasi_fd *dir, *e;
    struct stat st;
    uint32_t fd;
    int flags = 0, host, rc;

    if ((rc = dir_get(x, (uint32_t)a[0].of.i32, &dir)) != 0)
        return rc;
    if (!vm__wasi_mem(x, out_ptr, 4))
        return VM_WASI_E_fault;
    if ((oflags & ~0xfu) || (fdflags & ~0x1fu))
        return VM_WASI_E_inval;
    if (oflags & VM__WASI_O_CREAT)
        flags |= O_CREAT;
    if (oflags & VM__WASI_O_DIRECTORY)
        flags |= O_DIRECTORY;
    if (oflags & VM__WASI_O_EXCL)
        flags |= O_EXCL;
    if (oflags & VM__WASI_O_TRUNC)
        flags |= O_TRUNC;
    if (fdflags & VM__WASI_FDFLAG_APPEND)
        flags |= O_APPEND;
    if (fdflags & VM__WASI_FDFLAG_DSYNC)
        flags |= O_DSYNC;
    if (fdflags & VM__WASI_FDFLAG_NONBLOCK)
        flags |= O_NONBLOCK;
    if (fdflags & VM__WASI_FDFLAG_RSYNC)
        flags |= O_RSYNC;
    if (fdflags & VM__WASI_FDFLAG_SYNC)
        flags |= O_SYNC;
    if (!(dirflags & VM__WASI_LOOKUP_SYMLINK_FOLLOW))
        flags |= O_NOFOLLOW;
    if (readable && writable)
        flags |= O_RDWR;
    else if (writable)
        flags |= O_WRONLY;
    else if (!readable && !(flags & (O_CREAT | O_TRUNC)))
        flags = O_PATH | (flags & (O_DIRECTORY | O_NOFOLLOW));
    /* else O_RDONLY (0) */
    {
        char *path;

        if ((rc = guest_string(x, (uint32_t)a[2].of.i32,
                               (uint32_t)a[3].of.i32, &path)) != 0)
            return rc;
        rc = open_beneath(dir->host, path, flags, 0666, &host);
        vm__free(path);
        if (rc)
            return rc;
    }
    if (fstat(host, &st) < 0) {
        rc = vm__wasi_errno(errno);
        close(host);
        return rc;
    }
    if ((rc = vm__wasi_fd_alloc(x->w, &fd)) != 0) {
        close(host);
        return rc;
    }
    dir = NULL; /* the table may have moved */
    e = &x->w->fds[fd];
    memset(e, 0, sizeof *e);
    e->open = true;
    e->owned = true;
    e->readable = readable && !(flags & O_PATH);
    e->writable = writable;
    e->stream = -1;
    e->host = host;
    e->filetype = vm__wasi_filetype(st.st_mode);
    e->rights_base = rights & vm__wasi_type_rights(e->filetype, e->readable,
                                                   e->writable);
    e->rights_inheriting = inheriting;
    return vm__wasi_put32(x, out_ptr, fd);
}

int vm__wasi_path_readlink(vm__wasi_call *x, const vm_val *a)
{
    uint32_t buf_len = (uint32_t)a[4].of.i32;
    uint8_t *buf = vm__wasi_mem(x, (uint32_t)a[3].of.i32, buf_len);
    split_path sp;
    ssize_t n;
    int rc;

    if (!buf || !vm__wasi_mem(x, (uint32_t)a[5].of.i32, 4))
        return VM_WASI_E_fault;
    rc = split_open(x, (uint32_t)a[0].of.i32, (uint32_t)a[1].of.i32,
                    (uint32_t)a[2].of.i32, false, &sp);
    if (rc)
        return rc;
    if (sp.trailing) {
        rc = trailing_slash_errno(x, (uint32_t)a[0].of.i32,
                                  (uint32_t)a[1].of.i32,
                                  (uint32_t)a[2].of.i32, VM_WASI_E_inval);
    } else if ((n = readlinkat(sp.dirfd, sp.name, (char *)buf, buf_len)) < 0) {
        rc = vm__wasi_errno(errno);
    } else {
        /* A target longer than the buffer is cut, as readlink() does. */
        rc = vm__wasi_put32(x, (uint32_t)a[5].of.i32, (uint32_t)n);
    }
    split_close(&sp);
    return rc;
}

int vm__wasi_path_remove_directory(vm__wasi_call *x, const vm_val *a)
{
    split_path sp;
    int rc = split_open(x, (uint32_t)a[0].of.i32, (uint32_t)a[1].of.i32,
                        (uint32_t)a[2].of.i32, false, &sp);

    if (rc)
        return rc;
    if (unlinkat(sp.dirfd, sp.name, AT_REMOVEDIR) < 0)
        rc = vm__wasi_errno(errno);
    split_close(&sp);
    return rc;
}

int vm__wasi_path_rename(vm__wasi_call *x, const vm_val *a)
{
    split_path from, to;
    int rc = split_open(x, (uint32_t)a[0].of.i32, (uint32_t)a[1].of.i32,
                        (uint32_t)a[2].of.i32, true, &from);

    if (rc)
        return rc;
    rc = split_open(x, (uint32_t)a[3].of.i32, (uint32_t)a[4].of.i32,
                    (uint32_t)a[5].of.i32, true, &to);
    if (rc == 0) {
        if (renameat(from.dirfd, from.name, to.dirfd, to.name) < 0)
            rc = vm__wasi_errno(errno);
        split_close(&to);
    }
    split_close(&from);
    return rc;
}

int vm__wasi_path_symlink(vm__wasi_call *x, const vm_val *a)
{
    split_path sp;
    char *target;
    int rc;

    /* The target is data: any string, even absolute or climbing, may be
     * stored; following it later is what the sandbox checks. */
    rc = guest_string(x, (uint32_t)a[0].of.i32, (uint32_t)a[1].of.i32,
                      &target);
    if (rc)
        return rc;
    rc = split_open(x, (uint32_t)a[2].of.i32, (uint32_t)a[3].of.i32,
                    (uint32_t)a[4].of.i32, true, &sp);
    if (rc == 0) {
        if (symlinkat(target, sp.dirfd, sp.name) < 0)
            rc = vm__wasi_errno(errno);
        split_close(&sp);
    }
    vm__free(target);
    return rc;
}

int vm__wasi_path_unlink_file(vm__wasi_call *x, const vm_val *a)
{
    split_path sp;
    int rc = split_open(x, (uint32_t)a[0].of.i32, (uint32_t)a[1].of.i32,
                        (uint32_t)a[2].of.i32, true, &sp);

    if (rc)
        return rc;
    if (unlinkat(sp.dirfd, sp.name, 0) < 0)
        rc = vm__wasi_errno(errno);
    split_close(&sp);
    return rc;
}
