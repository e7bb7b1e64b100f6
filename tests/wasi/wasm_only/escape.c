/*
 * WASI only (not built natively): the sandbox and the errno contract,
 * through the raw wasi_snapshot_preview1 imports so that every pointer,
 * length and fd is exactly what the test says. run.sh preopens
 * SANDBOX as "/sandbox" with OUTSIDE/secret.txt beside it, and compares
 * this program's output with expected/escape.out.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../src/errname.h"

#define IMPORT(name)                                                       \
    __attribute__((import_module("wasi_snapshot_preview1"),                \
                   import_name(#name)))

IMPORT(path_open) int32_t w_path_open(int32_t, int32_t, const void *, int32_t,
                                      int32_t, int64_t, int64_t, int32_t,
                                      void *);
IMPORT(path_create_directory) int32_t w_mkdir(int32_t, const void *, int32_t);
IMPORT(path_unlink_file) int32_t w_unlink(int32_t, const void *, int32_t);
IMPORT(path_remove_directory) int32_t w_rmdir(int32_t, const void *, int32_t);
IMPORT(path_rename) int32_t w_rename(int32_t, const void *, int32_t, int32_t,
                                     const void *, int32_t);
IMPORT(path_symlink) int32_t w_symlink(const void *, int32_t, int32_t,
                                       const void *, int32_t);
IMPORT(path_readlink) int32_t w_readlink(int32_t, const void *, int32_t,
                                         void *, int32_t, void *);
IMPORT(path_link) int32_t w_link(int32_t, int32_t, const void *, int32_t,
                                 int32_t, const void *, int32_t);
IMPORT(path_filestat_get) int32_t w_pstat(int32_t, int32_t, const void *,
                                          int32_t, void *);
IMPORT(path_filestat_set_times) int32_t w_putimes(int32_t, int32_t,
                                                  const void *, int32_t,
                                                  int64_t, int64_t, int32_t);
IMPORT(fd_write) int32_t w_fd_write(int32_t, const void *, int32_t, void *);
IMPORT(fd_read) int32_t w_fd_read(int32_t, const void *, int32_t, void *);
IMPORT(fd_close) int32_t w_fd_close(int32_t);
IMPORT(fd_prestat_get) int32_t w_prestat_get(int32_t, void *);
IMPORT(fd_prestat_dir_name) int32_t w_prestat_dir_name(int32_t, void *,
                                                        int32_t);
IMPORT(fd_seek) int32_t w_fd_seek(int32_t, int64_t, int32_t, void *);
IMPORT(fd_renumber) int32_t w_fd_renumber(int32_t, int32_t);
IMPORT(fd_readdir) int32_t w_fd_readdir(int32_t, void *, int32_t, int64_t,
                                        void *);
IMPORT(fd_fdstat_get) int32_t w_fdstat_get(int32_t, void *);
IMPORT(fd_fdstat_set_rights) int32_t w_set_rights(int32_t, int64_t, int64_t);
IMPORT(args_sizes_get) int32_t w_args_sizes_get(void *, void *);
IMPORT(random_get) int32_t w_random_get(void *, int32_t);
IMPORT(clock_time_get) int32_t w_clock_time_get(int32_t, int64_t, void *);
IMPORT(poll_oneoff) int32_t w_poll_oneoff(const void *, void *, int32_t,
                                          void *);
IMPORT(proc_raise) int32_t w_proc_raise(int32_t);
IMPORT(sock_accept) int32_t w_sock_accept(int32_t, int32_t, void *);
IMPORT(sock_recv) int32_t w_sock_recv(int32_t, const void *, int32_t, int32_t,
                                      void *, void *);
IMPORT(sock_shutdown) int32_t w_sock_shutdown(int32_t, int32_t);

static const char *wasi_name(int32_t e)
{
    switch (e) {
    case 0: return "success";
    case 8: return "badf";
    case 20: return "exist";
    case 21: return "fault";
    case 25: return "ilseq";
    case 28: return "inval";
    case 31: return "isdir";
    case 32: return "loop";
    case 37: return "nametoolong";
    case 44: return "noent";
    case 52: return "nosys";
    case 54: return "notdir";
    case 57: return "notsock";
    case 58: return "notsup";
    case 63: return "perm";
    case 70: return "spipe";
    case 76: return "notcapable";
    }
    static char buf[16];
    snprintf(buf, sizeof buf, "errno%d", (int)e);
    return buf;
}

#define SHOW(label, expr) printf("%-44s %s\n", label, wasi_name(expr))
#define S(str) str, (int32_t)strlen(str)
#define RIGHTS_RW ((1 << 1) | (1 << 6)) /* fd_read | fd_write */
#define FOLLOW 1

static int32_t dir = -1;

static int32_t open_at(int32_t flags, const char *path)
{
    int32_t fd = -1;
    int32_t r = w_path_open(dir, flags, path, (int32_t)strlen(path), 0,
                            RIGHTS_RW, 0, 0, &fd);

    if (r == 0)
        w_fd_close(fd);
    return r;
}

int main(void)
{
    uint8_t stat[64], buf[256];
    char name[64];
    uint32_t used, n1, n2;
    uintptr_t memsize = __builtin_wasm_memory_size(0) * 65536;
    void *oob = (void *)(memsize - 2); /* 4- and 8-byte stores overrun */
    void *last4 = (void *)(memsize - 4);
    int32_t fd = -1;

    /* Find the preopen by its name, as wasi-libc does. */
    for (int32_t f = 3; f < 16; f++) {
        if (w_prestat_get(f, buf) != 0)
            break;
        memset(name, 0, sizeof name);
        w_prestat_dir_name(f, name, (int32_t)(buf[4]));
        if (strcmp(name, "/sandbox") == 0)
            dir = f;
    }
    printf("preopen /sandbox found: %s\n", dir >= 0 ? "yes" : "no");
    SHOW("prestat_dir_name short buffer", w_prestat_dir_name(dir, name, 3));

    printf("-- climbing and absolute paths\n");
    SHOW("open ../outside/secret.txt", open_at(0, "../outside/secret.txt"));
    SHOW("open /etc/passwd", open_at(0, "/etc/passwd"));
    SHOW("open ..", open_at(0, ".."));
    SHOW("open .", open_at(0, "."));
    SHOW("mkdir a", w_mkdir(dir, S("a")));
    SHOW("create a/inside.txt",
         w_path_open(dir, 0, S("a/inside.txt"), 1, RIGHTS_RW, 0, 0, &fd));
    w_fd_close(fd);
    SHOW("open a/../a/inside.txt (stays inside)", open_at(0, "a/../a/inside.txt"));
    SHOW("open a/../../outside/secret.txt", open_at(0, "a/../../outside/secret.txt"));
    SHOW("stat a/../..", w_pstat(dir, FOLLOW, S("a/../.."), stat));
    SHOW("mkdir ../escape", w_mkdir(dir, S("../escape")));
    SHOW("mkdir /tmp/escape", w_mkdir(dir, S("/tmp/escape")));
    SHOW("unlink ../outside/secret.txt", w_unlink(dir, S("../outside/secret.txt")));
    SHOW("rmdir ..", w_rmdir(dir, S("..")));
    SHOW("rmdir a/..", w_rmdir(dir, S("a/..")));
    SHOW("rename a/inside.txt -> ../stolen",
         w_rename(dir, S("a/inside.txt"), dir, S("../stolen")));
    SHOW("rename ../outside/secret.txt -> mine",
         w_rename(dir, S("../outside/secret.txt"), dir, S("mine")));
    SHOW("link ../outside/secret.txt -> mine",
         w_link(dir, 0, S("../outside/secret.txt"), dir, S("mine")));
    SHOW("symlink target ../x at ../evil", w_symlink(S("x"), dir, S("../evil")));

    printf("-- symlinks that lead outside\n");
    SHOW("symlink /etc -> abs_link (creating is allowed)",
         w_symlink(S("/etc"), dir, S("abs_link")));
    SHOW("open abs_link/passwd", open_at(FOLLOW, "abs_link/passwd"));
    SHOW("stat abs_link (follow)", w_pstat(dir, FOLLOW, S("abs_link"), stat));
    SHOW("stat abs_link (nofollow)", w_pstat(dir, 0, S("abs_link"), stat));
    printf("%-44s %d\n", "  its filetype", stat[16]);
    SHOW("symlink ../outside/secret.txt -> rel_link",
         w_symlink(S("../outside/secret.txt"), dir, S("rel_link")));
    SHOW("open rel_link (follow)", open_at(FOLLOW, "rel_link"));
    SHOW("open rel_link (nofollow)", open_at(0, "rel_link"));
    used = 0;
    memset(buf, 0, sizeof buf);
    SHOW("readlink rel_link", w_readlink(dir, S("rel_link"), buf, sizeof buf, &used));
    printf("%-44s %.*s\n", "  target", (int)used, (char *)buf);
    SHOW("readlink rel_link/", w_readlink(dir, S("rel_link/"), buf, sizeof buf, &used));
    SHOW("link rel_link (follow) -> hard",
         w_link(dir, FOLLOW, S("rel_link"), dir, S("hard")));
    SHOW("link rel_link (nofollow) -> hard",
         w_link(dir, 0, S("rel_link"), dir, S("hard")));
    SHOW("set times rel_link (follow)",
         w_putimes(dir, FOLLOW, S("rel_link"), 0, 0, 1 << 1));
    SHOW("set times rel_link (nofollow)",
         w_putimes(dir, 0, S("rel_link"), 0, 0, 1 << 1));
    SHOW("symlink ../outside -> dir_link",
         w_symlink(S("../outside"), dir, S("dir_link")));
    SHOW("open dir_link/secret.txt", open_at(FOLLOW, "dir_link/secret.txt"));
    SHOW("open dir_link/secret.txt (nofollow)", open_at(0, "dir_link/secret.txt"));
    SHOW("stat dir_link/ (nofollow)", w_pstat(dir, 0, S("dir_link/"), stat));
    SHOW("mkdir dir_link/new", w_mkdir(dir, S("dir_link/new")));
    SHOW("unlink dir_link/secret.txt", w_unlink(dir, S("dir_link/secret.txt")));
    SHOW("rmdir dir_link/", w_rmdir(dir, S("dir_link/")));
    SHOW("rename dir_link/secret.txt -> mine",
         w_rename(dir, S("dir_link/secret.txt"), dir, S("mine")));
    SHOW("symlink x at dir_link/evil", w_symlink(S("x"), dir, S("dir_link/evil")));
    SHOW("readlink dir_link/x", w_readlink(dir, S("dir_link/x"), buf, sizeof buf, &used));
    SHOW("symlink .. -> up", w_symlink(S(".."), dir, S("up")));
    SHOW("open up/outside/secret.txt", open_at(FOLLOW, "up/outside/secret.txt"));
    SHOW("symlink loop -> loop", w_symlink(S("loop"), dir, S("loop")));
    SHOW("open loop", open_at(FOLLOW, "loop"));

    printf("-- fds never opened\n");
    SHOW("fd_read 99", w_fd_read(99, buf, 0, &used));
    SHOW("fd_write 1234", w_fd_write(1234, buf, 0, &used));
    SHOW("fd_close 99", w_fd_close(99));
    SHOW("fd_close -1", w_fd_close(-1));
    SHOW("fd_seek 99", w_fd_seek(99, 0, 0, buf));
    SHOW("fd_fdstat_get 4096", w_fdstat_get(4096, buf));
    SHOW("fd_prestat_get 0 (stdin)", w_prestat_get(0, buf));
    SHOW("fd_renumber sandbox -> 99", w_fd_renumber(dir, 99));
    SHOW("path_open on fd 99", w_path_open(99, 0, S("x"), 0, 0, 0, 0, &fd));
    SHOW("path_open on stdout", w_path_open(1, 0, S("x"), 0, 0, 0, 0, &fd));
    w_path_open(dir, 0, S("a/inside.txt"), 0, RIGHTS_RW, 0, 0, &fd);
    SHOW("fd_readdir on a file", w_fd_readdir(fd, buf, sizeof buf, 0, &used));
    SHOW("path_open relative to a file", w_path_open(fd, 0, S("x"), 0, 0, 0, 0, &fd));
    SHOW("fd_fdstat_set_rights gaining a right",
         w_set_rights(1, -1, -1));
    SHOW("fd_close (twice)", (w_fd_close(fd), w_fd_close(fd)));

    printf("-- bad pointers are errno fault, not traps\n");
    {
        uint32_t iov[2] = {(uint32_t)(uintptr_t)"x", 1};
        uint32_t bad_iov[2] = {(uint32_t)(memsize - 1), 2};

        SHOW("fd_write iovs out of memory", w_fd_write(1, oob, 1, &used));
        SHOW("fd_write buffer out of memory", w_fd_write(1, bad_iov, 1, &used));
        SHOW("fd_write nwritten out of memory", w_fd_write(1, iov, 1, oob));
        SHOW("fd_read iovs count huge", w_fd_read(0, iov, 0x20000000, &used));
    }
    SHOW("args_sizes_get out of memory", w_args_sizes_get(oob, &n2));
    SHOW("args_sizes_get at the last byte", w_args_sizes_get(&n1, (void *)(memsize - 1)));
    SHOW("random_get past the end", w_random_get(oob, 16));
    SHOW("random_get exactly to the end", w_random_get(last4, 4));
    SHOW("clock_time_get result out of memory", w_clock_time_get(1, 0, oob));
    SHOW("path_open path out of memory",
         w_path_open(dir, 0, oob, 100, 0, 0, 0, 0, &fd));
    SHOW("path_open fd_out out of memory",
         w_path_open(dir, 0, S("a/inside.txt"), 0, RIGHTS_RW, 0, 0, oob));
    SHOW("path_filestat_get buf out of memory", w_pstat(dir, 0, S("a"), oob));
    SHOW("readlink buf out of memory",
         w_readlink(dir, S("rel_link"), oob, 100, &used));

    printf("-- malformed arguments\n");
    SHOW("path with invalid UTF-8", w_path_open(dir, 0, "\xff\xfe", 2, 0, 0, 0, 0, &fd));
    SHOW("path with a NUL byte", w_path_open(dir, 0, "a\0b", 3, 0, 0, 0, 0, &fd));
    SHOW("empty path", w_path_open(dir, 0, "", 0, 0, 0, 0, 0, &fd));
    SHOW("clock_time_get clock 99", w_clock_time_get(99, 0, &n1));
    SHOW("poll_oneoff with no subscriptions", w_poll_oneoff(buf, buf, 0, &used));
    SHOW("fd_seek whence 7", w_fd_seek(1, 0, 7, buf));
    SHOW("fd_seek on stdout", w_fd_seek(1, 0, 0, buf));

    printf("-- process and sockets\n");
    SHOW("proc_raise SIGTERM", w_proc_raise(15));
    SHOW("sock_accept stdout", w_sock_accept(1, 0, &fd));
    SHOW("sock_recv fd 99", w_sock_recv(99, buf, 0, 0, &n1, &n2));
    SHOW("sock_shutdown sandbox dir", w_sock_shutdown(dir, 3));

    printf("-- what libc callers see\n");
    errno = 0;
    printf("%-44s %s\n", "open(\"/etc/passwd\")",
           open("/etc/passwd", O_RDONLY) < 0 ? errname(errno) : "opened!");
    errno = 0;
    printf("%-44s %s\n", "open(\"/sandbox/../outside/secret.txt\")",
           open("/sandbox/../outside/secret.txt", O_RDONLY) < 0 ? errname(errno)
                                                                 : "opened!");
    errno = 0;
    printf("%-44s %s\n", "open(\"/sandbox/rel_link\")",
           open("/sandbox/rel_link", O_RDONLY) < 0 ? errname(errno) : "opened!");
    errno = 0;
    printf("%-44s %s\n", "open(\"/sandbox/a/inside.txt\")",
           open("/sandbox/a/inside.txt", O_RDONLY) < 0 ? errname(errno) : "opened");
    errno = 0;
    printf("%-44s %s\n", "read(77)", read(77, buf, 1) < 0 ? errname(errno) : "read!");
    return 0;
}
