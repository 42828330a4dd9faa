/* Zero sizes: arg_size 0 passes a NULL arg and result_size 0 a NULL result
 * (whatever array pointer was given); args / results may then be NULL;
 * n_args 0 is a successful no-op even with NULL arrays and non-zero sizes. */
#include "lktest.h"

enum { N = 257 };

typedef struct {
    int expect_null_arg, expect_null_result;
    atomic_int wrong;
    atomic_int calls;
    atomic_int per_index[N];
} state;

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    state *s = (state *)model;
    atomic_fetch_add(&s->calls, 1);
    if (task->index < N) atomic_fetch_add(&s->per_index[task->index], 1);
    else atomic_store(&s->wrong, 1);
    if (s->expect_null_arg != (arg == NULL)) atomic_store(&s->wrong, 1);
    if (s->expect_null_result != (result == NULL)) atomic_store(&s->wrong, 1);
    if (arg && result) *(uint32_t *)result = *(const uint32_t *)arg + 1;
    else if (result) *(uint32_t *)result = (uint32_t)task->index * 5;
    return 0;
}

static void reset(state *s, int null_arg, int null_result) {
    memset(s, 0, sizeof *s);
    s->expect_null_arg = null_arg;
    s->expect_null_result = null_result;
}

static void check_each_once(state *s, int n) {
    CHECK(atomic_load(&s->wrong) == 0);
    CHECK(atomic_load(&s->calls) == n);
    for (int i = 0; i < n; i++) CHECK(atomic_load(&s->per_index[i]) == 1);
}

static void run(int32_t n_jobs) {
    static uint32_t args[N], results[N];
    static state s;
    lk_invoker *inv = NULL;
    CHECK_OK(lk_invoker_new(&s, op, n_jobs, &inv));
    for (int i = 0; i < N; i++) args[i] = (uint32_t)i * 3;

    /* arg_size 0 with a real array: the callback still gets NULL */
    reset(&s, 1, 0);
    memset(results, 0, sizeof results);
    CHECK_OK(lk_invoker_map(inv, args, N, 0, results, sizeof results[0]));
    check_each_once(&s, N);
    for (int i = 0; i < N; i++) CHECK(results[i] == (uint32_t)i * 5);

    /* arg_size 0 with args NULL */
    reset(&s, 1, 0);
    memset(results, 0, sizeof results);
    CHECK_OK(lk_invoker_map(inv, NULL, N, 0, results, sizeof results[0]));
    check_each_once(&s, N);
    for (int i = 0; i < N; i++) CHECK(results[i] == (uint32_t)i * 5);

    /* result_size 0 with a real array: NULL result, the array untouched */
    reset(&s, 0, 1);
    memset(results, 0xEE, sizeof results);
    CHECK_OK(lk_invoker_map(inv, args, N, sizeof args[0], results, 0));
    check_each_once(&s, N);
    for (int i = 0; i < N; i++) CHECK(results[i] == 0xEEEEEEEEu);

    /* result_size 0 with results NULL */
    reset(&s, 0, 1);
    CHECK_OK(lk_invoker_map(inv, args, N, sizeof args[0], NULL, 0));
    check_each_once(&s, N);

    /* both 0, both NULL: every index still runs once */
    reset(&s, 1, 1);
    CHECK_OK(lk_invoker_map(inv, NULL, N, 0, NULL, 0));
    check_each_once(&s, N);

    /* n_args 0: no callback, whatever the pointers and sizes */
    reset(&s, 0, 0);
    CHECK_OK(lk_invoker_map(inv, NULL, 0, 0, NULL, 0));
    CHECK_OK(lk_invoker_map(inv, args, 0, sizeof args[0], results, sizeof results[0]));
    CHECK_OK(lk_invoker_map(inv, NULL, 0, sizeof args[0], results, sizeof results[0]));
    CHECK_OK(lk_invoker_map(inv, args, 0, sizeof args[0], NULL, sizeof results[0]));
    CHECK_OK(lk_invoker_map(inv, NULL, 0, sizeof args[0], NULL, sizeof results[0]));
    CHECK_OK(lk_invoker_map(inv, NULL, 0, 1000, NULL, 1000));
    CHECK_OK(lk_invoker_map(inv, NULL, 0, SIZE_MAX, NULL, SIZE_MAX));
    CHECK_OK(lk_invoker_map_with(inv, NULL, 0, 8, NULL, 8, NULL));
    CHECK(atomic_load(&s.calls) == 0);

    CHECK_OK(lk_invoker_shutdown(inv));
}

int main(void) {
    lkt_watchdog(30);
    run(1);
    run(2);
    run(4);
    printf("api_zero_sizes: ok\n");
    return 0;
}
