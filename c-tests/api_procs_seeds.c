/* Seeds with the process backend are those of the threads backend: after
 * lk_seed_init(S), the same sequence of invokers and maps gives identical
 * task->seed arrays whatever the backend (threads n_jobs 1 and 2, processes
 * n_jobs 1, 2 and 4, and invokers of both kinds mixed), also for a map with
 * an index_base; seeds are distinct within a map and differ between maps
 * and between invokers; a different S gives different seeds. */
#include "procstest.h"

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
    lk_invoker *inv[INVOKERS];
    for (int k = 0; k < INVOKERS; k++) {
        lk_invoker_options o;
        lk_invoker_options_init(&o, sizeof o);
        o.n_jobs = n_jobs;
        o.backend = backend[k];
        CHECK_OK(lk_invoker_new_with(NULL, record_seed, &o, &inv[k]));
    }
    for (int m = 0; m < MAPS; m++)
        for (int k = 0; k < INVOKERS; k++)
            CHECK_OK(lk_invoker_map(inv[k], NULL, N, 0, out->maps[k][m], sizeof(uint64_t)));
    lk_map_options mo;
    lk_map_options_init(&mo, sizeof mo);
    mo.index_base = BASE;
    CHECK_OK(lk_invoker_map_with(inv[1], NULL, N, 0, out->based, sizeof(uint64_t), &mo));
    for (int k = 0; k < INVOKERS; k++) CHECK_OK(lk_invoker_shutdown(inv[k]));
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
                          "%s: invoker %d, map %d, item %d: seed %016" PRIx64 ", threads gave %016" PRIx64, what,
                          k, m, i, got->maps[k][m][i], ref->maps[k][m][i]);
    for (int i = 0; i < N; i++)
        CHECK_MSG(ref->based[i] == got->based[i], "%s: index_base map, item %d", what, i);
}

int main(void) {
    lkt_watchdog(60);
    const uint64_t S = 0x0123456789ABCDEFULL;
    static run_seeds ref, other;
    const lk_backend threads[INVOKERS] = {LK_BACKEND_THREADS, LK_BACKEND_THREADS};
    const lk_backend procs[INVOKERS] = {LK_BACKEND_PROCESSES, LK_BACKEND_PROCESSES};
    const lk_backend mixed1[INVOKERS] = {LK_BACKEND_PROCESSES, LK_BACKEND_THREADS};
    const lk_backend mixed2[INVOKERS] = {LK_BACKEND_THREADS, LK_BACKEND_PROCESSES};

    run(S, threads, 2, &ref);
    for (int k = 0; k < INVOKERS; k++)
        for (int m = 0; m < MAPS; m++) CHECK(distinct(ref.maps[k][m], N) == N);
    CHECK(distinct(&ref.maps[0][0][0], (size_t)INVOKERS * MAPS * N) == (size_t)INVOKERS * MAPS * N);

    memset(&other, 0, sizeof other);
    run(S, threads, 1, &other);
    check_same(&ref, &other, "threads, n_jobs 1");

    int32_t jobs[] = {1, 2, 4, 2};
    for (int j = 0; j < 4; j++) {
        char what[64];
        snprintf(what, sizeof what, "processes, n_jobs %d", jobs[j]);
        memset(&other, 0, sizeof other);
        run(S, procs, jobs[j], &other);
        check_same(&ref, &other, what);
    }
    memset(&other, 0, sizeof other);
    run(S, mixed1, 2, &other);
    check_same(&ref, &other, "processes then threads");
    memset(&other, 0, sizeof other);
    run(S, mixed2, 4, &other);
    check_same(&ref, &other, "threads then processes");

    /* a different root seed gives different seeds with processes too */
    run(S + 1, procs, 2, &other);
    size_t same = 0;
    for (int i = 0; i < N; i++) same += other.maps[0][0][i] == ref.maps[0][0][i];
    CHECK(same < 5);

    printf("api_procs_seeds: ok\n");
    return 0;
}
