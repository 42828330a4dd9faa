/* A worker process that dies during a stream (API.md, Streaming maps):
 *  - fail-fast: the stream fails at the dead worker's item d ("the lowest
 *    failing index (a callback's non-zero return, or its worker's
 *    death)"): LK_ERR_WORKER_DIED naming index_base + d; the sink got
 *    exactly the items below d, each with status 0 and its result, each
 *    run once;
 *  - keep-going: every item reaches the sink with its status, d with
 *    LK_ITEM_WORKER_DIED, every other one 0 and its result, each run
 *    once; the call returns what a map would: LK_ERR_WORKER_DIED;
 *  - on a range invoker the dying range's items all fail
 *    (LK_ITEM_WORKER_DIED: the library cannot tell which were done): under
 *    fail-fast the sink got the items below that range's first one;
 *  - the worker is replaced: the next stream runs in full.
 * raise(SIGKILL), a real SIGSEGV and _exit(3); n_jobs 1 and 2; windows 50
 * and automatic; index_base 0 and 10^5. */
#include "stream/streamtest.h"

enum { N = 2000, D = 777 };

typedef struct {
    atomic_int die_at;
    atomic_int kind;
} death_t;

static death_t *death;

/* st_item, but the worker dies (once) as it reaches the item die_at. */
static int32_t dying_st_item(st_shared *s, const uint64_t *arg, uint64_t *result, size_t index) {
    if (lkt_take(&death->die_at, index - s->base)) lkt_die(atomic_load(&death->kind));
    return st_item(s, arg, result, index);
}

static int32_t dying_item(const void *model, const void *arg, void *result, const lk_task *task) {
    return dying_st_item((st_shared *)model, (const uint64_t *)arg, (uint64_t *)result, task->index);
}

static int32_t dying_range(const void *model, const void *args, void *results, lk_range *r) {
    st_shared *s = (st_shared *)model;
    rt_call *c = rt_log_begin(&s->log, r, args, results);
    for (size_t i = r->begin; i < r->end; i++)
        dying_st_item(s, (const uint64_t *)args + (i - r->begin), (uint64_t *)results + (i - r->begin), i);
    return rt_log_end(c, r, 0);
}

int main(int argc, char **argv) {
    rt_dying_workers_init(argc, argv, 240);
    st_shared *s = st_shared_new();
    death = (death_t *)lkt_shared(sizeof *death);
    atomic_store(&death->die_at, -1);
    static int32_t status[N];
    const size_t windows[] = {50, 0};
    for (rt_loop l = st_loop_of(rt_jobs_1_2, 2, 2, 1); rt_loop_next(&l);) {
        lk_invoker_options o = rt_options_mode(l.n_jobs, l.keep);
        lk_invoker *inv = l.kind ? rt_new_with(s, dying_range, &o) : lkt_new_with(s, dying_item, &o);
        for (int how = 0; how < LKT_DEATHS; how++)
            for (int w = 0; w < 2; w++) {
                size_t base = (how + w) % 2 ? 100000 : 0;
                char what[200];
                snprintf(what, sizeof what, "%s, %s, window %zu, index_base %zu", l.what, lkt_death_name[how],
                         windows[w], base);
                st_shared_reset(s, base, N);
                for (int i = 0; i < N; i++) status[i] = 0x5A5A5A5A;
                atomic_store(&death->kind, how);
                atomic_store(&death->die_at, D);
                st_io io;
                st_io_init(&io, N, base, windows[w], ST_FILL_RANDOM);
                io.status = status;
                lk_status st = st_run(inv, &io);
                CHECK_MSG(st == LK_ERR_WORKER_DIED, "%s: %d (%s)", what, (int)st, lk_last_error());
                CHECK(atomic_load(&death->die_at) == -1);
                st_check_rules(&io, what);
                CHECK(atomic_load(&s->bad_arg) == 0);
                /* the items that died with the worker */
                size_t first = D, last = D;
                if (l.kind) {
                    /* the latest call to hold D: it never returned */
                    const rt_call *c = rt_call_holding(&s->log, base + D, 1);
                    CHECK_MSG(c != NULL, "%s: no range held the dying item", what);
                    first = c->begin - base;
                    last = c->end - base - 1;
                }
                CHECK_MSG(lkt_has_number(lk_last_error(), (long long)(base + first)),
                          "%s: the message does not name index %zu: \"%s\"", what, base + first,
                          lk_last_error());
                if (l.keep) {
                    CHECK_MSG(io.sunk == N, "%s: the sink got %zu items of %d", what, (size_t)io.sunk, N);
                    for (size_t i = 0; i < N; i++) {
                        int dead = i >= first && i <= last;
                        CHECK_MSG(status[i] == (dead ? LK_ITEM_WORKER_DIED : 0),
                                  "%s: item %zu reached the sink with status %d", what, i, (int)status[i]);
                        if (!dead)
                            CHECK_MSG(atomic_load(&s->runs[i]) == 1, "%s: item %zu ran %d times", what, i,
                                      atomic_load(&s->runs[i]));
                    }
                } else {
                    CHECK_MSG(io.sunk == first, "%s: the sink got %zu items, expected the %zu below the death",
                              what, (size_t)io.sunk, first);
                    for (size_t i = 0; i < first; i++) {
                        CHECK_MSG(status[i] == 0, "%s: item %zu reached the sink with status %d", what, i,
                                  (int)status[i]);
                        CHECK_MSG(atomic_load(&s->runs[i]) == 1, "%s: item %zu ran %d times", what, i,
                                  atomic_load(&s->runs[i]));
                    }
                }
                st_check_full_stream(inv, s, N, base, windows[w], ST_FILL_FULL, what); /* replaced */
            }
        rt_loop_done(&l, inv);
    }
    printf("stream_fault_worker_death_processes: ok\n");
    return 0;
}
