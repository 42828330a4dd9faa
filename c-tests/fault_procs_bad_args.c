/* Bad input to a process invoker is LK_ERR_INVALID with a message, never a
 * crash, and outputs are left alone: an unknown backend value, n_jobs below
 * -1, a NULL func or out (the out handle is not written on failure); for a
 * map: NULL args or results with a non-zero size and items, a size product
 * that overflows, a NULL handle (result slots untouched, no callback run).
 * The invoker still works afterwards. n_jobs 0 and -1 are accepted with
 * processes too. */
#include "procstest.h"

enum { N = 16 };

typedef struct {
    atomic_int calls;
} ctl_t;

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    ctl_t *c = (ctl_t *)model;
    (void)arg;
    atomic_fetch_add(&c->calls, 1);
    if (result) *(uint64_t *)result = task->index + 1;
    return 0;
}

int main(void) {
    lkt_watchdog(60);
    ctl_t *c = (ctl_t *)lkt_shared(sizeof *c);
    lk_invoker *const SENTINEL = (lk_invoker *)(uintptr_t)0x5EED;
    lk_invoker *out = SENTINEL;

    /* making the invoker */
    const lk_backend bad_backends[] = {2, -1, 1000, INT32_MIN};
    for (size_t k = 0; k < sizeof bad_backends / sizeof bad_backends[0]; k++) {
        lk_invoker_options o = pt_options(2);
        o.backend = bad_backends[k];
        CHECK_FAIL(lk_invoker_new_with(c, op, &o, &out), LK_ERR_INVALID);
        CHECK(out == SENTINEL);
    }
    lk_invoker_options o = pt_options(-2);
    CHECK_FAIL(lk_invoker_new_with(c, op, &o, &out), LK_ERR_INVALID);
    CHECK(out == SENTINEL);
    o = pt_options(2);
    CHECK_FAIL(lk_invoker_new_with(c, NULL, &o, &out), LK_ERR_INVALID);
    CHECK(out == SENTINEL);
    CHECK_FAIL(lk_invoker_new_with(c, op, &o, NULL), LK_ERR_INVALID);
    o.error_mode = 7;
    CHECK_FAIL(lk_invoker_new_with(c, op, &o, &out), LK_ERR_INVALID);
    CHECK(out == SENTINEL);
    lkt_check_no_children(); /* nothing was forked for a refused invoker */

    /* n_jobs 0 and -1 are fine */
    int32_t ok_jobs[] = {0, -1};
    for (int j = 0; j < 2; j++) {
        lk_invoker *inv = pt_new(c, op, ok_jobs[j]);
        static uint64_t r[N];
        CHECK_OK(lk_invoker_map(inv, NULL, N, 0, r, sizeof r[0]));
        for (int i = 0; i < N; i++) CHECK(r[i] == (uint64_t)i + 1);
        CHECK_OK(lk_invoker_shutdown(inv));
    }

    /* maps */
    lk_invoker *inv = pt_new(c, op, 2);
    static uint64_t args[N], results[N];
    for (int i = 0; i < N; i++) results[i] = 0xABCD;
    atomic_store(&c->calls, 0);
    CHECK_FAIL(lk_invoker_map(inv, NULL, N, sizeof args[0], results, sizeof results[0]), LK_ERR_INVALID);
    CHECK_FAIL(lk_invoker_map(inv, args, N, sizeof args[0], NULL, sizeof results[0]), LK_ERR_INVALID);
    CHECK_FAIL(lk_invoker_map(inv, args, SIZE_MAX / 2, 8, results, sizeof results[0]), LK_ERR_INVALID);
    CHECK_FAIL(lk_invoker_map(inv, args, 4, sizeof args[0], results, SIZE_MAX / 2), LK_ERR_INVALID);
    CHECK_FAIL(lk_invoker_map(inv, NULL, SIZE_MAX, 0, results, 2), LK_ERR_INVALID);
    CHECK_FAIL(lk_invoker_map(NULL, args, N, sizeof args[0], results, sizeof results[0]), LK_ERR_INVALID);
    lk_map_options mo;
    lk_map_options_init(&mo, sizeof mo);
    mo.schedule = 99;
    CHECK_FAIL(lk_invoker_map_with(inv, args, N, sizeof args[0], results, sizeof results[0], &mo), LK_ERR_INVALID);
    CHECK(atomic_load(&c->calls) == 0);
    for (int i = 0; i < N; i++) CHECK(results[i] == 0xABCD);

    /* still works */
    CHECK_OK(lk_invoker_map(inv, args, N, sizeof args[0], results, sizeof results[0]));
    for (int i = 0; i < N; i++) CHECK(results[i] == (uint64_t)i + 1);
    CHECK_OK(lk_invoker_shutdown(inv));
    CHECK_OK(lk_invoker_shutdown(NULL));
    lkt_check_no_children();
    printf("fault_procs_bad_args: ok\n");
    return 0;
}
