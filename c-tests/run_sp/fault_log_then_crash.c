/* Records a run_sp child logged reach the parent's callback before
 * lk_run_sp returns, in order and once each, also when the child then
 * crashes, exits, fails or runs out of time. */
#include "sptest.h"

enum { N = 6000 }; /* over 100 KB of frames: more than a pipe holds */

/* How the child ends after logging, the prefix of its records and the
 * status lk_run_sp must give. */
enum { THEN_SEGV, THEN_ABORT, THEN_SIGKILL, THEN_EXIT, THEN_FAIL, THEN_HANG, ENDS };
static const struct {
    const char *prefix;
    lk_status status;
} ends[ENDS] = {
    [THEN_SEGV] = {"segv-", LK_ERR_WORKER_DIED}, [THEN_ABORT] = {"abrt-", LK_ERR_WORKER_DIED},
    [THEN_SIGKILL] = {"kill-", LK_ERR_WORKER_DIED}, [THEN_EXIT] = {"exit-", LK_ERR_WORKER_DIED},
    [THEN_FAIL] = {"fail-", LK_ERR_CALLBACK},      [THEN_HANG] = {"hang-", LK_ERR_TIMEOUT},
};

/* arg: the end (an int). */
static int32_t log_then_end(const void *arg, lk_buffer *out) {
    (void)out;
    int end = *(const int *)arg;
    for (int i = 0; i < N; i++) lkt_log_numbered(LK_LOG_WARN, ends[end].prefix, i);
    switch (end) {
    case THEN_SEGV: raise(SIGSEGV); break;
    case THEN_ABORT: abort();
    case THEN_SIGKILL: raise(SIGKILL); break;
    case THEN_EXIT: _exit(3);
    case THEN_FAIL: return 9;
    case THEN_HANG:
        for (;;) pause();
    }
    return 0;
}

static void expect(int end) {
    const char *prefix = ends[end].prefix;
    lk_status status = ends[end].status;
    lkt_log_clear();
    lk_buffer res = spt_empty();
    lk_sp_options opts;
    lk_sp_options_init(&opts, sizeof opts);
    opts.timeout_ms = status == LK_ERR_TIMEOUT ? 500 : 15000;
    CHECK_FAIL(lk_run_sp_with(log_then_end, &end, &opts, &res), status);
    lkt_log_check_sequence(prefix, N, LK_LOG_WARN); /* all, in order, none twice */
    CHECK(spt_is_zero(&res));

    if (status != LK_ERR_TIMEOUT) {
        lkt_log_clear();
        CHECK_FAIL(lk_run_sp(log_then_end, &end, &res), status);
        lkt_log_check_sequence(prefix, N, LK_LOG_WARN);
    }
    lkt_check_no_children();
}

int main(void) {
    lkt_watchdog(20);
    lkt_no_core_dumps();
    lk_set_log_callback(lkt_log_capture, NULL, LK_LOG_INFO);
    for (int end = 0; end < ENDS; end++) expect(end);
    lk_set_log_callback(NULL, NULL, LK_LOG_INFO);
    printf("run_sp_fault_log_then_crash: ok\n");
    return 0;
}
