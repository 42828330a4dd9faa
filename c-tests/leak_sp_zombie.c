/* No lk_run_sp call leaves a child behind, whatever way the child ended:
 * afterwards waitpid(-1, WNOHANG) finds no child at all (ECHILD). */
#include "sptest.h"

static int32_t ok(const void *arg, lk_buffer *out) {
    (void)arg;
    SPT_APPEND(out, "ok", 2);
    return 0;
}
static int32_t fails(const void *arg, lk_buffer *out) {
    (void)arg;
    (void)out;
    return 3;
}
static int32_t crashes(const void *arg, lk_buffer *out) {
    (void)arg;
    (void)out;
    raise(SIGSEGV);
    return 0;
}
static int32_t killed(const void *arg, lk_buffer *out) {
    (void)arg;
    (void)out;
    raise(SIGKILL);
    return 0;
}
static int32_t exits(const void *arg, lk_buffer *out) {
    (void)arg;
    (void)out;
    _exit(3);
}
static int32_t hangs(const void *arg, lk_buffer *out) {
    (void)arg;
    (void)out;
    for (;;) pause();
    return 0;
}
static int32_t stubborn(const void *arg, lk_buffer *out) {
    (void)arg;
    (void)out;
    signal(SIGTERM, SIG_IGN);
    for (;;) pause();
    return 0;
}

int main(void) {
    lkt_watchdog(20);
    lkt_no_core_dumps();
    lkt_check_no_children();
    lk_sp_options opts;
    lk_sp_options_init(&opts, sizeof opts);
    opts.timeout_ms = 50;
    opts.grace_ms = 50;
    for (int round = 0; round < 10; round++) {
        lk_buffer res = spt_empty();
        CHECK_OK(lk_run_sp(ok, NULL, &res));
        lk_buffer_free(&res);
        lkt_check_no_children();
        CHECK_STATUS(lk_run_sp(fails, NULL, &res), LK_ERR_CALLBACK);
        lkt_check_no_children();
        CHECK_STATUS(lk_run_sp(crashes, NULL, &res), LK_ERR_WORKER_DIED);
        lkt_check_no_children();
        CHECK_STATUS(lk_run_sp(killed, NULL, &res), LK_ERR_WORKER_DIED);
        lkt_check_no_children();
        CHECK_STATUS(lk_run_sp(exits, NULL, &res), LK_ERR_WORKER_DIED);
        lkt_check_no_children();
        CHECK_STATUS(lk_run_sp_with(hangs, NULL, &opts, &res), LK_ERR_TIMEOUT);
        lkt_check_no_children();
        CHECK_STATUS(lk_run_sp_with(stubborn, NULL, &opts, &res), LK_ERR_TIMEOUT);
        lkt_check_no_children();
        CHECK(spt_is_zero(&res));
    }
    /* And nothing turns into a zombie a little later either. */
    lkt_sleep_us(100 * 1000);
    lkt_check_no_children();
    printf("leak_sp_zombie: ok\n");
    return 0;
}
