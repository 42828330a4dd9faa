/* The run_sp child dies with its parent: a forked "host" runs lk_run_sp with
 * a child that sleeps; the test SIGKILLs the host and the child must be gone
 * within ~2 s (no orphan outlives a killed host). */
#include "sptest.h"

static int pid_pipe[2];

static int32_t sleeper(const void *arg, lk_buffer *out) {
    (void)arg;
    (void)out;
    pid_t me = getpid();
    if (write(pid_pipe[1], &me, sizeof me) != (ssize_t)sizeof me) return 5;
    for (;;) pause();
    return 0;
}

/* A sleeper that also ignores SIGTERM and SIGHUP (only SIGKILL ends it). */
static int32_t stubborn_sleeper(const void *arg, lk_buffer *out) {
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    return sleeper(arg, out);
}

static void run(lk_sp_fn fn, int from_thread);

static void *host_thread(void *arg) {
    lk_buffer res = spt_empty();
    lk_status s = lk_run_sp((lk_sp_fn)arg, NULL, &res);
    fprintf(stderr, "host: lk_run_sp returned %d: %s\n", (int)s, lk_last_error());
    _exit(3);
    return NULL;
}

static void run(lk_sp_fn fn, int from_thread) {
    CHECK(pipe(pid_pipe) == 0);
    pid_t host = fork();
    CHECK(host >= 0);
    if (host == 0) {
        close(pid_pipe[0]);
        lkt_watchdog(30);
        if (from_thread) {
            /* lk_run_sp on a second thread while the main thread lives on. */
            pthread_t t;
            CHECK(pthread_create(&t, NULL, host_thread, (void *)fn) == 0);
            for (;;) pause();
        }
        host_thread((void *)fn);
        _exit(4);
    }
    close(pid_pipe[1]);
    pid_t child = 0;
    CHECK(read(pid_pipe[0], &child, sizeof child) == (ssize_t)sizeof child);
    close(pid_pipe[0]);
    CHECK(child > 0 && child != host);
    CHECK(lkt_alive(child));

    CHECK(kill(host, SIGKILL) == 0);
    int status = 0;
    CHECK(waitpid(host, &status, 0) == host);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    double t0 = lkt_now();
    while (lkt_alive(child) && lkt_now() - t0 < 2.0) lkt_sleep_us(5 * 1000);
    if (lkt_alive(child)) {
        fprintf(stderr, "the run_sp child %d outlived its killed host by 2 s\n", (int)child);
        kill(child, SIGKILL);
        exit(1);
    }
    fprintf(stderr, "child %d gone %.3f s after its host was killed\n", (int)child, lkt_now() - t0);
    lkt_check_no_children();
}

int main(void) {
    lkt_watchdog(20);
    run(sleeper, 0);
    run(stubborn_sleeper, 0);
    run(sleeper, 1);
    printf("run_sp_fault_parent_death: ok\n");
    return 0;
}
