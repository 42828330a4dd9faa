/* A SIGALRM timer firing every millisecond, its handler installed with
 * sigaction and no SA_RESTART, changes no lk_run_sp result: successes,
 * failures, a 1 MiB result, a time-out, and log delivery all come out as
 * without the signals (EINTR is retried). */
#include "sptest.h"

static int32_t work(const void *arg, lk_buffer *out) {
    int kind = *(const int *)arg;
    for (int i = 0; i < 50; i++) lkt_log_numbered(LK_LOG_INFO, "alrm-", i);
    if (kind == 1) return 33;
    if (kind == 2) _exit(3);
    if (kind == 3) for (;;) pause();
    static unsigned char big[1 << 20];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (unsigned char)(i * 7);
    lkt_sleep_us(3 * 1000); /* let a few alarms land in the parent's wait */
    SPT_APPEND(out, big, sizeof big);
    return 0;
}

int main(void) {
    /* SIGALRM is taken: a watchdog thread instead of lkt_watchdog's alarm. */
    lkt_watchdog_thread(20);
    lk_set_log_callback(lkt_log_capture, NULL, LK_LOG_INFO);

    lkt_count_signals(SIGALRM);
    lkt_alarm_every_us(1000);

    lk_sp_options opts;
    lk_sp_options_init(&opts, sizeof opts);
    opts.timeout_ms = 100;
    opts.grace_ms = 100;
    for (int round = 0; round < 40; round++) {
        int kind = round % 4;
        lk_buffer res = spt_empty();
        lkt_log_clear();
        if (kind == 0) {
            CHECK_OK(lk_run_sp(work, &kind, &res));
            CHECK(res.len == 1 << 20);
            for (size_t i = 0; i < res.len; i += 4093) CHECK(res.data[i] == (unsigned char)(i * 7));
            lk_buffer_free(&res);
        } else if (kind == 1) {
            CHECK_FAIL(lk_run_sp(work, &kind, &res), LK_ERR_CALLBACK);
            CHECK_ERROR_HAS_NUMBER(33);
        } else if (kind == 2) {
            CHECK_FAIL(lk_run_sp(work, &kind, &res), LK_ERR_WORKER_DIED);
            CHECK_ERROR_HAS_NUMBER(3);
        } else {
            double t0 = lkt_now();
            CHECK_FAIL(lk_run_sp_with(work, &kind, &opts, &res), LK_ERR_TIMEOUT);
            CHECK(lkt_now() - t0 >= 0.099);
        }
        CHECK(kind == 0 || spt_is_zero(&res));
        lkt_log_check_sequence("alrm-", 50, LK_LOG_INFO);
        lkt_check_no_children();
    }
    lkt_alarm_every_us(0);
    lk_set_log_callback(NULL, NULL, LK_LOG_INFO);
    CHECK(atomic_load(&lkt_signals_seen) > 100);
    printf("run_sp_fault_sigalrm: ok (%ld alarms)\n", (long)atomic_load(&lkt_signals_seen));
    return 0;
}
