/*
 * Streaming ustar writer (tar.h): the archive of files on disk, produced
 * as the socket takes it. Layout of a ustar header block (POSIX.1-1988):
 *
 *     0 name[100]  100 mode[8]  108 uid[8]  116 gid[8]  124 size[12]
 *   136 mtime[12]  148 chksum[8]  156 typeflag  157 linkname[100]
 *   257 "ustar\0"  263 "00"  265 uname[32]  297 gname[32]
 *   329 devmajor[8]  337 devminor[8]  345 prefix[155]
 *
 * Numbers are octal text, NUL-terminated; a size of 8 GiB or more is
 * written base-256 (first byte 0x80, GNU's extension) and also given in
 * a pax header, which is what POSIX readers use. A name that fits neither
 * name[] nor prefix[] + "/" + name[] gets a pax "path" record.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tar.h"

#define NAME_MAX_LEN 2000  /* longer names are refused (ours are short) */
#define OCTAL_SIZE_MAX 077777777777ull /* 11 octal digits: 8 GiB - 1 */

static uint64_t round_block(uint64_t n)
{
    return (n + DMN_TAR_BLOCK - 1) / DMN_TAR_BLOCK * DMN_TAR_BLOCK;
}

void dmn_tar_init(dmn_tar *t)
{
    memset(t, 0, sizeof *t);
    t->total = 2 * DMN_TAR_BLOCK; /* the end-of-archive blocks */
}

void dmn_tar_close(dmn_tar *t)
{
    for (size_t i = 0; i < t->n; i++) {
        if (t->entries[i].fd >= 0)
            close(t->entries[i].fd);
        free(t->entries[i].name);
    }
    free(t->entries);
    memset(t, 0, sizeof *t);
}

/* Whether name fits ustar's fields; *split is where prefix ends (0: none). */
static bool ustar_fits(const char *name, size_t *split)
{
    size_t len = strlen(name);

    *split = 0;
    if (len <= 100)
        return true;
    for (size_t i = len - 1; i > 0; i--) {
        if (name[i] != '/')
            continue;
        if (len - i - 1 > 100)
            return false; /* the last part alone is too long */
        if (i <= 155 && len - i - 1 > 0) {
            *split = i;
            return true;
        }
    }
    return false;
}

/* One pax record "LEN key=value\n", LEN counting itself. */
static size_t pax_record(char *out, size_t cap, const char *key,
                         const char *value)
{
    size_t body = 1 + strlen(key) + 1 + strlen(value) + 1, len = body;
    int n;

    /* The length's own digits count: grow until it is consistent. */
    while ((size_t)snprintf(NULL, 0, "%zu", len) + body != len)
        len = (size_t)snprintf(NULL, 0, "%zu", len) + body;
    n = snprintf(out, cap, "%zu %s=%s\n", len, key, value);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

static uint64_t pax_len_of(const dmn_tar_entry *e)
{
    char tmp[NAME_MAX_LEN + 64], num[32];
    size_t split, len = 0;

    if (!ustar_fits(e->name, &split))
        len += pax_record(tmp, sizeof tmp, "path", e->name);
    if (e->size > OCTAL_SIZE_MAX) {
        snprintf(num, sizeof num, "%" PRIu64, e->size);
        len += pax_record(tmp, sizeof tmp, "size", num);
    }
    return len;
}

static int add_entry(dmn_tar *t, const char *name, int fd, uint64_t size,
                     uint32_t mode, uint64_t mtime, char *err, size_t errlen)
{
    dmn_tar_entry *e;
    uint64_t pax;

    if (!*name || name[0] == '/' || strlen(name) > NAME_MAX_LEN) {
        snprintf(err, errlen, "tar: bad entry name \"%.100s\"", name);
        return -1;
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        dmn_tar_entry *ne = realloc(t->entries, cap * sizeof *ne);

        if (!ne) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        t->entries = ne;
        t->cap = cap;
    }
    e = &t->entries[t->n];
    e->name = strdup(name);
    if (!e->name) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    e->fd = fd;
    e->size = size;
    e->mode = mode;
    e->mtime = mtime;
    t->n++;
    pax = pax_len_of(e);
    if (pax)
        t->total += DMN_TAR_BLOCK + round_block(pax);
    t->total += DMN_TAR_BLOCK + round_block(size);
    return 0;
}

int dmn_tar_add_file(dmn_tar *t, const char *name, const char *path,
                     char *err, size_t errlen)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: %s", path,
                 fd < 0 ? strerror(errno) : "not a regular file");
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (add_entry(t, name, fd, (uint64_t)st.st_size, st.st_mode & 0777,
                  (uint64_t)st.st_mtime, err, errlen) != 0) {
        close(fd);
        return -1;
    }
    return 0;
}

int dmn_tar_add_dir(dmn_tar *t, const char *name, char *err, size_t errlen)
{
    char n[NAME_MAX_LEN + 2];
    size_t len = strlen(name);

    /* Directory names end in '/' in the archive. */
    snprintf(n, sizeof n, "%s%s", name, len && name[len - 1] == '/' ? "" : "/");
    return add_entry(t, n, -1, 0, 0755, 0, err, errlen);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool in_list(const char *name, const char *const *list)
{
    for (; list && *list; list++)
        if (strcmp(name, *list) == 0)
            return true;
    return false;
}

/* Add the entries under dir/rel (rel "" at the top), sorted by name. */
static int add_tree(dmn_tar *t, const char *dir, const char *rel,
                    const char *const *last, int depth, char *err,
                    size_t errlen)
{
    char path[4096], name[NAME_MAX_LEN + 1];
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    DIR *d;
    int rc = 0;

    snprintf(path, sizeof path, "%s%s%s", dir, *rel ? "/" : "", rel);
    if (depth > 16 || !(d = opendir(path))) {
        snprintf(err, errlen, "%s: %s", path,
                 depth > 16 ? "too deep" : strerror(errno));
        return -1;
    }
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (n == cap) {
            char **nn = realloc(names, (cap = cap ? cap * 2 : 16) *
                                           sizeof *nn);

            if (!nn) {
                rc = -1;
                break;
            }
            names = nn;
        }
        if (!(names[n] = strdup(de->d_name))) {
            rc = -1;
            break;
        }
        n++;
    }
    closedir(d);
    if (rc)
        snprintf(err, errlen, "out of memory");
    if (n)
        qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; !rc && i < n; i++) {
        struct stat st;

        snprintf(name, sizeof name, "%s%s%s", rel, *rel ? "/" : "",
                 names[i]);
        if (!*rel && in_list(name, last))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, name);
        if (lstat(path, &st) != 0)
            continue; /* gone meanwhile */
        if (S_ISREG(st.st_mode)) {
            rc = dmn_tar_add_file(t, name, path, err, errlen);
        } else if (S_ISDIR(st.st_mode)) {
            rc = dmn_tar_add_dir(t, name, err, errlen);
            if (!rc)
                t->entries[t->n - 1].mtime = (uint64_t)st.st_mtime;
            if (!rc)
                rc = add_tree(t, dir, name, NULL, depth + 1, err, errlen);
        }
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

int dmn_tar_add_tree(dmn_tar *t, const char *dir, const char *const *last,
                     char *err, size_t errlen)
{
    char path[4096];

    if (add_tree(t, dir, "", last, 0, err, errlen) != 0)
        return -1;
    for (; last && *last; last++) {
        snprintf(path, sizeof path, "%s/%s", dir, *last);
        if (dmn_tar_add_file(t, *last, path, err, errlen) != 0)
            return -1;
    }
    return 0;
}

uint64_t dmn_tar_size(const dmn_tar *t)
{
    return t->total;
}

/* ---- headers ----------------------------------------------------------------- */

static void put_octal(uint8_t *field, size_t width, uint64_t v)
{
    char tmp[32];

    /* width - 1 digits and a NUL; callers keep v within width - 1 digits */
    snprintf(tmp, sizeof tmp, "%0*" PRIo64, (int)(width - 1), v);
    memcpy(field, tmp, width - 1);
    field[width - 1] = '\0';
}

static void put_size(uint8_t *field, uint64_t v)
{
    if (v <= OCTAL_SIZE_MAX) {
        put_octal(field, 12, v);
        return;
    }
    /* base-256: 0x80, then the value big-endian in the other 11 bytes */
    memset(field, 0, 12);
    field[0] = 0x80;
    for (int i = 11; i > 0; i--, v >>= 8)
        field[i] = (uint8_t)(v & 0xff);
}

static void finish_header(uint8_t *h)
{
    unsigned sum = 0;

    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    memset(h + 148, ' ', 8);
    for (size_t i = 0; i < DMN_TAR_BLOCK; i++)
        sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum); /* 6 digits, NUL, space */
    h[155] = ' ';
}

/* The header block(s) of entry e into t->hdr: a pax header and its data
 * when needed, then the ustar header. */
static void build_header(dmn_tar *t, const dmn_tar_entry *e)
{
    uint8_t *h;
    size_t split, len = strlen(e->name), pax = 0;
    bool fits = ustar_fits(e->name, &split);
    char num[32];

    memset(t->hdr, 0, sizeof t->hdr);
    t->hdr_len = 0;
    if (!fits || e->size > OCTAL_SIZE_MAX) {
        char *data = (char *)t->hdr + DMN_TAR_BLOCK;
        size_t cap = sizeof t->hdr - 2 * DMN_TAR_BLOCK;

        if (!fits)
            pax += pax_record(data + pax, cap - pax, "path", e->name);
        if (e->size > OCTAL_SIZE_MAX) {
            snprintf(num, sizeof num, "%" PRIu64, e->size);
            pax += pax_record(data + pax, cap - pax, "size", num);
        }
        h = t->hdr;
        snprintf((char *)h, 100, "PaxHeaders/%.80s",
                 strrchr(e->name, '/') && strrchr(e->name, '/')[1]
                     ? strrchr(e->name, '/') + 1
                     : e->name);
        put_octal(h + 100, 8, 0644);
        put_octal(h + 108, 8, 0);
        put_octal(h + 116, 8, 0);
        put_size(h + 124, pax);
        put_octal(h + 136, 12, e->mtime);
        h[156] = 'x';
        finish_header(h);
        t->hdr_len = DMN_TAR_BLOCK + (size_t)round_block(pax);
    }
    h = t->hdr + t->hdr_len;
    if (fits && split) {
        memcpy(h + 345, e->name, split);
        memcpy(h, e->name + split + 1, len - split - 1);
    } else {
        /* Fits whole, or the pax path has it and this is a best effort. */
        memcpy(h, e->name, len < 100 ? len : 100);
    }
    put_octal(h + 100, 8, e->mode);
    put_octal(h + 108, 8, 0);
    put_octal(h + 116, 8, 0);
    put_size(h + 124, e->size);
    put_octal(h + 136, 12, e->mtime);
    h[156] = e->fd < 0 ? '5' : '0';
    finish_header(h);
    t->hdr_len += DMN_TAR_BLOCK;
    t->pax_len = pax;
}

/* ---- reading -------------------------------------------------------------------- */

long dmn_tar_read(dmn_tar *t, uint8_t *buf, size_t len, char *err,
                  size_t errlen)
{
    size_t got = 0;

    while (got < len) {
        dmn_tar_entry *e;
        uint64_t want;

        if (t->cur == t->n) { /* the end blocks */
            want = t->total - t->pos;
            if (want > len - got)
                want = len - got;
            memset(buf + got, 0, (size_t)want);
            got += (size_t)want;
            t->pos += want;
            break;
        }
        e = &t->entries[t->cur];
        if (t->stage == 0) {
            if (t->off == 0)
                build_header(t, e);
            want = t->hdr_len - t->off;
            if (want > len - got)
                want = len - got;
            memcpy(buf + got, t->hdr + t->off, (size_t)want);
            t->off += want;
            if (t->off == t->hdr_len) {
                t->stage = 1;
                t->off = 0;
            }
        } else if (t->stage == 1) {
            ssize_t r;

            want = e->size - t->off;
            if (want > len - got)
                want = len - got;
            if (want == 0) {
                t->stage = 2;
                t->off = 0;
                continue;
            }
            r = pread(e->fd, buf + got, (size_t)want, (off_t)t->off);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                snprintf(err, errlen, "tar: %s: %s", e->name,
                         r < 0 ? strerror(errno) : "the file shrank");
                return -1;
            }
            want = (uint64_t)r;
            t->off += want;
        } else {
            uint64_t pad = round_block(e->size) - e->size;

            want = pad - t->off;
            if (want > len - got)
                want = len - got;
            memset(buf + got, 0, (size_t)want);
            t->off += want;
            if (t->off == pad) {
                t->cur++;
                t->stage = 0;
                t->off = 0;
            }
        }
        got += (size_t)want;
        t->pos += want;
    }
    return (long)got;
}
