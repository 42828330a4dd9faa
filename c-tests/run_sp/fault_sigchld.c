/* lk_run_sp whatever the host did with SIGCHLD: a counting handler installed
 * without SA_RESTART changes nothing; with SIGCHLD ignored (SIG_IGN, or
 * SA_NOCLDWAIT) the kernel reaps the child itself and its exit status is
 * gone, but the call must still return (API: "it never hangs"): the result
 * of a child that answered, LK_ERR_CALLBACK for one that failed, and
 * LK_ERR_WORKER_DIED for one that died. */
#include "sptest.h"

static void all_three(const char *setting) {
    fprintf(stderr, "SIGCHLD %s ...\n", setting);
    for (int i = 0; i < 5; i++) {
        lk_buffer res = spt_empty();
        double t0 = lkt_now();
        CHECK_OK(lk_run_sp(spt_child, spt_end_arg(SPT_OK), &res));
        CHECK(res.len == 2 && memcmp(res.data, "ok", 2) == 0);
        lk_buffer_free(&res);
        CHECK_FAIL(lk_run_sp(spt_child, spt_end_arg(SPT_FAIL), &res), LK_ERR_CALLBACK);
        CHECK_ERROR_HAS_NUMBER(SPT_FAIL_CODE);
        CHECK_FAIL(lk_run_sp(spt_child, spt_end_arg(SPT_KILL), &res), LK_ERR_WORKER_DIED);
        CHECK(spt_is_zero(&res));
        CHECK(lkt_now() - t0 < 3.0);
    }
    fprintf(stderr, "SIGCHLD %s: ok\n", setting);
}

int main(void) {
    lkt_watchdog(10);

    /* A handler that only counts, no SA_RESTART. */
    lkt_count_signals(SIGCHLD);
    all_three("counted by a handler without SA_RESTART");
    CHECK(atomic_load(&lkt_signals_seen) > 0);
    lkt_check_no_children();

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);

    /* SIGCHLD ignored: children are reaped by the kernel. */
    sa.sa_handler = SIG_IGN;
    CHECK(sigaction(SIGCHLD, &sa, NULL) == 0);
    all_three("ignored (SIG_IGN)");

    /* SA_NOCLDWAIT with the default action: the same. */
    sa.sa_handler = SIG_DFL;
    sa.sa_flags = SA_NOCLDWAIT;
    CHECK(sigaction(SIGCHLD, &sa, NULL) == 0);
    all_three("with SA_NOCLDWAIT");

    sa.sa_handler = SIG_DFL;
    sa.sa_flags = 0;
    CHECK(sigaction(SIGCHLD, &sa, NULL) == 0);
    lkt_check_no_children();
    printf("run_sp_fault_sigchld: ok\n");
    return 0;
}
