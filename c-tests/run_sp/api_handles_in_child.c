/* Handles made by the parent are dead in a run_sp child (LK_ERR_INVALID from
 * map and shutdown, never a crash or a hang), and a new invoker made inside
 * the child works: the child returns the results of its own map. The
 * parent's invoker is unharmed. */
#include "sptest.h"

enum { N = 100 };

static int32_t plus_one(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)task;
    *(uint64_t *)result = *(const uint64_t *)arg + 1;
    return 0;
}

static int32_t times_seven(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)task;
    *(uint64_t *)result = *(const uint64_t *)arg * 7 + *(const uint64_t *)model;
    return 0;
}

static lk_invoker *parent_inv;

/* Reports: [map status, shutdown status, cancel status, own new status,
 * own map status, own shutdown status], then the N results of its own map. */
static int32_t in_child(const void *arg, lk_buffer *out) {
    (void)arg;
    int32_t st[6];
    uint64_t args[N], results[N];
    for (int i = 0; i < N; i++) args[i] = (uint64_t)i;
    st[0] = lk_invoker_map(parent_inv, args, N, sizeof args[0], results, sizeof results[0]);
    st[1] = lk_invoker_shutdown(parent_inv);
    st[2] = lk_invoker_cancel(parent_inv);
    static const uint64_t offset = 1000;
    lk_invoker *own = NULL;
    st[3] = lk_invoker_new(&offset, times_seven, 2, &own);
    memset(results, 0, sizeof results);
    st[4] = st[3] == LK_OK ? (int32_t)lk_invoker_map(own, args, N, sizeof args[0], results, sizeof results[0]) : -1;
    st[5] = st[3] == LK_OK ? (int32_t)lk_invoker_shutdown(own) : -1;
    SPT_APPEND(out, st, sizeof st);
    SPT_APPEND(out, results, sizeof results);
    return 0;
}

int main(void) {
    lkt_watchdog(20);
    CHECK_OK(lk_invoker_new(NULL, plus_one, 2, &parent_inv));
    uint64_t args[N], results[N];
    for (int i = 0; i < N; i++) args[i] = (uint64_t)i;
    CHECK_OK(lk_invoker_map(parent_inv, args, N, sizeof args[0], results, sizeof results[0]));

    for (int round = 0; round < 3; round++) {
        lk_buffer res = spt_empty();
        CHECK_OK(lk_run_sp(in_child, NULL, &res));
        CHECK(res.len == 6 * sizeof(int32_t) + N * sizeof(uint64_t));
        int32_t st[6];
        memcpy(st, res.data, sizeof st);
        CHECK(st[0] == LK_ERR_INVALID); /* the parent's handle is dead there */
        CHECK(st[1] == LK_ERR_INVALID);
        CHECK(st[2] == LK_ERR_INVALID);
        CHECK(st[3] == LK_OK);          /* a new invoker in the child works */
        CHECK(st[4] == LK_OK);
        CHECK(st[5] == LK_OK);
        uint64_t child_results[N];
        memcpy(child_results, res.data + sizeof st, sizeof child_results);
        for (int i = 0; i < N; i++) CHECK(child_results[i] == (uint64_t)i * 7 + 1000);
        lk_buffer_free(&res);

        /* The parent's invoker still works (the child's shutdown did not
         * reach it). */
        memset(results, 0, sizeof results);
        CHECK_OK(lk_invoker_map(parent_inv, args, N, sizeof args[0], results, sizeof results[0]));
        for (int i = 0; i < N; i++) CHECK(results[i] == (uint64_t)i + 1);
    }
    CHECK_OK(lk_invoker_shutdown(parent_inv));
    lkt_check_no_children();
    printf("run_sp_api_handles_in_child: ok\n");
    return 0;
}
