/* Records a run_sp child logged reach the parent's callback before
 * lk_run_sp returns, in order and once each, also when the child then
 * crashes, exits, fails or runs out of time. */
#include "sptest.h"

enum { N = 6000 }; /* over 100 KB of frames: more than a pipe holds */

static void log_n(const char *prefix) {
    char msg[64];
    for (int i = 0; i < N; i++) {
        snprintf(msg, sizeof msg, "%s%d", prefix, i);
        lk_log(LK_LOG_WARN, msg);
    }
}

static int32_t then_segv(const void *arg, lk_buffer *out) {
    (void)arg; (void)out;
    log_n("segv-");
    raise(SIGSEGV);
    return 0;
}
static int32_t then_abort(const void *arg, lk_buffer *out) {
    (void)arg; (void)out;
    log_n("abrt-");
    abort();
}
static int32_t then_sigkill(const void *arg, lk_buffer *out) {
    (void)arg; (void)out;
    log_n("kill-");
    raise(SIGKILL);
    return 0;
}
static int32_t then_exit(const void *arg, lk_buffer *out) {
    (void)arg; (void)out;
    log_n("exit-");
    _exit(3);
}
static int32_t then_fail(const void *arg, lk_buffer *out) {
    (void)arg; (void)out;
    log_n("fail-");
    return 9;
}
static int32_t then_hang(const void *arg, lk_buffer *out) {
    (void)arg; (void)out;
    log_n("hang-");
    for (;;) pause();
    return 0;
}

static void expect(lk_sp_fn fn, const char *prefix, lk_status status) {
    lkt_log_clear();
    lk_buffer res = spt_empty();
    lk_sp_options opts;
    lk_sp_options_init(&opts, sizeof opts);
    opts.timeout_ms = status == LK_ERR_TIMEOUT ? 500 : 15000;
    CHECK_FAIL(lk_run_sp_with(fn, NULL, &opts, &res), status);
    lkt_log_check_sequence(prefix, N, LK_LOG_WARN); /* all, in order, none twice */
    CHECK(spt_is_zero(&res));

    if (status != LK_ERR_TIMEOUT) {
        lkt_log_clear();
        CHECK_FAIL(lk_run_sp(fn, NULL, &res), status);
        lkt_log_check_sequence(prefix, N, LK_LOG_WARN);
    }
    lkt_check_no_children();
}

int main(void) {
    lkt_watchdog(20);
    lkt_no_core_dumps();
    lk_set_log_callback(lkt_log_capture, NULL, LK_LOG_INFO);
    expect(then_segv, "segv-", LK_ERR_WORKER_DIED);
    expect(then_abort, "abrt-", LK_ERR_WORKER_DIED);
    expect(then_sigkill, "kill-", LK_ERR_WORKER_DIED);
    expect(then_exit, "exit-", LK_ERR_WORKER_DIED);
    expect(then_fail, "fail-", LK_ERR_CALLBACK);
    expect(then_hang, "hang-", LK_ERR_TIMEOUT);
    lk_set_log_callback(NULL, NULL, LK_LOG_INFO);
    printf("run_sp_fault_log_then_crash: ok\n");
    return 0;
}
