/* Finding 4: a process pool's zygote killed with SIGKILL does not break the
 * invoker. The map in flight returns LK_ERR_WORKER_DIED, promptly, with a
 * message that names the zygote; the next map forks a new zygote from the
 * process as it is then (so its workers see the model as it is now, not as
 * it was when the invoker was made; a warning saying so reaches the log
 * callback) and runs in full. The first release answered every later map
 * with LK_ERR_WORKER_DIED ("the invoker cannot run maps").
 *
 * The zygote is killed by one of its own workers (a callback), from another
 * thread of the host during a map, while the invoker is idle, and twice in a
 * row; n_jobs 1 and 3, fail-fast and keep-going. After shutdown no process
 * and no descriptor is left. */
#include "hardening/hardtest.h"

enum { N = 300, MAX_JOBS = 8 };

typedef struct ctl {
    atomic_int zygote;    /* a worker's parent, as the last callback saw it */
    atomic_int kill_at;   /* the item whose worker kills its zygote (once); -1 none */
    atomic_int started;   /* items started in this map */
    atomic_int slow;      /* 1: each item sleeps 1 ms (a map long enough to be hit) */
} ctl_t;

static ctl_t *ctl;

/* Ordinary memory: a worker sees it as its zygote's snapshot had it. */
typedef struct model {
    int version;
} model_t;

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)arg;
    const model_t *m = (const model_t *)model;
    atomic_store(&ctl->zygote, (int)getppid());
    atomic_fetch_add(&ctl->started, 1);
    if (lkt_take(&ctl->kill_at, task->index)) {
        kill(getppid(), SIGKILL);
        lkt_sleep_us(10 * 1000000L); /* this worker dies with its zygote */
    }
    if (atomic_load(&ctl->slow)) lkt_sleep_us(1000);
    *(uint64_t *)result = (uint64_t)m->version * 1000000 + task->index;
    return 0;
}

static uint64_t results[N];
static int32_t status[N];

/* A map that must succeed in full with the model at `version`. */
static void full_map(lk_invoker *inv, int version, const char *what) {
    atomic_store(&ctl->kill_at, -1);
    atomic_store(&ctl->slow, 0);
    memset(results, 0, sizeof results);
    lk_map_options mo = lkt_with_status(status);
    lk_status s = lk_invoker_map_with(inv, NULL, N, 0, results, sizeof results[0], &mo);
    CHECK_MSG(s == LK_OK, "%s: the map gave %d: %s", what, (int)s, lk_last_error());
    for (int i = 0; i < N; i++)
        CHECK_MSG(status[i] == 0 && results[i] == (uint64_t)version * 1000000 + (uint64_t)i,
                  "%s: item %d: status %d, result %" PRIu64 " (model version %d expected)", what, i, (int)status[i],
                  results[i], version);
}

/* A map during which the zygote dies: LK_ERR_WORKER_DIED naming it, within
 * a few seconds; every item either ran (its result right), was skipped, or
 * was lost with its worker. */
static void failing_map(lk_invoker *inv, int version, const char *what) {
    memset(results, 0, sizeof results);
    memset(status, 0x5A, sizeof status); /* every entry must be written */
    double t0 = lkt_now();
    lk_map_options mo = lkt_with_status(status);
    lk_status s = lk_invoker_map_with(inv, NULL, N, 0, results, sizeof results[0], &mo);
    double took = lkt_now() - t0;
    CHECK_MSG(s == LK_ERR_WORKER_DIED, "%s: the map gave %d: %s", what, (int)s, lk_last_error());
    CHECK_ERROR_HAS("zygote");
    CHECK_MSG(took < 8.0, "%s: the map took %.2f s to notice", what, took);
    for (int i = 0; i < N; i++) {
        if (status[i] == 0)
            CHECK_MSG(results[i] == (uint64_t)version * 1000000 + (uint64_t)i, "%s: item %d's result", what, i);
        else
            CHECK_MSG(status[i] == LK_ITEM_SKIPPED || status[i] == LK_ITEM_WORKER_DIED, "%s: item %d status %d",
                      what, i, (int)status[i]);
    }
}

/* The warning about the new snapshot reached the log callback. */
static void check_warned(const char *what) {
    pthread_mutex_lock(&lkt_log_mu);
    int found = 0;
    for (size_t i = 0; i < lkt_n_records && i < LKT_MAX_RECORDS; i++)
        if (lkt_records[i].level == LK_LOG_WARN && strstr(lkt_records[i].message, "zygote") &&
            strstr(lkt_records[i].message, "as it is now"))
            found = 1;
    pthread_mutex_unlock(&lkt_log_mu);
    CHECK_MSG(found, "%s: no warning that the new zygote snapshots the process as it is now", what);
    lkt_log_clear();
}

typedef struct killer {
    lk_invoker *inv;
} killer_t;

static void *kill_from_outside(void *p) {
    (void)p;
    while (atomic_load(&ctl->started) < 20) lkt_sleep_us(200);
    pid_t z = (pid_t)atomic_load(&ctl->zygote);
    CHECK(z > 0 && z != getpid());
    CHECK(kill(z, SIGKILL) == 0);
    return NULL;
}

static void run(int n_jobs, int keep_going) {
    char what[128];
    static model_t model;
    model.version = 1;
    lk_invoker_options o = lkt_options_on(LK_BACKEND_PROCESSES, n_jobs);
    o.error_mode = keep_going ? LK_ERRORS_KEEP_GOING : LK_ERRORS_FAIL_FAST;
    lk_invoker *inv = lkt_new_with(&model, op, &o);
    model.version = 2; /* after the snapshot */
    snprintf(what, sizeof what, "n_jobs %d %s: first map", n_jobs, keep_going ? "keep-going" : "fail-fast");
    full_map(inv, 1, what);
    pid_t first = (pid_t)atomic_load(&ctl->zygote);

    /* 1. A worker kills its own zygote mid-map. */
    snprintf(what, sizeof what, "n_jobs %d %s: killed by a worker", n_jobs, keep_going ? "keep-going" : "fail-fast");
    atomic_store(&ctl->slow, 1);
    atomic_store(&ctl->kill_at, 40);
    failing_map(inv, 1, what);
    lkt_log_clear();
    full_map(inv, 2, what);
    check_warned(what);
    pid_t second = (pid_t)atomic_load(&ctl->zygote);
    CHECK_MSG(second != first && !lkt_exists(first), "%s: the old zygote %d is still there", what, (int)first);

    /* 2. Killed from another thread of the host mid-map. */
    snprintf(what, sizeof what, "n_jobs %d %s: killed from outside", n_jobs, keep_going ? "keep-going" : "fail-fast");
    model.version = 3;
    atomic_store(&ctl->started, 0);
    atomic_store(&ctl->slow, 1);
    atomic_store(&ctl->kill_at, -1);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, kill_from_outside, NULL) == 0);
    failing_map(inv, 2, what);
    CHECK(pthread_join(t, NULL) == 0);
    full_map(inv, 3, what);
    check_warned(what);

    /* 3. Killed while the invoker is idle: the next map runs in full. */
    snprintf(what, sizeof what, "n_jobs %d %s: killed while idle", n_jobs, keep_going ? "keep-going" : "fail-fast");
    model.version = 4;
    pid_t z = (pid_t)atomic_load(&ctl->zygote);
    CHECK(kill(z, SIGKILL) == 0);
    CHECK(lkt_wait_dead(z, 5.0));
    lkt_sleep_us(20000); /* its workers follow it */
    full_map(inv, 4, what);
    check_warned(what);

    /* 4. Twice in a row: the replacement dies too, and is replaced again. */
    snprintf(what, sizeof what, "n_jobs %d %s: killed twice", n_jobs, keep_going ? "keep-going" : "fail-fast");
    model.version = 5;
    for (int rep = 0; rep < 2; rep++) {
        atomic_store(&ctl->slow, 1);
        atomic_store(&ctl->kill_at, 10 + rep);
        failing_map(inv, rep == 0 ? 4 : 5, what);
    }
    full_map(inv, 5, what);

    lkt_shutdown_reaped(inv);
}

int main(void) {
    ctl = (ctl_t *)lkt_begin_crash_test(110, sizeof *ctl);
    lk_set_log_callback(lkt_log_capture, NULL, LK_LOG_WARN);
    char fds_before[8192], fds_after[8192];
    lkt_fd_list(fds_before, sizeof fds_before);
    run(1, 0);
    run(3, 0);
    run(3, 1);
    lkt_fd_list(fds_after, sizeof fds_after);
    CHECK_MSG(strcmp(fds_before, fds_after) == 0, "descriptors changed:\n-- before:\n%s-- after:\n%s", fds_before,
              fds_after);
    lk_set_log_callback(NULL, NULL, LK_LOG_WARN);
    printf("hardening_fault_procs_zygote_killed: ok\n");
    return 0;
}
