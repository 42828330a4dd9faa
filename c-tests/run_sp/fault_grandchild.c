/* A child that forks a grandchild (which inherits every descriptor the
 * child had, the control pipe and the result memfd included) and then
 * answers, fails or dies: lk_run_sp returns as soon as the child is done;
 * it does not wait for the grandchild to close the pipe. */
#include "sptest.h"

static int pid_pipe[2];

static int32_t spawn_and(const void *arg, lk_buffer *out) {
    int how = *(const int *)arg;
    pid_t g = fork();
    if (g < 0) return 50;
    if (g == 0) {
        /* The grandchild: lingers for 30 s holding whatever it inherited. */
        lkt_sleep_us(30000 * 1000L);
        _exit(0);
    }
    if (write(pid_pipe[1], &g, sizeof g) != (ssize_t)sizeof g) return 51;
    SPT_APPEND(out, "answer", 6);
    if (how == 1) return 6;
    if (how == 2) raise(SIGKILL);
    return 0;
}

/* The grandchild is not our child (it was the run_sp child's): kill it;
 * init (or a subreaper) reaps it. */
static void kill_grandchild(void) {
    pid_t g = 0;
    CHECK(read(pid_pipe[0], &g, sizeof g) == (ssize_t)sizeof g);
    CHECK(g > 0);
    CHECK(kill(g, SIGKILL) == 0);
}

static void run(int how, lk_status expected, int with_options) {
    lk_buffer res = spt_empty();
    lk_sp_options opts;
    lk_sp_options_init(&opts, sizeof opts);
    opts.timeout_ms = 10000;
    double t0 = lkt_now();
    lk_status s = with_options ? lk_run_sp_with(spawn_and, &how, &opts, &res) : lk_run_sp(spawn_and, &how, &res);
    double took = lkt_now() - t0;
    kill_grandchild();
    CHECK_STATUS(s, expected);
    CHECK(took < 3.0);
    if (expected == LK_OK) {
        CHECK(res.len == 6 && memcmp(res.data, "answer", 6) == 0);
        lk_buffer_free(&res);
    } else {
        CHECK(spt_is_zero(&res));
    }
    lkt_check_no_children();
}

int main(void) {
    lkt_watchdog(20);
    CHECK(pipe(pid_pipe) == 0);
    for (int with_options = 0; with_options < 2; with_options++) {
        run(0, LK_OK, with_options);
        run(1, LK_ERR_CALLBACK, with_options);
        run(2, LK_ERR_WORKER_DIED, with_options);
    }
    printf("run_sp_fault_grandchild: ok\n");
    return 0;
}
