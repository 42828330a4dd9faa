/* No descriptor leaks: /proc/self/fd lists the same entries before and
 * after 500 lk_run_sp calls, half of them failing in various ways. */
#include "sptest.h"

int main(void) {
    lkt_watchdog(30);
    lkt_no_core_dumps();
    static char before[1 << 16], after[1 << 16];

    /* The snapshot is taken before the first call: the library keeps no
     * descriptor of its own open between calls. */
    lk_buffer res = spt_empty();
    lkt_fd_list(before, sizeof before);

    lk_sp_options opts;
    lk_sp_options_init(&opts, sizeof opts);
    opts.timeout_ms = 20;
    opts.grace_ms = 20;
    int failed = 0;
    for (int i = 0; i < 500; i++) {
        /* even i: a success (SPT_OK, SPT_BIG, SPT_EMPTY); odd i: a failure
         * (SPT_FAIL .. SPT_EXIT0, and every 25th odd call a time-out). */
        spt_end end = (i % 2 == 0) ? (spt_end)((i / 2) % 3)
                                   : ((i / 2) % 25 == 0 ? SPT_HANG : (spt_end)(SPT_FAIL + (i / 2) % 5));
        lk_status s = end == SPT_HANG || i % 7 == 0 ? lk_run_sp_with(spt_child, spt_end_arg(end), &opts, &res)
                                                    : lk_run_sp(spt_child, spt_end_arg(end), &res);
        CHECK_MSG(s == spt_end_status[end], "call %d (end %d) gave %d, expected %d: %s", i, (int)end, (int)s,
                  (int)spt_end_status[end], lk_last_error());
        if (s != LK_OK) {
            failed++;
            CHECK(spt_is_zero(&res));
        }
        lk_buffer_free(&res);
    }
    CHECK(failed == 250);
    lkt_fd_list(after, sizeof after);
    if (strcmp(before, after) != 0) {
        fprintf(stderr, "descriptors before:\n%s\nafter:\n%s", before, after);
        exit(1);
    }
    lkt_check_no_children();
    printf("run_sp_leak_fds: ok\n");
    return 0;
}
