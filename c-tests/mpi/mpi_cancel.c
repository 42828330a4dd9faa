/* Cancellation on one rank cancels the map on all.
 *
 *   mpi_cancel callback   the last rank calls lk_invoker_cancel from a callback;
 *                         every rank returns LK_ERR_CANCELLED, promptly, with
 *                         every schedule; the next map works.
 *   mpi_cancel signal F   the documented way: every rank has a SIGUSR1 handler
 *                         that calls lk_invoker_cancel; rank 0 creates file F
 *                         once the map runs, and the launcher sends SIGUSR1 to
 *                         mpirun, which forwards it to every rank.
 */
#define _POSIX_C_SOURCE 200809L /* sigaction, kill, nanosleep, clock_gettime */
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include "mpitest.h"

static lk_invoker *volatile g_inv = NULL;
static const char *g_ready = NULL;
static volatile int g_cancel_from = -1; /* this rank cancels at items >= this */

static void on_usr1(int sig) {
    (void)sig;
    lk_invoker_cancel(g_inv);
}

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    (void)result;
    if (g_ready && task->index == 0) {
        int fd = open(g_ready, O_WRONLY | O_CREAT, 0644);
        if (fd >= 0)
            close(fd);
    }
    if (g_cancel_from >= 0 && task->index >= (size_t)g_cancel_from)
        lk_invoker_cancel(g_inv);
    mt_sleep_us(2000);
    return 0;
}

int main(int argc, char **argv) {
    mt_init(&argc, &argv);
    CHECK(argc >= 2);
    int signal_mode = strcmp(argv[1], "signal") == 0;
    lk_comm *comm = mt_comm();
    lk_invoker_options o = mt_options(comm, 2);
    lk_invoker *inv = mt_new_with(NULL, op, &o);
    g_inv = inv;
    if (signal_mode) {
        CHECK(argc >= 3);
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_usr1; /* no SA_RESTART: lkparallel retries EINTR itself */
        sigemptyset(&sa.sa_mask);
        CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
        if (mt_rank == 0)
            g_ready = argv[2];
        /* 20 s of work per rank unless cancelled. */
        double t0 = mt_now();
        CHECK_STATUS(lk_invoker_map(inv, NULL, (size_t)mt_size * 20000, 0, NULL, 0), LK_ERR_CANCELLED);
        CHECK(mt_now() - t0 < 10.0);
        g_ready = NULL;
    } else {
        const int32_t schedules[] = {LK_SCHEDULE_BLOCK, LK_SCHEDULE_CYCLIC, LK_SCHEDULE_DYNAMIC};
        size_t n = (size_t)mt_size * 400; /* 400 ms per rank at 2 threads */
        for (int s = 0; s < 3; s++) {
            lk_map_options mo;
            lk_map_options_init(&mo, sizeof mo);
            mo.schedule = schedules[s];
            /* The last rank cancels at its first item past 5% of the map. */
            g_cancel_from = mt_rank == mt_size - 1 ? (int)(n / 20) : -1;
            if (schedules[s] == LK_SCHEDULE_BLOCK)
                g_cancel_from = mt_rank == mt_size - 1 ? (int)(n * (size_t)(mt_size - 1) / (size_t)mt_size) : -1;
            double t0 = mt_now();
            CHECK_STATUS(lk_invoker_map_with(inv, NULL, n, 0, NULL, 0, &mo), LK_ERR_CANCELLED);
            double t = mt_now() - t0;
            mt_same_message_everywhere(lk_last_error());
            if (mt_size > 1)
                CHECK(t < 0.3); /* the others stop within a few items, not after their 400 ms share */
            g_cancel_from = -1;
            CHECK_OK(lk_invoker_map_with(inv, NULL, 10, 0, NULL, 0, &mo)); /* not sticky */
        }
    }
    char name[64];
    snprintf(name, sizeof name, "mpi_cancel %s", argv[1]);
    return mt_finish(inv, comm, name);
}
