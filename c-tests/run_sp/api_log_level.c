/* A run_sp child's records are filtered by the parent's max_level, as the
 * parent's own are, and with no callback set none reach anyone. */
#include "sptest.h"

static int32_t log_levels(const void *arg, lk_buffer *out) {
    (void)arg;
    lk_log(LK_LOG_ERROR, "lvl-error");
    lk_log(LK_LOG_WARN, "lvl-warn");
    lk_log(LK_LOG_INFO, "lvl-info");
    lk_log(LK_LOG_DEBUG, "lvl-debug");
    lk_log(LK_LOG_TRACE, "lvl-trace");
    lk_log(0, "lvl-zero");   /* clamped to ERROR */
    lk_log(99, "lvl-big");   /* clamped to TRACE */
    SPT_APPEND(out, "x", 1);
    return 0;
}

static int seen(const char *msg, int level) {
    int n = 0;
    pthread_mutex_lock(&lkt_log_mu);
    for (size_t i = 0; i < lkt_n_records && i < LKT_MAX_RECORDS; i++)
        if (strcmp(lkt_records[i].message, msg) == 0) {
            CHECK(lkt_records[i].level == level);
            n++;
        }
    pthread_mutex_unlock(&lkt_log_mu);
    return n;
}

static int count_lvl(void) {
    int n = 0;
    pthread_mutex_lock(&lkt_log_mu);
    for (size_t i = 0; i < lkt_n_records && i < LKT_MAX_RECORDS; i++)
        if (strncmp(lkt_records[i].message, "lvl-", 4) == 0) n++;
    pthread_mutex_unlock(&lkt_log_mu);
    return n;
}

int main(void) {
    lkt_watchdog(20);
    lk_buffer res = spt_empty();

    lk_set_log_callback(lkt_log_capture, NULL, LK_LOG_WARN);
    lkt_log_clear();
    CHECK_OK(lk_run_sp(log_levels, NULL, &res));
    lk_buffer_free(&res);
    CHECK(seen("lvl-error", LK_LOG_ERROR) == 1);
    CHECK(seen("lvl-warn", LK_LOG_WARN) == 1);
    CHECK(seen("lvl-info", LK_LOG_INFO) == 0);
    CHECK(seen("lvl-debug", LK_LOG_DEBUG) == 0);
    CHECK(seen("lvl-trace", LK_LOG_TRACE) == 0);
    CHECK(seen("lvl-zero", LK_LOG_ERROR) == 1);
    CHECK(seen("lvl-big", LK_LOG_TRACE) == 0);

    lk_set_log_callback(lkt_log_capture, NULL, LK_LOG_TRACE);
    lkt_log_clear();
    CHECK_OK(lk_run_sp(log_levels, NULL, &res));
    lk_buffer_free(&res);
    CHECK(seen("lvl-error", LK_LOG_ERROR) == 1);
    CHECK(seen("lvl-warn", LK_LOG_WARN) == 1);
    CHECK(seen("lvl-info", LK_LOG_INFO) == 1);
    CHECK(seen("lvl-debug", LK_LOG_DEBUG) == 1);
    CHECK(seen("lvl-trace", LK_LOG_TRACE) == 1);
    CHECK(seen("lvl-zero", LK_LOG_ERROR) == 1);
    CHECK(seen("lvl-big", LK_LOG_TRACE) == 1);
    CHECK(count_lvl() == 7);

    /* No callback: nothing is delivered (and the capture stays empty). */
    lk_set_log_callback(NULL, NULL, LK_LOG_TRACE);
    lkt_log_clear();
    CHECK_OK(lk_run_sp(log_levels, NULL, &res));
    lk_buffer_free(&res);
    CHECK(lkt_log_count() == 0);

    lkt_check_no_children();
    printf("run_sp_api_log_level: ok\n");
    return 0;
}
