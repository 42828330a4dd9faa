/* lk_invoker_cancel from another thread during a long map: the map returns
 * LK_ERR_CANCELLED promptly (well under its full time), with a message;
 * items not started are skipped (LK_ITEM_SKIPPED in item_status, result slot
 * untouched), the others ran and have their results; every map in flight on
 * the invoker is cancelled (two threads mapping at once); cancel is not
 * sticky (the next map runs in full); cancel with no map in flight is LK_OK
 * and does nothing. n_jobs 1, 2 and 4. (From a signal handler:
 * api_cancel_signal.c.) */
#include "lktest.h"

enum { N = 3000, SLEEP_US = 1000 };

static lkt_slow *slow; /* the model, in shared memory */

typedef struct {
    lk_invoker *inv;
    long delay_us;
    lk_status status;
} canceller;

static void *cancel_later(void *p) {
    canceller *c = (canceller *)p;
    lkt_sleep_us(c->delay_us);
    c->status = lk_invoker_cancel(c->inv);
    return NULL;
}

typedef struct {
    lk_invoker *inv;
    lk_status status;
    double seconds;
    uint64_t results[N];
} mapper;

static void *map_long(void *p) {
    mapper *m = (mapper *)p;
    double t0 = lkt_now();
    m->status = lk_invoker_map(m->inv, NULL, N, 0, m->results, sizeof m->results[0]);
    if (m->status != LK_OK && lk_last_error()[0] == '\0') m->status = (lk_status)-1;
    m->seconds = lkt_now() - t0;
    return NULL;
}

static void run(int n_jobs) {
    static uint64_t results[N];
    static int32_t status[N];
    lk_invoker *inv = lkt_new(slow, lkt_slow_item, n_jobs);
    double full = (double)N * SLEEP_US * 1e-6 / n_jobs;

    /* cancel with no map in flight: OK, and the next map is not affected */
    CHECK_OK(lk_invoker_cancel(inv));
    CHECK_OK(lk_invoker_cancel(inv));
    lkt_check_full_map(inv, slow, 200);

    /* cancel from another thread during a long map */
    memset(results, 0, sizeof results);
    memset(status, 0x5A, sizeof status);
    atomic_store(&slow->started, 0);
    canceller c = {inv, 100000, (lk_status)-1};
    pthread_t th;
    lk_map_options mo = lkt_with_status(status);
    double t0 = lkt_now();
    CHECK(pthread_create(&th, NULL, cancel_later, &c) == 0);
    CHECK_FAIL(lk_invoker_map_with(inv, NULL, N, 0, results, sizeof results[0], &mo), LK_ERR_CANCELLED);
    double took = lkt_now() - t0;
    CHECK(pthread_join(th, NULL) == 0);
    CHECK(c.status == LK_OK);
    long n_ran = atomic_load(&slow->started);
    printf("n_jobs %d: cancelled after %.3f s (full map %.1f s), %ld of %d ran\n", n_jobs, took, full, n_ran, N);
    CHECK_MSG(took < 0.1 + full / 4, "the cancelled map took %.3f s", took);
    CHECK(n_ran > 0 && n_ran < N / 2);
    size_t skipped = lkt_check_stopped(status, results, N, "cancelled map");
    CHECK_MSG(skipped == (size_t)(N - n_ran), "%zu skipped, %ld ran of %d", skipped, n_ran, N);

    /* not sticky */
    lkt_check_full_map(inv, slow, 200);
    lkt_check_full_map(inv, slow, 200);

    /* two maps in flight from two threads: both are cancelled */
    static mapper m[2];
    pthread_t mt[2];
    atomic_store(&slow->started, 0);
    for (int k = 0; k < 2; k++) {
        m[k].inv = inv;
        CHECK(pthread_create(&mt[k], NULL, map_long, &m[k]) == 0);
    }
    lkt_slow_wait(slow, 2);
    lkt_sleep_us(100000);
    CHECK_OK(lk_invoker_cancel(inv));
    for (int k = 0; k < 2; k++) {
        CHECK(pthread_join(mt[k], NULL) == 0);
        CHECK_MSG(m[k].status == LK_ERR_CANCELLED, "map %d of two returned %d", k, (int)m[k].status);
        /* Worker processes take a little longer to hear of it. */
        double slack = lkt_processes() ? 0.3 : 0.1;
        CHECK_MSG(m[k].seconds < slack + full / 2, "map %d of two took %.3f s", k, m[k].seconds);
    }
    lkt_check_full_map(inv, slow, 200);

    CHECK_OK(lk_invoker_shutdown(inv));
}

int main(int argc, char **argv) {
    lkt_backend_init(argc, argv);
    lkt_watchdog(60);
    slow = (lkt_slow *)lkt_shared(sizeof *slow);
    slow->sleep_us = SLEEP_US;
    run(1);
    run(2);
    run(4);
    printf("invoker_api_cancel: ok\n");
    return 0;
}
