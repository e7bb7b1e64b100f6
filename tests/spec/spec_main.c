/*
 * traced-spec: the spec-test runner.
 *
 *   traced-spec [options] FILE.wast|FILE.wat|FILE.json...
 *
 * A .wast file (or a .wat file, a script of one module) is converted with
 * wast2json into a temporary directory, which is removed afterwards; a
 * .json file is a script already converted
 * (its modules beside it). Each file runs in a forked child with a fresh
 * store, so that a crash in the VM is reported against the file and the
 * command that was running, and the other files still run.
 *
 * Exit status: 0 every command passed (or failed as listed in --xfail);
 * 1 a command failed or a file could not be run; 2 usage error or
 * wast2json missing; 3 the VM crashed (signal or sanitizer report).
 */
#include "spec.h"

#include <errno.h>
#include <ctype.h>
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define EXIT_FAILED 1
#define EXIT_USAGE 2
#define EXIT_CRASH 3

typedef struct runner {
    spec_options opt;
    bool fork_per_file;
    const char *wast2json_flags[4]; /* NULL-terminated */
    size_t nflags;
    spec_counts total;
    unsigned file_errors; /* files that could not be run */
    unsigned crashes;
} runner;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: traced-spec [options] FILE.wast|FILE.wat|FILE.json...\n"
            "\n"
            "Runs WebAssembly spec-test scripts against the traced VM.\n"
            ".wast files are converted with wast2json (wabt) first.\n"
            "\n"
            "options:\n"
            "  -v, --verbose         print every failure, skip and xfail\n"
            "  --xfail FILE          known failures, one \"FILE LINE\" a "
            "line\n"
            "                        (e.g. \"core/i32.wast 123\"); # "
            "comments\n"
            "  --enable-tail-call    tail-call proposal (wast2json and VM)\n"
            "  --enable-exceptions   exception-handling proposal\n"
            "  --fuel N              instruction budget per call "
            "(default 4e9, 0 = none)\n"
            "  --show N              failures listed per file without -v "
            "(default 5)\n"
            "  --no-fork             run files in this process (for a "
            "debugger)\n"
            "  --trace calls|ops|steps  run traced, checking that the "
            "hooks balance\n"
            "                        (steps: every offset a step point)\n"
            "  -h, --help            this text\n"
            "\n"
            "exit status: 0 all passed, 1 failures, 2 usage or wast2json "
            "missing,\n"
            "3 the VM crashed\n");
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* "…/core/i32.wast" -> "core/i32.wast": the name used in reports and in
 * the xfail list, stable whatever the suite's location. */
static const char *display_name(const char *path)
{
    const char *last = strrchr(path, '/');
    const char *p;

    if (!last)
        return path;
    for (p = last - 1; p >= path && *p != '/'; p--)
        ;
    return p + 1;
}

static const char *base_name(const char *path)
{
    const char *last = strrchr(path, '/');

    return last ? last + 1 : path;
}

static bool in_path(const char *prog)
{
    const char *path = getenv("PATH");
    char buf[4096];

    if (!path)
        path = "/usr/bin:/bin";
    while (*path) {
        size_t n = strcspn(path, ":");

        int w = snprintf(buf, sizeof buf, "%.*s/%s", (int)n,
                         n ? path : ".", prog);

        if (w > 0 && (size_t)w < sizeof buf && access(buf, X_OK) == 0)
            return true;
        path += n;
        if (*path == ':')
            path++;
    }
    return false;
}

/* ---- xfail list ------------------------------------------------------ */

static int load_xfail(const char *path, spec_xfail **out, size_t *n)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    size_t cap = 0;
    unsigned lineno = 0;

    *out = NULL;
    *n = 0;
    if (!f) {
        fprintf(stderr, "traced-spec: cannot open %s: %s\n", path,
                strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof line, f)) {
        char file[512], rest[8];
        long l;
        char *hash = strchr(line, '#');
        int k;

        lineno++;
        if (hash)
            *hash = '\0';
        k = sscanf(line, "%511s %ld %7s", file, &l, rest);
        if (k <= 0)
            continue; /* blank or comment */
        if (k != 2 || l <= 0) {
            fprintf(stderr,
                    "traced-spec: %s:%u: expected \"FILE LINE\", e.g. "
                    "\"core/i32.wast 123\"\n",
                    path, lineno);
            fclose(f);
            return -1;
        }
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            *out = realloc(*out, cap * sizeof **out);
            if (!*out) {
                fclose(f);
                return -1;
            }
        }
        (*out)[*n].file = strdup(file);
        (*out)[*n].line = l;
        if (!(*out)[(*n)++].file) {
            fclose(f);
            return -1;
        }
    }
    fclose(f);
    return 0;
}

/* ---- wast2json ------------------------------------------------------- */

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[4096];

    if (!d)
        return;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        int n = snprintf(path, sizeof path, "%s/%s", dir, e->d_name);

        if (n > 0 && (size_t)n < sizeof path)
            unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

/* Convert a .wast into dir/<base>.json; returns 0 or prints why not. */
static int convert(const runner *r, const char *wast, const char *dir,
                   char *json_path, size_t len)
{
    const char *argv[16];
    size_t argc = 0;
    const char *base = base_name(wast);
    pid_t pid;
    int status;
    int n = snprintf(json_path, len, "%s/%.*s.json", dir,
                     (int)(strrchr(base, '.') - base), base);

    if (n < 0 || (size_t)n >= len) {
        printf("ERROR %s  (path too long)\n", display_name(wast));
        return -1;
    }
    argv[argc++] = "wast2json";
    for (size_t i = 0; i < r->nflags; i++)
        argv[argc++] = r->wast2json_flags[i];
    argv[argc++] = wast;
    argv[argc++] = "-o";
    argv[argc++] = json_path;
    argv[argc] = NULL;

    fflush(stdout);
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        execvp("wast2json", (char *const *)argv);
        _exit(127);
    }
    if (waitpid(pid, &status, 0) < 0)
        return -1;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        printf("ERROR %s  (wast2json failed, status %d)\n",
               display_name(wast), status);
        return -1;
    }
    return 0;
}

/* ---- one file -------------------------------------------------------- */

static void add_counts(spec_counts *to, const spec_counts *c)
{
    to->passed += c->passed;
    to->failed += c->failed;
    to->skipped += c->skipped;
    to->xfailed += c->xfailed;
    to->xpassed += c->xpassed;
}

/* Run a converted script, in a child unless --no-fork. */
static void run_json(runner *r, const char *json_path, const char *display,
                     uint32_t features)
{
    spec_progress *p;
    pid_t pid;
    int status;

    if (!r->fork_per_file) {
        spec_progress local = {{0}, 0, 0};

        if (spec_run_script(&r->opt, json_path, display, features, &local))
            r->file_errors++;
        add_counts(&r->total, &local.counts);
        fflush(stdout);
        return;
    }

    p = mmap(NULL, sizeof *p, PROT_READ | PROT_WRITE,
             MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        printf("ERROR %s  (mmap: %s)\n", display, strerror(errno));
        r->file_errors++;
        return;
    }
    memset(p, 0, sizeof *p);
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid < 0) {
        printf("ERROR %s  (fork: %s)\n", display, strerror(errno));
        r->file_errors++;
        munmap(p, sizeof *p);
        return;
    }
    if (pid == 0) {
        int rc = spec_run_script(&r->opt, json_path, display, features, p);

        fflush(stdout);
        p->done = rc == 0 ? 1 : -1;
        /* exit, not _exit: a sanitizer's leak check runs at exit and
         * its verdict becomes the status the parent checks. */
        exit(0);
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;

    add_counts(&r->total, &p->counts);
    if (p->done && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        if (p->done < 0)
            r->file_errors++;
    } else if (p->done) {
        /* The script finished; the process failed at exit (leak check). */
        printf("CRASH %s  (exited with status %d after the last command; "
               "see the sanitizer report above)\n",
               display, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        r->crashes++;
    } else {
        if (WIFSIGNALED(status))
            printf("CRASH %s  (killed by signal %d, %s,",
                   display, WTERMSIG(status), strsignal(WTERMSIG(status)));
        else
            printf("CRASH %s  (exited with status %d: a sanitizer report "
                   "or an abort, see above;",
                   display, WEXITSTATUS(status));
        printf(" in the command on line %ld; %u passed, %u failed before "
               "it)\n",
               p->current_line, p->counts.passed, p->counts.failed);
        r->total.failed++; /* the command that crashed */
        r->crashes++;
    }
    fflush(stdout);
    munmap(p, sizeof *p);
}

static void run_file(runner *r, const char *path)
{
    const char *display = display_name(path);
    uint32_t features = r->opt.features;

    if (has_suffix(path, ".json")) {
        run_json(r, path, display, features);
    } else if (has_suffix(path, ".wast") || has_suffix(path, ".wat")) {
        const char *tmp = getenv("TMPDIR");
        char dir[4096], json_path[4096 + 256];

        int n = snprintf(dir, sizeof dir, "%s/traced-spec.XXXXXX",
                         tmp && *tmp ? tmp : "/tmp");

        if (n < 0 || (size_t)n >= sizeof dir || !mkdtemp(dir)) {
            printf("ERROR %s  (mkdtemp %s: %s)\n", display, dir,
                   strerror(errno));
            r->file_errors++;
            return;
        }
        if (convert(r, path, dir, json_path, sizeof json_path) == 0)
            run_json(r, json_path, display, features);
        else
            r->file_errors++;
        remove_tree(dir);
    } else {
        printf("ERROR %s  (not a .wast, .wat or .json file)\n", display);
        r->file_errors++;
    }
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    double d;

    if (!s || !isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    *out = strtoull(s, &end, 10);
    if (!errno && !*end)
        return 0;
    d = strtod(s, &end); /* allow 4e9 */
    if (*end || d < 0 || d >= 18446744073709551616.0)
        return -1;
    *out = (uint64_t)d;
    return 0;
}

int main(int argc, char **argv)
{
    runner r = {.fork_per_file = true};
    spec_xfail *xfail = NULL;
    size_t nxfail = 0;
    const char **files = calloc((size_t)argc, sizeof *files);
    size_t nfiles = 0;
    bool need_wast2json = false;
    uint64_t u;

    r.opt.fuel = 4000000000ull;
    r.opt.max_shown = 5;
    if (!files)
        return EXIT_USAGE;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
            r.opt.verbose = true;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--xfail") == 0 && i + 1 < argc) {
            r.opt.xfail_path = argv[++i];
        } else if (strcmp(a, "--enable-tail-call") == 0) {
            r.opt.features |= VM_FEATURE_TAIL_CALL;
            r.wast2json_flags[r.nflags++] = a;
        } else if (strcmp(a, "--enable-exceptions") == 0) {
            r.opt.features |= VM_FEATURE_EXCEPTIONS;
            r.wast2json_flags[r.nflags++] = a;
        } else if (strcmp(a, "--enable-simd") == 0) {
            /* SIMD is Wasm 2.0 core, always on; accepted for old scripts. */
        } else if (strcmp(a, "--fuel") == 0 && i + 1 < argc &&
                   parse_u64(argv[i + 1], &u) == 0) {
            r.opt.fuel = u;
            i++;
        } else if (strcmp(a, "--show") == 0 && i + 1 < argc &&
                   parse_u64(argv[i + 1], &u) == 0 && u < 100000) {
            r.opt.max_shown = (unsigned)u;
            i++;
        } else if (strcmp(a, "--trace") == 0 && i + 1 < argc &&
                   (strcmp(argv[i + 1], "calls") == 0 ||
                    strcmp(argv[i + 1], "ops") == 0 ||
                    strcmp(argv[i + 1], "steps") == 0)) {
            i++;
            r.opt.trace = strcmp(argv[i], "ops") == 0     ? 2
                          : strcmp(argv[i], "steps") == 0 ? 3
                                                          : 1;
        } else if (strcmp(a, "--no-fork") == 0) {
            r.fork_per_file = false;
        } else if (a[0] == '-') {
            fprintf(stderr, "traced-spec: bad option or missing value: %s\n",
                    a);
            usage(stderr);
            return EXIT_USAGE;
        } else {
            files[nfiles++] = a;
            if (has_suffix(a, ".wast") || has_suffix(a, ".wat"))
                need_wast2json = true;
        }
    }
    if (nfiles == 0) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (need_wast2json && !in_path("wast2json")) {
        fprintf(stderr,
                "traced-spec: wast2json not found in PATH; it converts .wast "
                "files (install wabt: scripts/setup.sh)\n");
        return EXIT_USAGE;
    }
    if (r.opt.xfail_path) {
        if (load_xfail(r.opt.xfail_path, &xfail, &nxfail) < 0)
            return EXIT_USAGE;
        r.opt.xfail = xfail;
        r.opt.nxfail = nxfail;
    }

    for (size_t i = 0; i < nfiles; i++)
        run_file(&r, files[i]);

    if (r.opt.xfail_path)
        printf("xfail: %u known failures listed in %s were seen; %u listed "
               "entries passed (remove them)\n",
               r.total.xfailed, r.opt.xfail_path, r.total.xpassed);
    if (r.file_errors || r.crashes)
        printf("%u files could not be run, %u crashed\n", r.file_errors,
               r.crashes);
    printf("%u passed, %u failed, %u skipped\n", r.total.passed,
           r.total.failed, r.total.skipped);

    for (size_t i = 0; i < nxfail; i++)
        free(xfail[i].file);
    free(xfail);
    free(files);
    if (r.crashes)
        return EXIT_CRASH;
    return r.total.failed || r.file_errors ? EXIT_FAILED : 0;
}
