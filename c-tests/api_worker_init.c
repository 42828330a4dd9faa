/* The worker initializer (lk_invoker_options.worker_init): called with the
 * user pointer once per worker index used, each index in [0, n_jobs), never
 * twice for the same index (over several maps too), before that worker's
 * first item, on the thread that then runs that first item. */
#include "lktest.h"

enum { MAX_JOBS = 8, N = 400 };

typedef struct {
    int n_jobs;
    atomic_int inits[MAX_JOBS];
    pthread_t init_thread[MAX_JOBS];
    atomic_int first_done[MAX_JOBS];
    atomic_int bad;
    atomic_int used[MAX_JOBS];
} state;

static void on_init(uint32_t worker, void *user) {
    state *s = (state *)user;
    if (worker >= (uint32_t)s->n_jobs) {
        atomic_fetch_add(&s->bad, 1);
        return;
    }
    s->init_thread[worker] = pthread_self();
    if (atomic_load(&s->first_done[worker])) atomic_fetch_add(&s->bad, 1); /* after an item */
    atomic_fetch_add(&s->inits[worker], 1);
}

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    state *s = (state *)model;
    (void)arg;
    (void)result;
    uint32_t w = task->worker;
    if (w >= (uint32_t)s->n_jobs) {
        atomic_fetch_add(&s->bad, 1);
        return 0;
    }
    if (atomic_load(&s->inits[w]) != 1) atomic_fetch_add(&s->bad, 1); /* init must come first */
    if (atomic_exchange(&s->first_done[w], 1) == 0) {
        /* this worker's first item: on the thread its initializer ran on */
        if (!pthread_equal(s->init_thread[w], pthread_self())) atomic_fetch_add(&s->bad, 1);
    }
    atomic_store(&s->used[w], 1);
    lkt_sleep_us(500);
    return 0;
}

static void run(int n_jobs) {
    static state s;
    memset(&s, 0, sizeof s);
    s.n_jobs = n_jobs;
    lk_invoker_options o;
    lk_invoker_options_init(&o, sizeof o);
    o.n_jobs = n_jobs;
    o.worker_init = on_init;
    o.worker_init_user = &s;
    lk_invoker *inv = NULL;
    CHECK_OK(lk_invoker_new_with(&s, op, &o, &inv));
    for (int round = 0; round < 3; round++) CHECK_OK(lk_invoker_map(inv, NULL, N, 0, NULL, 0));
    CHECK(atomic_load(&s.bad) == 0);
    int used = 0;
    for (int w = 0; w < MAX_JOBS; w++) {
        int inits = atomic_load(&s.inits[w]);
        CHECK(inits <= 1);
        CHECK(inits == atomic_load(&s.used[w])); /* once per worker index used, none unused */
        used += atomic_load(&s.used[w]);
    }
    CHECK(used >= 1 && used <= n_jobs);
    if (n_jobs > 1) CHECK(used >= 2);
    CHECK_OK(lk_invoker_shutdown(inv));
    printf("n_jobs %d: %d workers initialised\n", n_jobs, used);
}

int main(void) {
    lkt_watchdog(30);
    run(1);
    run(2);
    run(4);
    printf("api_worker_init: ok\n");
    return 0;
}
