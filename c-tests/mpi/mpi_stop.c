/* A stop on one rank reaches every worker of every other rank within a few
 * items: 2 threads per rank, BLOCK and CYCLIC, a callback failure and an
 * lk_invoker_cancel on the last rank (not rank 0), a few items into its
 * first range. Each item notes when it started (CLOCK_MONOTONIC, one clock
 * for every rank on this machine); afterwards every rank counts the items
 * it started after the stop. Without the stop reaching it, a rank would run
 * its whole share: 1,000 items of 2 ms, about a second. */
#include "mpitest.h"

enum { N_PER_RANK = 1000, ITEM_US = 2000, LATE_MAX = 8 };

static lk_invoker *volatile g_inv = NULL;
static volatile size_t g_stop_index = SIZE_MAX; /* on the last rank only */
static volatile int g_cancel = 0;
static volatile double g_stopped_at = 0;
static double *g_started; /* per item: when it started, 0 if it did not */

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model, (void)arg, (void)result;
    double now = mt_now();
    g_started[task->index] = now;
    if (task->index == g_stop_index) {
        g_stopped_at = now;
        if (!g_cancel)
            return 9;
        lk_invoker_cancel(g_inv);
    }
    mt_sleep_us(ITEM_US);
    return 0;
}

int main(int argc, char **argv) {
    mt_init(&argc, &argv);
    CHECK(mt_size <= 64);
    size_t n = (size_t)mt_size * N_PER_RANK;
    g_started = (double *)calloc(n, sizeof(double));
    CHECK(g_started != NULL);
    lk_comm *comm = mt_comm();
    lk_invoker_options o = mt_options(comm, 2);
    lk_invoker *inv = mt_new_with(NULL, op, &o);
    g_inv = inv;
    const int32_t schedules[] = {LK_SCHEDULE_BLOCK, LK_SCHEDULE_CYCLIC};
    const char *names[] = {"BLOCK", "CYCLIC"};
    for (int s = 0; s < 2; s++) {
        for (int cancel = 0; cancel <= 1; cancel++) {
            lk_map_options mo;
            lk_map_options_init(&mo, sizeof mo);
            mo.schedule = schedules[s];
            memset(g_started, 0, n * sizeof(double));
            g_stopped_at = 0;
            g_cancel = cancel;
            g_stop_index = SIZE_MAX;
            if (mt_rank == mt_size - 1) {
                lk_index_range first;
                size_t count = 0;
                CHECK_OK(lk_invoker_owned_ranges(inv, n, &mo, &first, 1, &count, NULL));
                CHECK(count >= 1);
                g_stop_index = first.begin + 5;
            }
            double t0 = mt_now();
            CHECK_STATUS(lk_invoker_map_with(inv, NULL, n, 0, NULL, 0, &mo),
                         cancel ? LK_ERR_CANCELLED : LK_ERR_CALLBACK);
            double took = mt_now() - t0;
            mt_same_message_everywhere(lk_last_error());
            /* Every rank learns when the stop came, and counts its late items. */
            double stopped_at = g_stopped_at;
            MPI_Bcast(&stopped_at, 1, MPI_DOUBLE, mt_size - 1, MPI_COMM_WORLD);
            CHECK(stopped_at > 0);
            int late = 0, ran = 0;
            for (size_t i = 0; i < n; i++) {
                ran += g_started[i] > 0;
                late += g_started[i] > stopped_at;
            }
            int all_late[64] = {0}, all_ran[64] = {0};
            MPI_Gather(&late, 1, MPI_INT, all_late, 1, MPI_INT, 0, MPI_COMM_WORLD);
            MPI_Gather(&ran, 1, MPI_INT, all_ran, 1, MPI_INT, 0, MPI_COMM_WORLD);
            if (mt_rank == 0) {
                printf("np %d, 2 threads per rank, %s, %s on rank %d: items started after the stop:", mt_size,
                       names[s], cancel ? "cancel" : "failure", mt_size - 1);
                for (int r = 0; r < mt_size && r < 64; r++)
                    printf(" rank %d: %d (of %d run)", r, all_late[r], all_ran[r]);
                printf("; %.1f ms\n", took * 1e3);
                fflush(stdout);
            }
            if (late > LATE_MAX)
                fprintf(stderr, "[rank %d] %s %s: %d items started after the stop (%d ran, %.1f ms)\n", mt_rank,
                        names[s], cancel ? "cancel" : "failure", late, ran, took * 1e3);
            CHECK(late <= LATE_MAX);
        }
    }
    free(g_started);
    return mt_finish(inv, comm, "mpi_stop");
}
