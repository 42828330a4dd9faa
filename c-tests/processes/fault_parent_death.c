/* Workers die with the parent (no orphans): a forked "host" process makes a
 * process invoker (n_jobs 2), runs a map in which the workers publish their
 * pids in a shared page, and then (a) sits idle, (b) is in the middle of a
 * long map on its main thread, (c) is in a long map on a second thread, or
 * (d) forks a plain child of its own that outlives it (as a fork-based
 * multiprocessing pool, or any fork() without exec, would) and sits idle.
 * The test SIGKILLs the host (not the host's child); within 3 s no worker
 * and no zygote (the workers' parent, read from /proc/<worker>/stat field 4)
 * may be left alive.
 *
 *   fault_parent_death [idle|main-map|thread-map|forked ...]   (default: all) */
#include "procstest.h"

enum { JOBS = 2, N_LONG = 1000000 };

typedef struct {
    atomic_int pid_of[JOBS];
    atomic_int in_long_map;
    atomic_int other_child; /* (d): the host's own forked child */
} ctl_t;

static ctl_t *ctl;

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    (void)result;
    if (task->worker < JOBS) atomic_store(&ctl->pid_of[task->worker], (int)getpid());
    if (task->index >= 100) {
        atomic_store(&ctl->in_long_map, 1);
        lkt_sleep_us(1000);
    } else {
        lkt_sleep_us(2000);
    }
    return 0;
}

static void *long_map(void *p) {
    lk_invoker *inv = (lk_invoker *)p;
    lk_invoker_map(inv, NULL, N_LONG, 0, NULL, 0);
    _exit(5); /* never reached in time */
    return NULL;
}

enum { IDLE, MAIN_MAP, THREAD_MAP, FORKED, MODES };
static const char *mode_arg[] = {"idle", "main-map", "thread-map", "forked"};
static const char *mode_name[] = {"idle host", "host in a map", "host in a map on a second thread",
                                  "idle host with a child of its own"};

static void host(int mode, int ready_fd) {
    lkt_watchdog(30);
    lk_invoker *inv = pt_new(NULL, op, JOBS);
    /* a first map: every worker publishes its pid */
    CHECK_CHILD(lk_invoker_map(inv, NULL, 100, 0, NULL, 0) == LK_OK);
    if (mode == FORKED) {
        pid_t other = fork();
        CHECK_CHILD(other >= 0);
        if (other == 0) {
            lkt_watchdog(30);
            for (;;) pause();
        }
        atomic_store(&ctl->other_child, (int)other);
    }
    if (mode == IDLE || mode == FORKED) {
        char c = 'r';
        CHECK_CHILD(write(ready_fd, &c, 1) == 1);
        for (;;) pause();
    }
    char c = 'r';
    CHECK_CHILD(write(ready_fd, &c, 1) == 1);
    if (mode == MAIN_MAP) long_map(inv);
    pthread_t th;
    CHECK_CHILD(pthread_create(&th, NULL, long_map, inv) == 0);
    for (;;) pause();
}

static void run(int mode) {
    memset(ctl, 0, sizeof *ctl);
    int fds[2];
    CHECK(pipe(fds) == 0);
    fflush(NULL);
    pid_t h = fork();
    CHECK(h >= 0);
    if (h == 0) {
        close(fds[0]);
        host(mode, fds[1]);
        _exit(4);
    }
    close(fds[1]);
    char c = 0;
    CHECK(read(fds[0], &c, 1) == 1);
    close(fds[0]);
    if (mode == MAIN_MAP || mode == THREAD_MAP) {
        double t0 = lkt_now();
        while (!atomic_load(&ctl->in_long_map) && lkt_now() - t0 < 10) lkt_sleep_us(1000);
        CHECK(atomic_load(&ctl->in_long_map));
        lkt_sleep_us(50000);
    }
    pid_t workers[JOBS];
    for (int k = 0; k < JOBS; k++) {
        workers[k] = atomic_load(&ctl->pid_of[k]);
        CHECK(workers[k] > 0 && workers[k] != h);
        CHECK_MSG(lkt_alive(workers[k]), "worker %d (pid %d) is not running", k, (int)workers[k]);
    }
    pid_t other = (pid_t)atomic_load(&ctl->other_child);
    pid_t zygote = lkt_parent_of(workers[0]);
    CHECK(zygote > 1 && zygote != other);
    CHECK(lkt_parent_of(workers[1]) == zygote);
    printf("%s: host %d, its child %d, zygote %d (parent %d), workers %d %d\n", mode_name[mode], (int)h,
           (int)other, (int)zygote, (int)lkt_parent_of(zygote), (int)workers[0], (int)workers[1]);

    CHECK(kill(h, SIGKILL) == 0);
    int status = 0;
    CHECK(waitpid(h, &status, 0) == h);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    double t0 = lkt_now();
    pid_t all[JOBS + 1] = {zygote, workers[0], workers[1]};
    const char *what[JOBS + 1] = {"the zygote", "worker 0", "worker 1"};
    int failed = 0;
    for (int k = 0; k <= JOBS; k++) {
        double left = 3.0 - (lkt_now() - t0);
        if (!lkt_wait_dead(all[k], left > 0 ? left : 0)) {
            fprintf(stderr, "%s: %s (pid %d) outlived its killed host by 3 s\n", mode_name[mode], what[k],
                    (int)all[k]);
            failed = 1;
        }
    }
    for (int k = 0; k <= JOBS; k++) kill(all[k], SIGKILL);
    if (other > 0) kill(other, SIGKILL); /* it was reparented: not ours to reap */
    CHECK(!failed);
    printf("%s: every worker and the zygote gone %.3f s after the host was killed\n", mode_name[mode],
           lkt_now() - t0);
    lkt_check_no_children();
}

int main(int argc, char **argv) {
    lkt_watchdog(50);
    ctl = (ctl_t *)lkt_shared(sizeof *ctl);
    for (int a = 1; a < argc; a++) {
        int known = 0;
        for (int mode = 0; mode < MODES; mode++) known |= strcmp(argv[a], mode_arg[mode]) == 0;
        CHECK_MSG(known, "unknown mode %s", argv[a]);
    }
    for (int mode = 0; mode < MODES; mode++) {
        int chosen = argc <= 1;
        for (int a = 1; a < argc; a++) chosen |= strcmp(argv[a], mode_arg[mode]) == 0;
        if (chosen) run(mode);
    }
    printf("processes_fault_parent_death: ok\n");
    return 0;
}
