/* LK_SEEDS_OFF: every task->seed is 0, on every path (n_jobs 1, 2 and 4;
 * the loop with an item_status array and a progress callback), and the
 * results are unchanged. An invoker with seeds off still counts in the
 * creation order: the seeded invoker made after it gets the seeds it would
 * get after a seeded one. */
#include "lktest.h"

enum { N = 3000 };

typedef struct {
    uint64_t twice;
    uint64_t seed;
} out_t;

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    out_t *o = (out_t *)result;
    o->twice = *(const uint64_t *)arg * 2 + 1;
    o->seed = task->seed;
    return 0;
}

static void progress(size_t done, size_t total, void *user) {
    (void)done, (void)total;
    ++*(int *)user;
}

static uint64_t args[N];
static out_t out[N];
static int32_t status[N];

static lk_invoker *make(int n_jobs, lk_seeds seeds, int *calls) {
    lk_invoker_options o = lkt_options(n_jobs);
    o.seeds = seeds;
    if (calls) {
        o.progress = progress;
        o.progress_user = calls;
    }
    return lkt_new_with(NULL, op, &o);
}

/* Map all N items; with `with_status`, through lk_invoker_map_with and an item_status array. */
static void map_all(lk_invoker *inv, int with_status) {
    memset(out, 0xA5, sizeof out);
    if (with_status) {
        lk_map_options mo = lkt_with_status(status);
        memset(status, 0x5A, sizeof status);
        CHECK_OK(lk_invoker_map_with(inv, args, N, sizeof args[0], out, sizeof out[0], &mo));
        for (size_t i = 0; i < N; i++) CHECK(status[i] == 0);
    } else {
        CHECK_OK(lk_invoker_map(inv, args, N, sizeof args[0], out, sizeof out[0]));
    }
    for (size_t i = 0; i < N; i++) CHECK(out[i].twice == args[i] * 2 + 1);
}

static void check_all_zero(void) {
    for (size_t i = 0; i < N; i++) CHECK(out[i].seed == 0);
}

int main(int argc, char **argv) {
    lkt_backend_init(argc, argv);
    lkt_watchdog(60);
    for (size_t i = 0; i < N; i++) args[i] = i * 7 + 3;

    const int32_t jobs[] = {1, 2, 4};
    for (size_t k = 0; k < sizeof jobs / sizeof jobs[0]; k++) {
        int calls = 0;
        lk_invoker *inv = make(jobs[k], LK_SEEDS_OFF, NULL);
        map_all(inv, 0);
        check_all_zero();
        map_all(inv, 1);
        check_all_zero();
        CHECK_OK(lk_invoker_shutdown(inv));

        inv = make(jobs[k], LK_SEEDS_OFF, &calls);
        map_all(inv, 1);
        check_all_zero();
        CHECK(calls >= 1);
        CHECK_OK(lk_invoker_shutdown(inv));

        /* the default still seeds every item */
        inv = make(jobs[k], LK_SEEDS_PER_ITEM, NULL);
        map_all(inv, 0);
        size_t zeros = 0;
        for (size_t i = 0; i < N; i++) zeros += out[i].seed == 0;
        CHECK(zeros <= 1);
        CHECK(out[0].seed != out[1].seed);
        CHECK_OK(lk_invoker_shutdown(inv));
    }

    /* creation order: invoker 2's seeds do not depend on invoker 1's seeds mode */
    static uint64_t want[N];
    for (int round = 0; round < 2; round++) {
        lk_seed_init(77);
        lk_invoker *first = make(2, round == 0 ? LK_SEEDS_PER_ITEM : LK_SEEDS_OFF, NULL);
        lk_invoker *second = make(2, LK_SEEDS_PER_ITEM, NULL);
        map_all(first, 0);
        map_all(second, 0);
        for (size_t i = 0; i < N; i++) {
            if (round == 0)
                want[i] = out[i].seed;
            else
                CHECK(out[i].seed == want[i]);
        }
        CHECK_OK(lk_invoker_shutdown(first));
        CHECK_OK(lk_invoker_shutdown(second));
    }
    printf("invoker_api_seeds_off: ok\n");
    return 0;
}
