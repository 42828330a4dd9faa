/* range->failed and the codes a range function returns (API.md, Range
 * maps): the library presets range->failed to begin; a value outside
 * begin .. end-1 (end, past end, begin-1, SIZE_MAX) or the preset left
 * alone counts as begin: item begin has the failure and is the one the
 * message names; under fail-fast the items after it in the range do not
 * count as run (LK_ITEM_SKIPPED), under keep-going the function is called
 * again for the rest (begin+1 .. end). LK_RANGE_STOPPED returned while the
 * map is not stopping is that item's failure code like any other (its
 * status, LK_ERR_CALLBACK, the code in the message). lk_range_stopped is
 * never non-zero in these maps: none is cancelled, and a keep-going
 * failure never stops one. n_jobs 1 and 2, index_base 0 and 10^6. */
#include "range/rangetest.h"

enum { N = 2000, F = 700, CODE = 9 };

enum { BAD_END, BAD_PAST_END, BAD_BEGIN_MINUS_1, BAD_MAX, BAD_PRESET, GOOD_STOPPED, KINDS };
static const char *const kind_name[KINDS] = {"failed = end", "failed = end + 100", "failed = begin - 1",
                                             "failed = SIZE_MAX", "failed left at its preset", "LK_RANGE_STOPPED"};

typedef struct {
    rt_log log;
    atomic_int runs[N];
    atomic_int saw_stopped;
    size_t base;
    int kind;
} state_t;

static int32_t range_fn(const void *model, const void *args, void *results, lk_range *r) {
    state_t *s = (state_t *)model;
    rt_call *c = rt_log_begin(&s->log, r, args, results);
    if (lk_range_stopped(r)) atomic_store(&s->saw_stopped, 1);
    uint64_t *res = (uint64_t *)results;
    for (size_t i = r->begin; i < r->end; i++, res++) {
        atomic_fetch_add(&s->runs[i - s->base], 1);
        if (i - s->base == F) {
            switch (s->kind) {
            case BAD_END: r->failed = r->end; break;
            case BAD_PAST_END: r->failed = r->end + 100; break;
            case BAD_BEGIN_MINUS_1: r->failed = r->begin - 1; break;
            case BAD_MAX: r->failed = SIZE_MAX; break;
            case BAD_PRESET: break;
            default: r->failed = i; return rt_log_end(c, r, LK_RANGE_STOPPED);
            }
            return rt_log_end(c, r, CODE);
        }
        *res = i * 3;
    }
    if (lk_range_stopped(r)) atomic_store(&s->saw_stopped, 1);
    return rt_log_end(c, r, 0);
}

/* The call whose range begins at `begin`, or NULL. */
static const rt_call *call_beginning(rt_log *log, size_t begin) {
    size_t n = rt_log_count(log);
    for (size_t k = 0; k < n; k++)
        if (log->calls[k].begin == begin) return &log->calls[k];
    return NULL;
}

int main(int argc, char **argv) {
    lkt_backend_init(argc, argv);
    lkt_watchdog(120);
    state_t *s = (state_t *)lkt_shared(sizeof *s);
    static uint64_t results[N];
    static int32_t status[N];
    const size_t bases[] = {0, 1000000};
    for (rt_loop l = rt_loop_modes(); rt_loop_next(&l);) {
        lk_invoker_options o = rt_options_mode(l.n_jobs, l.keep);
        lk_invoker *inv = rt_new_with(s, range_fn, &o);
        for (int b = 0; b < 2; b++)
            for (int kind = 0; kind < KINDS; kind++) {
                char what[160];
                snprintf(what, sizeof what, "%s, index_base %zu, %s", l.what, bases[b], kind_name[kind]);
                s->base = bases[b];
                s->kind = kind;
                atomic_store(&s->saw_stopped, 0);
                rt_log_clear(&s->log);
                for (int i = 0; i < N; i++) {
                    atomic_store(&s->runs[i], 0);
                    status[i] = 0x5A5A5A5A;
                    results[i] = 0;
                }
                lk_map_options mo = lkt_with_status(status);
                mo.index_base = bases[b];
                CHECK_FAIL(lk_invoker_map_with(inv, NULL, N, 0, results, sizeof results[0], &mo), LK_ERR_CALLBACK);
                rt_check_calls(&s->log, bases[b], N, l.n_jobs, what);
                rt_check_disjoint(&s->log, what);
                /* (under fail-fast, ranges that begin after the failure may see it stopping) */
                if (l.keep || l.n_jobs == 1)
                    CHECK_MSG(!atomic_load(&s->saw_stopped), "%s: lk_range_stopped was non-zero", what);

                int32_t want_code = kind == GOOD_STOPPED ? LK_RANGE_STOPPED : CODE;
                /* the failing item as the library must count it */
                const rt_call *c = rt_call_holding(&s->log, bases[b] + F, 0);
                CHECK_MSG(c != NULL, "%s: no call held item %d", what, F);
                size_t counted = kind == GOOD_STOPPED ? bases[b] + F : c->begin;
                unsigned long long index = 0;
                long long code = 0;
                CHECK_MSG(lkt_parse_failure(lk_last_error(), &index, &code), "%s: \"%s\"", what, lk_last_error());
                CHECK_MSG(index == counted && code == want_code, "%s: \"%s\": expected index %zu, code %d", what,
                          lk_last_error(), counted, (int)want_code);
                size_t last_failing = l.keep && kind != GOOD_STOPPED ? bases[b] + F : counted;
                for (size_t i = 0; i < N; i++) {
                    size_t t = bases[b] + i;
                    if (t >= counted && t <= last_failing) {
                        /* the failing item (keep-going, counted as begin: begin .. F fail in turn) */
                        CHECK_MSG(status[i] == want_code, "%s: item %zu has status %d, expected %d", what, t,
                                  (int)status[i], (int)want_code);
                    } else if (!l.keep && t > counted && t < c->end) {
                        /* fail-fast: the rest of the failing range does not count as run */
                        CHECK_MSG(status[i] == LK_ITEM_SKIPPED, "%s: item %zu of the failing range has status %d",
                                  what, t, (int)status[i]);
                    } else if (!l.keep && (t < c->begin || t >= c->end)) {
                        /* fail-fast: other ranges ran or were skipped */
                        CHECK_MSG(status[i] == 0 || status[i] == LK_ITEM_SKIPPED, "%s: item %zu has status %d",
                                  what, t, (int)status[i]);
                    } else {
                        CHECK_MSG(status[i] == 0, "%s: item %zu has status %d, expected 0", what, t,
                                  (int)status[i]);
                    }
                    if (status[i] == 0) CHECK_MSG(results[i] == t * 3, "%s: item %zu: wrong result", what, t);
                }
                if (l.keep) {
                    /* called again for the rest after each failing item: every item ran */
                    rt_check_tiling(&s->log, bases[b], N, what);
                    for (size_t t = counted; t <= bases[b] + F; t++) {
                        if (t + 1 >= c->end) break;
                        const rt_call *rest = call_beginning(&s->log, t + 1);
                        CHECK_MSG(rest && rest->end == c->end,
                                  "%s: no call for the rest %zu..%zu after the failing item %zu", what, t + 1,
                                  c->end, t);
                        if (kind == GOOD_STOPPED) break;
                    }
                }
            }
        rt_loop_done(&l, inv);
    }
    printf("range_api_failed: ok\n");
    return 0;
}
