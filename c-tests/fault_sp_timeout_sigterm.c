/* A child that ignores SIGTERM (or catches it, or is stopped) past its time
 * limit is SIGKILLed once grace_ms has passed: LK_ERR_TIMEOUT, not a hang;
 * and it is reaped. */
#include "sptest.h"

static int pid_pipe[2];

static int32_t stubborn(const void *arg, lk_buffer *out) {
    (void)arg;
    (void)out;
    signal(SIGTERM, SIG_IGN);
    pid_t me = getpid();
    if (write(pid_pipe[1], &me, sizeof me) != (ssize_t)sizeof me) return 5;
    for (;;) pause();
}

/* Catches SIGTERM and goes on sleeping (a handler, not SIG_IGN). */
static void on_term(int sig) { (void)sig; }
static int32_t stubborn_handler(const void *arg, lk_buffer *out) {
    (void)arg;
    (void)out;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    pid_t me = getpid();
    if (write(pid_pipe[1], &me, sizeof me) != (ssize_t)sizeof me) return 5;
    for (;;) pause();
}

/* Stops itself: a stopped process does not act on SIGTERM either. */
static int32_t stopped(const void *arg, lk_buffer *out) {
    (void)arg;
    (void)out;
    pid_t me = getpid();
    if (write(pid_pipe[1], &me, sizeof me) != (ssize_t)sizeof me) return 5;
    raise(SIGSTOP);
    for (;;) pause();
}

static void run(lk_sp_fn fn, uint64_t timeout_ms, uint32_t grace_ms) {
    lk_sp_options opts;
    lk_sp_options_init(&opts, sizeof opts);
    opts.timeout_ms = timeout_ms;
    opts.grace_ms = grace_ms;
    lk_buffer res = spt_empty();
    double t0 = lkt_now();
    CHECK_FAIL(lk_run_sp_with(fn, NULL, &opts, &res), LK_ERR_TIMEOUT);
    double took = lkt_now() - t0;
    fprintf(stderr, "timeout %u ms, grace %u ms: returned after %.3f s: %s\n", (unsigned)timeout_ms,
            (unsigned)grace_ms, took, lk_last_error());
    double limit = (double)(timeout_ms + grace_ms) / 1000.0;
    CHECK(took >= limit - 0.01); /* SIGTERM did not end it: the grace ran out */
    CHECK(took < limit + 1.5);
    CHECK(spt_is_zero(&res));
    pid_t pid = 0;
    CHECK(read(pid_pipe[0], &pid, sizeof pid) == (ssize_t)sizeof pid);
    errno = 0;
    CHECK(kill(pid, 0) == -1 && errno == ESRCH); /* killed and reaped */
    lkt_check_no_children();
}

int main(void) {
    lkt_watchdog(20);
    CHECK(pipe(pid_pipe) == 0);
    run(stubborn, 200, 300);
    run(stubborn_handler, 100, 400);
    /* grace_ms 0 means the default, 500 ms. */
    run(stubborn, 100, 0);
    run(stopped, 100, 200);
    printf("fault_sp_timeout_sigterm: ok\n");
    return 0;
}
