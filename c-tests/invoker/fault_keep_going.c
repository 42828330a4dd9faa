/* LK_ERRORS_KEEP_GOING: every item runs exactly once even when some fail;
 * the map returns LK_ERR_CALLBACK naming the lowest failing index and its
 * code; item_status receives every item's code (0 for success); every
 * result is written; a map with no failure returns LK_OK with 0 everywhere;
 * the invoker stays usable. n_jobs 1, 2, 4. */
#include "lktest.h"

enum { N = 3000 };

typedef struct {
    atomic_int fail;
    atomic_int runs[N];
} state_t;

static int32_t code_of(size_t i) { return (i % 7 == 3) ? (int32_t)(i % 100) + 1 : (i % 11 == 5 ? -(int32_t)i : 0); }

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    state_t *s = (state_t *)model;
    atomic_fetch_add(&s->runs[task->index], 1);
    if (task->index % 50 == 0) lkt_sleep_us(100);
    *(uint32_t *)result = *(const uint32_t *)arg ^ 0xFFFFu;
    return atomic_load(&s->fail) ? code_of(task->index) : 0;
}

int main(int argc, char **argv) {
    lkt_backend_init(argc, argv);
    lkt_watchdog(60);
    state_t *s = (state_t *)lkt_shared(sizeof *s);
    static uint32_t args[N], results[N];
    static int32_t status[N];
    for (int i = 0; i < N; i++) args[i] = (uint32_t)lkt_mix((uint64_t)i);

    int32_t jobs[] = {1, 2, 4};
    for (int j = 0; j < 3; j++) {
        lk_invoker_options o = lkt_options(jobs[j]);
        o.error_mode = LK_ERRORS_KEEP_GOING;
        lk_invoker *inv = lkt_new_with(s, op, &o);
        for (int round = 0; round < 3; round++) {
            atomic_store(&s->fail, 1);
            for (int i = 0; i < N; i++) {
                atomic_store(&s->runs[i], 0);
                status[i] = 0x5A5A5A5A;
                results[i] = 0;
            }
            lk_map_options mo = lkt_with_status(status);
            CHECK_FAIL(lk_invoker_map_with(inv, args, N, sizeof args[0], results, sizeof results[0], &mo),
                       LK_ERR_CALLBACK);
            unsigned long long index = 0;
            long long code = 0;
            CHECK(lkt_parse_failure(lk_last_error(), &index, &code));
            CHECK_MSG(index == 3 && code == 4, "\"%s\": expected index 3, code 4", lk_last_error());
            for (int i = 0; i < N; i++) {
                CHECK_MSG(atomic_load(&s->runs[i]) == 1, "item %d ran %d times", i, atomic_load(&s->runs[i]));
                CHECK(status[i] == code_of((size_t)i));
                CHECK(results[i] == (args[i] ^ 0xFFFFu));
            }

            /* the same without item_status */
            for (int i = 0; i < N; i++) atomic_store(&s->runs[i], 0);
            CHECK_FAIL(lk_invoker_map(inv, args, N, sizeof args[0], results, sizeof results[0]), LK_ERR_CALLBACK);
            CHECK(lkt_parse_failure(lk_last_error(), &index, &code));
            CHECK(index == 3 && code == 4);
            for (int i = 0; i < N; i++) CHECK(atomic_load(&s->runs[i]) == 1);

            /* nothing fails: LK_OK and 0 everywhere */
            atomic_store(&s->fail, 0);
            for (int i = 0; i < N; i++) {
                atomic_store(&s->runs[i], 0);
                status[i] = 0x5A5A5A5A;
            }
            CHECK_OK(lk_invoker_map_with(inv, args, N, sizeof args[0], results, sizeof results[0], &mo));
            for (int i = 0; i < N; i++) {
                CHECK(atomic_load(&s->runs[i]) == 1);
                CHECK(status[i] == 0);
            }
        }
        CHECK_OK(lk_invoker_shutdown(inv));
        printf("n_jobs %d: keep-going ok\n", jobs[j]);
    }
    printf("invoker_fault_keep_going: ok\n");
    return 0;
}
