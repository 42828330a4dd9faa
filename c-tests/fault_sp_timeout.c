/* lk_run_sp_with's time limit: a child that sleeps forever is stopped and
 * the call returns LK_ERR_TIMEOUT promptly (SIGTERM ends it; the grace
 * period is not waited out), the child is reaped, the result untouched. */
#include "sptest.h"

static int pid_pipe[2];

static int32_t sleep_forever(const void *arg, lk_buffer *out) {
    (void)arg;
    SPT_APPEND(out, "partial", 7);
    pid_t me = getpid();
    if (write(pid_pipe[1], &me, sizeof me) != (ssize_t)sizeof me) return 5;
    for (;;) pause();
}

static int32_t quick(const void *arg, lk_buffer *out) {
    (void)arg;
    SPT_APPEND(out, "quick", 5);
    return 0;
}

static pid_t read_pid(void) {
    pid_t pid = 0;
    CHECK(read(pid_pipe[0], &pid, sizeof pid) == (ssize_t)sizeof pid);
    return pid;
}

static void check_gone(pid_t pid) {
    errno = 0;
    CHECK(kill(pid, 0) == -1 && errno == ESRCH);
}

int main(void) {
    lkt_watchdog(20);
    CHECK(pipe(pid_pipe) == 0);

    lk_sp_options opts;
    memset(&opts, 0xab, sizeof opts);
    lk_sp_options_init(&opts, sizeof opts);
    CHECK(opts.struct_size == sizeof opts);
    CHECK(opts.timeout_ms == 0 && opts.grace_ms == 0 && opts.memory_limit == 0);

    /* Default grace. */
    opts.timeout_ms = 200;
    lk_buffer res = spt_empty();
    double t0 = lkt_now();
    CHECK_FAIL(lk_run_sp_with(sleep_forever, NULL, &opts, &res), LK_ERR_TIMEOUT);
    double took = lkt_now() - t0;
    fprintf(stderr, "timeout 200 ms: returned after %.3f s: %s\n", took, lk_last_error());
    CHECK(took >= 0.19);
    CHECK(took < 1.5);
    CHECK(spt_is_zero(&res));
    check_gone(read_pid());
    lkt_check_no_children();

    /* A long grace is not waited out when SIGTERM ends the child. */
    opts.timeout_ms = 300;
    opts.grace_ms = 10000;
    t0 = lkt_now();
    CHECK_FAIL(lk_run_sp_with(sleep_forever, NULL, &opts, &res), LK_ERR_TIMEOUT);
    took = lkt_now() - t0;
    fprintf(stderr, "timeout 300 ms, grace 10 s: returned after %.3f s\n", took);
    CHECK(took >= 0.29);
    CHECK(took < 2.0);
    CHECK(spt_is_zero(&res));
    check_gone(read_pid());
    lkt_check_no_children();

    /* A child that finishes within its limit is not disturbed. */
    opts.timeout_ms = 5000;
    opts.grace_ms = 0;
    t0 = lkt_now();
    CHECK_OK(lk_run_sp_with(quick, NULL, &opts, &res));
    CHECK(lkt_now() - t0 < 2.0);
    CHECK(res.len == 5 && memcmp(res.data, "quick", 5) == 0);
    lk_buffer_free(&res);

    lkt_check_no_children();
    printf("fault_sp_timeout: ok\n");
    return 0;
}
