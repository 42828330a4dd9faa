/* Fork-safety of lk_set_log_callback in a child (bug C of
 * docs/reliability.md, fixed in d653fde): lk_run_sp children and
 * process-backend workers that set a log callback of their own, while two
 * other threads of the parent are in busy maps whose items log through a
 * mutex-taking host callback. The parent's log-sink lock is often held by
 * one of those threads at the fork; a child that waited for it would hang
 * (with the watchdog: a failure). Each child logs one record before it sets
 * its callback; that record must reach the parent's callback exactly once,
 * before the call that ran the child returns.
 *   fault_forksafety_child_log_callback [RUN_SP_CALLS [PROCESS_INVOKERS]] */
#include "reliability/busy.h"

static void child_log(lk_log_level level, const char *target, const char *message, void *user) {
    (void)level;
    (void)target;
    (void)message;
    (void)user;
}

static int32_t sp_child(const void *arg, lk_buffer *out) {
    (void)arg;
    lk_log(LK_LOG_INFO, "child before its own callback");
    lk_set_log_callback(child_log, NULL, LK_LOG_INFO);
    lk_log(LK_LOG_INFO, "late record, after the child's own callback");
    lk_set_log_callback(NULL, NULL, LK_LOG_INFO);
    return lk_buffer_append(out, "ok", 2) == LK_OK ? 0 : 1;
}

static void worker_init(uint32_t worker, void *user) {
    (void)worker;
    (void)user;
    lk_log(LK_LOG_INFO, "child worker before its own callback");
    lk_set_log_callback(child_log, NULL, LK_LOG_INFO);
}

static int32_t item(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    *(uint64_t *)result = task->index * 2;
    return 0;
}

int main(int argc, char **argv) {
    int calls = busy_begin(argc, argv, 1, 500);
    int invokers = argc > 2 ? atoi(argv[2]) : 100;
    for (int i = 0; i < calls; i++) {
        long before = busy_child_records();
        lk_buffer b;
        memset(&b, 0, sizeof b);
        lk_status s = lk_run_sp(sp_child, NULL, &b);
        CHECK_MSG(s == LK_OK && b.len == 2, "call %d: %d %s", i, (int)s, lk_last_error());
        lk_buffer_free(&b);
        long got = busy_child_records() - before;
        CHECK_MSG(got == 1, "call %d: %ld child records arrived, expected 1", i, got);
    }
    for (int i = 0; i < invokers; i++) {
        lk_invoker_options o = lkt_options_on(LK_BACKEND_PROCESSES, 2);
        o.worker_init = worker_init;
        long before = busy_child_records();
        lk_invoker *inv = NULL;
        CHECK_OK(lk_invoker_new_with(NULL, item, &o, &inv));
        uint64_t r[16];
        lk_status s = lk_invoker_map(inv, NULL, 16, 0, r, sizeof r[0]);
        CHECK_MSG(s == LK_OK, "invoker %d: %d %s", i, (int)s, lk_last_error());
        for (int k = 0; k < 16; k++) CHECK(r[k] == (uint64_t)k * 2);
        long got = busy_child_records() - before;
        CHECK_MSG(got == 2, "invoker %d: %ld worker records arrived, expected 2", i, got);
        CHECK_OK(lk_invoker_shutdown(inv));
    }
    char what[64];
    snprintf(what, sizeof what, "%d calls, %d invokers", calls, invokers);
    busy_end("reliability_fault_forksafety_child_log_callback", what);
    return 0;
}
