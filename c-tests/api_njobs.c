/* n_jobs 0 / -1 / 1 / 2 / 4: each makes a working invoker with the promised
 * number of workers. 0 is lk_proc_count(2, 4, 0) (LK_NUM_PROCS included),
 * -1 every usable CPU (lk_cpu_count()), n > 1 a pool of exactly n workers:
 * worker indices stay in [0, n) and, with callbacks that sleep, n of them
 * run at once. */
#include "lktest.h"

typedef struct {
    int limit;          /* expected worker count */
    atomic_int running; /* callbacks running now */
    atomic_int max_running;
    atomic_int bad_worker;
    atomic_int calls;
    atomic_uint seen; /* bit per worker index < 32 */
} counters;

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    counters *c = (counters *)model;
    int now = atomic_fetch_add(&c->running, 1) + 1;
    lkt_atomic_max(&c->max_running, now);
    if ((int)task->worker < 0 || (int)task->worker >= c->limit) atomic_store(&c->bad_worker, 1);
    if (task->worker < 32) atomic_fetch_or(&c->seen, 1u << task->worker);
    atomic_fetch_add(&c->calls, 1);
    lkt_sleep_us(1000);
    *(uint64_t *)result = *(const uint64_t *)arg * 3 + 7;
    atomic_fetch_sub(&c->running, 1);
    return 0;
}

static void run(int32_t n_jobs, int expected) {
    enum { N = 400 };
    static uint64_t args[N], results[N];
    counters c;
    memset(&c, 0, sizeof c);
    c.limit = expected;
    for (int i = 0; i < N; i++) {
        args[i] = (uint64_t)i * 11 + 1;
        results[i] = 0;
    }
    lk_invoker *inv = NULL;
    CHECK_OK(lk_invoker_new(&c, op, n_jobs, &inv));
    CHECK(inv != NULL);
    CHECK_OK(lk_invoker_map(inv, args, N, sizeof args[0], results, sizeof results[0]));
    for (int i = 0; i < N; i++) CHECK(results[i] == args[i] * 3 + 7);
    CHECK(atomic_load(&c.calls) == N);
    CHECK(atomic_load(&c.bad_worker) == 0);
    CHECK(atomic_load(&c.max_running) <= expected);
    if (expected > 1 && expected <= 8) {
        /* a pool of exactly `expected` workers: all of them take part */
        CHECK(atomic_load(&c.max_running) == expected);
        CHECK(atomic_load(&c.seen) == (1u << expected) - 1);
    }
    if (expected == 1) CHECK(atomic_load(&c.seen) == 1u);
    CHECK_OK(lk_invoker_shutdown(inv));
    printf("n_jobs %d: %d workers, %d at once\n", n_jobs, expected, atomic_load(&c.max_running));
}

int main(void) {
    lkt_watchdog(60);
    unsetenv("LK_NUM_PROCS");
    int cpus = lk_cpu_count();
    CHECK(cpus >= 1);
    int dflt = lk_proc_count(2, 4, 0);
    CHECK(dflt >= 1 && dflt <= 4);

    run(0, dflt);
    run(-1, cpus);
    run(1, 1);
    run(2, 2);
    run(4, 4);

    /* n_jobs 0 follows LK_NUM_PROCS (it is lk_proc_count(2, 4, 0)); -1 does not */
    CHECK(setenv("LK_NUM_PROCS", "3", 1) == 0);
    CHECK(lk_proc_count(2, 4, 0) == 3);
    run(0, 3);
    run(-1, cpus);
    CHECK(setenv("LK_NUM_PROCS", "1", 1) == 0);
    run(0, 1);
    unsetenv("LK_NUM_PROCS");

    printf("api_njobs: ok\n");
    return 0;
}
