/* A threads invoker made inside a process-backend worker callback works:
 * lk_invoker_new (n_jobs 2 and n_jobs 1) and lk_invoker_new_with, a map with
 * right results, shutdown; its callbacks run in the worker process (where
 * lk_is_mp_worker() is 1). Several worker callbacks do this at once, over
 * several maps of the outer invoker. */
#include "procstest.h"

enum { OUTER = 12, INNER = 300 };

typedef struct {
    int32_t status[6];
    int32_t wrong_results;
    int32_t inner_mp;    /* inner callbacks where lk_is_mp_worker() was 1 */
    int32_t inner_other; /* inner callbacks in another process */
} out_t;

static atomic_int inner_mp_count, inner_other_count;
static pid_t worker_pid;

static int32_t inner(const void *model, const void *arg, void *result, const lk_task *task) {
    uint64_t k = *(const uint64_t *)model;
    (void)arg;
    if (lk_is_mp_worker() == 1) atomic_fetch_add(&inner_mp_count, 1);
    if (getpid() != worker_pid) atomic_fetch_add(&inner_other_count, 1);
    *(uint64_t *)result = task->index * task->index + k;
    return 0;
}

static int32_t check_inner(lk_invoker *inv, uint64_t k, out_t *r) {
    static __thread uint64_t res[INNER];
    memset(res, 0, sizeof res);
    lk_status s = lk_invoker_map(inv, NULL, INNER, 0, res, sizeof res[0]);
    for (size_t i = 0; i < INNER; i++)
        if (s == LK_OK && res[i] != i * i + k) r->wrong_results++;
    return (int32_t)s;
}

static int32_t outer(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    out_t *r = (out_t *)result;
    memset(r, 0, sizeof *r);
    worker_pid = getpid();
    atomic_store(&inner_mp_count, 0);
    atomic_store(&inner_other_count, 0);
    uint64_t k = task->index * 1000;

    lk_invoker *inv = NULL;
    r->status[0] = (int32_t)lk_invoker_new(&k, inner, 2, &inv);
    if (r->status[0] != LK_OK) return 1;
    r->status[1] = check_inner(inv, k, r);
    r->status[2] = (int32_t)lk_invoker_shutdown(inv);

    lk_invoker_options o;
    lk_invoker_options_init(&o, sizeof o);
    o.n_jobs = 1;
    o.backend = LK_BACKEND_THREADS;
    inv = NULL;
    r->status[3] = (int32_t)lk_invoker_new_with(&k, inner, &o, &inv);
    if (r->status[3] != LK_OK) return 1;
    r->status[4] = check_inner(inv, k, r);
    r->status[5] = (int32_t)lk_invoker_shutdown(inv);
    r->inner_mp = atomic_load(&inner_mp_count);
    r->inner_other = atomic_load(&inner_other_count);
    return 0;
}

int main(void) {
    lkt_watchdog(60);
    int32_t jobs[] = {1, 2};
    for (int j = 0; j < 2; j++) {
        lk_invoker *inv = pt_new(NULL, outer, jobs[j]);
        static out_t results[OUTER];
        for (int m = 0; m < 3; m++) {
            memset(results, 0x55, sizeof results);
            lk_status s = lk_invoker_map(inv, NULL, OUTER, 0, results, sizeof results[0]);
            CHECK_MSG(s == LK_OK, "outer map returned %d: %s", (int)s, lk_last_error());
            for (int i = 0; i < OUTER; i++) {
                for (int c = 0; c < 6; c++)
                    CHECK_MSG(results[i].status[c] == LK_OK, "item %d: inner call %d returned %d", i, c,
                              results[i].status[c]);
                CHECK(results[i].wrong_results == 0);
                CHECK(results[i].inner_mp == 2 * INNER);
                CHECK(results[i].inner_other == 0);
            }
        }
        CHECK_OK(lk_invoker_shutdown(inv));
        printf("n_jobs %d: threads invokers inside worker callbacks work\n", jobs[j]);
    }
    printf("processes_api_threads_in_worker: ok\n");
    return 0;
}
