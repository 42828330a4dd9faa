/* Records logged on ranks >= 1 during a map reach rank 0's callback, once
 * each, tagged with their rank, before the map returns; not their own. */
#include "mpitest.h"

static int hellos = 0;
static char seen[8][128];

static void on_log(lk_log_level level, const char *target, const char *message, void *user) {
    (void)level;
    (void)target;
    (void)user;
    if (strstr(message, "hello from item") && hellos < 8)
        snprintf(seen[hellos++], sizeof seen[0], "%s", message);
}

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    (void)result;
    /* One record from each rank >= 1: the first item of its BLOCK share. */
    int size = *(const int *)model;
    size_t first = 0;
    for (int r = 1; r < size; r++) {
        first = (size_t)(100 * r / size);
        if (task->index == first) {
            char msg[64];
            snprintf(msg, sizeof msg, "hello from item %zu", task->index);
            lk_log(LK_LOG_INFO, msg);
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    mt_init(&argc, &argv);
    lk_set_log_callback(on_log, NULL, LK_LOG_INFO); /* every rank: ranks >= 1 must not see their records */
    lk_comm *comm = mt_comm();
    lk_invoker_options o = mt_options(comm, 2);
    lk_invoker *inv = mt_new_with(&mt_size, op, &o);
    CHECK_OK(lk_invoker_map(inv, NULL, 100, 0, NULL, 0));
    if (mt_rank == 0) {
        CHECK(hellos == mt_size - 1);
        for (int r = 1; r < mt_size; r++) {
            char want[64];
            snprintf(want, sizeof want, "[rank %d] hello from item %d", r, 100 * r / mt_size);
            int found = 0;
            for (int k = 0; k < hellos; k++)
                found += strcmp(seen[k], want) == 0;
            CHECK(found == 1);
        }
    } else {
        CHECK(hellos == 0);
    }
    /* Nothing logged: nothing arrives (and no extra collective is needed). */
    hellos = 0;
    CHECK_OK(lk_invoker_map(inv, NULL, 0, 0, NULL, 0));
    CHECK(hellos == 0);
    lk_set_log_callback(NULL, NULL, LK_LOG_INFO);
    return mt_finish(inv, comm, "mpi_logs");
}
