/* lk_run_sp_with's time limit (timeout_ms, then SIGTERM, then SIGKILL after
 * grace_ms; grace_ms 0 means 500 ms):
 *  - a child that sleeps forever is ended by SIGTERM: the call returns
 *    LK_ERR_TIMEOUT promptly, a long grace period is not waited out;
 *  - a child that ignores SIGTERM, catches it and sleeps on, or has stopped
 *    itself is SIGKILLed once the grace period has passed: LK_ERR_TIMEOUT,
 *    not a hang, and not before timeout + grace;
 * every time the child is reaped and the result untouched (what the child
 * had appended is not handed back); a child that finishes within its limit
 * is not disturbed. The options struct's defaults are 0. */
#include "sptest.h"

enum { SLEEPS, IGNORES_TERM, CATCHES_TERM, STOPS };

static int pid_pipe[2];

/* Catches SIGTERM and goes on sleeping (a handler, not SIG_IGN). */
static void on_term(int sig) { (void)sig; }

/* arg: one of the kinds above, as an integer. */
static int32_t overstays(const void *arg, lk_buffer *out) {
    int kind = (int)(intptr_t)arg;
    SPT_APPEND(out, "partial", 7);
    if (kind == IGNORES_TERM) signal(SIGTERM, SIG_IGN);
    if (kind == CATCHES_TERM) lkt_on_signal(SIGTERM, on_term);
    pid_t me = getpid();
    if (write(pid_pipe[1], &me, sizeof me) != (ssize_t)sizeof me) return 5;
    if (kind == STOPS) raise(SIGSTOP); /* a stopped process does not act on SIGTERM either */
    for (;;) pause();
}

static int32_t quick(const void *arg, lk_buffer *out) {
    (void)arg;
    SPT_APPEND(out, "quick", 5);
    return 0;
}

static const struct {
    int kind;
    uint64_t timeout_ms;
    uint32_t grace_ms;
    double at_least, below; /* seconds the call takes */
} cases[] = {
    /* SIGTERM ends it: the default grace and a long one are not waited out */
    {SLEEPS, 200, 0, 0.19, 1.5},
    {SLEEPS, 300, 10000, 0.29, 2.0},
    /* SIGTERM does not end it: the grace runs out (0 meaning 500 ms) */
    {IGNORES_TERM, 200, 300, 0.49, 2.0},
    {CATCHES_TERM, 100, 400, 0.49, 2.0},
    {IGNORES_TERM, 100, 0, 0.59, 1.6},
    {STOPS, 100, 200, 0.29, 1.8},
};

int main(void) {
    lkt_watchdog(30);
    CHECK(pipe(pid_pipe) == 0);

    lk_sp_options opts;
    memset(&opts, 0xab, sizeof opts);
    lk_sp_options_init(&opts, sizeof opts);
    CHECK(opts.struct_size == sizeof opts);
    CHECK(opts.timeout_ms == 0 && opts.grace_ms == 0 && opts.memory_limit == 0);

    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        opts.timeout_ms = cases[k].timeout_ms;
        opts.grace_ms = cases[k].grace_ms;
        lk_buffer res = spt_empty();
        double t0 = lkt_now();
        CHECK_FAIL(lk_run_sp_with(overstays, (const void *)(intptr_t)cases[k].kind, &opts, &res), LK_ERR_TIMEOUT);
        double took = lkt_now() - t0;
        fprintf(stderr, "kind %d, timeout %u ms, grace %u ms: returned after %.3f s: %s\n", cases[k].kind,
                (unsigned)opts.timeout_ms, (unsigned)opts.grace_ms, took, lk_last_error());
        CHECK_MSG(took >= cases[k].at_least && took < cases[k].below, "case %zu took %.3f s", k, took);
        CHECK(spt_is_zero(&res));
        pid_t pid = 0;
        CHECK(read(pid_pipe[0], &pid, sizeof pid) == (ssize_t)sizeof pid);
        errno = 0;
        CHECK(kill(pid, 0) == -1 && errno == ESRCH); /* killed and reaped */
        lkt_check_no_children();
    }

    /* A child that finishes within its limit is not disturbed. */
    opts.timeout_ms = 5000;
    opts.grace_ms = 0;
    lk_buffer res = spt_empty();
    double t0 = lkt_now();
    CHECK_OK(lk_run_sp_with(quick, NULL, &opts, &res));
    CHECK(lkt_now() - t0 < 2.0);
    CHECK(res.len == 5 && memcmp(res.data, "quick", 5) == 0);
    lk_buffer_free(&res);

    lkt_check_no_children();
    printf("run_sp_fault_timeout: ok\n");
    return 0;
}
