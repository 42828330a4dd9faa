/* No descriptor leaks: /proc/self/fd lists the same entries before and
 * after 500 lk_run_sp calls, half of them failing in various ways. */
#include "sptest.h"

static int32_t work(const void *arg, lk_buffer *out) {
    int kind = *(const int *)arg;
    static char blob[100000];
    switch (kind) {
    case 0: SPT_APPEND(out, "ok", 2); return 0;
    case 1: SPT_APPEND(out, blob, sizeof blob); return 0; /* a bigger result */
    case 2: return 0;                                  /* empty result */
    case 3: SPT_APPEND(out, "x", 1); return 17;         /* callback error */
    case 4: raise(SIGSEGV); return 0;
    case 5: raise(SIGKILL); return 0;
    case 6: _exit(3);
    case 7: exit(0);
    case 8: for (;;) pause();                          /* time-out */
    default: return 0;
    }
}

static const lk_status expected[] = {LK_OK, LK_OK, LK_OK, LK_ERR_CALLBACK, LK_ERR_WORKER_DIED,
                                     LK_ERR_WORKER_DIED, LK_ERR_WORKER_DIED, LK_ERR_WORKER_DIED,
                                     LK_ERR_TIMEOUT};

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
        /* even i: a success (kinds 0..2); odd i: a failure (kinds 3..7, and
         * every 25th odd call a time-out). */
        int kind = (i % 2 == 0) ? (i / 2) % 3 : ((i / 2) % 25 == 0 ? 8 : 3 + (i / 2) % 5);
        lk_status s = kind == 8 || i % 7 == 0 ? lk_run_sp_with(work, &kind, &opts, &res)
                                              : lk_run_sp(work, &kind, &res);
        if (s != expected[kind]) {
            fprintf(stderr, "call %d (kind %d) gave %d, expected %d: %s\n", i, kind, (int)s,
                    (int)expected[kind], lk_last_error());
            exit(1);
        }
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
    printf("leak_sp_fds: ok\n");
    return 0;
}
