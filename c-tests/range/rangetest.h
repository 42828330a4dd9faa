/* Helpers for the tests of range invokers (c-tests/range/, and the range
 * runs of c-tests/stream/): making a range invoker, and a log of every
 * call a range function got, kept in lkt_shared() memory so that worker
 * processes write to it too. Everything else is in lktest.h. */
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
