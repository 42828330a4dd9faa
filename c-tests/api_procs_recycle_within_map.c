/* recycle_after_items bounds what one worker process runs also within one
 * long map (the header: "replace a worker process after it has run this many
 * items, between items"; the issue: for long batches): with
 * recycle_after_items = 10 and one map of 100 items, no worker process runs
 * more than 10 of them, so at least 10 distinct processes run the map, and
 * the map returns LK_OK with every result right. n_jobs 1 and 2. */
#include "procstest.h"

enum { N = 100, LIMIT = 10 };

typedef struct {
    uint64_t value;
    int32_t pid;
    int32_t pad;
} out_t;

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)task;
    uint64_t a = *(const uint64_t *)arg;
    lkt_sleep_us(200);
    out_t *r = (out_t *)result;
    r->value = lkt_mix(a);
    r->pid = (int32_t)getpid();
    r->pad = 0;
    return 0;
}

static void run(int n_jobs) {
    lk_invoker_options o = pt_options(n_jobs);
    o.recycle_after_items = LIMIT;
    lk_invoker *inv = pt_new_with(NULL, op, &o);
    static uint64_t args[N];
    static out_t results[N];
    for (int m = 0; m < 2; m++) {
        for (int i = 0; i < N; i++) args[i] = (uint64_t)(i + 1000 * m);
        memset(results, 0, sizeof results);
        lk_status s = lk_invoker_map(inv, args, N, sizeof args[0], results, sizeof results[0]);
        CHECK_MSG(s == LK_OK, "map returned %d: %s", (int)s, lk_last_error());
        int pids[N], counts[N], n = 0, most = 0;
        for (int i = 0; i < N; i++) {
            CHECK(results[i].value == lkt_mix(args[i]));
            int k = 0;
            while (k < n && pids[k] != results[i].pid) k++;
            if (k == n) {
                pids[n] = results[i].pid;
                counts[n++] = 0;
            }
            counts[k]++;
            if (counts[k] > most) most = counts[k];
        }
        printf("n_jobs %d, map %d: %d worker processes, the busiest ran %d items (limit %d)\n", n_jobs, m, n, most,
               LIMIT);
        CHECK_MSG(most <= LIMIT, "n_jobs %d: one worker process ran %d items of one map with recycle_after_items %d",
                  n_jobs, most, LIMIT);
        CHECK(n >= N / LIMIT);
    }
    CHECK_OK(lk_invoker_shutdown(inv));
}

int main(void) {
    lkt_watchdog(60);
    run(1);
    run(2);
    printf("api_procs_recycle_within_map: ok\n");
    return 0;
}
