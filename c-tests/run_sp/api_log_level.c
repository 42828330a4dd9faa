/* A run_sp child's records are filtered by the parent's max_level, as the
 * parent's own are, and with no callback set none reach anyone. */
#include "sptest.h"

/* What log_levels logs: each message, the level it is logged at and the
 * level it must arrive at (lk_log clamps 0 to ERROR and 99 to TRACE). */
static const struct {
    const char *msg;
    int logged, arrives;
} records[] = {
    {"lvl-error", LK_LOG_ERROR, LK_LOG_ERROR}, {"lvl-warn", LK_LOG_WARN, LK_LOG_WARN},
    {"lvl-info", LK_LOG_INFO, LK_LOG_INFO},    {"lvl-debug", LK_LOG_DEBUG, LK_LOG_DEBUG},
    {"lvl-trace", LK_LOG_TRACE, LK_LOG_TRACE}, {"lvl-zero", 0, LK_LOG_ERROR},
    {"lvl-big", 99, LK_LOG_TRACE},
};
enum { N_RECORDS = sizeof records / sizeof records[0] };

static int32_t log_levels(const void *arg, lk_buffer *out) {
    (void)arg;
    for (int i = 0; i < N_RECORDS; i++) lk_log(records[i].logged, records[i].msg);
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

    /* A child's record arrives (once, at its clamped level) exactly when the
     * parent's max_level lets it through. */
    const int max_levels[] = {LK_LOG_WARN, LK_LOG_TRACE};
    for (int m = 0; m < 2; m++) {
        lk_set_log_callback(lkt_log_capture, NULL, max_levels[m]);
        lkt_log_clear();
        CHECK_OK(lk_run_sp(log_levels, NULL, &res));
        lk_buffer_free(&res);
        int passed = 0;
        for (int i = 0; i < N_RECORDS; i++) {
            int want = records[i].arrives <= max_levels[m];
            int got = seen(records[i].msg, records[i].arrives);
            CHECK_MSG(got == want, "max_level %d: \"%s\" arrived %d times, expected %d", max_levels[m],
                      records[i].msg, got, want);
            passed += want;
        }
        CHECK(count_lvl() == passed);
    }

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
