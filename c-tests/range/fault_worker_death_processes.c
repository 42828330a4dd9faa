/* A worker process that dies inside a range (API.md, Range maps: "on the
 * process backend a worker that dies inside a range fails every item of
 * that range it had not finished as LK_ITEM_WORKER_DIED (the message names
 * the range)"). The range function does some of its items, then its
 * worker dies (raise(SIGKILL), a real SIGSEGV, _exit(3)):
 *  - keep-going: the map returns LK_ERR_WORKER_DIED; every item of that
 *    call's range is LK_ITEM_WORKER_DIED (the library cannot know which
 *    were finished), every other item ran once with status 0 and its
 *    result; the message names the range (its first and last item, or its
 *    end) and the death;
 *  - fail-fast: LK_ERR_WORKER_DIED, the range's items LK_ITEM_WORKER_DIED,
 *    the others 0 or LK_ITEM_SKIPPED;
 *  - a death in the call for the rest of a range after a keep-going
 *    failure fails only that rest;
 * with index_base 0 and 5000; the invoker stays usable (the worker is
 * replaced: the next map runs in full). n_jobs 1 and 2. The maps are big
 * enough (800 KB of results) that a pool may run a claim in several range
 * calls (a staged map; its first maps after the first clean one are): a
 * death fails its own call's items only, not the claim's later calls. */
#include "range/rangetest.h"

enum { N = 100000, DIE_AT = 1700, FAIL_AT = 1650 };

typedef struct {
    rt_log log;
    atomic_int die_at; /* relative item to die at, once; -1: none */
    atomic_int kind;
    atomic_int runs[N];
    size_t base;
    int fail; /* FAIL_AT fails with code 6 */
} state_t;

static int32_t range_fn(const void *model, const void *args, void *results, lk_range *r) {
    state_t *s = (state_t *)model;
    rt_call *c = rt_log_begin(&s->log, r, args, results);
    uint64_t *res = (uint64_t *)results;
    for (size_t i = r->begin; i < r->end; i++, res++) {
        size_t rel = i - s->base;
        if (lkt_take(&s->die_at, rel)) lkt_die(atomic_load(&s->kind));
        if (s->fail && rel == FAIL_AT) {
            r->failed = i;
            return rt_log_end(c, r, 6);
        }
        atomic_fetch_add(&s->runs[rel], 1);
        *res = i ^ 0xABCDEF;
    }
    return rt_log_end(c, r, 0);
}

int main(int argc, char **argv) {
    rt_dying_workers_init(argc, argv, 120);
    state_t *s = (state_t *)lkt_shared(sizeof *s);
    atomic_store(&s->die_at, -1);
    static uint64_t results[N];
    static int32_t status[N];
    const size_t bases[] = {0, 5000};
    for (rt_loop l = rt_loop_modes(); rt_loop_next(&l);) {
        lk_invoker_options o = rt_options_mode(l.n_jobs, l.keep);
        o.grain = 200;
        lk_invoker *inv = rt_new_with(s, range_fn, &o);
        for (int kind = 0; kind < LKT_DEATHS; kind++)
            for (int b = 0; b < 2; b++)
                for (int fail = 0; fail <= l.keep; fail++) {
                    char what[160];
                    snprintf(what, sizeof what, "%s, %s, index_base %zu%s", l.what, lkt_death_name[kind], bases[b],
                             fail ? ", after a failing item" : "");
                    s->base = bases[b];
                    s->fail = fail;
                    rt_log_clear(&s->log);
                    for (int i = 0; i < N; i++) {
                        atomic_store(&s->runs[i], 0);
                        status[i] = 0x5A5A5A5A;
                        results[i] = 0;
                    }
                    atomic_store(&s->kind, kind);
                    atomic_store(&s->die_at, DIE_AT);
                    lk_map_options mo = lkt_with_status(status);
                    mo.index_base = bases[b];
                    CHECK_FAIL(lk_invoker_map_with(inv, NULL, N, 0, results, sizeof results[0], &mo),
                               LK_ERR_WORKER_DIED);
                    CHECK(atomic_load(&s->die_at) == -1);
                    const char *m = lk_last_error();
                    /* the call that was running DIE_AT when its worker died: the
                     * latest to hold it (it never returned) */
                    const rt_call *c = rt_call_holding(&s->log, bases[b] + DIE_AT, 1);
                    CHECK_MSG(c != NULL, "%s: no call held the item whose worker died", what);
                    size_t begin = c->begin, end = c->end;
                    if (fail && begin <= bases[b] + FAIL_AT)
                        CHECK_MSG(begin == bases[b] + FAIL_AT + 1, "%s: the dying call began at %zu", what, begin);
                    /* the message names the range and the death */
                    CHECK_MSG(lkt_has_number(m, (long long)begin) &&
                                  (lkt_has_number(m, (long long)end - 1) || lkt_has_number(m, (long long)end)),
                              "%s: the message does not name the range %zu..%zu: \"%s\"", what, begin, end, m);
                    CHECK_MSG(strstr(m, lkt_death_words[kind]) || (kind == LKT_DIE_KILL && lkt_has_number(m, 9)) ||
                                  (kind == LKT_DIE_SEGV && lkt_has_number(m, 11)),
                              "%s: the message does not name the death: \"%s\"", what, m);
                    for (size_t i = 0; i < N; i++) {
                        size_t t = bases[b] + i;
                        if (t >= begin && t < end) {
                            CHECK_MSG(status[i] == LK_ITEM_WORKER_DIED,
                                      "%s: item %zu of the dying range %zu..%zu has status %d", what, t, begin, end,
                                      (int)status[i]);
                        } else if (fail && i == FAIL_AT) {
                            CHECK(status[i] == 6);
                        } else if (l.keep) {
                            CHECK_MSG(status[i] == 0 && atomic_load(&s->runs[i]) == 1 && results[i] == (t ^ 0xABCDEF),
                                      "%s: item %zu: status %d, ran %d times", what, t, (int)status[i],
                                      atomic_load(&s->runs[i]));
                        } else if (status[i] == 0) {
                            CHECK_MSG(atomic_load(&s->runs[i]) == 1 && results[i] == (t ^ 0xABCDEF), "%s: item %zu",
                                      what, t);
                        } else {
                            CHECK_MSG(status[i] == LK_ITEM_SKIPPED && results[i] == 0,
                                      "%s: item %zu has status %d", what, t, (int)status[i]);
                        }
                    }
                    /* the worker was replaced: a full map */
                    s->fail = 0;
                    rt_log_clear(&s->log);
                    CHECK_OK(lk_invoker_map_with(inv, NULL, N, 0, results, sizeof results[0], &mo));
                    for (size_t i = 0; i < N; i++) CHECK(status[i] == 0 && results[i] == ((bases[b] + i) ^ 0xABCDEF));
                    rt_check_tiling(&s->log, bases[b], N, what);
                }
        rt_loop_done(&l, inv);
    }
    printf("range_fault_worker_death_processes: ok\n");
    return 0;
}
