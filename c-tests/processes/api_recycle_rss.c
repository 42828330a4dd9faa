/* recycle_above_rss: a worker whose resident memory passes the ceiling is
 * replaced between items. Each item leaks 4 MiB (allocated, touched, never
 * freed) and reports its process's resident set; with a 64 MiB ceiling and
 * 100 items (400 MiB leaked in all) no worker process ever reports more than
 * the ceiling plus one item's leak (and some slack), several processes run
 * the map, and it returns LK_OK with every result right. n_jobs 2. */
#include "procstest.h"

enum { N = 100, JOBS = 2 };
#define LEAK ((size_t)4 << 20)
#define CEILING ((uint64_t)64 << 20)
#define SLACK ((uint64_t)8 << 20)

typedef struct {
    uint64_t rss;
    int32_t pid;
    int32_t ok;
} out_t;

static char *volatile last_leak; /* keeps the leak from being optimised away */

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    (void)task;
    out_t *r = (out_t *)result;
    char *p = (char *)malloc(LEAK);
    r->ok = p != NULL;
    if (p) memset(p, 1, LEAK); /* leaked on purpose */
    last_leak = p;
    lkt_sleep_us(1000);
    r->rss = lkt_rss_bytes();
    r->pid = (int32_t)getpid();
    return 0;
}

int main(void) {
    lkt_watchdog(60);
    lk_invoker_options o = pt_options(JOBS);
    o.recycle_above_rss = CEILING;
    lk_invoker *inv = lkt_new_with(NULL, op, &o);
    static out_t results[N];
    for (int m = 0; m < 2; m++) {
        memset(results, 0, sizeof results);
        lk_status s = lk_invoker_map(inv, NULL, N, 0, results, sizeof results[0]);
        CHECK_MSG(s == LK_OK, "map returned %d: %s", (int)s, lk_last_error());
        uint64_t most = 0;
        int pids[N], n = 0;
        for (int i = 0; i < N; i++) {
            CHECK(results[i].ok == 1 && results[i].pid > 0);
            if (results[i].rss > most) most = results[i].rss;
            int k = 0;
            while (k < n && pids[k] != results[i].pid) k++;
            if (k == n) pids[n++] = results[i].pid;
        }
        printf("map %d: %d worker processes, the largest resident set reported %.1f MiB (ceiling %.0f MiB)\n", m, n,
               (double)most / (1 << 20), (double)CEILING / (1 << 20));
        CHECK_MSG(most <= CEILING + LEAK + SLACK, "a worker reached %.1f MiB with recycle_above_rss %.0f MiB",
                  (double)most / (1 << 20), (double)CEILING / (1 << 20));
        CHECK(n > JOBS);
    }
    CHECK_OK(lk_invoker_shutdown(inv));
    printf("processes_api_recycle_rss: ok\n");
    return 0;
}
