/* Helpers for the tests of streaming maps (c-tests/stream/): a source that
 * hands out numbered arguments and a sink that checks what comes back, both
 * checking the rules of lk_invoker_stream as they go (API.md, Streaming
 * maps), an item and a range function that compute the same thing, and
 * the loop over item and range invokers the tests run on.
 *
 * The source and sink run in the calling process; the item and range
 * functions may run in worker processes, so what they count lives in an
 * st_shared (lkt_shared() memory). */
#ifndef STREAMTEST_H
#define STREAMTEST_H

#include <limits.h>

#include "range/rangetest.h"

/* The argument of relative item `rel`, and the result for it at task index `index`. */
static inline uint64_t st_arg(size_t rel) {
    return lkt_mix((uint64_t)rel) >> 4;
}
static inline uint64_t st_result(uint64_t arg, size_t index) {
    return arg * 3 + (uint64_t)index;
}

/* ---- what the item and range functions share (lkt_shared memory) ---- */

enum { ST_MAX_COUNTED = 1 << 20 }; /* items whose runs are counted one by one */

typedef struct st_shared {
    size_t base;          /* the stream's index_base */
    atomic_int bad_arg;   /* an item saw an argument that is not its own */
    atomic_int null_bad;  /* arg or result NULL where it should not be, or not NULL where it should */
    size_t arg_size, result_size;
    long item_us;         /* each item sleeps this long (0: no sleep) */
    atomic_long fail_at;  /* relative item that fails with fail_code (-1: none) */
    int32_t fail_code;
    long fail_delay_us;   /* fail_at sleeps this long before it fails */
    atomic_long fail2_at; /* another item that fails with fail_code, at once (-1: none) */
    atomic_long slow_below; /* items below this sleep slow_us first (0: none) */
    long slow_us;
    atomic_long started;    /* items started */
    /* range functions poll lk_range_stopped before each item and stop early
     * (LK_RANGE_STOPPED) when it is non-zero; stopped_seen counts those
     * calls, stopped_low those whose first item (relative) is at or below
     * stop_watch, which must never happen (a fail-fast stream stops only
     * the ranges above its failing item) */
    atomic_int stopped_seen, stopped_low;
    atomic_long stop_watch;
    rt_log log;             /* range calls */
    atomic_int runs[ST_MAX_COUNTED];
} st_shared;

static inline st_shared *st_shared_new(void) {
    st_shared *s = (st_shared *)lkt_shared(sizeof(st_shared));
    atomic_store(&s->fail_at, -1);
    atomic_store(&s->fail2_at, -1);
    s->arg_size = s->result_size = sizeof(uint64_t);
    return s;
}

/* Clear the counts for a new stream of items from `base`. */
static inline void st_shared_reset(st_shared *s, size_t base, size_t count) {
    s->base = base;
    atomic_store(&s->bad_arg, 0);
    atomic_store(&s->null_bad, 0);
    atomic_store(&s->fail_at, -1);
    atomic_store(&s->fail2_at, -1);
    s->fail_delay_us = 0;
    atomic_store(&s->slow_below, 0);
    atomic_store(&s->started, 0);
    atomic_store(&s->stopped_seen, 0);
    atomic_store(&s->stopped_low, 0);
    atomic_store(&s->stop_watch, LONG_MAX);
    s->item_us = 0;
    rt_log_clear(&s->log);
    if (count > ST_MAX_COUNTED) count = ST_MAX_COUNTED;
    for (size_t i = 0; i < count; i++) atomic_store(&s->runs[i], 0);
}

/* One item: check its argument, count it, maybe sleep or fail, write its result. */
static inline int32_t st_item(st_shared *s, const void *arg, void *result, size_t index) {
    size_t rel = index - s->base;
    atomic_fetch_add(&s->started, 1);
    if ((s->arg_size == 0) != (arg == NULL) || (s->result_size == 0) != (result == NULL))
        atomic_fetch_add(&s->null_bad, 1);
    if (arg && *(const uint64_t *)arg != st_arg(rel)) atomic_fetch_add(&s->bad_arg, 1);
    if (rel < ST_MAX_COUNTED) atomic_fetch_add(&s->runs[rel], 1);
    if ((long)rel < atomic_load(&s->slow_below)) lkt_sleep_us(s->slow_us);
    if (s->item_us) lkt_sleep_us(s->item_us);
    if ((long)rel == atomic_load(&s->fail_at)) {
        if (s->fail_delay_us) lkt_sleep_us(s->fail_delay_us);
        return s->fail_code;
    }
    if ((long)rel == atomic_load(&s->fail2_at)) return s->fail_code;
    if (result) *(uint64_t *)result = st_result(arg ? *(const uint64_t *)arg : st_arg(rel), index);
    return 0;
}

static inline int32_t st_item_fn(const void *model, const void *arg, void *result, const lk_task *task) {
    return st_item((st_shared *)model, arg, result, task->index);
}

static inline int32_t st_range_fn(const void *model, const void *args, void *results, lk_range *r) {
    st_shared *s = (st_shared *)model;
    rt_call *c = rt_log_begin(&s->log, r, args, results);
    const uint8_t *a = (const uint8_t *)args;
    uint8_t *res = (uint8_t *)results;
    for (size_t i = r->begin; i < r->end; i++) {
        if (lk_range_stopped(r)) {
            atomic_fetch_add(&s->stopped_seen, 1);
            if ((long)(r->begin - s->base) <= atomic_load(&s->stop_watch)) atomic_fetch_add(&s->stopped_low, 1);
            r->failed = i;
            return rt_log_end(c, r, LK_RANGE_STOPPED);
        }
        int32_t code = st_item(s, a, res, i);
        if (code) {
            r->failed = i;
            return rt_log_end(c, r, code);
        }
        if (a) a += s->arg_size;
        if (res) res += s->result_size;
    }
    return rt_log_end(c, r, 0);
}

/* An invoker of `kind` (0: item function, 1: range function) with options `o`. */
static inline lk_invoker *st_new_with(st_shared *s, int kind, lk_invoker_options *o) {
    return kind ? rt_new_with(s, st_range_fn, o) : lkt_new_with(s, st_item_fn, o);
}

static const char *const st_kind_name[2] = {"item", "range"};

/* rt_loop_of over item then range invokers (kind 0, then 1). */
static inline rt_loop st_loop_of(const int32_t *jobs, int jobs_count, int modes, int inner) {
    rt_loop l = rt_loop_of(jobs, jobs_count, modes, inner);
    l.kinds = 2;
    l.kind_name = st_kind_name;
    return l;
}

/* The invoker of a step of such a loop: its kind, n_jobs and error mode. */
static inline lk_invoker *st_loop_new(st_shared *s, const rt_loop *l) {
    lk_invoker_options o = rt_options_mode(l->n_jobs, l->keep);
    return st_new_with(s, l->kind, &o);
}

/* ---- the source and the sink ---- */

enum { ST_FILL_FULL, ST_FILL_RANDOM, ST_FILL_ONE, ST_FILLS };
static const char *const st_fill_name[ST_FILLS] = {"full", "random", "one at a time"};

typedef struct st_io {
    /* set before the stream */
    size_t n;         /* items the source hands out in all */
    size_t base;      /* index_base */
    size_t window;    /* the window asked for (0: automatic; not checked then) */
    int fill;         /* ST_FILL_* */
    uint64_t rng;
    size_t arg_size;  /* 0: the source writes nothing */
    size_t result_size; /* 0: no results (the sink checks none) */
    int keep_results; /* sink checks results of status-0 items */
    /* fail or act on purpose */
    long source_fail_at_call; /* this source call (0-based) returns source_code (-1: none) */
    int32_t source_code;
    long sink_fail_at_call;   /* this sink call returns sink_code (-1: none) */
    int32_t sink_code;
    long overfill_at_call;    /* this source call sets *n_filled = capacity + 1 (-1: none) */
    long junk_n_filled_at_fail; /* the failing source call also sets *n_filled to junk */
    void (*on_source)(struct st_io *io, size_t call); /* called at the start of each source call */
    void (*on_sink)(struct st_io *io, size_t first, size_t n);
    void *ctx;
    /* counted */
    _Atomic size_t sourced, sunk; /* (source and sink may run on different threads) */
    size_t source_calls, sink_calls, ended_calls;
    size_t max_outstanding;  /* most of capacity + sourced - sunk seen at a source call */
    size_t min_capacity;
    atomic_int in_source, in_sink;
    atomic_int overlapped_source, overlapped_sink, overlap_source_sink;
    int window_exceeded, bad_capacity, bad_first, bad_n, null_status, bad_result, after_end;
    atomic_int after_failure;       /* a callback called after one returned non-zero */
    atomic_int failed_already;      /* a callback returned non-zero */
    atomic_int returned;            /* set by the test once lk_invoker_stream returned */
    atomic_int called_after_return;
    int32_t *status;         /* optional: every item's status, by relative index (n entries) */
    size_t skipped_seen, nonzero_seen;
} st_io;

static inline void st_io_init(st_io *io, size_t n, size_t base, size_t window, int fill) {
    memset(io, 0, sizeof *io);
    io->n = n;
    io->base = base;
    io->window = window;
    io->fill = fill;
    io->rng = 0x1234567 + n * 31 + window;
    io->arg_size = io->result_size = sizeof(uint64_t);
    io->keep_results = 1;
    io->source_fail_at_call = io->sink_fail_at_call = io->overfill_at_call = -1;
    io->min_capacity = SIZE_MAX;
}

/* What the source and the sink check as a call begins (`in` counts calls
 * of this callback in flight, `in_other` those of the other one): not
 * after lk_invoker_stream returned, nor after a failure, nor beside
 * another call. */
static inline void st_callback_begins(st_io *io, atomic_int *in, atomic_int *overlapped, atomic_int *in_other) {
    if (io->returned) io->called_after_return = 1;
    if (io->failed_already) io->after_failure = 1;
    if (atomic_fetch_add(in, 1) != 0) atomic_store(overlapped, 1);
    if (atomic_load(in_other)) io->overlap_source_sink = 1;
}

static inline int32_t st_source(void *user, void *args, size_t capacity, size_t *n_filled) {
    st_io *io = (st_io *)user;
    st_callback_begins(io, &io->in_source, &io->overlapped_source, &io->in_sink);
    size_t call = io->source_calls++;
    if (capacity < 1) io->bad_capacity = 1;
    if (capacity < io->min_capacity) io->min_capacity = capacity;
    size_t outstanding = capacity + (io->sourced - io->sunk);
    if (outstanding > io->max_outstanding) io->max_outstanding = outstanding;
    if (io->window && outstanding > io->window) io->window_exceeded = 1;
    if (io->ended_calls) io->after_end = 1; /* called again after it said the stream ended */
    if (io->on_source) io->on_source(io, call);
    int32_t ret = 0;
    if ((long)call == io->source_fail_at_call) {
        if (io->junk_n_filled_at_fail) *n_filled = capacity + 1000;
        io->failed_already = 1;
        ret = io->source_code;
    } else {
        size_t left = io->n - io->sourced, k = capacity < left ? capacity : left;
        if (io->fill == ST_FILL_ONE && k > 1) k = 1;
        if (io->fill == ST_FILL_RANDOM && k > 1) {
            io->rng = lkt_mix(io->rng);
            k = 1 + (size_t)(io->rng % k);
        }
        for (size_t i = 0; i < k && io->arg_size; i++)
            ((uint64_t *)args)[i] = st_arg(io->sourced + i);
        if (k == 0) io->ended_calls++;
        io->sourced += k;
        *n_filled = k;
        if ((long)call == io->overfill_at_call) *n_filled = capacity + 1;
    }
    atomic_fetch_sub(&io->in_source, 1);
    return ret;
}

static inline int32_t st_sink(void *user, size_t first, const void *results, const int32_t *item_status, size_t n) {
    st_io *io = (st_io *)user;
    st_callback_begins(io, &io->in_sink, &io->overlapped_sink, &io->in_source);
    size_t call = io->sink_calls++;
    if (n < 1) io->bad_n = 1;
    if (first != io->base + io->sunk) io->bad_first = 1;
    if (!item_status) io->null_status = 1;
    size_t rel0 = io->sunk;
    io->sunk += n; /* counts as sunk once the call has begun */
    if (io->on_sink) io->on_sink(io, first, n);
    for (size_t k = 0; item_status && k < n; k++) {
        size_t rel = rel0 + k;
        int32_t st = item_status[k];
        if (io->status && rel < io->n) io->status[rel] = st;
        if (st == LK_ITEM_SKIPPED) io->skipped_seen++;
        else if (st != 0) io->nonzero_seen++;
        if (st == 0 && io->keep_results && io->result_size && results &&
            ((const uint64_t *)results)[k] != st_result(st_arg(rel), io->base + rel))
        {
            if (!io->bad_result)
                fprintf(stderr,
                        "the sink got a wrong result for item %zu (task index %zu): %" PRIu64 ", expected %" PRIu64 "\n",
                        rel, io->base + rel, ((const uint64_t *)results)[k], st_result(st_arg(rel), io->base + rel));
            io->bad_result = 1;
        }
    }
    int32_t ret = 0;
    if ((long)call == io->sink_fail_at_call) {
        io->failed_already = 1;
        ret = io->sink_code;
    }
    atomic_fetch_sub(&io->in_sink, 1);
    return ret;
}

/* Run a stream over `io` on `inv` (window and index_base from io); the
 * returned status; io->returned is set afterwards. */
static inline lk_status st_run(lk_invoker *inv, st_io *io) {
    lk_stream_options so;
    lk_stream_options_init(&so, sizeof so);
    so.window = io->window;
    so.index_base = io->base;
    lk_status st = lk_invoker_stream(inv, st_source, st_sink, io, io->arg_size, io->result_size, &so);
    io->returned = 1;
    return st;
}

/* The rules every stream keeps, however it ended. */
static inline void st_check_rules(const st_io *io, const char *what) {
    CHECK_MSG(!io->overlapped_source, "%s: two source calls at once", what);
    CHECK_MSG(!io->overlapped_sink, "%s: two sink calls at once", what);
    CHECK_MSG(!io->bad_capacity, "%s: a source call with capacity 0", what);
    CHECK_MSG(!io->window_exceeded, "%s: capacity + sourced - sunk reached %zu, past the window %zu", what,
              io->max_outstanding, io->window);
    CHECK_MSG(!io->bad_first, "%s: a sink call out of order (first is not the next index)", what);
    CHECK_MSG(!io->bad_n, "%s: a sink call with n 0", what);
    CHECK_MSG(!io->null_status, "%s: a sink call with item_status NULL", what);
    CHECK_MSG(!io->bad_result, "%s: a wrong result reached the sink", what);
    CHECK_MSG(!io->after_end, "%s: the source was called again after it ended the stream", what);
    CHECK_MSG(!io->after_failure, "%s: a callback was called after the stream failed", what);
    CHECK_MSG(!io->called_after_return, "%s: a callback was called after lk_invoker_stream returned", what);
    CHECK_MSG(io->sunk <= io->sourced, "%s: %zu items sunk, %zu sourced", what, io->sunk, io->sourced);
}

/* A stream that succeeded: every item sourced reached the sink once, with
 * status 0, and ran exactly once (counted when n fits ST_MAX_COUNTED). */
static inline void st_check_complete(const st_io *io, st_shared *s, const char *what) {
    st_check_rules(io, what);
    CHECK_MSG(io->sourced == io->n, "%s: %zu items sourced of %zu", what, io->sourced, io->n);
    CHECK_MSG(io->sunk == io->n, "%s: %zu items sunk of %zu", what, io->sunk, io->n);
    CHECK_MSG(io->ended_calls == 1, "%s: the source ended the stream %zu times", what, io->ended_calls);
    CHECK_MSG(atomic_load(&s->null_bad) == 0, "%s: arg or result NULL-ness wrong in %d items (size 0 passes NULL, "
              "another size a slot)", what, atomic_load(&s->null_bad));
    CHECK_MSG(io->skipped_seen == 0 && io->nonzero_seen == 0, "%s: %zu skipped, %zu failed items reached the sink",
              what, io->skipped_seen, io->nonzero_seen);
    CHECK_MSG(atomic_load(&s->bad_arg) == 0, "%s: %d items got another item's argument", what,
              atomic_load(&s->bad_arg));
    CHECK_MSG(atomic_load(&s->stopped_seen) == 0, "%s: lk_range_stopped was non-zero in %d ranges of a stream that "
              "nothing stopped", what, atomic_load(&s->stopped_seen));
    size_t counted = io->n < ST_MAX_COUNTED ? io->n : ST_MAX_COUNTED;
    for (size_t i = 0; i < counted; i++)
        CHECK_MSG(atomic_load(&s->runs[i]) == 1, "%s: item %zu ran %d times", what, i, atomic_load(&s->runs[i]));
}

/* A stream of n items from `base` that nothing fails runs in full on `inv`
 * (after a failure: the invoker is still usable), checked as
 * st_check_complete. */
static inline void st_check_full_stream(lk_invoker *inv, st_shared *s, size_t n, size_t base, size_t window, int fill,
                                        const char *what) {
    st_shared_reset(s, base, n);
    st_io io;
    st_io_init(&io, n, base, window, fill);
    lk_status st = st_run(inv, &io);
    CHECK_MSG(st == LK_OK, "%s: the stream after it returned %d (%s)", what, (int)st, lk_last_error());
    st_check_complete(&io, s, what);
}

#endif
