/* The progress callback (lk_invoker_options.progress): called in the calling
 * process, on the map's calling thread, with the user pointer, done <= total
 * == n_args, never decreasing, no more than a few times a second (counted
 * over a ~1.2 s map, which also gets some calls while it runs), and a last
 * call with done == total when the map ends — also for a quick map and when
 * the map fails (fail-fast: the rest is skipped, and skipped items count as
 * finished). n_jobs 1, 2 and 4, maps from the main thread and another one. */
#include "lktest.h"

typedef struct {
    pthread_t caller;
    pid_t caller_pid;
    int calls;
    int wrong_thread;
    int wrong_total;
    int went_back;
    size_t last_done, last_total;
    size_t expected_total;
} progress_log;

static void on_progress(size_t done, size_t total, void *user) {
    progress_log *p = (progress_log *)user;
    if (getpid() != p->caller_pid || !pthread_equal(pthread_self(), p->caller)) p->wrong_thread = 1;
    if (total != p->expected_total || done > total) p->wrong_total = 1;
    if (p->calls > 0 && done < p->last_done) p->went_back = 1;
    p->calls++;
    p->last_done = done;
    p->last_total = total;
}

/* The model is how long each item sleeps; item 150 fails when `fails`. */
static int32_t run_item(const long *sleep_us, const lk_task *task, int fails) {
    if (*sleep_us) lkt_sleep_us(*sleep_us);
    return fails && task->index == 150 ? 3 : 0;
}

static int32_t op_fail(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)arg;
    (void)result;
    return run_item((const long *)model, task, 1);
}

static int32_t op_ok(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)arg;
    (void)result;
    return run_item((const long *)model, task, 0);
}

static lk_invoker *make(int n_jobs, lk_op_fn fn, const long *sleep_us, progress_log *p) {
    lk_invoker_options o = lkt_options(n_jobs);
    o.progress = on_progress;
    o.progress_user = p;
    return lkt_new_with(sleep_us, fn, &o);
}

static void reset(progress_log *p, size_t total) {
    memset(p, 0, sizeof *p);
    p->caller = pthread_self();
    p->caller_pid = getpid();
    p->expected_total = total;
}

static void check_log(const progress_log *p, size_t total, const char *what) {
    CHECK_MSG(p->calls >= 1, "%s: no progress call", what);
    CHECK_MSG(!p->wrong_thread, "%s: progress called off the map's calling thread", what);
    CHECK_MSG(!p->wrong_total, "%s: a progress call had total != n_args or done > total", what);
    CHECK_MSG(!p->went_back, "%s: done went back", what);
    CHECK(p->last_total == total);
    CHECK_MSG(p->last_done == total, "%s: the last call had done %zu of %zu", what, p->last_done, total);
}

static void long_map(int n_jobs) {
    static progress_log p;
    static const long sleep_us = 2000;
    size_t n = (size_t)(600 * n_jobs); /* about 1.2 s */
    lk_invoker *inv = make(n_jobs, op_ok, &sleep_us, &p);
    reset(&p, n);
    double t0 = lkt_now();
    CHECK_OK(lk_invoker_map(inv, NULL, n, 0, NULL, 0));
    double took = lkt_now() - t0;
    printf("n_jobs %d: %d progress calls over %.2f s\n", n_jobs, p.calls, took);
    check_log(&p, n, "long map");
    CHECK(p.calls <= (int)(took * 5) + 2); /* a few times a second at most, plus the last */
    CHECK(p.calls >= 2);                  /* and some while it ran */
    CHECK_OK(lk_invoker_shutdown(inv));
}

static void *long_map_thread(void *arg) {
    long_map((int)(intptr_t)arg);
    return NULL;
}

int main(int argc, char **argv) {
    lkt_backend_init(argc, argv);
    lkt_watchdog(60);
    long_map(1);
    long_map(2);
    /* from a thread other than main */
    pthread_t th;
    CHECK(pthread_create(&th, NULL, long_map_thread, (void *)(intptr_t)2) == 0);
    CHECK(pthread_join(th, NULL) == 0);

    static progress_log p;
    static const long no_sleep = 0, small_sleep = 100;
    int32_t jobs[] = {1, 2, 4};
    for (int j = 0; j < 3; j++) {
        /* a quick map still gets its last call */
        lk_invoker *inv = make(jobs[j], op_ok, &no_sleep, &p);
        for (size_t n = 1; n <= 1001; n += 250) {
            reset(&p, n);
            CHECK_OK(lk_invoker_map(inv, NULL, n, 0, NULL, 0));
            check_log(&p, n, "quick map");
            CHECK(p.calls <= 3);
        }
        CHECK_OK(lk_invoker_shutdown(inv));

        /* a failing map (fail-fast: the rest is skipped) ends with done == total */
        inv = make(jobs[j], op_fail, &small_sleep, &p);
        reset(&p, 2000);
        CHECK_FAIL(lk_invoker_map(inv, NULL, 2000, 0, NULL, 0), LK_ERR_CALLBACK);
        check_log(&p, 2000, "failing map");
        CHECK_OK(lk_invoker_shutdown(inv));
    }
    printf("invoker_api_progress: ok\n");
    return 0;
}
