/* Helpers for the tests of range invokers (c-tests/range/, and the range
 * runs of c-tests/stream/): making a range invoker, and a log of every
 * call a range function got, kept in lkt_shared() memory so that worker
 * processes write to it too; the loop over the invokers a test runs on,
 * the start of a test whose workers die, and a thread that cancels a map
 * in flight. Everything else is in
 * lktest.h. */
#ifndef RANGETEST_H
#define RANGETEST_H

#include "lktest.h"

/* A range invoker with options `o` (its range_func set to `fn`, func NULL). */
static inline lk_invoker *rt_new_with(const void *model, lk_range_fn fn, lk_invoker_options *o) {
    o->range_func = fn;
    return lkt_new_with(model, NULL, o);
}

/* A range invoker on this run's backend with `n_jobs` workers (fail-fast). */
static inline lk_invoker *rt_new(const void *model, lk_range_fn fn, int32_t n_jobs) {
    lk_invoker_options o = lkt_options(n_jobs);
    return rt_new_with(model, fn, &o);
}

/* ---- the invokers a test loops over ---- */

static const char *const rt_mode_name[2] = {"fail-fast", "keep-going"};

/* Options for `n_jobs` workers on this run's backend, fail-fast (keep 0)
 * or keep-going (keep 1). */
static inline lk_invoker_options rt_options_mode(int32_t n_jobs, int keep) {
    lk_invoker_options o = lkt_options(n_jobs);
    o.error_mode = keep ? LK_ERRORS_KEEP_GOING : LK_ERRORS_FAIL_FAST;
    return o;
}

/* n_jobs 1 and 2: the worker counts most tests run each case with. */
static const int32_t rt_jobs_1_2[2] = {1, 2};

/* A test's nested loops over its invokers, as one loop, outermost first:
 * `kinds` kinds of invoker (named by kind_name[kind]; 0 counts as 1, with
 * no name), each n_jobs in jobs[0 .. jobs_count), each error mode (with
 * `modes` 2: fail-fast, then keep-going; else fail-fast only, not named),
 * and `inner` values (0 counts as 1) of an axis the test gives a meaning
 * (a window, a case ...). Make one with rt_loop_of (or st_loop_of) and
 * step it: for (rt_loop l = rt_loop_modes(); rt_loop_next(&l);) ... */
typedef struct rt_loop {
    const int32_t *jobs;
    int jobs_count, kinds, modes, inner;
    const char *const *kind_name;
    int steps;       /* taken so far */
    /* this step */
    int kind;
    int32_t n_jobs;
    int keep;        /* 1: keep-going, 0: fail-fast */
    int at;          /* 0 .. inner - 1 */
    char what[64];   /* "[range invoker, ]n_jobs 2[, keep-going]" */
} rt_loop;

static inline rt_loop rt_loop_of(const int32_t *jobs, int jobs_count, int modes, int inner) {
    rt_loop l;
    memset(&l, 0, sizeof l);
    l.jobs = jobs;
    l.jobs_count = jobs_count;
    l.modes = modes;
    l.inner = inner;
    return l;
}

/* n_jobs 1 and 2, each fail-fast then keep-going. */
static inline rt_loop rt_loop_modes(void) {
    return rt_loop_of(rt_jobs_1_2, 2, 2, 1);
}

/* Take the next step; 0 once every one has been taken. */
static inline int rt_loop_next(rt_loop *l) {
    int kinds = l->kinds > 0 ? l->kinds : 1, modes = l->modes == 2 ? 2 : 1, inner = l->inner > 0 ? l->inner : 1;
    if (l->steps >= kinds * l->jobs_count * modes * inner) return 0;
    int i = l->steps++;
    l->at = i % inner;
    i /= inner;
    l->keep = i % modes;
    i /= modes;
    l->n_jobs = l->jobs[i % l->jobs_count];
    l->kind = i / l->jobs_count;
    int len = 0;
    if (l->kind_name) len = snprintf(l->what, sizeof l->what, "%s invoker, ", l->kind_name[l->kind]);
    len += snprintf(l->what + len, sizeof l->what - (size_t)len, "n_jobs %d", (int)l->n_jobs);
    if (modes == 2) snprintf(l->what + len, sizeof l->what - (size_t)len, ", %s", rt_mode_name[l->keep]);
    return 1;
}

/* The end of a step: shut its invoker down, and say the step passed. */
static inline void rt_loop_done(const rt_loop *l, lk_invoker *inv) {
    lk_status st = lk_invoker_shutdown(inv);
    CHECK_MSG(st == LK_OK, "%s: lk_invoker_shutdown returned %d (%s)", l->what, (int)st, lk_last_error());
    printf("%s: ok\n", l->what);
}

/* The start of a test whose workers die on purpose: on the process
 * backend only, with a watchdog of `seconds` and no core files. */
static inline void rt_dying_workers_init(int argc, char **argv, unsigned seconds) {
    lkt_backend_init(argc, argv);
    CHECK(lkt_processes());
    lkt_watchdog(seconds);
    lkt_no_core_dumps();
}

/* ---- cancelling a map in flight ---- */

/* A thread that cancels `inv` delay_us after *started turns non-zero
 * (polled every poll_us): the map is in flight by then. */
typedef struct rt_canceller {
    lk_invoker *inv;
    atomic_int *started;
    long poll_us, delay_us;
    pthread_t thread;
} rt_canceller;

static inline void *rt_canceller_main(void *arg) {
    rt_canceller *c = (rt_canceller *)arg;
    while (!atomic_load(c->started)) lkt_sleep_us(c->poll_us);
    lkt_sleep_us(c->delay_us);
    CHECK_OK(lk_invoker_cancel(c->inv));
    return NULL;
}

static inline void rt_canceller_start(rt_canceller *c, lk_invoker *inv, atomic_int *started, long poll_us,
                                      long delay_us) {
    c->inv = inv;
    c->started = started;
    c->poll_us = poll_us;
    c->delay_us = delay_us;
    CHECK(pthread_create(&c->thread, NULL, rt_canceller_main, c) == 0);
}

static inline void rt_canceller_join(rt_canceller *c) {
    CHECK(pthread_join(c->thread, NULL) == 0);
}

/* ---- a log of range calls ---- */

enum { RT_MAX_CALLS = 1 << 16 };

typedef struct rt_call {
    size_t begin, end;
    size_t preset;   /* range->failed when the call began */
    size_t failed;   /* range->failed when it returned */
    uintptr_t args, results;
    int32_t ret;
    uint32_t worker;
} rt_call;

typedef struct rt_log {
    atomic_long n;
    rt_call calls[RT_MAX_CALLS];
} rt_log;

static inline rt_log *rt_log_new(void) {
    return (rt_log *)lkt_shared(sizeof(rt_log));
}

static inline void rt_log_clear(rt_log *log) {
    atomic_store(&log->n, 0);
}

/* Record a call when it begins; returns its slot (or NULL past the end,
 * which rt_log_count reports). */
static inline rt_call *rt_log_begin(rt_log *log, const lk_range *r, const void *args, const void *results) {
    long k = atomic_fetch_add(&log->n, 1);
    if (k >= RT_MAX_CALLS) return NULL;
    rt_call *c = &log->calls[k];
    c->begin = r->begin;
    c->end = r->end;
    c->preset = r->failed;
    c->failed = r->failed;
    c->args = (uintptr_t)args;
    c->results = (uintptr_t)results;
    c->ret = 0;
    c->worker = r->worker;
    return c;
}

/* Record how the call ended, and return `ret`. */
static inline int32_t rt_log_end(rt_call *c, const lk_range *r, int32_t ret) {
    if (c) {
        c->failed = r->failed;
        c->ret = ret;
    }
    return ret;
}

static inline size_t rt_log_count(rt_log *log) {
    long n = atomic_load(&log->n);
    CHECK_MSG(n <= RT_MAX_CALLS, "%ld range calls, more than the log holds (%d)", n, RT_MAX_CALLS);
    return (size_t)n;
}

static int rt_cmp_call(const void *a, const void *b) {
    const rt_call *x = (const rt_call *)a, *y = (const rt_call *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return (x->end > y->end) - (x->end < y->end);
}

/* The calls, sorted by begin (a copy: free() it); their count in *n. */
static inline rt_call *rt_log_sorted(rt_log *log, size_t *n) {
    *n = rt_log_count(log);
    rt_call *c = (rt_call *)malloc((*n + 1) * sizeof *c);
    CHECK(c != NULL);
    memcpy(c, log->calls, *n * sizeof *c);
    qsort(c, *n, sizeof *c, rt_cmp_call);
    return c;
}

/* The item a failing call reported, as the contract reads range->failed:
 * a value outside begin .. end-1 counts as begin. */
static inline size_t rt_failed_item(const rt_call *c) {
    return (c->failed >= c->begin && c->failed < c->end) ? c->failed : c->begin;
}

/* Of the calls whose range holds item `index`: the first (lowest begin),
 * or with `latest` the last (highest begin: after a worker died, the call
 * that was running the item and never returned); NULL if none. */
static inline const rt_call *rt_call_holding(rt_log *log, size_t index, int latest) {
    size_t n = rt_log_count(log);
    const rt_call *found = NULL;
    for (size_t k = 0; k < n; k++) {
        const rt_call *c = &log->calls[k];
        if (index < c->begin || index >= c->end) continue;
        if (!found || (latest ? c->begin > found->begin : c->begin < found->begin)) found = c;
    }
    return found;
}

/* What every call must be: never empty, inside the map's task indices
 * [base, base + n), range->failed preset to begin, worker below n_jobs. */
static inline void rt_check_calls(rt_log *log, size_t base, size_t n, int n_jobs, const char *what) {
    size_t count = rt_log_count(log);
    for (size_t k = 0; k < count; k++) {
        const rt_call *c = &log->calls[k];
        CHECK_MSG(c->begin < c->end, "%s: a range call with begin %zu, end %zu (empty)", what, c->begin, c->end);
        CHECK_MSG(c->begin >= base && c->end <= base + n, "%s: range %zu..%zu outside the map's %zu..%zu", what,
                  c->begin, c->end, base, base + n);
        CHECK_MSG(c->preset == c->begin, "%s: range %zu..%zu began with failed = %zu, not begin", what, c->begin,
                  c->end, c->preset);
        CHECK_MSG((int)c->worker < (n_jobs < 1 ? 1 : n_jobs), "%s: range %zu..%zu on worker %u of %d", what,
                  c->begin, c->end, c->worker, n_jobs);
    }
}

/* The calls of a map that ran in full (no failure, or keep-going) tile it:
 * sorted by begin, each call starts where the last one's work ended, and a
 * call after a failing item at f is the rest of that range, f+1 .. end
 * (keep-going); together they cover [base, base + n) exactly. */
static inline void rt_check_tiling(rt_log *log, size_t base, size_t n, const char *what) {
    size_t count = 0;
    rt_call *c = rt_log_sorted(log, &count);
    size_t pos = base, chain_end = 0;
    int chained = 0;
    for (size_t k = 0; k < count; k++) {
        CHECK_MSG(c[k].begin == pos, "%s: a range begins at %zu, the item expected next is %zu (overlap or gap)", what,
                  c[k].begin, pos);
        if (chained)
            CHECK_MSG(c[k].end == chain_end, "%s: the call for the rest of a range after a failure is %zu..%zu, not "
                      "%zu..%zu", what, c[k].begin, c[k].end, c[k].begin, chain_end);
        if (c[k].ret == 0) {
            pos = c[k].end;
            chained = 0;
        } else {
            size_t f = rt_failed_item(&c[k]);
            pos = f + 1;
            chained = pos < c[k].end;
            chain_end = c[k].end;
        }
    }
    CHECK_MSG(pos == base + n, "%s: the ranges end at %zu, the map at %zu", what, pos, base + n);
    free(c);
}

/* The calls of any map never overlap (sorted by begin, each starts at or
 * after the last one's end, or is the rest of a failing range). */
static inline void rt_check_disjoint(rt_log *log, const char *what) {
    size_t count = 0;
    rt_call *c = rt_log_sorted(log, &count);
    for (size_t k = 1; k < count; k++) {
        int rest = c[k - 1].ret != 0 && c[k].begin == rt_failed_item(&c[k - 1]) + 1 && c[k].end == c[k - 1].end;
        CHECK_MSG(rest || c[k].begin >= c[k - 1].end, "%s: ranges %zu..%zu and %zu..%zu overlap", what, c[k - 1].begin,
                  c[k - 1].end, c[k].begin, c[k].end);
    }
    free(c);
}

/* The call whose range holds item `index` and that ran it (its begin is at
 * or below the item, and it did not fail before it); NULL if none. */
static inline const rt_call *rt_call_of(rt_log *log, size_t index) {
    size_t count = rt_log_count(log);
    for (size_t k = 0; k < count; k++) {
        const rt_call *c = &log->calls[k];
        if (index < c->begin || index >= c->end) continue;
        if (c->ret != 0 && rt_failed_item(c) < index) continue;
        return c;
    }
    return NULL;
}

#endif
