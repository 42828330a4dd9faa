/* Failures that coincide (API.md, Streaming maps: "When failures coincide,
 * the lowest index wins, then source, then sink"):
 *  - an item fails, then the source fails (its next call comes after that
 *    item ran): the call names the item (index and code), not the source,
 *    under both error modes;
 *  - under keep-going an item fails and the sink fails on the call that
 *    carries that item: the call names the item, not the sink;
 *  - neither callback is called after the failure, nor after the return.
 * Item and range invokers, n_jobs 1 and 2, windows 8 and automatic. */
#include "stream/streamtest.h"

/* The first item fails: the first source call hands it over, whatever its capacity. */
enum { N = 4000, FAIL = 0, CODE = 61 };

typedef struct {
    st_shared *s;
} ctx_t;

/* The source's second call waits until item FAIL has run (up to 10 s),
 * then fails (source_fail_at_call is 1). */
static void wait_for_item(st_io *io, size_t call) {
    ctx_t *c = (ctx_t *)io->ctx;
    if (call != 1) return;
    double t0 = lkt_now();
    while (atomic_load(&c->s->runs[FAIL]) == 0 && lkt_now() - t0 < 10) lkt_sleep_us(200);
    lkt_sleep_us(5000); /* it has returned its failure */
}

int main(int argc, char **argv) {
    lkt_backend_init(argc, argv);
    lkt_watchdog(120);
    st_shared *s = st_shared_new();
    ctx_t ctx = {s};
    const size_t windows[] = {8, 0};
    for (rt_loop l = st_loop_of(rt_jobs_1_2, 2, 2, 1); rt_loop_next(&l);) {
        lk_invoker *inv = st_loop_new(s, &l);
        for (int w = 0; w < 2; w++) {
            char what[160];
            snprintf(what, sizeof what, "%s, window %zu", l.what, windows[w]);
            /* an item, then the source */
            st_shared_reset(s, 0, N);
            s->fail_code = CODE;
            atomic_store(&s->fail_at, FAIL);
            st_io io;
            st_io_init(&io, N, 0, windows[w], ST_FILL_FULL);
            io.ctx = &ctx;
            io.on_source = wait_for_item;
            io.source_fail_at_call = 1;
            io.source_code = 99;
            lk_status st = st_run(inv, &io);
            CHECK_MSG(st == LK_ERR_CALLBACK, "%s: %d (%s)", what, (int)st, lk_last_error());
            unsigned long long index = 0;
            long long code = 0;
            CHECK_MSG(lkt_parse_failure(lk_last_error(), &index, &code) && index == FAIL && code == CODE,
                      "%s: an item failed (index %d, code %d), then the source (code 99): \"%s\"", what, FAIL,
                      CODE, lk_last_error());
            lkt_sleep_us(2000);
            st_check_rules(&io, what);

            /* keep-going: an item, and the sink on the call that carries it */
            if (l.keep) {
                st_shared_reset(s, 0, N);
                s->fail_code = CODE;
                atomic_store(&s->fail_at, FAIL);
                st_io_init(&io, N, 0, windows[w], ST_FILL_FULL);
                io.sink_fail_at_call = 0; /* the first call carries item FAIL */
                io.sink_code = 98;
                st = st_run(inv, &io);
                CHECK_MSG(st == LK_ERR_CALLBACK, "%s: %d (%s)", what, (int)st, lk_last_error());
                CHECK_MSG(lkt_parse_failure(lk_last_error(), &index, &code) && index == FAIL && code == CODE,
                          "%s: item %d failed (code %d) and the sink failed (code 98) on the call carrying it: "
                          "\"%s\"", what, FAIL, CODE, lk_last_error());
                lkt_sleep_us(2000);
                st_check_rules(&io, what);
            }
        }
        rt_loop_done(&l, inv);
    }
    printf("stream_fault_coincide: ok\n");
    return 0;
}
