/* lk_range_seed(range, i) is the task->seed item i gets through an item
 * function in the same place (API.md, Range maps; Seeds): after
 * lk_seed_init(S), an item invoker and a range invoker made in the same
 * order and mapped in the same order give the same seed for every index
 * (read with lk_range_seed inside each range, for its own items and for
 * the map's first and last index too), for n_jobs 1, 2 and 4, on this
 * run's backend, over three maps of which one has an index_base, under
 * keep-going with failing items (the calls for the rest of a range
 * included); with LK_SEEDS_OFF both give 0. */
#include "range/rangetest.h"

enum { N = 3000, MAPS = 3, BASE = 777777 };

typedef struct {
    uint64_t seeds[N];
    atomic_int mismatches;   /* lk_range_seed of the map's ends disagreed within a map */
    uint64_t first_seed, last_seed;
    atomic_int ends_known;
    size_t base;
    int fail;                /* items with index % 101 == 7 fail (keep-going) */
} state_t;

static int fails(const state_t *s, size_t index) {
    return s->fail && index % 101 == 7;
}

static int32_t item_fn(const void *model, const void *arg, void *result, const lk_task *task) {
    state_t *s = (state_t *)model;
    (void)arg;
    (void)result;
    if (task->index % 128 == 0) lkt_sleep_us(20);
    s->seeds[task->index - s->base] = task->seed;
    return fails(s, task->index) ? 3 : 0;
}

static int32_t range_fn(const void *model, const void *args, void *results, lk_range *r) {
    state_t *s = (state_t *)model;
    (void)args;
    (void)results;
    /* every range agrees on the seeds of the map's first and last index */
    uint64_t first = lk_range_seed(r, s->base), last = lk_range_seed(r, s->base + N - 1);
    int expected = 0;
    if (atomic_compare_exchange_strong(&s->ends_known, &expected, 1)) {
        s->first_seed = first;
        s->last_seed = last;
        atomic_store(&s->ends_known, 2);
    } else {
        while (atomic_load(&s->ends_known) != 2) {
        }
        if (first != s->first_seed || last != s->last_seed) atomic_fetch_add(&s->mismatches, 1);
    }
    for (size_t i = r->begin; i < r->end; i++) {
        s->seeds[i - s->base] = lk_range_seed(r, i);
        if (fails(s, i)) {
            r->failed = i;
            return 3;
        }
    }
    return 0;
}

/* Two invokers made after lk_seed_init(S): a plain item invoker first, then
 * one of `kind` (0: item, 1: range); MAPS maps on the second (the last
 * with index_base BASE) interleaved with maps on the first. */
static void run(int kind, int n_jobs, lk_seeds seeds, state_t *s, uint64_t out[MAPS][N]) {
    lk_seed_init(0xFEEDFACE12345678ULL);
    lk_invoker_options o0 = lkt_options(2);
    lk_invoker *other = lkt_new_with(s, item_fn, &o0);
    lk_invoker_options o = lkt_options(n_jobs);
    o.seeds = seeds;
    o.error_mode = LK_ERRORS_KEEP_GOING;
    lk_invoker *inv = kind ? rt_new_with(s, range_fn, &o) : lkt_new_with(s, item_fn, &o);
    for (int m = 0; m < MAPS; m++) {
        s->fail = 0;
        s->base = 0;
        CHECK_OK(lk_invoker_map(other, NULL, N, 0, NULL, 0));
        lk_map_options mo;
        lk_map_options_init(&mo, sizeof mo);
        mo.index_base = m == MAPS - 1 ? BASE : 0;
        s->base = mo.index_base;
        s->fail = m == 1;
        atomic_store(&s->ends_known, 0);
        memset(s->seeds, 0xAB, sizeof s->seeds);
        lk_status st = lk_invoker_map_with(inv, NULL, N, 0, NULL, 0, &mo);
        CHECK_MSG(st == (m == 1 ? LK_ERR_CALLBACK : LK_OK), "map %d: %d (%s)", m, (int)st, lk_last_error());
        memcpy(out[m], s->seeds, sizeof s->seeds);
        if (kind) {
            CHECK_MSG(atomic_load(&s->mismatches) == 0, "ranges of one map disagree on lk_range_seed");
            CHECK(s->first_seed == out[m][0] && s->last_seed == out[m][N - 1]);
        }
    }
    CHECK_OK(lk_invoker_shutdown(inv));
    CHECK_OK(lk_invoker_shutdown(other));
}

int main(int argc, char **argv) {
    lkt_backend_init(argc, argv);
    lkt_watchdog(120);
    state_t *s = (state_t *)lkt_shared(sizeof *s);
    static uint64_t ref[MAPS][N], got[MAPS][N];
    const int32_t jobs[] = {1, 2, 4};
    for (int j = 0; j < 3; j++) {
        run(0, jobs[j], LK_SEEDS_PER_ITEM, s, ref);
        run(1, jobs[j], LK_SEEDS_PER_ITEM, s, got);
        for (int m = 0; m < MAPS; m++)
            for (int i = 0; i < N; i++)
                CHECK_MSG(ref[m][i] == got[m][i],
                          "n_jobs %d, map %d, item %d: lk_range_seed %016" PRIx64 ", task->seed %016" PRIx64, jobs[j], m,
                          i, got[m][i], ref[m][i]);
        CHECK(ref[0][0] != ref[1][0] && ref[0][1] != ref[0][2]);

        run(0, jobs[j], LK_SEEDS_OFF, s, ref);
        run(1, jobs[j], LK_SEEDS_OFF, s, got);
        for (int m = 0; m < MAPS; m++)
            for (int i = 0; i < N; i++) {
                CHECK_MSG(ref[m][i] == 0, "LK_SEEDS_OFF: task->seed of item %d is not 0", i);
                CHECK_MSG(got[m][i] == 0, "LK_SEEDS_OFF: lk_range_seed of item %d is not 0", i);
            }
        printf("n_jobs %d: ok\n", jobs[j]);
    }
    printf("range_api_seeds: ok\n");
    return 0;
}
