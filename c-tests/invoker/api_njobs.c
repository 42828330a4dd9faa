/* n_jobs 0 / -1 / 1 / 2 / 4: each makes a working invoker with the promised
 * number of workers. 0 is lk_proc_count(2, 4, 0) (LK_NUM_PROCS included),
 * -1 every usable CPU (lk_cpu_count()), n > 1 a pool of exactly n workers:
 * over three maps of items that sleep, worker indices stay in [0, n), every
 * index takes part and n callbacks run at once. With processes, exactly n
 * distinct worker processes run the items, none of them the calling process;
 * one worker index belongs to one process and one process to one worker
 * index (while no worker dies). With threads the items run in this process. */
#include "lktest.h"

enum { N = 400, MAPS = 3, MAX_JOBS = 32 };

typedef struct {
    lkt_bound bound;
    atomic_int pid_of[MAX_JOBS]; /* the process seen running worker index k */
    atomic_int mixed;            /* a worker index seen in two processes */
    lkt_pid_set pids;
} state_t;

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    state_t *s = (state_t *)model;
    uint32_t w = task->worker;
    lkt_bound_enter(&s->bound, w);
    int me = (int)getpid();
    if (w < MAX_JOBS) {
        int expected = 0;
        if (!atomic_compare_exchange_strong(&s->pid_of[w], &expected, me) && expected != me)
            atomic_fetch_add(&s->mixed, 1);
    }
    lkt_pid_add(&s->pids, me);
    lkt_sleep_us(1000);
    *(uint64_t *)result = *(const uint64_t *)arg * 3 + 7;
    lkt_bound_leave(&s->bound, w);
    return 0;
}

static void run(state_t *s, int32_t n_jobs, int expected) {
    static uint64_t args[N], results[N];
    memset(s, 0, sizeof *s);
    lkt_bound_reset(&s->bound, expected, 1);
    lk_invoker *inv = lkt_new(s, op, n_jobs);
    for (int m = 0; m < MAPS; m++) {
        for (int i = 0; i < N; i++) {
            args[i] = (uint64_t)i * 11 + (uint64_t)m;
            results[i] = 0;
        }
        CHECK_OK(lk_invoker_map(inv, args, N, sizeof args[0], results, sizeof results[0]));
        for (int i = 0; i < N; i++) CHECK(results[i] == args[i] * 3 + 7);
    }
    CHECK(atomic_load(&s->bound.calls) == MAPS * N);
    lkt_bound_check(&s->bound, expected, "n_jobs");
    int at_once = atomic_load(&s->bound.max_running);
    unsigned seen = atomic_load(&s->bound.seen);
    if (expected > 1 && expected <= 8) {
        /* a pool of exactly `expected` workers: all of them take part */
        CHECK_MSG(at_once == expected, "n_jobs %d: %d callbacks at once, expected %d", n_jobs, at_once, expected);
        CHECK(seen == (1u << expected) - 1);
    }
    if (expected == 1) CHECK(seen == 1u);

    int distinct = lkt_pid_count(&s->pids);
    printf("n_jobs %d: %d workers, %d at once, %d process(es)\n", n_jobs, expected, at_once, distinct);
    if (lkt_processes()) {
        CHECK_MSG(distinct == expected, "%d processes ran the items of an invoker with %d workers", distinct,
                  expected);
        CHECK(!lkt_pid_has(&s->pids, (int)getpid()));
        CHECK(atomic_load(&s->mixed) == 0);
        /* each process had one index, and each index one process */
        for (int a = 0; a < expected && a < MAX_JOBS; a++)
            for (int b = a + 1; b < expected && b < MAX_JOBS; b++)
                if (atomic_load(&s->pid_of[a]) && atomic_load(&s->pid_of[b]))
                    CHECK(atomic_load(&s->pid_of[a]) != atomic_load(&s->pid_of[b]));
    } else {
        CHECK(distinct == 1 && lkt_pid_has(&s->pids, (int)getpid()));
    }
    CHECK_OK(lk_invoker_shutdown(inv));
}

int main(int argc, char **argv) {
    lkt_backend_init(argc, argv);
    lkt_watchdog(60);
    state_t *s = (state_t *)lkt_shared(sizeof *s);
    unsetenv("LK_NUM_PROCS");
    int cpus = lk_cpu_count();
    CHECK(cpus >= 1);
    int dflt = lk_proc_count(2, 4, 0);
    CHECK(dflt >= 1 && dflt <= 4);

    run(s, 0, dflt);
    run(s, -1, cpus);
    run(s, 1, 1);
    run(s, 2, 2);
    run(s, 4, 4);

    /* n_jobs 0 follows LK_NUM_PROCS (it is lk_proc_count(2, 4, 0)); -1 does not */
    CHECK(setenv("LK_NUM_PROCS", "3", 1) == 0);
    CHECK(lk_proc_count(2, 4, 0) == 3);
    run(s, 0, 3);
    run(s, -1, cpus);
    CHECK(setenv("LK_NUM_PROCS", "1", 1) == 0);
    run(s, 0, 1);
    unsetenv("LK_NUM_PROCS");

    printf("invoker_api_njobs: ok\n");
    return 0;
}
