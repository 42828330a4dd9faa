/* Quiet by default: with no callback and LK_LOG unset, nothing at all is
 * printed to stderr, whatever is logged (lk_log at every level, library
 * warnings, failing calls, maps). With LK_LOG=<level> and no callback,
 * records at that level or more severe are printed to stderr, others not;
 * with a callback set, LK_LOG prints nothing. The program runs itself again
 * with stderr on a pipe and checks what came out. */
#include "lktest.h"

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    (void)result;
    lk_log(LK_LOG_ERROR, "from-a-callback");
    return task->index == 3 ? 1 : 0;
}

static void ignore_log(lk_log_level level, const char *target, const char *message, void *user) {
    (void)level;
    (void)target;
    (void)message;
    (void)user;
}

/* The child: log and fail in every way it can; report only by exit code. */
static int child(int with_callback) {
    if (with_callback) lk_set_log_callback(ignore_log, NULL, LK_LOG_TRACE);
    lk_log(LK_LOG_ERROR, "msg-error");
    lk_log(LK_LOG_WARN, "msg-warn");
    lk_log(LK_LOG_INFO, "msg-info");
    lk_log(LK_LOG_DEBUG, "msg-debug");
    lk_log(LK_LOG_TRACE, "msg-trace");
    lk_log(99, "msg-clamped-trace");
    setenv("LK_NUM_PROCS", "abc", 1); /* the library warns about this */
    if (lk_proc_count(2, 4, 0) < 1) return 2;
    unsetenv("LK_NUM_PROCS");
    (void)lk_cpu_count();
    lk_invoker *inv = NULL;
    if (lk_invoker_new(NULL, NULL, 2, &inv) != LK_ERR_INVALID) return 3;
    if (lk_invoker_new(NULL, op, 2, &inv) != LK_OK) return 4;
    if (lk_invoker_map(inv, NULL, 10, 0, NULL, 0) != LK_ERR_CALLBACK) return 5;
    if (lk_invoker_shutdown(inv) != LK_OK) return 6;
    if (lk_invoker_shutdown(inv) != LK_ERR_INVALID) return 7;
    return 0;
}

static char out[256 * 1024];

static void run(const char *mode, const char *lk_log_value) {
    char setting[64];
    const char *env[] = {setting, "LK_NUM_PROCS", NULL};
    if (lk_log_value) snprintf(setting, sizeof setting, "LK_LOG=%s", lk_log_value);
    else snprintf(setting, sizeof setting, "LK_LOG");
    int code = lkt_run_self(mode, env, 2, out, sizeof out);
    if (code != 0) {
        fprintf(stderr, "child %s (LK_LOG=%s) exited with %d; its stderr:\n%s\n", mode,
                lk_log_value ? lk_log_value : "(unset)", code, out);
        exit(1);
    }
}

static void expect_silent(const char *mode, const char *lk_log_value) {
    run(mode, lk_log_value);
    if (out[0] != '\0') {
        fprintf(stderr, "child %s (LK_LOG=%s) printed to stderr:\n%s\n", mode,
                lk_log_value ? lk_log_value : "(unset)", out);
        exit(1);
    }
}

static void expect_lines(const char *lk_log_value, int max_level) {
    run("quiet", lk_log_value);
    const char *names[] = {"msg-error", "msg-warn", "msg-info", "msg-debug", "msg-trace"};
    for (int level = 1; level <= 5; level++) {
        int present = strstr(out, names[level - 1]) != NULL;
        if (present != (level <= max_level)) {
            fprintf(stderr, "LK_LOG=%s: \"%s\" %s; stderr was:\n%s\n", lk_log_value, names[level - 1],
                    present ? "printed" : "missing", out);
            exit(1);
        }
    }
    CHECK((strstr(out, "msg-clamped-trace") != NULL) == (max_level >= 5));
    CHECK((strstr(out, "from-a-callback") != NULL) == (max_level >= 1));
    if (max_level >= 2) {
        /* the library's own warning (about LK_NUM_PROCS) is a line of its own */
        int library_lines = 0;
        for (char *line = out; line && *line;) {
            char *nl = strchr(line, '\n');
            if (nl) *nl = '\0';
            if (!strstr(line, "msg-") && !strstr(line, "from-a-callback") && line[0]) library_lines++;
            line = nl ? nl + 1 : NULL;
        }
        CHECK(library_lines >= 1);
    }
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "quiet") == 0) return child(0);
    if (argc > 1 && strcmp(argv[1], "callback") == 0) return child(1);
    lkt_watchdog(30);

    expect_silent("quiet", NULL);
    expect_silent("callback", "trace");
    expect_silent("callback", "error");

    expect_lines("error", 1);
    expect_lines("warn", 2);
    expect_lines("info", 3);
    expect_lines("debug", 4);
    expect_lines("trace", 5);

    printf("library_api_log_stderr: ok\n");
    return 0;
}
