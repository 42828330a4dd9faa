/* Built against an installed lkparallel through lkparallel::mpi and run at
 * np 3: a distributed map whose results every rank checks. */
#include <stdio.h>

#include <lkparallel_mpi.h>

static int32_t square(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)task;
    *(int64_t *)result = *(const int64_t *)arg * *(const int64_t *)arg;
    return 0;
}

int main(int argc, char **argv) {
    int provided, rank, size;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    enum { N = 10000 };
    static int64_t args[N], out[N];
    for (int i = 0; i < N; i++)
        args[i] = i;
    lk_comm *comm = NULL;
    lk_invoker *inv = NULL;
    lk_invoker_options o;
    lk_invoker_options_init(&o, sizeof o);
    int bad = lk_mpi_comm_new(MPI_COMM_WORLD, &comm) != LK_OK;
    o.comm = comm;
    o.n_jobs = 2;
    bad = bad || lk_invoker_new_with(NULL, square, &o, &inv) != LK_OK;
    bad = bad || lk_invoker_map(inv, args, N, sizeof *args, out, sizeof *out) != LK_OK;
    for (int i = 0; !bad && i < N; i++)
        bad = out[i] != (int64_t)i * i;
    if (bad)
        fprintf(stderr, "[rank %d] failed: %s\n", rank, lk_last_error());
    lk_invoker_shutdown(inv);
    lk_comm_free(comm);
    if (rank == 0 && !bad)
        printf("mpi_consumer: %d items squared on %d ranks through lkparallel::mpi\n", N, size);
    MPI_Finalize();
    return bad;
}
