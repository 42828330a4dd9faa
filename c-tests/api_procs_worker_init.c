/* The per-worker initializer with the process backend runs in each worker
 * process: for every worker index k in [0, n_jobs) it runs once in the
 * process that then runs worker k's items, before its first item, with the
 * user pointer — never in the parent. A worker that replaces a dead one runs
 * it too (in its own process) before its first item. n_jobs 1, 2, 4. */
#include "procstest.h"

enum { N = 400, MAX_JOBS = 8, MAX_INITS = 64 };

typedef struct {
    atomic_int n_inits;
    atomic_int init_pid[MAX_INITS];
    atomic_int init_worker[MAX_INITS];
    atomic_int bad_user, bad_index;
    atomic_int items_without_init; /* an item ran in a process whose initializer did not run for its index */
    atomic_int die_at;             /* an item index to raise(SIGKILL) on, once; -1: none */
    atomic_int dead_pid;
    pt_pid_set item_pids;
} state_t;

static state_t *sh;
static pid_t parent_pid;

/* Process-local: set by the initializer in the process it runs in. */
static int my_init_worker = -1;
static int my_init_count = 0;

static void on_init(uint32_t worker, void *user) {
    if (user != (void *)sh) atomic_fetch_add(&sh->bad_user, 1);
    int at = atomic_fetch_add(&sh->n_inits, 1);
    if (at < MAX_INITS) {
        atomic_store(&sh->init_pid[at], (int)getpid());
        atomic_store(&sh->init_worker[at], (int)worker);
    }
    my_init_worker = (int)worker;
    my_init_count++;
}

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    (void)result;
    if (task->worker >= MAX_JOBS) atomic_fetch_add(&sh->bad_index, 1);
    if (my_init_worker != (int)task->worker || my_init_count != 1) atomic_fetch_add(&sh->items_without_init, 1);
    int expected = (int)task->index;
    if (atomic_load(&sh->die_at) == expected && atomic_compare_exchange_strong(&sh->die_at, &expected, -1)) {
        atomic_store(&sh->dead_pid, (int)getpid());
        raise(SIGKILL);
    }
    pt_pid_add(&sh->item_pids, (int)getpid());
    lkt_sleep_us(500);
    return 0;
}

/* Every process that ran items ran the initializer once, for the index its
 * items had (checked in the callback); none ran in the parent. */
static void check_inits(int n_jobs, int expected_inits) {
    int n = atomic_load(&sh->n_inits);
    CHECK(atomic_load(&sh->bad_user) == 0);
    CHECK(atomic_load(&sh->bad_index) == 0);
    CHECK_MSG(atomic_load(&sh->items_without_init) == 0,
              "n_jobs %d: %d items ran in a process whose initializer had not run for that worker", n_jobs,
              atomic_load(&sh->items_without_init));
    CHECK_MSG(n == expected_inits, "n_jobs %d: the initializer ran %d times, expected %d", n_jobs, n,
              expected_inits);
    for (int i = 0; i < n; i++) {
        CHECK(atomic_load(&sh->init_pid[i]) != (int)parent_pid);
        CHECK(atomic_load(&sh->init_worker[i]) >= 0 && atomic_load(&sh->init_worker[i]) < n_jobs);
        for (int j = 0; j < i; j++) CHECK(atomic_load(&sh->init_pid[i]) != atomic_load(&sh->init_pid[j]));
    }
    /* the first n_jobs calls cover every index once */
    for (int k = 0; k < n_jobs; k++) {
        int seen = 0;
        for (int i = 0; i < n_jobs; i++) seen += atomic_load(&sh->init_worker[i]) == k;
        CHECK_MSG(seen == 1, "worker index %d initialised %d times by the first workers", k, seen);
    }
    /* every process that ran items is one the initializer ran in */
    int m = atomic_load(&sh->item_pids.n);
    for (int i = 0; i < m && i < PT_MAX_PIDS; i++) {
        int pid = atomic_load(&sh->item_pids.pids[i]), found = 0;
        for (int j = 0; j < n; j++) found |= atomic_load(&sh->init_pid[j]) == pid;
        CHECK_MSG(found, "process %d ran items but the initializer never ran in it", pid);
    }
}

static void run(int n_jobs) {
    memset(sh, 0, sizeof *sh);
    atomic_store(&sh->die_at, -1);
    lk_invoker_options o = pt_options(n_jobs);
    o.worker_init = on_init;
    o.worker_init_user = sh;
    lk_invoker *inv = pt_new_with(NULL, op, &o);
    for (int m = 0; m < 3; m++) CHECK_OK(lk_invoker_map(inv, NULL, N, 0, NULL, 0));
    check_inits(n_jobs, n_jobs);
    CHECK(pt_pid_count(&sh->item_pids) == n_jobs);
    CHECK(my_init_worker == -1 && my_init_count == 0); /* not in the parent */

    /* a worker dies: its replacement runs the initializer in its own process */
    atomic_store(&sh->die_at, 123);
    CHECK_FAIL(lk_invoker_map(inv, NULL, N, 0, NULL, 0), LK_ERR_WORKER_DIED);
    CHECK(atomic_load(&sh->dead_pid) > 0);
    pt_pid_clear(&sh->item_pids);
    for (int m = 0; m < 2; m++) CHECK_OK(lk_invoker_map(inv, NULL, N, 0, NULL, 0));
    CHECK(!pt_pid_has(&sh->item_pids, atomic_load(&sh->dead_pid)));
    check_inits(n_jobs, n_jobs + 1);
    CHECK_OK(lk_invoker_shutdown(inv));
    printf("n_jobs %d: the initializer ran in each of %d worker processes\n", n_jobs, atomic_load(&sh->n_inits));
}

int main(void) {
    lkt_watchdog(60);
    parent_pid = getpid();
    sh = (state_t *)lkt_shared(sizeof *sh);
    run(1);
    run(2);
    run(4);
    printf("api_procs_worker_init: ok\n");
    return 0;
}
