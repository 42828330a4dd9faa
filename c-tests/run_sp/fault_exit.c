/* A child that exits inside its callback without answering (_exit(3),
 * exit(0), exit(1)) is LK_ERR_WORKER_DIED with its exit status in
 * lk_last_error(); never a hang, never a zombie. */
#include "sptest.h"

static int32_t underscore_exit(const void *arg, lk_buffer *out) {
    SPT_APPEND(out, "x", 1);
    _exit(*(const int *)arg);
}

static int32_t plain_exit(const void *arg, lk_buffer *out) {
    SPT_APPEND(out, "x", 1);
    exit(*(const int *)arg);
}

static void expect_exit(lk_sp_fn fn, int code) {
    lk_buffer res = spt_empty();
    double t0 = lkt_now();
    CHECK_FAIL(lk_run_sp(fn, &code, &res), LK_ERR_WORKER_DIED);
    CHECK(lkt_now() - t0 < 5.0);
    fprintf(stderr, "exit %d: %s\n", code, lk_last_error());
    CHECK_ERROR_HAS("exit");
    CHECK_ERROR_HAS_NUMBER(code);
    CHECK(spt_is_zero(&res));
    lkt_check_no_children();

    lk_sp_options opts;
    lk_sp_options_init(&opts, sizeof opts);
    opts.timeout_ms = 15000;
    CHECK_FAIL(lk_run_sp_with(fn, &code, &opts, &res), LK_ERR_WORKER_DIED);
    CHECK_ERROR_HAS("exit");
    CHECK_ERROR_HAS_NUMBER(code);
    CHECK(spt_is_zero(&res));
    lkt_check_no_children();
}

int main(void) {
    lkt_watchdog(20);
    expect_exit(underscore_exit, 3);
    expect_exit(underscore_exit, 0);
    expect_exit(plain_exit, 0);
    expect_exit(plain_exit, 1);
    expect_exit(plain_exit, 77);
    printf("run_sp_fault_exit: ok\n");
    return 0;
}
