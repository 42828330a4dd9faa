/* Maps over arrays from lk_shared_alloc (the header's "Shared memory"
 * section), item and range invokers, n_jobs 1 and 2, both backends:
 *  - the workers use such arrays in place: every callback's `arg` and
 *    `result` (a range's `args` and `results`) is the caller's own slot,
 *    whether both arrays, only the arguments or only the results are
 *    shared (on threads that always holds; on processes it is what the
 *    section promises for invokers made after the first lk_shared_alloc);
 *  - results are right, also as the arguments change between maps, and a
 *    model in shared memory is seen as it is now, not as it was when the
 *    invoker was made;
 *  - item_status, index_base and keep-going failures are as for any map:
 *    the map names the lowest failing index, failed items have their code,
 *    the others their results. */
#include "lktest.h"

enum { N = 100000, BASE = 1000 };

typedef struct {
    uint64_t mult;
    const uint64_t *args;  /* the caller's arrays, NULL: not shared */
    uint64_t *results;
    size_t base;
    atomic_long misplaced; /* callbacks handed a slot not the caller's */
    atomic_long calls;
    int fail;              /* items with index % 997 == 3 fail with code 7 */
} model_t;

static int fails(const model_t *m, size_t index) { return m->fail && index % 997 == 3; }

static void check_place(model_t *m, size_t index, const void *arg, const void *result) {
    size_t rel = index - m->base;
    if ((m->args && arg != m->args + rel) || (m->results && result != m->results + rel))
        atomic_fetch_add(&m->misplaced, 1);
}

static int32_t item_fn(const void *model, const void *arg, void *result, const lk_task *task) {
    model_t *m = (model_t *)model;
    check_place(m, task->index, arg, result);
    atomic_fetch_add(&m->calls, 1);
    if (fails(m, task->index)) return 7;
    *(uint64_t *)result = *(const uint64_t *)arg * m->mult + task->index;
    return 0;
}

static int32_t range_fn(const void *model, const void *args, void *results, lk_range *r) {
    model_t *m = (model_t *)model;
    check_place(m, r->begin, args, results);
    atomic_fetch_add(&m->calls, 1);
    const uint64_t *a = (const uint64_t *)args;
    uint64_t *res = (uint64_t *)results;
    for (size_t i = r->begin; i < r->end; i++, a++, res++) {
        if (fails(m, i)) {
            r->failed = i;
            return 7;
        }
        *res = *a * m->mult + i;
    }
    return 0;
}

static void *shared_array(void) {
    void *p = NULL;
    CHECK_OK(lk_shared_alloc(N * sizeof(uint64_t), &p));
    return p;
}

int main(int argc, char **argv) {
    (void)argc;
    (void)argv;
    lkt_watchdog(120);
    model_t *m = NULL;
    CHECK_OK(lk_shared_alloc(sizeof *m, (void **)&m));
    memset(m, 0, sizeof *m);
    m->mult = 3;
    uint64_t *sargs = shared_array(), *sres = shared_array();
    uint64_t *pargs = malloc(N * sizeof *pargs), *pres = malloc(N * sizeof *pres);
    int32_t *status = malloc(N * sizeof *status);
    CHECK(pargs && pres && status);
    for (int ranged = 0; ranged < 4; ranged++) {
        lk_backend backend = ranged < 2 ? LK_BACKEND_THREADS : LK_BACKEND_PROCESSES;
        for (int32_t n_jobs = 1; n_jobs <= 2; n_jobs++) {
            lk_invoker_options o = lkt_options_on(backend, n_jobs);
            o.error_mode = LK_ERRORS_KEEP_GOING;
            if (ranged % 2) o.grain = 100;
            if (ranged % 2) o.range_func = range_fn;
            lk_invoker *inv = lkt_new_with(m, ranged % 2 ? NULL : item_fn, &o);
            /* Made after the invoker: its workers must see this model. */
            m->mult = 5 + (uint64_t)n_jobs;
            /* args shared or not, results shared or not (not both private). */
            for (int shape = 0; shape < 3; shape++) {
                uint64_t *args = shape == 2 ? pargs : sargs, *res = shape == 1 ? pres : sres;
                for (size_t i = 0; i < N; i++) args[i] = i * 11 + (size_t)shape, res[i] = 0;
                m->args = args == sargs ? sargs : NULL;
                m->results = res == sres ? sres : NULL;
                m->base = 0;
                m->fail = 0;
                atomic_store(&m->misplaced, 0);
                atomic_store(&m->calls, 0);
                CHECK_OK(lk_invoker_map(inv, args, N, sizeof *args, res, sizeof *res));
                CHECK(atomic_load(&m->calls) > 0);
                CHECK_MSG(atomic_load(&m->misplaced) == 0, "%ld of %ld calls (backend %d, ranged %d, n_jobs %d, shape %d) got a slot not the caller's",
                          atomic_load(&m->misplaced), atomic_load(&m->calls), backend, ranged % 2, n_jobs, shape);
                for (size_t i = 0; i < N; i++)
                    CHECK_MSG(res[i] == args[i] * m->mult + i, "item %zu: %llu", i, (unsigned long long)res[i]);
                /* The same arrays with new arguments. */
                for (size_t i = 0; i < N; i++) args[i] = i * 13;
                CHECK_OK(lk_invoker_map(inv, args, N, sizeof *args, res, sizeof *res));
                for (size_t i = 0; i < N; i++) CHECK(res[i] == i * 13 * m->mult + i);
            }
            /* Keep-going failures with item_status and index_base, in place. */
            m->args = sargs;
            m->results = sres;
            m->base = BASE;
            m->fail = 1;
            for (size_t i = 0; i < N; i++) sargs[i] = i, sres[i] = 0;
            lk_map_options mo = lkt_with_status(status);
            mo.index_base = BASE;
            CHECK_FAIL(lk_invoker_map_with(inv, sargs, N, sizeof *sargs, sres, sizeof *sres, &mo), LK_ERR_CALLBACK);
            size_t first = BASE;
            while (first % 997 != 3) first++;
            CHECK_ERROR_HAS_NUMBER(first);
            for (size_t i = 0; i < N; i++) {
                if (fails(m, BASE + i)) {
                    CHECK_MSG(status[i] == 7, "item %zu: status %d", i, status[i]);
                } else {
                    CHECK_MSG(status[i] == 0 && sres[i] == i * m->mult + BASE + i, "item %zu: status %d, result %llu", i, status[i],
                              (unsigned long long)sres[i]);
                }
            }
            CHECK(atomic_load(&m->misplaced) == 0);
            CHECK_OK(lk_invoker_shutdown(inv));
        }
    }
    CHECK_OK(lk_shared_free(sargs));
    CHECK_OK(lk_shared_free(sres));
    CHECK_OK(lk_shared_free(m));
    free(pargs);
    free(pres);
    free(status);
    return 0;
}
