/* No lk_run_sp call leaves a child behind, whatever way the child ended
 * (every ending of spt_child: answered, failed, crashed, killed, exited,
 * timed out after SIGTERM, and after SIGKILL): afterwards
 * waitpid(-1, WNOHANG) finds no child at all (ECHILD), also a little later. */
#include "sptest.h"

int main(void) {
    lkt_watchdog(20);
    lkt_no_core_dumps();
    lkt_check_no_children();
    lk_sp_options opts;
    lk_sp_options_init(&opts, sizeof opts);
    opts.timeout_ms = 50;
    opts.grace_ms = 50;
    for (int round = 0; round < 10; round++) {
        for (int end = 0; end < SPT_ENDS; end++) {
            lk_buffer res = spt_empty();
            const void *arg = spt_end_arg((spt_end)end);
            if (spt_end_status[end] == LK_ERR_TIMEOUT)
                CHECK_STATUS(lk_run_sp_with(spt_child, arg, &opts, &res), LK_ERR_TIMEOUT);
            else
                CHECK_STATUS(lk_run_sp(spt_child, arg, &res), spt_end_status[end]);
            CHECK(spt_end_status[end] == LK_OK || spt_is_zero(&res));
            lk_buffer_free(&res);
            lkt_check_no_children();
        }
    }
    /* And nothing turns into a zombie a little later either. */
    lkt_sleep_us(100 * 1000);
    lkt_check_no_children();
    printf("run_sp_leak_zombie: ok\n");
    return 0;
}
