/* Bad arguments are LK_ERR_INVALID with a message, never a crash: NULL func,
 * NULL out, n_jobs below -1, NULL arrays with a non-zero element size, size
 * products that overflow. A failing lk_invoker_new / new_with leaves *out
 * as it was; a refused map runs no callback and writes no result; the
 * invoker stays usable. */
#include "lktest.h"

static atomic_int calls;

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)task;
    atomic_fetch_add(&calls, 1);
    if (arg && result) *(uint16_t *)result = (uint16_t)(*(const uint16_t *)arg + 1);
    return 0;
}

#define SENTINEL ((lk_invoker *)(uintptr_t)0x1234)

static void check_new_fails(const void *model, lk_op_fn func, int32_t n_jobs) {
    lk_invoker *out = SENTINEL;
    CHECK_FAIL(lk_invoker_new(model, func, n_jobs, &out), LK_ERR_INVALID);
    CHECK(out == SENTINEL);
}

static void check_new_with_fails(lk_op_fn func, int32_t n_jobs) {
    lk_invoker_options o;
    lk_invoker_options_init(&o, sizeof o);
    o.n_jobs = n_jobs;
    lk_invoker *out = SENTINEL;
    CHECK_FAIL(lk_invoker_new_with(NULL, func, &o, &out), LK_ERR_INVALID);
    CHECK(out == SENTINEL);
}

int main(void) {
    lkt_watchdog(30);

    /* NULL func, NULL out */
    check_new_fails(NULL, NULL, 2);
    check_new_fails(NULL, NULL, 1);
    CHECK_FAIL(lk_invoker_new(NULL, op, 2, NULL), LK_ERR_INVALID);
    CHECK_FAIL(lk_invoker_new(NULL, op, 1, NULL), LK_ERR_INVALID);
    CHECK_FAIL(lk_invoker_new(NULL, NULL, 2, NULL), LK_ERR_INVALID);
    check_new_with_fails(NULL, 2);
    CHECK_FAIL(lk_invoker_new_with(NULL, op, NULL, NULL), LK_ERR_INVALID);
    {
        lk_invoker *out = SENTINEL;
        CHECK_FAIL(lk_invoker_new_with(NULL, NULL, NULL, &out), LK_ERR_INVALID);
        CHECK(out == SENTINEL);
    }

    /* n_jobs below -1 (and, per the header, above 4096) */
    int32_t bad_jobs[] = {-2, -3, -100, INT32_MIN, INT32_MIN + 1, 4097, INT32_MAX};
    for (size_t i = 0; i < sizeof bad_jobs / sizeof bad_jobs[0]; i++) {
        check_new_fails(NULL, op, bad_jobs[i]);
        check_new_with_fails(op, bad_jobs[i]);
    }
    CHECK(atomic_load(&calls) == 0);

    /* bad map arrays, on a pool and on an inline invoker */
    int32_t jobs[] = {1, 2};
    for (int j = 0; j < 2; j++) {
        lk_invoker *inv = NULL;
        CHECK_OK(lk_invoker_new(NULL, op, jobs[j], &inv));
        uint16_t args[16], results[16];
        for (int i = 0; i < 16; i++) {
            args[i] = (uint16_t)i;
            results[i] = 0xBEEF;
        }
        lk_map_options mo;
        lk_map_options_init(&mo, sizeof mo);

        /* args NULL with arg_size > 0; results NULL with result_size > 0 */
        CHECK_FAIL(lk_invoker_map(inv, NULL, 16, 2, results, 2), LK_ERR_INVALID);
        CHECK_FAIL(lk_invoker_map(inv, args, 16, 2, NULL, 2), LK_ERR_INVALID);
        CHECK_FAIL(lk_invoker_map(inv, NULL, 16, 2, NULL, 2), LK_ERR_INVALID);
        CHECK_FAIL(lk_invoker_map(inv, NULL, 1, 1, NULL, 0), LK_ERR_INVALID);
        CHECK_FAIL(lk_invoker_map(inv, NULL, 1, 0, NULL, 1), LK_ERR_INVALID);
        CHECK_FAIL(lk_invoker_map_with(inv, NULL, 16, 2, results, 2, &mo), LK_ERR_INVALID);
        CHECK_FAIL(lk_invoker_map_with(inv, args, 16, 2, NULL, 2, NULL), LK_ERR_INVALID);

        /* n_args * size overflowing size_t: SIZE_MAX/2+1 items of 2 bytes */
        size_t huge = SIZE_MAX / 2 + 1;
        CHECK_FAIL(lk_invoker_map(inv, args, huge, 2, results, 2), LK_ERR_INVALID);
        CHECK_FAIL(lk_invoker_map(inv, args, huge, 2, NULL, 0), LK_ERR_INVALID);
        CHECK_FAIL(lk_invoker_map(inv, NULL, huge, 0, results, 2), LK_ERR_INVALID);
        CHECK_FAIL(lk_invoker_map(inv, args, huge, 1, results, 2), LK_ERR_INVALID);
        CHECK_FAIL(lk_invoker_map(inv, args, SIZE_MAX, SIZE_MAX, results, SIZE_MAX), LK_ERR_INVALID);
        CHECK_FAIL(lk_invoker_map(inv, args, 2, SIZE_MAX / 2 + 1, results, 2), LK_ERR_INVALID);
        CHECK_FAIL(lk_invoker_map(inv, args, 3, 2, results, SIZE_MAX / 2), LK_ERR_INVALID);
        CHECK_FAIL(lk_invoker_map_with(inv, args, huge, 2, results, 2, &mo), LK_ERR_INVALID);

        /* none of that ran a callback or wrote a result */
        CHECK(atomic_load(&calls) == 0);
        for (int i = 0; i < 16; i++) CHECK(results[i] == 0xBEEF);

        /* the invoker is still usable */
        CHECK_OK(lk_invoker_map(inv, args, 16, 2, results, 2));
        for (int i = 0; i < 16; i++) CHECK(results[i] == (uint16_t)(i + 1));
        CHECK(atomic_load(&calls) == 16);
        atomic_store(&calls, 0);
        CHECK_OK(lk_invoker_shutdown(inv));
    }

    printf("fault_bad_args: ok\n");
    return 0;
}
