/* lk_run_sp inside a run_sp child: the grandchild's result comes back
 * through the child, with its own derived seed, its log records, and its
 * failures told to the child. */
#include "sptest.h"

static int32_t inner(const void *arg, lk_buffer *out) {
    uint64_t v = *(const uint64_t *)arg;
    lk_log(LK_LOG_INFO, "nest-1");
    uint64_t r[3] = {v * 3, lk_root_seed(), (uint64_t)lk_is_worker()};
    SPT_APPEND(out, r, sizeof r);
    return 0;
}

static int32_t outer(const void *arg, lk_buffer *out) {
    uint64_t v = *(const uint64_t *)arg + 1;
    lk_log(LK_LOG_INFO, "nest-0");
    lk_buffer res = spt_empty();
    if (lk_run_sp(inner, &v, &res) != LK_OK) return 1;
    if (res.len != 3 * sizeof(uint64_t)) return 2;
    lk_log(LK_LOG_INFO, "nest-2");
    uint64_t mine = lk_root_seed();
    SPT_APPEND(out, res.data, res.len);
    SPT_APPEND(out, &mine, sizeof mine);
    lk_buffer_free(&res);
    if (lk_run_sp(spt_child, spt_end_arg(SPT_FAIL), &res) != LK_ERR_CALLBACK) return 3;
    if (!lkt_has_number(lk_last_error(), SPT_FAIL_CODE)) return 4;
    return 0;
}

int main(void) {
    lkt_watchdog(20);
    lk_set_log_callback(lkt_log_capture, NULL, LK_LOG_INFO);
    uint64_t v = 10, parent_root = lk_root_seed();
    lk_buffer res = spt_empty();
    CHECK_OK(lk_run_sp(outer, &v, &res));
    CHECK(res.len == 4 * sizeof(uint64_t));
    uint64_t r[4];
    memcpy(r, res.data, sizeof r);
    lk_buffer_free(&res);
    CHECK(r[0] == 33);
    CHECK(r[2] == 1);                  /* lk_is_worker() in the grandchild */
    CHECK(r[1] != r[3]);               /* the grandchild's seed is its own */
    CHECK(r[1] != parent_root && r[3] != parent_root);
    lkt_log_check_sequence("nest-", 3, LK_LOG_INFO);
    lk_set_log_callback(NULL, NULL, LK_LOG_INFO);
    lkt_check_no_children();
    printf("run_sp_api_nested: ok\n");
    return 0;
}
