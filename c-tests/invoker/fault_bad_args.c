/* Bad arguments are LK_ERR_INVALID with a message, never a crash, and
 * outputs are left alone:
 *  - making an invoker: NULL func, NULL out, n_jobs below -1 (and, per the
 *    header, above 4096), an unknown backend or error_mode value, through
 *    lk_invoker_new and lk_invoker_new_with: *out is not written, no
 *    callback runs, nothing is forked; n_jobs 0 and -1 are accepted;
 *  - a map: NULL args or results with a non-zero size and items, size
 *    products that overflow, an unknown schedule, a NULL handle (through
 *    lk_invoker_map and lk_invoker_map_with): no callback runs, no result is
 *    written, and the invoker still works afterwards.
 * On an n_jobs 1 and an n_jobs 2 invoker. */
#include "lktest.h"

enum { N = 16 };

static atomic_int *calls;

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)task;
    atomic_fetch_add(calls, 1);
    if (arg && result) *(uint16_t *)result = (uint16_t)(*(const uint16_t *)arg + 1);
    return 0;
}

static lk_invoker *const SENTINEL = (lk_invoker *)(uintptr_t)0x5EED;

/* lk_invoker_new_with with these options (n_jobs, backend, error_mode
 * changed from this run's defaults) fails and leaves *out alone. */
static void check_new_with_fails(lk_op_fn func, int32_t n_jobs, lk_backend backend, lk_error_mode mode) {
    lk_invoker_options o = lkt_options(n_jobs);
    o.backend = backend;
    o.error_mode = mode;
    lk_invoker *out = SENTINEL;
    CHECK_FAIL(lk_invoker_new_with(NULL, func, &o, &out), LK_ERR_INVALID);
    CHECK(out == SENTINEL);
    CHECK_FAIL(lk_invoker_new_with(NULL, func, &o, NULL), LK_ERR_INVALID);
}

static void check_making(void) {
    lk_backend b = lkt_backend;
    /* NULL func, NULL out */
    int32_t jobs[] = {1, 2};
    for (int j = 0; j < 2; j++) {
        lk_invoker *out = SENTINEL;
        CHECK_FAIL(lk_invoker_new(NULL, NULL, jobs[j], &out), LK_ERR_INVALID);
        CHECK(out == SENTINEL);
        CHECK_FAIL(lk_invoker_new(NULL, op, jobs[j], NULL), LK_ERR_INVALID);
        CHECK_FAIL(lk_invoker_new(NULL, NULL, jobs[j], NULL), LK_ERR_INVALID);
        check_new_with_fails(NULL, jobs[j], b, LK_ERRORS_FAIL_FAST);
        CHECK_FAIL(lk_invoker_new_with(NULL, op, NULL, NULL), LK_ERR_INVALID);
        CHECK_FAIL(lk_invoker_new_with(NULL, NULL, NULL, &out), LK_ERR_INVALID);
        CHECK(out == SENTINEL);
    }
    /* n_jobs below -1 (and above 4096) */
    const int32_t bad_jobs[] = {-2, -3, -100, INT32_MIN, INT32_MIN + 1, 4097, INT32_MAX};
    for (size_t i = 0; i < sizeof bad_jobs / sizeof bad_jobs[0]; i++) {
        if (b == LK_BACKEND_THREADS) {
            lk_invoker *out = SENTINEL;
            CHECK_FAIL(lk_invoker_new(NULL, op, bad_jobs[i], &out), LK_ERR_INVALID);
            CHECK(out == SENTINEL);
        }
        check_new_with_fails(op, bad_jobs[i], b, LK_ERRORS_FAIL_FAST);
    }
    /* unknown backend and error_mode values */
    const lk_backend bad_backends[] = {2, -1, 1000, INT32_MIN};
    for (size_t k = 0; k < sizeof bad_backends / sizeof bad_backends[0]; k++)
        check_new_with_fails(op, 2, bad_backends[k], LK_ERRORS_FAIL_FAST);
    check_new_with_fails(op, 2, b, 7);
    CHECK(atomic_load(calls) == 0);
    lkt_check_no_children(); /* nothing was forked for a refused invoker */

    /* n_jobs 0 and -1 are fine */
    int32_t ok_jobs[] = {0, -1};
    for (int j = 0; j < 2; j++) {
        lk_invoker *inv = lkt_new(NULL, op, ok_jobs[j]);
        static uint16_t a[N], r[N];
        for (int i = 0; i < N; i++) a[i] = (uint16_t)(i * 3);
        CHECK_OK(lk_invoker_map(inv, a, N, sizeof a[0], r, sizeof r[0]));
        for (int i = 0; i < N; i++) CHECK(r[i] == (uint16_t)(i * 3 + 1));
        CHECK_OK(lk_invoker_shutdown(inv));
    }
    atomic_store(calls, 0);
}

/* A refused map: which arrays, how many items, what sizes. */
typedef struct {
    int use_args, use_results;
    size_t n, arg_size, result_size;
} bad_map;

static void check_maps(lk_invoker *inv) {
    static uint16_t args[N], results[N];
    for (int i = 0; i < N; i++) {
        args[i] = (uint16_t)i;
        results[i] = 0xBEEF;
    }
    const size_t huge = SIZE_MAX / 2 + 1; /* n_args * 2 overflows size_t */
    const bad_map bad[] = {
        /* args NULL with arg_size > 0; results NULL with result_size > 0 */
        {0, 1, N, 2, 2},
        {1, 0, N, 2, 2},
        {0, 0, N, 2, 2},
        {0, 0, 1, 1, 0},
        {0, 0, 1, 0, 1},
        /* size products that overflow */
        {1, 1, huge, 2, 2},
        {1, 0, huge, 2, 0},
        {0, 1, huge, 0, 2},
        {1, 1, huge, 1, 2},
        {1, 1, SIZE_MAX, SIZE_MAX, SIZE_MAX},
        {1, 1, 2, SIZE_MAX / 2 + 1, 2},
        {1, 1, 3, 2, SIZE_MAX / 2},
        {1, 1, SIZE_MAX / 2, 8, 2},
        {1, 1, 4, 2, SIZE_MAX / 2},
        {0, 1, SIZE_MAX, 0, 2},
    };
    lk_map_options mo;
    lk_map_options_init(&mo, sizeof mo);
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        const void *a = bad[k].use_args ? args : NULL;
        void *r = bad[k].use_results ? results : NULL;
        CHECK_FAIL(lk_invoker_map(inv, a, bad[k].n, bad[k].arg_size, r, bad[k].result_size), LK_ERR_INVALID);
        CHECK_FAIL(lk_invoker_map_with(inv, a, bad[k].n, bad[k].arg_size, r, bad[k].result_size, &mo),
                   LK_ERR_INVALID);
        CHECK_FAIL(lk_invoker_map_with(inv, a, bad[k].n, bad[k].arg_size, r, bad[k].result_size, NULL),
                   LK_ERR_INVALID);
    }
    /* a NULL handle; an unknown schedule */
    CHECK_FAIL(lk_invoker_map(NULL, args, N, sizeof args[0], results, sizeof results[0]), LK_ERR_INVALID);
    mo.schedule = 99;
    CHECK_FAIL(lk_invoker_map_with(inv, args, N, sizeof args[0], results, sizeof results[0], &mo), LK_ERR_INVALID);

    /* none of that ran a callback or wrote a result */
    CHECK(atomic_load(calls) == 0);
    for (int i = 0; i < N; i++) CHECK(results[i] == 0xBEEF);

    /* the invoker is still usable */
    CHECK_OK(lk_invoker_map(inv, args, N, sizeof args[0], results, sizeof results[0]));
    for (int i = 0; i < N; i++) CHECK(results[i] == (uint16_t)(i + 1));
    CHECK(atomic_load(calls) == N);
    atomic_store(calls, 0);
}

int main(int argc, char **argv) {
    lkt_backend_init(argc, argv);
    lkt_watchdog(60);
    calls = (atomic_int *)lkt_shared(sizeof *calls);
    check_making();
    int32_t jobs[] = {1, 2};
    for (int j = 0; j < 2; j++) {
        lk_invoker *inv = lkt_new(NULL, op, jobs[j]);
        check_maps(inv);
        CHECK_OK(lk_invoker_shutdown(inv));
    }
    CHECK_OK(lk_invoker_shutdown(NULL));
    lkt_check_no_children();
    printf("invoker_fault_bad_args: ok\n");
    return 0;
}
