/* lk_proc_count, every case of API.md "Process count":
 * - LK_NUM_PROCS set: one count per level ("8", "7,3"), 1 past its end,
 *   whatever core_div and max_default say; read at each call;
 * - malformed ("", "0", "-3", "abc", "4,x", "99999999999"): a warning is
 *   logged and the value ignored as a whole: the result is as if unset;
 * - unset: level 0 = max(cpus / core_div, 1) capped at max_default (cpus =
 *   lk_cpu_count()), level 1 = core_div, deeper levels 1; core_div <= 0 or
 *   max_default <= 0 mean "none"; with no core_div every level gets 1;
 * - the result is always >= 1. */
#include "lktest.h"

static int cpus;

/* The unset answer, computed from API.md. */
static int32_t model(int32_t core_div, int32_t max_default, int32_t level) {
    if (core_div <= 0) return 1;
    if (level == 0) {
        int32_t n = cpus / core_div;
        if (n < 1) n = 1;
        if (max_default > 0 && n > max_default) n = max_default;
        return n;
    }
    if (level == 1) return core_div;
    return 1;
}

static const int32_t cases[][3] = {
    {2, 4, 0},  {1, 0, 0},  {1, 1, 0},   {1, 2, 0},        {1, 64, 0},       {2, 0, 0},
    {3, 0, 0},  {1000, 0, 0}, {0, 4, 0}, {-1, 4, 0},       {-5, 0, 0},       {0, 0, 0},
    {1, -3, 0}, {2, 4, 1},  {3, 0, 1},   {7, 2, 1},        {0, 4, 1},        {-2, 4, 1},
    {2, 4, 2},  {3, 0, 2},  {2, 4, 9},   {INT32_MAX, INT32_MAX, 0}, {1, INT32_MAX, 0},
    {INT32_MAX, 0, 1},      {2, 4, INT32_MAX},
};
enum { N_CASES = sizeof cases / sizeof cases[0] };

static void check_unset_answers(const char *why) {
    for (int k = 0; k < N_CASES; k++) {
        int32_t got = lk_proc_count(cases[k][0], cases[k][1], cases[k][2]);
        int32_t want = model(cases[k][0], cases[k][1], cases[k][2]);
        if (got != want) {
            fprintf(stderr, "%s: lk_proc_count(%d, %d, %d) = %d, want %d (cpus %d)\n", why, cases[k][0],
                    cases[k][1], cases[k][2], got, want, cpus);
            exit(1);
        }
    }
}

static size_t warnings_since(size_t from) {
    size_t n = 0;
    pthread_mutex_lock(&lkt_log_mu);
    for (size_t i = from; i < lkt_n_records && i < LKT_MAX_RECORDS; i++)
        if (lkt_records[i].level == LK_LOG_WARN) n++;
    pthread_mutex_unlock(&lkt_log_mu);
    return n;
}

int main(void) {
    lkt_watchdog(30);
    lk_set_log_callback(lkt_log_capture, NULL, LK_LOG_WARN);
    unsetenv("LK_NUM_PROCS");
    cpus = lk_cpu_count();
    CHECK(cpus >= 1);
    printf("cpus %d\n", cpus);

    /* unset */
    size_t before = lkt_log_count();
    check_unset_answers("unset");
    CHECK(lk_proc_count(2, 4, 0) == (cpus / 2 < 1 ? 1 : (cpus / 2 > 4 ? 4 : cpus / 2)));
    CHECK(lk_proc_count(1, 0, 0) == cpus);
    CHECK(warnings_since(before) == 0);

    /* "8": level 0 gets 8, deeper levels 1, whatever core_div / max_default */
    CHECK(setenv("LK_NUM_PROCS", "8", 1) == 0);
    CHECK(lk_proc_count(2, 4, 0) == 8);
    CHECK(lk_proc_count(0, 0, 0) == 8);
    CHECK(lk_proc_count(1, 1, 0) == 8);
    CHECK(lk_proc_count(-1, -1, 0) == 8);
    CHECK(lk_proc_count(2, 4, 1) == 1);
    CHECK(lk_proc_count(2, 4, 2) == 1);
    CHECK(lk_proc_count(2, 4, INT32_MAX) == 1);

    /* "7,3": one count per level */
    CHECK(setenv("LK_NUM_PROCS", "7,3", 1) == 0);
    CHECK(lk_proc_count(2, 4, 0) == 7);
    CHECK(lk_proc_count(2, 4, 1) == 3);
    CHECK(lk_proc_count(2, 4, 2) == 1);
    CHECK(lk_proc_count(0, 0, 1) == 3);
    CHECK(lk_proc_count(9, 9, 3) == 1);

    /* read at each call */
    CHECK(setenv("LK_NUM_PROCS", "5,6,2", 1) == 0);
    CHECK(lk_proc_count(2, 4, 0) == 5);
    CHECK(lk_proc_count(2, 4, 1) == 6);
    CHECK(lk_proc_count(2, 4, 2) == 2);
    CHECK(lk_proc_count(2, 4, 3) == 1);
    CHECK(setenv("LK_NUM_PROCS", "2147483647", 1) == 0); /* INT32_MAX fits */
    CHECK(lk_proc_count(2, 4, 0) == INT32_MAX);
    CHECK(warnings_since(before) == 0);

    /* malformed values: a warning, and the answer as if unset */
    const char *bad[] = {"", "0", "-3", "abc", "4,x", "99999999999", "2147483648", "0,3", "3,0", "3,-1", "x,3"};
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
        CHECK(setenv("LK_NUM_PROCS", bad[b], 1) == 0);
        size_t mark = lkt_log_count();
        char why[64];
        snprintf(why, sizeof why, "LK_NUM_PROCS=\"%s\"", bad[b]);
        check_unset_answers(why);
        if (warnings_since(mark) == 0) {
            fprintf(stderr, "%s: no warning was logged\n", why);
            exit(1);
        }
    }

    unsetenv("LK_NUM_PROCS");
    before = lkt_log_count();
    check_unset_answers("unset again");
    CHECK(warnings_since(before) == 0);
    lk_set_log_callback(NULL, NULL, LK_LOG_WARN);
    printf("library_api_proc_count: ok\n");
    return 0;
}
