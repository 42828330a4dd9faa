/* LK_BACKEND_PROCESSES keeps the map contract of the threads backend: for
 * n_jobs 1, 2 and 4, result i always belongs to argument i (task->index ==
 * i), every item runs exactly once, the arguments are left as they were, and
 * many maps of various lengths on one invoker all come back in order. Items
 * run in worker processes (never in the calling process), also for n_jobs 1. */
#include "procstest.h"

enum { MAX_N = 10007 };

typedef struct {
    uint64_t index; /* task->index seen by the callback */
    uint64_t value; /* computed from the argument */
    int32_t pid;
    int32_t pad;
} out_t;

typedef struct {
    atomic_int ran[MAX_N];
    atomic_int wrong_index;
} shared_t;

static shared_t *sh;

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    uint64_t a = *(const uint64_t *)arg;
    if (task->index < MAX_N) atomic_fetch_add(&sh->ran[task->index], 1);
    else atomic_fetch_add(&sh->wrong_index, 1);
    if (lkt_mix(a) % 97 == 0) lkt_sleep_us(200); /* vary the scheduling */
    out_t *r = (out_t *)result;
    r->index = task->index;
    r->value = lkt_mix(a) ^ 0x5555;
    r->pid = (int32_t)getpid();
    r->pad = 0;
    return 0;
}

static void one_map(lk_invoker *inv, size_t n, uint64_t salt) {
    static uint64_t args[MAX_N], copy[MAX_N];
    static out_t results[MAX_N];
    for (size_t i = 0; i < n; i++) args[i] = copy[i] = lkt_mix(i * 1000003u + salt);
    memset(results, 0xEE, sizeof results);
    for (size_t i = 0; i < n; i++) atomic_store(&sh->ran[i], 0);
    CHECK_OK(lk_invoker_map(inv, args, n, sizeof args[0], results, sizeof results[0]));
    CHECK(atomic_load(&sh->wrong_index) == 0);
    for (size_t i = 0; i < n; i++) {
        CHECK_MSG(results[i].index == i, "n %zu: result %zu has index %" PRIu64, n, i, results[i].index);
        CHECK(results[i].value == (lkt_mix(args[i]) ^ 0x5555));
        CHECK(results[i].pid != (int32_t)getpid());
        CHECK(atomic_load(&sh->ran[i]) == 1);
        CHECK(args[i] == copy[i]);
    }
    /* nothing past the last slot was written */
    const unsigned char *tail = (const unsigned char *)&results[n];
    for (size_t b = 0; b < sizeof(out_t) && n < MAX_N; b++) CHECK(tail[b] == 0xEE);
}

int main(void) {
    lkt_watchdog(60);
    sh = (shared_t *)lkt_shared(sizeof *sh);
    const size_t sizes[] = {1, 2, 3, 7, 100, 1000, 4099, MAX_N, 5, 1};
    const int32_t jobs[] = {1, 2, 4};
    for (int j = 0; j < 3; j++) {
        lk_invoker *inv = pt_new(NULL, op, jobs[j]);
        double t0 = lkt_now();
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) one_map(inv, sizes[k], k * 17 + (size_t)j);
        /* and the same map again and again */
        for (int r = 0; r < 5; r++) one_map(inv, 1000, 99);
        printf("n_jobs %d: %zu maps in order in %.3f s\n", jobs[j], sizeof sizes / sizeof sizes[0] + 5,
               lkt_now() - t0);
        CHECK_OK(lk_invoker_shutdown(inv));
    }
    printf("api_procs_order: ok\n");
    return 0;
}
