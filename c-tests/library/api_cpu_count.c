/* lk_cpu_count: at least 1, no more than the online CPUs nor the affinity
 * mask; in a child restricted to one CPU with sched_setaffinity it is 1, and
 * so are lk_proc_count's CPU-derived answers and the n_jobs -1 invoker's
 * size: one worker, so every callback runs on the map's calling thread and
 * lk_is_worker() is 0 in it, as with n_jobs 1 (in a pool's callbacks it is
 * 1, whichever thread runs them). The count is logged at debug level. */
#include "lktest.h"

#include <sched.h>

static atomic_int max_worker;
static atomic_int off_caller; /* callbacks run off the thread that called map */
static atomic_int in_pool;    /* callbacks where lk_is_worker() said 1 */
static pthread_t caller;

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    (void)result;
    lkt_atomic_max(&max_worker, (int)task->worker);
    if (!pthread_equal(pthread_self(), caller)) atomic_fetch_add(&off_caller, 1);
    if (lk_is_worker()) atomic_fetch_add(&in_pool, 1);
    return 0;
}

static int affinity_count(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CHECK(sched_getaffinity(0, sizeof set, &set) == 0);
    return CPU_COUNT(&set);
}

int main(void) {
    lkt_watchdog(30);
    unsetenv("LK_NUM_PROCS");
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    int n = lk_cpu_count();
    printf("lk_cpu_count %d, online %ld, affinity %d\n", n, online, affinity_count());
    CHECK(n >= 1);
    CHECK(n <= online);
    CHECK(n <= affinity_count());

    /* the deciding limit is logged at debug level */
    lk_set_log_callback(lkt_log_capture, NULL, LK_LOG_DEBUG);
    lkt_log_clear();
    CHECK(lk_cpu_count() == n);
    CHECK(lkt_log_count() >= 1);
    pthread_mutex_lock(&lkt_log_mu);
    int found = 0;
    for (size_t i = 0; i < lkt_n_records && i < LKT_MAX_RECORDS; i++)
        if (lkt_records[i].level == LK_LOG_DEBUG && strcmp(lkt_records[i].target, "app") != 0) found = 1;
    pthread_mutex_unlock(&lkt_log_mu);
    CHECK(found);
    lk_set_log_callback(NULL, NULL, LK_LOG_ERROR);

    /* restricted to one CPU (in a child, so the parent keeps its mask) */
    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        lkt_watchdog(20);
        cpu_set_t set;
        CPU_ZERO(&set);
        CHECK_CHILD(sched_getaffinity(0, sizeof set, &set) == 0);
        int first = -1;
        for (int c = 0; c < CPU_SETSIZE && first < 0; c++)
            if (CPU_ISSET(c, &set)) first = c;
        CHECK_CHILD(first >= 0);
        CPU_ZERO(&set);
        CPU_SET(first, &set);
        CHECK_CHILD(sched_setaffinity(0, sizeof set, &set) == 0);
        CHECK_CHILD(affinity_count() == 1);
        CHECK_CHILD(lk_cpu_count() == 1);
        CHECK_CHILD(lk_proc_count(1, 0, 0) == 1);
        CHECK_CHILD(lk_proc_count(2, 4, 0) == 1);
        CHECK_CHILD(lk_inner_threads() == 1);
        lk_invoker *inv = NULL;
        CHECK_CHILD(lk_invoker_new(NULL, op, -1, &inv) == LK_OK); /* every usable CPU: 1 */
        caller = pthread_self();
        CHECK_CHILD(lk_invoker_map(inv, NULL, 100, 0, NULL, 0) == LK_OK);
        CHECK_CHILD(atomic_load(&max_worker) == 0);
        CHECK_CHILD(atomic_load(&off_caller) == 0);
        CHECK_CHILD(atomic_load(&in_pool) == 0);
        CHECK_CHILD(lk_invoker_shutdown(inv) == LK_OK);
        _exit(0);
    }
    CHECK(lkt_wait_child(pid) == 0);

    /* n_jobs -1 in the parent uses every usable CPU: worker indices below n */
    lk_invoker *inv = NULL;
    CHECK_OK(lk_invoker_new(NULL, op, -1, &inv));
    atomic_store(&max_worker, 0);
    CHECK_OK(lk_invoker_map(inv, NULL, 1000, 0, NULL, 0));
    CHECK(atomic_load(&max_worker) < n);
    CHECK_OK(lk_invoker_shutdown(inv));

    printf("library_api_cpu_count: ok\n");
    return 0;
}
