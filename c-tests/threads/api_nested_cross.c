/* Nested maps that cross back: a callback of A maps on B, whose callbacks
 * map on A again (A -> B -> A). API.md: a callback may map on any invoker,
 * its own included, and this never deadlocks. Callbacks sleep a little so
 * that every worker of both pools is busy at the same time. */
#include "lktest.h"

enum { N_A = 8, N_B = 6, N_LEAF = 5 };

static lk_invoker *inv_a, *inv_b;
static atomic_int failures;

/* arg: level (0: outer A item, 1: B item, 2: inner A item) and a value */
typedef struct {
    int level;
    uint64_t value;
} item;

static int32_t leaf(uint64_t v, uint64_t *out) {
    lkt_sleep_us(200);
    *out = v * 2 + 1;
    return 0;
}

static int32_t fan(lk_invoker *inv, int level, uint64_t value, int n, uint64_t *out) {
    item kids[8];
    uint64_t res[8];
    for (int i = 0; i < n; i++) {
        kids[i].level = level + 1;
        kids[i].value = value * 10 + (uint64_t)i;
    }
    lkt_sleep_us(200);
    lk_status st = lk_invoker_map(inv, kids, (size_t)n, sizeof kids[0], res, sizeof res[0]);
    if (st != LK_OK) {
        atomic_fetch_add(&failures, 1);
        return 1;
    }
    uint64_t sum = 0;
    for (int i = 0; i < n; i++) sum += res[i];
    *out = sum;
    return 0;
}

static int32_t op_a(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)task;
    const item *it = (const item *)arg;
    if (it->level == 0) return fan(inv_b, 0, it->value, N_B, (uint64_t *)result);
    return leaf(it->value, (uint64_t *)result);
}

static int32_t op_b(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)task;
    const item *it = (const item *)arg;
    return fan(inv_a, 1, it->value, N_LEAF, (uint64_t *)result);
}

static uint64_t expected(uint64_t v) {
    uint64_t sum = 0;
    for (uint64_t i = 0; i < N_B; i++) {
        uint64_t bv = v * 10 + i;
        for (uint64_t k = 0; k < N_LEAF; k++) sum += (bv * 10 + k) * 2 + 1;
    }
    return sum;
}

static void *outer(void *p) {
    (void)p;
    item args[N_A];
    uint64_t res[N_A];
    for (int i = 0; i < N_A; i++) {
        args[i].level = 0;
        args[i].value = (uint64_t)i + 1;
    }
    CHECK_OK(lk_invoker_map(inv_a, args, N_A, sizeof args[0], res, sizeof res[0]));
    for (int i = 0; i < N_A; i++) CHECK(res[i] == expected((uint64_t)i + 1));
    return NULL;
}

static void run(int jobs_a, int jobs_b, int threads) {
    CHECK_OK(lk_invoker_new(NULL, op_a, jobs_a, &inv_a));
    CHECK_OK(lk_invoker_new(NULL, op_b, jobs_b, &inv_b));
    for (int round = 0; round < 5; round++) {
        pthread_t th[4];
        for (int t = 0; t < threads; t++) CHECK(pthread_create(&th[t], NULL, outer, NULL) == 0);
        outer(NULL);
        for (int t = 0; t < threads; t++) CHECK(pthread_join(th[t], NULL) == 0);
    }
    CHECK(atomic_load(&failures) == 0);
    CHECK_OK(lk_invoker_shutdown(inv_a));
    CHECK_OK(lk_invoker_shutdown(inv_b));
    printf("A n_jobs %d, B n_jobs %d, %d extra threads: ok\n", jobs_a, jobs_b, threads);
}

int main(void) {
    lkt_watchdog(60);
    run(1, 2, 0);
    run(2, 1, 0);
    run(2, 2, 0);
    run(2, 2, 1);
    run(3, 2, 2);
    printf("threads_api_nested_cross: ok\n");
    return 0;
}
