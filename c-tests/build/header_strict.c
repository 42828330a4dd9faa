/* The public header compiles cleanly as C99, C11 and C++17 with -Wall
 * -Wextra -Wpedantic -Werror (c-tests/cmake/header.cmake compiles this file
 * that way; it is also built and run as an ordinary test program). Included
 * twice to check the include guard; every public type, constant and
 * function is used, so a declaration that a strict compiler rejects fails. */
#include "lkparallel.h"
#include "lkparallel.h"

#include <stdio.h>
#include <string.h>

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    (void)task;
    if (result) *(uint64_t *)result = 1;
    return 0;
}

static void progress(size_t done, size_t total, void *user) {
    (void)done;
    (void)total;
    (void)user;
}

static void init(uint32_t worker, void *user) {
    (void)worker;
    (void)user;
}

static void on_log(lk_log_level level, const char *target, const char *message, void *user) {
    (void)level;
    (void)target;
    (void)message;
    (void)user;
}

int main(void) {
    lk_op_fn f = op;
    lk_progress_fn p = progress;
    lk_worker_init_fn w = init;
    lk_log_fn l = on_log;
    lk_backend backends[2] = {LK_BACKEND_THREADS, LK_BACKEND_PROCESSES};
    lk_error_mode modes[2] = {LK_ERRORS_FAIL_FAST, LK_ERRORS_KEEP_GOING};
    lk_log_level levels[5] = {LK_LOG_ERROR, LK_LOG_WARN, LK_LOG_INFO, LK_LOG_DEBUG, LK_LOG_TRACE};
    int32_t consts[7] = {LK_ITEM_SKIPPED,    LK_SCHEDULE_BLOCK, LK_SCHEDULE_CYCLIC, LK_SCHEDULE_DYNAMIC,
                         LK_RESULTS_ALL, LK_RESULTS_ROOT,   LK_RESULTS_OWNED};
    enum lk_status statuses[9] = {LK_OK,           LK_ERR_INVALID, LK_ERR_CALLBACK,
                                  LK_ERR_WORKER_DIED, LK_ERR_TIMEOUT, LK_ERR_CANCELLED,
                                  LK_ERR_SYSTEM,   LK_ERR_INTERNAL, LK_ERR_UNSUPPORTED};
    lk_status s = LK_OK;
    lk_task task;
    lk_invoker *inv = NULL;
    struct lk_invoker_options o;
    struct lk_map_options mo;
    uint64_t results[4];
    int failures = 0;

    memset(&task, 0, sizeof task);
    (void)task.index;
    (void)task.seed;
    (void)task.worker;
    (void)backends;
    (void)modes;
    (void)levels;
    (void)consts;
    (void)statuses;

    lk_invoker_options_init(&o, sizeof o);
    o.n_jobs = 2;
    o.progress = p;
    o.worker_init = w;
    lk_map_options_init(&mo, sizeof mo);
    lk_set_log_callback(l, NULL, LK_LOG_WARN);
    s = lk_invoker_new_with(NULL, f, &o, &inv);
    if (s != LK_OK) failures++;
    s = lk_invoker_map_with(inv, NULL, 4, 0, results, sizeof results[0], &mo);
    if (s != LK_OK) failures++;
    if (lk_invoker_map(inv, NULL, 4, 0, results, sizeof results[0]) != LK_OK) failures++;
    if (lk_invoker_cancel(inv) != LK_OK) failures++;
    if (lk_invoker_shutdown(inv) != LK_OK) failures++;
    inv = NULL;
    if (lk_invoker_new(NULL, f, 1, &inv) != LK_OK) failures++;
    if (lk_invoker_shutdown(inv) != LK_OK) failures++;
    if (lk_proc_count(2, 4, 0) < 1 || lk_cpu_count() < 1 || lk_inner_threads() < 1) failures++;
    if (lk_is_worker() != 0 || lk_is_mp_worker() != 0) failures++;
    lk_seed_init(7);
    if (lk_root_seed() != 7 || lk_derive_seed(1, 2) != lk_derive_seed(1, 2)) failures++;
    lk_log(LK_LOG_INFO, "hello");
    lk_set_log_callback(NULL, NULL, LK_LOG_ERROR);
    if (lk_last_error() == NULL || strcmp(lk_version(), LKPARALLEL_VERSION) != 0) failures++;
    if (LKPARALLEL_VERSION_MAJOR < 0 || LKPARALLEL_VERSION_MINOR < 0 || LKPARALLEL_VERSION_PATCH < 0) failures++;
    if (failures) {
        fprintf(stderr, "build_header_strict: %d failures: %s\n", failures, lk_last_error());
        return 1;
    }
    printf("build_header_strict: ok\n");
    return 0;
}
