/* The communicator table without MPI: a one-rank table written in C
 * (lkt_table_ops in lktest.h), with a counter and failure injection. Checks
 * lk_comm_new's validation, a distributed map through the table (seeds
 * equal to a local map's), a failing operation giving LK_ERR_COMM and a
 * broken invoker, release once. */
#include "lktest.h"

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    uint64_t *r = (uint64_t *)result;
    r[0] = *(const uint64_t *)arg * 2;
    r[1] = task->seed;
    return 0;
}

int main(void) {
    lkt_watchdog(60);
    lkt_table c;
    lk_comm_ops ops = lkt_table_ops(&c);
    lk_comm *comm = (lk_comm *)(uintptr_t)0x1234;

    /* Bad tables: refused, nothing written, ctx not released. */
    lk_comm_ops bad = ops;
    bad.allgather = NULL;
    CHECK_STATUS(lk_comm_new(&bad, &comm), LK_ERR_INVALID);
    CHECK(strstr(lk_last_error(), "allgather") != NULL);
    bad = ops;
    bad.rank = 1;
    CHECK_STATUS(lk_comm_new(&bad, &comm), LK_ERR_INVALID);
    bad = ops;
    bad.size = 0;
    CHECK_STATUS(lk_comm_new(&bad, &comm), LK_ERR_INVALID);
    bad = ops;
    bad.struct_size = 8;
    CHECK_STATUS(lk_comm_new(&bad, &comm), LK_ERR_INVALID);
    CHECK_STATUS(lk_comm_new(NULL, &comm), LK_ERR_INVALID);
    CHECK_STATUS(lk_comm_new(&ops, NULL), LK_ERR_INVALID);
    CHECK(comm == (lk_comm *)(uintptr_t)0x1234);
    CHECK(c.releases == 0);
    CHECK(lk_comm_rank(NULL) == -1 && lk_comm_size(NULL) == -1);
    CHECK_OK(lk_comm_free(NULL));

    CHECK_OK(lk_comm_new(&ops, &comm));
    CHECK(lk_comm_rank(comm) == 0 && lk_comm_size(comm) == 1);
    CHECK_STATUS(lk_comm_abort(comm, 1), LK_ERR_UNSUPPORTED); /* no abort in this table */

    /* A distributed invoker on one rank is a local map with the same seeds. */
    lk_seed_init(7);
    lk_invoker_options o;
    lk_invoker_options_init(&o, sizeof o);
    o.n_jobs = 2;
    o.comm = comm;
    lk_invoker *inv = NULL;
    CHECK_OK(lk_invoker_new_with(NULL, op, &o, &inv));
    CHECK(c.collective_calls == 2); /* creation: two allgathers */
    enum { N = 1000 };
    static uint64_t args[N], got[N][2], want[N][2];
    for (int i = 0; i < N; i++)
        args[i] = (uint64_t)i;
    lk_map_options mo;
    lk_map_options_init(&mo, sizeof mo);
    mo.schedule = LK_SCHEDULE_DYNAMIC;
    CHECK_OK(lk_invoker_map_with(inv, args, N, 8, got, 16, &mo));
    CHECK(c.counter >= N); /* chunks were claimed through fetch_add */
    lk_seed_init(7);
    lk_invoker *local = NULL;
    CHECK_OK(lk_invoker_new(NULL, op, 3, &local));
    CHECK_OK(lk_invoker_map(local, args, N, 8, want, 16));
    CHECK(memcmp(got, want, sizeof got) == 0);
    CHECK_OK(lk_invoker_shutdown(local));

    /* The process backend cannot be used with a communicator. */
    lk_invoker *procs = NULL;
    o.backend = LK_BACKEND_PROCESSES;
    CHECK_STATUS(lk_invoker_new_with(NULL, op, &o, &procs), LK_ERR_UNSUPPORTED);
    CHECK(procs == NULL);

    /* A failing operation: LK_ERR_COMM, and the invoker is broken after. */
    c.fail_at = c.calls;
    CHECK_STATUS(lk_invoker_map(inv, args, N, 8, got, 16), LK_ERR_COMM);
    CHECK(strstr(lk_last_error(), "communicator error") != NULL);
    int calls = c.calls;
    CHECK_STATUS(lk_invoker_map(inv, args, N, 8, got, 16), LK_ERR_COMM);
    CHECK(c.calls == calls); /* refused without touching the communicator */
    CHECK(strstr(lk_last_error(), "broken") != NULL);

    /* Adapters report their own failures through lk_last_error(). */
    CHECK_STATUS(lk_comm_report_failure("MPI_Comm_dup failed"), LK_ERR_COMM);
    CHECK(strcmp(lk_last_error(), "communicator error: MPI_Comm_dup failed") == 0);

    /* Freed while the invoker lives: released only when the invoker goes. */
    CHECK_OK(lk_comm_free(comm));
    CHECK_STATUS(lk_comm_free(comm), LK_ERR_INVALID);
    CHECK(c.releases == 0);
    CHECK_OK(lk_invoker_shutdown(inv));
    CHECK(c.releases == 1);
    printf("mpi_api_comm_table: ok\n");
    return 0;
}
