/* Fork-safety bait for the fault_forksafety_* tests: two threads that keep
 * their invokers' pools busy with maps whose every item logs through the
 * host's log callback (which takes a mutex, see rel_log_count) and
 * allocates, and now and then make and shut down an invoker (the library's
 * handle registry, thread spawning, the allocator); and a third that holds
 * stdout's lock over and over (bait for a child that flushes stdio). Forks
 * made meanwhile happen while these threads hold whatever locks they hold;
 * a child that touched one would hang, and the watchdog turns that into a
 * failure. */
#ifndef LK_RELIABILITY_BUSY_H
#define LK_RELIABILITY_BUSY_H

#include "reliability/rel.h"

static rel_log_counter busy_logs = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0};
static atomic_int busy_stop;
static atomic_long busy_maps;

static int32_t busy_item(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    lkt_log_numbered(LK_LOG_INFO, "parent busy item ", (long long)task->index);
    void *p = malloc(512 + task->index % 4096);
    if (!p) return 1;
    memset(p, 1, 512);
    free(p);
    *(uint64_t *)result = task->index ^ 0x5a5a;
    return 0;
}

static void *busy_main(void *arg) {
    (void)arg;
    lk_invoker *inv = NULL;
    CHECK_OK(lk_invoker_new(NULL, busy_item, 2, &inv));
    enum { M = 64 };
    uint64_t results[M];
    for (long round = 0; !atomic_load(&busy_stop); round++) {
        CHECK_OK(lk_invoker_map(inv, NULL, M, 0, results, sizeof results[0]));
        for (int i = 0; i < M; i++) CHECK(results[i] == ((uint64_t)i ^ 0x5a5a));
        atomic_fetch_add(&busy_maps, 1);
        if (round % 25 == 0) {
            lk_invoker *churn = NULL;
            CHECK_OK(lk_invoker_new(NULL, busy_item, 2, &churn));
            CHECK_OK(lk_invoker_map(churn, NULL, 8, 0, results, sizeof results[0]));
            CHECK_OK(lk_invoker_shutdown(churn));
        }
    }
    CHECK_OK(lk_invoker_shutdown(inv));
    return NULL;
}

static void *busy_stdout_locker(void *arg) {
    (void)arg;
    while (!atomic_load(&busy_stop)) {
        flockfile(stdout);
        for (volatile int spin = 0; spin < 20000; spin++) {
        }
        funlockfile(stdout);
    }
    return NULL;
}

static pthread_t busy_threads[3];
static double busy_t0;

/* The test's first call: a watchdog, the counting log callback, the busy
 * threads. Returns argv[which] as a count, or `fallback` without it. */
static inline int busy_begin(int argc, char **argv, int which, int fallback) {
    lkt_watchdog(300);
    lk_set_log_callback(rel_log_count, &busy_logs, LK_LOG_INFO);
    for (int i = 0; i < 2; i++) CHECK(pthread_create(&busy_threads[i], NULL, busy_main, NULL) == 0);
    CHECK(pthread_create(&busy_threads[2], NULL, busy_stdout_locker, NULL) == 0);
    while (atomic_load(&busy_maps) < 4) lkt_sleep_us(1000);
    busy_t0 = lkt_now();
    return argc > which ? atoi(argv[which]) : fallback;
}

/* Records logged in children (messages starting "child ") so far. */
static inline long busy_child_records(void) {
    return rel_log_children(&busy_logs);
}

/* The test's last call: stop the busy threads, check that no child is
 * left, and say how it went (`what`: what the test did). */
static inline void busy_end(const char *test, const char *what) {
    double took = lkt_now() - busy_t0;
    atomic_store(&busy_stop, 1);
    for (int i = 0; i < 3; i++) CHECK(pthread_join(busy_threads[i], NULL) == 0);
    lk_set_log_callback(NULL, NULL, LK_LOG_INFO);
    CHECK(lkt_no_children());
    printf("%s: ok (%s in %.2f s; %ld busy maps, %ld parent records)\n", test, what, took,
           (long)atomic_load(&busy_maps), busy_logs.parent);
}

#endif
