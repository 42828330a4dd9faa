/* The worker initializer (lk_invoker_options.worker_init): called with the
 * user pointer, for worker indices in [0, n_jobs), never twice for the same
 * index (over several maps too), before that worker's first item, and
 * where that worker runs:
 *  - threads: once per worker index used (none unused), on the thread that
 *    then runs that worker's first item;
 *  - processes: once in each worker process, for every index (the workers
 *    start with the invoker), in the process that then runs that index's
 *    items — never in the parent; a worker that replaces a dead one runs it
 *    too, in its own process, before its first item.
 * n_jobs 1, 2 and 4. */
#include "lktest.h"

enum { N = 400, MAX_JOBS = 8, MAX_INITS = 64 };

typedef struct {
    int n_jobs;
    atomic_int n_inits;
    atomic_int init_pid[MAX_INITS];
    atomic_int init_worker[MAX_INITS];
    atomic_int inits[MAX_JOBS];       /* initializer calls per worker index */
    atomic_int used[MAX_JOBS];        /* worker index ran an item */
    atomic_int first_done[MAX_JOBS];  /* threads: worker index's first item has started */
    pthread_t init_thread[MAX_JOBS];  /* threads: where index k's initializer ran */
    atomic_int bad_user, bad_index, init_after_item;
    atomic_int items_without_init;    /* an item ran where its index's initializer did not */
    atomic_int die_at;                /* processes: an item index to raise(SIGKILL) on, once; -1: none */
    atomic_int dead_pid;
    lkt_pid_set item_pids;
} state_t;

static state_t *sh;
static pid_t parent_pid;

/* Process-local (processes: set by the initializer in the worker process it
 * runs in; in the parent they must stay as they are). */
static int my_init_worker = -1;
static int my_init_count = 0;

static void on_init(uint32_t worker, void *user) {
    if (user != (void *)sh) atomic_fetch_add(&sh->bad_user, 1);
    int at = atomic_fetch_add(&sh->n_inits, 1);
    if (at < MAX_INITS) {
        atomic_store(&sh->init_pid[at], (int)getpid());
        atomic_store(&sh->init_worker[at], (int)worker);
    }
    if (worker >= (uint32_t)sh->n_jobs) {
        atomic_fetch_add(&sh->bad_index, 1);
        return;
    }
    if (atomic_load(&sh->first_done[worker])) atomic_fetch_add(&sh->init_after_item, 1);
    sh->init_thread[worker] = pthread_self();
    atomic_fetch_add(&sh->inits[worker], 1);
    my_init_worker = (int)worker;
    my_init_count++;
}

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    (void)result;
    uint32_t w = task->worker;
    if (w >= (uint32_t)sh->n_jobs) {
        atomic_fetch_add(&sh->bad_index, 1);
        return 0;
    }
    if (lkt_processes()) {
        /* this process's initializer ran once, for this index */
        if (my_init_worker != (int)w || my_init_count != 1) atomic_fetch_add(&sh->items_without_init, 1);
        if (lkt_take(&sh->die_at, task->index)) {
            atomic_store(&sh->dead_pid, (int)getpid());
            raise(SIGKILL);
        }
    } else {
        /* the index's initializer ran, and its first item runs on the initializer's thread */
        if (atomic_load(&sh->inits[w]) != 1) atomic_fetch_add(&sh->items_without_init, 1);
        if (atomic_exchange(&sh->first_done[w], 1) == 0 && !pthread_equal(sh->init_thread[w], pthread_self()))
            atomic_fetch_add(&sh->items_without_init, 1);
    }
    atomic_store(&sh->used[w], 1);
    lkt_pid_add(&sh->item_pids, (int)getpid());
    lkt_sleep_us(500);
    return 0;
}

/* Worker processes: every process that ran items ran the initializer once,
 * for the index its items had (checked in the callback); none ran in the
 * parent; the first n_jobs calls cover every index once. */
static void check_process_inits(int n_jobs, int expected_inits) {
    int n = atomic_load(&sh->n_inits);
    CHECK_MSG(n == expected_inits, "n_jobs %d: the initializer ran %d times, expected %d", n_jobs, n,
              expected_inits);
    for (int i = 0; i < n; i++) {
        CHECK(atomic_load(&sh->init_pid[i]) != (int)parent_pid);
        for (int j = 0; j < i; j++) CHECK(atomic_load(&sh->init_pid[i]) != atomic_load(&sh->init_pid[j]));
    }
    for (int k = 0; k < n_jobs; k++) {
        int seen = 0;
        for (int i = 0; i < n_jobs; i++) seen += atomic_load(&sh->init_worker[i]) == k;
        CHECK_MSG(seen == 1, "worker index %d initialised %d times by the first workers", k, seen);
    }
    /* every process that ran items is one the initializer ran in */
    int m = atomic_load(&sh->item_pids.n);
    for (int i = 0; i < m && i < LKT_MAX_PIDS; i++) {
        int pid = atomic_load(&sh->item_pids.pids[i]), found = 0;
        for (int j = 0; j < n; j++) found |= atomic_load(&sh->init_pid[j]) == pid;
        CHECK_MSG(found, "process %d ran items but the initializer never ran in it", pid);
    }
    CHECK(my_init_worker == -1 && my_init_count == 0); /* not in the parent */
}

/* Threads: once per worker index used, none unused, at least two used by a pool. */
static void check_thread_inits(int n_jobs) {
    int used = 0;
    for (int w = 0; w < MAX_JOBS; w++) {
        int inits = atomic_load(&sh->inits[w]);
        CHECK(inits <= 1);
        CHECK(inits == atomic_load(&sh->used[w])); /* once per worker index used, none unused */
        used += atomic_load(&sh->used[w]);
    }
    CHECK(used >= 1 && used <= n_jobs);
    if (n_jobs > 1) CHECK(used >= 2);
}

static void check_common(int n_jobs) {
    CHECK(atomic_load(&sh->bad_user) == 0);
    CHECK(atomic_load(&sh->bad_index) == 0);
    CHECK(atomic_load(&sh->init_after_item) == 0);
    CHECK_MSG(atomic_load(&sh->items_without_init) == 0,
              "n_jobs %d: %d items ran where the initializer had not run for that worker", n_jobs,
              atomic_load(&sh->items_without_init));
}

static void run(int n_jobs) {
    memset(sh, 0, sizeof *sh);
    sh->n_jobs = n_jobs;
    atomic_store(&sh->die_at, -1);
    lk_invoker_options o = lkt_options(n_jobs);
    o.worker_init = on_init;
    o.worker_init_user = sh;
    lk_invoker *inv = lkt_new_with(NULL, op, &o);
    for (int m = 0; m < 3; m++) CHECK_OK(lk_invoker_map(inv, NULL, N, 0, NULL, 0));
    check_common(n_jobs);
    if (!lkt_processes()) {
        check_thread_inits(n_jobs);
    } else {
        check_process_inits(n_jobs, n_jobs);
        CHECK(lkt_pid_count(&sh->item_pids) == n_jobs);

        /* a worker dies: its replacement runs the initializer in its own process */
        atomic_store(&sh->die_at, 123);
        CHECK_FAIL(lk_invoker_map(inv, NULL, N, 0, NULL, 0), LK_ERR_WORKER_DIED);
        CHECK(atomic_load(&sh->dead_pid) > 0);
        lkt_pid_clear(&sh->item_pids);
        for (int m = 0; m < 2; m++) CHECK_OK(lk_invoker_map(inv, NULL, N, 0, NULL, 0));
        CHECK(!lkt_pid_has(&sh->item_pids, atomic_load(&sh->dead_pid)));
        check_common(n_jobs);
        check_process_inits(n_jobs, n_jobs + 1);
    }
    CHECK_OK(lk_invoker_shutdown(inv));
    printf("n_jobs %d: the initializer ran %d times\n", n_jobs, atomic_load(&sh->n_inits));
}

int main(int argc, char **argv) {
    lkt_backend_init(argc, argv);
    lkt_watchdog(60);
    parent_pid = getpid();
    sh = (state_t *)lkt_shared(sizeof *sh);
    run(1);
    run(2);
    run(4);
    printf("invoker_api_worker_init: ok\n");
    return 0;
}
