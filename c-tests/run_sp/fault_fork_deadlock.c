/* Deadlock bait: lk_run_sp is called 200 times while two other threads are
 * busy in invoker maps whose callbacks log through a host callback that
 * holds a pthread mutex while it logs (and malloc, and hold stdout's lock).
 * At some forks those locks are held by a thread that does not exist in the
 * child; a child that touched them (by calling the host's log callback, say)
 * would hang forever. Each child logs, allocates and returns a result, and
 * every 5th also makes and uses an invoker of its own (the library's global
 * state, which the parent's busy maps are using at fork time); the watchdog
 * turns a hang into a failure. */
#include "sptest.h"

enum { ITERATIONS = 200, CHILD_RECORDS = 5 };

static pthread_mutex_t host_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_long host_records;
static atomic_long child_records;
static atomic_int stop;

/* The host's log callback: takes its mutex and holds it while "logging". */
static void host_log(lk_log_level level, const char *target, const char *message, void *user) {
    (void)level;
    (void)target;
    (void)user;
    pthread_mutex_lock(&host_mu);
    char copy[256];
    snprintf(copy, sizeof copy, "%s", message);
    void *p = malloc(64 + strlen(copy));
    free(p);
    for (volatile int spin = 0; spin < 2000; spin++) {
    }
    if (strncmp(message, "child-", 6) == 0) atomic_fetch_add(&child_records, 1);
    atomic_fetch_add(&host_records, 1);
    pthread_mutex_unlock(&host_mu);
}

static int32_t busy_item(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    char msg[64];
    snprintf(msg, sizeof msg, "busy item %zu", task->index);
    lk_log(LK_LOG_INFO, msg);
    void *p = malloc(1000 + task->index % 5000);
    if (!p) return 1;
    memset(p, 1, 1000);
    free(p);
    *(uint64_t *)result = task->index;
    return 0;
}

/* Keeps one invoker's workers busy with maps until told to stop. */
static void *mapper(void *p) {
    (void)p;
    lk_invoker *inv = NULL;
    CHECK_OK(lk_invoker_new(NULL, busy_item, 2, &inv));
    enum { M = 64 };
    uint64_t results[M];
    while (!atomic_load(&stop)) {
        CHECK_OK(lk_invoker_map(inv, NULL, M, 0, results, sizeof results[0]));
        for (int i = 0; i < M; i++) CHECK(results[i] == (uint64_t)i);
    }
    CHECK_OK(lk_invoker_shutdown(inv));
    return NULL;
}

/* Holds stdout's lock over and over (bait for a child that flushes stdio). */
static void *stdout_locker(void *p) {
    (void)p;
    while (!atomic_load(&stop)) {
        flockfile(stdout);
        for (volatile int spin = 0; spin < 20000; spin++) {
        }
        funlockfile(stdout);
    }
    return NULL;
}

static int32_t child_item(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    lk_log(LK_LOG_DEBUG, "child item"); /* below the parent's level: dropped */
    *(uint64_t *)result = task->index * 3;
    return 0;
}

static int32_t child(const void *arg, lk_buffer *out) {
    int i = *(const int *)arg;
    if (i % 5 == 0) {
        lk_invoker *inv = NULL;
        if (lk_invoker_new(NULL, child_item, 2, &inv) != LK_OK) return 20;
        uint64_t r[16];
        if (lk_invoker_map(inv, NULL, 16, 0, r, sizeof r[0]) != LK_OK) return 21;
        if (lk_invoker_shutdown(inv) != LK_OK) return 22;
        for (int k = 0; k < 16; k++)
            if (r[k] != (uint64_t)k * 3) return 23;
    }
    char msg[64];
    for (int k = 0; k < CHILD_RECORDS; k++) {
        snprintf(msg, sizeof msg, "child-%d-%d", i, k);
        lk_log(LK_LOG_INFO, msg);
    }
    char *p = (char *)malloc(100000);
    if (!p) return 1;
    memset(p, i & 0xff, 100000);
    SPT_APPEND(out, p, 100000);
    free(p);
    return 0;
}

int main(void) {
    lkt_watchdog(20);
    lk_set_log_callback(host_log, NULL, LK_LOG_INFO);
    pthread_t t[3];
    CHECK(pthread_create(&t[0], NULL, mapper, NULL) == 0);
    CHECK(pthread_create(&t[1], NULL, mapper, NULL) == 0);
    CHECK(pthread_create(&t[2], NULL, stdout_locker, NULL) == 0);
    lkt_sleep_us(20 * 1000);

    double t0 = lkt_now();
    for (int i = 0; i < ITERATIONS; i++) {
        lk_buffer res = spt_empty();
        long before = atomic_load(&child_records);
        CHECK_OK(lk_run_sp(child, &i, &res));
        CHECK(res.len == 100000);
        CHECK(res.data[0] == (uint8_t)(i & 0xff) && res.data[99999] == (uint8_t)(i & 0xff));
        lk_buffer_free(&res);
        /* The child's records came through the parent's callback, once each. */
        CHECK(atomic_load(&child_records) - before == CHILD_RECORDS);
    }
    double took = lkt_now() - t0;
    atomic_store(&stop, 1);
    for (int i = 0; i < 3; i++) CHECK(pthread_join(t[i], NULL) == 0);
    lk_set_log_callback(NULL, NULL, LK_LOG_INFO);
    CHECK(atomic_load(&host_records) > ITERATIONS * CHILD_RECORDS);
    lkt_check_no_children();
    printf("fault_sp_fork_deadlock: ok (%d calls in %.2f s, %ld host records)\n", ITERATIONS, took,
           (long)atomic_load(&host_records));
    return 0;
}
