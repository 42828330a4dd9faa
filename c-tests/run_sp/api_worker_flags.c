/* In a run_sp child lk_is_worker() is 1 and lk_is_mp_worker() is 0; the
 * parent's own answers (0, 0) are not changed by the call. */
#include "sptest.h"

static int32_t flags(const void *arg, lk_buffer *out) {
    (void)arg;
    int32_t f[2] = {lk_is_worker(), lk_is_mp_worker()};
    SPT_APPEND(out, f, sizeof f);
    return 0;
}

/* Also inside an n_jobs 1 invoker callback run in the child (still 1: the
 * process is a worker). */
static int32_t inline_cb(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    (void)task;
    ((int32_t *)result)[0] = lk_is_worker();
    ((int32_t *)result)[1] = lk_is_mp_worker();
    return 0;
}

static int32_t flags_in_map(const void *arg, lk_buffer *out) {
    (void)arg;
    lk_invoker *inv = NULL;
    if (lk_invoker_new(NULL, inline_cb, 1, &inv) != LK_OK) return 10;
    int32_t res[2] = {-1, -1};
    if (lk_invoker_map(inv, NULL, 1, 0, res, sizeof res) != LK_OK) return 11;
    if (lk_invoker_shutdown(inv) != LK_OK) return 12;
    SPT_APPEND(out, res, sizeof res);
    return 0;
}

/* Run `fn` in a child: it reports (lk_is_worker(), lk_is_mp_worker()),
 * which must be (1, 0); the parent's answers stay (0, 0). */
static void check_child_flags(lk_sp_fn fn) {
    lk_buffer res = spt_empty();
    CHECK_OK(lk_run_sp(fn, NULL, &res));
    CHECK(res.len == 2 * sizeof(int32_t));
    int32_t f[2];
    memcpy(f, res.data, sizeof f);
    CHECK(f[0] == 1);
    CHECK(f[1] == 0);
    lk_buffer_free(&res);
    CHECK(lk_is_worker() == 0);
    CHECK(lk_is_mp_worker() == 0);
}

int main(void) {
    lkt_watchdog(20);
    CHECK(lk_is_worker() == 0);
    CHECK(lk_is_mp_worker() == 0);
    for (int i = 0; i < 3; i++) check_child_flags(flags);
    check_child_flags(flags_in_map);
    lkt_check_no_children();
    printf("run_sp_api_worker_flags: ok\n");
    return 0;
}
