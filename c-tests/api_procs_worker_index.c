/* task->worker with the process backend: always in [0, n_jobs); one worker
 * index belongs to one process and one process to one worker index (while no
 * worker dies); exactly n_jobs distinct worker processes run the items of a
 * map with enough slow items (n_jobs 1, 2, 4, and 0, which means
 * lk_proc_count(2, 4, 0)), none of them the calling process. */
#include "procstest.h"

enum { N = 400, MAX_JOBS = 8 };

typedef struct {
    atomic_int bad_worker;
    atomic_int pid_of[MAX_JOBS]; /* the process seen running worker index k */
    atomic_int mixed;            /* a worker index seen in two processes */
    pt_pid_set pids;
} state_t;

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    state_t *s = (state_t *)model;
    (void)arg;
    uint32_t w = task->worker;
    *(uint32_t *)result = w;
    int me = (int)getpid();
    if (w >= MAX_JOBS) {
        atomic_fetch_add(&s->bad_worker, 1);
        return 0;
    }
    int expected = 0;
    if (!atomic_compare_exchange_strong(&s->pid_of[w], &expected, me) && expected != me)
        atomic_fetch_add(&s->mixed, 1);
    pt_pid_add(&s->pids, me);
    lkt_sleep_us(1000);
    return 0;
}

static void run(int32_t n_jobs_opt, int32_t n_jobs) {
    static state_t *s;
    if (!s) s = (state_t *)lkt_shared(sizeof *s);
    memset(s, 0, sizeof *s);
    lk_invoker *inv = pt_new(s, op, n_jobs_opt);
    static uint32_t workers[N];
    for (int m = 0; m < 3; m++) {
        memset(workers, 0xFF, sizeof workers);
        CHECK_OK(lk_invoker_map(inv, NULL, N, 0, workers, sizeof workers[0]));
        for (int i = 0; i < N; i++)
            CHECK_MSG(workers[i] < (uint32_t)n_jobs, "n_jobs %d: item %d ran on worker %u", n_jobs, i, workers[i]);
    }
    CHECK(atomic_load(&s->bad_worker) == 0);
    CHECK(atomic_load(&s->mixed) == 0);
    int distinct = pt_pid_count(&s->pids);
    printf("n_jobs %d (option %d): %d worker processes\n", n_jobs, n_jobs_opt, distinct);
    CHECK_MSG(distinct == n_jobs, "%d processes ran the items of an invoker with %d workers", distinct, n_jobs);
    CHECK(!pt_pid_has(&s->pids, (int)getpid()));
    /* each process had one index, and each index one process */
    for (int a = 0; a < n_jobs; a++)
        for (int b = a + 1; b < n_jobs; b++)
            if (atomic_load(&s->pid_of[a]) && atomic_load(&s->pid_of[b]))
                CHECK(atomic_load(&s->pid_of[a]) != atomic_load(&s->pid_of[b]));
    CHECK_OK(lk_invoker_shutdown(inv));
}

int main(void) {
    lkt_watchdog(60);
    run(1, 1);
    run(2, 2);
    run(4, 4);
    run(0, lk_proc_count(2, 4, 0));
    printf("api_procs_worker_index: ok\n");
    return 0;
}
