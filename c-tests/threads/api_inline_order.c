/* n_jobs 1: every item runs in index order, on the thread that called
 * lk_invoker_map, as worker 0 — for maps from the main thread and from
 * other threads, through lk_invoker_new and lk_invoker_new_with. */
#include "lktest.h"

enum { N = 2000 };

typedef struct {
    size_t order[N];
    size_t n;
    pthread_t caller;
    int wrong_thread, wrong_worker;
} trace;

static _Thread_local trace *tl_trace;

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    trace *t = tl_trace; /* set by the thread that maps: a callback elsewhere sees NULL */
    if (!t) {
        static const char msg[] = "callback ran on a thread that did not call map\n";
        ssize_t ignored = write(2, msg, sizeof msg - 1);
        (void)ignored;
        _exit(1);
    }
    if (!pthread_equal(pthread_self(), t->caller)) t->wrong_thread = 1;
    if (task->worker != 0) t->wrong_worker = 1;
    if (t->n < N) t->order[t->n] = task->index;
    t->n++;
    *(int64_t *)result = -*(const int64_t *)arg;
    return 0;
}

static void *map_here(void *p) {
    lk_invoker *inv = (lk_invoker *)p;
    static _Thread_local trace t;
    static _Thread_local int64_t args[N], results[N];
    memset(&t, 0, sizeof t);
    t.caller = pthread_self();
    tl_trace = &t;
    for (int i = 0; i < N; i++) args[i] = i * 7 + 1;
    CHECK_OK(lk_invoker_map(inv, args, N, sizeof args[0], results, sizeof results[0]));
    CHECK(t.n == N);
    for (size_t i = 0; i < N; i++) CHECK(t.order[i] == i);
    CHECK(!t.wrong_thread);
    CHECK(!t.wrong_worker);
    for (int i = 0; i < N; i++) CHECK(results[i] == -args[i]);
    tl_trace = NULL;
    return NULL;
}

int main(void) {
    lkt_watchdog(30);
    lk_invoker *inv = NULL;
    CHECK_OK(lk_invoker_new(NULL, op, 1, &inv));
    map_here(inv);
    map_here(inv);

    /* from other threads too: each map runs on its own caller */
    pthread_t th[3];
    for (int i = 0; i < 3; i++) CHECK(pthread_create(&th[i], NULL, map_here, inv) == 0);
    for (int i = 0; i < 3; i++) CHECK(pthread_join(th[i], NULL) == 0);
    CHECK_OK(lk_invoker_shutdown(inv));

    lk_invoker_options o;
    lk_invoker_options_init(&o, sizeof o);
    o.n_jobs = 1;
    CHECK_OK(lk_invoker_new_with(NULL, op, &o, &inv));
    map_here(inv);
    CHECK_OK(lk_invoker_shutdown(inv));

    printf("threads_api_inline_order: ok\n");
    return 0;
}
