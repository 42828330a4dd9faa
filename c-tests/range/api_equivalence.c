/* A range invoker gives exactly what an item invoker gives whose function
 * does what the range function's loop body does (API.md, Range maps):
 * the status, lk_last_error() (the failing index and its code),
 * item_status, results and index_base, through lk_invoker_map and
 * lk_invoker_map_with, in both error modes, for n_jobs 1, 2 and 4. And the
 * calls themselves: never an empty range, range->failed preset to begin,
 * worker below n_jobs, ranges that never overlap and (when the map runs in
 * full) tile it exactly, every item run at most once (exactly once when
 * the map runs in full); under keep-going the function is called again for
 * the rest of a range after its failing item; under fail-fast the items
 * after it in its range are not run (LK_ITEM_SKIPPED, slot untouched). */
#include "range/rangetest.h"

enum { N = 3000 };
static const uint64_t SENT = 0xDEADBEEFCAFEF00DULL;

typedef struct {
    rt_log log;
    atomic_int runs[N];
    size_t base;
    int pattern; /* 0: nothing fails; 1: item FAIL1 fails; 2: several fail */
} state_t;

enum { FAIL1 = 1234 };

/* The failure code of relative item `rel` under `pattern` (0: success). */
static int32_t code_of(int pattern, size_t rel) {
    if (pattern == 1) return rel == FAIL1 ? 42 : 0;
    if (pattern == 2) {
        if (rel == 3) return 7;
        if (rel == 777 || rel == 778) return (int32_t)rel;
        if (rel == 2048) return -5;
        if (rel == N - 1) return INT32_MAX;
    }
    return 0;
}

static uint64_t expected(uint64_t arg, size_t index) {
    return arg * 2 + 1 + (uint64_t)index;
}

/* The loop body: count the run, fail or write the result. */
static int32_t body(state_t *s, const uint64_t *arg, uint64_t *result, size_t index) {
    size_t rel = index - s->base;
    atomic_fetch_add(&s->runs[rel], 1);
    if (rel % 97 == 0) lkt_sleep_us(30); /* vary the scheduling */
    int32_t code = code_of(s->pattern, rel);
    if (code) return code;
    *result = expected(*arg, index);
    return 0;
}

static int32_t item_fn(const void *model, const void *arg, void *result, const lk_task *task) {
    return body((state_t *)model, (const uint64_t *)arg, (uint64_t *)result, task->index);
}

static int32_t range_fn(const void *model, const void *args, void *results, lk_range *r) {
    state_t *s = (state_t *)model;
    rt_call *c = rt_log_begin(&s->log, r, args, results);
    const uint64_t *a = (const uint64_t *)args;
    uint64_t *res = (uint64_t *)results;
    for (size_t i = r->begin; i < r->end; i++, a++, res++) {
        int32_t code = body(s, a, res, i);
        if (code) {
            r->failed = i;
            return rt_log_end(c, r, code);
        }
    }
    return rt_log_end(c, r, 0);
}

typedef struct {
    lk_status st;
    char msg[512];
    int32_t status[N];
    uint64_t results[N];
    int runs[N];
} outcome_t;

static uint64_t args[N];

static void run(lk_invoker *inv, state_t *s, size_t base, int with_options, outcome_t *o) {
    s->base = base;
    for (int i = 0; i < N; i++) {
        atomic_store(&s->runs[i], 0);
        o->status[i] = 0x5A5A5A5A;
        o->results[i] = SENT;
    }
    rt_log_clear(&s->log);
    lk_map_options mo = lkt_with_status(o->status);
    mo.index_base = base;
    if (with_options)
        o->st = lk_invoker_map_with(inv, args, N, sizeof args[0], o->results, sizeof o->results[0], &mo);
    else
        o->st = lk_invoker_map(inv, args, N, sizeof args[0], o->results, sizeof o->results[0]);
    snprintf(o->msg, sizeof o->msg, "%s", o->st == LK_OK ? "" : lk_last_error());
    for (int i = 0; i < N; i++) o->runs[i] = atomic_load(&s->runs[i]);
}

/* Every item's outcome agrees with its runs and result: 0 (ran once, result
 * right), its code (ran once), or LK_ITEM_SKIPPED (never ran, slot untouched). */
static void check_consistent(const outcome_t *o, int pattern, size_t base, int has_status, const char *what) {
    for (size_t i = 0; i < N; i++) {
        int32_t want = code_of(pattern, i);
        if (has_status && o->status[i] == LK_ITEM_SKIPPED) {
            CHECK_MSG(o->runs[i] == 0, "%s: item %zu was skipped but ran %d times", what, i, o->runs[i]);
            CHECK_MSG(o->results[i] == SENT, "%s: item %zu was skipped but its slot was written", what, i);
            continue;
        }
        if (!has_status && o->runs[i] == 0) {
            CHECK_MSG(o->results[i] == SENT, "%s: item %zu did not run but its slot was written", what, i);
            continue;
        }
        CHECK_MSG(o->runs[i] == 1, "%s: item %zu ran %d times", what, i, o->runs[i]);
        if (has_status)
            CHECK_MSG(o->status[i] == want, "%s: item %zu has status %d, expected %d", what, i, (int)o->status[i],
                      (int)want);
        if (want == 0)
            CHECK_MSG(o->results[i] == expected(args[i], base + i), "%s: item %zu has a wrong result", what, i);
    }
}

int main(int argc, char **argv) {
    lkt_backend_init(argc, argv);
    lkt_watchdog(240);
    for (int i = 0; i < N; i++) args[i] = lkt_mix((uint64_t)i) >> 8;
    state_t *s = (state_t *)lkt_shared(sizeof *s);
    static outcome_t by_item, by_range;

    const int32_t jobs[] = {1, 2, 4};
    const lk_error_mode modes[] = {LK_ERRORS_FAIL_FAST, LK_ERRORS_KEEP_GOING};
    const size_t bases[] = {0, 1000003};
    for (int j = 0; j < 3; j++)
        for (int m = 0; m < 2; m++) {
            lk_invoker_options oi = lkt_options(jobs[j]);
            oi.error_mode = modes[m];
            lk_invoker *items = lkt_new_with(s, item_fn, &oi);
            lk_invoker_options orr = lkt_options(jobs[j]);
            orr.error_mode = modes[m];
            lk_invoker *ranges = rt_new_with(s, range_fn, &orr);
            int keep_going = modes[m] == LK_ERRORS_KEEP_GOING;
            for (int b = 0; b < 2; b++)
                for (int pattern = 0; pattern < 3; pattern++)
                    for (int with = 0; with < 2; with++) {
                        /* several failures under fail-fast: deterministic only inline */
                        int exact = keep_going || jobs[j] == 1 || pattern == 0;
                        if (pattern == 2 && !exact) continue;
                        if (!with && bases[b] != 0) continue; /* lk_invoker_map has no index_base */
                        char what[160];
                        snprintf(what, sizeof what, "n_jobs %d, %s, index_base %zu, pattern %d, %s", jobs[j],
                                 keep_going ? "keep-going" : "fail-fast", bases[b], pattern,
                                 with ? "lk_invoker_map_with" : "lk_invoker_map");
                        s->pattern = pattern;
                        run(items, s, bases[b], with, &by_item);
                        run(ranges, s, bases[b], with, &by_range);

                        rt_check_calls(&s->log, bases[b], N, jobs[j], what);
                        rt_check_disjoint(&s->log, what);
                        CHECK_MSG(by_range.st == by_item.st, "%s: the range invoker returned %d, the item invoker %d",
                                  what, (int)by_range.st, (int)by_item.st);
                        check_consistent(&by_item, pattern, bases[b], with, what);
                        check_consistent(&by_range, pattern, bases[b], with, what);
                        if (pattern == 0) {
                            CHECK_OK(by_range.st);
                        } else {
                            CHECK_MSG(by_range.st == LK_ERR_CALLBACK, "%s: status %d (%s)", what, (int)by_range.st,
                                      by_range.msg);
                            unsigned long long index = 0;
                            long long code = 0;
                            CHECK_MSG(lkt_parse_failure(by_range.msg, &index, &code), "%s: \"%s\"", what,
                                      by_range.msg);
                            size_t lowest = pattern == 1 ? FAIL1 : 3;
                            CHECK_MSG(index == bases[b] + lowest && code == code_of(pattern, lowest),
                                      "%s: \"%s\": expected index %zu, code %d", what, by_range.msg, bases[b] + lowest,
                                      (int)code_of(pattern, lowest));
                        }
                        if (exact) {
                            CHECK_MSG(strcmp(by_item.msg, by_range.msg) == 0,
                                      "%s: messages differ: item invoker \"%s\", range invoker \"%s\"", what,
                                      by_item.msg, by_range.msg);
                            if (with)
                                for (int i = 0; i < N; i++)
                                    CHECK_MSG(by_item.status[i] == by_range.status[i],
                                              "%s: item %d: status %d through the item invoker, %d through the range "
                                              "invoker", what, i, (int)by_item.status[i], (int)by_range.status[i]);
                            for (int i = 0; i < N; i++) {
                                CHECK_MSG(by_item.runs[i] == by_range.runs[i], "%s: item %d ran %d times, %d by items",
                                          what, i, by_range.runs[i], by_item.runs[i]);
                                if (by_item.runs[i] && code_of(pattern, (size_t)i) == 0)
                                    CHECK(by_item.results[i] == by_range.results[i]);
                            }
                        }
                        if (pattern == 0 || keep_going) {
                            /* the map ran in full: every item once, the ranges tile the map */
                            for (int i = 0; i < N; i++)
                                CHECK_MSG(by_range.runs[i] == 1, "%s: item %d ran %d times", what, i, by_range.runs[i]);
                            rt_check_tiling(&s->log, bases[b], N, what);
                        }
                        if (pattern == 1) {
                            /* the call that failed at FAIL1 */
                            const rt_call *c = rt_call_of(&s->log, bases[b] + FAIL1);
                            CHECK_MSG(c && c->ret == 42 && c->failed == bases[b] + FAIL1,
                                      "%s: no call reported the failing item", what);
                            size_t end = c->end;
                            if (keep_going) {
                                /* called again for the rest, which ran */
                                if (end > bases[b] + FAIL1 + 1) {
                                    const rt_call *rest = rt_call_of(&s->log, bases[b] + FAIL1 + 1);
                                    CHECK_MSG(rest && rest->begin == bases[b] + FAIL1 + 1 && rest->end == end,
                                              "%s: no call for the rest %zu..%zu of the failing range", what,
                                              bases[b] + FAIL1 + 1, end);
                                }
                            } else {
                                /* the rest of the failing range did not run */
                                for (size_t i = bases[b] + FAIL1 + 1; i < end; i++) {
                                    CHECK_MSG(by_range.runs[i - bases[b]] == 0,
                                              "%s: fail-fast ran item %zu after the failing item %zu of its range",
                                              what, i, bases[b] + FAIL1);
                                    if (with) CHECK(by_range.status[i - bases[b]] == LK_ITEM_SKIPPED);
                                }
                            }
                        }
                    }
            CHECK_OK(lk_invoker_shutdown(items));
            CHECK_OK(lk_invoker_shutdown(ranges));
            printf("n_jobs %d, %s: ok\n", jobs[j], keep_going ? "keep-going" : "fail-fast");
        }
    printf("range_api_equivalence: ok\n");
    return 0;
}
