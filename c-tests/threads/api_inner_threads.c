/* lk_inner_threads: at least 1 inside a callback; the CPU count divided among
 * the invoker's workers by default; LK_NUM_PROCS's level-1 entry when it is
 * set before the invoker is made ("4,3" gives 3; "8" gives 1, past the end);
 * lk_cpu_count() outside any callback. */
#include "lktest.h"

static atomic_int seen_min, seen_max;

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    (void)result;
    (void)task;
    int n = lk_inner_threads();
    int cur = atomic_load(&seen_min);
    while (n < cur && !atomic_compare_exchange_weak(&seen_min, &cur, n)) {
    }
    lkt_atomic_max(&seen_max, n);
    return 0;
}

/* Every callback of an n_jobs invoker sees exactly `want`. */
static void expect_inside(int n_jobs, int want) {
    lk_invoker *inv = NULL;
    CHECK_OK(lk_invoker_new(NULL, op, n_jobs, &inv));
    atomic_store(&seen_min, INT32_MAX);
    atomic_store(&seen_max, INT32_MIN);
    CHECK_OK(lk_invoker_map(inv, NULL, 200, 0, NULL, 0));
    int lo = atomic_load(&seen_min), hi = atomic_load(&seen_max);
    printf("n_jobs %d, LK_NUM_PROCS=%s: inner threads %d..%d (want %d)\n", n_jobs,
           getenv("LK_NUM_PROCS") ? getenv("LK_NUM_PROCS") : "(unset)", lo, hi, want);
    CHECK(lo >= 1);
    CHECK(lo == want && hi == want);
    CHECK_OK(lk_invoker_shutdown(inv));
}

int main(void) {
    lkt_watchdog(30);
    unsetenv("LK_NUM_PROCS");
    int cpus = lk_cpu_count();
    CHECK(lk_inner_threads() == cpus);

    int jobs[] = {1, 2, 4};
    for (int j = 0; j < 3; j++) {
        int want = cpus / jobs[j];
        expect_inside(jobs[j], want < 1 ? 1 : want);
    }

    CHECK(setenv("LK_NUM_PROCS", "4,3", 1) == 0);
    for (int j = 0; j < 3; j++) expect_inside(jobs[j], 3);
    CHECK(setenv("LK_NUM_PROCS", "8", 1) == 0);
    expect_inside(2, 1);
    expect_inside(1, 1); /* not the CPU count, which n_jobs 1 would get (2 CPUs or more) */
    CHECK(setenv("LK_NUM_PROCS", "2,5,7", 1) == 0);
    expect_inside(2, 5);
    CHECK(lk_inner_threads() == cpus); /* outside any callback */

    /* a malformed value is ignored: back to the CPU split */
    CHECK(setenv("LK_NUM_PROCS", "4,x", 1) == 0);
    {
        int want = cpus / 2;
        expect_inside(2, want < 1 ? 1 : want);
        expect_inside(1, cpus); /* not 1, past the end of a list taken as such */
    }
    unsetenv("LK_NUM_PROCS");
    printf("threads_api_inner_threads: ok\n");
    return 0;
}
