/* Progress of a range invoker's maps (API.md, Range maps: progress is that
 * of the same map through an item function, except that it "moves a range
 * at a time"): the progress callback is called on the map's calling
 * thread with total == n_args and done <= total, done never decreasing,
 * during a full map of about a second made of several ranges, and last
 * with done == total — also when the map fails under fail-fast (skipped items
 * count as done), when it is cancelled, and under keep-going. n_jobs 1, 2
 * and 4, index_base 0 and 10^6. */
#include "range/rangetest.h"

enum { N = 800 };

typedef struct {
    pthread_t caller;
    int calls, wrong_thread, wrong_total, went_back;
    size_t last_done, last_total, total;
} prog_t;

static void on_progress(size_t done, size_t total, void *user) {
    prog_t *p = (prog_t *)user;
    if (!pthread_equal(pthread_self(), p->caller)) p->wrong_thread = 1;
    if (total != p->total || done > total) p->wrong_total = 1;
    if (p->calls && done < p->last_done) p->went_back = 1;
    p->calls++;
    p->last_done = done;
    p->last_total = total;
}

typedef struct {
    long item_us;
    long fail_at; /* relative; -1: none */
    size_t base;
    atomic_int started;
} state_t;

static int32_t range_fn(const void *model, const void *args, void *results, lk_range *r) {
    state_t *s = (state_t *)model;
    (void)args;
    (void)results;
    atomic_store(&s->started, 1);
    for (size_t i = r->begin; i < r->end; i++) {
        if (lk_range_stopped(r)) {
            r->failed = i;
            return LK_RANGE_STOPPED;
        }
        lkt_sleep_us(s->item_us);
        if ((long)(i - s->base) == s->fail_at) {
            r->failed = i;
            return 4;
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    lkt_backend_init(argc, argv);
    lkt_watchdog(120);
    state_t *s = (state_t *)lkt_shared(sizeof *s);
    static prog_t p;
    const int32_t jobs[] = {1, 2, 4};
    enum { PLAIN, FAILS, KEEP_GOING, CANCELLED, CASES };
    static const char *const case_name[CASES] = {"a full map", "a failing map", "keep-going", "cancelled"};
    for (int j = 0; j < 3; j++)
        for (int c = 0; c < CASES; c++) {
            char what[96];
            snprintf(what, sizeof what, "n_jobs %d, %s", jobs[j], case_name[c]);
            lk_invoker_options o = lkt_options(jobs[j]);
            o.progress = on_progress;
            o.progress_user = &p;
            o.grain = 20;
            o.error_mode = c == KEEP_GOING ? LK_ERRORS_KEEP_GOING : LK_ERRORS_FAIL_FAST;
            lk_invoker *inv = rt_new_with(s, range_fn, &o);
            memset(&p, 0, sizeof p);
            p.caller = pthread_self();
            p.total = N;
            s->item_us = 1200 * jobs[j]; /* about a second */
            s->fail_at = (c == FAILS || c == KEEP_GOING) ? N / 2 : -1;
            s->base = (size_t)(c % 2) * 1000000;
            lk_map_options mo;
            lk_map_options_init(&mo, sizeof mo);
            mo.index_base = s->base;
            atomic_store(&s->started, 0);
            /* cancel 300 ms after the first range began */
            rt_canceller cc;
            if (c == CANCELLED) rt_canceller_start(&cc, inv, &s->started, 1000, 300000);
            lk_status st = lk_invoker_map_with(inv, NULL, N, 0, NULL, 0, &mo);
            if (c == CANCELLED) rt_canceller_join(&cc);
            lk_status want = c == PLAIN ? LK_OK : c == CANCELLED ? LK_ERR_CANCELLED : LK_ERR_CALLBACK;
            CHECK_MSG(st == want, "%s: %d (%s)", what, (int)st, lk_last_error());
            /* over a second of full map, calls come while it runs; a failing or
             * cancelled map may stop inside the first range the calling thread
             * runs itself, so only the last call is sure then */
            CHECK_MSG(p.calls >= ((c == PLAIN || c == KEEP_GOING) ? 2 : 1), "%s: %d progress calls", what, p.calls);
            CHECK_MSG(!p.wrong_thread, "%s: progress off the map's calling thread", what);
            CHECK_MSG(!p.wrong_total, "%s: total != n_args or done > total", what);
            CHECK_MSG(!p.went_back, "%s: done went back", what);
            CHECK_MSG(p.last_done == N && p.last_total == N, "%s: the last call was (%zu, %zu)", what, p.last_done,
                      p.last_total);
            CHECK_OK(lk_invoker_shutdown(inv));
            printf("%s: %d progress calls: ok\n", what, p.calls);
        }
    printf("range_api_progress: ok\n");
    return 0;
}
