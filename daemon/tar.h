/*
 * A streaming tar (POSIX ustar, with pax headers where ustar falls short)
 * of files that are already on disk, for HTTP downloads: the archive is
 * produced piece by piece as the socket takes it, never built in memory
 * or on disk. Caller-allocated (init/close). One thread; blocking reads.
 *
 * Entries are added first; each file is opened and its size taken then,
 * so the archive's total size is known before the first byte is read
 * (Content-Length). The files must not change while the archive is read:
 * a file that shrinks is an error (dmn_tar_read fails), one that grows is
 * cut at the size it had when added.
 *
 * Names: relative, '/'-separated, without "." or ".." components. A name
 * that does not fit ustar's 100 + 155 bytes, or a file of 8 GiB or more,
 * gets a pax extended header ('x', POSIX.1-2001) before its entry: GNU
 * tar, bsdtar, Python's tarfile and tracectl read them.
 */
#ifndef TRACED_DMN_TAR_H
#define TRACED_DMN_TAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DMN_TAR_BLOCK 512

typedef struct dmn_tar_entry {
    char *name;       /* in the archive; owned */
    int fd;           /* -1 for a directory */
    uint64_t size;    /* file size when added */
    uint32_t mode;
    uint64_t mtime;
} dmn_tar_entry;

typedef struct dmn_tar {
    dmn_tar_entry *entries;
    size_t n, cap;
    uint64_t total;      /* the archive's size in bytes */
    uint64_t pos;        /* bytes produced so far */
    /* Reading state: entry cur, stage (0 pax header, 1 header, 2 data,
     * 3 padding), offset within the stage. After the last entry, the two
     * zero blocks that end the archive. */
    size_t cur;
    int stage;
    uint64_t off;
    uint8_t hdr[3 * DMN_TAR_BLOCK + 1024]; /* pax block(s) + header */
    size_t hdr_len, pax_len;
} dmn_tar;

void dmn_tar_init(dmn_tar *t);
/* Close the files and free. */
void dmn_tar_close(dmn_tar *t);
/* Add the file at path (opened now) as name. 0, or -1 with err. */
int dmn_tar_add_file(dmn_tar *t, const char *name, const char *path,
                     char *err, size_t errlen);
/* Add a directory entry (so that empty directories are kept). */
int dmn_tar_add_dir(dmn_tar *t, const char *name, char *err, size_t errlen);
/* Add every regular file and directory under dir, recursively, names
 * relative to dir. Entries named in `last` (relative names, NULL-ended
 * list, may be NULL) are added after all the others, in that order.
 * Symbolic links and special files are skipped. */
int dmn_tar_add_tree(dmn_tar *t, const char *dir, const char *const *last,
                     char *err, size_t errlen);
/* The archive's size; valid once every entry is added. */
uint64_t dmn_tar_size(const dmn_tar *t);
/* Up to len next bytes of the archive into buf: how many (0 at its end),
 * or -1 with err (a read failed, a file shrank). */
long dmn_tar_read(dmn_tar *t, uint8_t *buf, size_t len, char *err,
                  size_t errlen);

#endif /* TRACED_DMN_TAR_H */
