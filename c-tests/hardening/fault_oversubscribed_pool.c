/* Finding 7: a thread pool far larger than the CPUs costs about what the
 * CPUs allow. Waiting pool threads spin only briefly (not at all when
 * n_jobs exceeds the usable CPUs), then block; Rayon's own search for work
 * never runs. The first release, with n_jobs 4096 on 2 CPUs, took about 9 s
 * to make the invoker and 67 s for a 2,000-item trivial map, both CPUs
 * busy; 1,800 to 2,048 workers took about 45 s per 20,000 items.
 *
 * For n_jobs 64, 1024, 2048 and 4096 (the largest): making the invoker
 * plus a 2,000-item trivial map take under 10 s (generous: a few hundred
 * milliseconds is typical on 2 CPUs), a 20,000-item map under 10 s more,
 * the idle pool, once the threads the maps woke are back asleep, uses next
 * to no CPU (under 0.05 CPU-seconds in 0.5 s),
 * and shutdown, which joins every thread, takes under 10 s too. Every
 * result is right and task->worker stays below n_jobs. The times are
 * printed. */
#include "hardening/hardtest.h"

enum { SMALL = 2000, LARGE = 20000 };

static atomic_int bad_worker;
static int32_t jobs_now;

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    if (task->worker >= (uint32_t)jobs_now) atomic_fetch_add(&bad_worker, 1);
    *(uint64_t *)result = task->index * 3 + 1;
    return 0;
}

static double process_cpu(void) {
    struct timespec ts;
    CHECK(clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) == 0);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void map_checked(lk_invoker *inv, size_t n) {
    static uint64_t results[LARGE];
    memset(results, 0, sizeof results);
    CHECK_OK(lk_invoker_map(inv, NULL, n, 0, results, sizeof results[0]));
    for (size_t i = 0; i < n; i++) CHECK_MSG(results[i] == i * 3 + 1, "item %zu", i);
}

static void run(int32_t n_jobs) {
    int threads_before = lkt_thread_count();
    jobs_now = n_jobs;
    char guard[96];
    snprintf(guard, sizeof guard, "n_jobs %d: making the invoker and two maps", n_jobs);
    ht_guard_start(20, guard);
    double t0 = lkt_now(), c0 = process_cpu();
    lk_invoker *inv = NULL;
    CHECK_OK(lk_invoker_new(NULL, op, n_jobs, &inv));
    double made = lkt_now() - t0;
    CHECK_MSG(lkt_thread_count() >= threads_before + n_jobs - 1, "n_jobs %d: %d threads", n_jobs, lkt_thread_count());
    map_checked(inv, SMALL);
    double small = lkt_now() - t0 - made;
    double t1 = lkt_now();
    map_checked(inv, LARGE);
    double large = lkt_now() - t1;
    double busy_cpu = process_cpu() - c0;
    ht_guard_end();

    /* The threads a map woke go back to sleep (on 2 CPUs, waking a few
     * thousand threads takes a while after the map returned) ... */
    double c1 = process_cpu();
    lkt_sleep_us(500000);
    double settle_cpu = process_cpu() - c1;
    /* ... then the idle pool: every thread blocked. */
    double c2 = process_cpu();
    lkt_sleep_us(500000);
    double idle_cpu = process_cpu() - c2;

    printf("n_jobs %4d: made in %.3f s, %d-item map %.3f s, %d-item map %.3f s; %.3f CPU-s in the 0.5 s after "
           "the maps, then %.3f CPU-s idle in 0.5 s; shutting down\n",
           n_jobs, made, SMALL, small, LARGE, large, settle_cpu, idle_cpu);
    fflush(stdout);
    snprintf(guard, sizeof guard, "n_jobs %d: shutdown", n_jobs);
    ht_guard_start(10, guard);
    double t2 = lkt_now();
    CHECK_OK(lk_invoker_shutdown(inv));
    double down = lkt_now() - t2;
    ht_guard_end();
    printf("n_jobs %4d: %.2f CPU-s from making to the end of the maps; shutdown %.3f s\n", n_jobs, busy_cpu, down);
    fflush(stdout);
    CHECK_MSG(made + small < 10.0, "n_jobs %d: making the invoker and a %d-item map took %.2f s", n_jobs, SMALL,
              made + small);
    CHECK_MSG(large < 10.0, "n_jobs %d: a %d-item map took %.2f s", n_jobs, LARGE, large);
    CHECK_MSG(idle_cpu < 0.05, "n_jobs %d: the idle pool used %.3f CPU-s in 0.5 s", n_jobs, idle_cpu);
    CHECK_MSG(down < 10.0, "n_jobs %d: shutdown took %.2f s", n_jobs, down);
    CHECK(atomic_load(&bad_worker) == 0);
    int threads_after = lkt_thread_count_settled(threads_before);
    CHECK_MSG(threads_after == threads_before, "n_jobs %d: %d threads after shutdown, %d before", n_jobs, threads_after,
              threads_before);
}

int main(void) {
    lkt_watchdog(115);
    printf("usable CPUs: %d\n", (int)lk_cpu_count());
    /* Smallest first: a pool that is slow at some size fails there, with its
     * times, before a larger one would run into the watchdog. */
    static const int32_t sizes[] = {64, 1024, 2048, 4096};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) run(sizes[k]);
    printf("hardening_fault_oversubscribed_pool: ok\n");
    return 0;
}
