/* A child killed by a signal (SIGSEGV, SIGABRT, SIGKILL as the OOM killer
 * sends it) is LK_ERR_WORKER_DIED, with the signal's name in lk_last_error()
 * (and for SIGKILL a word on the OOM killer); never a hang, never a zombie. */
#include "sptest.h"

static int32_t segv(const void *arg, lk_buffer *out) {
    (void)arg;
    SPT_APPEND(out, "x", 1);
    volatile int *volatile p = NULL;
    *p = 1; /* a real fault, not raise() */
    return 0;
}

static int32_t abrt(const void *arg, lk_buffer *out) {
    (void)arg;
    SPT_APPEND(out, "x", 1);
    abort();
}

static int32_t sigkill(const void *arg, lk_buffer *out) {
    (void)arg;
    SPT_APPEND(out, "x", 1);
    raise(SIGKILL);
    return 0;
}

static int32_t sigbus(const void *arg, lk_buffer *out) {
    (void)arg;
    (void)out;
    raise(SIGBUS);
    return 0;
}

static void expect_death(lk_sp_fn fn, const char *name, int with_options) {
    lk_buffer res = spt_empty();
    double t0 = lkt_now();
    if (with_options) {
        lk_sp_options opts;
        lk_sp_options_init(&opts, sizeof opts);
        opts.timeout_ms = 15000;
        CHECK_FAIL(lk_run_sp_with(fn, NULL, &opts, &res), LK_ERR_WORKER_DIED);
    } else {
        CHECK_FAIL(lk_run_sp(fn, NULL, &res), LK_ERR_WORKER_DIED);
    }
    CHECK(lkt_now() - t0 < 5.0);
    fprintf(stderr, "%s: %s\n", name, lk_last_error());
    CHECK_ERROR_HAS(name);
    CHECK(spt_is_zero(&res));
    lkt_check_no_children();
}

int main(void) {
    lkt_watchdog(20);
    lkt_no_core_dumps();
    for (int with_options = 0; with_options < 2; with_options++) {
        expect_death(segv, "SIGSEGV", with_options);
        expect_death(abrt, "SIGABRT", with_options);
        expect_death(sigkill, "SIGKILL", with_options);
        CHECK_ERROR_HAS("OOM");
        expect_death(sigbus, "SIGBUS", with_options);
    }
    printf("run_sp_fault_signal_death: ok\n");
    return 0;
}
