/* A process invoker made before the first lk_shared_alloc (the header's
 * "Shared memory" section: such invokers "copy as they always do"): its
 * maps over shared arrays give the right results through the ring (the
 * callbacks' slots are not the caller's), and its model is the snapshot of
 * when it was made. An invoker made after the first call, in the same
 * process, uses the same arrays in place. */
#include "lktest.h"

enum { N = 20000 };

typedef struct {
    uint64_t mult;
    const uint64_t *args;
    atomic_long in_place; /* lives in lkt_shared memory: counts from every worker */
} model_t;

static model_t *counts;

static int32_t item_fn(const void *model, const void *arg, void *result, const lk_task *task) {
    const model_t *m = (const model_t *)model;
    if (m->args != NULL && arg == m->args + task->index) atomic_fetch_add(&counts->in_place, 1);
    *(uint64_t *)result = *(const uint64_t *)arg * m->mult;
    return 0;
}

int main(void) {
    lkt_watchdog(120);
    counts = (model_t *)lkt_shared(sizeof *counts);
    static model_t model = {2, NULL, 0};
    lk_invoker_options o = lkt_options_on(LK_BACKEND_PROCESSES, 2);
    lk_invoker *before = lkt_new_with(&model, item_fn, &o);

    uint64_t *args = NULL, *res = NULL;
    CHECK_OK(lk_shared_alloc(N * sizeof *args, (void **)&args));
    CHECK_OK(lk_shared_alloc(N * sizeof *res, (void **)&res));
    for (size_t i = 0; i < N; i++) args[i] = i, res[i] = 0;
    model.args = args; /* after `before` was made: its workers see NULL */
    model.mult = 3;
    lk_invoker *after = lkt_new_with(&model, item_fn, &o);

    CHECK_OK(lk_invoker_map(before, args, N, sizeof *args, res, sizeof *res));
    for (size_t i = 0; i < N; i++) CHECK_MSG(res[i] == i * 2, "item %zu: %llu (the snapshot's multiplier is 2)", i, (unsigned long long)res[i]);
    CHECK(atomic_load(&counts->in_place) == 0);

    CHECK_OK(lk_invoker_map(after, args, N, sizeof *args, res, sizeof *res));
    for (size_t i = 0; i < N; i++) CHECK(res[i] == i * 3);
    CHECK_MSG(atomic_load(&counts->in_place) == N, "%ld of %d items in place", atomic_load(&counts->in_place), N);

    CHECK_OK(lk_invoker_shutdown(before));
    CHECK_OK(lk_invoker_shutdown(after));
    CHECK_OK(lk_shared_free(args));
    CHECK_OK(lk_shared_free(res));
    return 0;
}
