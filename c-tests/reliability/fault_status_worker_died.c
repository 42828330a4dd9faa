/* LK_ERR_WORKER_DIED: a run_sp child or a process-backend worker (during a
 * map) killed by a signal (SIGKILL, SIGSEGV) or exiting without answering
 * (_exit(3)). The message names the signal or exit
 * status (and, for a worker, the item it was running); nothing is left
 * behind, and the invoker stays usable. */
#include "lktest.h"
#include "run_sp/sptest.h"

/* Item 77 ends its worker, as lkt_die(*model). */
static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)arg;
    if (task->index == 77) lkt_die(*(const int *)model);
    *(uint64_t *)result = task->index;
    return 0;
}

int main(void) {
    lkt_watchdog(60);
    lkt_no_core_dumps();
    const spt_end sp_ends[LKT_DEATHS] = {SPT_KILL, SPT_SEGV, SPT_EXIT3};
    for (int how = 0; how < LKT_DEATHS; how++) {
        lk_buffer b;
        memset(&b, 0, sizeof b);
        CHECK_FAIL(lk_run_sp(spt_child, spt_end_arg(sp_ends[how]), &b), LK_ERR_WORKER_DIED);
        CHECK_ERROR_HAS(lkt_death_words[how]);
        CHECK(b.data == NULL && b.len == 0);
        CHECK(lkt_no_children());
    }

    for (int how = 0; how < LKT_DEATHS; how++)
        for (int mode = 0; mode < 2; mode++) {
            lk_invoker_options o = lkt_options_on(LK_BACKEND_PROCESSES, 2);
            o.error_mode = mode ? LK_ERRORS_KEEP_GOING : LK_ERRORS_FAIL_FAST;
            lk_invoker *inv = lkt_new_with(&how, op, &o);
            enum { N = 500 };
            uint64_t results[N];
            int32_t status[N];
            memset(results, 0xff, sizeof results);
            lk_map_options mo = lkt_with_status(status);
            CHECK_FAIL(lk_invoker_map_with(inv, NULL, N, 0, results, sizeof results[0], &mo),
                       LK_ERR_WORKER_DIED);
            CHECK_ERROR_HAS(lkt_death_words[how]);
            CHECK_MSG(lkt_has_number(lk_last_error(), 77), "%s", lk_last_error());
            CHECK(status[77] == LK_ITEM_WORKER_DIED);
            CHECK(results[77] == UINT64_MAX);
            for (int i = 0; i < N; i++) {
                if (i == 77) continue;
                if (mode == 1) CHECK_MSG(status[i] == 0, "keep-going: item %d status %d", i, status[i]);
                if (status[i] == 0) CHECK(results[i] == (uint64_t)i);
                else CHECK(status[i] == LK_ITEM_SKIPPED && results[i] == UINT64_MAX);
            }
            /* The worker was replaced: the invoker works (items below 77). */
            CHECK_OK(lk_invoker_map(inv, NULL, 77, 0, results, sizeof results[0]));
            for (int i = 0; i < 77; i++) CHECK(results[i] == (uint64_t)i);
            CHECK_OK(lk_invoker_shutdown(inv));
            CHECK(lkt_no_children());
        }
    printf("reliability_fault_status_worker_died: ok\n");
    return 0;
}
