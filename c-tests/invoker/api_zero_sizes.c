/* Zero sizes: arg_size 0 passes a NULL arg (whether or not `args` is NULL),
 * result_size 0 passes a NULL result (whether or not `results` is NULL; a
 * given array is left untouched), every item still runs once with its
 * index; n_args 0 is a successful no-op that calls nothing, with NULL or
 * non-NULL arrays and any sizes (SIZE_MAX included), through lk_invoker_map
 * and lk_invoker_map_with (NULL options or not); the invoker then still maps
 * normally. n_jobs 1, 2 and 4. */
#include "lktest.h"

enum { N = 500 };

typedef struct {
    atomic_int calls;
    atomic_int non_null_arg, non_null_result, null_arg, null_result;
    atomic_int bad_index;
    atomic_int ran[N];
} state_t;

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    state_t *s = (state_t *)model;
    atomic_fetch_add(&s->calls, 1);
    atomic_fetch_add(arg ? &s->non_null_arg : &s->null_arg, 1);
    if (result) {
        atomic_fetch_add(&s->non_null_result, 1);
        *(uint32_t *)result = (uint32_t)task->index * 5 + (arg ? *(const uint32_t *)arg : 0);
    } else {
        atomic_fetch_add(&s->null_result, 1);
    }
    if (task->index < N) atomic_fetch_add(&s->ran[task->index], 1);
    else atomic_fetch_add(&s->bad_index, 1);
    return 0;
}

static void reset(state_t *s) { memset(s, 0, sizeof *s); }

/* Every index ran once, and the callback got a NULL arg (result) exactly
 * when `null_arg` (`null_result`). */
static void check_all_ran_once(state_t *s, int null_arg, int null_result) {
    CHECK(atomic_load(&s->calls) == N);
    CHECK(atomic_load(&s->bad_index) == 0);
    for (int i = 0; i < N; i++) CHECK(atomic_load(&s->ran[i]) == 1);
    CHECK(atomic_load(null_arg ? &s->null_arg : &s->non_null_arg) == N);
    CHECK(atomic_load(null_result ? &s->null_result : &s->non_null_result) == N);
}

int main(int argc, char **argv) {
    lkt_backend_init(argc, argv);
    lkt_watchdog(60);
    state_t *s = (state_t *)lkt_shared(sizeof *s);
    static uint32_t args[N], results[N];
    for (int i = 0; i < N; i++) args[i] = (uint32_t)i + 1000;
    const int32_t jobs[] = {1, 2, 4};
    for (int j = 0; j < 3; j++) {
        lk_invoker *inv = lkt_new(s, op, jobs[j]);

        /* arg_size 0, NULL args: NULL arg; results written */
        reset(s);
        memset(results, 0, sizeof results);
        CHECK_OK(lk_invoker_map(inv, NULL, N, 0, results, sizeof results[0]));
        check_all_ran_once(s, 1, 0);
        for (int i = 0; i < N; i++) CHECK(results[i] == (uint32_t)i * 5);

        /* arg_size 0 with a non-NULL args pointer: still a NULL arg */
        reset(s);
        memset(results, 0, sizeof results);
        CHECK_OK(lk_invoker_map(inv, args, N, 0, results, sizeof results[0]));
        check_all_ran_once(s, 1, 0);
        for (int i = 0; i < N; i++) CHECK(results[i] == (uint32_t)i * 5);

        /* result_size 0, NULL results: NULL result */
        reset(s);
        CHECK_OK(lk_invoker_map(inv, args, N, sizeof args[0], NULL, 0));
        check_all_ran_once(s, 0, 1);

        /* result_size 0 with a non-NULL results pointer: still NULL, nothing written */
        reset(s);
        memset(results, 0x77, sizeof results);
        CHECK_OK(lk_invoker_map(inv, args, N, sizeof args[0], results, 0));
        check_all_ran_once(s, 0, 1);
        for (int i = 0; i < N; i++) CHECK(results[i] == 0x77777777u);

        /* both 0, both NULL: every index still runs once */
        reset(s);
        CHECK_OK(lk_invoker_map(inv, NULL, N, 0, NULL, 0));
        check_all_ran_once(s, 1, 1);

        /* n_args 0: LK_OK, no callback, with any arrays and sizes */
        reset(s);
        memset(results, 0x77, sizeof results);
        const struct {
            const void *args;
            size_t arg_size;
            void *results;
            size_t result_size;
        } empty[] = {
            {NULL, 0, NULL, 0},
            {args, sizeof args[0], results, sizeof results[0]},
            {NULL, sizeof args[0], results, sizeof results[0]},
            {args, sizeof args[0], NULL, sizeof results[0]},
            {NULL, sizeof args[0], NULL, sizeof results[0]},
            {NULL, 64, NULL, 3},
            {NULL, 1000, NULL, 1000},
            {NULL, SIZE_MAX, NULL, SIZE_MAX},
        };
        for (size_t k = 0; k < sizeof empty / sizeof empty[0]; k++)
            CHECK_OK(lk_invoker_map(inv, empty[k].args, 0, empty[k].arg_size, empty[k].results,
                                    empty[k].result_size));
        lk_map_options mo;
        lk_map_options_init(&mo, sizeof mo);
        CHECK_OK(lk_invoker_map_with(inv, NULL, 0, 8, NULL, 8, &mo));
        CHECK_OK(lk_invoker_map_with(inv, NULL, 0, 8, NULL, 8, NULL));
        CHECK(atomic_load(&s->calls) == 0);
        for (int i = 0; i < N; i++) CHECK(results[i] == 0x77777777u);

        /* and the invoker still maps normally */
        reset(s);
        CHECK_OK(lk_invoker_map(inv, args, N, sizeof args[0], results, sizeof results[0]));
        check_all_ran_once(s, 0, 0);
        for (int i = 0; i < N; i++) CHECK(results[i] == (uint32_t)i * 5 + (uint32_t)i + 1000);
        CHECK_OK(lk_invoker_shutdown(inv));
        printf("n_jobs %d: zero sizes ok\n", jobs[j]);
    }
    printf("invoker_api_zero_sizes: ok\n");
    return 0;
}
