/* lk_run_sp called from inside invoker callbacks (an n_jobs 2 pool, and an
 * n_jobs 1 invoker): each item gets its own child's result. */
#include "sptest.h"

enum { N = 24 };

static int32_t square_in_child(const void *arg, lk_buffer *out) {
    uint64_t v = *(const uint64_t *)arg;
    uint64_t r[2] = {v * v + 1, (uint64_t)getpid()};
    SPT_APPEND(out, r, sizeof r);
    return 0;
}

static int32_t item(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)task;
    lk_buffer res = spt_empty();
    if (lk_run_sp(square_in_child, arg, &res) != LK_OK) return 1;
    if (res.len != 2 * sizeof(uint64_t)) return 2;
    uint64_t r[2];
    memcpy(r, res.data, sizeof r);
    lk_buffer_free(&res);
    if (r[1] == (uint64_t)getpid()) return 3; /* it ran in another process */
    *(uint64_t *)result = r[0];
    /* A failing child inside a callback is reported to the callback. */
    if (lk_run_sp(spt_child, spt_end_arg(SPT_FAIL), &res) != LK_ERR_CALLBACK) return 4;
    return 0;
}

static void run(int32_t n_jobs) {
    lk_invoker *inv = NULL;
    CHECK_OK(lk_invoker_new(NULL, item, n_jobs, &inv));
    uint64_t args[N], results[N];
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < N; i++) {
            args[i] = (uint64_t)(i + 100 * round);
            results[i] = 0;
        }
        CHECK_OK(lk_invoker_map(inv, args, N, sizeof args[0], results, sizeof results[0]));
        for (int i = 0; i < N; i++) CHECK(results[i] == args[i] * args[i] + 1);
    }
    CHECK_OK(lk_invoker_shutdown(inv));
}

int main(void) {
    lkt_watchdog(20);
    run(2);
    run(1);
    run(4);
    lkt_check_no_children();
    printf("run_sp_api_in_callback: ok\n");
    return 0;
}
