/* A worker process SIGKILLed from outside (as the OOM killer would) during a
 * long map is survived like a crash: one item blocks for up to 10 s and
 * publishes its worker's pid in a shared page; another thread of the test
 * kill()s that pid. Fail-fast: the map returns LK_ERR_WORKER_DIED within 2 s
 * of the kill, naming that item and signal 9, with the item marked
 * LK_ITEM_WORKER_DIED. Keep-going: every other item completes exactly once
 * with its result, only that item is marked. Each time the next map on the
 * same invoker succeeds. A worker killed while the invoker is idle is
 * replaced too: the next map succeeds in full. n_jobs 1, 2, 4. */
#include "procstest.h"

enum { N = 1000, STUCK = 300, MAX_JOBS = 8 };

typedef struct {
    atomic_int stuck_at;  /* the item that blocks; -1: none */
    atomic_int stuck_pid; /* its worker, once it is blocking */
    atomic_int runs[N];
    atomic_int pid_of[MAX_JOBS];
} ctl_t;

static ctl_t *ctl;

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    atomic_fetch_add(&ctl->runs[task->index], 1);
    if (task->worker < MAX_JOBS) atomic_store(&ctl->pid_of[task->worker], (int)getpid());
    if ((int)task->index == atomic_load(&ctl->stuck_at)) {
        atomic_store(&ctl->stuck_pid, (int)getpid());
        lkt_sleep_us(10 * 1000000L); /* until killed */
    }
    if (atomic_load(&ctl->stuck_at) >= 0) lkt_sleep_us(500); /* a long map while a kill is due */
    *(uint64_t *)result = task->index * 11 + 1;
    return 0;
}

typedef struct {
    pid_t killed;
    double at;
} killer_t;

static void *killer(void *p) {
    killer_t *k = (killer_t *)p;
    int pid = lkt_await_pid(&ctl->stuck_pid, 30);
    CHECK_MSG(pid > 0, "the blocking item %d never started", STUCK);
    lkt_sleep_us(20000); /* well inside the blocking item */
    k->killed = pid;
    k->at = lkt_now();
    CHECK(kill(pid, SIGKILL) == 0);
    return NULL;
}

static void check_next_map(lk_invoker *inv) {
    static uint64_t results[N];
    static int32_t status[N];
    atomic_store(&ctl->stuck_at, -1);
    lk_map_options mo = lkt_with_status(status);
    for (int i = 0; i < N; i++) atomic_store(&ctl->runs[i], 0);
    CHECK_OK(lk_invoker_map_with(inv, NULL, N, 0, results, sizeof results[0], &mo));
    for (int i = 0; i < N; i++) {
        CHECK(status[i] == 0 && results[i] == (uint64_t)i * 11 + 1);
        CHECK(atomic_load(&ctl->runs[i]) == 1);
    }
}

static void run(int n_jobs, int keep_going) {
    static uint64_t results[N];
    static int32_t status[N];
    lk_invoker_options o = pt_options(n_jobs);
    o.error_mode = keep_going ? LK_ERRORS_KEEP_GOING : LK_ERRORS_FAIL_FAST;
    lk_invoker *inv = lkt_new_with(NULL, op, &o);
    for (int rep = 0; rep < 2; rep++) {
        for (int i = 0; i < N; i++) {
            results[i] = 0;
            status[i] = 0x5A5A5A5A;
            atomic_store(&ctl->runs[i], 0);
        }
        atomic_store(&ctl->stuck_pid, 0);
        atomic_store(&ctl->stuck_at, STUCK);
        killer_t k = {0, 0};
        pthread_t th;
        CHECK(pthread_create(&th, NULL, killer, &k) == 0);
        lk_map_options mo = lkt_with_status(status);
        CHECK_FAIL(lk_invoker_map_with(inv, NULL, N, 0, results, sizeof results[0], &mo), LK_ERR_WORKER_DIED);
        double returned = lkt_now();
        CHECK(pthread_join(th, NULL) == 0);
        const char *m = lk_last_error();
        printf("n_jobs %d, %s: returned %.3f s after the kill: %s\n", n_jobs, keep_going ? "keep-going" : "fail-fast",
               returned - k.at, m);
        CHECK_MSG(returned - k.at < 2.0, "the map returned %.3f s after the kill", returned - k.at);
        CHECK_ERROR_HAS_NUMBER(STUCK);
        CHECK_MSG(lkt_has_number(m, SIGKILL) || strstr(m, "SIGKILL"), "signal 9 not named: \"%s\"", m);
        CHECK(status[STUCK] == LK_ITEM_WORKER_DIED);
        CHECK(!lkt_alive(k.killed));
        for (int i = 0; i < N; i++) {
            if (i == STUCK) continue;
            if (keep_going) {
                CHECK_MSG(status[i] == 0, "item %d has status %d", i, status[i]);
                CHECK_MSG(atomic_load(&ctl->runs[i]) == 1, "item %d ran %d times", i, atomic_load(&ctl->runs[i]));
            } else {
                CHECK(status[i] == 0 || status[i] == LK_ITEM_SKIPPED);
            }
            if (status[i] == 0) CHECK(results[i] == (uint64_t)i * 11 + 1);
            else CHECK(results[i] == 0);
        }
        check_next_map(inv);
    }

    /* a worker killed while the invoker is idle */
    int victim = 0;
    for (int k = 0; k < n_jobs && !victim; k++) {
        int pid = atomic_load(&ctl->pid_of[k]);
        if (pid > 0 && lkt_alive(pid)) victim = pid;
    }
    CHECK(victim > 0);
    CHECK(kill(victim, SIGKILL) == 0);
    CHECK(lkt_wait_dead(victim, 2.0));
    check_next_map(inv);
    check_next_map(inv);
    CHECK_OK(lk_invoker_shutdown(inv));
}

int main(void) {
    lkt_watchdog(60);
    ctl = (ctl_t *)lkt_shared(sizeof *ctl);
    atomic_store(&ctl->stuck_at, -1);
    int32_t jobs[] = {1, 2, 4};
    for (int j = 0; j < 3; j++) {
        run(jobs[j], 0);
        run(jobs[j], 1);
    }
    printf("processes_fault_external_kill: ok\n");
    return 0;
}
