/* LK_ERR_UNSUPPORTED: "not available on this platform or in this context".
 * On Linux every backend and lk_run_sp exist, so the documented cases are
 * those of distributed invokers, reached here through a one-rank
 * communicator table written in C (no MPI needed):
 *  - the process backend with a communicator;
 *  - LK_SCHEDULE_DYNAMIC on a table without fetch_add;
 *  - a distributed map, or making a distributed invoker, from inside a
 *    callback;
 *  - lk_comm_abort on a table without abort.
 * Each sets a message, writes no output, and leaves the invoker usable. */
#include "lktest.h"

static lk_comm *g_comm;
static lk_invoker *g_dist;

/* The items of every map here: lkt_slow_item, without sleeping. */
static lkt_slow quick;

/* A callback of a local invoker that tries distributed calls. */
static int32_t nested(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    (void)task;
    uint64_t r[4] = {0, 0, 0, 0};
    int32_t bad = 0;
    if (lk_invoker_map(g_dist, NULL, 4, 0, r, sizeof r[0]) != LK_ERR_UNSUPPORTED) bad |= 1;
    if (lk_last_error()[0] == '\0' || r[0] != 0) bad |= 2;
    lk_invoker_options o;
    lk_invoker_options_init(&o, sizeof o);
    o.n_jobs = 1;
    o.comm = g_comm;
    lk_invoker *inv = NULL;
    if (lk_invoker_new_with(&quick, lkt_slow_item, &o, &inv) != LK_ERR_UNSUPPORTED) bad |= 4;
    if (lk_last_error()[0] == '\0' || inv != NULL) bad |= 8;
    *(int32_t *)result = bad;
    return 0;
}

int main(void) {
    lkt_watchdog(60);
    static lkt_table table;
    lk_comm_ops ops = lkt_table_ops(&table);
    ops.fetch_add = NULL; /* no fetch_add, no abort, no release */
    ops.release = NULL;
    CHECK_OK(lk_comm_new(&ops, &g_comm));

    CHECK_FAIL(lk_comm_abort(g_comm, 3), LK_ERR_UNSUPPORTED);

    lk_invoker_options o;
    lk_invoker_options_init(&o, sizeof o);
    o.n_jobs = 2;
    o.comm = g_comm;
    o.backend = LK_BACKEND_PROCESSES;
    lk_invoker *procs = (lk_invoker *)(uintptr_t)0x5e5e5e50;
    CHECK_FAIL(lk_invoker_new_with(&quick, lkt_slow_item, &o, &procs), LK_ERR_UNSUPPORTED);
    CHECK(procs == (lk_invoker *)(uintptr_t)0x5e5e5e50);

    o.backend = LK_BACKEND_THREADS;
    CHECK_OK(lk_invoker_new_with(&quick, lkt_slow_item, &o, &g_dist));
    enum { N = 100 };
    uint64_t r[N];
    memset(r, 0, sizeof r);
    lk_map_options mo;
    lk_map_options_init(&mo, sizeof mo);
    mo.schedule = LK_SCHEDULE_DYNAMIC;
    CHECK_FAIL(lk_invoker_map_with(g_dist, NULL, N, 0, r, sizeof r[0], &mo), LK_ERR_UNSUPPORTED);
    for (int i = 0; i < N; i++) CHECK(r[i] == 0);

    lk_invoker *local = NULL;
    CHECK_OK(lk_invoker_new(NULL, nested, 2, &local));
    int32_t bad[8];
    CHECK_OK(lk_invoker_map(local, NULL, 8, 0, bad, sizeof bad[0]));
    for (int i = 0; i < 8; i++) CHECK_MSG(bad[i] == 0, "item %d: flags %d", i, bad[i]);
    CHECK_OK(lk_invoker_shutdown(local));

    /* Still usable. */
    CHECK_OK(lk_invoker_map(g_dist, NULL, N, 0, r, sizeof r[0]));
    for (int i = 0; i < N; i++) CHECK(r[i] == lkt_slow_result(i));
    CHECK_OK(lk_invoker_shutdown(g_dist));
    CHECK_OK(lk_comm_free(g_comm));
    printf("reliability_fault_status_unsupported: ok\n");
    return 0;
}
