/* Fork-safety bait for the fault_forksafety_* tests: two threads that keep
 * their invokers' pools busy with maps whose every item logs through the
 * host's log callback (which takes a mutex, see rel_log_count), and now and
 * then make and shut down an invoker (the library's handle registry, thread
 * spawning, the allocator). Forks made meanwhile happen while these threads
 * hold whatever locks they hold; a child that touched one would hang. */
#ifndef LK_RELIABILITY_BUSY_H
#define LK_RELIABILITY_BUSY_H

#include "reliability/rel.h"

static rel_log_counter busy_logs = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0};
static atomic_int busy_stop;
static atomic_long busy_maps;

static int32_t busy_item(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    char msg[64];
    snprintf(msg, sizeof msg, "parent busy item %zu", task->index);
    lk_log(LK_LOG_INFO, msg);
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

static pthread_t busy_threads[2];

/* Set the counting log callback and start the two busy threads. */
static inline void busy_start(void) {
    lk_set_log_callback(rel_log_count, &busy_logs, LK_LOG_INFO);
    for (int i = 0; i < 2; i++) CHECK(pthread_create(&busy_threads[i], NULL, busy_main, NULL) == 0);
    while (atomic_load(&busy_maps) < 4) lkt_sleep_us(1000);
}

static inline void busy_stop_all(void) {
    atomic_store(&busy_stop, 1);
    for (int i = 0; i < 2; i++) CHECK(pthread_join(busy_threads[i], NULL) == 0);
    lk_set_log_callback(NULL, NULL, LK_LOG_INFO);
}

#endif
