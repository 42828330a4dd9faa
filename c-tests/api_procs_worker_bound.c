/* At most n_jobs callbacks of a process invoker run at once, and one worker
 * runs one callback at a time — counted with atomics in a MAP_SHARED page
 * made before the invoker, so every worker process updates the same
 * counters. Also with maps from three threads on the invoker at once. With
 * slow items the pool does run several callbacks at once (n_jobs >= 2). */
#include "procstest.h"

enum { N = 600, MAX_JOBS = 8 };

typedef struct {
    atomic_int running;
    atomic_int max_running;
    atomic_int busy[MAX_JOBS];
    atomic_int double_booked;
    atomic_int bad_worker;
} state_t;

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    state_t *s = (state_t *)model;
    (void)arg;
    (void)result;
    int now = atomic_fetch_add(&s->running, 1) + 1;
    lkt_atomic_max(&s->max_running, now);
    if (task->worker >= MAX_JOBS) atomic_fetch_add(&s->bad_worker, 1);
    else if (atomic_exchange(&s->busy[task->worker], 1) != 0) atomic_fetch_add(&s->double_booked, 1);
    lkt_sleep_us(300);
    if (task->worker < MAX_JOBS) atomic_store(&s->busy[task->worker], 0);
    atomic_fetch_sub(&s->running, 1);
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

static void run(int n_jobs) {
    static state_t *s;
    if (!s) s = (state_t *)lkt_shared(sizeof *s);
    memset(s, 0, sizeof *s);
    lk_invoker *inv = pt_new(s, op, n_jobs);
    for (int m = 0; m < 2; m++) CHECK_OK(lk_invoker_map(inv, NULL, N, 0, NULL, 0));
    int max_one = atomic_load(&s->max_running);

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
    int max_all = atomic_load(&s->max_running);
    printf("n_jobs %d: at most %d callbacks at once (%d with one map at a time)\n", n_jobs, max_all, max_one);
    CHECK(atomic_load(&s->bad_worker) == 0);
    CHECK(atomic_load(&s->double_booked) == 0);
    CHECK(atomic_load(&s->running) == 0);
    CHECK_MSG(max_all <= n_jobs, "%d callbacks ran at once with n_jobs %d", max_all, n_jobs);
    CHECK(max_one >= 1);
    if (n_jobs >= 2) CHECK_MSG(max_one >= 2, "n_jobs %d never ran two callbacks at once", n_jobs);
    CHECK_OK(lk_invoker_shutdown(inv));
}

int main(void) {
    lkt_watchdog(60);
    run(1);
    run(2);
    run(4);
    printf("api_procs_worker_bound: ok\n");
    return 0;
}
