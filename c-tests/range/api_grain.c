/* lk_invoker_options.grain (API.md, Range maps): every range has at least
 * `grain` items, except where fewer remain (the end of the map, or the rest
 * of a range after a keep-going failure); grain 0 lets the library choose.
 * Grains 0, 1, 7, 100, 1000 and 100000 over maps of 1, 50, 99,999 and
 * 300,001 items, n_jobs 1, 2 and 4; a grain of 500,000 over 2,000,003
 * items of 16 bytes (on the process backend: a map larger than the shared
 * window); grains of 2^62 and SIZE_MAX (one range per map); keep-going
 * maps with failing items. Each time the ranges tile
 * the map and every result is right. */
#include "range/rangetest.h"

enum { BIG = 2000003 };

typedef struct {
    rt_log log;
    int fail; /* items with index % 1009 == 500 fail */
} state_t;

static int32_t range_fn(const void *model, const void *args, void *results, lk_range *r) {
    state_t *s = (state_t *)model;
    rt_call *c = rt_log_begin(&s->log, r, args, results);
    const uint64_t *a = (const uint64_t *)args;
    uint64_t *res = (uint64_t *)results;
    for (size_t i = r->begin; i < r->end; i++) {
        if (s->fail && i % 1009 == 500) {
            r->failed = i;
            return rt_log_end(c, r, 1);
        }
        *res++ = *a++ + 1;
    }
    return rt_log_end(c, r, 0);
}

static uint64_t *args, *results;

/* Every call has at least `grain` items unless it ends the map or is the
 * rest of a failing range. */
static void check_grain(rt_log *log, size_t n, size_t grain, const char *what) {
    size_t count = 0;
    rt_call *c = rt_log_sorted(log, &count);
    for (size_t k = 0; k < count; k++) {
        size_t size = c[k].end - c[k].begin;
        int at_end = c[k].end == n;
        int rest = k > 0 && c[k - 1].ret != 0 && c[k].begin == rt_failed_item(&c[k - 1]) + 1 &&
                   c[k].end == c[k - 1].end;
        CHECK_MSG(size >= grain || at_end || rest,
                  "%s: range %zu..%zu has %zu items, fewer than the grain %zu, though the map goes on to %zu", what,
                  c[k].begin, c[k].end, size, grain, n);
    }
    free(c);
}

static void one(state_t *s, int n_jobs, size_t grain, size_t n, int fail) {
    char what[128];
    snprintf(what, sizeof what, "n_jobs %d, grain %zu, %zu items%s", n_jobs, grain, n, fail ? ", keep-going" : "");
    lk_invoker_options o = lkt_options(n_jobs);
    o.grain = grain;
    o.error_mode = fail ? LK_ERRORS_KEEP_GOING : LK_ERRORS_FAIL_FAST;
    lk_invoker *inv = rt_new_with(s, range_fn, &o);
    rt_log_clear(&s->log);
    s->fail = fail;
    memset(results, 0, n * sizeof *results);
    lk_status st = lk_invoker_map(inv, args, n, sizeof *args, results, sizeof *results);
    CHECK_MSG(st == (fail && n > 500 ? LK_ERR_CALLBACK : LK_OK), "%s: %d (%s)", what, (int)st, lk_last_error());
    rt_check_calls(&s->log, 0, n, n_jobs, what);
    rt_check_tiling(&s->log, 0, n, what);
    check_grain(&s->log, n, grain, what);
    for (size_t i = 0; i < n; i++)
        if (!(fail && i % 1009 == 500)) CHECK_MSG(results[i] == args[i] + 1, "%s: item %zu", what, i);
    CHECK_OK(lk_invoker_shutdown(inv));
}

int main(int argc, char **argv) {
    lkt_backend_init(argc, argv);
    lkt_watchdog(240);
    state_t *s = (state_t *)lkt_shared(sizeof *s);
    args = (uint64_t *)malloc(BIG * sizeof *args);
    results = (uint64_t *)malloc(BIG * sizeof *results);
    CHECK(args && results);
    for (size_t i = 0; i < BIG; i++) args[i] = i * 7;

    const int32_t jobs[] = {1, 2, 4};
    const size_t grains[] = {0, 1, 7, 100, 1000, 100000};
    const size_t sizes[] = {1, 50, 99999, 300001};
    for (int j = 0; j < 3; j++) {
        for (size_t g = 0; g < sizeof grains / sizeof grains[0]; g++)
            for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++) one(s, jobs[j], grains[g], sizes[z], 0);
        one(s, jobs[j], 100, 99999, 1);
        one(s, jobs[j], 1000, 300001, 1);
        printf("n_jobs %d: ok\n", jobs[j]);
    }
    /* beyond the process backend's shared window */
    one(s, 2, 500000, BIG, 0);
    one(s, 2, 1000, BIG, 0);
    one(s, 4, 3000, BIG, 1);
    /* a grain past any map: one range each */
    one(s, 2, SIZE_MAX, 99999, 0);
    one(s, 4, (size_t)1 << 62, 300001, 0);
    free(args);
    free(results);
    printf("range_api_grain: ok\n");
    return 0;
}
