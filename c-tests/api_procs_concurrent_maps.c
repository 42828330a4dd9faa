/* Several threads may call lk_invoker_map on one process invoker at once: four
 * threads, each running 15 maps of different lengths with its own arguments
 * on the same invoker (n_jobs 2), all get LK_OK and exactly their own
 * results in order; meanwhile at most n_jobs callbacks ever run at once. */
#include "procstest.h"

enum { THREADS = 4, MAPS = 15, MAX_N = 700, JOBS = 2 };

typedef struct {
    atomic_int running, max_running;
} ctl_t;

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    ctl_t *c = (ctl_t *)model;
    uint64_t a = *(const uint64_t *)arg;
    lkt_atomic_max(&c->max_running, atomic_fetch_add(&c->running, 1) + 1);
    if (task->index % 32 == 0) lkt_sleep_us(200);
    *(uint64_t *)result = lkt_mix(a) + task->index;
    atomic_fetch_sub(&c->running, 1);
    return 0;
}

typedef struct {
    lk_invoker *inv;
    int id;
    int bad;
    lk_status status;
} worker_t;

static void *mapper(void *p) {
    worker_t *w = (worker_t *)p;
    uint64_t *args = (uint64_t *)malloc(MAX_N * sizeof *args);
    uint64_t *results = (uint64_t *)malloc(MAX_N * sizeof *results);
    CHECK(args && results);
    for (int m = 0; m < MAPS; m++) {
        size_t n = 1 + (size_t)((w->id * 131 + m * 97) % MAX_N);
        for (size_t i = 0; i < n; i++) {
            args[i] = ((uint64_t)w->id << 48) ^ ((uint64_t)m << 32) ^ i;
            results[i] = 0;
        }
        lk_status s = lk_invoker_map(w->inv, args, n, sizeof args[0], results, sizeof results[0]);
        if (s != LK_OK) {
            w->status = s;
            break;
        }
        for (size_t i = 0; i < n; i++)
            if (results[i] != lkt_mix(args[i]) + i) w->bad++;
    }
    free(args);
    free(results);
    return NULL;
}

int main(void) {
    lkt_watchdog(60);
    ctl_t *c = (ctl_t *)lkt_shared(sizeof *c);
    lk_invoker *inv = pt_new(c, op, JOBS);
    worker_t w[THREADS];
    pthread_t th[THREADS];
    double t0 = lkt_now();
    for (int t = 0; t < THREADS; t++) {
        w[t].inv = inv;
        w[t].id = t;
        w[t].bad = 0;
        w[t].status = LK_OK;
        CHECK(pthread_create(&th[t], NULL, mapper, &w[t]) == 0);
    }
    for (int t = 0; t < THREADS; t++) {
        CHECK(pthread_join(th[t], NULL) == 0);
        CHECK_MSG(w[t].status == LK_OK, "thread %d: a map returned %d", t, (int)w[t].status);
        CHECK_MSG(w[t].bad == 0, "thread %d: %d wrong results", t, w[t].bad);
    }
    printf("%d threads x %d maps in %.2f s, at most %d callbacks at once\n", THREADS, MAPS, lkt_now() - t0,
           atomic_load(&c->max_running));
    CHECK(atomic_load(&c->max_running) <= JOBS);
    CHECK_OK(lk_invoker_shutdown(inv));
    printf("api_procs_concurrent_maps: ok\n");
    return 0;
}
