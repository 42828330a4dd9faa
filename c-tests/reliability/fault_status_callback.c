/* LK_ERR_CALLBACK: a map callback returning non-zero (inline, thread pool
 * and process backend, both error modes), and a run_sp callback returning
 * non-zero. The message names the lowest failing index among the items that
 * ran, and its code; item_status agrees; the invoker stays usable. */
#include "reliability/rel.h"

enum { N = 2000 };

/* Items whose index is a multiple of 397 (but not 0) fail with code -(index). */
static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    if (task->index % 397 == 0 && task->index != 0) return -(int32_t)task->index;
    *(uint64_t *)result = task->index + 1;
    return 0;
}

static void check_one(lk_invoker_options *o) {
    lk_invoker *inv = NULL;
    CHECK_OK(lk_invoker_new_with(NULL, op, o, &inv));
    static uint64_t results[N];
    static int32_t status[N];
    memset(results, 0, sizeof results);
    lk_map_options mo = lkt_with_status(status);
    CHECK_FAIL(lk_invoker_map_with(inv, NULL, N, 0, results, sizeof results[0], &mo), LK_ERR_CALLBACK);
    char msg[512];
    snprintf(msg, sizeof msg, "%s", lk_last_error());
    /* The lowest failing index among the items that ran. */
    long lowest = -1;
    for (long i = 0; i < N; i++) {
        if (status[i] == LK_ITEM_SKIPPED) {
            CHECK_MSG(o->error_mode == LK_ERRORS_FAIL_FAST, "item %ld skipped in keep-going mode", i);
            CHECK_MSG(results[i] == 0, "skipped item %ld has a result", i);
            continue;
        }
        if (i % 397 == 0 && i != 0) {
            CHECK_MSG(status[i] == -(int32_t)i, "item %ld: status %d", i, status[i]);
            if (lowest < 0) lowest = i;
        } else {
            CHECK_MSG(status[i] == 0 && results[i] == (uint64_t)i + 1, "item %ld: status %d", i,
                      status[i]);
        }
    }
    CHECK(lowest > 0);
    if (o->error_mode == LK_ERRORS_KEEP_GOING || o->n_jobs == 1) CHECK(lowest == 397);
    CHECK_MSG(lkt_has_number(msg, lowest) && lkt_has_number(msg, -lowest), "%s (lowest %ld)", msg,
              lowest);
    /* Still usable. */
    CHECK_OK(lk_invoker_map(inv, NULL, 397, 0, results, sizeof results[0]));
    for (int i = 0; i < 397; i++) CHECK(results[i] == (uint64_t)i + 1);
    CHECK_OK(lk_invoker_shutdown(inv));
}

static int32_t sp_fails(const void *arg, lk_buffer *out) {
    (void)arg;
    if (lk_buffer_append(out, "partial", 7) != LK_OK) return 1;
    return 4242;
}

int main(void) {
    lkt_watchdog(60);
    int jobs[] = {1, 2, 3};
    for (int backend = 0; backend < 2; backend++)
        for (int mode = 0; mode < 2; mode++)
            for (int j = 0; j < 3; j++) {
                lk_invoker_options o;
                lk_invoker_options_init(&o, sizeof o);
                o.n_jobs = jobs[j];
                o.backend = backend ? LK_BACKEND_PROCESSES : LK_BACKEND_THREADS;
                o.error_mode = mode ? LK_ERRORS_KEEP_GOING : LK_ERRORS_FAIL_FAST;
                check_one(&o);
            }
    lk_buffer b;
    memset(&b, 0, sizeof b);
    CHECK_FAIL(lk_run_sp(sp_fails, NULL, &b), LK_ERR_CALLBACK);
    CHECK_MSG(lkt_has_number(lk_last_error(), 4242), "%s", lk_last_error());
    CHECK(b.data == NULL && b.len == 0 && b.cap == 0 && b.priv == NULL);
    printf("reliability_fault_status_callback: ok\n");
    return 0;
}
