/* Finding 5: a worker process that is stopped (SIGSTOP, as a debugger, a
 * job-control mistake or a cgroup freezer would) no longer holds a map for
 * ever when the invoker has a per-item time limit
 * (lk_invoker_options.item_timeout_ms, process backend): the stopped item
 * fails with LK_ITEM_TIMED_OUT, the map returns LK_ERR_TIMEOUT naming it
 * and the limit, soon after the limit passes, and the worker is killed and
 * replaced, so the next map runs in full. The first release had no such
 * limit (the option is unknown to it: LK_ERR_INVALID), and a stopped worker
 * held the map until SIGCONT.
 *
 * The worker stops itself (raise(SIGSTOP)) or is stopped from another
 * thread of the host; fail-fast and keep-going (where every other item
 * runs); n_jobs 1 and 2. Items well inside the limit never time out. The
 * threads backend refuses a limit (LK_ERR_UNSUPPORTED: a thread cannot be
 * killed). After shutdown no process is left. */
#include "hardening/hardtest.h"

enum { N = 200, LIMIT_MS = 400 };

typedef struct ctl {
    atomic_int stop_at;      /* the item whose worker raises SIGSTOP (once); -1 none */
    atomic_int block_at;     /* the item that waits to be stopped from outside (once) */
    atomic_int blocked_pid;  /* that item's worker, once it waits */
    atomic_int runs[N];
} ctl_t;

static ctl_t *ctl;

/* The model is the control page (shared with the workers). */
static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    ctl_t *c = (ctl_t *)model;
    (void)arg;
    atomic_fetch_add(&c->runs[task->index], 1);
    if (lkt_take(&c->stop_at, task->index)) raise(SIGSTOP);
    if (lkt_take(&c->block_at, task->index)) {
        atomic_store(&c->blocked_pid, (int)getpid());
        lkt_sleep_us(30 * 1000000L); /* until stopped, then killed */
    }
    lkt_sleep_us(200); /* well inside the limit */
    *(uint64_t *)result = task->index * 7 + 3;
    return 0;
}

static void *stop_from_outside(void *p) {
    (void)p;
    int pid = lkt_await_pid(&ctl->blocked_pid, 20);
    CHECK_MSG(pid > 0, "the item to stop from outside never started");
    CHECK(kill(pid, SIGSTOP) == 0);
    return NULL;
}

static void reset(void) {
    atomic_store(&ctl->stop_at, -1);
    atomic_store(&ctl->block_at, -1);
    atomic_store(&ctl->blocked_pid, 0);
    for (int i = 0; i < N; i++) atomic_store(&ctl->runs[i], 0);
}

static void full_map(lk_invoker *inv, const char *what) {
    static uint64_t results[N];
    static int32_t status[N];
    reset();
    lk_map_options mo = lkt_with_status(status);
    lk_status s = lk_invoker_map_with(inv, NULL, N, 0, results, sizeof results[0], &mo);
    CHECK_MSG(s == LK_OK, "%s: the next map gave %d: %s", what, (int)s, lk_last_error());
    for (int i = 0; i < N; i++) CHECK(status[i] == 0 && results[i] == (uint64_t)i * 7 + 3);
}

static void run(int n_jobs, int keep_going, int from_outside) {
    char what[128];
    snprintf(what, sizeof what, "n_jobs %d, %s, %s", n_jobs, keep_going ? "keep-going" : "fail-fast",
             from_outside ? "stopped from outside" : "stops itself");
    lk_invoker_options o = lkt_options_on(LK_BACKEND_PROCESSES, n_jobs);
    o.error_mode = keep_going ? LK_ERRORS_KEEP_GOING : LK_ERRORS_FAIL_FAST;
    o.item_timeout_ms = LIMIT_MS;
    lk_invoker *inv = NULL;
    lk_status made = lk_invoker_new_with(ctl, op, &o, &inv);
    CHECK_MSG(made == LK_OK, "%s: a process invoker with item_timeout_ms %d: status %d: %s", what, LIMIT_MS,
              (int)made, lk_last_error());
    full_map(inv, what);

    static uint64_t results[N];
    static int32_t status[N];
    const int at = 77;
    reset();
    memset(results, 0, sizeof results);
    pthread_t t;
    if (from_outside) {
        atomic_store(&ctl->block_at, at);
        CHECK(pthread_create(&t, NULL, stop_from_outside, NULL) == 0);
    } else {
        atomic_store(&ctl->stop_at, at);
    }
    lk_map_options mo = lkt_with_status(status);
    char guard[192];
    snprintf(guard, sizeof guard, "%s: the map with a stopped worker (item_timeout_ms %d)", what, LIMIT_MS);
    ht_guard_start(LIMIT_MS / 1000.0 + 10, guard);
    double t0 = lkt_now();
    lk_status s = lk_invoker_map_with(inv, NULL, N, 0, results, sizeof results[0], &mo);
    double took = lkt_now() - t0;
    ht_guard_end();
    if (from_outside) CHECK(pthread_join(t, NULL) == 0);
    printf("%s: %d after %.2f s: %s\n", what, (int)s, took, lk_last_error());
    CHECK_MSG(s == LK_ERR_TIMEOUT, "%s: the map gave %d: %s", what, (int)s, lk_last_error());
    CHECK_ERROR_HAS_NUMBER(at);
    CHECK_ERROR_HAS_NUMBER(LIMIT_MS);
    CHECK_MSG(took >= LIMIT_MS / 1000.0 * 0.9 && took < LIMIT_MS / 1000.0 + 5.0, "%s: returned after %.2f s", what,
              took);
    CHECK_MSG(status[at] == LK_ITEM_TIMED_OUT, "%s: item %d has status %d", what, at, (int)status[at]);
    for (int i = 0; i < N; i++) {
        if (i == at) continue;
        if (keep_going) {
            CHECK_MSG(status[i] == 0 && results[i] == (uint64_t)i * 7 + 3, "%s: item %d: status %d", what, i,
                      (int)status[i]);
            CHECK(atomic_load(&ctl->runs[i]) == 1);
        } else {
            CHECK_MSG(status[i] == LK_ITEM_SKIPPED || (status[i] == 0 && results[i] == (uint64_t)i * 7 + 3),
                      "%s: item %d: status %d", what, i, (int)status[i]);
        }
    }
    /* The stopped worker was replaced: the next maps run in full. */
    full_map(inv, what);
    full_map(inv, what);
    lkt_shutdown_reaped(inv);
}

int main(void) {
    ctl = (ctl_t *)lkt_begin_crash_test(110, sizeof *ctl);

    /* Threads cannot be killed: a limit there is refused. */
    lk_invoker_options o = lkt_options_on(LK_BACKEND_THREADS, 2);
    o.item_timeout_ms = LIMIT_MS;
    lk_invoker *inv = (lk_invoker *)(uintptr_t)0x1234;
    CHECK_FAIL(lk_invoker_new_with(ctl, op, &o, &inv), LK_ERR_UNSUPPORTED);
    CHECK(inv == (lk_invoker *)(uintptr_t)0x1234);

    for (int n_jobs = 1; n_jobs <= 2; n_jobs++)
        for (int keep_going = 0; keep_going < 2; keep_going++)
            for (int outside = 0; outside < 2; outside++) run(n_jobs, keep_going, outside);
    printf("hardening_fault_procs_stopped_worker: ok\n");
    return 0;
}
