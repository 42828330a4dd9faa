/* LK_ERR_TIMEOUT: an lk_run_sp_with child that runs past timeout_ms, one
 * that sleeps and one that also ignores SIGTERM (it then gets SIGKILL after
 * grace_ms). The call returns promptly, the result is untouched, the child
 * is reaped. */
#include "lktest.h"
#include "run_sp/sptest.h"

int main(void) {
    lkt_watchdog(60);
    for (int ignore_term = 0; ignore_term < 2; ignore_term++) {
        lk_sp_options so;
        lk_sp_options_init(&so, sizeof so);
        so.timeout_ms = 100;
        so.grace_ms = 100;
        lk_buffer b;
        memset(&b, 0, sizeof b);
        double t0 = lkt_now();
        const void *end = spt_end_arg(ignore_term ? SPT_STUBBORN : SPT_HANG);
        CHECK_FAIL(lk_run_sp_with(spt_child, end, &so, &b), LK_ERR_TIMEOUT);
        double took = lkt_now() - t0;
        CHECK_ERROR_HAS("100 ms");
        CHECK_ERROR_HAS(ignore_term ? "SIGKILL" : "SIGTERM");
        CHECK_MSG(took >= 0.09 && took < 5.0, "took %.3f s", took);
        CHECK(b.data == NULL && b.len == 0 && b.cap == 0 && b.priv == NULL);
        CHECK(lkt_no_children());
    }
    printf("reliability_fault_status_timeout: ok\n");
    return 0;
}
