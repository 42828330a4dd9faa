/* Fork-safety of the process backend: 1,000 process-backend invokers made
 * (each forks its helper and workers), mapped on and shut down while two
 * other threads are in busy maps whose items log through a mutex-taking
 * host callback (reliability/busy.h). Every worker logs from its initializer
 * and from each item; with a watchdog: nothing may hang, and every record
 * must have reached the parent's callback, once, when the map returns.
 *   fault_forksafety_procs [INVOKERS] */
#include "reliability/busy.h"

enum { M = 8 };

static void worker_init(uint32_t worker, void *user) {
    (void)user;
    char msg[64];
    snprintf(msg, sizeof msg, "child init worker %u", worker);
    lk_log(LK_LOG_INFO, msg);
}

static int32_t item(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)arg;
    lkt_log_numbered(LK_LOG_INFO, "child item ", (long long)task->index);
    void *p = malloc(100 + task->index);
    if (!p) return 1;
    free(p);
    *(uint64_t *)result = task->index + *(const uint64_t *)model;
    return 0;
}

int main(int argc, char **argv) {
    int iterations = busy_begin(argc, argv, 1, 1000);
    for (int i = 0; i < iterations; i++) {
        uint64_t model = (uint64_t)i * 1000;
        lk_invoker_options o = lkt_options_on(LK_BACKEND_PROCESSES, 1 + i % 2);
        o.worker_init = worker_init;
        long before = busy_child_records();
        lk_invoker *inv = NULL;
        lk_status s = lk_invoker_new_with(&model, item, &o, &inv);
        CHECK_MSG(s == LK_OK, "invoker %d: %d %s", i, (int)s, lk_last_error());
        uint64_t results[M];
        s = lk_invoker_map(inv, NULL, M, 0, results, sizeof results[0]);
        CHECK_MSG(s == LK_OK, "invoker %d: map gave %d %s", i, (int)s, lk_last_error());
        for (int k = 0; k < M; k++) CHECK(results[k] == (uint64_t)k + model);
        long got = busy_child_records() - before;
        CHECK_MSG(got == o.n_jobs + M, "invoker %d: %ld worker records arrived, expected %d", i, got,
                  o.n_jobs + M);
        CHECK_OK(lk_invoker_shutdown(inv));
    }
    char what[64];
    snprintf(what, sizeof what, "%d invokers", iterations);
    busy_end("reliability_fault_forksafety_procs", what);
    return 0;
}
