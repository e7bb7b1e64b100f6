/* errno -> its macro name, the same text under glibc and wasi-libc (their
 * strerror() texts differ, so the tests print names). */
#ifndef WASI_TEST_ERRNAME_H
#define WASI_TEST_ERRNAME_H

#include <errno.h>
#include <stdio.h>

static const char *errname(int e)
{
    static char buf[32];

    switch (e) {
    case 0: return "OK";
#define N(x) case x: return #x;
    N(ENOENT) N(EEXIST) N(ENOTDIR) N(EISDIR) N(ENOTEMPTY) N(EBADF)
    N(EINVAL) N(EACCES) N(EPERM) N(ELOOP) N(EFAULT) N(ENOSYS) N(ENOTSUP)
    N(ESPIPE) N(EXDEV) N(ENAMETOOLONG) N(EILSEQ) N(EMFILE) N(ENOTSOCK)
    N(EAGAIN) N(EROFS) N(EBUSY) N(EIO) N(ENOTTY) N(EPIPE)
#ifdef ENOTCAPABLE
    N(ENOTCAPABLE)
#endif
#undef N
    }
    snprintf(buf, sizeof buf, "errno %d", e);
    return buf;
}

#endif
