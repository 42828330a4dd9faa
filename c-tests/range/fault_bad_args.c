/* Making a range invoker with bad arguments (API.md, Range maps: "with it,
 * lk_invoker_new_with's func must be NULL"): func and range_func both set,
 * or neither, is LK_ERR_INVALID with a message, *out untouched, no
 * callback run, for n_jobs 1 and 2, both error modes; the same options
 * with only range_func make a working range invoker. An options struct
 * too small to hold range_func (an older program's) is read without it:
 * range_func beyond struct_size is not seen, so func is needed. A map on a
 * range invoker with bad arrays is LK_ERR_INVALID before any range runs. */
#include "range/rangetest.h"

static atomic_int *calls;

static int32_t item_fn(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    (void)result;
    (void)task;
    atomic_fetch_add(calls, 1);
    return 0;
}

static int32_t range_fn(const void *model, const void *args, void *results, lk_range *r) {
    (void)model;
    (void)args;
    uint32_t *res = (uint32_t *)results;
    for (size_t i = r->begin; i < r->end; i++) *res++ = (uint32_t)i + 1;
    atomic_fetch_add(calls, 1);
    return 0;
}

static lk_invoker *const SENTINEL = (lk_invoker *)(uintptr_t)0x5EED;

int main(int argc, char **argv) {
    lkt_backend_init(argc, argv);
    lkt_watchdog(60);
    calls = (atomic_int *)lkt_shared(sizeof *calls);
    for (rt_loop l = rt_loop_modes(); rt_loop_next(&l);) {
        lk_invoker_options o = rt_options_mode(l.n_jobs, l.keep);
        o.grain = 3;
        /* both */
        o.range_func = range_fn;
        lk_invoker *out = SENTINEL;
        CHECK_FAIL(lk_invoker_new_with(NULL, item_fn, &o, &out), LK_ERR_INVALID);
        CHECK(out == SENTINEL);
        /* neither */
        o.range_func = NULL;
        CHECK_FAIL(lk_invoker_new_with(NULL, NULL, &o, &out), LK_ERR_INVALID);
        CHECK(out == SENTINEL);
        /* range_func alone works */
        o.range_func = range_fn;
        CHECK_OK(lk_invoker_new_with(NULL, NULL, &o, &out));
        CHECK(out != SENTINEL && out != NULL);
        uint32_t results[100];
        memset(results, 0, sizeof results);
        CHECK_OK(lk_invoker_map(out, NULL, 100, 0, results, sizeof results[0]));
        for (uint32_t i = 0; i < 100; i++) CHECK(results[i] == i + 1);
        /* bad arrays: invalid before any range runs */
        atomic_store(calls, 0);
        CHECK_FAIL(lk_invoker_map(out, NULL, 100, 4, results, sizeof results[0]), LK_ERR_INVALID);
        CHECK_FAIL(lk_invoker_map(out, NULL, 100, 0, NULL, sizeof results[0]), LK_ERR_INVALID);
        CHECK_FAIL(lk_invoker_map(out, NULL, SIZE_MAX / 2, 0, results, 4), LK_ERR_INVALID);
        CHECK(atomic_load(calls) == 0);
        CHECK_OK(lk_invoker_shutdown(out));
        CHECK_FAIL(lk_invoker_map(out, NULL, 100, 0, results, sizeof results[0]), LK_ERR_INVALID);
    }
    CHECK(atomic_load(calls) == 0);

    /* an older, smaller options struct: range_func past its size is not read */
    {
        lk_invoker_options o = lkt_options(2);
        o.struct_size = (uint32_t)offsetof(lk_invoker_options, range_func);
        o.range_func = range_fn;
        lk_invoker *out = SENTINEL;
        CHECK_FAIL(lk_invoker_new_with(NULL, NULL, &o, &out), LK_ERR_INVALID);
        CHECK(out == SENTINEL);
        CHECK_OK(lk_invoker_new_with(NULL, item_fn, &o, &out));
        atomic_store(calls, 0);
        CHECK_OK(lk_invoker_map(out, NULL, 50, 0, NULL, 0));
        CHECK_MSG(atomic_load(calls) == 50, "the item function ran %d times of 50", atomic_load(calls));
        CHECK_OK(lk_invoker_shutdown(out));
    }
    printf("range_fault_bad_args: ok\n");
    return 0;
}
