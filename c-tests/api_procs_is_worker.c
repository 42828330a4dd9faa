/* lk_is_mp_worker() and lk_is_worker() with the process backend: both 1
 * inside every callback run by a worker process (n_jobs 1, 2 and 4: n_jobs 1
 * is one worker process too) and in the worker initializer; both 0 in the
 * parent before, during (from another thread) and after maps. For contrast,
 * lk_is_mp_worker() is 0 in a threads-pool callback and in an lk_run_sp
 * child, where lk_is_worker() is 1. */
#include "procstest.h"

enum { N = 300 };

typedef struct {
    atomic_int init_mp, init_worker, init_calls, init_in_parent;
    atomic_int in_map; /* a map is running */
} state_t;

typedef struct {
    int32_t mp, worker, pid;
} out_t;

static pid_t parent_pid;

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    state_t *s = (state_t *)model;
    (void)arg;
    atomic_store(&s->in_map, 1);
    out_t *r = (out_t *)result;
    r->mp = lk_is_mp_worker();
    r->worker = lk_is_worker();
    r->pid = (int32_t)getpid();
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

/* The parent's other thread, while maps run: 0 and 0. */
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

static void run(int n_jobs) {
    static state_t *s;
    if (!s) s = (state_t *)lkt_shared(sizeof *s);
    memset(s, 0, sizeof *s);
    lk_invoker_options o = pt_options(n_jobs);
    o.worker_init = on_init;
    o.worker_init_user = s;
    lk_invoker *inv = pt_new_with(s, op, &o);
    CHECK(lk_is_mp_worker() == 0 && lk_is_worker() == 0);
    watcher_t w = {s, 0, 0};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, watch, &w) == 0);
    static out_t results[N];
    for (int m = 0; m < 3; m++) {
        memset(results, 0, sizeof results);
        CHECK_OK(lk_invoker_map(inv, NULL, N, 0, results, sizeof results[0]));
        for (int i = 0; i < N; i++) {
            CHECK_MSG(results[i].mp == 1, "n_jobs %d: lk_is_mp_worker() %d in a worker", n_jobs, results[i].mp);
            CHECK_MSG(results[i].worker == 1, "n_jobs %d: lk_is_worker() %d in a worker", n_jobs, results[i].worker);
            CHECK(results[i].pid != (int32_t)parent_pid);
        }
    }
    CHECK(pthread_join(th, NULL) == 0);
    CHECK(w.checks == 200 && w.bad == 0);
    CHECK(lk_is_mp_worker() == 0 && lk_is_worker() == 0);
    int calls = atomic_load(&s->init_calls);
    CHECK(calls >= n_jobs);
    CHECK_MSG(atomic_load(&s->init_mp) == calls, "lk_is_mp_worker() was 1 in %d of %d initializer calls",
              atomic_load(&s->init_mp), calls);
    CHECK(atomic_load(&s->init_worker) == calls);
    CHECK(atomic_load(&s->init_in_parent) == 0);
    CHECK_OK(lk_invoker_shutdown(inv));
    CHECK(lk_is_mp_worker() == 0 && lk_is_worker() == 0);
    printf("n_jobs %d: lk_is_mp_worker and lk_is_worker 1 in %d callbacks and %d initializer calls\n", n_jobs,
           3 * N, calls);
}

static int32_t flags_sp(const void *arg, lk_buffer *out) {
    (void)arg;
    int32_t f[2] = {lk_is_mp_worker(), lk_is_worker()};
    return lk_buffer_append(out, f, sizeof f) == LK_OK ? 0 : 99;
}

int main(void) {
    lkt_watchdog(60);
    parent_pid = getpid();
    CHECK(lk_is_mp_worker() == 0 && lk_is_worker() == 0);
    run(1);
    run(2);
    run(4);

    /* a threads pool: lk_is_worker 1, lk_is_mp_worker 0 */
    static state_t plain;
    lk_invoker *threads = NULL;
    CHECK_OK(lk_invoker_new(&plain, op, 2, &threads));
    static out_t results[N];
    CHECK_OK(lk_invoker_map(threads, NULL, N, 0, results, sizeof results[0]));
    for (int i = 0; i < N; i++) CHECK(results[i].mp == 0 && results[i].worker == 1 && results[i].pid == parent_pid);
    CHECK_OK(lk_invoker_shutdown(threads));

    /* an lk_run_sp child: lk_is_worker 1, lk_is_mp_worker 0 */
    lk_buffer buf;
    memset(&buf, 0, sizeof buf);
    CHECK_OK(lk_run_sp(flags_sp, NULL, &buf));
    CHECK(buf.len == 2 * sizeof(int32_t));
    int32_t f[2];
    memcpy(f, buf.data, sizeof f);
    CHECK(f[0] == 0 && f[1] == 1);
    lk_buffer_free(&buf);

    CHECK(lk_is_mp_worker() == 0 && lk_is_worker() == 0);
    printf("api_procs_is_worker: ok\n");
    return 0;
}
