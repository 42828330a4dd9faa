/* lk_invoker_options.item_timeout_ms (the header's contract): on the
 * process backend an item that runs past the limit fails with
 * LK_ITEM_TIMED_OUT and the map returns LK_ERR_TIMEOUT naming the item;
 * its worker is killed and replaced (its pid ends, a new one takes its
 * place) and the invoker stays usable. Also:
 *  - an item that sleeps for 20 s ends the map within a few seconds, in
 *    both error modes (keep-going: every other item ran, status 0);
 *  - a worker stopped by SIGSTOP no longer holds the map: with a limit
 *    the map returns LK_ERR_TIMEOUT;
 *  - a range invoker has the limit per item it holds: a range of 50
 *    items of 4 ms each (200 ms in all) under a 100 ms limit runs; a
 *    range that hangs times out, its items LK_ITEM_TIMED_OUT (those it had
 *    not finished: the range's, from its begin), the message naming the
 *    range;
 *  - items under the limit never time out;
 *  - with the threads backend (n_jobs 1 and 2) a non-zero limit is
 *    LK_ERR_UNSUPPORTED at lk_invoker_new_with (*out untouched); 0 works.
 * n_jobs 1 and 2. */
#include "procstest.h"

enum { N = 200, SLOW = 37, LIMIT_MS = 300 };

typedef struct {
    atomic_int slow_at; /* the item that hangs, once (-1: none) */
    atomic_int how;     /* 0: sleep 30 s; 1: SIGSTOP itself */
    atomic_int hung_pid;
    atomic_int runs[N];
    long item_us;
} state_t;

static state_t *st;

static void hang(size_t index) {
    if (!lkt_take(&st->slow_at, index)) return;
    atomic_store(&st->hung_pid, (int)getpid());
    if (atomic_load(&st->how) == 1) raise(SIGSTOP);
    lkt_sleep_us(20 * 1000000L);
}

static int32_t item_fn(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    hang(task->index);
    atomic_fetch_add(&st->runs[task->index], 1);
    if (st->item_us) lkt_sleep_us(st->item_us);
    *(uint64_t *)result = task->index + 100;
    return 0;
}

static int32_t range_fn(const void *model, const void *args, void *results, lk_range *r) {
    (void)model;
    (void)args;
    uint64_t *res = (uint64_t *)results;
    for (size_t i = r->begin; i < r->end; i++) {
        hang(i);
        atomic_fetch_add(&st->runs[i], 1);
        if (st->item_us) lkt_sleep_us(st->item_us);
        *res++ = i + 100;
    }
    return 0;
}

static uint64_t results[N];
static int32_t status[N];

static void reset(long item_us) {
    for (int i = 0; i < N; i++) {
        atomic_store(&st->runs[i], 0);
        results[i] = 0;
        status[i] = 0x5A5A5A5A;
    }
    st->item_us = item_us;
    atomic_store(&st->hung_pid, 0);
}

static void full_map(lk_invoker *inv, const char *what) {
    reset(0);
    atomic_store(&st->slow_at, -1);
    lk_map_options mo = lkt_with_status(status);
    CHECK_OK(lk_invoker_map_with(inv, NULL, N, 0, results, sizeof results[0], &mo));
    for (int i = 0; i < N; i++)
        CHECK_MSG(status[i] == 0 && results[i] == (uint64_t)i + 100, "%s: the map after: item %d", what, i);
}

static void timed_out(int n_jobs, int keep_going, int range, int how) {
    char what[128];
    snprintf(what, sizeof what, "n_jobs %d, %s, %s invoker, %s", n_jobs, keep_going ? "keep-going" : "fail-fast",
             range ? "range" : "item", how ? "SIGSTOP" : "a 20 s sleep");
    lk_invoker_options o = pt_options(n_jobs);
    /* a range's limit is per item it holds: keep a range's short */
    o.item_timeout_ms = range ? 20 : LIMIT_MS;
    o.error_mode = keep_going ? LK_ERRORS_KEEP_GOING : LK_ERRORS_FAIL_FAST;
    o.grain = range ? 10 : 0;
    if (range) o.range_func = range_fn;
    lk_invoker *inv = lkt_new_with(NULL, range ? NULL : item_fn, &o);
    reset(0);
    atomic_store(&st->how, how);
    atomic_store(&st->slow_at, SLOW);
    lk_map_options mo = lkt_with_status(status);
    double t0 = lkt_now();
    CHECK_FAIL(lk_invoker_map_with(inv, NULL, N, 0, results, sizeof results[0], &mo), LK_ERR_TIMEOUT);
    double took = lkt_now() - t0;
    CHECK_MSG(took < 10, "%s: the map took %.1f s", what, took);
    CHECK(atomic_load(&st->slow_at) == -1);
    if (!range)
        CHECK_MSG(lkt_has_number(lk_last_error(), SLOW), "%s: the message does not name item %d: \"%s\"", what, SLOW,
                  lk_last_error());
    CHECK_MSG(status[SLOW] == LK_ITEM_TIMED_OUT, "%s: item %d has status %d", what, SLOW, (int)status[SLOW]);
    size_t timed = 0;
    for (int i = 0; i < N; i++) {
        if (status[i] == LK_ITEM_TIMED_OUT) {
            timed++;
            continue;
        }
        if (keep_going)
            CHECK_MSG(status[i] == 0, "%s: item %d has status %d", what, i, (int)status[i]);
        else
            CHECK_MSG(status[i] == 0 || status[i] == LK_ITEM_SKIPPED, "%s: item %d has status %d", what, i,
                      (int)status[i]);
        if (status[i] == 0) CHECK(results[i] == (uint64_t)i + 100 && atomic_load(&st->runs[i]) == 1);
    }
    if (!range) CHECK_MSG(timed == 1, "%s: %zu items timed out", what, timed);
    if (range) {
        /* the timed-out items are one range's, contiguous, the hung item among
         * them; the message names that range (its first and last item, or end) */
        int first = -1, last = -1;
        for (int i = 0; i < N; i++)
            if (status[i] == LK_ITEM_TIMED_OUT) {
                if (first < 0) first = i;
                CHECK_MSG(last < 0 || last == i - 1, "%s: the timed-out items are not contiguous", what);
                last = i;
            }
        CHECK(first <= SLOW && SLOW <= last);
        const char *m = lk_last_error();
        CHECK_MSG(lkt_has_number(m, first) && (lkt_has_number(m, last) || lkt_has_number(m, last + 1)),
                  "%s: the message does not name the range %d..%d: \"%s\"", what, first, last + 1, m);
    }
    /* the worker was killed (a stopped one too) and replaced */
    pid_t hung = (pid_t)atomic_load(&st->hung_pid);
    CHECK(hung > 0);
    CHECK_MSG(lkt_wait_dead(hung, 10), "%s: the worker that hung (pid %d) is still alive", what, (int)hung);
    full_map(inv, what);
    CHECK_OK(lk_invoker_shutdown(inv));
    printf("%s: LK_ERR_TIMEOUT after %.2f s: ok\n", what, took);
}

/* A range of 50 items of 4 ms (200 ms) under a 100 ms limit per item runs. */
static void per_item_limit(int n_jobs) {
    lk_invoker_options o = pt_options(n_jobs);
    o.item_timeout_ms = 100;
    o.grain = 50;
    o.range_func = range_fn;
    lk_invoker *inv = lkt_new_with(NULL, NULL, &o);
    reset(4000);
    atomic_store(&st->slow_at, -1);
    lk_map_options mo = lkt_with_status(status);
    CHECK_OK(lk_invoker_map_with(inv, NULL, N, 0, results, sizeof results[0], &mo));
    for (int i = 0; i < N; i++) CHECK(status[i] == 0 && results[i] == (uint64_t)i + 100);
    CHECK_OK(lk_invoker_shutdown(inv));

    /* items under the limit on an item invoker */
    o.range_func = NULL;
    o.grain = 0;
    inv = lkt_new_with(NULL, item_fn, &o);
    reset(4000);
    CHECK_OK(lk_invoker_map_with(inv, NULL, N, 0, results, sizeof results[0], &mo));
    for (int i = 0; i < N; i++) CHECK(status[i] == 0 && results[i] == (uint64_t)i + 100);
    CHECK_OK(lk_invoker_shutdown(inv));
    printf("n_jobs %d: ranges and items under the limit per item: ok\n", n_jobs);
}

static void threads_refuse(void) {
    lk_invoker *const SENTINEL = (lk_invoker *)(uintptr_t)0x5EED;
    for (int32_t j = 1; j <= 2; j++) {
        lk_invoker_options o = lkt_options_on(LK_BACKEND_THREADS, j);
        o.item_timeout_ms = 1000;
        lk_invoker *out = SENTINEL;
        CHECK_FAIL(lk_invoker_new_with(NULL, item_fn, &o, &out), LK_ERR_UNSUPPORTED);
        CHECK(out == SENTINEL);
        o.range_func = range_fn;
        CHECK_FAIL(lk_invoker_new_with(NULL, NULL, &o, &out), LK_ERR_UNSUPPORTED);
        CHECK(out == SENTINEL);
        o.item_timeout_ms = 0;
        CHECK_OK(lk_invoker_new_with(NULL, NULL, &o, &out));
        CHECK_OK(lk_invoker_shutdown(out));
    }
    printf("threads backend: a limit is LK_ERR_UNSUPPORTED: ok\n");
}

int main(void) {
    st = (state_t *)lkt_begin_crash_test(240, sizeof *st);
    atomic_store(&st->slow_at, -1);
    threads_refuse();
    for (int n_jobs = 1; n_jobs <= 2; n_jobs++) {
        for (int keep = 0; keep < 2; keep++)
            for (int range = 0; range < 2; range++) timed_out(n_jobs, keep, range, 0);
        timed_out(n_jobs, 0, 0, 1);
        timed_out(n_jobs, 1, 1, 1);
        per_item_limit(n_jobs);
    }
    printf("processes_fault_item_timeout: ok\n");
    return 0;
}
