/* One rank is SIGKILLed in the middle of a map: the launcher must end the
 * job (non-zero) promptly and leave no process behind (kill_rank.sh checks). */
#define _POSIX_C_SOURCE 200809L /* sigaction, kill, nanosleep, clock_gettime */
#include <signal.h>
#include <unistd.h>

#include "mpitest.h"

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    (void)result;
    if (mt_rank == mt_size - 1 && task->index == (size_t)(1000 * (mt_size - 1) / mt_size + 50))
        kill(getpid(), SIGKILL);
    mt_sleep_us(1000);
    return 0;
}

int main(int argc, char **argv) {
    mt_init(&argc, &argv);
    lk_comm *comm = mt_comm();
    lk_invoker_options o = mt_options(comm, 1);
    lk_invoker *inv = mt_new_with(NULL, op, &o);
    lk_status st = lk_invoker_map(inv, NULL, 1000, 0, NULL, 0);
    /* Not reached on the killed rank; the others wait in a collective until
       the launcher ends them. Reaching here is a failure. */
    fprintf(stderr, "[rank %d] the map returned %d after a rank died: %s\n", mt_rank, (int)st, lk_last_error());
    return 3;
}
