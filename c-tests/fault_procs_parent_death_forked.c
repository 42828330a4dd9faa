/* Workers die with the parent also when the parent has forked a plain child
 * of its own that outlives it (as a fork-based multiprocessing pool, or any
 * fork() without exec, would): a forked "host" process makes a process
 * invoker (n_jobs 2), runs a map in which the workers publish their pids in
 * a shared page, then forks a child that just pauses, and sits idle. The
 * test SIGKILLs the host (not the host's child); within 3 s no worker and no
 * zygote (the workers' parent, read from /proc/<worker>/stat field 4) may be
 * left alive. (fault_procs_parent_death covers hosts without such a child.) */
#include "procstest.h"

enum { JOBS = 2 };

typedef struct {
    atomic_int pid_of[JOBS];
    atomic_int other_child; /* the host's own forked child */
} ctl_t;

static ctl_t *ctl;

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    (void)result;
    if (task->worker < JOBS) atomic_store(&ctl->pid_of[task->worker], (int)getpid());
    lkt_sleep_us(2000);
    return 0;
}

static void host(int ready_fd) {
    lkt_watchdog(30);
    lk_invoker *inv = pt_new(NULL, op, JOBS);
    CHECK_CHILD(lk_invoker_map(inv, NULL, 100, 0, NULL, 0) == LK_OK);
    pid_t other = fork();
    CHECK_CHILD(other >= 0);
    if (other == 0) {
        lkt_watchdog(30);
        for (;;) pause();
    }
    atomic_store(&ctl->other_child, (int)other);
    char c = 'r';
    CHECK_CHILD(write(ready_fd, &c, 1) == 1);
    for (;;) pause();
}

int main(void) {
    lkt_watchdog(30);
    ctl = (ctl_t *)lkt_shared(sizeof *ctl);
    int fds[2];
    CHECK(pipe(fds) == 0);
    fflush(NULL);
    pid_t h = fork();
    CHECK(h >= 0);
    if (h == 0) {
        close(fds[0]);
        host(fds[1]);
        _exit(4);
    }
    close(fds[1]);
    char c = 0;
    CHECK(read(fds[0], &c, 1) == 1);
    close(fds[0]);
    pid_t other = (pid_t)atomic_load(&ctl->other_child);
    pid_t all[JOBS + 1];
    for (int k = 0; k < JOBS; k++) {
        all[k + 1] = (pid_t)atomic_load(&ctl->pid_of[k]);
        CHECK(all[k + 1] > 0 && lkt_alive(all[k + 1]));
    }
    all[0] = lkt_parent_of(all[1]);
    CHECK(all[0] > 1 && all[0] != other);
    CHECK(lkt_parent_of(all[2]) == all[0]);
    printf("host %d, its child %d, zygote %d, workers %d %d\n", (int)h, (int)other, (int)all[0], (int)all[1],
           (int)all[2]);

    CHECK(kill(h, SIGKILL) == 0);
    int status = 0;
    CHECK(waitpid(h, &status, 0) == h);
    double t0 = lkt_now();
    const char *what[JOBS + 1] = {"the zygote", "worker 0", "worker 1"};
    int failed = 0;
    for (int k = 0; k <= JOBS; k++) {
        double left = 3.0 - (lkt_now() - t0);
        if (!lkt_wait_dead(all[k], left > 0 ? left : 0)) {
            fprintf(stderr, "%s (pid %d) outlived its killed host by 3 s (the host's own child %d still runs)\n",
                    what[k], (int)all[k], (int)other);
            failed = 1;
        }
    }
    for (int k = 0; k <= JOBS; k++) kill(all[k], SIGKILL);
    kill(other, SIGKILL);
    CHECK(!failed);
    printf("every worker and the zygote gone %.3f s after the host was killed\n", lkt_now() - t0);
    printf("fault_procs_parent_death_forked: ok\n");
    return 0;
}
