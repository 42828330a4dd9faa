/* Seeds: after lk_seed_init(S) the same sequence of invokers and maps gives
 * identical task->seed arrays for n_jobs 1, 2 and 4 (and for several runs);
 * seeds are distinct within a map, and differ between maps and between
 * invokers; lk_root_seed() returns S; a different S gives different seeds;
 * lk_derive_seed is deterministic and distinct across keys. */
#include "lktest.h"

enum { N = 2000, MAPS = 3, INVOKERS = 2 };

static int32_t record_seed(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    if (task->index % 64 == 0) lkt_sleep_us(50); /* vary the scheduling */
    *(uint64_t *)result = task->seed;
    return 0;
}

typedef uint64_t run_seeds[INVOKERS][MAPS][N];

/* Two invokers made in order, three maps on each, interleaved. */
static void run(uint64_t root, int n_jobs, run_seeds *out) {
    lk_seed_init(root);
    CHECK(lk_root_seed() == root);
    lk_invoker *inv[INVOKERS];
    for (int k = 0; k < INVOKERS; k++) CHECK_OK(lk_invoker_new(NULL, record_seed, n_jobs, &inv[k]));
    for (int m = 0; m < MAPS; m++)
        for (int k = 0; k < INVOKERS; k++)
            CHECK_OK(lk_invoker_map(inv[k], NULL, N, 0, (*out)[k][m], sizeof(uint64_t)));
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

int main(void) {
    lkt_watchdog(30);
    const uint64_t S = 0x0123456789ABCDEFULL;
    static run_seeds ref, other;

    run(S, 1, &ref);
    /* distinct within a map; maps and invokers differ */
    for (int k = 0; k < INVOKERS; k++)
        for (int m = 0; m < MAPS; m++) CHECK(distinct(ref[k][m], N) == N);
    CHECK(distinct(&ref[0][0][0], (size_t)INVOKERS * MAPS * N) == (size_t)INVOKERS * MAPS * N);

    /* identical for n_jobs 1, 2 and 4, run after run */
    int jobs[] = {1, 2, 4, 3, 2};
    for (int j = 0; j < 5; j++) {
        memset(&other, 0, sizeof other);
        run(S, jobs[j], &other);
        CHECK(memcmp(&ref, &other, sizeof ref) == 0);
    }

    /* n_jobs 0 and -1 too, and an invoker made through lk_invoker_new_with */
    run(S, 0, &other);
    CHECK(memcmp(&ref, &other, sizeof ref) == 0);
    run(S, -1, &other);
    CHECK(memcmp(&ref, &other, sizeof ref) == 0);
    {
        lk_seed_init(S);
        lk_invoker_options o;
        lk_invoker_options_init(&o, sizeof o);
        o.n_jobs = 2;
        o.error_mode = LK_ERRORS_KEEP_GOING;
        lk_invoker *inv = NULL;
        CHECK_OK(lk_invoker_new_with(NULL, record_seed, &o, &inv));
        static uint64_t first[N];
        CHECK_OK(lk_invoker_map(inv, NULL, N, 0, first, sizeof first[0]));
        CHECK(memcmp(first, ref[0][0], sizeof first) == 0);
        CHECK_OK(lk_invoker_shutdown(inv));
    }

    /* an invoker keeps the seeds it was made with, whatever lk_seed_init says later */
    {
        lk_seed_init(S);
        lk_invoker *inv = NULL;
        CHECK_OK(lk_invoker_new(NULL, record_seed, 2, &inv));
        lk_seed_init(S ^ 0xFFFF);
        static uint64_t first[N];
        CHECK_OK(lk_invoker_map(inv, NULL, N, 0, first, sizeof first[0]));
        CHECK(memcmp(first, ref[0][0], sizeof first) == 0);
        CHECK_OK(lk_invoker_shutdown(inv));
    }

    /* a different root seed gives different seeds */
    run(S + 1, 2, &other);
    CHECK(lk_root_seed() == S + 1);
    size_t same = 0;
    for (int i = 0; i < N; i++) same += other[0][0][i] == ref[0][0][i];
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

    printf("api_seeds: ok\n");
    return 0;
}
