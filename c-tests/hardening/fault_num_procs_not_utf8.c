/* Finding 8: an LK_NUM_PROCS that is not UTF-8 (bytes ff fe, a lone
 * continuation byte, a truncated sequence, a valid count followed by a bad
 * byte) is malformed like any other bad value: it is ignored as a whole
 * (lk_proc_count gives what it gives with LK_NUM_PROCS unset, at every
 * level) and each call logs a warning naming LK_NUM_PROCS, which reaches
 * the log callback. The first release ignored it silently. Also: with no
 * callback and LK_LOG=warn, the warning is printed to stderr; an invoker
 * with n_jobs 0 (which uses lk_proc_count) warns too and works; a valid
 * value afterwards is used again, without a warning. */
#include "hardening/hardtest.h"

static const char *const BAD[] = {"\xff\xfe", "\x80", "\xc3", "4,\xff", "8\x80", "\xe2\x82"};
enum { N_BAD = sizeof BAD / sizeof BAD[0] };

/* Warnings about LK_NUM_PROCS captured since the last clear. */
static int num_procs_warnings(void) {
    pthread_mutex_lock(&lkt_log_mu);
    int n = 0;
    for (size_t i = 0; i < lkt_n_records && i < LKT_MAX_RECORDS; i++)
        if (lkt_records[i].level == LK_LOG_WARN && strstr(lkt_records[i].message, "LK_NUM_PROCS")) n++;
    pthread_mutex_unlock(&lkt_log_mu);
    return n;
}

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    *(uint64_t *)result = task->index + 1;
    return 0;
}

/* With no callback and LK_LOG=warn: prints the warning to stderr. */
static int print_mode(void) {
    setenv("LK_NUM_PROCS", "\xff\xfe", 1);
    return lk_proc_count(2, 4, 0) >= 1 ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "print") == 0) return print_mode();
    lkt_watchdog(30);
    unsetenv("LK_NUM_PROCS");
    int32_t unset[3];
    for (int level = 0; level < 3; level++) unset[level] = lk_proc_count(2, 4, level);

    lk_set_log_callback(lkt_log_capture, NULL, LK_LOG_INFO);
    for (int k = 0; k < N_BAD; k++) {
        CHECK(setenv("LK_NUM_PROCS", BAD[k], 1) == 0);
        for (int level = 0; level < 3; level++) {
            lkt_log_clear();
            int32_t n = lk_proc_count(2, 4, level);
            CHECK_MSG(n == unset[level], "value %d, level %d: %d, not %d as with LK_NUM_PROCS unset", k, level, (int)n,
                      (int)unset[level]);
            CHECK_MSG(num_procs_warnings() == 1, "value %d, level %d: %d warnings about LK_NUM_PROCS reached the callback",
                      k, level, num_procs_warnings());
        }
    }

    /* n_jobs 0 reads it too: a warning, and the default pool. */
    CHECK(setenv("LK_NUM_PROCS", "\xff\xfe", 1) == 0);
    lkt_log_clear();
    lk_invoker *inv = NULL;
    CHECK_OK(lk_invoker_new(NULL, op, 0, &inv));
    CHECK(num_procs_warnings() >= 1);
    uint64_t results[100];
    CHECK_OK(lk_invoker_map(inv, NULL, 100, 0, results, sizeof results[0]));
    for (int i = 0; i < 100; i++) CHECK(results[i] == (uint64_t)i + 1);
    CHECK_OK(lk_invoker_shutdown(inv));

    /* A valid value is used again, quietly. */
    CHECK(setenv("LK_NUM_PROCS", "3,2", 1) == 0);
    lkt_log_clear();
    CHECK(lk_proc_count(2, 4, 0) == 3 && lk_proc_count(2, 4, 1) == 2);
    CHECK(num_procs_warnings() == 0);
    lk_set_log_callback(NULL, NULL, LK_LOG_INFO);
    unsetenv("LK_NUM_PROCS");

    /* Without a callback, LK_LOG=warn prints it. */
    static char err[65536];
    const char *env[] = {"LK_LOG=warn", NULL};
    int status = lkt_run_self("print", env, 2, err, sizeof err);
    CHECK_MSG(status == 0, "the print run exited %d: %s", status, err);
    CHECK_MSG(strstr(err, "LK_NUM_PROCS") != NULL, "nothing about LK_NUM_PROCS on stderr: \"%s\"", err);

    printf("hardening_fault_num_procs_not_utf8: ok\n");
    return 0;
}
