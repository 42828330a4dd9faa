/* Dead and unknown handles: after lk_invoker_shutdown every call with the
 * handle is LK_ERR_INVALID (map, map_with, cancel, shutdown), never a crash;
 * NULL and made-up handle values too; lk_invoker_shutdown(NULL) is LK_OK;
 * handle values are never reused, so a stale handle never reaches a new
 * invoker; shutdown waits for a map in flight; shutdown from the invoker's
 * own callback is refused. */
#include "lktest.h"

static atomic_int calls;

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    atomic_fetch_add(&calls, 1);
    if (result) *(size_t *)result = task->index + 1;
    return 0;
}

static void check_dead(lk_invoker *inv) {
    size_t results[4] = {0, 0, 0, 0};
    lk_map_options mo;
    lk_map_options_init(&mo, sizeof mo);
    int before = atomic_load(&calls);
    CHECK_FAIL(lk_invoker_map(inv, NULL, 4, 0, results, sizeof results[0]), LK_ERR_INVALID);
    CHECK_FAIL(lk_invoker_map(inv, NULL, 0, 0, NULL, 0), LK_ERR_INVALID);
    CHECK_FAIL(lk_invoker_map_with(inv, NULL, 4, 0, results, sizeof results[0], &mo), LK_ERR_INVALID);
    CHECK_FAIL(lk_invoker_map_with(inv, NULL, 4, 0, results, sizeof results[0], NULL), LK_ERR_INVALID);
    CHECK_STATUS(lk_invoker_cancel(inv), LK_ERR_INVALID); /* async-signal-safe: no message required */
    if (inv == NULL) {
        CHECK_OK(lk_invoker_shutdown(inv)); /* shutdown(NULL) is a no-op */
    } else {
        CHECK_FAIL(lk_invoker_shutdown(inv), LK_ERR_INVALID);
        CHECK_FAIL(lk_invoker_shutdown(inv), LK_ERR_INVALID);
    }
    CHECK(atomic_load(&calls) == before);
    for (int i = 0; i < 4; i++) CHECK(results[i] == 0);
}

/* ---- shutdown waits for a map in flight ---- */

static atomic_int slow_done;

static int32_t slow_op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    lkt_sleep_us(1000);
    *(size_t *)result = task->index * 2;
    atomic_fetch_add(&slow_done, 1);
    return 0;
}

enum { SLOW_N = 200 };
static size_t slow_results[SLOW_N];

static void *slow_map(void *p) {
    lk_status s = lk_invoker_map((lk_invoker *)p, NULL, SLOW_N, 0, slow_results, sizeof slow_results[0]);
    return (void *)(intptr_t)s;
}

/* ---- shutdown from the invoker's own callback ---- */

static lk_invoker *self_inv;
static atomic_int self_status = -1;

static int32_t shutdown_self(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    (void)result;
    if (task->index == 0) atomic_store(&self_status, (int)lk_invoker_shutdown(self_inv));
    return 0;
}

int main(void) {
    lkt_watchdog(30);

    CHECK_OK(lk_invoker_shutdown(NULL));
    CHECK_OK(lk_invoker_shutdown(NULL));

    /* NULL and made-up handles */
    check_dead(NULL);
    int on_stack = 0;
    lk_invoker *made_up[] = {
        (lk_invoker *)(uintptr_t)0x1234,     (lk_invoker *)(uintptr_t)0x10,
        (lk_invoker *)(uintptr_t)0x1000,     (lk_invoker *)(uintptr_t)0xdeadbeef0ULL,
        (lk_invoker *)(uintptr_t)UINTPTR_MAX, (lk_invoker *)(uintptr_t)(UINTPTR_MAX & ~(uintptr_t)15),
        (lk_invoker *)&on_stack,
    };
    for (size_t i = 0; i < sizeof made_up / sizeof made_up[0]; i++) check_dead(made_up[i]);

    /* after shutdown, on a pool and on an inline invoker */
    int32_t jobs[] = {1, 2, 4};
    lk_invoker *dead[3];
    for (int j = 0; j < 3; j++) {
        lk_invoker *inv = NULL;
        size_t results[8];
        CHECK_OK(lk_invoker_new(NULL, op, jobs[j], &inv));
        CHECK_OK(lk_invoker_map(inv, NULL, 8, 0, results, sizeof results[0]));
        CHECK_OK(lk_invoker_shutdown(inv));
        check_dead(inv);
        dead[j] = inv;
    }

    /* handle values are never reused: many new invokers, none aliases a dead one */
    lk_invoker *live[64];
    for (int k = 0; k < 64; k++) {
        CHECK_OK(lk_invoker_new(NULL, op, k % 2 ? 2 : 1, &live[k]));
        for (int j = 0; j < 3; j++) CHECK(live[k] != dead[j]);
        for (int m = 0; m < k; m++) CHECK(live[k] != live[m]);
        for (int j = 0; j < 3; j++) check_dead(dead[j]);
        if (k % 3 == 0) { /* free some now, so slots get recycled */
            CHECK_OK(lk_invoker_shutdown(live[k]));
        }
    }
    for (int j = 0; j < 3; j++) check_dead(dead[j]);
    for (int k = 0; k < 64; k++) {
        if (k % 3 == 0) {
            check_dead(live[k]);
        } else {
            size_t results[3];
            CHECK_OK(lk_invoker_map(live[k], NULL, 3, 0, results, sizeof results[0]));
            CHECK(results[0] == 1 && results[2] == 3);
            CHECK_OK(lk_invoker_shutdown(live[k]));
        }
    }

    /* shutdown waits for a map in flight, which completes normally */
    lk_invoker *inv = NULL;
    CHECK_OK(lk_invoker_new(NULL, slow_op, 2, &inv));
    pthread_t th;
    CHECK(pthread_create(&th, NULL, slow_map, inv) == 0);
    while (atomic_load(&slow_done) == 0) lkt_sleep_us(500);
    CHECK_OK(lk_invoker_shutdown(inv));
    CHECK(atomic_load(&slow_done) == SLOW_N); /* shutdown returned after the map */
    void *ret = NULL;
    CHECK(pthread_join(th, &ret) == 0);
    CHECK((lk_status)(intptr_t)ret == LK_OK);
    for (size_t i = 0; i < SLOW_N; i++) CHECK(slow_results[i] == i * 2);
    check_dead(inv);

    /* shutdown from one of the invoker's own callbacks is refused; the map completes */
    int32_t self_jobs[] = {1, 2};
    for (int j = 0; j < 2; j++) {
        atomic_store(&self_status, -1);
        CHECK_OK(lk_invoker_new(NULL, shutdown_self, self_jobs[j], &self_inv));
        CHECK_OK(lk_invoker_map(self_inv, NULL, 10, 0, NULL, 0));
        CHECK(atomic_load(&self_status) == (int)LK_ERR_INVALID);
        CHECK_OK(lk_invoker_map(self_inv, NULL, 10, 0, NULL, 0));
        CHECK_OK(lk_invoker_shutdown(self_inv));
        check_dead(self_inv);
    }

    printf("threads_fault_dead_handle: ok\n");
    return 0;
}
