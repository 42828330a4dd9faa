/* Options structs: lk_invoker_options_init fills defaults within `size`
 * bytes and records the size; lk_invoker_new_with refuses unknown backend
 * or error_mode values, a missing or too small struct_size, and unknown
 * non-zero trailing fields (LK_ERR_INVALID, *out untouched), and accepts an
 * older, shorter struct and NULL options. lk_map_options likewise. */
#include "lktest.h"

#define SENTINEL ((lk_invoker *)(uintptr_t)0x1234)

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    if (result) *(size_t *)result = task->index;
    return 0;
}

static void check_refused(const lk_invoker_options *o) {
    lk_invoker *out = SENTINEL;
    CHECK_FAIL(lk_invoker_new_with(NULL, op, o, &out), LK_ERR_INVALID);
    CHECK(out == SENTINEL);
}

static void check_works(lk_invoker *inv, size_t index_base) {
    enum { N = 50 };
    size_t results[N];
    memset(results, 0xFF, sizeof results);
    CHECK_OK(lk_invoker_map(inv, NULL, N, 0, results, sizeof results[0]));
    for (size_t i = 0; i < N; i++) CHECK(results[i] == i);
    (void)index_base;
    CHECK_OK(lk_invoker_shutdown(inv));
}

static void check_accepted(const lk_invoker_options *o) {
    lk_invoker *out = SENTINEL;
    CHECK_OK(lk_invoker_new_with(NULL, op, o, &out));
    CHECK(out != SENTINEL && out != NULL);
    check_works(out, 0);
}

/* An options struct as an older program (API.md's three fields) sees it. */
typedef struct {
    uint32_t struct_size;
    int32_t n_jobs;
    lk_backend backend;
} old_options;

/* A newer program's struct: ours plus fields this library does not know. */
typedef struct {
    lk_invoker_options known;
    uint64_t future1;
    uint64_t future2;
} new_options;

int main(void) {
    lkt_watchdog(30);

    /* init: defaults, and the size recorded */
    lk_invoker_options o;
    memset(&o, 0x5A, sizeof o);
    lk_invoker_options_init(&o, sizeof o);
    CHECK(o.struct_size == sizeof o);
    CHECK(o.n_jobs == 0);
    CHECK(o.backend == LK_BACKEND_THREADS);
    CHECK(o.error_mode == LK_ERRORS_FAIL_FAST);
    CHECK(o.progress == NULL && o.progress_user == NULL);
    CHECK(o.worker_init == NULL && o.worker_init_user == NULL);
    CHECK(o.recycle_after_items == 0 && o.recycle_above_rss == 0);
    CHECK(o.seeds == LK_SEEDS_PER_ITEM);

    /* init of an older, shorter struct touches only its bytes */
    unsigned char buf[sizeof(lk_invoker_options) + 16];
    memset(buf, 0xEE, sizeof buf);
    lk_invoker_options_init((lk_invoker_options *)(void *)buf, sizeof(old_options));
    old_options old;
    memcpy(&old, buf, sizeof old);
    CHECK(old.struct_size == sizeof(old_options));
    CHECK(old.n_jobs == 0 && old.backend == LK_BACKEND_THREADS);
    for (size_t k = sizeof(old_options); k < sizeof buf; k++) CHECK(buf[k] == 0xEE);

    /* init with NULL or a size too small to hold struct_size does nothing */
    lk_invoker_options_init(NULL, sizeof o);
    lk_invoker_options_init(NULL, 0);
    memset(buf, 0xEE, sizeof buf);
    lk_invoker_options_init((lk_invoker_options *)(void *)buf, 0);
    lk_invoker_options_init((lk_invoker_options *)(void *)buf, 3);
    for (size_t k = 0; k < sizeof buf; k++) CHECK(buf[k] == 0xEE);

    /* defaults and NULL options work */
    lk_invoker_options_init(&o, sizeof o);
    check_accepted(&o);
    {
        lk_invoker *out = SENTINEL;
        CHECK_OK(lk_invoker_new_with(NULL, op, NULL, &out));
        CHECK(out != SENTINEL);
        check_works(out, 0);
    }
    lk_invoker_options_init(&o, sizeof o);
    o.n_jobs = 2;
    o.error_mode = LK_ERRORS_KEEP_GOING;
    check_accepted(&o);

    /* zero is the default for every field */
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    check_accepted(&o);

    /* an older program's three-field struct is accepted */
    memset(&old, 0, sizeof old);
    lk_invoker_options_init((lk_invoker_options *)(void *)&old, sizeof old);
    old.n_jobs = 2;
    check_accepted((const lk_invoker_options *)(const void *)&old);

    /* unknown backend values */
    int32_t bad_backends[] = {7, 2, -1, 100, INT32_MIN, INT32_MAX};
    for (size_t i = 0; i < sizeof bad_backends / sizeof bad_backends[0]; i++) {
        lk_invoker_options_init(&o, sizeof o);
        o.n_jobs = 2;
        o.backend = bad_backends[i];
        check_refused(&o);
        o.n_jobs = 1;
        check_refused(&o);
    }

    /* unknown error_mode values */
    int32_t bad_modes[] = {2, 3, -1, INT32_MIN, INT32_MAX};
    for (size_t i = 0; i < sizeof bad_modes / sizeof bad_modes[0]; i++) {
        lk_invoker_options_init(&o, sizeof o);
        o.n_jobs = 2;
        o.error_mode = bad_modes[i];
        check_refused(&o);
    }

    /* unknown seeds values */
    int32_t bad_seeds[] = {2, -1, INT32_MIN, INT32_MAX};
    for (size_t i = 0; i < sizeof bad_seeds / sizeof bad_seeds[0]; i++) {
        lk_invoker_options_init(&o, sizeof o);
        o.n_jobs = 2;
        o.seeds = bad_seeds[i];
        check_refused(&o);
    }

    /* bad n_jobs through options */
    lk_invoker_options_init(&o, sizeof o);
    o.n_jobs = -2;
    check_refused(&o);
    o.n_jobs = INT32_MIN;
    check_refused(&o);

    /* struct_size 0 (init never called) or too small to hold API.md's fields */
    uint32_t bad_sizes[] = {0, 1, 4, 8, 11};
    for (size_t i = 0; i < sizeof bad_sizes / sizeof bad_sizes[0]; i++) {
        lk_invoker_options_init(&o, sizeof o);
        o.n_jobs = 2;
        o.struct_size = bad_sizes[i];
        check_refused(&o);
    }
    memset(&o, 0, sizeof o); /* a zeroed struct that never saw init */
    check_refused(&o);

    /* a newer, longer struct: fine while the unknown fields are zero */
    new_options n;
    memset(&n, 0, sizeof n);
    lk_invoker_options_init((lk_invoker_options *)(void *)&n, sizeof n);
    CHECK(n.known.struct_size == sizeof n);
    CHECK(n.future1 == 0 && n.future2 == 0);
    n.known.n_jobs = 2;
    check_accepted((const lk_invoker_options *)(const void *)&n);
    n.future2 = 1;
    check_refused((const lk_invoker_options *)(const void *)&n);

    /* ---- lk_map_options ---- */
    lk_invoker *inv = NULL;
    CHECK_OK(lk_invoker_new(NULL, op, 2, &inv));
    size_t results[20];
    lk_map_options mo;
    memset(&mo, 0x5A, sizeof mo);
    lk_map_options_init(&mo, sizeof mo);
    CHECK(mo.struct_size == sizeof mo);
    CHECK(mo.index_base == 0 && mo.schedule == LK_SCHEDULE_BLOCK && mo.results_at == LK_RESULTS_ALL);
    CHECK(mo.args_at_root == 0 && mo.reserved0 == 0 && mo.item_status == NULL);
    lk_map_options_init(NULL, sizeof mo);

    CHECK_OK(lk_invoker_map_with(inv, NULL, 20, 0, results, sizeof results[0], &mo));
    for (size_t i = 0; i < 20; i++) CHECK(results[i] == i);
    CHECK_OK(lk_invoker_map_with(inv, NULL, 20, 0, results, sizeof results[0], NULL));

    /* index_base shifts task->index */
    mo.index_base = 1000;
    CHECK_OK(lk_invoker_map_with(inv, NULL, 20, 0, results, sizeof results[0], &mo));
    for (size_t i = 0; i < 20; i++) CHECK(results[i] == 1000 + i);

    /* every local schedule and results_at gives the same results */
    for (int32_t sch = LK_SCHEDULE_BLOCK; sch <= LK_SCHEDULE_DYNAMIC; sch++) {
        for (int32_t at = LK_RESULTS_ALL; at <= LK_RESULTS_OWNED; at++) {
            lk_map_options_init(&mo, sizeof mo);
            mo.schedule = sch;
            mo.results_at = at;
            memset(results, 0xFF, sizeof results);
            CHECK_OK(lk_invoker_map_with(inv, NULL, 20, 0, results, sizeof results[0], &mo));
            for (size_t i = 0; i < 20; i++) CHECK(results[i] == i);
        }
    }

    /* unknown values and bad sizes are refused, and nothing runs */
    memset(results, 0xFF, sizeof results);
    enum { BAD = 7 };
    lk_map_options bad[BAD];
    for (int k = 0; k < BAD; k++) lk_map_options_init(&bad[k], sizeof bad[k]);
    bad[0].schedule = 3;
    bad[1].schedule = -1;
    bad[2].results_at = 4; /* past LK_RESULTS_OWNED_COMPACT */
    bad[3].args_at_root = 2;
    bad[4].reserved0 = 1;
    bad[5].struct_size = 0;
    memset(&bad[6], 0, sizeof bad[6]);
    for (int k = 0; k < BAD; k++)
        CHECK_FAIL(lk_invoker_map_with(inv, NULL, 20, 0, results, sizeof results[0], &bad[k]), LK_ERR_INVALID);
    for (size_t i = 0; i < 20; i++) CHECK(results[i] == (size_t)-1);

    CHECK_OK(lk_invoker_shutdown(inv));
    printf("library_fault_options: ok\n");
    return 0;
}
