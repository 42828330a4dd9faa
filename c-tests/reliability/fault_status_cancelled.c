/* LK_ERR_CANCELLED: lk_invoker_cancel from another thread while a map runs
 * (n_jobs 1, a thread pool, the process backend). Items not started are
 * skipped (item_status LK_ITEM_SKIPPED, result slot untouched); the next map
 * runs normally (cancel is not sticky). */
#include "reliability/rel.h"

enum { N = 200000 };

/* Items that have started, in a shared page (seen from worker processes too). */
static atomic_long *g_started;

static int32_t slow(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    atomic_fetch_add(g_started, 1);
    lkt_sleep_us(50);
    *(uint64_t *)result = task->index + 1;
    return 0;
}

/* Cancel once the map is under way. */
static void *canceller(void *p) {
    while (atomic_load(g_started) < 200) lkt_sleep_us(1000);
    CHECK_OK(lk_invoker_cancel((lk_invoker *)p));
    return NULL;
}

int main(void) {
    lkt_watchdog(120);
    g_started = (atomic_long *)lkt_shared(4096);
    static uint64_t results[N];
    static int32_t status[N];
    for (int kind = 0; kind < 3; kind++) {
        lk_invoker_options o;
        lk_invoker_options_init(&o, sizeof o);
        o.n_jobs = kind == 0 ? 1 : 2;
        o.backend = kind == 2 ? LK_BACKEND_PROCESSES : LK_BACKEND_THREADS;
        lk_invoker *inv = NULL;
        CHECK_OK(lk_invoker_new_with(NULL, slow, &o, &inv));
        memset(results, 0, sizeof results);
        lk_map_options mo;
        lk_map_options_init(&mo, sizeof mo);
        mo.item_status = status;
        atomic_store(g_started, 0);
        pthread_t t;
        CHECK(pthread_create(&t, NULL, canceller, inv) == 0);
        double t0 = lkt_now();
        CHECK_FAIL(lk_invoker_map_with(inv, NULL, N, 0, results, sizeof results[0], &mo), LK_ERR_CANCELLED);
        double took = lkt_now() - t0;
        CHECK(pthread_join(t, NULL) == 0);
        CHECK_MSG(took < 5.0, "cancel took effect after %.2f s", took);
        long ran = 0, skipped = 0;
        for (long i = 0; i < N; i++) {
            if (status[i] == LK_ITEM_SKIPPED) {
                CHECK(results[i] == 0);
                skipped++;
            } else {
                CHECK_MSG(status[i] == 0 && results[i] == (uint64_t)i + 1, "item %ld status %d", i,
                          status[i]);
                ran++;
            }
        }
        CHECK(skipped > 0 && ran > 0);
        /* Not sticky. */
        CHECK_OK(lk_invoker_map(inv, NULL, 1000, 0, results, sizeof results[0]));
        for (int i = 0; i < 1000; i++) CHECK(results[i] == (uint64_t)i + 1);
        CHECK_OK(lk_invoker_shutdown(inv));
    }
    printf("fault_status_cancelled: ok\n");
    return 0;
}
