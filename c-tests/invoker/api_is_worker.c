/* lk_is_worker() and lk_is_mp_worker() in and around callbacks:
 *  - threads: lk_is_worker is 1 inside every callback of a pool invoker
 *    (n_jobs >= 2), whichever thread runs it (the map's calling thread
 *    included), and 0 inside n_jobs 1 callbacks (also after pool maps, and
 *    from a plain thread); lk_is_mp_worker is 0 everywhere;
 *  - processes: both are 1 inside every callback (n_jobs 1, 2 and 4: n_jobs
 *    1 is one worker process too) and in the worker initializer, which never
 *    runs in the parent.
 * Both are 0 in the calling process before, during (from another thread)
 * and after maps. (In an lk_run_sp child: run_sp/api_worker_flags.c.) */
#include "lktest.h"

enum { N = 300 };

typedef struct {
    atomic_int init_mp, init_worker, init_calls, init_in_parent;
    atomic_int in_map; /* a map is running */
} state_t;

typedef struct {
    int32_t mp, worker, pid, on_caller;
} out_t;

static pid_t parent_pid;
static pthread_t caller; /* the thread that maps */

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    state_t *s = (state_t *)model;
    (void)arg;
    atomic_store(&s->in_map, 1);
    out_t *r = (out_t *)result;
    r->mp = lk_is_mp_worker();
    r->worker = lk_is_worker();
    r->pid = (int32_t)getpid();
    r->on_caller = pthread_equal(pthread_self(), caller);
    if (task->index % 10 == 0) lkt_sleep_us(500);
    return 0;
}

static void on_init(uint32_t worker, void *user) {
    state_t *s = (state_t *)user;
    (void)worker;
    atomic_fetch_add(&s->init_calls, 1);
    if (lk_is_mp_worker() == 1) atomic_fetch_add(&s->init_mp, 1);
    if (lk_is_worker() == 1) atomic_fetch_add(&s->init_worker, 1);
    if (getpid() == parent_pid) atomic_fetch_add(&s->init_in_parent, 1);
}

typedef struct {
    state_t *s;
    int bad;
    int checks;
} watcher_t;

/* The calling process's other thread, while maps run: 0 and 0. */
static void *watch(void *p) {
    watcher_t *w = (watcher_t *)p;
    while (!atomic_load(&w->s->in_map)) lkt_sleep_us(100);
    for (int k = 0; k < 200; k++) {
        if (lk_is_mp_worker() != 0 || lk_is_worker() != 0) w->bad++;
        w->checks++;
        lkt_sleep_us(200);
    }
    return NULL;
}

static void run(state_t *s, int n_jobs) {
    memset(s, 0, sizeof *s);
    caller = pthread_self();
    lk_invoker_options o = lkt_options(n_jobs);
    if (lkt_processes()) {
        o.worker_init = on_init;
        o.worker_init_user = s;
    }
    lk_invoker *inv = lkt_new_with(s, op, &o);
    CHECK(lk_is_mp_worker() == 0 && lk_is_worker() == 0);
    watcher_t w = {s, 0, 0};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, watch, &w) == 0);
    /* what callbacks must answer */
    int32_t want_mp = lkt_processes(), want_worker = lkt_processes() || n_jobs >= 2;
    static out_t results[N];
    int on_caller = 0;
    for (int m = 0; m < 3; m++) {
        memset(results, 0xFF, sizeof results);
        CHECK_OK(lk_invoker_map(inv, NULL, N, 0, results, sizeof results[0]));
        for (int i = 0; i < N; i++) {
            CHECK_MSG(results[i].mp == want_mp, "n_jobs %d: lk_is_mp_worker() %d in a callback", n_jobs,
                      results[i].mp);
            CHECK_MSG(results[i].worker == want_worker, "n_jobs %d: lk_is_worker() %d in a callback", n_jobs,
                      results[i].worker);
            if (lkt_processes()) CHECK(results[i].pid != (int32_t)parent_pid);
            else CHECK(results[i].pid == (int32_t)parent_pid);
            on_caller += results[i].on_caller == 1;
        }
    }
    CHECK(pthread_join(th, NULL) == 0);
    CHECK(w.checks == 200 && w.bad == 0);
    CHECK(lk_is_mp_worker() == 0 && lk_is_worker() == 0);
    if (lkt_processes()) {
        int calls = atomic_load(&s->init_calls);
        CHECK(calls >= n_jobs);
        CHECK_MSG(atomic_load(&s->init_mp) == calls, "lk_is_mp_worker() was 1 in %d of %d initializer calls",
                  atomic_load(&s->init_mp), calls);
        CHECK(atomic_load(&s->init_worker) == calls);
        CHECK(atomic_load(&s->init_in_parent) == 0);
    }
    CHECK_OK(lk_invoker_shutdown(inv));
    CHECK(lk_is_mp_worker() == 0 && lk_is_worker() == 0);
    printf("n_jobs %d: lk_is_mp_worker %d, lk_is_worker %d in %d callbacks (%d on the calling thread)\n", n_jobs,
           want_mp, want_worker, 3 * N, on_caller);
}

/* An n_jobs 1 invoker's map from a plain thread. */
static void *n_jobs_1_from_thread(void *p) {
    run((state_t *)p, 1);
    return NULL;
}

int main(int argc, char **argv) {
    lkt_backend_init(argc, argv);
    lkt_watchdog(60);
    parent_pid = getpid();
    state_t *s = (state_t *)lkt_shared(sizeof *s);
    CHECK(lk_is_mp_worker() == 0 && lk_is_worker() == 0);
    run(s, 1);
    run(s, 2);
    run(s, 4);
    run(s, 1); /* after pool maps, an n_jobs 1 invoker's callbacks answer as before */
    pthread_t th;
    CHECK(pthread_create(&th, NULL, n_jobs_1_from_thread, s) == 0);
    CHECK(pthread_join(th, NULL) == 0);
    CHECK(lk_is_mp_worker() == 0 && lk_is_worker() == 0);
    printf("invoker_api_is_worker: ok\n");
    return 0;
}
