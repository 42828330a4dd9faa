/* An idle library costs no CPU: after a map, an invoker that is not used
 * for a second runs no code. For a thread pool of 2 (its threads may spin
 * briefly after a map) and of 4 (more workers than CPUs: no spinning), and
 * for a process pool of 2 (its zygote and worker processes): once the map
 * is 0.2 s past, over the next second the pool's threads and processes
 * together use under 10 ms of CPU (from /proc/<pid>/task/<tid>/schedstat)
 * and wake at most 5 times in all (voluntary_ctxt_switches). Also the
 * calling process itself, while its main thread sleeps: under 10 ms. The
 * figures are printed. */
#include "hardening/hardtest.h"

enum { MAX_WAKEUPS = 5 };
#define MAX_CPU_S 0.010

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    *(uint64_t *)result = task->index * 2;
    return 0;
}

/* The zygote (this process's only child) and its workers. */
typedef struct pool_procs {
    pid_t pids[16];
    int n;
} pool_procs;

static pool_procs find_pool(void) {
    pool_procs p = {{0}, 0};
    pid_t zygote[2];
    CHECK(lkt_children_of(getpid(), zygote, 2) == 1);
    p.pids[p.n++] = zygote[0];
    p.n += lkt_children_of(zygote[0], p.pids + 1, 15);
    return p;
}

static ht_cost procs_cost(const pool_procs *p) {
    ht_cost c = {0, 0, 0};
    for (int i = 0; i < p->n; i++) {
        ht_cost one = ht_process_cost(p->pids[i], 0);
        c.cpu_ns += one.cpu_ns;
        c.wakeups += one.wakeups;
        c.threads += one.threads;
    }
    return c;
}

static void idle(lk_backend backend, int32_t n_jobs) {
    const char *name = backend == LK_BACKEND_PROCESSES ? "process" : "thread";
    lk_invoker_options o = lkt_options_on(backend, n_jobs);
    lk_invoker *inv = lkt_new_with(NULL, op, &o);
    static uint64_t results[10000];
    CHECK_OK(lk_invoker_map(inv, NULL, 10000, 0, results, sizeof results[0]));
    for (int i = 0; i < 10000; i++) CHECK(results[i] == (uint64_t)i * 2);
    lkt_sleep_us(200000);

    pid_t me = ht_gettid();
    pool_procs procs = {{0}, 0};
    if (backend == LK_BACKEND_PROCESSES) procs = find_pool();
    /* This process's clock is read inside the pool's readings: reading
     * /proc is the test's own cost (some ms under AddressSanitizer). */
    struct timespec c0, c1;
    ht_cost before = backend == LK_BACKEND_PROCESSES ? procs_cost(&procs) : ht_process_cost(getpid(), me);
    CHECK(clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0) == 0);
    lkt_sleep_us(1000000);
    CHECK(clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1) == 0);
    ht_cost after = backend == LK_BACKEND_PROCESSES ? procs_cost(&procs) : ht_process_cost(getpid(), me);
    double self_cpu = (double)(c1.tv_sec - c0.tv_sec) + (double)(c1.tv_nsec - c0.tv_nsec) * 1e-9;
    double cpu = (double)(after.cpu_ns - before.cpu_ns) * 1e-9;
    long woke = after.wakeups - before.wakeups;
    printf("idle %s pool of %d (%d threads%s): %.4f CPU-s and %ld wake-ups in 1 s; this process %.4f CPU-s\n", name,
           (int)n_jobs, after.threads, backend == LK_BACKEND_PROCESSES ? " in its zygote and workers" : "", cpu, woke,
           self_cpu);
    CHECK_MSG(after.threads == before.threads && after.threads >= n_jobs, "%s pool: %d threads, then %d", name,
              before.threads, after.threads);
    CHECK_MSG(cpu < MAX_CPU_S, "an idle %s pool of %d used %.4f CPU-s in 1 s", name, (int)n_jobs, cpu);
    CHECK_MSG(woke <= MAX_WAKEUPS, "an idle %s pool of %d woke %ld times in 1 s", name, (int)n_jobs, woke);
    CHECK_MSG(self_cpu < MAX_CPU_S, "this process used %.4f CPU-s in 1 s next to an idle %s pool", self_cpu, name);
    CHECK_OK(lk_invoker_shutdown(inv));
}

int main(void) {
    lkt_watchdog(60);
    CHECK(ht_task_cpu_ns(getpid(), ht_gettid()) >= 0);
    idle(LK_BACKEND_THREADS, 2);
    idle(LK_BACKEND_THREADS, 4);
    idle(LK_BACKEND_PROCESSES, 2);
    printf("hardening_api_idle_no_cpu: ok\n");
    return 0;
}
