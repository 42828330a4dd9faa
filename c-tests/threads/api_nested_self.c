/* A callback mapping on its own invoker, recursively (three levels, fan-out
 * 6), completes without deadlock and with the right results: for pools and
 * inline invokers, also while several outside threads do the same. */
#include "lktest.h"

enum { FAN = 6, DEPTH = 3 };

typedef struct {
    int depth;
    uint64_t value;
} node;

static lk_invoker *self_inv;
static atomic_int failures;

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)task;
    const node *n = (const node *)arg;
    if (n->depth == DEPTH) {
        lkt_sleep_us(20);
        *(uint64_t *)result = n->value;
        return 0;
    }
    node kids[FAN];
    uint64_t sums[FAN];
    for (int i = 0; i < FAN; i++) {
        kids[i].depth = n->depth + 1;
        kids[i].value = n->value * FAN + (uint64_t)i;
    }
    lk_status st = lk_invoker_map(self_inv, kids, FAN, sizeof kids[0], sums, sizeof sums[0]);
    if (st != LK_OK) {
        atomic_fetch_add(&failures, 1);
        return 1;
    }
    uint64_t total = 0;
    for (int i = 0; i < FAN; i++) total += sums[i];
    *(uint64_t *)result = total;
    return 0;
}

/* Sum of the leaves under `value` at `depth`. */
static uint64_t expected(int depth, uint64_t value) {
    if (depth == DEPTH) return value;
    uint64_t total = 0;
    for (int i = 0; i < FAN; i++) total += expected(depth + 1, value * FAN + (uint64_t)i);
    return total;
}

static void *root_map(void *p) {
    (void)p;
    node roots[4];
    uint64_t sums[4];
    for (int i = 0; i < 4; i++) {
        roots[i].depth = 0;
        roots[i].value = (uint64_t)i + 1;
    }
    CHECK_OK(lk_invoker_map(self_inv, roots, 4, sizeof roots[0], sums, sizeof sums[0]));
    for (int i = 0; i < 4; i++) CHECK(sums[i] == expected(0, (uint64_t)i + 1));
    return NULL;
}

static void run(int n_jobs, int threads) {
    CHECK_OK(lk_invoker_new(NULL, op, n_jobs, &self_inv));
    pthread_t th[4];
    for (int t = 0; t < threads; t++) CHECK(pthread_create(&th[t], NULL, root_map, NULL) == 0);
    root_map(NULL);
    for (int t = 0; t < threads; t++) CHECK(pthread_join(th[t], NULL) == 0);
    CHECK(atomic_load(&failures) == 0);
    CHECK_OK(lk_invoker_shutdown(self_inv));
    printf("n_jobs %d with %d extra threads: ok\n", n_jobs, threads);
}

int main(void) {
    lkt_watchdog(60);
    run(1, 0);
    run(2, 0);
    run(4, 0);
    run(2, 3);
    run(1, 3);
    run(3, 2);
    printf("threads_api_nested_self: ok\n");
    return 0;
}
