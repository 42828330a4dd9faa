/* Several threads may call lk_invoker_map on one invoker at once: four
 * threads, each running three long maps and then fifteen of different
 * lengths with its own arguments on the same invoker, all get LK_OK and
 * exactly their own results in order. Meanwhile every task->worker is in
 * [0, n_jobs), one worker runs one callback at a time, and at most n_jobs
 * callbacks run at once — except that with threads an n_jobs 1 invoker runs
 * each map on its own calling thread (so up to one per mapping thread). With
 * processes n_jobs 1 is one worker process. n_jobs 2, 3 and 1. */
#include "lktest.h"

enum { THREADS = 4, LONG_MAPS = 3, LONG_N = 3000, MAPS = 15, MAX_N = 700 };

/* The model: counters, and whether each map must run on its calling thread. */
typedef struct {
    lkt_bound bound;
    int on_caller;
    atomic_int off_caller; /* callbacks that ran off their map's calling thread */
} state_t;

static _Thread_local pthread_t tl_caller;
static _Thread_local int tl_is_caller;

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    state_t *s = (state_t *)model;
    uint64_t a = *(const uint64_t *)arg;
    lkt_bound_enter(&s->bound, task->worker);
    if (s->on_caller && !(tl_is_caller && pthread_equal(tl_caller, pthread_self())))
        atomic_fetch_add(&s->off_caller, 1);
    if (task->index % 16 == 0) lkt_sleep_us(100);
    *(uint64_t *)result = lkt_mix(a) + task->index;
    lkt_bound_leave(&s->bound, task->worker);
    return 0;
}

typedef struct {
    lk_invoker *inv;
    int id;
    int bad;
    lk_status status;
} mapper_t;

static void *mapper(void *p) {
    mapper_t *w = (mapper_t *)p;
    static _Thread_local uint64_t args[LONG_N], results[LONG_N];
    tl_caller = pthread_self();
    tl_is_caller = 1;
    for (int m = 0; m < LONG_MAPS + MAPS; m++) {
        size_t n = m < LONG_MAPS ? LONG_N : 1 + (size_t)((w->id * 131 + m * 97) % MAX_N);
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
    return NULL;
}

static void run(state_t *s, int n_jobs) {
    /* threads, n_jobs 1: worker 0 on every calling thread */
    int exclusive = lkt_processes() || n_jobs > 1;
    memset(s, 0, sizeof *s);
    lkt_bound_reset(&s->bound, n_jobs, exclusive);
    s->on_caller = !exclusive;
    lk_invoker *inv = lkt_new(s, op, n_jobs);
    mapper_t w[THREADS];
    pthread_t th[THREADS];
    double t0 = lkt_now();
    for (int t = 0; t < THREADS; t++) {
        w[t] = (mapper_t){inv, t + 1, 0, LK_OK};
        CHECK(pthread_create(&th[t], NULL, mapper, &w[t]) == 0);
    }
    for (int t = 0; t < THREADS; t++) {
        CHECK(pthread_join(th[t], NULL) == 0);
        CHECK_MSG(w[t].status == LK_OK, "thread %d: a map returned %d", t, (int)w[t].status);
        CHECK_MSG(w[t].bad == 0, "thread %d: %d wrong results", t, w[t].bad);
    }
    int max = atomic_load(&s->bound.max_running);
    printf("n_jobs %d: %d threads x %d maps in %.2f s, at most %d callbacks at once\n", n_jobs, THREADS,
           LONG_MAPS + MAPS, lkt_now() - t0, max);
    CHECK(atomic_load(&s->off_caller) == 0);
    lkt_bound_check(&s->bound, exclusive ? n_jobs : THREADS /* one per calling thread */, "concurrent maps");
    CHECK_OK(lk_invoker_shutdown(inv));
}

int main(int argc, char **argv) {
    lkt_backend_init(argc, argv);
    lkt_watchdog(60);
    state_t *s = (state_t *)lkt_shared(sizeof *s);
    run(s, 2);
    run(s, 3);
    run(s, 1);
    printf("invoker_api_concurrent_maps: ok\n");
    return 0;
}
