/* A worker process that dies inside a range whose arrays are shared and
 * used in place (range maps, keep-going, n_jobs 2, grain 100): the map
 * returns LK_ERR_WORKER_DIED naming the range; that range's items are
 * LK_ITEM_WORKER_DIED; every other item ran once and has its result in the
 * caller's shared array; the caller's arguments are unchanged; the next
 * map on the same invoker runs in full. Deaths: SIGKILL, SIGSEGV, _exit. */
#include "lktest.h"

enum { N = 30000, DIE_AT = 12345 };

typedef struct {
    atomic_int die_at;
    atomic_int kind;
    atomic_int runs[N];
} state_t;

static int32_t range_fn(const void *model, const void *args, void *results, lk_range *r) {
    state_t *s = (state_t *)model;
    const uint64_t *a = (const uint64_t *)args;
    uint64_t *res = (uint64_t *)results;
    for (size_t i = r->begin; i < r->end; i++, a++, res++) {
        if (lkt_take(&s->die_at, i)) lkt_die(atomic_load(&s->kind));
        atomic_fetch_add(&s->runs[i], 1);
        *res = *a + 1;
    }
    return 0;
}

int main(void) {
    lkt_no_core_dumps();
    lkt_watchdog(120);
    state_t *s = NULL;
    uint64_t *args = NULL, *res = NULL;
    CHECK_OK(lk_shared_alloc(sizeof *s, (void **)&s));
    CHECK_OK(lk_shared_alloc(N * sizeof *args, (void **)&args));
    CHECK_OK(lk_shared_alloc(N * sizeof *res, (void **)&res));
    int32_t *status = malloc(N * sizeof *status);
    CHECK(status != NULL);
    lk_invoker_options o = lkt_options_on(LK_BACKEND_PROCESSES, 2);
    o.range_func = range_fn;
    o.grain = 100;
    o.error_mode = LK_ERRORS_KEEP_GOING;
    lk_invoker *inv = lkt_new_with(s, NULL, &o);
    lk_map_options mo = lkt_with_status(status);
    for (int kind = 0; kind < LKT_DEATHS; kind++) {
        for (size_t i = 0; i < N; i++) args[i] = i * 7, res[i] = 0, atomic_store(&s->runs[i], 0);
        atomic_store(&s->kind, kind);
        atomic_store(&s->die_at, DIE_AT);
        CHECK_FAIL(lk_invoker_map_with(inv, args, N, sizeof *args, res, sizeof *res, &mo), LK_ERR_WORKER_DIED);
        CHECK_ERROR_HAS(lkt_death_words[kind]);
        size_t lo = N, hi = 0;
        for (size_t i = 0; i < N; i++) {
            CHECK(args[i] == i * 7);
            if (status[i] == LK_ITEM_WORKER_DIED) {
                lo = i < lo ? i : lo;
                hi = i;
            } else {
                CHECK_MSG(status[i] == 0 && atomic_load(&s->runs[i]) == 1 && res[i] == i * 7 + 1,
                          "%s: item %zu: status %d, runs %d, result %llu", lkt_death_name[kind], i, status[i],
                          atomic_load(&s->runs[i]), (unsigned long long)res[i]);
            }
        }
        CHECK_MSG(lo <= DIE_AT && DIE_AT <= hi && hi - lo + 1 >= 100, "%s: died items %zu..%zu", lkt_death_name[kind], lo, hi);
        for (size_t i = lo; i <= hi; i++) CHECK(status[i] == LK_ITEM_WORKER_DIED);
        CHECK_ERROR_HAS_NUMBER(lo);
        /* The replaced worker and its peer run the next map in full. */
        CHECK_OK(lk_invoker_map_with(inv, args, N, sizeof *args, res, sizeof *res, &mo));
        for (size_t i = 0; i < N; i++) CHECK(status[i] == 0 && res[i] == i * 7 + 1);
    }
    CHECK_OK(lk_invoker_shutdown(inv));
    CHECK_OK(lk_shared_free(args));
    CHECK_OK(lk_shared_free(res));
    CHECK_OK(lk_shared_free(s));
    free(status);
    return 0;
}
