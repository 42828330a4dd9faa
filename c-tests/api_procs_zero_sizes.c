/* Zero sizes with the process backend, as with threads: arg_size 0 passes a
 * NULL arg (whether or not `args` is NULL), result_size 0 passes a NULL
 * result (whether or not `results` is NULL), every item still runs once with
 * its index; n_args 0 is a successful no-op that calls nothing, with NULL or
 * non-NULL arrays and any sizes. */
#include "procstest.h"

enum { N = 500 };

typedef struct {
    atomic_int calls;
    atomic_int non_null_arg, non_null_result, null_arg, null_result;
    atomic_int ran[N];
} state_t;

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    state_t *s = (state_t *)model;
    atomic_fetch_add(&s->calls, 1);
    if (arg) atomic_fetch_add(&s->non_null_arg, 1);
    else atomic_fetch_add(&s->null_arg, 1);
    if (result) {
        atomic_fetch_add(&s->non_null_result, 1);
        *(uint32_t *)result = (uint32_t)task->index * 5 + (arg ? *(const uint32_t *)arg : 0);
    } else {
        atomic_fetch_add(&s->null_result, 1);
    }
    if (task->index < N) atomic_fetch_add(&s->ran[task->index], 1);
    return 0;
}

static void reset(state_t *s) { memset(s, 0, sizeof *s); }

static void check_all_ran_once(state_t *s) {
    CHECK(atomic_load(&s->calls) == N);
    for (int i = 0; i < N; i++) CHECK(atomic_load(&s->ran[i]) == 1);
}

int main(void) {
    lkt_watchdog(60);
    state_t *s = (state_t *)lkt_shared(sizeof *s);
    static uint32_t args[N], results[N];
    for (int i = 0; i < N; i++) args[i] = (uint32_t)i + 1000;
    const int32_t jobs[] = {1, 2, 4};
    for (int j = 0; j < 3; j++) {
        lk_invoker *inv = pt_new(s, op, jobs[j]);

        /* arg_size 0, NULL args: NULL arg; results written */
        reset(s);
        memset(results, 0, sizeof results);
        CHECK_OK(lk_invoker_map(inv, NULL, N, 0, results, sizeof results[0]));
        check_all_ran_once(s);
        CHECK(atomic_load(&s->null_arg) == N && atomic_load(&s->non_null_arg) == 0);
        for (int i = 0; i < N; i++) CHECK(results[i] == (uint32_t)i * 5);

        /* arg_size 0 with a non-NULL args pointer: still a NULL arg */
        reset(s);
        CHECK_OK(lk_invoker_map(inv, args, N, 0, results, sizeof results[0]));
        check_all_ran_once(s);
        CHECK(atomic_load(&s->null_arg) == N && atomic_load(&s->non_null_arg) == 0);

        /* result_size 0, NULL results: NULL result */
        reset(s);
        CHECK_OK(lk_invoker_map(inv, args, N, sizeof args[0], NULL, 0));
        check_all_ran_once(s);
        CHECK(atomic_load(&s->null_result) == N && atomic_load(&s->non_null_result) == 0);
        CHECK(atomic_load(&s->non_null_arg) == N);

        /* result_size 0 with a non-NULL results pointer: still NULL, nothing written */
        reset(s);
        memset(results, 0x77, sizeof results);
        CHECK_OK(lk_invoker_map(inv, args, N, sizeof args[0], results, 0));
        check_all_ran_once(s);
        CHECK(atomic_load(&s->null_result) == N && atomic_load(&s->non_null_result) == 0);
        for (int i = 0; i < N; i++) CHECK(results[i] == 0x77777777u);

        /* both 0, both NULL */
        reset(s);
        CHECK_OK(lk_invoker_map(inv, NULL, N, 0, NULL, 0));
        check_all_ran_once(s);
        CHECK(atomic_load(&s->null_arg) == N && atomic_load(&s->null_result) == N);

        /* n_args 0: LK_OK, no callback, with any arrays and sizes */
        reset(s);
        memset(results, 0x77, sizeof results);
        CHECK_OK(lk_invoker_map(inv, NULL, 0, 0, NULL, 0));
        CHECK_OK(lk_invoker_map(inv, NULL, 0, sizeof args[0], NULL, sizeof results[0]));
        CHECK_OK(lk_invoker_map(inv, args, 0, sizeof args[0], results, sizeof results[0]));
        CHECK_OK(lk_invoker_map(inv, NULL, 0, 64, NULL, 3));
        lk_map_options mo;
        lk_map_options_init(&mo, sizeof mo);
        CHECK_OK(lk_invoker_map_with(inv, NULL, 0, 8, NULL, 8, &mo));
        CHECK(atomic_load(&s->calls) == 0);
        for (int i = 0; i < N; i++) CHECK(results[i] == 0x77777777u);

        /* and the invoker still maps normally */
        reset(s);
        CHECK_OK(lk_invoker_map(inv, args, N, sizeof args[0], results, sizeof results[0]));
        check_all_ran_once(s);
        for (int i = 0; i < N; i++) CHECK(results[i] == (uint32_t)i * 5 + (uint32_t)i + 1000);
        CHECK_OK(lk_invoker_shutdown(inv));
        printf("n_jobs %d: zero sizes ok\n", jobs[j]);
    }
    printf("api_procs_zero_sizes: ok\n");
    return 0;
}
