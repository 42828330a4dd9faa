/* Worker recycling with recycle_after_items = 10 (the header: "replace a
 * worker process after it has run this many items, between items"), over
 * five maps of 100 items: within each map no worker process runs more than
 * 10 of them, so at least 10 distinct processes run it (recycling bounds
 * long batches too); no map runs on exactly the processes of the map before,
 * and over the five maps more distinct worker processes run items than
 * n_jobs; every map returns LK_OK with every result right (retiring is not
 * a failure). n_jobs 1 and 2. */
#include "procstest.h"

enum { N = 100, MAPS = 5, LIMIT = 10 };

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

/* Index of `pid` in pids[0..*n), added at the end when missing. */
static int find_or_add(int *pids, int *n, int pid) {
    int k = 0;
    while (k < *n && pids[k] != pid) k++;
    if (k == *n) pids[(*n)++] = pid;
    return k;
}

static int same_set(const int *a, int na, const int *b, int nb) {
    for (int i = 0; i < na; i++) {
        int found = 0;
        for (int j = 0; j < nb; j++) found |= a[i] == b[j];
        if (!found) return 0;
    }
    for (int j = 0; j < nb; j++) {
        int found = 0;
        for (int i = 0; i < na; i++) found |= a[i] == b[j];
        if (!found) return 0;
    }
    return 1;
}

static void run(int n_jobs) {
    lk_invoker_options o = pt_options(n_jobs);
    o.recycle_after_items = LIMIT;
    lk_invoker *inv = lkt_new_with(NULL, op, &o);
    static uint64_t args[N];
    static out_t results[N];
    int prev[N], n_prev = 0, all[MAPS * N], n_all = 0;
    for (int m = 0; m < MAPS; m++) {
        for (int i = 0; i < N; i++) args[i] = (uint64_t)(m * N + i);
        memset(results, 0, sizeof results);
        lk_status s = lk_invoker_map(inv, args, N, sizeof args[0], results, sizeof results[0]);
        CHECK_MSG(s == LK_OK, "n_jobs %d, map %d with recycling returned %d: %s", n_jobs, m, (int)s,
                  lk_last_error());
        int cur[N], counts[N] = {0}, n_cur = 0, most = 0;
        for (int i = 0; i < N; i++) {
            CHECK(results[i].value == lkt_mix(args[i]));
            CHECK(results[i].pid > 0 && results[i].pid != (int32_t)getpid());
            int k = find_or_add(cur, &n_cur, results[i].pid);
            if (++counts[k] > most) most = counts[k];
            find_or_add(all, &n_all, results[i].pid);
        }
        printf("n_jobs %d, map %d: %d worker processes, the busiest ran %d items (limit %d)\n", n_jobs, m, n_cur,
               most, LIMIT);
        CHECK_MSG(most <= LIMIT, "n_jobs %d: one worker process ran %d items of one map with recycle_after_items %d",
                  n_jobs, most, LIMIT);
        CHECK(n_cur >= N / LIMIT);
        if (m > 0)
            CHECK_MSG(!same_set(prev, n_prev, cur, n_cur),
                      "n_jobs %d: map %d ran on the same %d processes as map %d", n_jobs, m, n_cur, m - 1);
        memcpy(prev, cur, sizeof cur);
        n_prev = n_cur;
    }
    printf("n_jobs %d: %d distinct worker processes over %d maps of %d items\n", n_jobs, n_all, MAPS, N);
    CHECK(n_all > n_jobs);
    CHECK_OK(lk_invoker_shutdown(inv));
}

int main(void) {
    lkt_watchdog(60);
    run(1);
    run(2);
    printf("processes_api_recycle: ok\n");
    return 0;
}
