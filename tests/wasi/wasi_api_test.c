/*
 * The vm_wasi C API (Check, fork mode): output callback order and stream
 * tracking through fd_renumber, capture-only, clock and random overrides,
 * argument errors, and out-of-memory at every allocation of a run.
 *
 *   wasi-api-test PROBE.wasm     (run.sh builds wasm_only/api_probe.c)
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <traced/vm.h>
#include <traced/wasi.h>

extern long vm__alloc_fail_after; /* vm/alloc.c test hook */

static const char *probe_path;
static uint8_t *probe;
static size_t probe_len;

/* The callback's records, merged while the stream stays the same (how
 * wasi-libc splits a write into iovecs is not ours to test):
 * "STREAM:bytes|" per run of one stream. */
typedef struct capture {
    char text[1024];
    size_t len;
    int last_stream;
} capture;

static void on_output(void *user, int stream, const uint8_t *bytes,
                      size_t len)
{
    capture *c = user;

    if (c->len && stream == c->last_stream)
        c->len--; /* drop the '|' and continue the record */
    else
        c->len += (size_t)snprintf(c->text + c->len, sizeof c->text - c->len,
                                   "%d:", stream);
    c->len += (size_t)snprintf(c->text + c->len, sizeof c->text - c->len,
                               "%.*s|", (int)len, (const char *)bytes);
    c->last_stream = stream;
}

static int fixed_clock(void *user, uint32_t id, uint64_t *ns)
{
    *ns = 1234567890123456789ull;
    return 0;
}

static int fixed_random(void *user, uint8_t *buf, size_t len)
{
    memset(buf, 0xab, len);
    return 0;
}

/* Run the probe with cfg; returns the vm_wasi_run_start code. */
static int run_probe(vm_wasi_config *cfg, int32_t *exit_code)
{
    vm_module *m = NULL;
    vm_store *s = NULL;
    vm_wasi *w = NULL;
    char err[256];
    int rc;

    rc = vm_module_new(probe, probe_len, NULL, &m, err, sizeof err);
    if (rc == 0)
        rc = vm_store_new(NULL, &s);
    if (rc == 0)
        rc = vm_wasi_new(s, cfg, &w, err, sizeof err);
    if (rc == 0)
        rc = vm_wasi_run_start(w, m, exit_code, NULL, err, sizeof err);
    vm_wasi_free(w);
    vm_store_free(s);
    vm_module_free(m);
    return rc;
}

START_TEST(test_output_order_and_renumber)
{
    vm_wasi_config cfg;
    capture c = {.len = 0};
    int32_t code = -1;
    const char *argv[] = {"probe"};

    vm_wasi_config_default(&cfg);
    cfg.argv = argv;
    cfg.argc = 1;
    cfg.on_output = on_output;
    cfg.capture_only = true;
    cfg.clock_now = fixed_clock;
    cfg.random_fill = fixed_random;
    cfg.user = &c;
    ck_assert_int_eq(run_probe(&cfg, &code), 0);
    /* fd 1 was renumbered onto fd 2, so fd 1 is closed: write fails. */
    ck_assert_int_eq(code, 4);
    ck_assert_str_eq(c.text, "1:t=1234567890.123456789 r=abababab\n|"
                             "2:err\n|1:out\nmoved\n|");
}
END_TEST

START_TEST(test_bad_arguments)
{
    vm_wasi_config cfg;
    vm_wasi_preopen po = {.host_path = "/nonexistent/dir", .guest_path = "/x"};
    vm_store *s;
    vm_wasi *w = (vm_wasi *)1;
    char err[256] = "";

    ck_assert_int_eq(vm_store_new(NULL, &s), 0);
    vm_wasi_config_default(&cfg);
    ck_assert_int_eq(vm_wasi_new(NULL, &cfg, &w, err, sizeof err), VM_ERR_ARG);
    cfg.preopens = &po;
    cfg.npreopens = 1;
    ck_assert_int_eq(vm_wasi_new(s, &cfg, &w, err, sizeof err),
                     VM_ERR_NOT_FOUND);
    ck_assert_ptr_null(w);
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/dir"));
    ck_assert_str_eq(vm_wasi_errno_name(VM_WASI_E_notcapable), "notcapable");
    ck_assert_str_eq(vm_wasi_errno_name(1000), "unknown");
    vm_store_free(s);
}
END_TEST

/* Every allocation of a whole run may fail: a clean error, never a crash
 * or leak (ASan/LSan in the sanitizer build). */
START_TEST(test_out_of_memory)
{
    vm_wasi_config cfg;
    capture c = {.len = 0};
    int32_t code;
    int rc = -1;
    long n;

    for (n = 1; n < 100000; n++) {
        c.len = 0;
        c.text[0] = '\0';
        vm_wasi_config_default(&cfg);
        cfg.on_output = on_output;
        cfg.capture_only = true;
        cfg.user = &c;
        vm__alloc_fail_after = n;
        rc = run_probe(&cfg, &code);
        vm__alloc_fail_after = -1;
        if (rc == 0)
            break;
        ck_assert_int_lt(rc, 0);
    }
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(code, 4);
}
END_TEST

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    long n;

    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);
    buf = malloc((size_t)n);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

int main(int argc, char **argv)
{
    Suite *suite = suite_create("wasi");
    TCase *tc = tcase_create("api");
    SRunner *sr;
    int failed;

    if (argc != 2) {
        fprintf(stderr, "usage: wasi-api-test PROBE.wasm\n");
        return 2;
    }
    probe_path = argv[1];
    probe = slurp(probe_path, &probe_len);
    if (!probe) {
        fprintf(stderr, "wasi-api-test: cannot read %s\n", probe_path);
        return 2;
    }
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_output_order_and_renumber);
    tcase_add_test(tc, test_bad_arguments);
    tcase_add_test(tc, test_out_of_memory);
    suite_add_tcase(suite, tc);
    sr = srunner_create(suite);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    free(probe);
    return failed ? 1 : 0;
}
