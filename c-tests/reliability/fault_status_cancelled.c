/* LK_ERR_CANCELLED: lk_invoker_cancel from another thread while a map runs
 * (n_jobs 1, a thread pool, the process backend). Items not started are
 * skipped (item_status LK_ITEM_SKIPPED, result slot untouched); the next map
 * runs normally (cancel is not sticky). */
#include "lktest.h"

enum { N = 200000 };

/* The model: items that have started, in a shared page (seen from worker
 * processes too). */
static lkt_slow *slow;

/* Cancel once the map is under way. */
static void *canceller(void *p) {
    lkt_slow_wait(slow, 200);
    CHECK_OK(lk_invoker_cancel((lk_invoker *)p));
    return NULL;
}

int main(void) {
    lkt_watchdog(120);
    slow = (lkt_slow *)lkt_shared(sizeof *slow);
    slow->sleep_us = 50;
    static uint64_t results[N];
    static int32_t status[N];
    for (int kind = 0; kind < 3; kind++) {
        lk_invoker_options o = lkt_options_on(kind == 2 ? LK_BACKEND_PROCESSES : LK_BACKEND_THREADS, kind == 0 ? 1 : 2);
        lk_invoker *inv = lkt_new_with(slow, lkt_slow_item, &o);
        memset(results, 0, sizeof results);
        lk_map_options mo = lkt_with_status(status);
        atomic_store(&slow->started, 0);
        pthread_t t;
        CHECK(pthread_create(&t, NULL, canceller, inv) == 0);
        double t0 = lkt_now();
        CHECK_FAIL(lk_invoker_map_with(inv, NULL, N, 0, results, sizeof results[0], &mo), LK_ERR_CANCELLED);
        double took = lkt_now() - t0;
        CHECK(pthread_join(t, NULL) == 0);
        CHECK_MSG(took < 5.0, "cancel took effect after %.2f s", took);
        size_t skipped = lkt_check_stopped(status, results, N, "cancelled map");
        CHECK(skipped > 0 && skipped < N);
        lkt_check_full_map(inv, slow, 1000); /* not sticky */
        CHECK_OK(lk_invoker_shutdown(inv));
    }
    printf("reliability_fault_status_cancelled: ok\n");
    return 0;
}
