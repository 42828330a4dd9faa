/* lk_invoker_shutdown on a process invoker stops and reaps every worker and
 * the zygote: afterwards no process has this test or the zygote as its parent
 * (a scan of /proc, zombies included), the worker and zygote pids are gone,
 * and waitpid(-1, WNOHANG) finds no child. Also right after a worker died and
 * was replaced, right after a worker was SIGKILLed from outside while idle,
 * and while another thread's map is in flight (shutdown waits for it: that
 * map completes with every result). The dead handle then gives
 * LK_ERR_INVALID from every call. n_jobs 1, 2, 3, 4. */
#include "procstest.h"

enum { N = 400, MAX_JOBS = 8 };

typedef struct {
    atomic_int pid_of[MAX_JOBS];
    atomic_int die_at;
    atomic_int sleep_us;
    atomic_int started;
} ctl_t;

static ctl_t *ctl;

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    atomic_fetch_add(&ctl->started, 1);
    if (task->worker < MAX_JOBS) atomic_store(&ctl->pid_of[task->worker], (int)getpid());
    if (lkt_take(&ctl->die_at, task->index)) _exit(3);
    int us = atomic_load(&ctl->sleep_us);
    if (us) lkt_sleep_us(us);
    if (result) *(uint64_t *)result = task->index + 1;
    return 0;
}

/* The workers (from the shared page, after a map with slow items so every
 * worker ran some) and their parent, the zygote. */
static int find_workers(lk_invoker *inv, int n_jobs, pid_t *workers, pid_t *zygote) {
    memset(ctl->pid_of, 0, sizeof ctl->pid_of);
    atomic_store(&ctl->sleep_us, 1000);
    CHECK_OK(lk_invoker_map(inv, NULL, 40 * (size_t)n_jobs, 0, NULL, 0));
    atomic_store(&ctl->sleep_us, 0);
    int n = 0;
    for (int k = 0; k < n_jobs; k++) {
        workers[k] = (pid_t)atomic_load(&ctl->pid_of[k]);
        CHECK(workers[k] > 0);
        n++;
    }
    *zygote = lkt_parent_of(workers[0]);
    CHECK(*zygote > 0 && *zygote != getpid());
    for (int k = 0; k < n_jobs; k++) CHECK(lkt_parent_of(workers[k]) == *zygote);
    CHECK(lkt_parent_of(*zygote) == getpid()); /* the zygote is this test's child */
    return n;
}

static void check_gone(int n_jobs, const pid_t *workers, pid_t zygote, const char *when) {
    pid_t left[8];
    int n = lkt_children_of(getpid(), left, 8);
    CHECK_MSG(n == 0, "%s: %d process(es) with this test as parent after shutdown, e.g. %d (state: %s)", when, n,
              n ? (int)left[0] : 0, n && lkt_alive(left[0]) ? "running" : "zombie");
    n = lkt_children_of(zygote, left, 8);
    CHECK_MSG(n == 0, "%s: %d process(es) with the zygote %d as parent after shutdown", when, n, (int)zygote);
    CHECK_MSG(!lkt_exists(zygote), "%s: the zygote %d is still there (%s)", when, (int)zygote,
              lkt_alive(zygote) ? "running" : "a zombie");
    for (int k = 0; k < n_jobs; k++)
        CHECK_MSG(!lkt_alive(workers[k]), "%s: worker %d (pid %d) still runs", when, k, (int)workers[k]);
    lkt_check_no_children();
}

static void check_dead_handle(lk_invoker *inv) {
    uint64_t r[4];
    CHECK_FAIL(lk_invoker_map(inv, NULL, 4, 0, r, sizeof r[0]), LK_ERR_INVALID);
    CHECK_STATUS(lk_invoker_cancel(inv), LK_ERR_INVALID);
    CHECK_FAIL(lk_invoker_shutdown(inv), LK_ERR_INVALID);
}

typedef struct {
    lk_invoker *inv;
    lk_status status;
    uint64_t results[N];
} mapper_t;

static void *map_thread(void *p) {
    mapper_t *m = (mapper_t *)p;
    m->status = lk_invoker_map(m->inv, NULL, N, 0, m->results, sizeof m->results[0]);
    return NULL;
}

static void run(int n_jobs) {
    pid_t workers[MAX_JOBS], zygote;

    /* plain */
    lk_invoker *inv = pt_new(NULL, op, n_jobs);
    find_workers(inv, n_jobs, workers, &zygote);
    CHECK_OK(lk_invoker_shutdown(inv));
    check_gone(n_jobs, workers, zygote, "plain");
    check_dead_handle(inv);

    /* right after a worker died and was replaced */
    inv = pt_new(NULL, op, n_jobs);
    find_workers(inv, n_jobs, workers, &zygote);
    atomic_store(&ctl->die_at, 5);
    CHECK_FAIL(lk_invoker_map(inv, NULL, 50, 0, NULL, 0), LK_ERR_WORKER_DIED);
    CHECK_OK(lk_invoker_shutdown(inv));
    check_gone(n_jobs, workers, zygote, "after a death");

    /* right after a worker was killed from outside while idle */
    inv = pt_new(NULL, op, n_jobs);
    find_workers(inv, n_jobs, workers, &zygote);
    CHECK(kill(workers[0], SIGKILL) == 0);
    CHECK_OK(lk_invoker_shutdown(inv));
    check_gone(n_jobs, workers, zygote, "after an outside kill");

    /* with a map in flight on another thread */
    inv = pt_new(NULL, op, n_jobs);
    find_workers(inv, n_jobs, workers, &zygote);
    static mapper_t m;
    memset(&m, 0, sizeof m);
    m.inv = inv;
    m.status = (lk_status)-1;
    atomic_store(&ctl->sleep_us, 1000);
    atomic_store(&ctl->started, 0);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, map_thread, &m) == 0);
    while (atomic_load(&ctl->started) < 2) lkt_sleep_us(500);
    CHECK_OK(lk_invoker_shutdown(inv));
    CHECK(pthread_join(th, NULL) == 0);
    CHECK_MSG(m.status == LK_OK, "the map in flight during shutdown returned %d", (int)m.status);
    for (int i = 0; i < N; i++) CHECK(m.results[i] == (uint64_t)i + 1);
    atomic_store(&ctl->sleep_us, 0);
    check_gone(n_jobs, workers, zygote, "with a map in flight");
    check_dead_handle(inv);
    printf("n_jobs %d: shutdown reaped every worker and the zygote\n", n_jobs);
}

int main(void) {
    ctl = (ctl_t *)lkt_begin_crash_test(60, sizeof *ctl);
    atomic_store(&ctl->die_at, -1);
    lkt_check_no_children();
    run(1);
    run(2);
    run(3);
    run(4);
    printf("processes_leak_shutdown: ok\n");
    return 0;
}
