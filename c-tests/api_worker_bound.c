/* At most n_jobs callbacks of one invoker run at once, one worker runs one
 * callback at a time, and every task->worker is in [0, n_jobs). Callbacks
 * sleep a little so that overlaps happen. */
#include "lktest.h"

enum { MAX_JOBS = 8 };

typedef struct {
    int n_jobs;
    atomic_int running;
    atomic_int max_running;
    atomic_int busy[MAX_JOBS];
    atomic_int violations;
    atomic_int bad_worker;
} state;

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    state *s = (state *)model;
    (void)arg;
    int now = atomic_fetch_add(&s->running, 1) + 1;
    lkt_atomic_max(&s->max_running, now);
    if (task->worker >= (uint32_t)s->n_jobs) {
        atomic_store(&s->bad_worker, 1);
    } else if (atomic_exchange(&s->busy[task->worker], 1) != 0) {
        atomic_fetch_add(&s->violations, 1); /* that worker is already running one */
    }
    lkt_sleep_us(200 + (long)(lkt_mix(task->index) % 300));
    if (task->worker < (uint32_t)s->n_jobs) atomic_store(&s->busy[task->worker], 0);
    *(size_t *)result = task->index;
    atomic_fetch_sub(&s->running, 1);
    return 0;
}

int main(void) {
    lkt_watchdog(30);
    enum { N = 300 };
    static size_t results[N];
    int jobs[] = {2, 3, 4, 7};
    for (int j = 0; j < 4; j++) {
        static state s;
        memset(&s, 0, sizeof s);
        s.n_jobs = jobs[j];
        lk_invoker *inv = NULL;
        CHECK_OK(lk_invoker_new(&s, op, jobs[j], &inv));
        for (int round = 0; round < 2; round++) {
            memset(results, 0xFF, sizeof results);
            CHECK_OK(lk_invoker_map(inv, NULL, N, 0, results, sizeof results[0]));
            for (size_t i = 0; i < N; i++) CHECK(results[i] == i);
        }
        CHECK(atomic_load(&s.bad_worker) == 0);
        CHECK(atomic_load(&s.violations) == 0);
        CHECK(atomic_load(&s.max_running) <= jobs[j]);
        CHECK(atomic_load(&s.max_running) >= 2);
        CHECK(atomic_load(&s.running) == 0);
        printf("n_jobs %d: at most %d at once\n", jobs[j], atomic_load(&s.max_running));
        CHECK_OK(lk_invoker_shutdown(inv));
    }
    printf("api_worker_bound: ok\n");
    return 0;
}
