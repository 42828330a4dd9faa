/* At most n_jobs callbacks of one invoker run at once, one worker runs one
 * callback at a time, and every task->worker is in [0, n_jobs) — counted
 * with atomics in a MAP_SHARED page made before the invoker, so worker
 * processes update the same counters. Also with maps from three threads on
 * the invoker at once. Callbacks sleep a little so that overlaps happen, and
 * with n_jobs >= 2 the pool does run several callbacks at once. n_jobs 2,
 * 3, 4 and 7, and with processes n_jobs 1 too (one worker process; with
 * threads, n_jobs 1 runs each map on its own calling thread: see
 * api_concurrent_maps). */
#include "lktest.h"

enum { N = 600 };

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    lkt_bound *b = (lkt_bound *)model;
    (void)arg;
    lkt_bound_enter(b, task->worker);
    lkt_sleep_us(200 + (long)(lkt_mix(task->index) % 300));
    if (result) *(size_t *)result = task->index;
    lkt_bound_leave(b, task->worker);
    return 0;
}

typedef struct {
    lk_invoker *inv;
    lk_status status[4];
} mapper_t;

static void *map_thread(void *p) {
    mapper_t *m = (mapper_t *)p;
    for (int k = 0; k < 4; k++) m->status[k] = lk_invoker_map(m->inv, NULL, N / 4, 0, NULL, 0);
    return NULL;
}

static void run(lkt_bound *b, int n_jobs) {
    static size_t results[N];
    lkt_bound_reset(b, n_jobs, 1);
    lk_invoker *inv = lkt_new(b, op, n_jobs);
    for (int round = 0; round < 2; round++) {
        memset(results, 0xFF, sizeof results);
        CHECK_OK(lk_invoker_map(inv, NULL, N, 0, results, sizeof results[0]));
        for (size_t i = 0; i < N; i++) CHECK(results[i] == i);
    }
    int max_one = atomic_load(&b->max_running);

    /* maps from three threads at once */
    mapper_t mt[3];
    pthread_t th[3];
    for (int t = 0; t < 3; t++) {
        mt[t].inv = inv;
        CHECK(pthread_create(&th[t], NULL, map_thread, &mt[t]) == 0);
    }
    for (int t = 0; t < 3; t++) {
        CHECK(pthread_join(th[t], NULL) == 0);
        for (int k = 0; k < 4; k++) CHECK(mt[t].status[k] == LK_OK);
    }
    int max_all = atomic_load(&b->max_running);
    printf("n_jobs %d: at most %d callbacks at once (%d with one map at a time)\n", n_jobs, max_all, max_one);
    lkt_bound_check(b, n_jobs, "maps from one and from three threads");
    CHECK(max_one >= 1);
    if (n_jobs >= 2) CHECK_MSG(max_one >= 2, "n_jobs %d never ran two callbacks at once", n_jobs);
    CHECK_OK(lk_invoker_shutdown(inv));
}

int main(int argc, char **argv) {
    lkt_backend_init(argc, argv);
    lkt_watchdog(60);
    lkt_bound *b = (lkt_bound *)lkt_shared(sizeof *b);
    if (lkt_processes()) run(b, 1);
    const int jobs[] = {2, 3, 4, 7};
    for (int j = 0; j < 4; j++) run(b, jobs[j]);
    printf("invoker_api_worker_bound: ok\n");
    return 0;
}
