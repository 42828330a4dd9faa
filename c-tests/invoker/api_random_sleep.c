/* A 10,000-item map whose callbacks sleep for random short times (0-200 µs):
 * every item runs exactly once and every result is right, whatever order
 * the workers finish in. n_jobs 4 and 2. */
#include "lktest.h"

enum { N = 10000 };

typedef struct {
    uint64_t key;
    double weight;
} item;

typedef struct {
    uint64_t hash;
    double scaled;
    uint32_t index;
} outcome;

static atomic_int *runs; /* N counters in shared memory (workers may be processes) */

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    const double *scale = (const double *)model;
    const item *in = (const item *)arg;
    outcome *out = (outcome *)result;
    atomic_fetch_add(&runs[task->index], 1);
    lkt_sleep_us((long)(lkt_mix(in->key ^ 0x55) % 201));
    out->hash = lkt_mix(in->key);
    out->scaled = in->weight * *scale;
    out->index = (uint32_t)task->index;
    return 0;
}

static void run(int32_t n_jobs) {
    static item args[N];
    static outcome results[N];
    double scale = 2.5;
    for (int i = 0; i < N; i++) {
        args[i].key = lkt_mix((uint64_t)i * 31 + (uint64_t)n_jobs);
        args[i].weight = (double)i / 4.0;
        atomic_store(&runs[i], 0);
    }
    memset(results, 0, sizeof results);
    lk_invoker *inv = lkt_new(&scale, op, n_jobs);
    double t0 = lkt_now();
    CHECK_OK(lk_invoker_map(inv, args, N, sizeof args[0], results, sizeof results[0]));
    double t = lkt_now() - t0;
    for (int i = 0; i < N; i++) {
        CHECK(atomic_load(&runs[i]) == 1);
        CHECK(results[i].hash == lkt_mix(args[i].key));
        CHECK(results[i].scaled == args[i].weight * 2.5);
        CHECK(results[i].index == (uint32_t)i);
    }
    CHECK_OK(lk_invoker_shutdown(inv));
    printf("n_jobs %d: %d items in %.2f s\n", n_jobs, N, t);
}

int main(int argc, char **argv) {
    lkt_backend_init(argc, argv);
    lkt_watchdog(60);
    runs = (atomic_int *)lkt_shared(N * sizeof *runs);
    run(4);
    run(2);
    printf("invoker_api_random_sleep: ok\n");
    return 0;
}
