/* lk_range_stopped and LK_RANGE_STOPPED while a map stops (API.md, Range
 * maps):
 *  - cancel: a long range that polls lk_range_stopped sees it turn
 *    non-zero after lk_invoker_cancel from another thread, and stops with
 *    LK_RANGE_STOPPED at the first item it did not do: the map returns
 *    LK_ERR_CANCELLED, the items before it have status 0 and their results,
 *    the items from it on are LK_ITEM_SKIPPED (not failed) with their slots
 *    untouched; the next map runs in full and lk_range_stopped stays 0 in
 *    it (cancel is not sticky). n_jobs 1 and 2.
 *  - fail-fast: while one range runs, another fails at its first item: the
 *    running one sees lk_range_stopped turn non-zero, stops with
 *    LK_RANGE_STOPPED, and its remaining items are LK_ITEM_SKIPPED; the map
 *    returns LK_ERR_CALLBACK naming the failing item and its code (not the
 *    stopped range's). n_jobs 2 and 4.
 *  - keep-going: the same failure never makes lk_range_stopped non-zero,
 *    neither in the range that keeps running nor in the call for the rest
 *    of the failing range; every item runs. n_jobs 2 and 4. */
#include "range/rangetest.h"

enum { G = 4000, N = 2 * G, FAIL_CODE = 5 };

typedef struct {
    rt_log log;
    atomic_int runs[N];
    atomic_int started;      /* the polling range has begun */
    atomic_int saw_stopped;  /* some call saw lk_range_stopped non-zero */
    atomic_int stopped_at_start;
    atomic_long stopped_item; /* where the polling range stopped (-1: it did not) */
    int scenario;
    long item_us;
} state_t;

enum { CANCEL, FAIL_FAST, KEEP_GOING };

static int32_t range_fn(const void *model, const void *args, void *results, lk_range *r) {
    state_t *s = (state_t *)model;
    rt_call *c = rt_log_begin(&s->log, r, args, results);
    if (lk_range_stopped(r)) atomic_store(&s->stopped_at_start, 1);
    uint64_t *res = (uint64_t *)results;
    int failer = s->scenario != CANCEL && r->begin == 0;
    if (failer) {
        /* fail at the first item once the other range runs */
        double t0 = lkt_now();
        while (!atomic_load(&s->started) && lkt_now() - t0 < 20) lkt_sleep_us(200);
        atomic_fetch_add(&s->runs[0], 1);
        r->failed = 0;
        return rt_log_end(c, r, FAIL_CODE);
    }
    atomic_store(&s->started, 1);
    double t0 = lkt_now();
    for (size_t i = r->begin; i < r->end; i++, res++) {
        if (lk_range_stopped(r)) {
            atomic_store(&s->saw_stopped, 1);
            atomic_store(&s->stopped_item, (long)i);
            r->failed = i;
            return rt_log_end(c, r, LK_RANGE_STOPPED);
        }
        atomic_fetch_add(&s->runs[i], 1);
        *res = i * 5 + 1;
        /* wait for the stop: slow items, but only for a while (20 s) */
        if (s->item_us && lkt_now() - t0 < 20) lkt_sleep_us(s->item_us);
    }
    return rt_log_end(c, r, 0);
}

static uint64_t results[N];
static int32_t status[N];

static void reset(state_t *s, int scenario, long item_us) {
    rt_log_clear(&s->log);
    for (int i = 0; i < N; i++) {
        atomic_store(&s->runs[i], 0);
        results[i] = 0;
        status[i] = 0x5A5A5A5A;
    }
    atomic_store(&s->started, 0);
    atomic_store(&s->saw_stopped, 0);
    atomic_store(&s->stopped_at_start, 0);
    atomic_store(&s->stopped_item, -1);
    s->scenario = scenario;
    s->item_us = item_us;
}

/* After a stopped map: each item ran once with status 0 and its result, or
 * was skipped (never ran, slot untouched). Returns how many were skipped. */
static size_t check_ran_or_skipped(state_t *s, const char *what, size_t from) {
    size_t skipped = 0;
    for (size_t i = from; i < N; i++) {
        if (status[i] == LK_ITEM_SKIPPED) {
            CHECK_MSG(atomic_load(&s->runs[i]) == 0, "%s: item %zu is skipped but ran", what, i);
            CHECK_MSG(results[i] == 0, "%s: item %zu is skipped but its slot was written", what, i);
            skipped++;
        } else {
            CHECK_MSG(status[i] == 0, "%s: item %zu has status %d", what, i, (int)status[i]);
            CHECK_MSG(atomic_load(&s->runs[i]) == 1 && results[i] == i * 5 + 1, "%s: item %zu", what, i);
        }
    }
    return skipped;
}

/* Every range that returned LK_RANGE_STOPPED: its items before range->failed
 * have status 0, those from it on LK_ITEM_SKIPPED (not run, not failed);
 * a range that returned 0 has every item 0; items no range got are
 * skipped. Returns how many ranges stopped early. */
static int check_stopped_ranges(state_t *s, const char *what) {
    static char covered[N];
    memset(covered, 0, sizeof covered);
    size_t n = rt_log_count(&s->log);
    int stopped = 0;
    for (size_t k = 0; k < n; k++) {
        const rt_call *c = &s->log.calls[k];
        size_t until = c->end;
        if (c->ret == LK_RANGE_STOPPED) {
            CHECK_MSG(c->failed >= c->begin && c->failed < c->end, "%s: a range stopped at %zu", what, c->failed);
            until = c->failed;
            stopped++;
        } else if (c->ret != 0) {
            until = c->begin; /* the failing item (checked by the caller) */
        }
        for (size_t i = c->begin; i < c->end; i++) {
            covered[i] = 1;
            if (c->ret != 0 && c->ret != LK_RANGE_STOPPED && i == c->begin) continue;
            int32_t want = i < until ? 0 : LK_ITEM_SKIPPED;
            CHECK_MSG(status[i] == want, "%s: item %zu of range %zu..%zu (returned %d, failed %zu) has status %d, "
                      "expected %d", what, i, c->begin, c->end, (int)c->ret, c->failed, (int)status[i], (int)want);
        }
    }
    for (size_t i = 0; i < N; i++)
        if (!covered[i])
            CHECK_MSG(status[i] == LK_ITEM_SKIPPED, "%s: item %zu ran in no range but has status %d", what, i,
                      (int)status[i]);
    return stopped;
}

static void full_map(lk_invoker *inv, state_t *s, int scenario, const char *what) {
    reset(s, scenario, 0);
    s->scenario = CANCEL; /* nothing fails */
    lk_map_options mo = lkt_with_status(status);
    CHECK_OK(lk_invoker_map_with(inv, NULL, N, 0, results, sizeof results[0], &mo));
    CHECK_MSG(!atomic_load(&s->saw_stopped) && !atomic_load(&s->stopped_at_start),
              "%s: lk_range_stopped was non-zero in the map after", what);
    CHECK(check_ran_or_skipped(s, what, 0) == 0);
}

static void cancel_case(state_t *s, int n_jobs) {
    char what[64];
    snprintf(what, sizeof what, "cancel, n_jobs %d", n_jobs);
    lk_invoker_options o = lkt_options(n_jobs);
    o.grain = N; /* one range: the whole map */
    lk_invoker *inv = rt_new_with(s, range_fn, &o);
    reset(s, CANCEL, 2000); /* slow items: the cancel comes long before the range ends */
    rt_canceller c;
    rt_canceller_start(&c, inv, &s->started, 200, 5000); /* 5 ms after the range began */
    lk_map_options mo = lkt_with_status(status);
    CHECK_FAIL(lk_invoker_map_with(inv, NULL, N, 0, results, sizeof results[0], &mo), LK_ERR_CANCELLED);
    rt_canceller_join(&c);
    CHECK_MSG(atomic_load(&s->saw_stopped), "%s: lk_range_stopped never turned non-zero", what);
    CHECK_MSG(!atomic_load(&s->stopped_at_start), "%s: lk_range_stopped was non-zero as the range began", what);
    long at = atomic_load(&s->stopped_item);
    CHECK(at > 0 && at < N);
    rt_check_calls(&s->log, 0, N, n_jobs, what);
    rt_check_disjoint(&s->log, what);
    CHECK(check_ran_or_skipped(s, what, 0) > 0);
    CHECK_MSG(check_stopped_ranges(s, what) >= 1, "%s: no range returned LK_RANGE_STOPPED", what);
    full_map(inv, s, CANCEL, what);
    CHECK_OK(lk_invoker_shutdown(inv));
    printf("%s: stopped at item %ld: ok\n", what, at);
}

static void failure_case(state_t *s, int n_jobs, int keep_going) {
    char what[64];
    snprintf(what, sizeof what, "%s, n_jobs %d", keep_going ? "keep-going" : "fail-fast", n_jobs);
    lk_invoker_options o = lkt_options(n_jobs);
    o.grain = G; /* two ranges: 0..G and G..2G */
    o.error_mode = keep_going ? LK_ERRORS_KEEP_GOING : LK_ERRORS_FAIL_FAST;
    lk_invoker *inv = rt_new_with(s, range_fn, &o);
    /* fail-fast: slow items, the stop comes long before the range's end */
    reset(s, keep_going ? KEEP_GOING : FAIL_FAST, keep_going ? 10 : 5000);
    lk_map_options mo = lkt_with_status(status);
    CHECK_FAIL(lk_invoker_map_with(inv, NULL, N, 0, results, sizeof results[0], &mo), LK_ERR_CALLBACK);
    unsigned long long index = 0;
    long long code = 0;
    CHECK(lkt_parse_failure(lk_last_error(), &index, &code));
    CHECK_MSG(index == 0 && code == FAIL_CODE, "%s: \"%s\"", what, lk_last_error());
    CHECK_MSG(atomic_load(&s->started), "%s: the second range never ran beside the first", what);
    CHECK(status[0] == FAIL_CODE);
    rt_check_calls(&s->log, 0, N, n_jobs, what);
    rt_check_disjoint(&s->log, what);
    if (keep_going) {
        CHECK_MSG(!atomic_load(&s->saw_stopped) && !atomic_load(&s->stopped_at_start),
                  "%s: lk_range_stopped turned non-zero after a keep-going failure", what);
        CHECK(check_ran_or_skipped(s, what, 1) == 0);
        rt_check_tiling(&s->log, 0, N, what);
    } else {
        CHECK_MSG(atomic_load(&s->saw_stopped), "%s: the running range never saw lk_range_stopped", what);
        long at = atomic_load(&s->stopped_item);
        check_ran_or_skipped(s, what, 1);
        CHECK_MSG(check_stopped_ranges(s, what) >= 1, "%s: no range returned LK_RANGE_STOPPED", what);
        printf("%s: the other range stopped at item %ld\n", what, at);
    }
    full_map(inv, s, CANCEL, what);
    CHECK_OK(lk_invoker_shutdown(inv));
    printf("%s: ok\n", what);
}

int main(int argc, char **argv) {
    lkt_backend_init(argc, argv);
    lkt_watchdog(120);
    state_t *s = (state_t *)lkt_shared(sizeof *s);
    cancel_case(s, 1);
    cancel_case(s, 2);
    for (int keep = 0; keep < 2; keep++) {
        failure_case(s, 2, keep);
        failure_case(s, 4, keep);
    }
    printf("range_api_stopped: ok\n");
    return 0;
}
