/*
 * wasi-run: run a WASI command under the VM, the way `traced run` does
 * without --invoke. The WASI test driver (run.sh) uses it, and it is the
 * reference for the traced CLI's WASI mode.
 *
 *   wasi-run [--fuel N] [--dir HOST[:GUEST]]... [--env K=V]...
 *            [--capture] FILE.wasm [-- ARGS...]
 *
 * The guest's argv[0] is FILE.wasm as given. --capture routes stdout and
 * stderr through the output callback only, which then writes them
 * prefixed with the stream ("1| ", "2| ") to stdout, one record per write:
 * it tests the callback's order.
 *
 * Exit status: the program's proc_exit code (0 when _start returns); 70
 * (EX_SOFTWARE) when the program traps, with the message on stderr; 1
 * when the module cannot be loaded or linked; 2 usage.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <traced/vm.h>
#include <traced/wasi.h>

#define EXIT_TRAP 70
#define MAX_ITEMS 64

static int usage(void)
{
    fprintf(stderr, "usage: wasi-run [--fuel N] [--dir HOST[:GUEST]]... "
                    "[--env K=V]... [--capture] FILE.wasm [-- ARGS...]\n");
    return 2;
}

static void capture(void *user, int stream, const uint8_t *bytes, size_t len)
{
    (void)user;
    printf("%d| ", stream);
    fwrite(bytes, 1, len, stdout);
    fflush(stdout);
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0, r;

    if (!f)
        return NULL;
    do {
        if (n == cap) {
            uint8_t *nb = realloc(buf, cap = cap ? cap * 2 : 1 << 16);

            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        r = fread(buf + n, 1, cap - n, f);
        n += r;
    } while (r > 0);
    fclose(f);
    *len = n;
    return buf;
}

int main(int argc, char **argv)
{
    vm_wasi_preopen preopens[MAX_ITEMS];
    const char *envp[MAX_ITEMS];
    const char **gargv;
    char *dirs[MAX_ITEMS];
    size_t npre = 0, nenv = 0, gargc = 0;
    const char *file = NULL;
    vm_store_limits limits = {0};
    vm_wasi_config cfg;
    vm_module *m = NULL;
    vm_store *s = NULL;
    vm_wasi *w = NULL;
    uint8_t *bytes;
    size_t len;
    char err[512];
    int32_t code = 0;
    int i, rc, status = 1;
    bool capture_only = false;

    gargv = calloc((size_t)argc + 1, sizeof *gargv);
    if (!gargv)
        return 1;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (strcmp(a, "--") == 0) {
            i++;
            break;
        } else if (strcmp(a, "--dir") == 0 && i + 1 < argc && npre < MAX_ITEMS) {
            char *d = strdup(argv[++i]), *colon = strchr(d, ':');

            dirs[npre] = d;
            if (colon)
                *colon = '\0';
            preopens[npre].host_path = d;
            preopens[npre].guest_path = colon ? colon + 1 : d;
            npre++;
        } else if (strcmp(a, "--env") == 0 && i + 1 < argc && nenv < MAX_ITEMS) {
            envp[nenv++] = argv[++i];
        } else if (strcmp(a, "--fuel") == 0 && i + 1 < argc) {
            limits.fuel = strtoull(argv[++i], NULL, 10);
        } else if (strcmp(a, "--capture") == 0) {
            capture_only = true;
        } else if (a[0] == '-' || file) {
            return usage();
        } else {
            file = a;
        }
    }
    if (!file)
        return usage();
    gargv[gargc++] = file;
    for (; i < argc; i++)
        gargv[gargc++] = argv[i];

    /* A closed pipe is an errno (pipe) for the guest, not our death. */
    signal(SIGPIPE, SIG_IGN);
    bytes = slurp(file, &len);
    if (!bytes) {
        fprintf(stderr, "wasi-run: %s: %s\n", file, strerror(errno));
        return 1;
    }
    rc = vm_module_new(bytes, len, NULL, &m, err, sizeof err);
    free(bytes);
    if (rc < 0) {
        fprintf(stderr, "wasi-run: %s: %s\n", file, err);
        goto out;
    }
    if ((rc = vm_store_new(&limits, &s)) < 0) {
        fprintf(stderr, "wasi-run: %s\n", vm_strerror(rc));
        goto out;
    }
    vm_wasi_config_default(&cfg);
    cfg.argv = gargv;
    cfg.argc = gargc;
    cfg.envp = envp;
    cfg.envc = nenv;
    cfg.preopens = preopens;
    cfg.npreopens = npre;
    if (capture_only) {
        cfg.on_output = capture;
        cfg.capture_only = true;
    }
    if ((rc = vm_wasi_new(s, &cfg, &w, err, sizeof err)) < 0) {
        fprintf(stderr, "wasi-run: %s\n", err);
        goto out;
    }
    rc = vm_wasi_run_start(w, m, &code, NULL, err, sizeof err);
    if (rc == 0) {
        status = code & 0xff;
    } else if (rc == VM_ERR_UNLINKABLE || rc == VM_ERR_NOT_FOUND) {
        fprintf(stderr, "wasi-run: %s: %s\n", file, err);
        status = 1;
    } else {
        fflush(stdout);
        fprintf(stderr, "wasi-run: %s: trapped: %s\n", file, err);
        status = EXIT_TRAP;
    }
out:
    vm_wasi_free(w);
    vm_store_free(s);
    vm_module_free(m);
    for (size_t k = 0; k < npre; k++)
        free(dirs[k]);
    free(gargv);
    return status;
}
