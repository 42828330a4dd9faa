/* Maps from 4 threads at once on one invoker: every result right, and the
 * n_jobs bound (at most n_jobs callbacks at once, one per worker) holds
 * across the concurrent maps. With n_jobs 1 each map runs on its own calling
 * thread. */
#include "lktest.h"

enum { THREADS = 4, N = 3000, ROUNDS = 3 };

typedef struct {
    int n_jobs;
    atomic_int running;
    atomic_int max_running;
    atomic_int busy[8];
    atomic_int violations;
} state;

static _Thread_local pthread_t tl_caller;
static _Thread_local int tl_is_caller;

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    state *s = (state *)model;
    int now = atomic_fetch_add(&s->running, 1) + 1;
    lkt_atomic_max(&s->max_running, now);
    int pool = s->n_jobs > 1; /* n_jobs 1: worker 0 on every calling thread */
    if (task->worker >= (uint32_t)s->n_jobs || (pool && atomic_exchange(&s->busy[task->worker], 1) != 0))
        atomic_fetch_add(&s->violations, 1);
    if (s->n_jobs == 1 && !(tl_is_caller && pthread_equal(tl_caller, pthread_self())))
        atomic_fetch_add(&s->violations, 1);
    if (task->index % 16 == 0) lkt_sleep_us(100);
    *(uint64_t *)result = *(const uint64_t *)arg * 5 + 3;
    if (pool && task->worker < (uint32_t)s->n_jobs) atomic_store(&s->busy[task->worker], 0);
    atomic_fetch_sub(&s->running, 1);
    return 0;
}

typedef struct {
    lk_invoker *inv;
    int id;
} job;

static void *mapper(void *p) {
    job *j = (job *)p;
    static _Thread_local uint64_t args[N], results[N];
    tl_caller = pthread_self();
    tl_is_caller = 1;
    for (int round = 0; round < ROUNDS; round++) {
        for (int i = 0; i < N; i++) {
            args[i] = (uint64_t)j->id * 1000000 + (uint64_t)round * 10000 + (uint64_t)i;
            results[i] = 0;
        }
        CHECK_OK(lk_invoker_map(j->inv, args, N, sizeof args[0], results, sizeof results[0]));
        for (int i = 0; i < N; i++) CHECK(results[i] == args[i] * 5 + 3);
    }
    return NULL;
}

static void run(int n_jobs) {
    static state s;
    memset(&s, 0, sizeof s);
    s.n_jobs = n_jobs;
    lk_invoker *inv = NULL;
    CHECK_OK(lk_invoker_new(&s, op, n_jobs, &inv));
    pthread_t th[THREADS];
    job jobs[THREADS];
    for (int t = 0; t < THREADS; t++) {
        jobs[t].inv = inv;
        jobs[t].id = t + 1;
        CHECK(pthread_create(&th[t], NULL, mapper, &jobs[t]) == 0);
    }
    for (int t = 0; t < THREADS; t++) CHECK(pthread_join(th[t], NULL) == 0);
    CHECK(atomic_load(&s.violations) == 0);
    if (n_jobs > 1) CHECK(atomic_load(&s.max_running) <= n_jobs);
    else CHECK(atomic_load(&s.max_running) <= THREADS); /* one per calling thread */
    printf("n_jobs %d: at most %d callbacks at once\n", n_jobs, atomic_load(&s.max_running));
    CHECK_OK(lk_invoker_shutdown(inv));
}

int main(void) {
    lkt_watchdog(60);
    run(2);
    run(3);
    run(1);
    printf("api_concurrent_maps: ok\n");
    return 0;
}
