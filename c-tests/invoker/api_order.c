/* The map contract, the same for both backends: for n_jobs 1, 2 and 4,
 * result i always belongs to argument i (task->index == i), every item runs
 * exactly once, the arguments are left as they were, nothing past the last
 * result slot is written, and many maps of various lengths on one invoker
 * all come back in order. With n_jobs 1 the items run in index order, as
 * worker 0. Where they run: with threads in this process; with processes in
 * worker processes, never the calling process (n_jobs 1 included: one
 * worker process runs them all). That a threads n_jobs 1 map runs on its
 * calling thread is threads/api_inline_order.c. */
#include "lktest.h"

enum { MAX_N = 10007 };

typedef struct {
    uint64_t index; /* task->index seen by the callback */
    uint64_t value; /* computed from the argument */
    int32_t pid;
    uint32_t worker;
} out_t;

typedef struct {
    atomic_int ran[MAX_N];
    atomic_int wrong_index;
    atomic_int n_order;   /* items recorded in `order` */
    size_t order[MAX_N];  /* task->index in the order the items started */
} shared_t;

static shared_t *sh;

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    uint64_t a = *(const uint64_t *)arg;
    if (task->index < MAX_N) atomic_fetch_add(&sh->ran[task->index], 1);
    else atomic_fetch_add(&sh->wrong_index, 1);
    int at = atomic_fetch_add(&sh->n_order, 1);
    if (at < MAX_N) sh->order[at] = task->index;
    if (lkt_mix(a) % 97 == 0) lkt_sleep_us(200); /* vary the scheduling */
    out_t *r = (out_t *)result;
    r->index = task->index;
    r->value = lkt_mix(a) ^ 0x5555;
    r->pid = (int32_t)getpid();
    r->worker = task->worker;
    return 0;
}

static void one_map(lk_invoker *inv, int32_t n_jobs, size_t n, uint64_t salt) {
    static uint64_t args[MAX_N], copy[MAX_N];
    static out_t results[MAX_N];
    for (size_t i = 0; i < n; i++) args[i] = copy[i] = lkt_mix(i * 1000003u + salt);
    memset(results, 0xEE, sizeof results);
    for (size_t i = 0; i < n; i++) atomic_store(&sh->ran[i], 0);
    atomic_store(&sh->n_order, 0);
    CHECK_OK(lk_invoker_map(inv, args, n, sizeof args[0], results, sizeof results[0]));
    CHECK(atomic_load(&sh->wrong_index) == 0);
    for (size_t i = 0; i < n; i++) {
        CHECK_MSG(results[i].index == i, "n %zu: result %zu has index %" PRIu64, n, i, results[i].index);
        CHECK(results[i].value == (lkt_mix(args[i]) ^ 0x5555));
        CHECK(atomic_load(&sh->ran[i]) == 1);
        CHECK(args[i] == copy[i]);
        CHECK(results[i].worker < (uint32_t)n_jobs);
        if (lkt_processes()) {
            CHECK_MSG(results[i].pid != (int32_t)getpid(), "item %zu ran in the calling process", i);
            if (n_jobs == 1) CHECK(results[i].pid == results[0].pid); /* one worker process */
        } else {
            CHECK_MSG(results[i].pid == (int32_t)getpid(), "item %zu ran in process %d", i, (int)results[i].pid);
        }
    }
    if (n_jobs == 1)
        for (size_t i = 0; i < n; i++)
            CHECK_MSG(sh->order[i] == i, "n_jobs 1: item %zu started as number %zu", sh->order[i], i);
    /* nothing past the last slot was written */
    const unsigned char *tail = (const unsigned char *)&results[n];
    for (size_t b = 0; b < sizeof(out_t) && n < MAX_N; b++) CHECK(tail[b] == 0xEE);
}

int main(int argc, char **argv) {
    lkt_backend_init(argc, argv);
    lkt_watchdog(60);
    sh = (shared_t *)lkt_shared(sizeof *sh);
    const size_t sizes[] = {1, 2, 3, 7, 100, 1000, 4099, MAX_N, 5, 1};
    const int32_t jobs[] = {1, 2, 4};
    for (int j = 0; j < 3; j++) {
        lk_invoker *inv = lkt_new(NULL, op, jobs[j]);
        double t0 = lkt_now();
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
            one_map(inv, jobs[j], sizes[k], k * 17 + (size_t)j);
        /* and the same map again and again */
        for (int r = 0; r < 5; r++) one_map(inv, jobs[j], 1000, 99);
        printf("n_jobs %d: %zu maps in order in %.3f s\n", jobs[j], sizeof sizes / sizeof sizes[0] + 5,
               lkt_now() - t0);
        CHECK_OK(lk_invoker_shutdown(inv));
    }
    printf("invoker_api_order: ok\n");
    return 0;
}
