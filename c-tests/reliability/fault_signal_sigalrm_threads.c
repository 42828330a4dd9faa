/* A timer sends SIGALRM every millisecond (handler installed WITHOUT
 * SA_RESTART) to a process whose thread-pool maps wait, nest, fail and get
 * cancelled: every signal may land on the waiting caller or on a pool
 * thread. No result, status or reported index may change, and no map may
 * hang. */
#include "reliability/rel.h"

enum { ROUNDS = 1000 };

static lk_invoker *g_inner;

/* result = index * 5 + arg (0 without one); items whose index % 4099 == 4098 fail with 55.
 * With a model, each item also maps 20 items on the inner invoker. */
static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    if (task->index % 4099 == 4098) return 55;
    uint64_t extra = 0;
    if (model) {
        uint64_t r[20];
        if (lk_invoker_map(*(lk_invoker *const *)model, NULL, 20, 0, r, sizeof r[0]) != LK_OK) return 66;
        for (int k = 0; k < 20; k++) {
            if (r[k] != (uint64_t)k * 5) return 67;
            extra += r[k];
        }
    }
    *(uint64_t *)result = task->index * 5 + (arg ? *(const uint64_t *)arg : 0) + extra;
    return 0;
}

static void *cancel_soon(void *p) {
    lkt_sleep_us(2000);
    CHECK_OK(lk_invoker_cancel((lk_invoker *)p));
    return NULL;
}

int main(void) {
    lkt_watchdog_thread(240);
    double t0 = lkt_storm_start();
    CHECK_OK(lk_invoker_new(NULL, op, 2, &g_inner));
    enum { N = 30000 };
    static uint64_t args[N], results[N];
    static int32_t status[N];
    for (int i = 0; i < N; i++) args[i] = (uint64_t)i * 11;
    long maps = 0;
    for (int round = 0; round < ROUNDS; round++) {
        int n_jobs = 1 + round % 4;
        int nested = round % 5 == 0;
        int cancel = round % 7 == 3;
        lk_invoker_options o;
        lk_invoker_options_init(&o, sizeof o);
        o.n_jobs = n_jobs;
        o.error_mode = round % 2 ? LK_ERRORS_KEEP_GOING : LK_ERRORS_FAIL_FAST;
        lk_invoker *inv = NULL;
        CHECK_OK(lk_invoker_new_with(nested ? (const void *)&g_inner : NULL, op, &o, &inv));
        size_t n = nested ? 500 : (size_t)(lkt_mix((uint64_t)round) % N);
        memset(results, 0, sizeof results);
        lk_map_options mo = lkt_with_status(status);
        pthread_t t;
        if (cancel) CHECK(pthread_create(&t, NULL, cancel_soon, inv) == 0);
        lk_status s = lk_invoker_map_with(inv, args, n, sizeof args[0], results, sizeof results[0], &mo);
        if (cancel) CHECK(pthread_join(t, NULL) == 0);
        maps++;
        size_t lowest = SIZE_MAX, skipped = 0;
        uint64_t extra = nested ? 950 : 0; /* sum of k * 5 for k < 20 */
        for (size_t i = 0; i < n; i++) {
            if (status[i] == LK_ITEM_SKIPPED) {
                CHECK(results[i] == 0);
                skipped++;
            } else if (i % 4099 == 4098) {
                CHECK(status[i] == 55);
                if (lowest == SIZE_MAX) lowest = i;
            } else {
                CHECK_MSG(status[i] == 0 && results[i] == i * 5 + args[i] + extra,
                          "round %d item %zu status %d", round, i, status[i]);
            }
        }
        if (lowest != SIZE_MAX) {
            CHECK_MSG(s == LK_ERR_CALLBACK, "round %d: %d %s", round, (int)s, lk_last_error());
            CHECK_MSG(lkt_has_number(lk_last_error(), (long long)lowest), "%s", lk_last_error());
        } else if (skipped > 0) {
            CHECK_MSG(cancel && s == LK_ERR_CANCELLED, "round %d: %d %s", round, (int)s, lk_last_error());
        } else {
            CHECK_MSG(s == LK_OK || (cancel && s == LK_ERR_CANCELLED), "round %d: %d %s", round, (int)s,
                      lk_last_error());
        }
        if (!cancel && o.error_mode == LK_ERRORS_KEEP_GOING) CHECK(skipped == 0);
        CHECK_OK(lk_invoker_shutdown(inv));
    }
    CHECK_OK(lk_invoker_shutdown(g_inner));
    double took;
    long seen = lkt_storm_stop(t0, &took);
    printf("reliability_fault_signal_sigalrm_threads: ok (%ld maps, %ld signals in %.2f s)\n", maps, seen, took);
    return 0;
}
