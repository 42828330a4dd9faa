/* Seeds: after lk_seed_init(S) the same sequence of invokers and maps gives
 * identical task->seed arrays whatever the backend and n_jobs (the reference
 * is threads n_jobs 1; this run's backend with n_jobs 1, 2, 4, 3, 0 and -1,
 * through lk_invoker_new_with in keep-going mode, and invokers of this
 * backend and the threads backend mixed), also for a map with an
 * index_base, and run after run; seeds are distinct within a map, and
 * differ between maps and between invokers; an invoker keeps the seeds it
 * was made with whatever lk_seed_init says later; lk_root_seed() returns S;
 * a different S gives different seeds; lk_derive_seed is deterministic and
 * distinct across keys. */
#include "lktest.h"

enum { N = 2000, MAPS = 3, INVOKERS = 2, BASE = 5000 };

static int32_t record_seed(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    if (task->index % 64 == 0) lkt_sleep_us(50); /* vary the scheduling */
    *(uint64_t *)result = task->seed;
    return 0;
}

typedef struct {
    uint64_t maps[INVOKERS][MAPS][N];
    uint64_t based[N]; /* a map with index_base BASE, last on invoker 1 */
} run_seeds;

/* Two invokers made in order (backend[k] for invoker k), three maps on
 * each, interleaved, then one map with an index_base. */
static void run(uint64_t root, const lk_backend backend[INVOKERS], int n_jobs, run_seeds *out) {
    lk_seed_init(root);
    CHECK(lk_root_seed() == root);
    lk_invoker *inv[INVOKERS];
    for (int k = 0; k < INVOKERS; k++) {
        lk_invoker_options o = lkt_options_on(backend[k], n_jobs);
        inv[k] = lkt_new_with(NULL, record_seed, &o);
    }
    for (int m = 0; m < MAPS; m++)
        for (int k = 0; k < INVOKERS; k++)
            CHECK_OK(lk_invoker_map(inv[k], NULL, N, 0, out->maps[k][m], sizeof(uint64_t)));
    lk_map_options mo;
    lk_map_options_init(&mo, sizeof mo);
    mo.index_base = BASE;
    CHECK_OK(lk_invoker_map_with(inv[1], NULL, N, 0, out->based, sizeof(uint64_t), &mo));
    for (int k = 0; k < INVOKERS; k++) CHECK_OK(lk_invoker_shutdown(inv[k]));
    CHECK(lk_root_seed() == root);
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static size_t distinct(const uint64_t *v, size_t n) {
    uint64_t *copy = (uint64_t *)malloc(n * sizeof *copy);
    CHECK(copy != NULL);
    memcpy(copy, v, n * sizeof *copy);
    qsort(copy, n, sizeof *copy, cmp_u64);
    size_t d = n ? 1 : 0;
    for (size_t i = 1; i < n; i++)
        if (copy[i] != copy[i - 1]) d++;
    free(copy);
    return d;
}

static void check_same(const run_seeds *ref, const run_seeds *got, const char *what) {
    for (int k = 0; k < INVOKERS; k++)
        for (int m = 0; m < MAPS; m++)
            for (int i = 0; i < N; i++)
                CHECK_MSG(ref->maps[k][m][i] == got->maps[k][m][i],
                          "%s: invoker %d, map %d, item %d: seed %016" PRIx64 ", threads n_jobs 1 gave %016" PRIx64,
                          what, k, m, i, got->maps[k][m][i], ref->maps[k][m][i]);
    for (int i = 0; i < N; i++)
        CHECK_MSG(ref->based[i] == got->based[i], "%s: index_base map, item %d", what, i);
}

int main(int argc, char **argv) {
    lk_backend b = lkt_backend_init(argc, argv);
    lkt_watchdog(60);
    const uint64_t S = 0x0123456789ABCDEFULL;
    static run_seeds ref, other;
    const lk_backend threads[INVOKERS] = {LK_BACKEND_THREADS, LK_BACKEND_THREADS};
    const lk_backend mine[INVOKERS] = {b, b};
    const lk_backend mixed1[INVOKERS] = {b, LK_BACKEND_THREADS};
    const lk_backend mixed2[INVOKERS] = {LK_BACKEND_THREADS, b};

    run(S, threads, 1, &ref);
    /* distinct within a map; maps and invokers differ */
    for (int k = 0; k < INVOKERS; k++)
        for (int m = 0; m < MAPS; m++) CHECK(distinct(ref.maps[k][m], N) == N);
    CHECK(distinct(&ref.maps[0][0][0], (size_t)INVOKERS * MAPS * N) == (size_t)INVOKERS * MAPS * N);

    /* identical for every n_jobs, run after run */
    const int32_t jobs[] = {1, 2, 4, 3, 2, 0, -1};
    for (size_t j = 0; j < sizeof jobs / sizeof jobs[0]; j++) {
        char what[64];
        snprintf(what, sizeof what, "%s, n_jobs %d", lkt_processes() ? "processes" : "threads", jobs[j]);
        memset(&other, 0, sizeof other);
        run(S, mine, jobs[j], &other);
        check_same(&ref, &other, what);
    }
    memset(&other, 0, sizeof other);
    run(S, mixed1, 2, &other);
    check_same(&ref, &other, "this backend, then threads");
    memset(&other, 0, sizeof other);
    run(S, mixed2, 4, &other);
    check_same(&ref, &other, "threads, then this backend");

    /* an invoker made through lk_invoker_new_with in keep-going mode */
    {
        lk_seed_init(S);
        lk_invoker_options o = lkt_options(2);
        o.error_mode = LK_ERRORS_KEEP_GOING;
        lk_invoker *inv = lkt_new_with(NULL, record_seed, &o);
        static uint64_t first[N];
        CHECK_OK(lk_invoker_map(inv, NULL, N, 0, first, sizeof first[0]));
        CHECK(memcmp(first, ref.maps[0][0], sizeof first) == 0);
        CHECK_OK(lk_invoker_shutdown(inv));
    }

    /* an invoker keeps the seeds it was made with, whatever lk_seed_init says later */
    {
        lk_seed_init(S);
        lk_invoker *inv = lkt_new(NULL, record_seed, 2);
        lk_seed_init(S ^ 0xFFFF);
        static uint64_t first[N];
        CHECK_OK(lk_invoker_map(inv, NULL, N, 0, first, sizeof first[0]));
        CHECK(memcmp(first, ref.maps[0][0], sizeof first) == 0);
        CHECK_OK(lk_invoker_shutdown(inv));
    }

    /* a different root seed gives different seeds */
    run(S + 1, mine, 2, &other);
    CHECK(lk_root_seed() == S + 1);
    size_t same = 0;
    for (int i = 0; i < N; i++) same += other.maps[0][0][i] == ref.maps[0][0][i];
    CHECK(same < 5);

    /* lk_root_seed returns exactly what was set, extremes included */
    lk_seed_init(0);
    CHECK(lk_root_seed() == 0);
    lk_seed_init(UINT64_MAX);
    CHECK(lk_root_seed() == UINT64_MAX);

    /* lk_derive_seed: deterministic, distinct keys give distinct seeds */
    static uint64_t d[N];
    for (uint64_t i = 0; i < N; i++) {
        d[i] = lk_derive_seed(S, i);
        CHECK(d[i] == lk_derive_seed(S, i));
    }
    CHECK(distinct(d, N) == N);
    CHECK(lk_derive_seed(1, 2) == lk_derive_seed(1, 2));
    CHECK(lk_derive_seed(S, 0) != lk_derive_seed(S + 1, 0));
    for (uint64_t i = 0; i < N; i++) d[i] = lk_derive_seed(i, 12345);
    CHECK(distinct(d, N) == N);

    printf("invoker_api_seeds: ok\n");
    return 0;
}
