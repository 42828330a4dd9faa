/* lk_is_worker: 1 inside every callback of a pool invoker (n_jobs >= 2),
 * whichever thread runs it (the map's calling thread included); 0 outside
 * callbacks, before and after maps, on pool invokers' calling threads, and
 * inside n_jobs 1 callbacks. lk_is_mp_worker is 0 everywhere here (threads
 * backend only). */
#include "lktest.h"

static atomic_int ones, zeros, mp;
static atomic_int on_caller; /* items run by the map's calling thread */
static pthread_t caller;

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    (void)result;
    (void)task;
    if (lk_is_worker() == 1) atomic_fetch_add(&ones, 1);
    else if (lk_is_worker() == 0) atomic_fetch_add(&zeros, 1);
    if (lk_is_mp_worker() != 0) atomic_fetch_add(&mp, 1);
    if (pthread_equal(pthread_self(), caller)) atomic_fetch_add(&on_caller, 1);
    if (task->index % 10 == 0) lkt_sleep_us(100);
    return 0;
}

static void run(int n_jobs, int want) {
    enum { N = 300 };
    lk_invoker *inv = NULL;
    CHECK_OK(lk_invoker_new(NULL, op, n_jobs, &inv));
    atomic_store(&ones, 0);
    atomic_store(&zeros, 0);
    atomic_store(&mp, 0);
    atomic_store(&on_caller, 0);
    caller = pthread_self();
    CHECK(lk_is_worker() == 0);
    CHECK_OK(lk_invoker_map(inv, NULL, N, 0, NULL, 0));
    CHECK(lk_is_worker() == 0);
    CHECK(lk_is_mp_worker() == 0);
    CHECK(atomic_load(&mp) == 0);
    if (want) CHECK(atomic_load(&ones) == N && atomic_load(&zeros) == 0);
    else CHECK(atomic_load(&zeros) == N && atomic_load(&ones) == 0);
    printf("n_jobs %d: lk_is_worker %d in %d callbacks (%d on the calling thread)\n", n_jobs, want, N,
           atomic_load(&on_caller));
    CHECK_OK(lk_invoker_shutdown(inv));
}

/* An n_jobs 1 invoker's map from a plain thread: 0 in its callbacks. */
static void *inline_from_thread(void *p) {
    (void)p;
    run(1, 0);
    return NULL;
}

int main(void) {
    lkt_watchdog(30);
    CHECK(lk_is_worker() == 0);
    CHECK(lk_is_mp_worker() == 0);
    run(1, 0);
    run(2, 1);
    run(4, 1);
    run(1, 0); /* after pool maps, an inline invoker's callbacks still answer 0 */
    pthread_t th;
    CHECK(pthread_create(&th, NULL, inline_from_thread, NULL) == 0);
    CHECK(pthread_join(th, NULL) == 0);
    CHECK(lk_is_worker() == 0);
    CHECK(lk_is_mp_worker() == 0);
    printf("api_is_worker: ok\n");
    return 0;
}
