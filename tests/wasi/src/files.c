/*
 * Files and directories through libc: create, write, read, seek, stat,
 * truncate, pread/pwrite, append, readdir, rename, unlink, mkdir/rmdir,
 * symlink/readlink, link, utimes, and the errors of the common mistakes.
 * Paths are relative: the program runs in a fresh directory (natively its
 * cwd, under WASI the preopen "."). Prints only what is the same on both.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "errname.h"

static int failures;

#define CHECK(expr)                                                        \
    do {                                                                   \
        if (!(expr)) {                                                     \
            printf("FAIL line %d: %s (%s)\n", __LINE__, #expr,             \
                   errname(errno));                                        \
            failures++;                                                    \
        }                                                                  \
    } while (0)

/* Run a call expected to fail and print which errno it gave. */
#define ERR(label, expr)                                                   \
    do {                                                                   \
        errno = 0;                                                         \
        long r_ = (long)(expr);                                            \
        printf("%s: %s\n", label, r_ < 0 ? errname(errno) : "succeeded");  \
    } while (0)

static const char *type_name(mode_t m)
{
    return S_ISREG(m) ? "file" : S_ISDIR(m) ? "dir" : S_ISLNK(m) ? "link" : "other";
}

static void show_stat(const char *path, int follow)
{
    struct stat st;
    int r = follow ? stat(path, &st) : lstat(path, &st);

    if (r < 0) {
        printf("%sstat %s: %s\n", follow ? "" : "l", path, errname(errno));
        return;
    }
    printf("%sstat %s: %s", follow ? "" : "l", path, type_name(st.st_mode));
    if (!S_ISDIR(st.st_mode))
        printf(" size=%lld", (long long)st.st_size);
    if (S_ISREG(st.st_mode))
        printf(" nlink=%lu", (unsigned long)st.st_nlink);
    printf("\n");
}

static void cat(const char *path)
{
    char buf[512];
    int fd = open(path, O_RDONLY);
    ssize_t n;

    if (fd < 0) {
        printf("cat %s: %s\n", path, errname(errno));
        return;
    }
    n = read(fd, buf, sizeof buf - 1);
    CHECK(n >= 0);
    buf[n < 0 ? 0 : n] = '\0';
    for (ssize_t i = 0; i < n; i++)
        if (buf[i] == '\0')
            buf[i] = '.';
    printf("cat %s: [%s]\n", path, buf);
    close(fd);
}

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *de;
    char *names[256];
    int n = 0;

    if (!d) {
        printf("ls %s: %s\n", path, errname(errno));
        return;
    }
    while ((de = readdir(d)) && n < 256) {
        char buf[300];
        const char *t = de->d_type == DT_REG ? "f" : de->d_type == DT_DIR ? "d"
                      : de->d_type == DT_LNK ? "l" : "?";

        snprintf(buf, sizeof buf, "%s(%s)", de->d_name, t);
        names[n++] = strdup(buf);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp);
    printf("ls %s:", path);
    for (int i = 0; i < n; i++) {
        printf(" %s", names[i]);
        free(names[i]);
    }
    printf("\n");
}

int main(void)
{
    FILE *f;
    int fd;
    char buf[64];
    ssize_t n;
    struct stat st;

    CHECK(mkdir("work", 0755) == 0);
    CHECK(mkdir("work/sub", 0755) == 0);

    /* stdio files */
    f = fopen("work/a.txt", "w");
    CHECK(f != NULL);
    fprintf(f, "alpha beta gamma\n");
    CHECK(fclose(f) == 0);
    show_stat("work/a.txt", 1);
    f = fopen("work/a.txt", "a");
    fputs("delta\n", f);
    fclose(f);
    cat("work/a.txt");

    /* seek, read, write in place */
    fd = open("work/a.txt", O_RDWR);
    CHECK(fd >= 0);
    CHECK(lseek(fd, 6, SEEK_SET) == 6);
    CHECK(write(fd, "BETA", 4) == 4);
    CHECK(lseek(fd, 0, SEEK_CUR) == 10);
    CHECK(lseek(fd, -6, SEEK_END) == 17);
    n = read(fd, buf, 5);
    buf[n < 0 ? 0 : n] = '\0';
    printf("read at end-6: [%s]\n", buf);
    n = pread(fd, buf, 5, 0);
    buf[n < 0 ? 0 : n] = '\0';
    printf("pread 0: [%s]\n", buf);
    CHECK(pwrite(fd, "HOLE", 4, 30) == 4);
    CHECK(fstat(fd, &st) == 0);
    printf("size after pwrite at 30: %lld\n", (long long)st.st_size);
    CHECK(ftruncate(fd, 12) == 0);
    CHECK(fstat(fd, &st) == 0);
    printf("size after ftruncate: %lld\n", (long long)st.st_size);
    CHECK(close(fd) == 0);
    cat("work/a.txt");
    ERR("read closed fd", read(fd, buf, 1));

    /* O_APPEND, O_EXCL, O_TRUNC */
    fd = open("work/log", O_WRONLY | O_CREAT | O_APPEND, 0644);
    CHECK(fd >= 0);
    CHECK(write(fd, "one\n", 4) == 4);
    CHECK(lseek(fd, 0, SEEK_SET) == 0);
    CHECK(write(fd, "two\n", 4) == 4);
    close(fd);
    cat("work/log");
    ERR("open O_EXCL existing", open("work/log", O_WRONLY | O_CREAT | O_EXCL, 0644));
    fd = open("work/log", O_WRONLY | O_TRUNC);
    CHECK(fd >= 0);
    close(fd);
    show_stat("work/log", 1);
    ERR("write to O_RDONLY fd", (fd = open("work/a.txt", O_RDONLY), write(fd, "x", 1)));
    close(fd);
    ERR("read from O_WRONLY fd", (fd = open("work/a.txt", O_WRONLY), read(fd, buf, 1)));
    close(fd);

    /* a bigger file, written in pieces, read back whole */
    fd = open("work/big.bin", O_RDWR | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    {
        static uint8_t block[4096];
        uint32_t sum = 0, x = 1;

        for (int b = 0; b < 50; b++) {
            for (size_t i = 0; i < sizeof block; i++) {
                x = x * 1103515245u + 12345u;
                block[i] = (uint8_t)(x >> 16);
            }
            CHECK(write(fd, block, sizeof block) == (ssize_t)sizeof block);
        }
        CHECK(lseek(fd, 0, SEEK_SET) == 0);
        while ((n = read(fd, block, 1000)) > 0)
            for (ssize_t i = 0; i < n; i++)
                sum = sum * 31 + block[i];
        printf("big.bin checksum %08x\n", sum);
    }
    close(fd);

    /* directories */
    ERR("mkdir existing", mkdir("work/sub", 0755));
    ERR("mkdir missing parent", mkdir("work/nope/x", 0755));
    CHECK(mkdir("work/sub/deeper", 0755) == 0);
    ERR("rmdir non-empty", rmdir("work/sub"));
    ERR("rmdir a file", rmdir("work/log"));
    ERR("unlink a dir", unlink("work/sub"));
    ERR("unlink missing", unlink("work/missing"));
    ERR("open dir for writing", open("work/sub", O_WRONLY));
    ERR("open through a file", open("work/log/x", O_RDONLY));
    ERR("opendir a file", opendir("work/log") ? 0 : -1);
    CHECK(rmdir("work/sub/deeper") == 0);
    CHECK(mkdir("work/sub/deeper/", 0755) == 0);
    CHECK(rmdir("work/sub/deeper/") == 0);
    show_stat("work/sub", 1);

    /* rename */
    CHECK(rename("work/a.txt", "work/b.txt") == 0);
    ERR("stat old name", stat("work/a.txt", &st));
    f = fopen("work/c.txt", "w");
    fputs("cccc\n", f);
    fclose(f);
    CHECK(rename("work/c.txt", "work/b.txt") == 0); /* replaces b.txt */
    cat("work/b.txt");
    CHECK(rename("work/sub", "work/sub2") == 0);
    ERR("rename dir over non-empty dir",
        (mkdir("work/full", 0755), mkdir("work/full/x", 0755),
         rename("work/sub2", "work/full")));
    ERR("rename missing", rename("work/nothing", "work/x"));

    /* symlinks and hard links */
    CHECK(symlink("b.txt", "work/link") == 0);
    n = readlink("work/link", buf, sizeof buf - 1);
    buf[n < 0 ? 0 : n] = '\0';
    printf("readlink work/link: [%s]\n", buf);
    show_stat("work/link", 0);
    show_stat("work/link", 1);
    cat("work/link");
    CHECK(symlink("no/such/file", "work/dangling") == 0);
    show_stat("work/dangling", 0);
    ERR("open dangling", open("work/dangling", O_RDONLY));
    ERR("open link O_NOFOLLOW", open("work/link", O_RDONLY | O_NOFOLLOW));
    ERR("readlink a file", readlink("work/b.txt", buf, sizeof buf));
    ERR("symlink over existing", symlink("x", "work/link"));
    CHECK(symlink("sub2", "work/dirlink") == 0);
    f = fopen("work/dirlink/inside.txt", "w");
    CHECK(f != NULL);
    if (f) {
        fputs("via dir link\n", f);
        fclose(f);
    }
    cat("work/sub2/inside.txt");
    CHECK(link("work/b.txt", "work/hard") == 0);
    show_stat("work/hard", 1);
    show_stat("work/b.txt", 1);
    CHECK(unlink("work/hard") == 0);
    show_stat("work/b.txt", 1);
    CHECK(unlink("work/dangling") == 0);

    /* times */
    {
        struct timespec ts[2] = {{1000000000, 0}, {1234567890, 500}};

        CHECK(utimensat(AT_FDCWD, "work/b.txt", ts, 0) == 0);
        CHECK(stat("work/b.txt", &st) == 0);
        printf("mtime %lld.%09ld atime %lld\n", (long long)st.st_mtim.tv_sec,
               st.st_mtim.tv_nsec, (long long)st.st_atim.tv_sec);
        fd = open("work/log", O_RDWR);
        ts[1].tv_sec = 1500000000;
        ts[0].tv_nsec = UTIME_OMIT;
        CHECK(futimens(fd, ts) == 0);
        CHECK(fstat(fd, &st) == 0);
        printf("futimens mtime %lld\n", (long long)st.st_mtim.tv_sec);
        close(fd);
    }

    list("work");
    list("work/sub2");
    list("work/dirlink");
    /* many entries: readdir must span several fd_readdir buffers */
    CHECK(mkdir("many", 0755) == 0);
    for (int i = 0; i < 120; i++) {
        snprintf(buf, sizeof buf, "many/entry-with-a-longish-name-%03d", i);
        fd = open(buf, O_WRONLY | O_CREAT, 0644);
        CHECK(fd >= 0);
        close(fd);
    }
    {
        DIR *d = opendir("many");
        int count = 0;

        while (d && readdir(d))
            count++;
        if (d)
            rewinddir(d);
        int again = 0;
        while (d && readdir(d))
            again++;
        printf("many: %d entries, %d after rewind\n", count, again);
        if (d)
            closedir(d);
    }
    printf("failures=%d\n", failures);
    return failures ? 1 : 0;
}
