/* A callback mapping on another invoker completes without deadlock, gives
 * the right results, and the inner invoker's n_jobs bound holds although
 * several outer callbacks map on it at once. Pools and inline invokers, in
 * every combination, also with several outside threads mapping at once. */
#include "lktest.h"

enum { OUTER = 40, INNER = 30 };

typedef struct {
    int n_jobs;
    atomic_int running;
    atomic_int max_running;
} inner_state;

typedef struct {
    lk_invoker *inner;
    atomic_int failures;
} outer_state;

static int32_t inner_op(const void *model, const void *arg, void *result, const lk_task *task) {
    inner_state *s = (inner_state *)model;
    (void)task;
    int now = atomic_fetch_add(&s->running, 1) + 1;
    lkt_atomic_max(&s->max_running, now);
    lkt_sleep_us(50);
    *(uint64_t *)result = *(const uint64_t *)arg * *(const uint64_t *)arg;
    atomic_fetch_sub(&s->running, 1);
    return 0;
}

static int32_t outer_op(const void *model, const void *arg, void *result, const lk_task *task) {
    outer_state *s = (outer_state *)model;
    (void)task;
    uint64_t base = *(const uint64_t *)arg;
    uint64_t args[INNER], results[INNER];
    for (int i = 0; i < INNER; i++) args[i] = base + (uint64_t)i;
    lk_status st = lk_invoker_map(s->inner, args, INNER, sizeof args[0], results, sizeof results[0]);
    if (st != LK_OK) {
        atomic_fetch_add(&s->failures, 1);
        return 1;
    }
    uint64_t sum = 0;
    for (int i = 0; i < INNER; i++) {
        if (results[i] != args[i] * args[i]) atomic_fetch_add(&s->failures, 1);
        sum += results[i];
    }
    *(uint64_t *)result = sum;
    return 0;
}

static uint64_t expected(uint64_t base) {
    uint64_t sum = 0;
    for (uint64_t i = 0; i < INNER; i++) sum += (base + i) * (base + i);
    return sum;
}

static void *outer_map(void *p) {
    lk_invoker *outer = (lk_invoker *)p;
    uint64_t args[OUTER], results[OUTER];
    for (int i = 0; i < OUTER; i++) args[i] = (uint64_t)i * 100;
    CHECK_OK(lk_invoker_map(outer, args, OUTER, sizeof args[0], results, sizeof results[0]));
    for (int i = 0; i < OUTER; i++) CHECK(results[i] == expected(args[i]));
    return NULL;
}

static void run(int outer_jobs, int inner_jobs, int threads) {
    inner_state is;
    memset(&is, 0, sizeof is);
    is.n_jobs = inner_jobs;
    outer_state os;
    memset(&os, 0, sizeof os);
    lk_invoker *outer = NULL;
    CHECK_OK(lk_invoker_new(&is, inner_op, inner_jobs, &os.inner));
    CHECK_OK(lk_invoker_new(&os, outer_op, outer_jobs, &outer));
    pthread_t th[4];
    for (int t = 0; t < threads; t++) CHECK(pthread_create(&th[t], NULL, outer_map, outer) == 0);
    outer_map(outer);
    for (int t = 0; t < threads; t++) CHECK(pthread_join(th[t], NULL) == 0);
    CHECK(atomic_load(&os.failures) == 0);
    if (inner_jobs > 1) CHECK(atomic_load(&is.max_running) <= inner_jobs);
    CHECK_OK(lk_invoker_shutdown(outer));
    CHECK_OK(lk_invoker_shutdown(os.inner));
    printf("outer %d, inner %d, %d extra threads: inner ran at most %d at once\n", outer_jobs, inner_jobs,
           threads, atomic_load(&is.max_running));
}

int main(void) {
    lkt_watchdog(60);
    int jobs[] = {1, 2, 4};
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++) run(jobs[a], jobs[b], 0);
    run(2, 2, 3);
    run(4, 2, 3);
    run(2, 1, 3);
    printf("threads_api_nested_other: ok\n");
    return 0;
}
